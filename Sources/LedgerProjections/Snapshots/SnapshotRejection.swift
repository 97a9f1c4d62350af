
/// A snapshot the engine refused to use, and why. The engine then tried an older snapshot or
/// replayed from zero: a refused snapshot costs time, never a wrong figure.
///
/// Guarantees: every snapshot the engine looks at and does not use is reported, in the order it
/// was looked at (newest first), in ``ProjectionResult/rejectedSnapshots`` or
/// ``CatchUpReport/rejectedSnapshots``.
public struct SnapshotRejection: Sendable, Hashable, CustomStringConvertible {
    /// Why a snapshot was refused.
    public enum Reason: Sendable, Hashable, CustomStringConvertible {
        /// Written by another version of the projection.
        case otherVersion(found: UInt32, expected: UInt32)
        /// The stored record fails its checksums or does not parse.
        case damaged(String)
        /// Its seq, recordedAt or chain hash do not match this log (another ledger's, or the log
        /// was replaced).
        case notThisLog(String)
        /// The state bytes are intact but the projection cannot decode them.
        case undecodable(String)
        /// The snapshot store could not be read.
        case unreadable(String)
        /// Too many refused candidates; the engine stopped looking and replayed from zero.
        case gaveUp(afterCandidates: Int)

        public var description: String {
            switch self {
            case .otherVersion(let found, let expected): "written by projection version \(found), this is version \(expected)"
            case .damaged(let why): "damaged: \(why)"
            case .notThisLog(let why): "not from this log: \(why)"
            case .undecodable(let why): "the state does not decode: \(why)"
            case .unreadable(let why): "the snapshot store could not be read: \(why)"
            case .gaveUp(let count): "gave up after \(count) refused snapshots"
            }
        }
    }

    /// The projection the snapshot belongs to.
    public var projection: String
    /// The seq the snapshot is stored at.
    public var seq: UInt64
    public var reason: Reason

    public init(projection: String, seq: UInt64, reason: Reason) {
        self.projection = projection
        self.seq = seq
        self.reason = reason
    }

    public var description: String { "snapshot of \(projection) at seq \(seq) not used: \(reason)" }
}

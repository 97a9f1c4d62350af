public import LedgerCore

/// Which clock a query reads the log by; both give the same answer on every replay.
public enum ProjectionClock: String, Sendable, Hashable, Codable {
    /// What the ledger knew at T: the prefix of the log with `recordedAt <= T` (the audit view).
    case recorded
    /// What had happened by T, as known now: every event with `occurredAt <= T`, late ones too.
    case occurred
}

/// The instant a projection's state is asked for.
///
/// Guarantees: the same `AsOf` on the same log gives the same state, byte for byte, on every
/// replay, whether it is answered from a snapshot or from zero.
public enum AsOf: Sendable, Hashable, CustomStringConvertible {
    /// Everything in the log now (recorded clock, at the head).
    case head
    /// The prefix `1...seq` (recorded clock). A seq beyond the head is an error.
    case seq(UInt64)
    /// What the ledger knew at T: the prefix with `recordedAt <= T`.
    case recorded(LedgerTime)
    /// Every event (as known now) with `occurredAt <= T`, folded in `seq` order. Use
    /// `.occurred(.distantFuture)` for every event on the occurred clock.
    case occurred(LedgerTime)

    public var clock: ProjectionClock {
        if case .occurred = self { return .occurred }
        return .recorded
    }

    public var description: String {
        switch self {
        case .head: "head"
        case .seq(let seq): "seq \(seq)"
        case .recorded(let time): "as recorded at \(time)"
        case .occurred(let time): time == .distantFuture ? "everything that occurred" : "as occurred by \(time)"
        }
    }
}

/// A projection's state at an instant, with everything needed to prove where it came from.
///
/// Guarantees: `seq` and `chainHash` pin the exact log prefix the state was folded from (for the
/// occurred clock: the head known when it was asked); `stateHash` is the SHA-256 of the state's
/// canonical encoding; `rejectedSnapshots` lists every snapshot that was refused, so a fallback
/// to replay is always visible.
public struct ProjectionResult<State: Sendable>: Sendable {
    public var name: String
    public var version: UInt32
    public var state: State
    public var clock: ProjectionClock
    /// The instant asked for (nil for ``AsOf/head`` and ``AsOf/seq(_:)``).
    public var asOf: LedgerTime?
    /// Recorded clock: the last seq folded (the prefix `1...seq`). Occurred clock: the head known
    /// when the query ran (the events folded are those of `1...seq` with `occurredAt <= asOf`).
    public var seq: UInt64
    /// `recordedAt` of event `seq` (nil when `seq` is 0).
    public var recordedAt: LedgerTime?
    /// The chain hash at `seq` (``ChainHash/genesis`` when `seq` is 0).
    public var chainHash: ChainHash
    /// SHA-256 of the canonical encoding of `state`.
    public var stateHash: ContentHash
    /// The snapshot the fold started from, or nil when it started from zero.
    public var snapshotSeq: UInt64?
    /// How many events were folded on top of the snapshot (or from zero).
    public var eventsFolded: UInt64
    /// Snapshots looked at and refused, newest first.
    public var rejectedSnapshots: [SnapshotRejection]

    /// True when at least one snapshot was refused and the answer came from an older snapshot or
    /// from replaying the log.
    public var fellBackToReplay: Bool { !rejectedSnapshots.isEmpty }
}

/// A ``ProjectionResult`` whose state type is erased, for queries over many projections at once;
/// ``typed(_:)`` gives it back with its state type, or throws — never a mistyped state.
public struct AnyProjectionResult: Sendable {
    public var result: ProjectionResult<any Sendable>

    /// The result with its state as `State`; throws when the state is of another type.
    public func typed<State: Sendable>(_: State.Type = State.self) throws -> ProjectionResult<State> {
        guard let state = result.state as? State else {
            throw ProjectionError(
                .unknownProjection, "the state of \(result.name) is a \(type(of: result.state)), not a \(State.self)")
        }
        return ProjectionResult(
            name: result.name, version: result.version, state: state, clock: result.clock, asOf: result.asOf,
            seq: result.seq, recordedAt: result.recordedAt, chainHash: result.chainHash, stateHash: result.stateHash,
            snapshotSeq: result.snapshotSeq, eventsFolded: result.eventsFolded, rejectedSnapshots: result.rejectedSnapshots)
    }
}

/// What a catch-up or rebuild did: where it started each projection, what it folded, which
/// snapshots it refused and which it saved.
public struct CatchUpReport: Sendable, Hashable {
    /// The seq every registered projection has reached.
    public var seq: UInt64 = 0
    /// Events read from the log in this call.
    public var eventsFolded: UInt64 = 0
    /// Projection name → the snapshot seq it was restored from (absent: started from zero or was live).
    public var restoredFrom: [String: UInt64] = [:]
    /// Snapshots looked at and refused.
    public var rejectedSnapshots: [SnapshotRejection] = []
    /// Snapshots written.
    public var snapshotsSaved = 0
    /// Why snapshots could not be written (the fold itself went on; snapshots are an optimisation).
    public var snapshotFailures: [String] = []

    public init() {}
}

import Synchronization

/// A projection's state saved at one position of the log: what the state was after folding the
/// events `1...seq`.
///
/// Guarantees: a snapshot names the log position it belongs to three ways — `seq`, the
/// `recordedAt` of that event and the chain hash at that seq — and carries the projection
/// `version` that wrote it and the SHA-256 of its state bytes. A reader can therefore refuse a
/// snapshot from another projection version, from another log, or with damaged bytes, and replay
/// instead; it never has to trust one.
public struct ProjectionSnapshot: Sendable, Hashable {
    /// The projection's name (its key in the store): 1 to ``SnapshotRecord/nameBytesMax`` bytes, no NUL.
    public var name: String
    /// The projection version that wrote the state. A different version's snapshot is never used.
    public var version: UInt32
    /// The last event folded into the state.
    public var seq: UInt64
    /// `recordedAt` of event `seq`.
    public var recordedAt: LedgerTime
    /// The chain hash of event `seq` (``ChainHash/genesis`` for seq 0).
    public var chainHash: ChainHash
    /// SHA-256 of `state`.
    public var stateHash: ContentHash
    /// The projection's canonical encoding of its state.
    public var state: [UInt8]

    /// A snapshot of `state`; `stateHash` is computed from it.
    public init(name: String, version: UInt32, seq: UInt64, recordedAt: LedgerTime, chainHash: ChainHash, state: [UInt8]) {
        self.name = name
        self.version = version
        self.seq = seq
        self.recordedAt = recordedAt
        self.chainHash = chainHash
        self.stateHash = ContentHash(of: state)
        self.state = state
    }

    /// The checkpoint that says "this projection has durably reached this snapshot".
    public var checkpoint: ProjectionCheckpoint {
        ProjectionCheckpoint(
            name: name, version: version, seq: seq, recordedAt: recordedAt, chainHash: chainHash, stateHash: stateHash)
    }
}

/// How far a projection has durably got: the position and state hash of its newest saved
/// snapshot.
///
/// Guarantees: a checkpoint is written together with (in the same store transaction as) the
/// snapshot it points at, so catching up from a checkpoint always finds that snapshot unless the
/// store was damaged.
public struct ProjectionCheckpoint: Sendable, Hashable {
    public var name: String
    public var version: UInt32
    public var seq: UInt64
    public var recordedAt: LedgerTime
    public var chainHash: ChainHash
    public var stateHash: ContentHash

    public init(
        name: String, version: UInt32, seq: UInt64, recordedAt: LedgerTime, chainHash: ChainHash, stateHash: ContentHash
    ) {
        self.name = name
        self.version = version
        self.seq = seq
        self.recordedAt = recordedAt
        self.chainHash = chainHash
        self.stateHash = stateHash
    }
}

/// What a snapshot store found at a position: a snapshot whose bytes are intact, or the fact
/// that the stored record there is damaged and why.
public enum StoredSnapshot: Sendable, Hashable {
    /// The record's checksums hold. Whether its version and log position fit is the reader's call.
    case intact(ProjectionSnapshot)
    /// The record at `seq` does not decode or fails a checksum; it must not be used.
    case damaged(seq: UInt64, reason: String)

    /// The seq the record is stored under.
    public var seq: UInt64 {
        switch self {
        case .intact(let snapshot): snapshot.seq
        case .damaged(let seq, _): seq
        }
    }
}

/// Where projection snapshots and checkpoints are kept: keyed by projection name and seq.
///
/// Guarantees every implementation gives (the in-memory one here, the LMDB one in `LedgerLMDB`):
/// - **Atomic saves.** ``save(_:checkpoints:)`` stores all of its snapshots and checkpoints or none.
/// - **One record per position.** Saving a snapshot for a name and seq that is already stored
///   replaces it (a rebuild overwrites what an older version wrote).
/// - **Checked reads.** A record is returned as ``StoredSnapshot/damaged(seq:reason:)`` when its
///   bytes fail their checksums; an implementation never returns altered state as intact.
/// - **No interpretation.** The store does not judge versions or log positions; the projection
///   engine does, and reports every snapshot it refuses.
///
/// Snapshots are an optimisation: losing all of them only costs a replay.
public protocol SnapshotStore: Sendable {
    /// Stores `snapshots` and `checkpoints` in one atomic write.
    func save(_ snapshots: [ProjectionSnapshot], checkpoints: [ProjectionCheckpoint]) throws

    /// The stored record of `name` with the highest seq `<= seq`, or nil when there is none.
    func snapshot(named name: String, atOrBefore seq: UInt64) throws -> StoredSnapshot?

    /// The seqs at which `name` has a stored record, ascending.
    func snapshotSeqs(named name: String) throws -> [UInt64]

    /// Removes the records of `name` at `seqs` (every record of it, and its checkpoint, when
    /// `seqs` is nil).
    func removeSnapshots(named name: String, seqs: [UInt64]?) throws

    /// The checkpoint of `name`, or nil. Throws ``LedgerError/Code/corrupted`` when the stored
    /// checkpoint is damaged.
    func checkpoint(named name: String) throws -> ProjectionCheckpoint?
}

/// The byte form of snapshot and checkpoint records, the same in every store, so that damage is
/// detected alike everywhere.
///
/// Snapshot record, little-endian:
/// ```
/// 0   4  magic "SLSN"        4  u16 format (1)     6  u16 name length n
/// 8   u32 projection version 12 u32 reserved (0)   16 u64 seq
/// 24  i64 recordedAt         32 32 chain hash       64 32 state hash (SHA-256 of the state)
/// 96  u64 state length m     104 name (n bytes)
/// 104+n  32 header checksum: SHA-256 of bytes 0 ..< 104+n
/// 136+n  state (m bytes)
/// ```
/// A checkpoint record is the same without the state: magic "SLCP", state length 0, and the
/// checksum last.
public enum SnapshotRecord {
    /// Bytes of UTF-8 in a projection name.
    public static let nameBytesMax = 128
    static let headerBytes = 104
    static let snapshotMagic: [UInt8] = Array("SLSN".utf8)
    static let checkpointMagic: [UInt8] = Array("SLCP".utf8)

    /// Checks a projection name: non-empty, at most ``nameBytesMax`` bytes, no NUL.
    public static func validate(name: String) throws(LedgerError) {
        let count = name.utf8.count
        guard count > 0, count <= nameBytesMax, !name.utf8.contains(0) else {
            throw LedgerError(
                .invalidEvent, "projection name '\(name.prefix(40))' must be 1 to \(nameBytesMax) bytes without NUL",
                field: "name")
        }
    }

    /// The record bytes of `snapshot`.
    public static func encode(_ snapshot: ProjectionSnapshot) -> [UInt8] {
        encode(
            magic: snapshotMagic, name: snapshot.name, version: snapshot.version, seq: snapshot.seq,
            recordedAt: snapshot.recordedAt, chainHash: snapshot.chainHash, stateHash: snapshot.stateHash,
            state: snapshot.state)
    }

    /// The record bytes of `checkpoint`.
    public static func encode(_ checkpoint: ProjectionCheckpoint) -> [UInt8] {
        encode(
            magic: checkpointMagic, name: checkpoint.name, version: checkpoint.version, seq: checkpoint.seq,
            recordedAt: checkpoint.recordedAt, chainHash: checkpoint.chainHash, stateHash: checkpoint.stateHash,
            state: nil)
    }

    private static func encode(
        magic: [UInt8], name: String, version: UInt32, seq: UInt64, recordedAt: LedgerTime, chainHash: ChainHash,
        stateHash: ContentHash, state: [UInt8]?
    ) -> [UInt8] {
        let nameBytes = Array(name.utf8)
        precondition(nameBytes.count <= nameBytesMax, "projection names are validated before they are stored")
        var out = [UInt8]()
        out.reserveCapacity(headerBytes + nameBytes.count + 32 + (state?.count ?? 0))
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
        out.append(contentsOf: magic)
        put(UInt16(1))
        put(UInt16(nameBytes.count))
        put(version)
        put(UInt32(0))
        put(seq)
        put(recordedAt.nanosecondsSinceEpoch)
        out.append(contentsOf: chainHash.bytes)
        out.append(contentsOf: stateHash.bytes)
        put(UInt64(state?.count ?? 0))
        out.append(contentsOf: nameBytes)
        out.append(contentsOf: ContentHash(of: out).bytes)
        if let state { out.append(contentsOf: state) }
        return out
    }

    /// Decodes a snapshot record stored under `name` and `seq`; any mismatch, short length or
    /// failed checksum gives ``StoredSnapshot/damaged(seq:reason:)``.
    public static func decodeSnapshot(_ raw: UnsafeRawBufferPointer, name: String, seq: UInt64) -> StoredSnapshot {
        switch decode(raw, magic: snapshotMagic, name: name, seq: seq, withState: true) {
        case .success(let fields):
            var snapshot = ProjectionSnapshot(
                name: name, version: fields.version, seq: seq, recordedAt: fields.recordedAt, chainHash: fields.chainHash,
                state: [])
            snapshot.state = fields.state
            snapshot.stateHash = fields.stateHash
            return .intact(snapshot)
        case .failure(let reason):
            return .damaged(seq: seq, reason: reason.message)
        }
    }

    /// Decodes a checkpoint record stored under `name`; throws ``LedgerError/Code/corrupted`` when damaged.
    public static func decodeCheckpoint(_ raw: UnsafeRawBufferPointer, name: String) throws(LedgerError) -> ProjectionCheckpoint {
        switch decode(raw, magic: checkpointMagic, name: name, seq: nil, withState: false) {
        case .success(let fields):
            return ProjectionCheckpoint(
                name: name, version: fields.version, seq: fields.seq, recordedAt: fields.recordedAt,
                chainHash: fields.chainHash, stateHash: fields.stateHash)
        case .failure(let reason):
            throw LedgerError(.corrupted, "the checkpoint of projection \(name) is damaged: \(reason.message)", field: "checkpoint")
        }
    }

    private struct Fields {
        var version: UInt32
        var seq: UInt64
        var recordedAt: LedgerTime
        var chainHash: ChainHash
        var stateHash: ContentHash
        var state: [UInt8]
    }

    private struct Reason: Error { var message: String }

    private static func decode(
        _ raw: UnsafeRawBufferPointer, magic: [UInt8], name: String, seq expectedSeq: UInt64?, withState: Bool
    ) -> Result<Fields, Reason> {
        guard raw.count >= headerBytes + 32 else { return .failure(Reason(message: "the record is \(raw.count) bytes, too short")) }
        guard raw.prefix(4).elementsEqual(magic) else { return .failure(Reason(message: "the record has the wrong magic")) }
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        guard load(4, UInt16.self) == 1 else { return .failure(Reason(message: "the record has an unknown format \(load(4, UInt16.self))")) }
        let nameCount = Int(load(6, UInt16.self))
        let stateCount = load(96, UInt64.self)
        let headerEnd = headerBytes + nameCount
        guard nameCount <= nameBytesMax, stateCount <= UInt64(Int.max - headerEnd - 32),
            raw.count == headerEnd + 32 + Int(stateCount), withState || stateCount == 0
        else {
            return .failure(Reason(message: "the record's lengths do not add up to its size"))
        }
        let checksum = ContentHash(of: UnsafeRawBufferPointer(rebasing: raw[0..<headerEnd]))
        guard checksum.bytes.elementsEqual(raw[headerEnd..<(headerEnd + 32)]) else {
            return .failure(Reason(message: "the record's header checksum does not match (altered or damaged)"))
        }
        guard raw[headerBytes..<headerEnd].elementsEqual(name.utf8) else {
            return .failure(Reason(message: "the record names another projection"))
        }
        let seq = load(16, UInt64.self)
        if let expectedSeq, seq != expectedSeq {
            return .failure(Reason(message: "the record says seq \(seq) but is stored at seq \(expectedSeq)"))
        }
        let stateHash = ContentHash(digest: raw[64..<96])!
        var state: [UInt8] = []
        if withState {
            let body = UnsafeRawBufferPointer(rebasing: raw[(headerEnd + 32)...])
            guard ContentHash(of: body) == stateHash else {
                return .failure(Reason(message: "the state bytes do not match their SHA-256 (altered or damaged)"))
            }
            state = Array(body)
        }
        return .success(
            Fields(
                version: load(8, UInt32.self), seq: seq,
                recordedAt: LedgerTime(nanosecondsSinceEpoch: load(24, Int64.self)),
                chainHash: ChainHash(bytes: UnsafeRawBufferPointer(rebasing: raw[32..<64])), stateHash: stateHash,
                state: state))
    }
}

/// Snapshots and checkpoints held in memory, with the same semantics and record bytes as the
/// durable store: for tests and examples. Nothing survives the process.
public final class InMemorySnapshotStore: SnapshotStore {
    private struct State {
        var snapshots: [String: [UInt64: [UInt8]]] = [:]
        var checkpoints: [String: [UInt8]] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func save(_ snapshots: [ProjectionSnapshot], checkpoints: [ProjectionCheckpoint]) throws {
        for snapshot in snapshots { try SnapshotRecord.validate(name: snapshot.name) }
        for checkpoint in checkpoints { try SnapshotRecord.validate(name: checkpoint.name) }
        let records = snapshots.map { ($0.name, $0.seq, SnapshotRecord.encode($0)) }
        let marks = checkpoints.map { ($0.name, SnapshotRecord.encode($0)) }
        state.withLock { state in
            for (name, seq, bytes) in records { state.snapshots[name, default: [:]][seq] = bytes }
            for (name, bytes) in marks { state.checkpoints[name] = bytes }
        }
    }

    public func snapshot(named name: String, atOrBefore seq: UInt64) -> StoredSnapshot? {
        let found: (UInt64, [UInt8])? = state.withLock { state in
            guard let records = state.snapshots[name] else { return nil }
            guard let best = records.keys.filter({ $0 <= seq }).max() else { return nil }
            return (best, records[best]!)
        }
        guard let (at, bytes) = found else { return nil }
        return bytes.withUnsafeBytes { SnapshotRecord.decodeSnapshot($0, name: name, seq: at) }
    }

    public func snapshotSeqs(named name: String) -> [UInt64] {
        state.withLock { ($0.snapshots[name]?.keys).map { $0.sorted() } ?? [] }
    }

    public func removeSnapshots(named name: String, seqs: [UInt64]?) {
        state.withLock { state in
            if let seqs {
                for seq in seqs { state.snapshots[name]?[seq] = nil }
            } else {
                state.snapshots[name] = nil
                state.checkpoints[name] = nil
            }
        }
    }

    public func checkpoint(named name: String) throws -> ProjectionCheckpoint? {
        guard let bytes = state.withLock({ $0.checkpoints[name] }) else { return nil }
        return try bytes.withUnsafeBytes { raw throws(LedgerError) in try SnapshotRecord.decodeCheckpoint(raw, name: name) }
    }

    /// Flips one byte of a stored snapshot record, bypassing every rule: for tests of the
    /// fallback to replay only.
    package func damageSnapshot(named name: String, seq: UInt64, byteOffset: Int) {
        state.withLock { state in
            guard var record = state.snapshots[name]?[seq] else { return }
            record[min(byteOffset, record.count - 1)] ^= 0xFF
            state.snapshots[name]?[seq] = record
        }
    }
}

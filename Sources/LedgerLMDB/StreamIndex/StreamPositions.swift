import CLMDB
import LedgerCore

/// The writer's view of stream versions: the tail first (every committed event the index does not
/// hold yet), then the index through a read transaction at least as new as the tail's watermark.
///
/// Lives on the writer thread for one write transaction; the index read transaction it opens ends
/// with it.
final class StreamPositionReader {
    private let tail: StreamTail
    private let index: StreamIndex
    private var txn: OpaquePointer?
    private var watermark: UInt64 = 0
    /// The highest id in `txn`'s index, read at most once per transaction; forgotten with it.
    private var highestID: HighestID = .unread
    private enum HighestID {
        case unread
        case read(EventID?)  // nil: the index holds no id
    }

    init(tail: StreamTail, index: StreamIndex) {
        self.tail = tail
        self.index = index
    }

    deinit { if let txn { mdb_txn_abort(txn) } }

    /// The highest committed version of `stream`, 0 when it has none.
    func latestVersion(of stream: String, scratch: inout [UInt8]) throws(LedgerError) -> UInt64 {
        let (inTail, indexed) = tail.latestVersion(of: stream)
        if let inTail { return inTail }
        // Not in the tail, so every event of the stream is at or below `indexed`: any index
        // snapshot with a watermark that high holds them all.
        return try index.highestVersion(of: stream, seqMax: .max, in: indexTransaction(through: indexed), scratch: &scratch)
    }

    /// The seq of each of `ids` (committed events only), nil for an id no committed event has:
    /// the tail under one lock, then the index in key order.
    func seqs(ofIDs ids: [EventID]) throws(LedgerError) -> [UInt64?] {
        let look = tail.seqs(ofIDs: ids)
        var found = look.seqs
        guard found.contains(where: { $0 == nil }) else { return found }
        let txn = try indexTransaction(through: look.indexed)
        guard let highest = try highestIndexedID(in: txn) else { return found }
        var missing: [EventID] = []
        var missingPositions: [Int] = []
        for position in ids.indices where found[position] == nil && ids[position] <= highest {
            missing.append(ids[position])
            missingPositions.append(position)
        }
        guard !missing.isEmpty else { return found }
        try index.forEachSeq(forIDs: missing, in: txn) { position, seq in
            found[missingPositions[position]] = seq
        }
        return found
    }

    /// ``seqs(ofIDs:)`` for one id, with no array unless the index must be searched.
    func seq(ofID id: EventID) throws(LedgerError) -> UInt64? {
        let look = tail.seq(ofID: id)
        if let seq = look.seq { return seq }
        let txn = try indexTransaction(through: look.indexed)
        guard let highest = try highestIndexedID(in: txn), id <= highest else { return nil }
        var found: UInt64?
        try index.forEachSeq(forIDs: [id], in: txn) { _, seq in found = seq }
        return found
    }

    /// The highest id in `txn`'s index (nil: it holds none), read once per index transaction.
    /// Time-ordered ids (UUIDv7) arrive mostly above everything indexed, which lags the log: those
    /// are known to be new without a search of the index.
    private func highestIndexedID(in txn: OpaquePointer) throws(LedgerError) -> EventID? {
        if case .unread = highestID { highestID = .read(try index.highestID(in: txn)) }
        guard case .read(let highest) = highestID else { return nil }
        return highest
    }

    /// A read transaction of the index whose watermark is at least `indexed`.
    private func indexTransaction(through indexed: UInt64) throws(LedgerError) -> OpaquePointer {
        if let txn, watermark >= indexed { return txn }
        if let txn { mdb_txn_abort(txn) }
        txn = nil
        var opened: OpaquePointer?
        try LMDBResult.check(mdb_txn_begin(index.env, nil, UInt32(MDB_RDONLY), &opened), "starting a stream index read")
        txn = opened
        highestID = .unread
        watermark = try index.watermark(in: opened!).seq
        precondition(watermark >= indexed, "the index's watermark moves before the tail drops what it holds")
        return opened!
    }
}

/// Looking event ids up as of a read transaction of the log: the index, the in-process tail and,
/// for what neither holds (another process writes, a commit the tail has not taken yet, or an
/// index without ids), a scan of the log above what they cover.
struct IDPositions {
    let environment: LMDBEnvironment
    let index: StreamIndex?
    let tail: StreamTail?

    /// The seq of each of `ids` as of `txn` (head `head`), nil for an id not stored by then.
    func seqs(of ids: [EventID], head: UInt64, in txn: OpaquePointer) throws(LedgerError) -> [UInt64?] {
        guard !ids.isEmpty else { return [] }
        var found = [UInt64?](repeating: nil, count: ids.count)
        // As for streams: the tail's answer first, then an index snapshot at least that new, so
        // that the index holds everything the tail had already dropped.
        let look = tail?.seqs(ofIDs: ids)
        if let look {
            for position in ids.indices { if let seq = look.seqs[position], seq <= head { found[position] = seq } }
        }
        var indexCovers: UInt64 = 0  // the index holds every id of 1...indexCovers
        if let index, index.ids != nil {
            let missing = ids.indices.filter { found[$0] == nil }
            try index.withReadTransaction { indexTxn throws(LedgerError) in
                indexCovers = try index.watermark(in: indexTxn).seq
                try index.forEachSeq(forIDs: missing.map { ids[$0] }, in: indexTxn) { position, seq in
                    if seq <= head { found[missing[position]] = seq }
                }
            }
        }
        // The tail holds every id of look.indexed + 1...look.head.
        var covered = indexCovers
        if let look, indexCovers >= look.indexed { covered = max(indexCovers, look.head) }
        covered = min(covered, head)
        guard covered < head, found.contains(nil) else { return found }
        // The rest of the log: ids stored above what the tail and the index cover.
        var wanted: [EventID: [Int]] = [:]
        for position in ids.indices where found[position] == nil { wanted[ids[position], default: []].append(position) }
        try environment.forEachEncoded(from: covered + 1, through: head, in: txn) { (seq, bytes) throws(LedgerError) in
            let view = try EventView(bytes)
            if let positions = wanted.removeValue(forKey: view.id) { for position in positions { found[position] = seq } }
            return !wanted.isEmpty
        }
        return found
    }
}

/// Reading one stream's positions as of a read transaction of the log: the index, the in-process
/// tail and, for what neither holds (another process writes, or a commit the tail has not taken
/// yet), a scan of the log above the index's watermark.
struct StreamPositions {
    let environment: LMDBEnvironment
    let index: StreamIndex?
    let tail: StreamTail?

    /// (version, seq) of `stream`'s events with versions in `fromVersion...toVersion`, in version
    /// order, at most `maxCount`, as of `txn` whose head is `head`.
    func positions(
        of stream: String, fromVersion: UInt64, toVersion: UInt64, maxCount: Int, head: UInt64, in txn: OpaquePointer
    ) throws(LedgerError) -> [(version: UInt64, seq: UInt64)] {
        // Order matters: the tail's view is taken before the index snapshot, so that the index
        // holds everything the tail had already dropped.
        let view = tail?.view(of: stream)
        var found: [(version: UInt64, seq: UInt64)] = []
        var indexed: UInt64 = 0
        if let index {
            try index.withReadTransaction { indexTxn throws(LedgerError) in
                indexed = try index.watermark(in: indexTxn).seq
                found = try index.positions(
                    of: stream, fromVersion: fromVersion, toVersion: toVersion, seqMax: min(indexed, head),
                    maxCount: maxCount, in: indexTxn)
            }
        }
        guard found.count < maxCount, indexed < head else { return found }
        var covered = indexed
        if let view {
            for entry in view.entries where entry.seq > indexed && entry.seq <= head {
                guard found.count < maxCount, entry.version <= toVersion else { return found }
                if entry.version >= fromVersion { found.append(entry) }
            }
            covered = max(indexed, min(view.head, head))
        }
        guard covered < head else { return found }
        try scanLog(for: stream, after: covered, through: head, in: txn) { version, seq in
            guard found.count < maxCount, version <= toVersion else { return false }
            if version >= fromVersion { found.append((version, seq)) }
            return true
        }
        return found
    }

    /// The highest version of `stream` as of `txn` (head `head`), 0 when it has none.
    func highestVersion(of stream: String, head: UInt64, in txn: OpaquePointer) throws(LedgerError) -> UInt64 {
        let view = tail?.view(of: stream)
        var indexed: UInt64 = 0
        var highest: UInt64 = 0
        if let index {
            var scratch: [UInt8] = []
            try index.withReadTransaction { indexTxn throws(LedgerError) in
                indexed = try index.watermark(in: indexTxn).seq
                highest = try index.highestVersion(of: stream, seqMax: min(indexed, head), in: indexTxn, scratch: &scratch)
            }
        }
        guard indexed < head else { return highest }
        var covered = indexed
        if let view {
            for entry in view.entries where entry.seq > indexed && entry.seq <= head { highest = entry.version }
            covered = max(indexed, min(view.head, head))
        }
        if covered < head {
            try scanLog(for: stream, after: covered, through: head, in: txn) { version, _ in
                highest = version
                return true
            }
        }
        return highest
    }

    /// Calls `body` with (version, seq) of each event of `stream` in `after+1...through`.
    private func scanLog(
        for stream: String, after: UInt64, through: UInt64, in txn: OpaquePointer,
        _ body: (UInt64, UInt64) -> Bool
    ) throws(LedgerError) {
        let target = Array(stream.utf8)
        try environment.forEachEncoded(from: after + 1, through: through, in: txn) { (seq, bytes) throws(LedgerError) in
            let view = try EventView(bytes)
            guard view.stream.elementsEqual(target) else { return true }
            return body(view.version, seq)
        }
    }
}

import CLMDB
import LedgerCore

/// One LMDB write transaction of the group-commit writer: answers the planner's questions and
/// writes planned events. Their stream positions, ids and occurredAt are collected in ``written``
/// for the ``StreamTail``; the stream, id and occurredAt index is written behind the log.
///
/// Lives on the writer thread only, between `mdb_txn_begin` and commit or abort, with no `await`
/// in between (LMDB requires a write transaction to stay on one thread).
struct WriteTransaction: AppendPlanningContext {
    let environment: LMDBEnvironment
    let txn: OpaquePointer
    let streams: StreamPositionReader
    /// The versions earlier transactions of this writer committed (see ``CommittedVersions``).
    let committed: CommittedVersions
    /// The head including every event written so far in this transaction.
    private(set) var head: LogHead
    /// The time stamped on every event of this transaction; never below the previous head's.
    let recordedAt: LedgerTime
    /// Where each event of this transaction went, in seq order.
    private(set) var written: [WrittenPosition] = []
    var eventsWritten: Int { written.count }
    private var versions: [String: UInt64] = [:]
    /// Ids written by this transaction (not in the tail or the index until it commits), for a later
    /// request of the same group commit that repeats one. Filled only once a second request is
    /// planned: the first request's own repeats are caught by the planner.
    /// Each id's position in ``written``, plus one.
    private var writtenIDs = EventIDTable()
    private var idsIndexedThrough = 0
    /// How many of `written` came before the request being planned (``beginRequest()``).
    private var requestStart = 0
    private var scratch: [UInt8] = []
    /// A write cursor on `events`, opened at the first write and kept at the end of the database,
    /// so that an append does not search from the root (mdb_put would, for every event). LMDB
    /// frees a write transaction's cursors when it ends: it is never closed here.
    private var cursor: OpaquePointer?

    init(
        environment: LMDBEnvironment, txn: OpaquePointer, streams: StreamPositionReader, committed: CommittedVersions,
        now: LedgerTime, eventCount: Int
    ) throws(LedgerError) {
        self.environment = environment
        self.txn = txn
        self.streams = streams
        self.committed = committed
        self.head = try environment.head(in: txn)
        self.recordedAt = max(now, head.recordedAt)
        scratch.reserveCapacity(Limits.streamNameBytesMax + 9)
        // Room for what the batch will write, so that neither grows (and rehashes its names) as it
        // goes; a large batch writes few streams per event.
        written.reserveCapacity(eventCount)
        versions.reserveCapacity(min(eventCount, 4_096))
    }

    mutating func currentVersion(of stream: String) throws(LedgerError) -> UInt64 {
        if let cached = versions[stream] { return cached }
        // Not copied into `versions`: a stream this transaction writes gets there by `wrote`.
        if let known = committed.version(of: stream) { return known }
        let version = try streams.latestVersion(of: stream, scratch: &scratch)
        versions[stream] = version
        return version
    }

    /// Every stream version this transaction read or wrote, for ``CommittedVersions/absorb(_:)``
    /// once it has committed.
    var streamVersions: [String: UInt64] { versions }

    /// Marks where the next request's writes begin: its ids are looked up among the earlier
    /// requests' writes only (the caller checked that a request repeats none of its own, so the
    /// later ranges of a request taken in ranges need not look among its first ones).
    mutating func beginRequest() { requestStart = written.count }

    /// Where a batch's ids are stored: the ids earlier requests of this transaction wrote, then the
    /// tail under one lock, then the index in key order; versions are read from the log for the
    /// ids found.
    mutating func storedPositions(of ids: [EventID]) throws(LedgerError) -> [(seq: UInt64, version: UInt64)?] {
        if ids.count == 1 { return [try storedPosition(of: ids[0])] }  // most appends: no arrays
        var stored = [(seq: UInt64, version: UInt64)?](repeating: nil, count: ids.count)
        for position in ids.indices { stored[position] = writtenEarlier(ids[position]) }
        let seqs = try streams.seqs(ofIDs: ids)
        for position in ids.indices where stored[position] == nil {
            guard let seq = seqs[position] else { continue }
            stored[position] = (seq, try storedVersion(ofID: ids[position], at: seq))
        }
        return stored
    }

    /// ``storedPositions(of:)`` for one id.
    mutating func storedPosition(of id: EventID) throws(LedgerError) -> (seq: UInt64, version: UInt64)? {
        if let earlier = writtenEarlier(id) { return earlier }
        guard let seq = try streams.seq(ofID: id) else { return nil }
        return (seq, try storedVersion(ofID: id, at: seq))
    }

    /// The version of the committed event at `seq`, which an index or the tail names for `id`.
    private func storedVersion(ofID id: EventID, at seq: UInt64) throws(LedgerError) -> UInt64 {
        guard let bytes = try environment.encodedEvent(seq, in: txn) else {
            throw LedgerError(.corrupted, "id \(id) is indexed at seq \(seq), which is missing", seq: seq)
        }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: EventCodec.versionOffset, as: UInt64.self))
    }

    /// Where an earlier request of this transaction wrote `id`, if one did.
    private mutating func writtenEarlier(_ id: EventID) -> (seq: UInt64, version: UInt64)? {
        guard requestStart > 0 else { return nil }
        noteWrittenIDs()
        guard let slot = writtenIDs[id] else { return nil }
        let earlier = written[Int(slot) - 1]
        return (earlier.seq, earlier.version)
    }

    private mutating func noteWrittenIDs() {
        // Sized once for the whole group commit (its events were counted at `init`).
        if idsIndexedThrough == 0 { writtenIDs = EventIDTable(capacity: min(written.capacity, 1 << 16)) }
        while idsIndexedThrough < requestStart {
            writtenIDs.insert(written[idsIndexedThrough].id, value: UInt64(idsIndexedThrough) + 1)
            idsIndexedThrough += 1
        }
    }

    /// Writes a request's new events (those `positions` does not mark duplicate) in order, at
    /// the versions planned in `positions`, recording each one's seq there.
    /// `positions` and `templates` cover `range` of `events`, counted from its start.
    ///
    /// With `hashed`, the range's chain hashes made by the ``RangeHasher``, which must continue
    /// this transaction's head; without, each event is hashed here.
    mutating func write(
        _ events: [ProposedEvent], range: Range<Int>, templates: EventTemplates, into positions: inout [EventPosition],
        hashed: RangeHasher.Hashes? = nil
    ) throws(LedgerError) {
        if let hashed {
            precondition(
                hashed.previous == head.hash && hashed.firstSeq == head.seq + 1 && hashed.recordedAt == recordedAt,
                "a range's hashes are made for the position after the head")
            precondition(
                hashed.hashes.count == positions.count(where: { !$0.isDuplicate }), "a range has a hash per new event")
        }
        // Events and templates are read in place (no copy of each event). `withUnsafe…` cannot
        // pass a typed error through, so it is carried out.
        var failure: LedgerError?
        events.withUnsafeBufferPointer { events in
            templates.bytes.withUnsafeBytes { bytes in
                do throws(LedgerError) {
                    var written = 0
                    for offset in 0..<range.count where !positions[offset].isDuplicate {
                        let index = range.lowerBound + offset
                        let template = UnsafeRawBufferPointer(rebasing: bytes[templates.range(of: offset)])
                        // The fields it needs, not the event: handing over the whole event copies it
                        // (a retain and a release of each of its strings), 12 % of this thread's time.
                        positions[offset].seq = try self.write(
                            template: template, stream: events[index].stream, id: events[index].id,
                            occurredAt: events[index].occurredAt, version: positions[offset].version,
                            hash: hashed?.hashes[written])
                        written += 1
                    }
                } catch {
                    failure = error
                }
            }
        }
        if let failure { throw failure }
    }

    /// Writes one planned event at the next seq: its template (``EventCodec/encodeTemplate(_:into:)``,
    /// made by the caller before the event reached the writer) copied into LMDB's reserved page
    /// space and sealed there, with `hash` when the ``RangeHasher`` made it. Returns its seq.
    mutating func write(
        template: UnsafeRawBufferPointer, stream: String, id: EventID, occurredAt: LedgerTime, version: UInt64,
        hash precomputed: ChainHash? = nil
    ) throws(LedgerError) -> UInt64 {
        let seq = head.seq + 1
        precondition(version >= 1, "stream versions start at 1")
        let events = try openCursor()
        var key = seq
        var value = MDB_val(mv_size: template.count, mv_data: nil)
        let rc = withUnsafeMutableBytes(of: &key) { raw in
            var k = MDB_val(mv_size: 8, mv_data: raw.baseAddress)
            return mdb_cursor_put(events, &k, &value, UInt32(MDB_APPEND | MDB_RESERVE))
        }
        try LMDBResult.check(rc, "appending event \(seq)")
        let stored = UnsafeMutableRawBufferPointer(start: value.mv_data, count: template.count)
        stored.copyMemory(from: template)
        let hash: ChainHash
        if let precomputed {
            EventCodec.seal(stored, seq: seq, version: version, recordedAt: recordedAt, hash: precomputed)
            hash = precomputed
        } else {
            hash = EventCodec.seal(stored, seq: seq, version: version, recordedAt: recordedAt, previous: head.hash)
        }
        head = LogHead(seq: seq, hash: hash, recordedAt: recordedAt)
        written.append(WrittenPosition(stream: stream, version: version, id: id, seq: seq, occurredAt: occurredAt))
        return seq
    }

    /// ``write(template:stream:id:occurredAt:version:hash:)`` for an append of one event, whose
    /// template is a buffer of its own.
    mutating func write(
        template: [UInt8], stream: String, id: EventID, occurredAt: LedgerTime, version: UInt64
    ) throws(LedgerError) -> UInt64 {
        // `withUnsafeBytes` cannot pass a typed error through: it is carried out.
        let written: Result<UInt64, LedgerError> = template.withUnsafeBytes { template in
            do throws(LedgerError) {
                return .success(try self.write(template: template, stream: stream, id: id, occurredAt: occurredAt, version: version))
            } catch {
                return .failure(error)
            }
        }
        return try written.get()
    }

    private mutating func openCursor() throws(LedgerError) -> OpaquePointer {
        if let cursor { return cursor }
        var events: OpaquePointer?
        try LMDBResult.check(mdb_cursor_open(txn, environment.dbs.events, &events), "opening the event cursor")
        cursor = events!
        return events!
    }

    /// Records the versions a request's writes left its streams at (``AppendPlanner/Plan/lastVersions``),
    /// for the requests planned after it in this transaction: once per stream, not per event.
    mutating func wrote(_ lastVersions: [(stream: String, version: UInt64)]) {
        for (stream, version) in lastVersions { versions[stream] = version }
    }

    /// ``wrote(_:)`` for a request that wrote one stream.
    mutating func wrote(_ stream: String, at version: UInt64) { versions[stream] = version }

    /// Records the new head in `meta`; call once, after the last write.
    func storeHead() throws(LedgerError) {
        try environment.storeHead(head, in: txn)
    }
}

/// The latest version of the streams the writer has recently seen, kept across its transactions:
/// a stream's version is then looked up in the tail or the index once, not once per transaction
/// (an ingest touching 2,000 runs per chunk paid 2,000 index look-ups per commit).
///
/// Exact because this writer is the ledger's only one (the writer lock): a version it read as
/// committed, or wrote in a transaction that committed, stays the latest until it writes again.
/// Only committed transactions are absorbed. Bounded: past ``countMax`` streams it starts over.
/// Used on the writer thread only.
final class CommittedVersions {
    static let countMax = 1 << 18
    private var versions: [String: UInt64] = [:]

    func version(of stream: String) -> UInt64? { versions[stream] }

    /// Takes in a committed transaction's versions (``WriteTransaction/streamVersions``).
    func absorb(_ committed: [String: UInt64]) {
        if versions.count + committed.count > Self.countMax { versions.removeAll(keepingCapacity: true) }
        versions.merge(committed) { _, new in new }
    }
}

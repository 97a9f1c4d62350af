import CLMDB
public import LedgerCore
import Synchronization

/// The zero-copy scans projections fold with: by seq (the log) and by occurrence time (the
/// `occurred` index in `index/`, and the log above its watermark).
extension LMDBEventStore: EncodedEventSource {
    /// Hands `body` the stored bytes of every event in `from...through`, in `seq` order, zero-copy
    /// from the memory map; `body` returns false to stop. Returns the last seq visited (0 if none).
    ///
    /// Like ``forEachEncodedEvent(from:through:_:)``, but built for folds that read every byte of
    /// every event: it takes the next events from the cursor a few at a time and touches each of
    /// them before handing the first to `body`, so the memory reads of one event overlap the work
    /// on the previous ones instead of waiting one after another.
    @discardableResult
    public func scanEncodedEvents(
        from: UInt64, through: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Bool
    ) throws -> UInt64 {
        var last: UInt64 = 0
        var stopped = false
        try scanEncodedEventBatches(from: from, through: through, batchCountMax: Self.lookahead) { batch, _ in
            for bytes in batch {
                last = EventCodec.seq(in: bytes)
                if try !body(bytes) {
                    stopped = true
                    return false
                }
            }
            return true
        }
        _ = stopped
        return last
    }

    /// Hands `body` the stored bytes of the events in `from...through` in batches of at most
    /// `batchCountMax`, zero-copy. A window is one read transaction: the buffers of all its
    /// batches stay valid until the call for its last batch (`closesWindow` true) returns. Whenever the cursor enters a new page,
    /// the whole page is read at once (64 independent loads the CPU overlaps) before its events
    /// are handed out: the scan then pays one memory round trip per page instead of one per cache
    /// line, which about doubles the speed of a fold that reads every event. Each read transaction
    /// covers at most ``Limits/replayChunkEventCountMax`` × 16 events, so a long scan never pins
    /// old pages for long. Returns the last seq visited (0 if none).
    @discardableResult
    public func scanEncodedEventBatches(
        from: UInt64, through: UInt64, batchCountMax: Int,
        _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer>, _ closesWindow: Bool) throws -> Bool
    ) throws -> UInt64 {
        precondition(batchCountMax > 0, "a batch holds at least one event")
        var next = max(from, 1)
        var last: UInt64 = 0
        var failure: (any Error)?
        var stopped = false
        let chunk = UInt64(Limits.replayChunkEventCountMax) * 16
        var sink: UInt8 = 0
        var stat = MDB_stat()
        mdb_env_stat(environment.env, &stat)
        let pageBytes = max(Int(stat.ms_psize), 4_096)
        let pageMask = ~UInt(pageBytes - 1)
        var lastPage: UInt = 0
        let batch = UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: batchCountMax)
        defer { batch.deallocate() }
        while !stopped, failure == nil, next <= through {
            let chunkEnd = through - next < chunk ? through : next + chunk - 1
            let visited = try environment.withReadTransaction { txn throws(LedgerError) -> UInt64 in
                var cursor: OpaquePointer?
                try LMDBResult.check(mdb_cursor_open(txn, environment.dbs.events, &cursor), "opening an event cursor")
                defer { mdb_cursor_close(cursor) }
                var key = MDB_val()
                var value = MDB_val()
                var start = next
                var rc = withUnsafeMutableBytes(of: &start) { raw in
                    key = MDB_val(mv_size: 8, mv_data: raw.baseAddress)
                    return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
                }
                var seen: UInt64 = 0
                var ended = false
                while !ended, !stopped, failure == nil {
                    var count = 0
                    while count < batchCountMax {
                        guard rc == MDB_SUCCESS, key.mv_data.loadUnaligned(as: UInt64.self) <= chunkEnd else {
                            ended = true
                            break
                        }
                        let bytes = UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
                        let page = UInt(bitPattern: value.mv_data) & pageMask
                        if page != lastPage, page != 0 {
                            // The page is mapped as a whole (LMDB pages are OS pages of the map).
                            lastPage = page
                            let base = UnsafeRawPointer(bitPattern: page)!
                            var offset = 0
                            while offset < pageBytes {
                                sink &+= base.load(fromByteOffset: offset, as: UInt8.self)
                                offset += 64
                            }
                        }
                        if bytes.count > 0 { sink &+= bytes[bytes.count - 1] }
                        batch[count] = bytes
                        count += 1
                        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
                    }
                    guard count > 0 else { break }
                    // The cursor already stands on the next event: this batch closes the
                    // transaction's window when there is none within the chunk.
                    if rc != MDB_SUCCESS || key.mv_data.loadUnaligned(as: UInt64.self) > chunkEnd { ended = true }
                    do {
                        if try !body(UnsafeBufferPointer(rebasing: batch[0..<count]), ended) { stopped = true }
                    } catch {
                        failure = error
                    }
                    seen = EventCodec.seq(in: batch[count - 1])
                }
                if rc != MDB_SUCCESS, rc != MDB_NOTFOUND { try LMDBResult.check(rc, "scanning the event log") }
                return seen
            }
            if visited == 0 { break }
            last = visited
            if visited < chunkEnd, !stopped, failure == nil { break }  // reached the head
            next = visited + 1
        }
        if let failure { throw failure }
        // Publishing the sum keeps the touching loads from being optimised away.
        scanTouchSink.store(sink, ordering: .relaxed)
        return last
    }

    /// Events taken from the cursor ahead of the one being folded.
    static let lookahead = 16

    /// Hands `body` the stored bytes of every event with `occurredAt <= time` and `seq <= through`,
    /// in ascending `seq` order, zero-copy. Returns the number of events visited.
    ///
    /// When few events occurred by `time` (at most a quarter of the prefix), it walks the
    /// `occurred` index (and the log above the index's watermark), sorts the seqs it found and
    /// reads just those events; otherwise it scans the prefix and filters on the `occurredAt` read
    /// in place, which is faster than random reads. Either way the set and the order are the same.
    @discardableResult
    public func scanEncodedEvents(
        occurredAtOrBefore time: LedgerTime, through: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Bool
    ) throws -> UInt64 {
        let head = try head().seq
        let last = min(through, head)
        guard last > 0 else { return 0 }
        let cap = max(last / 4, 1_024)
        guard var seqs = try occurredSeqs(atOrBefore: time, through: last, cap: cap) else {
            var visited: UInt64 = 0
            try scanEncodedEvents(from: 1, through: last) { bytes in
                guard EventCodec.occurredAt(in: bytes) <= time else { return true }
                visited += 1
                return try body(bytes)
            }
            return visited
        }
        seqs.sort()
        var visited: UInt64 = 0
        var index = 0
        var failure: (any Error)?
        let chunk = Limits.replayChunkEventCountMax * 16
        while index < seqs.count, failure == nil {
            let end = min(index + chunk, seqs.count)
            let stop = try environment.withReadTransaction { txn throws(LedgerError) -> Bool in
                while index < end {
                    guard let bytes = try environment.encodedEvent(seqs[index], in: txn) else {
                        throw LedgerError(.corrupted, "event \(seqs[index]) is in the occurredAt index but not in the log", seq: seqs[index])
                    }
                    index += 1
                    visited += 1
                    do {
                        if try !body(bytes) { return true }
                    } catch {
                        failure = error
                        return true
                    }
                }
                return false
            }
            if stop { break }
        }
        if let failure { throw failure }
        return visited
    }

    /// The seqs `<= through` whose occurredAt is `<= time`: from the occurredAt index through its
    /// watermark, then from the log above it (what the indexer has not written yet, about a second
    /// of appends). Nil when the ledger has no such index (one of format 3 or older, read before
    /// its upgrade) or once more than `cap` are found: the caller then scans the log.
    private func occurredSeqs(atOrBefore time: LedgerTime, through: UInt64, cap: UInt64) throws(LedgerError) -> [UInt64]? {
        guard let index = ledgerIndex, index.occurred != nil else { return nil }
        var seqs: [UInt64] = []
        var capped = false
        let watermark = try index.withReadTransaction { txn throws(LedgerError) -> UInt64 in
            let watermark = try index.watermark(in: txn).seq
            try index.forEachSeq(occurredAtOrBefore: time, in: txn) { seq throws(LedgerError) -> Bool in
                guard seq <= through else { return true }
                seqs.append(seq)
                capped = UInt64(seqs.count) > cap
                return !capped
            }
            return watermark
        }
        if capped { return nil }
        guard watermark < through else { return seqs }
        if through - watermark > cap { return nil }  // the index lags far behind: a scan costs as much
        try environment.withReadTransaction { txn throws(LedgerError) in
            _ = try environment.forEachEncoded(from: watermark + 1, through: through, in: txn) { seq, bytes throws(LedgerError) -> Bool in
                guard EventCodec.occurredAt(in: bytes) <= time else { return true }
                seqs.append(seq)
                capped = UInt64(seqs.count) > cap
                return !capped
            }
        }
        return capped ? nil : seqs
    }
}

/// Where ``LMDBEventStore/scanEncodedEvents(from:through:_:)`` leaves the sum of the bytes it
/// touched ahead of time, so that the compiler keeps those reads.
private let scanTouchSink = Atomic<UInt8>(0)

import CLMDB
public import LedgerCore
import Synchronization

/// The zero-copy scans projections fold with: by seq (the log) and by occurrence time (the
/// `occurred` index).
extension LMDBEventStore: EncodedEventSource {
    /// Hands `body` the stored bytes of every event in `from...through`, in `seq` order, zero-copy
    /// from the memory map; `body` returns false to stop. Returns the last seq visited (0 if none).
    ///
    /// Like ``forEachEncodedEvent(from:through:_:)``, but built for folds that read every byte of
    /// every event: it takes the next events from the cursor a few at a time and touches each of
    /// them before handing the first to `body`, so the memory reads of one event overlap the work
    /// on the previous ones instead of waiting one after another. Each read transaction covers at
    /// most ``Limits/replayChunkEventCountMax`` × 16 events, so a long scan never pins old pages for
    /// long; within it the buffers handed out stay valid (LMDB read transactions see stable pages).
    @discardableResult
    public func scanEncodedEvents(
        from: UInt64, through: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Bool
    ) throws -> UInt64 {
        var next = max(from, 1)
        var last: UInt64 = 0
        var failure: (any Error)?
        var stopped = false
        let chunk = UInt64(Limits.replayChunkEventCountMax) * 16
        var sink: UInt8 = 0
        let batch = UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: Self.lookahead)
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
                    // Take up to `lookahead` events, touching each one's lines as it comes.
                    var count = 0
                    while count < Self.lookahead {
                        guard rc == MDB_SUCCESS else {
                            ended = true
                            break
                        }
                        guard key.mv_data.loadUnaligned(as: UInt64.self) <= chunkEnd else {
                            ended = true
                            break
                        }
                        let bytes = UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
                        var offset = 0
                        while offset < bytes.count {
                            sink &+= bytes[offset]
                            offset += 64
                        }
                        if !bytes.isEmpty { sink &+= bytes[bytes.count - 1] }
                        batch[count] = bytes
                        count += 1
                        rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
                    }
                    for index in 0..<count {
                        let bytes = batch[index]
                        do {
                            if try !body(bytes) {
                                stopped = true
                            }
                        } catch {
                            failure = error
                        }
                        seen = EventCodec.seq(in: bytes)
                        if stopped || failure != nil { break }
                    }
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
    /// `occurred` index, sorts the seqs it found and reads just those events; otherwise it scans
    /// the prefix and filters on the `occurredAt` read in place, which is faster than random reads.
    /// Either way the set and the order are the same.
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

    /// The seqs `<= through` whose occurredAt is `<= time`, from the index; nil once more than
    /// `cap` are found (the caller should scan instead).
    private func occurredSeqs(atOrBefore time: LedgerTime, through: UInt64, cap: UInt64) throws(LedgerError) -> [UInt64]? {
        try environment.withReadTransaction { txn throws(LedgerError) -> [UInt64]? in
            var cursor: OpaquePointer?
            try LMDBResult.check(mdb_cursor_open(txn, environment.dbs.occurred, &cursor), "opening an occurredAt cursor")
            defer { mdb_cursor_close(cursor) }
            var key = MDB_val()
            var value = MDB_val()
            var rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
            var seqs: [UInt64] = []
            let limit = UInt64(bitPattern: time.nanosecondsSinceEpoch) ^ (1 << 63)
            while rc == MDB_SUCCESS {
                guard key.mv_size == 16 else {
                    throw LedgerError(.corrupted, "an occurredAt index key is \(key.mv_size) bytes, not 16")
                }
                let flipped = UInt64(bigEndian: key.mv_data.loadUnaligned(as: UInt64.self))
                if flipped > limit { break }
                let seq = UInt64(bigEndian: key.mv_data.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                if seq <= through {
                    seqs.append(seq)
                    if UInt64(seqs.count) > cap { return nil }
                }
                rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
            }
            if rc != MDB_SUCCESS, rc != MDB_NOTFOUND { try LMDBResult.check(rc, "scanning the occurredAt index") }
            return seqs
        }
    }
}

/// Where ``LMDBEventStore/scanEncodedEvents(from:through:_:)`` leaves the sum of the bytes it
/// touched ahead of time, so that the compiler keeps those reads.
private let scanTouchSink = Atomic<UInt8>(0)

import CLMDB
import LedgerCore

#if canImport(Glibc)
import Glibc
#endif

/// Point and range lookups inside an open transaction (read or write), zero-copy where the
/// caller allows it: a returned buffer points into the memory map and is valid only until the
/// transaction ends.
extension LMDBEnvironment {
    /// The stored bytes of the event at `seq`, or nil.
    func encodedEvent(_ seq: UInt64, in txn: OpaquePointer) throws(LedgerError) -> UnsafeRawBufferPointer? {
        var key = seq
        var value = MDB_val()
        let rc = withUnsafeMutableBytes(of: &key) { raw in
            var k = MDB_val(mv_size: 8, mv_data: raw.baseAddress)
            return mdb_get(txn, dbs.events, &k, &value)
        }
        if rc == MDB_NOTFOUND { return nil }
        try LMDBResult.check(rc, "reading event \(seq)")
        return UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)
    }

    /// The event at `seq`, decoded; throws ``LedgerError/Code/corrupted`` if it is missing.
    func decodedEvent(_ seq: UInt64, in txn: OpaquePointer) throws(LedgerError) -> RecordedEvent {
        guard let bytes = try encodedEvent(seq, in: txn) else {
            throw LedgerError(.corrupted, "event \(seq) is indexed but missing from the log", seq: seq)
        }
        return try EventCodec.decode(bytes)
    }

    /// The highest seq with `recordedAt <= time`: a binary search over `1...head`, since
    /// `recordedAt` never decreases along seq. About log2(n) point reads.
    func seq(recordedAtOrBefore time: LedgerTime, head: UInt64, in txn: OpaquePointer) throws(LedgerError) -> UInt64 {
        var low: UInt64 = 1
        var high = head + 1  // first seq with recordedAt > time
        while low < high {
            let mid = low + (high - low) / 2
            guard let bytes = try encodedEvent(mid, in: txn) else {
                throw LedgerError(.corrupted, "event \(mid) is missing below the head \(head)", seq: mid)
            }
            if EventCodec.recordedAt(in: bytes) <= time { low = mid + 1 } else { high = mid }
        }
        return low - 1
    }

    /// Calls `body` with each stored event's bytes for `from...through`, in order, in this
    /// transaction; `body` returns false to stop. Returns the last seq visited (0 if none).
    @discardableResult
    func forEachEncoded(
        from: UInt64, through: UInt64, in txn: OpaquePointer,
        _ body: (UInt64, UnsafeRawBufferPointer) throws(LedgerError) -> Bool
    ) throws(LedgerError) -> UInt64 {
        guard from <= through else { return 0 }
        var cursor: OpaquePointer?
        try LMDBResult.check(mdb_cursor_open(txn, dbs.events, &cursor), "opening an event cursor")
        defer { mdb_cursor_close(cursor) }
        var start = from
        var key = MDB_val()
        var value = MDB_val()
        var rc = withUnsafeMutableBytes(of: &start) { raw in
            key = MDB_val(mv_size: 8, mv_data: raw.baseAddress)
            return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
        }
        var last: UInt64 = 0
        while rc == MDB_SUCCESS {
            let seq = key.mv_data.loadUnaligned(as: UInt64.self)
            guard seq <= through else { break }
            last = seq
            guard try body(seq, UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size)) else { break }
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        if rc != MDB_SUCCESS, rc != MDB_NOTFOUND { try LMDBResult.check(rc, "scanning the event log") }
        return last
    }
}

/// The byte layout of index keys; documented in `Docs/EventFormat.md`.
enum IndexKeys {
    /// 16 bytes, big-endian, so time-ordered ids (UUIDv7) sort by time and insert near the end.
    static func id(_ id: EventID) -> (UInt64, UInt64) {
        (id.high.bigEndian, id.low.bigEndian)
    }

    /// `stream`, then a 0x00 separator, into `scratch` (replacing its contents).
    static func streamPrefix(_ stream: String, into scratch: inout [UInt8]) {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: stream.utf8)
        scratch.append(0)
    }

    /// `stream`, 0x00, version big-endian, into `scratch`.
    static func streamKey(_ stream: String, version: UInt64, into scratch: inout [UInt8]) {
        streamPrefix(stream, into: &scratch)
        withUnsafeBytes(of: version.bigEndian) { scratch.append(contentsOf: $0) }
    }

    /// occurredAt (sign bit flipped so negative times sort first) then seq, both big-endian.
    static func occurred(_ time: LedgerTime, seq: UInt64) -> (UInt64, UInt64) {
        ((UInt64(bitPattern: time.nanosecondsSinceEpoch) ^ (1 << 63)).bigEndian, seq.bigEndian)
    }
}

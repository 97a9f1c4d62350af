import CLMDBBench
import LedgerCore

/// The raw-LMDB ceiling: the LMDB C API used directly, with nothing of SpendLedger around it.
///
/// Writing: one named database `events` (`MDB_INTEGERKEY`, seq -> encoded event, the same as the
/// ledger's `events` database), `mdb_put` with `MDB_APPEND`, one transaction per batch, default
/// durability (each commit is `fdatasync`ed, like ``LMDBOptions/Durability/fsync``). No stream,
/// id or occurredAt index, no head record, no validation, no hashing (the bytes come pre-encoded).
///
/// Reading: a cursor scan or a binary search over an `events` database, either the one this type
/// wrote or a SpendLedger ledger's own (opened read-only, after the store is closed), so the ceiling
/// reads exactly the pages the store reads.
///
/// Not `Sendable`: used from one task at a time (the environment is opened with `MDB_NOTLS`).
final class RawLMDB {
    let path: String
    private let env: OpaquePointer
    private var dbi: MDB_dbi = 0
    private var closed = false

    /// Opens (creating when `readOnly` is false) the environment in the existing directory `path`.
    init(path: String, readOnly: Bool, noSync: Bool = false) throws {
        self.path = path
        var envPointer: OpaquePointer?
        try Self.check(mdb_env_create(&envPointer), "mdb_env_create")
        guard let env = envPointer else { throw BenchError("mdb_env_create returned nothing") }
        self.env = env
        do {
            try Self.check(mdb_env_set_maxdbs(env, 8), "mdb_env_set_maxdbs")
            // Virtual address space only; a ledger opened read-only may be larger, LMDB then uses
            // the size recorded in the file.
            try Self.check(mdb_env_set_mapsize(env, 1 << 36), "mdb_env_set_mapsize")
            var flags = UInt32(MDB_NOTLS)
            if readOnly { flags |= UInt32(MDB_RDONLY) }
            if noSync { flags |= UInt32(MDB_NOSYNC) }
            try Self.check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open \(path)")
            var txn: OpaquePointer?
            try Self.check(mdb_txn_begin(env, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "mdb_txn_begin")
            let create = readOnly ? 0 : UInt32(MDB_CREATE)
            let rc = mdb_dbi_open(txn, "events", UInt32(MDB_INTEGERKEY) | create, &dbi)
            if rc != MDB_SUCCESS {
                mdb_txn_abort(txn)
                try Self.check(rc, "mdb_dbi_open events")
            }
            try Self.check(mdb_txn_commit(txn), "mdb_txn_commit (opening)")
        } catch {
            mdb_env_close(env)
            throw error
        }
    }

    deinit { close() }

    func close() {
        guard !closed else { return }
        closed = true
        mdb_env_close(env)
    }

    /// The id of the last committed transaction: counts the commits a writer made.
    var lastTransactionID: Int {
        var info = MDB_envinfo()
        mdb_env_info(env, &info)
        return info.me_last_txnid
    }

    // MARK: Writing

    /// Writes `values` at seqs `firstSeq...` in one transaction and commits it (fsync unless the
    /// environment was opened `noSync`).
    func appendBatch(_ values: [[UInt8]], firstSeq: UInt64) throws {
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var seq = firstSeq
        for value in values {
            let rc = value.withUnsafeBytes { bytes in
                withUnsafeMutableBytes(of: &seq) { keyBytes in
                    var key = MDB_val(mv_size: 8, mv_data: keyBytes.baseAddress)
                    var data = MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                    return mdb_put(txn, dbi, &key, &data, UInt32(MDB_APPEND))
                }
            }
            if rc != MDB_SUCCESS {
                mdb_txn_abort(txn)
                try Self.check(rc, "mdb_put seq \(seq)")
            }
            seq += 1
        }
        try Self.check(mdb_txn_commit(txn), "mdb_txn_commit")
    }

    // MARK: Reading

    /// Runs `body` in a read-only transaction.
    func withReadTransaction<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin (read)")
        defer { mdb_txn_abort(txn) }
        return try body(txn!)
    }

    /// Walks every entry with `MDB_NEXT` in one read transaction, reading each value's
    /// `recordedAt` (so the pages are really touched). Returns the entry count and a checksum.
    func scan() throws -> (count: Int, checksum: UInt64) {
        try withReadTransaction { txn in
            var cursor: OpaquePointer?
            try Self.check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
            defer { mdb_cursor_close(cursor) }
            var key = MDB_val()
            var value = MDB_val()
            var count = 0
            var checksum: UInt64 = 0
            var rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
            while rc == MDB_SUCCESS {
                count += 1
                checksum &+= value.mv_data.loadUnaligned(fromByteOffset: EventCodec.recordedAtOffset, as: UInt64.self)
                checksum &+= UInt64(value.mv_size)
                rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
            }
            guard rc == MDB_NOTFOUND else { try Self.check(rc, "mdb_cursor_get"); return (count, checksum) }
            return (count, checksum)
        }
    }

    /// The last seq stored (0 when empty).
    func lastSeq() throws -> UInt64 {
        try withReadTransaction { txn in
            var cursor: OpaquePointer?
            try Self.check(mdb_cursor_open(txn, dbi, &cursor), "mdb_cursor_open")
            defer { mdb_cursor_close(cursor) }
            var key = MDB_val()
            var value = MDB_val()
            let rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
            if rc == MDB_NOTFOUND { return 0 }
            try Self.check(rc, "mdb_cursor_get MDB_LAST")
            return key.mv_data.loadUnaligned(as: UInt64.self)
        }
    }

    /// The highest seq whose `recordedAt <= time`: the same binary search the store does (about
    /// log2(n) `mdb_get`s over `1...head`), in a read transaction of its own, as the store does
    /// per lookup.
    func seq(recordedAtOrBefore time: LedgerTime, head: UInt64) throws -> UInt64 {
        try withReadTransaction { txn in
            var low: UInt64 = 1
            var high = head + 1
            var probe: UInt64 = 0
            var key = MDB_val()
            var value = MDB_val()
            while low < high {
                probe = low + (high - low) / 2
                let rc = withUnsafeMutableBytes(of: &probe) { raw in
                    key = MDB_val(mv_size: 8, mv_data: raw.baseAddress)
                    return mdb_get(txn, dbi, &key, &value)
                }
                try Self.check(rc, "mdb_get seq \(probe)")
                let recorded = value.mv_data.loadUnaligned(fromByteOffset: EventCodec.recordedAtOffset, as: Int64.self)
                if Int64(littleEndian: recorded) <= time.nanosecondsSinceEpoch { low = probe + 1 } else { high = probe }
            }
            return low - 1
        }
    }

    static func check(_ rc: Int32, _ what: @autoclosure () -> String) throws {
        guard rc != MDB_SUCCESS else { return }
        throw BenchError("\(what()): \(String(cString: mdb_strerror(rc))) (\(rc))")
    }
}

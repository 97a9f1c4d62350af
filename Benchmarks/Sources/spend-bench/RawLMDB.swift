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
/// With `indexed`, a diagnostic second ceiling: the same LMDB operations SpendLedger's writer does
/// per event and per transaction (see ``appendBatchIndexed(_:firstSeq:)``), still without any of
/// its Swift code around them. The gap between the two ceilings is LMDB's own cost of the indexes;
/// the gap between this one and SpendLedger is SpendLedger's code.
///
/// Not `Sendable`: used from one task at a time (the environment is opened with `MDB_NOTLS`).
final class RawLMDB {
    let path: String
    private let env: OpaquePointer
    private var dbi: MDB_dbi = 0
    /// `streams`, `ids`, `occurred`, `meta`, opened only when `indexed`.
    private var indexes: (streams: MDB_dbi, ids: MDB_dbi, occurred: MDB_dbi, meta: MDB_dbi)?
    private var closed = false

    /// Opens (creating when `readOnly` is false) the environment in the existing directory `path`.
    init(path: String, readOnly: Bool, noSync: Bool = false, indexed: Bool = false) throws {
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
            if indexed {
                var handles: [MDB_dbi] = []
                for name in ["streams", "ids", "occurred", "meta"] {
                    var handle: MDB_dbi = 0
                    let rc = mdb_dbi_open(txn, name, create, &handle)
                    if rc != MDB_SUCCESS {
                        mdb_txn_abort(txn)
                        try Self.check(rc, "mdb_dbi_open \(name)")
                    }
                    handles.append(handle)
                }
                indexes = (handles[0], handles[1], handles[2], handles[3])
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
    func appendBatch(_ values: [EncodedEvent], firstSeq: UInt64) throws {
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var seq = firstSeq
        for value in values {
            let rc = value.bytes.withUnsafeBytes { bytes in
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

    /// Like ``appendBatch(_:firstSeq:)``, plus every other LMDB call SpendLedger's writer makes
    /// (key layouts as in `Docs/EventFormat.md`): reading the head from `meta`; per event an
    /// `mdb_get` in `ids` (the duplicate check); per stream new to the transaction a cursor seek
    /// in `streams` (its current version); per event, after the `events` put, three
    /// `MDB_NOOVERWRITE` puts: `streams` (stream, 0x00, version BE -> seq), `ids` (id BE -> seq)
    /// and `occurred` (occurredAt with the sign bit flipped BE, seq BE -> empty); then the new
    /// head into `meta`, and the commit.
    func appendBatchIndexed(_ values: [EncodedEvent], firstSeq: UInt64) throws {
        guard let indexes else { throw BenchError("the environment was not opened with indexes") }
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var committed = false
        defer { if !committed { mdb_txn_abort(txn) } }
        var headKey = Array("head".utf8)
        var value = MDB_val()
        var key = MDB_val()
        _ = headKey.withUnsafeMutableBytes { raw in
            key = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
            return mdb_get(txn, indexes.meta, &key, &value)
        }
        var seenStreams = Set<String>()
        var scratch: [UInt8] = []
        var seq = firstSeq
        for event in values {
            // The duplicate check and, once per stream, the version lookup.
            var idKey = (event.id.high.bigEndian, event.id.low.bigEndian)
            let found = withUnsafeMutableBytes(of: &idKey) { raw in
                key = MDB_val(mv_size: 16, mv_data: raw.baseAddress)
                return mdb_get(txn, indexes.ids, &key, &value)
            }
            guard found == MDB_NOTFOUND else { try Self.check(found, "mdb_get ids"); throw BenchError("duplicate id") }
            if seenStreams.insert(event.stream).inserted {
                scratch.removeAll(keepingCapacity: true)
                scratch.append(contentsOf: event.stream.utf8)
                scratch.append(1)
                var cursor: OpaquePointer?
                try Self.check(mdb_cursor_open(txn, indexes.streams, &cursor), "mdb_cursor_open")
                let rc = scratch.withUnsafeMutableBytes { raw in
                    key = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
                    return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
                }
                _ = mdb_cursor_get(cursor, &key, &value, rc == MDB_SUCCESS ? MDB_PREV : MDB_LAST)
                mdb_cursor_close(cursor)
            }
            // The event itself.
            var rc = event.bytes.withUnsafeBytes { bytes in
                withUnsafeMutableBytes(of: &seq) { keyBytes in
                    key = MDB_val(mv_size: 8, mv_data: keyBytes.baseAddress)
                    var data = MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                    return mdb_put(txn, dbi, &key, &data, UInt32(MDB_APPEND))
                }
            }
            try Self.check(rc, "mdb_put events")
            // The three index entries.
            var seqValue = seq.littleEndian
            scratch.removeAll(keepingCapacity: true)
            scratch.append(contentsOf: event.stream.utf8)
            scratch.append(0)
            withUnsafeBytes(of: event.version.bigEndian) { scratch.append(contentsOf: $0) }
            rc = Self.put(txn, indexes.streams, &scratch, &seqValue)
            try Self.check(rc, "mdb_put streams")
            rc = withUnsafeMutableBytes(of: &idKey) { raw in
                withUnsafeMutableBytes(of: &seqValue) { v in
                    key = MDB_val(mv_size: 16, mv_data: raw.baseAddress)
                    var data = MDB_val(mv_size: 8, mv_data: v.baseAddress)
                    return mdb_put(txn, indexes.ids, &key, &data, UInt32(MDB_NOOVERWRITE))
                }
            }
            try Self.check(rc, "mdb_put ids")
            var occurredKey = (
                (UInt64(bitPattern: event.occurredAt.nanosecondsSinceEpoch) ^ (1 << 63)).bigEndian, seq.bigEndian
            )
            rc = withUnsafeMutableBytes(of: &occurredKey) { raw in
                key = MDB_val(mv_size: 16, mv_data: raw.baseAddress)
                var data = MDB_val(mv_size: 0, mv_data: nil)
                return mdb_put(txn, indexes.occurred, &key, &data, UInt32(MDB_NOOVERWRITE))
            }
            try Self.check(rc, "mdb_put occurred")
            seq += 1
        }
        var head = [UInt8](repeating: 0, count: 48)
        head.withUnsafeMutableBytes { $0.storeBytes(of: (seq - 1).littleEndian, as: UInt64.self) }
        let rc = headKey.withUnsafeMutableBytes { k in
            head.withUnsafeMutableBytes { v in
                key = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
                var data = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                return mdb_put(txn, indexes.meta, &key, &data, 0)
            }
        }
        try Self.check(rc, "mdb_put meta")
        committed = true
        try Self.check(mdb_txn_commit(txn), "mdb_txn_commit")
    }

    private static func put(_ txn: OpaquePointer?, _ dbi: MDB_dbi, _ keyBytes: inout [UInt8], _ seq: inout UInt64) -> Int32 {
        keyBytes.withUnsafeMutableBytes { k in
            withUnsafeMutableBytes(of: &seq) { v in
                var key = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
                var data = MDB_val(mv_size: 8, mv_data: v.baseAddress)
                return mdb_put(txn, dbi, &key, &data, UInt32(MDB_NOOVERWRITE))
            }
        }
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

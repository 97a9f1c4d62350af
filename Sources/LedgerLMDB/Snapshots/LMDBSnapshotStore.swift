import CLMDB
public import LedgerCore

/// Projection snapshots and checkpoints kept inside the ledger's own LMDB environment, in the
/// `snapshots` and `checkpoints` named databases.
///
/// Guarantees, beyond every ``SnapshotStore`` guarantee:
/// - **Beside the log.** Snapshots live in the same directory as the events, so copying a ledger
///   copies its snapshots, and `mdb_dump -s snapshots DIR` shows them.
/// - **Keyed for seeks.** `snapshots`: projection name UTF-8, `0x00`, seq (big-endian UInt64) →
///   ``SnapshotRecord`` bytes; the newest snapshot at or before a seq is one cursor seek.
///   `checkpoints`: projection name UTF-8 → checkpoint record.
/// - **Never in the writer's way for long.** A save is one short write transaction of its own,
///   begun and committed on the calling thread with no `await` in between; LMDB serialises it
///   with the group-commit writer's transactions. It holds this process's map-resize gate, so the
///   writer never resizes the map under it.
/// - **Read-only ledgers.** On a ledger opened read-only, reads work and saves throw
///   ``LedgerError/Code/readOnly``.
///
/// ```swift
/// let store = try LMDBEventStore.open(at: "ledger")
/// let snapshots = LMDBSnapshotStore(store)
/// ```
public final class LMDBSnapshotStore: SnapshotStore {
    let environment: LMDBEnvironment
    private let readOnly: Bool

    /// The snapshot store of the ledger `store` has open. Keep `store` open while using it.
    public init(_ store: LMDBEventStore) {
        environment = store.environment
        readOnly = store.isReadOnly || store.environment.readOnly
    }

    public func save(_ snapshots: [ProjectionSnapshot], checkpoints: [ProjectionCheckpoint]) throws {
        guard !snapshots.isEmpty || !checkpoints.isEmpty else { return }
        guard !readOnly else {
            throw LedgerError(.readOnly, "the ledger at \(environment.path) is open read-only; snapshots cannot be saved")
        }
        for snapshot in snapshots { try SnapshotRecord.validate(name: snapshot.name) }
        for checkpoint in checkpoints { try SnapshotRecord.validate(name: checkpoint.name) }
        let records = snapshots.map { (Self.key($0.name, seq: $0.seq), SnapshotRecord.encode($0)) }
        let marks = checkpoints.map { (Array($0.name.utf8), SnapshotRecord.encode($0)) }
        try withWriteTransaction { txn throws(LedgerError) in
            for (key, value) in records { try put(txn, environment.dbs.snapshots, key, value, "saving a snapshot") }
            for (key, value) in marks { try put(txn, environment.dbs.checkpoints, key, value, "saving a checkpoint") }
        }
    }

    public func snapshot(named name: String, atOrBefore seq: UInt64) throws -> StoredSnapshot? {
        try SnapshotRecord.validate(name: name)
        return try environment.withReadTransaction { txn throws(LedgerError) -> StoredSnapshot? in
            var cursor: OpaquePointer?
            try LMDBResult.check(mdb_cursor_open(txn, environment.dbs.snapshots, &cursor), "opening a snapshot cursor")
            defer { mdb_cursor_close(cursor) }
            var wanted = Self.key(name, seq: seq)
            let prefixCount = wanted.count - 8
            var key = MDB_val()
            var value = MDB_val()
            var rc = wanted.withUnsafeMutableBytes { raw in
                key = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
                return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
            }
            // SET_RANGE lands on the first key >= wanted: exactly it, or one past what we want.
            if rc == MDB_SUCCESS, !Self.equals(key, wanted) {
                rc = mdb_cursor_get(cursor, &key, &value, MDB_PREV)
            } else if rc == MDB_NOTFOUND {
                rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
            }
            if rc == MDB_NOTFOUND { return nil }
            try LMDBResult.check(rc, "seeking the snapshots of \(name)")
            let found = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
            guard found.count == prefixCount + 8, found.prefix(prefixCount).elementsEqual(wanted.prefix(prefixCount)) else {
                return nil
            }
            let at = UInt64(bigEndian: found.loadUnaligned(fromByteOffset: prefixCount, as: UInt64.self))
            return SnapshotRecord.decodeSnapshot(
                UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size), name: name, seq: at)
        }
    }

    public func snapshotSeqs(named name: String) throws -> [UInt64] {
        try SnapshotRecord.validate(name: name)
        return try environment.withReadTransaction { txn throws(LedgerError) in
            var seqs: [UInt64] = []
            try forEachKey(of: name, in: txn) { seq in seqs.append(seq) }
            return seqs
        }
    }

    public func removeSnapshots(named name: String, seqs: [UInt64]?) throws {
        try SnapshotRecord.validate(name: name)
        guard !readOnly else {
            throw LedgerError(.readOnly, "the ledger at \(environment.path) is open read-only; snapshots cannot be removed")
        }
        try withWriteTransaction { txn throws(LedgerError) in
            var doomed = seqs ?? []
            if seqs == nil { try forEachKey(of: name, in: txn) { seq in doomed.append(seq) } }
            for seq in doomed {
                var key = Self.key(name, seq: seq)
                let rc = key.withUnsafeMutableBytes { raw in
                    var k = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
                    return mdb_del(txn, environment.dbs.snapshots, &k, nil)
                }
                if rc != MDB_NOTFOUND { try LMDBResult.check(rc, "removing a snapshot of \(name)") }
            }
            if seqs == nil {
                var key = Array(name.utf8)
                let rc = key.withUnsafeMutableBytes { raw in
                    var k = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
                    return mdb_del(txn, environment.dbs.checkpoints, &k, nil)
                }
                if rc != MDB_NOTFOUND { try LMDBResult.check(rc, "removing the checkpoint of \(name)") }
            }
        }
    }

    public func checkpoint(named name: String) throws -> ProjectionCheckpoint? {
        try SnapshotRecord.validate(name: name)
        return try environment.withReadTransaction { txn throws(LedgerError) -> ProjectionCheckpoint? in
            var key = Array(name.utf8)
            var value = MDB_val()
            let rc = key.withUnsafeMutableBytes { raw in
                var k = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
                return mdb_get(txn, environment.dbs.checkpoints, &k, &value)
            }
            if rc == MDB_NOTFOUND { return nil }
            try LMDBResult.check(rc, "reading the checkpoint of \(name)")
            return try SnapshotRecord.decodeCheckpoint(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size), name: name)
        }
    }

    // MARK: Test support

    /// The stored record bytes of a snapshot, or nil: for tests.
    package func rawRecord(named name: String, seq: UInt64) throws -> [UInt8]? {
        try environment.withReadTransaction { txn throws(LedgerError) -> [UInt8]? in
            var key = Self.key(name, seq: seq)
            var value = MDB_val()
            let rc = key.withUnsafeMutableBytes { raw in
                var k = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
                return mdb_get(txn, environment.dbs.snapshots, &k, &value)
            }
            if rc == MDB_NOTFOUND { return nil }
            try LMDBResult.check(rc, "reading a snapshot")
            return Array(UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size))
        }
    }

    /// Stores `bytes` as the record of a snapshot, bypassing every check: for tests of damaged
    /// snapshots only.
    package func putRawRecord(named name: String, seq: UInt64, _ bytes: [UInt8]) throws {
        try withWriteTransaction { txn throws(LedgerError) in
            try put(txn, environment.dbs.snapshots, Self.key(name, seq: seq), bytes, "writing a raw snapshot")
        }
    }

    // MARK: Internals

    static func key(_ name: String, seq: UInt64) -> [UInt8] {
        var key = Array(name.utf8)
        key.append(0)
        withUnsafeBytes(of: seq.bigEndian) { key.append(contentsOf: $0) }
        return key
    }

    private static func equals(_ value: MDB_val, _ bytes: [UInt8]) -> Bool {
        value.mv_size == bytes.count && UnsafeRawBufferPointer(start: value.mv_data, count: value.mv_size).elementsEqual(bytes)
    }

    /// Calls `body` with the seq of each record of `name`, ascending.
    private func forEachKey(of name: String, in txn: OpaquePointer, _ body: (UInt64) -> Void) throws(LedgerError) {
        var cursor: OpaquePointer?
        try LMDBResult.check(mdb_cursor_open(txn, environment.dbs.snapshots, &cursor), "opening a snapshot cursor")
        defer { mdb_cursor_close(cursor) }
        var prefix = Array(name.utf8)
        prefix.append(0)
        var key = MDB_val()
        var value = MDB_val()
        var rc = prefix.withUnsafeMutableBytes { raw in
            key = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
            return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
        }
        while rc == MDB_SUCCESS {
            let found = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
            guard found.count == prefix.count + 8, found.prefix(prefix.count).elementsEqual(prefix) else { break }
            body(UInt64(bigEndian: found.loadUnaligned(fromByteOffset: prefix.count, as: UInt64.self)))
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        if rc != MDB_SUCCESS, rc != MDB_NOTFOUND { try LMDBResult.check(rc, "listing the snapshots of \(name)") }
    }

    private func put(_ txn: OpaquePointer, _ dbi: MDB_dbi, _ key: [UInt8], _ value: [UInt8], _ action: String) throws(LedgerError) {
        var key = key
        var value = value
        let rc = key.withUnsafeMutableBytes { keyRaw in
            value.withUnsafeMutableBytes { valueRaw in
                var k = MDB_val(mv_size: keyRaw.count, mv_data: keyRaw.baseAddress)
                var v = MDB_val(mv_size: valueRaw.count, mv_data: valueRaw.baseAddress)
                return mdb_put(txn, dbi, &k, &v, 0)
            }
        }
        try LMDBResult.check(rc, action)
    }

    /// One write transaction on the calling thread: begin, `body`, commit, with no suspension
    /// point in between. It runs inside a read-gate section (``LMDBEnvironment/withReadTransaction(_:)``)
    /// so that the writer thread cannot resize the map while it is open; LMDB's own write lock
    /// serialises it with the group-commit writer.
    private func withWriteTransaction(_ body: (OpaquePointer) throws(LedgerError) -> Void) throws(LedgerError) {
        try environment.withReadTransaction { _ throws(LedgerError) in
            var txn: OpaquePointer?
            try LMDBResult.check(mdb_txn_begin(environment.env, nil, 0, &txn), "starting a snapshot write")
            do throws(LedgerError) {
                try body(txn!)
            } catch {
                mdb_txn_abort(txn)
                throw error
            }
            let rc = mdb_txn_commit(txn)
            if rc != MDB_SUCCESS { throw environment.writeFailure(rc, "committing a snapshot write") }
            try environment.syncCommitted()
        }
    }
}

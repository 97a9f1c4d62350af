import CLMDB
import LedgerCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The stream, id and occurredAt index, kept off the commit path: a second LMDB environment in
/// `<ledger>/index` that maps (stream, version) to seq (database `streams`), event id to seq
/// (database `ids`) and holds (occurredAt, seq) keys (database `occurred`) for every event up to a
/// watermark.
///
/// Why a separate environment: the stream and id indexes are keyed by something other than time.
/// A commit touching a thousand streams would dirty a thousand B-tree leaves of the stream index,
/// and a commit of random (UUIDv4) ids dirties a leaf of the id index per event: about 4 KB written
/// per 200-byte event, growing with the ledger. Written behind the log, in large sorted batches,
/// each leaf is written once per batch instead. The occurredAt index is keyed by time and cheap to
/// append, but it still cost every commit one B-tree put per event and a fifth of its bytes, so it
/// is written here too. A second environment has its own write lock, so the indexer never holds up
/// a group commit.
///
/// Guarantees:
/// - The index holds exactly the events with seq in `1...watermark`, never one above it, and the
///   watermark moves in the same transaction as the entries of all its databases.
/// - An index without the `ids` database (one written by format 2) holds no ids: readers look ids
///   up in the log instead, and the writer empties and rebuilds it at open. `ids` is only ever
///   created by ``reset()``, together with an empty `streams` and a watermark of 0. The same
///   holds for `occurred` (absent from an index of format 2 or 3, whose log kept it): without it
///   readers scan the log for occurred-time queries.
/// - It is derived data. The watermark is stored with the chain hash of the event at it; an index
///   that is ahead of its log, or paired with another log, is emptied and rebuilt at open.
/// - The writer commits it without fsync, behind a durable marker of the boot it wrote in
///   (``UnsyncedIndexMarker``): a process crash loses nothing of it (the page cache has every
///   write), and after a machine crash it is rebuilt from the log, never read.
///
/// `@unchecked Sendable`: `env` and the dbi handles are immutable after `open`, and LMDB allows
/// them from any thread (`MDB_NOTLS`). The map never resizes.
final class StreamIndex: @unchecked Sendable {
    static let directoryName = "index"
    static let watermarkKey = "indexed_through"
    /// Virtual address space reserved for the index; the file grows only as pages are used. At
    /// about 40 bytes per event this holds some three billion events.
    static let mapSizeBytes = 1 << 37

    let path: String
    let env: OpaquePointer
    let streams: MDB_dbi
    let meta: MDB_dbi
    /// The `ids` database's handle; 0 while the index has none (LMDB numbers named databases from 2).
    private let idsHandle: Atomic<UInt32>
    /// The `occurred` database's handle; 0 while the index has none.
    private let occurredHandle: Atomic<UInt32>

    private init(path: String, env: OpaquePointer, streams: MDB_dbi, meta: MDB_dbi, ids: MDB_dbi, occurred: MDB_dbi) {
        self.path = path
        self.env = env
        self.streams = streams
        self.meta = meta
        self.idsHandle = Atomic(ids)
        self.occurredHandle = Atomic(occurred)
    }

    /// The `ids` database, or nil when this index holds no ids (see the type's guarantees).
    var ids: MDB_dbi? {
        let handle = idsHandle.load(ordering: .acquiring)
        return handle == 0 ? nil : handle
    }

    /// The `occurred` database, or nil when this index holds no occurredAt entries.
    var occurred: MDB_dbi? {
        let handle = occurredHandle.load(ordering: .acquiring)
        return handle == 0 ? nil : handle
    }

    /// Opens the index of the ledger at `ledgerPath`, creating it when `create`; otherwise nil when
    /// the ledger has none yet (readers then scan the log). Opened writable whenever the files
    /// allow, so that a writer in the same process can share it (see ``OpenLedgers``).
    ///
    /// An index the machine went down under while it was unsynced (``UnsyncedIndexMarker``) is
    /// never read: a writer deletes it (the caller rebuilds it from the log), a reader gets nil.
    static func open(ledgerPath: String, create: Bool) throws(LedgerError) -> StreamIndex? {
        let path = ledgerPath + "/" + directoryName
        if UnsyncedIndexMarker.indexMayBeTorn(in: path) {
            guard create else { return nil }
            for file in ["data.mdb", "lock.mdb"] where unlink(path + "/" + file) != 0 && errno != ENOENT {
                throw LMDBResult.error(errno, "removing the torn stream index \(path)/\(file)")
            }
            try UnsyncedIndexMarker.remove(in: path)
        }
        if !create {
            guard access(path + "/data.mdb", F_OK) == 0 else { return nil }
        } else if mkdir(path, 0o755) != 0, errno != EEXIST {
            throw LMDBResult.error(errno, "creating the stream index directory \(path)")
        }
        let writable = UInt32(MDB_NOTLS) | UInt32(MDB_NOMETASYNC)
        let readOnlyFlags = writable | UInt32(MDB_RDONLY)
        let (env, flags) = try LMDBOpening.open(
            path: path, flagSets: create ? [writable] : [writable, readOnlyFlags, readOnlyFlags | UInt32(MDB_NOLOCK)],
            maxDatabases: 6, mapSizeBytes: mapSizeBytes, action: "opening the stream index at \(path)")
        precondition(!create || flags & UInt32(MDB_RDONLY) == 0, "a created index is writable")
        do throws(LedgerError) {
            var txn: OpaquePointer?
            try LMDBResult.check(mdb_txn_begin(env, nil, create ? 0 : UInt32(MDB_RDONLY), &txn), "opening the stream index")
            var streams: MDB_dbi = 0
            var meta: MDB_dbi = 0
            var ids: MDB_dbi = 0
            var occurred: MDB_dbi = 0
            let createFlag = create ? UInt32(MDB_CREATE) : 0
            var rc = mdb_dbi_open(txn, "streams", createFlag, &streams)
            if rc == MDB_SUCCESS { rc = mdb_dbi_open(txn, "meta", createFlag, &meta) }
            if rc == MDB_NOTFOUND {
                mdb_txn_abort(txn)
                mdb_env_close(env)
                return nil  // created by a writer that has not committed its first transaction
            }
            if rc == MDB_SUCCESS {
                rc = mdb_dbi_open(txn, "ids", 0, &ids)
                if rc == MDB_NOTFOUND {  // an index from format 2: no ids (see ``reset()``)
                    ids = 0
                    rc = MDB_SUCCESS
                }
            }
            if rc == MDB_SUCCESS {
                rc = mdb_dbi_open(txn, "occurred", 0, &occurred)
                if rc == MDB_NOTFOUND {  // an index from format 2 or 3: no occurredAt entries
                    occurred = 0
                    rc = MDB_SUCCESS
                }
            }
            if rc != MDB_SUCCESS { mdb_txn_abort(txn) }
            try LMDBResult.check(rc, "opening the stream index's databases")
            try LMDBResult.check(mdb_txn_commit(txn), "opening the stream index's databases")
            return StreamIndex(path: path, env: env, streams: streams, meta: meta, ids: ids, occurred: occurred)
        } catch {
            mdb_env_close(env)
            throw error
        }
    }

    func close() { mdb_env_close(env) }

    /// From now on the writer commits the index without fsync: first the marker for this boot is
    /// made durable (``UnsyncedIndexMarker``). Where no boot id can be read, commits stay synced.
    func beginUnsyncedWrites() throws(LedgerError) {
        guard let bootID = UnsyncedIndexMarker.currentBootID else { return }
        try UnsyncedIndexMarker.write(bootID, in: path)
        try LMDBResult.check(mdb_env_set_flags(env, UInt32(MDB_NOSYNC), 1), "turning off the stream index's fsync")
    }

    /// At a clean close: syncs every unsynced commit, then removes the marker.
    func endUnsyncedWrites() throws(LedgerError) {
        guard UnsyncedIndexMarker.read(in: path) != nil else { return }
        try LMDBResult.check(mdb_env_sync(env, 1), "syncing the stream index")
        try LMDBResult.check(mdb_env_set_flags(env, UInt32(MDB_NOSYNC), 0), "turning on the stream index's fsync")
        try UnsyncedIndexMarker.remove(in: path)
    }

    /// Bytes of the index's data file.
    func dataFileBytes() -> UInt64 {
        var info = stat()
        guard stat(path + "/data.mdb", &info) == 0 else { return 0 }
        return UInt64(info.st_size)
    }

    // MARK: Reading

    /// Runs `body` in a read transaction of the index.
    func withReadTransaction<T>(_ body: (OpaquePointer) throws(LedgerError) -> T) throws(LedgerError) -> T {
        var txn: OpaquePointer?
        try LMDBResult.check(mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn), "starting a stream index read")
        defer { mdb_txn_abort(txn) }
        return try body(txn!)
    }

    /// The watermark and the chain hash of the event at it (genesis at 0).
    func watermark(in txn: OpaquePointer) throws(LedgerError) -> (seq: UInt64, hash: ChainHash) {
        var key = Array(Self.watermarkKey.utf8)
        var value = MDB_val()
        let rc = key.withUnsafeMutableBytes { raw in
            var k = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
            return mdb_get(txn, meta, &k, &value)
        }
        if rc == MDB_NOTFOUND { return (0, .genesis) }
        try LMDBResult.check(rc, "reading the stream index's watermark")
        guard value.mv_size == 40 else { throw LedgerError(.corrupted, "the stream index's watermark is damaged") }
        let raw = UnsafeRawBufferPointer(start: value.mv_data, count: 40)
        return (
            UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)),
            ChainHash(bytes: UnsafeRawBufferPointer(rebasing: raw[8..<40]))
        )
    }

    /// (version, seq) of `stream`'s events with versions in `fromVersion...toVersion` and seq at
    /// most `seqMax`, in version order, at most `maxCount`.
    func positions(
        of stream: String, fromVersion: UInt64, toVersion: UInt64, seqMax: UInt64, maxCount: Int, in txn: OpaquePointer
    ) throws(LedgerError) -> [(version: UInt64, seq: UInt64)] {
        var key: [UInt8] = []
        IndexKeys.streamKey(stream, version: max(fromVersion, 1), into: &key)
        let prefixCount = key.count - 8
        let cursor = try openCursor(in: txn)
        defer { mdb_cursor_close(cursor) }
        var k = MDB_val()
        var v = MDB_val()
        var rc = seek(cursor, atOrAfter: &key, &k, &v)
        var found: [(version: UInt64, seq: UInt64)] = []
        while rc == MDB_SUCCESS, found.count < maxCount {
            let stored = UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size)
            guard stored.count == prefixCount + 8, stored.prefix(prefixCount).elementsEqual(key.prefix(prefixCount)) else { break }
            let version = UInt64(bigEndian: stored.loadUnaligned(fromByteOffset: prefixCount, as: UInt64.self))
            let seq = UInt64(littleEndian: v.mv_data.loadUnaligned(as: UInt64.self))
            guard version <= toVersion, seq <= seqMax else { break }
            found.append((version, seq))
            rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
        }
        if rc != MDB_SUCCESS, rc != MDB_NOTFOUND { try LMDBResult.check(rc, "reading stream \(stream) from the index") }
        return found
    }

    /// The highest version of `stream` among indexed events with seq at most `seqMax`; 0 for none.
    func highestVersion(of stream: String, seqMax: UInt64, in txn: OpaquePointer, scratch: inout [UInt8]) throws(LedgerError) -> UInt64 {
        IndexKeys.streamPrefix(stream, into: &scratch)
        let prefixCount = scratch.count
        scratch[prefixCount - 1] = 0x01  // just past every key of this stream
        defer { scratch[prefixCount - 1] = 0x00 }
        let cursor = try openCursor(in: txn)
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var value = MDB_val()
        var rc = seek(cursor, atOrAfter: &scratch, &key, &value)
        rc = rc == MDB_SUCCESS ? mdb_cursor_get(cursor, &key, &value, MDB_PREV)
            : rc == MDB_NOTFOUND ? mdb_cursor_get(cursor, &key, &value, MDB_LAST) : rc
        while rc == MDB_SUCCESS {
            guard key.mv_size == prefixCount + 8 else { return 0 }
            let stored = UnsafeRawBufferPointer(start: key.mv_data, count: key.mv_size)
            let matches = scratch.withUnsafeBytes { prefix in memcmp(prefix.baseAddress!, stored.baseAddress!, prefixCount - 1) == 0 }
            guard matches, stored[prefixCount - 1] == 0 else { return 0 }
            if UInt64(littleEndian: value.mv_data.loadUnaligned(as: UInt64.self)) <= seqMax {
                return UInt64(bigEndian: stored.loadUnaligned(fromByteOffset: prefixCount, as: UInt64.self))
            }
            rc = mdb_cursor_get(cursor, &key, &value, MDB_PREV)  // indexed past the reader's snapshot
        }
        if rc == MDB_NOTFOUND { return 0 }
        try LMDBResult.check(rc, "seeking stream \(stream) in the index")
        return 0
    }

    private func openCursor(in txn: OpaquePointer) throws(LedgerError) -> OpaquePointer? {
        var cursor: OpaquePointer?
        try LMDBResult.check(mdb_cursor_open(txn, streams, &cursor), "opening a stream index cursor")
        return cursor
    }

    /// Positions `cursor` at the first key at or after `target` (`MDB_SET_RANGE`).
    private func seek(_ cursor: OpaquePointer?, atOrAfter target: inout [UInt8], _ key: inout MDB_val, _ value: inout MDB_val) -> Int32 {
        target.withUnsafeMutableBytes { raw in
            key = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
            return mdb_cursor_get(cursor, &key, &value, MDB_SET_RANGE)
        }
    }

    /// The number of index entries.
    func entryCount(in txn: OpaquePointer) throws(LedgerError) -> UInt64 {
        try Self.count(of: streams, "stream", in: txn)
    }

    /// The number of entries of `database` (the `what` index, for the error).
    private static func count(of database: MDB_dbi, _ what: String, in txn: OpaquePointer) throws(LedgerError) -> UInt64 {
        var stat = MDB_stat()
        try LMDBResult.check(mdb_stat(txn, database, &stat), "reading the \(what) index size")
        return UInt64(stat.ms_entries)
    }

    /// The seq the index holds for (stream, version), or nil.
    func seq(of stream: String, version: UInt64, in txn: OpaquePointer, scratch: inout [UInt8]) throws(LedgerError) -> UInt64? {
        IndexKeys.streamKey(stream, version: version, into: &scratch)
        var value = MDB_val()
        let rc = scratch.withUnsafeMutableBytes { raw in
            var k = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
            return mdb_get(txn, streams, &k, &value)
        }
        if rc == MDB_NOTFOUND { return nil }
        try LMDBResult.check(rc, "reading stream \(stream) version \(version) from the index")
        guard value.mv_size == 8 else { throw LedgerError(.corrupted, "a stream index entry of \(stream) is damaged") }
        return UInt64(littleEndian: value.mv_data.loadUnaligned(as: UInt64.self))
    }

    /// The seq the index holds for the event `id`, or nil. Only for an index with ``ids``.
    func seq(forID id: EventID, in txn: OpaquePointer) throws(LedgerError) -> UInt64? {
        guard let ids else { preconditionFailure("looked an id up in an index without ids") }
        var key = IndexKeys.id(id)
        var value = MDB_val()
        let rc = withUnsafeMutableBytes(of: &key) { raw in
            var k = MDB_val(mv_size: 16, mv_data: raw.baseAddress)
            return mdb_get(txn, ids, &k, &value)
        }
        if rc == MDB_NOTFOUND { return nil }
        try LMDBResult.check(rc, "looking up event id \(id) in the index")
        guard value.mv_size == 8 else { throw LedgerError(.corrupted, "the id index entry for \(id) is damaged") }
        return UInt64(littleEndian: value.mv_data.loadUnaligned(as: UInt64.self))
    }

    /// The seqs the index holds for `ids`, looked up in key order through one cursor (LMDB finds a
    /// key on the cursor's current leaf without searching from the root): `body` gets each id's
    /// position in `ids` and its seq, for the ids found. Only for an index with ``ids``.
    func forEachSeq(
        forIDs ids: [EventID], in txn: OpaquePointer, _ body: (_ position: Int, _ seq: UInt64) -> Void
    ) throws(LedgerError) {
        guard let database = self.ids else { preconditionFailure("looked ids up in an index without ids") }
        guard !ids.isEmpty else { return }
        let order = ids.indices.sorted { ids[$0] < ids[$1] }
        var cursor: OpaquePointer?
        try LMDBResult.check(mdb_cursor_open(txn, database, &cursor), "opening an id index cursor")
        defer { mdb_cursor_close(cursor) }
        for position in order {
            var key = IndexKeys.id(ids[position])
            var value = MDB_val()
            let rc = withUnsafeMutableBytes(of: &key) { raw in
                var k = MDB_val(mv_size: 16, mv_data: raw.baseAddress)
                return mdb_cursor_get(cursor, &k, &value, MDB_SET)
            }
            if rc == MDB_NOTFOUND { continue }
            try LMDBResult.check(rc, "looking up event id \(ids[position]) in the index")
            guard value.mv_size == 8 else { throw LedgerError(.corrupted, "the id index entry for \(ids[position]) is damaged") }
            body(position, UInt64(littleEndian: value.mv_data.loadUnaligned(as: UInt64.self)))
        }
    }

    /// The highest id the index holds (ids sort as their keys do), or nil when it holds none. Only
    /// for an index with ``ids``.
    func highestID(in txn: OpaquePointer) throws(LedgerError) -> EventID? {
        guard let database = self.ids else { preconditionFailure("looked ids up in an index without ids") }
        var cursor: OpaquePointer?
        try LMDBResult.check(mdb_cursor_open(txn, database, &cursor), "opening an id index cursor")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var value = MDB_val()
        let rc = mdb_cursor_get(cursor, &key, &value, MDB_LAST)
        if rc == MDB_NOTFOUND { return nil }
        try LMDBResult.check(rc, "reading the highest id of the index")
        guard key.mv_size == 16 else { throw LedgerError(.corrupted, "an id index key is \(key.mv_size) bytes, not 16") }
        return EventID(
            high: UInt64(bigEndian: key.mv_data.loadUnaligned(as: UInt64.self)),
            low: UInt64(bigEndian: key.mv_data.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
    }

    /// The number of id entries (0 for an index without ids).
    func idCount(in txn: OpaquePointer) throws(LedgerError) -> UInt64 {
        guard let ids else { return 0 }
        return try Self.count(of: ids, "id", in: txn)
    }

    /// Hands `body` the seq of every indexed event that occurred at or before `time`, in occurredAt
    /// order (LMDB walks the keys in order); `body` returns false to stop. Only for an index with
    /// ``occurred``.
    func forEachSeq(
        occurredAtOrBefore time: LedgerTime, in txn: OpaquePointer, _ body: (UInt64) throws(LedgerError) -> Bool
    ) throws(LedgerError) {
        guard let database = occurred else { preconditionFailure("read occurredAt entries from an index without them") }
        var cursor: OpaquePointer?
        try LMDBResult.check(mdb_cursor_open(txn, database, &cursor), "opening an occurredAt cursor")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var value = MDB_val()
        var rc = mdb_cursor_get(cursor, &key, &value, MDB_FIRST)
        let limit = UInt64(bitPattern: time.nanosecondsSinceEpoch) ^ (1 << 63)
        while rc == MDB_SUCCESS {
            guard key.mv_size == 16 else {
                throw LedgerError(.corrupted, "an occurredAt index key is \(key.mv_size) bytes, not 16")
            }
            if UInt64(bigEndian: key.mv_data.loadUnaligned(as: UInt64.self)) > limit { return }
            guard try body(UInt64(bigEndian: key.mv_data.loadUnaligned(fromByteOffset: 8, as: UInt64.self))) else { return }
            rc = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)
        }
        if rc != MDB_NOTFOUND { try LMDBResult.check(rc, "scanning the occurredAt index") }
    }

    /// Whether the index holds the occurredAt entry (`time`, `seq`). Only for an index with ``occurred``.
    func holdsOccurred(_ time: LedgerTime, seq: UInt64, in txn: OpaquePointer) throws(LedgerError) -> Bool {
        guard let database = occurred else { preconditionFailure("read occurredAt entries from an index without them") }
        var key = IndexKeys.occurred(time, seq: seq)
        let rc = withUnsafeMutableBytes(of: &key) { raw in
            var k = MDB_val(mv_size: 16, mv_data: raw.baseAddress)
            var v = MDB_val()
            return mdb_get(txn, database, &k, &v)
        }
        if rc == MDB_NOTFOUND { return false }
        try LMDBResult.check(rc, "looking up an occurredAt entry of seq \(seq)")
        return true
    }

    /// The number of occurredAt entries (0 for an index without them).
    func occurredCount(in txn: OpaquePointer) throws(LedgerError) -> UInt64 {
        guard let occurred else { return 0 }
        return try Self.count(of: occurred, "occurredAt", in: txn)
    }

    // MARK: Writing (the indexer only)

    /// Writes `entries`, `ids` and `occurred` (each sorted by key) and moves the watermark to
    /// `through` (whose event has `hash`), in one transaction. Entries already present with the
    /// same seq are accepted (a crash between an index commit and the tail's drop re-offers them); a
    /// different seq is corruption. Only for an index with ``ids`` and ``occurred``.
    func write(
        _ entries: [StreamIndexEntry], ids idEntries: [IDIndexEntry], occurred occurredEntries: [OccurredIndexEntry],
        through: UInt64, hash: ChainHash
    ) throws(LedgerError) {
        guard let ids, let occurred else { preconditionFailure("the indexer writes only a complete index (reset() makes it)") }
        var txnPointer: OpaquePointer?
        try LMDBResult.check(mdb_txn_begin(env, nil, 0, &txnPointer), "starting a stream index write")
        guard let txn = txnPointer else { throw LedgerError(.storage, "mdb_txn_begin returned no transaction") }
        var committed = false
        defer { if !committed { mdb_txn_abort(txn) } }
        var cursor: OpaquePointer?
        try LMDBResult.check(mdb_cursor_open(txn, streams, &cursor), "opening a stream index cursor")
        // A write transaction's cursors are freed when it commits: close it before, never after.
        var cursorOpen = true
        defer { if cursorOpen { mdb_cursor_close(cursor) } }
        var key: [UInt8] = []
        key.reserveCapacity(Limits.streamNameBytesMax + 9)
        for entry in entries {
            IndexKeys.streamKey(entry.stream, version: entry.version, into: &key)
            let rc = key.withUnsafeMutableBytes { Self.put(entry.seq, at: $0, cursor: cursor) }
            if rc == MDB_KEYEXIST {
                throw LedgerError(.corrupted, "the stream index already maps \(entry.stream) version \(entry.version) to another event")
            }
            try LMDBResult.check(rc, "indexing \(entry.stream) version \(entry.version)")
        }
        mdb_cursor_close(cursor)
        cursorOpen = false
        try LMDBResult.check(mdb_cursor_open(txn, ids, &cursor), "opening an id index cursor")
        cursorOpen = true
        // Time-ordered ids (UUIDv7) mostly sort above every id indexed: those are appended, which
        // fills the index's pages, where a put into the tree splits them half full. An id that is
        // not above the last one (sorted first: a late producer's) is put where it belongs.
        for entry in idEntries {
            var key = IndexKeys.id(entry.id)
            let rc = withUnsafeMutableBytes(of: &key) { key in
                let appended = Self.put(entry.seq, at: key, cursor: cursor, flags: UInt32(MDB_APPEND))
                return appended == MDB_KEYEXIST ? Self.put(entry.seq, at: key, cursor: cursor) : appended
            }
            if rc == MDB_KEYEXIST {
                throw LedgerError(.corrupted, "the id index already maps \(entry.id) to another event than seq \(entry.seq)")
            }
            try LMDBResult.check(rc, "indexing id \(entry.id)")
        }
        mdb_cursor_close(cursor)
        cursorOpen = false
        try LMDBResult.check(mdb_cursor_open(txn, occurred, &cursor), "opening an occurredAt index cursor")
        cursorOpen = true
        // Mostly in time order: appended at the end, else (a late event) put where it belongs. The
        // key holds the seq, so a key already there is this very entry, re-offered.
        for entry in occurredEntries {
            var key = IndexKeys.occurred(entry.time, seq: entry.seq)
            let rc = withUnsafeMutableBytes(of: &key) { key in
                var k = MDB_val(mv_size: 16, mv_data: key.baseAddress)
                var v = MDB_val(mv_size: 0, mv_data: nil)
                let appended = mdb_cursor_put(cursor, &k, &v, UInt32(MDB_APPEND))
                guard appended == MDB_KEYEXIST else { return appended }
                let put = mdb_cursor_put(cursor, &k, &v, UInt32(MDB_NOOVERWRITE))
                return put == MDB_KEYEXIST ? MDB_SUCCESS : put
            }
            try LMDBResult.check(rc, "indexing occurredAt of event \(entry.seq)")
        }
        mdb_cursor_close(cursor)
        cursorOpen = false
        try putWatermark(through, hash: hash, in: txn)
        committed = true  // mdb_txn_commit frees the transaction whatever it returns
        try LMDBResult.check(mdb_txn_commit(txn), "committing the stream index through seq \(through)")
    }

    /// Puts `key` -> `seq` through `cursor`, never overwriting: an entry already there with the
    /// same seq is success (a crash between an index commit and the tail's drop re-offers it);
    /// another seq is `MDB_KEYEXIST`.
    /// With `MDB_APPEND`, `MDB_KEYEXIST` means only that `key` is not above the database's last key.
    private static func put(
        _ seq: UInt64, at key: UnsafeMutableRawBufferPointer, cursor: OpaquePointer?, flags: UInt32 = UInt32(MDB_NOOVERWRITE)
    ) -> Int32 {
        let stored = seq.littleEndian
        var value = stored
        return withUnsafeMutableBytes(of: &value) { valueRaw in
            var k = MDB_val(mv_size: key.count, mv_data: key.baseAddress)
            var v = MDB_val(mv_size: 8, mv_data: valueRaw.baseAddress)
            let rc = mdb_cursor_put(cursor, &k, &v, flags)
            if flags & UInt32(MDB_APPEND) != 0 { return rc }
            if rc == MDB_KEYEXIST, v.mv_size == 8, v.mv_data.loadUnaligned(as: UInt64.self) == stored { return MDB_SUCCESS }
            return rc
        }
    }

    /// Empties the index (it is ahead of its log, belongs to another one, or has no ids or no
    /// occurredAt entries), creating its `ids` and `occurred` databases if it has none.
    func reset() throws(LedgerError) {
        var txn: OpaquePointer?
        try LMDBResult.check(mdb_txn_begin(env, nil, 0, &txn), "starting a stream index reset")
        var ids: MDB_dbi = 0
        var occurred: MDB_dbi = 0
        var rc = mdb_drop(txn, streams, 0)
        if rc == MDB_SUCCESS { rc = mdb_dbi_open(txn, "ids", UInt32(MDB_CREATE), &ids) }
        if rc == MDB_SUCCESS { rc = mdb_drop(txn, ids, 0) }
        if rc == MDB_SUCCESS { rc = mdb_dbi_open(txn, "occurred", UInt32(MDB_CREATE), &occurred) }
        if rc == MDB_SUCCESS { rc = mdb_drop(txn, occurred, 0) }
        if rc == MDB_SUCCESS {
            do { try putWatermark(0, hash: .genesis, in: txn!) } catch {
                mdb_txn_abort(txn)
                throw error
            }
            rc = mdb_txn_commit(txn)
        } else {
            mdb_txn_abort(txn)
        }
        try LMDBResult.check(rc, "emptying the stream index")
        idsHandle.store(ids, ordering: .releasing)  // valid for the environment once committed
        occurredHandle.store(occurred, ordering: .releasing)
    }

    private func putWatermark(_ seq: UInt64, hash: ChainHash, in txn: OpaquePointer) throws(LedgerError) {
        var key = Array(Self.watermarkKey.utf8)
        var value = [UInt8](repeating: 0, count: 40)
        value.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: seq.littleEndian, as: UInt64.self)
            hash.store(to: raw.baseAddress! + 8)
        }
        let rc = key.withUnsafeMutableBytes { keyRaw in
            value.withUnsafeMutableBytes { valueRaw in
                var k = MDB_val(mv_size: keyRaw.count, mv_data: keyRaw.baseAddress)
                var v = MDB_val(mv_size: 40, mv_data: valueRaw.baseAddress)
                return mdb_put(txn, meta, &k, &v, 0)
            }
        }
        try LMDBResult.check(rc, "moving the stream index's watermark to \(seq)")
    }
}

/// One (occurredAt, seq) entry for ``StreamIndex/write(_:ids:occurred:through:hash:)``, ordered as
/// the index's keys are.
struct OccurredIndexEntry: Comparable {
    var time: LedgerTime
    var seq: UInt64

    static func < (a: Self, b: Self) -> Bool { (a.time, a.seq) < (b.time, b.seq) }
}

/// One id -> seq entry for ``StreamIndex/write(_:ids:occurred:through:hash:)``.
struct IDIndexEntry {
    var id: EventID
    var seq: UInt64
}

/// One (stream, version) -> seq entry for ``StreamIndex/write(_:ids:occurred:through:hash:)``.
struct StreamIndexEntry {
    var stream: String
    var version: UInt64
    var seq: UInt64
}

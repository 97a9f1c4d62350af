import CLMDB
import LedgerCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The named databases of a ledger environment. See `Docs/EventFormat.md` for their keys. The
/// stream and id index lives in an environment of its own (``StreamIndex``).
struct LedgerDatabases {
    /// seq (native UInt64, MDB_INTEGERKEY) -> encoded event.
    var events: MDB_dbi = 0
    /// Reserved for projection and actor snapshots.
    var snapshots: MDB_dbi = 0
    /// Reserved for projection checkpoints.
    var checkpoints: MDB_dbi = 0
    /// format version, chain head, creation time.
    var meta: MDB_dbi = 0
}

/// One open LMDB environment: the directory, its named databases, and the gate that lets the map
/// grow while no read transaction of this process is open. A process opens each ledger's
/// environment once and shares it between its stores (``OpenLedgers``): LMDB must never open one
/// environment twice in a process, because a second open re-initialises the lock file the first
/// one is using.
///
/// `@unchecked Sendable`: `env` and the dbi handles are immutable after `open` and LMDB allows
/// them to be used from any thread (`MDB_NOTLS`); the mutable reader/resize counters are only
/// touched under `gate`.
final class LMDBEnvironment: @unchecked Sendable {
    static let formatKey = "format"
    static let headKey = "head"
    static let createdKey = "created_at"
    /// 4: the occurredAt index moved out of this environment into `index/` as well. 3: the id
    /// index moved there. 2: the stream index moved into `index/` (format 1 kept them all here,
    /// written in every commit). An older ledger is upgraded when opened for writing; the index is
    /// then rebuilt from the log.
    static let supportedFormat: UInt32 = 4

    let path: String
    let env: OpaquePointer
    let dbs: LedgerDatabases
    /// Opened with `MDB_RDONLY` (the files are not writable by this process).
    let readOnly: Bool
    let mapSizeBytesMax: Int
    /// The data file's descriptor (`mdb_env_get_fd`), which the ``CommitSyncer`` syncs.
    let dataFile: Int32

    private let gate = ConditionLock()
    private var activeReaders = 0
    private var resizing = false
    private(set) var mapSizeBytes: Int
    private var closed = false

    private init(path: String, env: OpaquePointer, dbs: LedgerDatabases, options: LMDBOptions, readOnly: Bool) {
        self.path = path
        self.env = env
        self.dbs = dbs
        self.readOnly = readOnly
        self.mapSizeBytes = options.mapSizeBytes
        self.mapSizeBytesMax = options.mapSizeBytesMax
        var descriptor: Int32 = -1
        let rc = mdb_env_get_fd(env, &descriptor)
        precondition(rc == MDB_SUCCESS && descriptor >= 0, "an open LMDB environment has a data file")
        self.dataFile = descriptor
    }

    // MARK: Opening

    /// Opens the environment of the ledger in `path` (checked and, if allowed, created by
    /// ``prepareDirectory(_:options:)`` first). Opened writable whenever the files allow it, even
    /// for a read-only store, so that a writer in the same process can share it; `MDB_RDONLY`
    /// only when they do not.
    static func open(path: String, options: LMDBOptions) throws(LedgerError) -> LMDBEnvironment {
        let writable = UInt32(MDB_NOTLS)
        let readOnly = writable | UInt32(MDB_RDONLY)
        // Read-only media: no lock file can be made. Safe only while nothing writes, which
        // read-only media guarantees.
        let flagSets = options.readOnly ? [writable, readOnly, readOnly | UInt32(MDB_NOLOCK)] : [writable]
        let (env, flags) = try LMDBOpening.open(
            path: path, flagSets: flagSets, maxDatabases: 8, mapSizeBytes: options.mapSizeBytes,
            action: "opening the ledger at \(path)")
        let envPointer: OpaquePointer? = env
        do throws(LedgerError) {
            let dbs = try openDatabases(env, path: path, options: options)
            var info = MDB_envinfo()
            mdb_env_info(env, &info)
            let store = LMDBEnvironment(
                path: path, env: env, dbs: dbs, options: options, readOnly: flags & UInt32(MDB_RDONLY) != 0)
            store.mapSizeBytes = max(options.mapSizeBytes, info.me_mapsize)
            return store
        } catch {
            if let envPointer { mdb_env_close(envPointer) }
            throw error
        }
    }

    /// Turns fsync at commit on or off (`MDB_NOSYNC`); the writer sets it from its options.
    ///
    /// With `.fsync` a commit syncs its pages but not the meta page it then writes
    /// (`MDB_NOMETASYNC`): the writer's ``CommitSyncer`` syncs that before any caller resumes, and
    /// any other write transaction calls ``syncCommitted()`` after committing.
    func setDurability(_ durability: LMDBOptions.Durability) throws(LedgerError) {
        try LMDBResult.check(mdb_env_set_flags(env, UInt32(MDB_NOSYNC), durability == .noSync ? 1 : 0), "setting the durability")
        try LMDBResult.check(mdb_env_set_flags(env, UInt32(MDB_NOMETASYNC), durability == .fsync ? 1 : 0), "setting the durability")
    }

    /// Makes the last committed write transaction durable when the writer defers its meta page's
    /// sync (``setDurability(_:)``); otherwise the commit already was (or `.noSync` was chosen).
    func syncCommitted() throws(LedgerError) {
        var flags: UInt32 = 0
        mdb_env_get_flags(env, &flags)
        guard flags & UInt32(MDB_NOMETASYNC) != 0, flags & UInt32(MDB_NOSYNC) == 0 else { return }
        try LMDBResult.check(mdb_env_sync(env, 1), "syncing the ledger at \(path)")
    }

    /// Refuses a path that is a file, or a directory that holds something other than a ledger;
    /// creates the directory for a new ledger.
    static func prepareDirectory(_ path: String, options: LMDBOptions) throws(LedgerError) {
        var info = stat()
        if stat(path, &info) != 0 {
            guard errno == ENOENT else {
                throw LedgerError(.storage, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            guard !options.readOnly, options.createIfMissing else {
                throw LedgerError(.notFound, "no ledger at \(path): the directory does not exist")
            }
            try makeDirectories(path)
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw LedgerError(.notALedger, "\(path) is a file, not a ledger directory")
        }
        if access(path + "/data.mdb", F_OK) == 0 { return }
        let entries = directoryEntries(path).filter { $0 != "writer.lock" && $0 != "lock.mdb" && $0 != StreamIndex.directoryName }
        if !entries.isEmpty {
            throw LedgerError(
                .notALedger,
                "\(path) is not a SpendLedger ledger: it holds \(entries.count) other file(s) (such as \(entries.sorted()[0])) and no data.mdb")
        }
        if options.readOnly || !options.createIfMissing {
            throw LedgerError(.notFound, "no ledger at \(path): the directory is empty")
        }
    }

    private static func makeDirectories(_ path: String) throws(LedgerError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component + "/"
            if mkdir(prefix, 0o755) != 0, errno != EEXIST {
                throw LMDBResult.error(errno, "creating the ledger directory \(prefix)")
            }
        }
    }

    private static func directoryEntries(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// One writer per ledger. Across processes: a POSIX record lock (`fcntl F_SETLK`) on
    /// `writer.lock`, which belongs to the process and is never inherited by a forked child (an
    /// `flock` would be shared with a child until it execs, and outlive our close). Within the
    /// process: ``WriterRegistry``, since record locks never conflict with their own process.
    static func takeWriterLock(_ path: String) throws(LedgerError) -> Int32 {
        let lockPath = path + "/writer.lock"
        let descriptor = Glibc.open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw LMDBResult.error(errno, "opening \(lockPath)") }
        var info = stat()
        fstat(descriptor, &info)
        let identity = WriterRegistry.Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        guard WriterRegistry.claim(identity) else {
            Glibc.close(descriptor)
            throw LedgerError(
                .locked,
                "the ledger at \(path) is open for writing by process \(getpid()) (this process); close it before opening it again")
        }
        var lock = flock()
        lock.l_type = Int16(F_WRLCK)
        lock.l_whence = Int16(SEEK_SET)
        if fcntl(descriptor, F_SETLK, &lock) != 0 {
            var holder = flock()
            holder.l_type = Int16(F_WRLCK)
            holder.l_whence = Int16(SEEK_SET)
            let pid = fcntl(descriptor, F_GETLK, &holder) == 0 && holder.l_type != Int16(F_UNLCK) ? "\(holder.l_pid)" : "another process"
            WriterRegistry.release(identity)
            Glibc.close(descriptor)
            throw LedgerError(
                .locked,
                "the ledger at \(path) is open for writing by process \(pid); open it read-only, or stop that process")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, pid, pid.count, 0)
        return descriptor
    }

    private static func openDatabases(_ env: OpaquePointer, path: String, options: LMDBOptions) throws(LedgerError) -> LedgerDatabases {
        var txn: OpaquePointer?
        let txnFlags = options.readOnly ? UInt32(MDB_RDONLY) : 0
        try LMDBResult.check(mdb_txn_begin(env, nil, txnFlags, &txn), "opening the ledger's databases")
        var committed = false
        defer { if !committed { mdb_txn_abort(txn) } }
        var dbs = LedgerDatabases()
        let create = options.readOnly ? 0 : UInt32(MDB_CREATE)
        func open(_ name: String, _ flags: UInt32) throws(LedgerError) -> MDB_dbi {
            var dbi: MDB_dbi = 0
            let rc = mdb_dbi_open(txn, name, flags | create, &dbi)
            if rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE {
                throw LedgerError(.notALedger, "\(path) is an LMDB environment but not a SpendLedger ledger (no '\(name)' database)")
            }
            try LMDBResult.check(rc, "opening the '\(name)' database")
            return dbi
        }
        dbs.meta = try open("meta", 0)
        let format = try readFormat(txn!, dbs.meta)
        if format == nil {
            // Either a new ledger (nothing stored at all) or someone else's LMDB environment.
            var stat = MDB_stat()
            mdb_stat(txn, dbs.meta, &stat)
            var main = MDB_stat()
            mdb_stat(txn, MDB_dbi(1)  /* MAIN_DBI */, &main)
            if stat.ms_entries > 0 || main.ms_entries > 1 || options.readOnly {
                throw LedgerError(.notALedger, "\(path) is an LMDB environment but not a SpendLedger ledger (no format marker)")
            }
        } else if let format, format > supportedFormat {
            throw LedgerError(
                .unsupportedFormat,
                "the ledger at \(path) has format version \(format); this build reads up to \(supportedFormat). Upgrade SpendLedger")
        }
        dbs.events = try open("events", UInt32(MDB_INTEGERKEY))
        dbs.snapshots = try open("snapshots", 0)
        dbs.checkpoints = try open("checkpoints", 0)
        if let format, format < supportedFormat, !options.readOnly {
            // Upgrade: the stream (format 1), id (formats 1 and 2) and occurredAt (formats 1 to 3)
            // indexes are rebuilt in `index/` from the log (the indexer finds an index without ids
            // or occurredAt entries and rebuilds it); drop the old copies here.
            let oldIndexes = [
                ("streams", "format-1 stream index"), ("ids", "format-\(format) id index"),
                ("occurred", "format-\(format) occurredAt index"),
            ]
            for (name, since) in oldIndexes {
                var dbi: MDB_dbi = 0
                let rc = mdb_dbi_open(txn, name, 0, &dbi)
                if rc == MDB_NOTFOUND { continue }
                try LMDBResult.check(rc, "opening the \(since)")
                try LMDBResult.check(mdb_drop(txn, dbi, 1), "dropping the \(since)")
            }
            try putMeta(txn!, dbs.meta, formatKey, withUnsafeBytes(of: supportedFormat.littleEndian) { Array($0) })
        }
        if format == nil {
            try putMeta(txn!, dbs.meta, formatKey, withUnsafeBytes(of: supportedFormat.littleEndian) { Array($0) })
            let now = options.clock.now().nanosecondsSinceEpoch.littleEndian
            try putMeta(txn!, dbs.meta, createdKey, withUnsafeBytes(of: now) { Array($0) })
        }
        // Committing (even a read-only transaction) is what keeps the dbi handles open.
        try LMDBResult.check(mdb_txn_commit(txn), "opening the ledger's databases")
        committed = true
        return dbs
    }

    private static func readFormat(_ txn: OpaquePointer, _ meta: MDB_dbi) throws(LedgerError) -> UInt32? {
        guard let bytes = try getMeta(txn, meta, formatKey) else { return nil }
        guard bytes.count == 4 else { throw LedgerError(.corrupted, "the ledger's format marker is damaged") }
        return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
    }

    static func getMeta(_ txn: OpaquePointer, _ meta: MDB_dbi, _ key: String) throws(LedgerError) -> [UInt8]? {
        var keyBytes = Array(key.utf8)
        var value: [UInt8]?
        let rc = keyBytes.withUnsafeMutableBytes { raw in
            var k = MDB_val(mv_size: raw.count, mv_data: raw.baseAddress)
            var v = MDB_val()
            let rc = mdb_get(txn, meta, &k, &v)
            if rc == MDB_SUCCESS { value = Array(UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)) }
            return rc
        }
        if rc == MDB_NOTFOUND { return nil }
        try LMDBResult.check(rc, "reading ledger metadata '\(key)'")
        return value
    }

    static func putMeta(_ txn: OpaquePointer, _ meta: MDB_dbi, _ key: String, _ value: [UInt8]) throws(LedgerError) {
        var keyBytes = Array(key.utf8)
        var valueBytes = value
        let rc = keyBytes.withUnsafeMutableBytes { keyRaw in
            valueBytes.withUnsafeMutableBytes { valueRaw in
                var k = MDB_val(mv_size: keyRaw.count, mv_data: keyRaw.baseAddress)
                var v = MDB_val(mv_size: valueRaw.count, mv_data: valueRaw.baseAddress)
                return mdb_put(txn, meta, &k, &v, 0)
            }
        }
        try LMDBResult.check(rc, "writing ledger metadata '\(key)'")
    }

    // MARK: Head

    /// The head stored in `meta`, read inside `txn`.
    func head(in txn: OpaquePointer) throws(LedgerError) -> LogHead {
        guard let bytes = try Self.getMeta(txn, dbs.meta, Self.headKey) else { return .empty }
        guard bytes.count == 48 else { throw LedgerError(.corrupted, "the ledger's head record is damaged") }
        return bytes.withUnsafeBytes { raw in
            LogHead(
                seq: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                hash: ChainHash(bytes: UnsafeRawBufferPointer(rebasing: raw[8..<40])),
                recordedAt: LedgerTime(nanosecondsSinceEpoch: Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 40, as: Int64.self))))
        }
    }

    func storeHead(_ head: LogHead, in txn: OpaquePointer) throws(LedgerError) {
        var bytes = [UInt8](repeating: 0, count: 48)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: head.seq.littleEndian, toByteOffset: 0, as: UInt64.self)
            head.hash.store(to: raw.baseAddress! + 8)
            raw.storeBytes(of: head.recordedAt.nanosecondsSinceEpoch.littleEndian, toByteOffset: 40, as: Int64.self)
        }
        try Self.putMeta(txn, dbs.meta, Self.headKey, bytes)
    }

    // MARK: Transactions

    /// Runs `body` in a read-only transaction. The transaction must not escape `body`.
    func withReadTransaction<T>(_ body: (OpaquePointer) throws(LedgerError) -> T) throws(LedgerError) -> T {
        try enterReader()
        defer { exitReader() }
        var txn: OpaquePointer?
        var rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
        if rc == MDB_MAP_RESIZED {
            // Another process grew the map: adopt its size and retry once.
            exitReader()
            adoptMapSize()
            try enterReader()
            rc = mdb_txn_begin(env, nil, UInt32(MDB_RDONLY), &txn)
        }
        try LMDBResult.check(rc, "starting a read transaction")
        defer { mdb_txn_abort(txn) }
        return try body(txn!)
    }

    private func enterReader() throws(LedgerError) {
        let open = gate.withLock {
            while resizing { gate.wait() }
            guard !closed else { return false }
            activeReaders += 1
            return true
        }
        guard open else { throw LedgerError(.closed, "the ledger at \(path) is closed") }
    }

    private func exitReader() {
        gate.withLock {
            activeReaders -= 1
            if activeReaders == 0 { gate.broadcast() }
        }
    }

    /// Waits until no read transaction of this process is open, then runs `body` (a map resize).
    private func whileNoReaders(_ body: () -> Void) {
        gate.withLock {
            while resizing { gate.wait() }
            resizing = true
            while activeReaders > 0 { gate.wait() }
        }
        body()
        gate.withLock {
            resizing = false
            gate.broadcast()
        }
    }

    private func adoptMapSize() {
        whileNoReaders {
            mdb_env_set_mapsize(env, 0)
            var info = MDB_envinfo()
            mdb_env_info(env, &info)
            mapSizeBytes = info.me_mapsize
        }
    }

    /// Doubles the map (up to the maximum). Call only from the writer, with no write transaction open.
    func growMap() throws(LedgerError) {
        guard mapSizeBytes < mapSizeBytesMax else {
            throw LedgerError(
                .mapFull,
                "the ledger at \(path) reached its maximum map size of \(mapSizeBytesMax) bytes; reopen it with a larger LMDBOptions.mapSizeBytesMax")
        }
        let target = min(mapSizeBytes * 2, mapSizeBytesMax)
        var rc: Int32 = 0
        whileNoReaders {
            rc = mdb_env_set_mapsize(env, target)
            if rc == MDB_SUCCESS { mapSizeBytes = target }
        }
        try LMDBResult.check(rc, "growing the map to \(target) bytes")
    }

    func close() {
        let shouldClose: Bool = gate.withLock {
            guard !closed else { return false }
            while activeReaders > 0 { gate.wait() }
            closed = true
            return true
        }
        guard shouldClose else { return }
        mdb_env_close(env)
    }

    /// Closes a descriptor from ``takeWriterLock(_:)``, which releases the record lock.
    static func releaseWriterLock(_ descriptor: Int32) {
        var info = stat()
        fstat(descriptor, &info)
        Glibc.close(descriptor)
        WriterRegistry.release(.init(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
    }

    /// The error for a failed write or commit. A full file system often shows up as a short write,
    /// which LMDB reports as EIO, so the free space is checked before blaming the device.
    func writeFailure(_ code: Int32, _ action: String) -> LedgerError {
        if code == EIO || code == ENOSPC || code == EFBIG {
            var info = statvfs()
            if statvfs(path, &info) == 0, UInt64(info.f_bavail) * UInt64(info.f_bsize) < 4 << 20 {
                return LedgerError(
                    .diskFull,
                    "\(action): the file system holding \(path) is full; nothing of this write was stored. Free space and retry")
            }
        }
        return LMDBResult.error(code, action)
    }

    /// Bytes of the data file on disk.
    func dataFileBytes() -> UInt64 {
        var info = stat()
        guard stat(path + "/data.mdb", &info) == 0 else { return 0 }
        return UInt64(info.st_size)
    }
}

/// The ledgers this process has open for writing, by the identity of their `writer.lock` file.
enum WriterRegistry {
    struct Identity: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    private static let open = Mutex<Set<Identity>>([])

    static func claim(_ identity: Identity) -> Bool { open.withLock { $0.insert(identity).inserted } }
    static func release(_ identity: Identity) { _ = open.withLock { $0.remove(identity) } }
}

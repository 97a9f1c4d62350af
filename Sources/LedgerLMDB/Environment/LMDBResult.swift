import CLMDB
import LedgerCore

#if canImport(Glibc)
import Glibc
#endif

/// Turns LMDB and errno return codes into ``LedgerError``s that say what went wrong and what to do.
enum LMDBResult {
    static func check(_ code: Int32, _ action: @autoclosure () -> String) throws(LedgerError) {
        guard code != MDB_SUCCESS else { return }
        throw error(code, action())
    }

    static func error(_ code: Int32, _ action: String) -> LedgerError {
        let reason = String(cString: mdb_strerror(code))
        switch code {
        case MDB_MAP_FULL:
            return LedgerError(.mapFull, "\(action): the ledger's memory map is full (\(reason))")
        case ENOSPC:
            return LedgerError(.diskFull, "\(action): no space left on the device; nothing of this write was stored")
        case EDQUOT:
            return LedgerError(.diskFull, "\(action): the disk quota is exhausted; nothing of this write was stored")
        case EACCES, EROFS, EPERM:
            return LedgerError(.readOnly, "\(action): permission denied or read-only file system (\(reason))")
        case MDB_INVALID, MDB_VERSION_MISMATCH:
            return LedgerError(.notALedger, "\(action): the files are not an LMDB environment this build can read (\(reason))")
        case MDB_CORRUPTED, MDB_PAGE_NOTFOUND:
            return LedgerError(.corrupted, "\(action): the LMDB file is damaged (\(reason))")
        case MDB_READERS_FULL:
            return LedgerError(.storage, "\(action): too many concurrent readers (\(reason))")
        default:
            return LedgerError(.storage, "\(action): \(reason) (code \(code))")
        }
    }
}

/// A mutex with a condition variable, for the writer's queue and the map-resize gate.
///
/// `@unchecked Sendable`: the pthread objects live on the heap at a stable address for the
/// object's life and are only touched through `pthread_*` calls, which synchronise themselves.
final class ConditionLock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Waits for a broadcast; call only inside ``withLock(_:)``.
    func wait() { pthread_cond_wait(condition, mutex) }

    /// Waits for a broadcast or until the monotonic clock reaches `deadline` (see
    /// ``monotonicNanoseconds()``); call only inside ``withLock(_:)``.
    func wait(until deadline: UInt64) {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        _ = pthread_cond_timedwait(condition, mutex, &time)
    }

    /// Nanoseconds on the monotonic clock the timed waits use.
    static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }

    func broadcast() { pthread_cond_broadcast(condition) }
}

/// Opening an LMDB environment, trying weaker modes in turn on read-only media.
enum LMDBOpening {
    /// Creates and opens an environment at `path` with the first of `flagSets` whose open succeeds,
    /// moving to the next only when the open fails with EACCES or EROFS (the files are not
    /// writable). Each attempt uses a fresh handle: LMDB requires a handle whose open failed to be
    /// closed, never opened again. Returns the handle and the flags that worked.
    static func open(
        path: String, flagSets: [UInt32], maxDatabases: UInt32, mapSizeBytes: Int, action: String
    ) throws(LedgerError) -> (env: OpaquePointer, flags: UInt32) {
        var lastCode: Int32 = EACCES
        for flags in flagSets {
            var envPointer: OpaquePointer?
            try LMDBResult.check(mdb_env_create(&envPointer), "creating the LMDB environment")
            guard let env = envPointer else { throw LedgerError(.storage, "mdb_env_create returned no environment") }
            var rc = mdb_env_set_maxdbs(env, maxDatabases)
            if rc == MDB_SUCCESS { rc = mdb_env_set_maxreaders(env, 512) }
            if rc == MDB_SUCCESS { rc = mdb_env_set_mapsize(env, mapSizeBytes) }
            if rc == MDB_SUCCESS { rc = mdb_env_open(env, path, flags, 0o644) }
            if rc == MDB_SUCCESS { return (env, flags) }
            mdb_env_close(env)
            lastCode = rc
            guard rc == EACCES || rc == EROFS else { break }
        }
        throw LMDBResult.error(lastCode, action)
    }
}

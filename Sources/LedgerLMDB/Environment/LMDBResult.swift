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
        pthread_cond_init(condition, nil)
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

    func broadcast() { pthread_cond_broadcast(condition) }
}

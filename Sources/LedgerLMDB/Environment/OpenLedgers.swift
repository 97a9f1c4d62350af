import LedgerCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The ledgers this process has open, shared by every ``LMDBEventStore`` on the same directory.
///
/// LMDB must not open one environment twice in a process: the second `mdb_env_open` sees no other
/// user of the lock file (POSIX record locks never conflict within a process), re-initialises its
/// reader table and mutexes under the first, and a later write can crash or lose readers' pages.
/// So the first store on a directory opens its environments (the log and the stream index), later
/// ones share them, and the last close closes them. The writer's in-memory tail of un-indexed
/// stream positions is published here too, so a read-only store in the writer's process reads it.
enum OpenLedgers {
    /// One ledger directory's open environments. Mutable fields only under ``table``'s lock.
    final class Handle: Sendable {
        let key: Key
        let environment: LMDBEnvironment
        /// The stream index and the writer's tail; a lock of this ledger's own, so that reads of
        /// one ledger never wait on opens of another.
        private let current: Mutex<(index: StreamIndex?, tail: StreamTail?)>
        /// Only under ``table``'s lock.
        fileprivate nonisolated(unsafe) var users = 1

        fileprivate init(key: Key, environment: LMDBEnvironment, index: StreamIndex?) {
            self.key = key
            self.environment = environment
            self.current = Mutex((index, nil))
        }

        /// The stream index and the writer's tail, as they are now (either may come or go).
        var streams: (index: StreamIndex?, tail: StreamTail?) { current.withLock { $0 } }

        var index: StreamIndex? { streams.index }

        fileprivate func set(index: StreamIndex?) { current.withLock { $0.index = index } }
        fileprivate func set(tail: StreamTail?) { current.withLock { $0.tail = tail } }
    }

    struct Key: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    private static let table = Mutex<[Key: Handle]>([:])

    /// The shared handle of the ledger in `path` (already checked by
    /// ``LMDBEnvironment/prepareDirectory(_:options:)``), opening its environments if this process
    /// has not. A writable open makes sure the stream index exists.
    static func acquire(path: String, options: LMDBOptions) throws(LedgerError) -> Handle {
        try table.withLock { (open: inout [Key: Handle]) throws(LedgerError) -> Handle in
            // Keyed by the data file, not the directory: an open environment keeps its data file
            // (and so its inode) alive, while a deleted directory's inode can be reused at once.
            if let key = dataFileKey(path), let handle = open[key] {
                if handle.index == nil {
                    handle.set(index: try StreamIndex.open(ledgerPath: path, create: !options.readOnly))
                }
                handle.users += 1
                return handle
            }
            let environment = try LMDBEnvironment.open(path: path, options: options)
            do throws(LedgerError) {
                guard let key = dataFileKey(path) else { throw LMDBResult.error(errno, "reading \(path)/data.mdb") }
                let index = try StreamIndex.open(ledgerPath: path, create: !options.readOnly)
                let handle = Handle(key: key, environment: environment, index: index)
                open[key] = handle
                return handle
            } catch {
                environment.close()
                throw error
            }
        }
    }

    private static func dataFileKey(_ path: String) -> Key? {
        var info = stat()
        guard stat(path + "/data.mdb", &info) == 0 else { return nil }
        return Key(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Publishes (or, with nil, withdraws) the writer's tail.
    static func setTail(_ tail: StreamTail?, of handle: Handle) {
        handle.set(tail: tail)
    }

    /// One store is done with `handle`; the last one closes the environments.
    static func release(_ handle: Handle) {
        table.withLock { open in
            handle.users -= 1
            guard handle.users == 0 else { return }
            open[handle.key] = nil
            // Under the lock, so that no new open of this directory overlaps the close.
            handle.environment.close()
            handle.index?.close()
        }
    }
}

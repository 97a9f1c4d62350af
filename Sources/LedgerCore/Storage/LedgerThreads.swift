import Foundation

/// Starts the dedicated threads of a store or a view engine (the LMDB writer, its syncer, hasher
/// and indexer, the fold threads), named so that `top -H`, `perf`, `/proc/PID/task/*/comm` and
/// debuggers show which is which (`Docs/Operating.md` lists them).
package enum LedgerThreads {
    /// Starts `body` on a new thread called `name`, at most 15 bytes: Linux keeps no longer name.
    /// The thread names itself, as its first step: on Linux, naming a `Thread` before it starts
    /// names nothing.
    package static func start(named name: String, _ body: @escaping @Sendable () -> Void) {
        precondition(name.utf8.count <= 15, "a thread name is at most 15 bytes on Linux")
        let thread = Thread {
            Thread.current.name = name
            body()
        }
        thread.start()
    }
}

import Foundation
import LedgerCore

#if canImport(Glibc)
import Glibc
#endif

/// The writer's third thread: makes committed group commits durable and resumes their callers,
/// while the writer goes on with the next group.
///
/// With ``LMDBOptions/Durability/fsync`` the writer's transactions commit with `MDB_NOMETASYNC`.
/// LMDB then writes a transaction's pages, syncs the file, and writes the meta page that makes the
/// transaction current, without syncing it again: the transaction is durable at the file's next
/// sync. That sync is this thread's: it takes every group handed to it since its last sync,
/// syncs the file once (`fdatasync`, as LMDB would), then resumes their callers and announces the
/// new head. So a commit's second device flush (0.13–0.2 ms here) overlaps the writer's next
/// group instead of coming before it.
///
/// What it guarantees:
/// - A caller resumes with success only after a sync that began after its transaction's meta page
///   was written: acknowledged means durable, as before.
/// - LMDB's order is untouched (pages synced before the meta page naming them is written), so a
///   power cut leaves the ledger at one of its transactions, never half of one. It may undo
///   transactions that committed but were not yet acknowledged; readers may have seen those for
///   the length of one sync (see `Docs/Operating.md`).
/// - Groups resume in commit order; each sync announces the last head it made durable, before
///   the callers it covered resume.
/// - A group that committed nothing (every append in it refused, or repeating events already
///   stored) also waits for the groups handed over before it: a repeated append is answered with
///   an event that an earlier group may have written, and that answer must not come before the
///   event is durable.
/// - If a sync fails, the groups it covered fail, and so does every append after it
///   (``failure``): after a failed `fdatasync` the kernel may have dropped the pages it could not
///   write, so nothing later could be trusted to be durable. Reopening the ledger starts over
///   from what is on disk.
///
/// `@unchecked Sendable`: `queue`, `failure`, `syncing`, `stopping` and `stopped` are touched only under
/// `lock`; the descriptor is immutable.
final class CommitSyncer: @unchecked Sendable {
    /// A group: its callers, their outcomes (in order), and the head it committed (nil: it
    /// committed nothing).
    struct Group {
        var continuations: [UnsafeContinuation<GroupCommitWriter.Answer, any Error>]
        var outcomes: [Result<GroupCommitWriter.Answer, LedgerError>?]
        var head: LogHead?
    }

    private let descriptor: Int32
    private let path: String
    private let notifier: HeadNotifier
    private let lock = ConditionLock()
    private var queue: [Group] = []
    private var failed: LedgerError?
    private var stopping = false
    private var stopped = false
    /// This thread is syncing or resuming groups it took.
    private var syncing = false

    /// Starts the thread. `descriptor` is the data file's (`mdb_env_get_fd`), which LMDB syncs.
    init(descriptor: Int32, path: String, notifier: HeadNotifier) {
        self.descriptor = descriptor
        self.path = path
        self.notifier = notifier
        LedgerThreads.start(named: "ledger-syncer") { [self] in run() }
    }

    /// The error of a failed sync, after which no append can be acknowledged.
    var failure: LedgerError? { lock.withLock { failed } }

    /// Hands over a group; it resumes once it and every group before it are durable.
    ///
    /// With nothing of this thread's in flight, a group is finished right here, on the writer's
    /// thread, when there is no sync to overlap: it committed nothing (everything before it is
    /// durable already), or the writer has no next group waiting (`nothingToOverlap`), so that a
    /// lone caller does not pay for waking this thread (20–40 µs of its 0.4 ms append). Groups
    /// still resume in order, since this thread has none.
    func submit(_ group: Group, nothingToOverlap: Bool) {
        let here: Bool = lock.withLock {
            precondition(!stopping, "groups are synced only while the writer runs")
            if nothingToOverlap || group.head == nil, queue.isEmpty, !syncing { return true }
            queue.append(group)
            if queue.count == 1 { lock.broadcast() }
            return false
        }
        if here { finish([group]) }
    }

    /// Syncs and resumes every group handed over, then ends the thread.
    func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
            while !stopped { lock.wait() }
        }
    }

    private func run() {
        while let groups = nextGroups() {
            finish(groups)
            lock.withLock { syncing = false }
        }
        lock.withLock {
            stopped = true
            lock.broadcast()
        }
    }

    /// Syncs the file once for `groups`, announces the last head and resumes their callers (or
    /// fails them, if the sync failed).
    private func finish(_ groups: [Group]) {
        // Groups that committed nothing need no sync of their own: the ones before them were
        // synced by an earlier call, or are synced by this one.
        let syncFailure = groups.contains { $0.head != nil } ? sync() : failure
        if syncFailure == nil, let last = groups.last(where: { $0.head != nil })?.head { notifier.publish(last.seq) }
        for group in groups {
            var outcomes = group.outcomes
            if let syncFailure {
                for index in outcomes.indices {
                    if case .success = outcomes[index] { outcomes[index] = .failure(syncFailure) }
                }
            }
            GroupCommitWriter.resume(group.continuations, with: outcomes)
        }
    }

    /// Waits for groups; takes all of them. Nil once stopping and empty.
    private func nextGroups() -> [Group]? {
        lock.withLock {
            while queue.isEmpty {
                if stopping { return nil }
                lock.wait()
            }
            syncing = true
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
    }

    /// Syncs the data file; the error that fails the groups it covered (and, kept in ``failure``,
    /// every later one), or nil.
    private func sync() -> LedgerError? {
        if let earlier = failure { return earlier }
        var rc: Int32
        repeat { rc = fdatasync(descriptor) } while rc != 0 && errno == EINTR
        guard rc != 0 else { return nil }
        let error = LedgerError(
            .storage,
            """
            the ledger at \(path) committed these events but could not make them durable \
            (fdatasync: \(String(cString: strerror(errno)))); it takes no more appends until it is reopened
            """)
        lock.withLock { failed = error }
        return error
    }
}

import CLMDB
import Foundation
import LedgerCore

/// The single writer of a ledger: one dedicated thread that drains every pending append into one
/// LMDB write transaction and commits it (one fsync for all of them); once the commit is durable,
/// all their callers resume. With ``LMDBOptions/Durability/fsync`` the commit's last sync and the
/// resuming happen on a ``CommitSyncer`` while this thread writes the next group.
///
/// Why a thread and not an actor: an LMDB write transaction must begin and commit on one thread
/// with nothing else in between, and an fsync must never block Swift's cooperative pool.
/// Throughput follows the number of appends waiting at once: one caller pays one fsync per append;
/// a thousand callers share one.
///
/// `@unchecked Sendable`: the queue (`pending`, `pendingEventCount`, `state`) is only touched under
/// `lock`; everything else is immutable after init.
final class GroupCommitWriter: @unchecked Sendable {
    struct Request {
        var appended: Appended
        /// Brings the templates of a large batch's later ranges (``Appended/batch(_:_:)`` then
        /// holds the first range's).
        var feed: TemplateFeed?
        var expectations: [String: ExpectedVersion]
        /// Resumed exactly once: by the writer thread with the request's outcome once its
        /// transaction is decided, or by ``submit(_:)`` when the writer has stopped. (Unsafe, not checked: a checked continuation costs an
        /// allocation per append on this hot path, and the writer's code is the only resumer.)
        var continuation: UnsafeContinuation<Answer, any Error>

        var eventCount: Int {
            switch appended {
            case .one: 1
            case .batch(let events, _): events.count
            }
        }
    }

    /// The writer's answer to a request. For one event it is the event's position alone: its
    /// caller makes the ``AppendResult`` and its array, so that the array is allocated and freed
    /// on the caller's thread, not on this one's (which is every append's).
    enum Answer {
        case one(EventPosition, head: LogHead)
        case batch(AppendResult)

        var result: AppendResult {
            switch self {
            case .one(let position, let head): AppendResult(positions: [position], head: head)
            case .batch(let result): result
            }
        }
    }

    /// What a request appends, encoded by its caller (off the writer's thread).
    enum Appended {
        /// One event (most appends): its template, and the fields the writer plans and indexes it
        /// by. The event itself stays with its caller, so the writer touches none of its strings
        /// but the stream's.
        case one(template: [UInt8], stream: String, id: EventID, occurredAt: LedgerTime)
        /// A batch and its templates: all of them, or the first range's when a ``TemplateFeed``
        /// brings the others.
        case batch([ProposedEvent], EventTemplates)
    }

    private enum State { case running, draining, stopped }

    private let environment: LMDBEnvironment
    private let clock: any LedgerClock
    private let notifier: HeadNotifier
    private let indexer: StreamIndexer
    /// Stream versions committed by earlier transactions; the writer thread's only.
    private let committedVersions = CommittedVersions()
    /// Hashes ranges of large appends on another core; the writer thread's only (nil until used).
    private var hasher: RangeHasher?
    /// Makes commits durable and resumes their callers (nil with ``LMDBOptions/Durability/noSync``:
    /// a commit is then as durable as it gets when it returns).
    private let syncer: CommitSyncer?
    private let lock = ConditionLock()
    private var pending: [Request] = []
    private var state = State.running

    /// Starts the writer; with `.fsync` durability the environment must commit with
    /// `MDB_NOMETASYNC` (``LMDBEnvironment/setDurability(_:)``), which the ``CommitSyncer`` completes.
    init(
        environment: LMDBEnvironment, durability: LMDBOptions.Durability, clock: any LedgerClock, notifier: HeadNotifier,
        indexer: StreamIndexer
    ) {
        self.environment = environment
        self.clock = clock
        self.notifier = notifier
        self.indexer = indexer
        switch durability {
        case .fsync:
            syncer = CommitSyncer(descriptor: environment.dataFile, path: environment.path, notifier: notifier)
        case .noSync:
            syncer = nil
        }
        LedgerThreads.start(named: "ledger-writer") { [self] in run() }
    }

    /// Queues an append; the continuation resumes once its transaction is durable (or failed).
    func submit(_ request: Request) {
        let accepted: Bool = lock.withLock {
            guard state == .running else { return false }
            pending.append(request)
            if pending.count == 1 { lock.broadcast() }
            return true
        }
        if !accepted {
            request.continuation.resume(throwing: LedgerError(.closed, "the ledger at \(environment.path) is closed"))
        }
    }

    /// Stops taking appends, commits every one already queued, and ends the thread.
    func stop() {
        lock.withLock {
            if state == .running { state = .draining }
            lock.broadcast()
            while state != .stopped { lock.wait() }
        }
    }

    // MARK: The writer thread

    private func run() {
        while var batch = nextBatch() {
            let (outcomes, committedHead) = commit(batch)
            // The caller resumes holding the last reference to its events, so they are freed on
            // its thread, not this one: drop the writer's references first.
            let continuations = batch.map(\.continuation)
            batch = []
            if let syncer {
                // Also a group that committed nothing: it may answer with events of a group still
                // being synced.
                let idle = lock.withLock { pending.isEmpty }
                syncer.submit(
                    CommitSyncer.Group(continuations: continuations, outcomes: outcomes, head: committedHead), nothingToOverlap: idle)
            } else {
                if let committedHead { notifier.publish(committedHead.seq) }
                Self.resume(continuations, with: outcomes)
            }
        }
        syncer?.stop()
        hasher?.stop()
        lock.withLock {
            state = .stopped
            lock.broadcast()
        }
    }

    /// Blocks until appends are pending; takes them, up to ``Limits/groupCommitEventCountMax``
    /// events (always at least one request). Nil once draining and empty.
    private func nextBatch() -> [Request]? {
        lock.withLock {
            while pending.isEmpty {
                if state != .running { return nil }
                lock.wait()
            }
            var events = 0
            var taken = 0
            for request in pending {
                if taken > 0, events + request.eventCount > Limits.groupCommitEventCountMax { break }
                events += request.eventCount
                taken += 1
            }
            if taken == pending.count {
                // Usually all of them: hand the queue over whole and give the appenders a fresh one
                // as large, rather than copying and shifting under the lock they wait for.
                let batch = pending
                pending = []
                pending.reserveCapacity(batch.count)
                return batch
            }
            let batch = Array(pending[0..<taken])
            pending.removeFirst(taken)
            return batch
        }
    }

    /// Writes a batch of requests in one transaction. A request whose plan fails (a version
    /// conflict, a duplicate) fails alone; a request whose write fails is dropped and the rest are
    /// retried; a full map grows and the whole batch is retried; a failed commit fails all.
    /// Returns each request's outcome, in batch order, and the head committed (nil: nothing was);
    /// the caller resumes them once the commit is durable.
    private func commit(_ batch: [Request]) -> (outcomes: [Result<Answer, LedgerError>?], committedHead: LogHead?) {
        var outcomes = [Result<Answer, LedgerError>?](repeating: nil, count: batch.count)
        var excluded = Set<Int>()
        var committedHead: LogHead?
        var blocked = false
        if let failure = syncer?.failure {
            failAll(&outcomes, failure)
            return (outcomes, nil)
        }
        do {
            // Backpressure: the tail holds what the index does not; it must not grow without bound.
            try indexer.tail.waitForRoom(eventCountMax: Limits.streamIndexLagEventCountMax)
        } catch {
            let lag = Limits.streamIndexLagEventCountMax
            failAll(&outcomes, LedgerError(error.code, "the stream index is \(lag) events behind and cannot be written: \(error.message)"))
            blocked = true
        }
        attempts: while !blocked {
            for index in outcomes.indices where !excluded.contains(index) { outcomes[index] = nil }
            var txnPointer: OpaquePointer?
            let beginCode = mdb_txn_begin(environment.env, nil, 0, &txnPointer)
            guard beginCode == MDB_SUCCESS, let txn = txnPointer else {
                failAll(&outcomes, LMDBResult.error(beginCode, "starting the write transaction"))
                break
            }
            var transaction: WriteTransaction
            do {
                let streams = StreamPositionReader(tail: indexer.tail, index: indexer.index)
                transaction = try WriteTransaction(
                    environment: environment, txn: txn, streams: streams, committed: committedVersions, now: clock.now(),
                    eventCount: batch.reduce(0) { $0 + $1.eventCount })
            } catch {
                mdb_txn_abort(txn)
                failAll(&outcomes, error)
                break
            }
            let startSeq = transaction.head.seq
            for (index, request) in batch.enumerated() where !excluded.contains(index) {
                transaction.beginRequest()
                do throws(WriteFailure) {
                    outcomes[index] = .success(try write(request, &transaction))
                } catch {
                    switch error {
                    case .refused(let error):
                        outcomes[index] = .failure(error)
                    case .interrupted(let error):
                        // Part of the append may be in the transaction: abandon it, retry the rest.
                        mdb_txn_abort(txn)
                        guard retryAfterFailedWrite(of: index, error, excluded: &excluded, outcomes: &outcomes) else { break attempts }
                        continue attempts
                    }
                }
            }
            guard transaction.eventsWritten > 0 else {
                mdb_txn_abort(txn)
                break
            }
            var commitCode: Int32
            do {
                try transaction.storeHead()
                commitCode = mdb_txn_commit(txn)
            } catch {
                mdb_txn_abort(txn)
                commitCode = error.code == .mapFull ? MDB_MAP_FULL : MDB_PANIC
                if commitCode == MDB_PANIC {
                    failAll(&outcomes, error)
                    break
                }
            }
            if commitCode == MDB_MAP_FULL {
                do {
                    try environment.growMap()
                    continue attempts
                } catch {
                    failAll(&outcomes, error)
                    break
                }
            }
            guard commitCode == MDB_SUCCESS else {
                failAll(&outcomes, environment.writeFailure(commitCode, "committing \(transaction.eventsWritten) events"))
                break
            }
            precondition(
                transaction.head.seq == startSeq + UInt64(transaction.eventsWritten),
                "a group commit must extend the log without gaps")
            committedHead = transaction.head
            indexer.tail.append(transaction.written, head: transaction.head)
            committedVersions.absorb(transaction.streamVersions)
            break
        }
        return (outcomes, committedHead)
    }

    /// After request `index` failed to write (its transaction aborted): a full map grows and every
    /// request is retried; any other error fails that request alone and the rest are retried.
    /// False when nothing can be retried (the map cannot grow: every request has failed).
    private func retryAfterFailedWrite(
        of index: Int, _ error: LedgerError, excluded: inout Set<Int>, outcomes: inout [Result<Answer, LedgerError>?]
    ) -> Bool {
        if error.code == .mapFull {
            do {
                try environment.growMap()
                return true
            } catch {
                failAll(&outcomes, error)
                return false
            }
        }
        excluded.insert(index)
        outcomes[index] = .failure(error)
        return true
    }

    /// Why ``write(_:_:)`` failed.
    private enum WriteFailure: Error {
        /// Before anything of the append was written (its plan failed: a version conflict, say):
        /// it fails alone and the transaction goes on.
        case refused(LedgerError)
        /// The transaction may hold part of the append (a write failed, or a later range did not
        /// pass its checks): the transaction is abandoned.
        case interrupted(LedgerError)
    }

    /// Plans and writes one append: whole, or range by range as its caller delivers them.
    private func write(_ request: Request, _ transaction: inout WriteTransaction) throws(WriteFailure) -> Answer {
        switch request.appended {
        case .one(let template, let stream, let id, let occurredAt):
            return try writeOne(template, stream: stream, id: id, occurredAt: occurredAt, request.expectations, &transaction)
        case .batch(let events, let templates):
            if let feed = request.feed {
                precondition(request.expectations.isEmpty, "an append with expected versions is taken whole")
                return .batch(try writeInRanges(events, templates, feed, &transaction))
            }
            let range = events.indices
            let plan = try plan(events, range: range, templates: templates, request.expectations, isFirstRange: true, &transaction)
            var positions = plan.positions
            do throws(LedgerError) {
                try transaction.write(events, range: range, templates: templates, into: &positions)
            } catch {
                throw .interrupted(error)
            }
            transaction.wrote(plan.lastVersions)
            return .batch(AppendResult(positions: positions, head: transaction.head))
        }
    }

    /// Plans and writes an append of one event (``Appended/one(template:stream:id:occurredAt:)``).
    private func writeOne(
        _ template: [UInt8], stream: String, id: EventID, occurredAt: LedgerTime, _ expectations: [String: ExpectedVersion],
        _ transaction: inout WriteTransaction
    ) throws(WriteFailure) -> Answer {
        var position: EventPosition
        do {
            position = try AppendPlanner.planOne(id: id, stream: stream, expecting: expectations, in: &transaction)
        } catch {
            throw .refused(Self.ledgerError(error))
        }
        if !position.isDuplicate {
            do throws(LedgerError) {
                position.seq = try transaction.write(
                    template: template, stream: stream, id: id, occurredAt: occurredAt, version: position.version)
            } catch {
                throw .interrupted(error)
            }
            transaction.wrote(stream, at: position.version)
        }
        return .one(position, head: transaction.head)
    }

    /// Plans and writes an append taken in ranges (``TemplateFeed``; it has no expected versions),
    /// two ranges at a time: while the ``RangeHasher`` hashes one range, this thread plans it, then
    /// stores the range before it.
    private func writeInRanges(
        _ events: [ProposedEvent], _ first: EventTemplates, _ feed: TemplateFeed, _ transaction: inout WriteTransaction
    ) throws(WriteFailure) -> AppendResult {
        let hasher = rangeHasher()
        var positions: [EventPosition] = []
        positions.reserveCapacity(events.count)
        var nextSeq = transaction.head.seq + 1
        /// The planned range the hasher has: redeemed before anything else happens to the append.
        var hashing: PlannedRange?
        do throws(WriteFailure) {
            for (number, range) in feed.ranges.enumerated() {
                var templates = first
                if number > 0 {
                    do throws(LedgerError) { templates = try feed.templates(ofRange: number) } catch { throw .interrupted(error) }
                }
                let plan = try plan(events, range: range, templates: templates, [:], isFirstRange: number == 0, &transaction)
                // The next range is planned before this one is stored: its versions follow this one's.
                transaction.wrote(plan.lastVersions)
                let job = RangeHasher.Job(
                    templates: templates, positions: plan.positions, firstSeq: nextSeq, recordedAt: transaction.recordedAt,
                    previous: number == 0 ? transaction.head.hash : nil)
                let planned = PlannedRange(range: range, templates: templates, positions: plan.positions, ticket: hasher.submit(job))
                nextSeq += UInt64(plan.newEventCount)
                let before = hashing
                hashing = planned
                if let before { try store(before, of: events, with: hasher, &transaction, into: &positions) }
            }
            if let last = hashing {
                hashing = nil
                try store(last, of: events, with: hasher, &transaction, into: &positions)
            }
        } catch {
            if let hashing { _ = hasher.hashes(of: hashing.ticket) }
            throw error
        }
        return AppendResult(positions: positions, head: transaction.head)
    }

    /// A range of an append, planned and queued for hashing.
    private struct PlannedRange {
        var range: Range<Int>
        var templates: EventTemplates
        var positions: [EventPosition]
        var ticket: RangeHasher.Ticket
    }

    /// Writes a planned range with the hashes the hasher made for it.
    private func store(
        _ planned: PlannedRange, of events: [ProposedEvent], with hasher: RangeHasher, _ transaction: inout WriteTransaction,
        into positions: inout [EventPosition]
    ) throws(WriteFailure) {
        let hashed = hasher.hashes(of: planned.ticket)
        var rangePositions = planned.positions
        do throws(LedgerError) {
            try transaction.write(events, range: planned.range, templates: planned.templates, into: &rangePositions, hashed: hashed)
        } catch {
            throw .interrupted(error)
        }
        positions += rangePositions
    }

    /// Plans `range` of a batch: a failure of its first range refuses the append alone (nothing
    /// of it is written yet), of a later one interrupts the transaction.
    private func plan(
        _ events: [ProposedEvent], range: Range<Int>, templates: EventTemplates, _ expectations: [String: ExpectedVersion],
        isFirstRange: Bool, _ transaction: inout WriteTransaction
    ) throws(WriteFailure) -> AppendPlanner.Plan {
        do {
            return try AppendPlanner.plan(events, range: range, streams: templates.streams, expecting: expectations, in: &transaction)
        } catch {
            let failure = Self.ledgerError(error)
            throw isFirstRange ? .refused(failure) : .interrupted(failure)
        }
    }

    /// The hasher thread, started by the first append taken in ranges.
    private func rangeHasher() -> RangeHasher {
        if let hasher { return hasher }
        let started = RangeHasher()
        hasher = started
        return started
    }

    /// The planner's error as the ``LedgerError`` a caller gets (it throws nothing else).
    private static func ledgerError(_ error: any Error) -> LedgerError {
        error as? LedgerError ?? LedgerError(.storage, "\(error)")
    }

    /// Resumes each caller with its outcome (nil: its request was never attempted).
    static func resume(
        _ continuations: [UnsafeContinuation<Answer, any Error>], with outcomes: [Result<Answer, LedgerError>?]
    ) {
        for (continuation, outcome) in zip(continuations, outcomes) {
            switch outcome {
            case .success(let result): continuation.resume(returning: result)
            case .failure(let error): continuation.resume(throwing: error)
            case nil: continuation.resume(throwing: LedgerError(.storage, "the append was not attempted"))
            }
        }
    }

    /// Marks every request that would have been committed as failed with `error`.
    private func failAll(_ outcomes: inout [Result<Answer, LedgerError>?], _ error: LedgerError) {
        for index in outcomes.indices {
            if case .failure = outcomes[index] { continue }
            outcomes[index] = .failure(error)
        }
    }
}

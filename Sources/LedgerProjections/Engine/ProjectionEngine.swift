public import LedgerCore

/// A typed reference to a projection registered on a ``ProjectionEngine``.
public struct ProjectionHandle<P: Projection>: Sendable, Hashable {
    /// The projection's name.
    public let name: String
    let index: Int
}

/// Runs projections over one event store: catch-up from checkpoints, live following, rebuild
/// from zero, snapshots every N events, and state as of any instant on both clocks.
///
/// Guarantees:
/// - **Exactly once, in order.** Every registered projection folds every event once, in `seq`
///   order, with no gap (a gap in the log stops the fold with ``LedgerCore/LedgerError/Code/corrupted``,
///   never a silent skip; a failed fold resets the registered projections rather than keep a
///   half-folded state).
/// - **One pass.** ``catchUp()``, ``rebuild()`` and ``states(of:asOf:useSnapshots:)`` read the
///   log once however many projections they feed; each event is parsed once per thread and, for
///   projections that fold decoded events, decoded once. The built-in views are folded together
///   (one classification and one payload read per event). A long fold over LMDB uses two threads
///   (``Options/foldThreads``): from zero, by seq range — the spend tables and spend per hour are
///   folded over each half by its own thread and merged, budgets, outcomes and other projections in
///   order by the reading thread (``Options/foldRanges``) —, else by splitting the projections.
/// - **Snapshots never give a wrong figure.** A snapshot is used only if its version is the
///   projection's, its checksums hold, and its seq, recordedAt and chain hash match this log. Any
///   other snapshot is reported in the result (``SnapshotRejection``) and an older one or a
///   replay from zero is used instead.
/// - **Deterministic.** A state folded from snapshots, from zero, live or in one pass with other
///   projections is the same, and has the same ``ProjectionResult/stateHash``.
/// - **Zero-copy where possible.** On a store that is an ``EncodedEventSource`` (LMDB) folds read
///   the memory map in place; projections that are ``EncodedProjection``s never decode an event.
///
/// ```swift
/// let store = try LMDBEventStore.open(at: "ledger")
/// let engine = ProjectionEngine(store: store, snapshots: LMDBSnapshotStore(store))
/// let byAgent = try await engine.register(SpendByDimension(.agent))
/// try await engine.catchUp()
/// let now = try await engine.current(byAgent)
/// let lastWeek = try await engine.state(of: SpendByDimension(.agent), asOf: .recorded(someTime))
/// ```
///
/// Snapshots are written at every seq that is a multiple of ``Options/snapshotEvery`` while the
/// engine folds (catch-up, rebuild, live), so any instant costs at most that many events of
/// replay (more for a state large enough that ``Options/snapshotBytesPerEvent`` spaces its
/// snapshots out). Queries (``state(of:asOf:useSnapshots:)``) only read snapshots; they never write.
public actor ProjectionEngine {
    /// How the engine snapshots.
    public struct Options: Sendable, Hashable {
        /// A snapshot of every registered projection at each seq that is a multiple of this (but
        /// see ``snapshotBytesPerEvent``); 0 turns snapshots off. A query replays at most this many
        /// events after its snapshot; a larger value makes folds (which encode every state at each
        /// boundary) cheaper. The default, 8,192, keeps `spend report --at T` within 20 ms on a
        /// 10M-event ledger (Docs/BENCHMARKS.md).
        public var snapshotEvery: UInt64
        /// Spaces out the snapshots of large states: at a boundary, a projection is snapshotted only
        /// if the events since its last snapshot, times this, come to at least that snapshot's
        /// encoded size. So snapshots write at most about this many bytes per event for each
        /// projection, and a query's replay after a snapshot stays in proportion to the cost of
        /// decoding it. With the default 64, a state under 512 KiB is snapshotted at every
        /// boundary of 8,192 events, and a 10 MiB one every 163,840 events. 0: every boundary.
        public var snapshotBytesPerEvent: Int
        /// Snapshots are buffered during a long fold and written together once their encoded size
        /// reaches this (and at the end of the fold), so a rebuild does not pay one fsync per snapshot.
        public var snapshotBufferBytesMax: Int
        /// How many refused snapshots a query walks past (newest first) before it replays from zero.
        public var snapshotCandidatesMax: Int
        /// 2 (the default): a long fold over a store that hands out stored bytes (LMDB) uses two
        /// threads — by seq range (``foldRanges``), or for folds that do not start from one seq,
        /// from 65,536 events, by projection (each projection folded by one thread in `seq` order).
        /// Either way the states are the same as with one thread. 1: one thread. Two threads cost
        /// about 1.3× the CPU of one by range (the reading thread reads the second range again
        /// for the views folded in order) and 1.2-2× by projection (each thread reads every event
        /// and its charge): they are faster when a second core is free, slower when other work
        /// holds it (Docs/BENCHMARKS.md, "Projections"); pass 1 on a busy machine.
        public var foldThreads: Int
        /// With two ``foldThreads``, a long fold from zero (a rebuild, a first catch-up, a replay
        /// without snapshots; at least 200,000 events and two snapshot intervals) cuts the log into two
        /// seq ranges instead: the views that add up (spend tables, spend per hour) are folded over
        /// each range by its own thread and merged, while budgets, outcomes and any other projection
        /// are folded in order by the reading thread. The states and snapshots are a single thread's.
        /// false: the projections are split over the two threads as described above.
        public var foldRanges: Bool {
            get { rangeSplit.enabled }
            set { rangeSplit.enabled = newValue }
        }
        /// The range split's knobs (tests force split points and shorter logs).
        var rangeSplit = RangeSplitPolicy()

        public init(
            snapshotEvery: UInt64 = 8_192, snapshotBytesPerEvent: Int = 64, snapshotBufferBytesMax: Int = 64 << 20,
            snapshotCandidatesMax: Int = 64, foldThreads: Int = 2, foldRanges: Bool = true
        ) {
            self.snapshotEvery = snapshotEvery
            self.snapshotBytesPerEvent = max(snapshotBytesPerEvent, 0)
            self.snapshotBufferBytesMax = snapshotBufferBytesMax
            self.snapshotCandidatesMax = max(snapshotCandidatesMax, 1)
            self.foldThreads = min(max(foldThreads, 1), 2)
            rangeSplit.enabled = foldRanges
        }
    }

    public nonisolated let store: any EventStore
    public nonisolated let snapshots: any SnapshotStore
    public nonisolated let options: Options
    nonisolated let reader: LogReader
    nonisolated var loader: SnapshotLoader { SnapshotLoader(snapshots: snapshots, reader: reader, options: options) }

    private var runners: [ProjectionRunner] = []
    /// Runners that have been restored or rebuilt at least once.
    private var initialized: Set<String> = []
    /// The last event every caught-up runner has folded.
    private var position = Position(seq: 0, recordedAt: nil, hash: .genesis)
    private var following = false
    private var waiters: [(seq: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
    private var pending: [ProjectionSnapshot] = []
    private var pendingBytes = 0
    /// Snapshots saved (and save failures) by flushes in the middle of a fold, for its report.
    private var savedMidFold = 0
    private var failedMidFold: [String] = []

    private struct Position {
        var seq: UInt64
        var recordedAt: LedgerTime?
        var hash: ChainHash
    }

    /// An engine over `store` keeping its snapshots in `snapshots` (in memory unless given).
    public init(store: some EventStore, snapshots: any SnapshotStore = InMemorySnapshotStore(), options: Options = Options()) {
        self.store = store
        self.snapshots = snapshots
        self.options = options
        self.reader = LogReader(store, threads: options.foldThreads, ranges: options.rangeSplit)
    }

    // MARK: Registered projections

    /// Adds a projection to keep current. It catches up on the next ``catchUp()`` (or when
    /// ``follow()`` starts), from its checkpoint when it has one.
    ///
    /// - Throws: ``ProjectionError/Code/duplicateName`` when a projection of that name is
    ///   registered; ``LedgerError`` for an invalid name.
    @discardableResult
    public func register<P: Projection>(_ projection: P) throws -> ProjectionHandle<P> {
        try SnapshotRecord.validate(name: projection.name)
        guard !runners.contains(where: { $0.name == projection.name }) else {
            throw ProjectionError(.duplicateName, "a projection named \(projection.name) is already registered")
        }
        runners.append(ProjectionRunner.make(projection))
        return ProjectionHandle(name: projection.name, index: runners.count - 1)
    }

    /// Adds several projections (of any types) to keep current, in order: the way to register
    /// ``BuiltinViews/all`` and have one pass rebuild them all.
    public func register(_ projections: [any Projection]) throws {
        for projection in projections { try registerOpened(projection) }
    }

    private func registerOpened<P: Projection>(_ projection: P) throws {
        try register(projection)
    }

    /// The names of the registered projections, in registration order.
    public var registeredNames: [String] { runners.map(\.name) }

    /// Brings every registered projection up to the head: each new one is restored from the
    /// newest usable snapshot at or before its checkpoint, then one pass over the log folds what
    /// is missing into all of them, writing snapshots at every multiple of
    /// ``Options/snapshotEvery`` and finally the checkpoints.
    @discardableResult
    public func catchUp() async throws -> CatchUpReport {
        var report = CatchUpReport()
        let head = try await store.head()
        for runner in runners where !initialized.contains(runner.name) {
            initialized.insert(runner.name)
            var limit = head.seq
            do {
                if let checkpoint = try snapshots.checkpoint(named: runner.name) {
                    if checkpoint.version != runner.version {
                        report.rejectedSnapshots.append(
                            SnapshotRejection(
                                projection: runner.name, seq: checkpoint.seq,
                                reason: .otherVersion(found: checkpoint.version, expected: runner.version)))
                    } else if checkpoint.seq <= head.seq {
                        limit = checkpoint.seq
                    } else {
                        report.rejectedSnapshots.append(
                            SnapshotRejection(
                                projection: runner.name, seq: checkpoint.seq,
                                reason: .notThisLog("the checkpoint is beyond the head \(head.seq)")))
                    }
                }
            } catch {
                report.rejectedSnapshots.append(
                    SnapshotRejection(projection: runner.name, seq: 0, reason: .damaged("checkpoint: \(error)")))
            }
            if let seq = try await loader.restoreNewest(runner, atOrBefore: limit, rejections: &report.rejectedSnapshots) {
                report.restoredFrom[runner.name] = seq
            }
        }
        try await foldRegistered(through: head.seq, report: &report)
        flush(&report)
        report.seq = position.seq
        return report
    }

    /// Folds every registered projection from zero: drops their snapshots and checkpoints, then
    /// one pass over the whole log feeds all of them (writing fresh snapshots as it goes).
    @discardableResult
    public func rebuild() async throws -> CatchUpReport {
        var report = CatchUpReport()
        for runner in runners {
            runner.reset()
            initialized.insert(runner.name)
            do {
                try snapshots.removeSnapshots(named: runner.name, seqs: nil)
            } catch {
                report.snapshotFailures.append("removing the old snapshots of \(runner.name): \(error)")
            }
        }
        pending.removeAll()
        pendingBytes = 0
        position = Position(seq: 0, recordedAt: nil, hash: .genesis)
        let head = try await store.head()
        try await foldRegistered(through: head.seq, report: &report)
        flush(&report)
        report.seq = position.seq
        return report
    }

    /// Catches up, then follows the log live until the task is cancelled or the store closes:
    /// each appended event is folded as soon as the store publishes its new head.
    ///
    /// On a store that hands out stored bytes the engine wakes on the store's head notifier and
    /// folds the new events in place; on any other store it consumes ``EventStore/subscribe(after:)``.
    /// Snapshots due on the way are written as they fall due.
    ///
    /// - Throws: ``ProjectionError/Code/alreadyFollowing`` when another `follow()` is running.
    public func follow() async throws {
        guard !following else { throw ProjectionError(.alreadyFollowing, "this engine is already following the log") }
        following = true
        defer { following = false }
        try await catchUp()
        if reader.encoded != nil {
            while !Task.isCancelled {
                let head = store.headNotifier.head
                if head > position.seq {
                    var report = CatchUpReport()
                    try await foldRegistered(through: head, report: &report)
                    flush(&report)
                    continue
                }
                let seen = await store.headNotifier.wait(beyond: position.seq)
                if seen <= position.seq { return }
            }
        } else {
            try await followSubscription(store)
        }
    }

    private func followSubscription<S: EventStore>(_ store: S) async throws {
        for try await event in store.subscribe(after: position.seq) {
            if runners.contains(where: { !initialized.contains($0.name) }) { try await catchUp() }
            guard event.seq == position.seq + 1 else { continue }
            var report = CatchUpReport()
            try await foldRegistered(through: event.seq, report: &report, known: event)
            flush(&report)
        }
    }

    /// Returns once every registered projection has folded `seq` (or at once if it has).
    public func waitUntilFolded(_ seq: UInt64) async {
        guard position.seq < seq else { return }
        await withCheckedContinuation { continuation in waiters.append((seq, continuation)) }
    }

    /// The current state of a registered projection.
    public func current<P: Projection>(_ handle: ProjectionHandle<P>) async throws -> ProjectionResult<P.State> {
        guard handle.index < runners.count, runners[handle.index].name == handle.name,
            let state = runners[handle.index].anyState as? P.State
        else { throw ProjectionError(.unknownProjection, "\(handle.name) is not registered on this engine") }
        let runner = runners[handle.index]
        var where_ = (position.recordedAt, position.hash)
        if runner.seq != position.seq {
            guard let found = try await reader.position(at: runner.seq) else {
                throw LedgerError(.corrupted, "event \(runner.seq) is missing from the log", seq: runner.seq)
            }
            where_ = found
        }
        return ProjectionResult(
            name: runner.name, version: runner.version, state: state, clock: .recorded, asOf: nil, seq: runner.seq,
            recordedAt: where_.0, chainHash: where_.1, stateHash: ContentHash(of: try encoded(runner)),
            snapshotSeq: nil, eventsFolded: 0, rejectedSnapshots: [])
    }

    /// Saves a snapshot of every registered projection at the seq it has reached, with its
    /// checkpoint, so a restart resumes exactly here (call it before shutting down). The previous
    /// such snapshot is removed unless it falls on a regular snapshot boundary.
    @discardableResult
    public func checkpoint() async throws -> [ProjectionCheckpoint] {
        var made: [ProjectionSnapshot] = []
        var obsolete: [(String, UInt64)] = []
        for runner in runners where runner.seq > 0 {
            guard let at = runner.seq == position.seq ? (position.recordedAt, position.hash) : try await reader.position(at: runner.seq) else {
                continue
            }
            made.append(
                ProjectionSnapshot(
                    name: runner.name, version: runner.version, seq: runner.seq, recordedAt: at.0 ?? .distantPast,
                    chainHash: at.1, state: try encoded(runner)))
            if let old = try? snapshots.checkpoint(named: runner.name), old.seq != runner.seq, !isBoundary(old.seq) {
                obsolete.append((runner.name, old.seq))
            }
        }
        try snapshots.save(made, checkpoints: made.map(\.checkpoint))
        for (name, seq) in obsolete { try? snapshots.removeSnapshots(named: name, seqs: [seq]) }
        return made.map(\.checkpoint)
    }

    // MARK: Time travel (read-only)

    /// The state of `projection` at `point`: from the newest usable snapshot at or before it plus
    /// the events after it (recorded clock), or folded from every event that occurred by then
    /// (occurred clock). `projection` need not be registered; nothing is written.
    ///
    /// - Parameter useSnapshots: false folds from zero (what an auditor's re-check does).
    /// - Throws: ``ProjectionError/Code/outOfRange`` for a seq beyond the head; ``LedgerError``
    ///   when the log cannot be read.
    public nonisolated func state<P: Projection>(
        of projection: P, asOf point: AsOf, useSnapshots: Bool = true
    ) async throws -> ProjectionResult<P.State> {
        try await states(of: [projection], asOf: point, useSnapshots: useSnapshots)[0].typed(P.State.self)
    }

    /// The states of several projections at one instant, folded in one pass over the log.
    public nonisolated func states(
        of projections: [any Projection], asOf point: AsOf, useSnapshots: Bool = true
    ) async throws -> [AnyProjectionResult] {
        try await states(of: projections, asOf: point, useSnapshots: useSnapshots, visiting: nil)
    }

    /// The same, calling `visit` with every event of the prefix in seq order (recorded clock,
    /// `useSnapshots` false only): used to recompute the hash chain in the same pass.
    nonisolated func states(
        of projections: [any Projection], asOf point: AsOf, useSnapshots: Bool,
        visiting visit: ((EventView) throws -> Void)?
    ) async throws -> [AnyProjectionResult] {
        var seen = Set<String>()
        for projection in projections {
            try SnapshotRecord.validate(name: projection.name)
            guard seen.insert(projection.name).inserted else {
                throw ProjectionError(.duplicateName, "\(projection.name) is asked for twice")
            }
        }
        let runners = projections.map { ProjectionRunner.make($0) }
        let head = try await store.head()
        var target = head.seq
        var asOf: LedgerTime?
        switch point {
        case .head: break
        case .seq(let seq):
            guard seq <= head.seq else {
                throw ProjectionError(.outOfRange, "seq \(seq) is beyond the head of the log (seq \(head.seq))")
            }
            target = seq
        case .recorded(let time):
            asOf = time
            target = min(try await store.seq(recordedAtOrBefore: time), head.seq)
        case .occurred(let time):
            asOf = time
        }
        var rejections = Array(repeating: [SnapshotRejection](), count: runners.count)
        var restored = [UInt64?](repeating: nil, count: runners.count)
        var folded: UInt64 = 0
        if point.clock == .recorded {
            if useSnapshots, visit == nil {
                for (index, runner) in runners.enumerated() {
                    restored[index] = try await loader.restoreNewest(runner, atOrBefore: target, rejections: &rejections[index])
                }
            }
            let from = (runners.map(\.seq).min() ?? target) + 1
            folded = try await reader.fold(runners, from: from, through: target, visit: visit)
            for runner in runners where runner.seq != target {
                throw LedgerError(.corrupted, "the log ends at seq \(runner.seq) below seq \(target)", seq: runner.seq + 1)
            }
        } else {
            folded = try await reader.foldOccurred(runners, atOrBefore: asOf ?? .distantFuture, through: target)
        }
        guard let at = try await reader.position(at: target) else {
            throw LedgerError(.corrupted, "event \(target) is missing from the log", seq: target)
        }
        var results: [AnyProjectionResult] = []
        for (index, runner) in runners.enumerated() {
            let bytes: [UInt8]
            do { bytes = try runner.encodedState() } catch {
                throw ProjectionError(.stateEncoding, "the state of \(runner.name) does not encode: \(error)", underlying: error)
            }
            results.append(
                AnyProjectionResult(
                    result: ProjectionResult(
                        name: runner.name, version: runner.version, state: runner.anyState, clock: point.clock, asOf: asOf,
                        seq: target, recordedAt: at.recordedAt, chainHash: at.hash, stateHash: ContentHash(of: bytes),
                        snapshotSeq: restored[index],
                        eventsFolded: point.clock == .recorded ? target - (restored[index] ?? 0) : folded,
                        rejectedSnapshots: rejections[index])))
        }
        return results
    }

    // MARK: Internals

    /// One pass from the lowest registered runner's seq to `through`, snapshotting at boundaries.
    /// If the pass fails, every registered projection is reset (it catches up again next time):
    /// a half-folded state is never served.
    private func foldRegistered(
        through: UInt64, report: inout CatchUpReport, known event: RecordedEvent? = nil
    ) async throws {
        guard !runners.isEmpty else {
            if let at = try await reader.position(at: through) {
                position = Position(seq: through, recordedAt: at.recordedAt, hash: at.hash)
            }
            resumeWaiters()
            return
        }
        let from = runners.map(\.seq).min()! + 1
        var failures: [String] = []
        if from <= through {
            do {
                report.eventsFolded += try await reader.fold(
                    runners, from: from, through: through, boundaryEvery: options.snapshotEvery,
                    atBoundary: { boundary in
                        do { try queueSnapshots(at: boundary) } catch { failures.append("\(error)") }
                    })
            } catch {
                for runner in runners { runner.reset() }
                initialized.removeAll()
                position = Position(seq: 0, recordedAt: nil, hash: .genesis)
                throw error
            }
        }
        report.snapshotFailures += failures + failedMidFold
        report.snapshotsSaved += savedMidFold
        savedMidFold = 0
        failedMidFold = []
        let reached = runners.map(\.seq).min()!
        if reached != position.seq {
            if let event, event.seq == reached {
                position = Position(seq: reached, recordedAt: event.recordedAt, hash: event.hash)
            } else {
                guard let at = try await reader.position(at: reached) else {
                    throw LedgerError(.corrupted, "event \(reached) is missing from the log", seq: reached)
                }
                position = Position(seq: reached, recordedAt: at.recordedAt, hash: at.hash)
            }
        }
        resumeWaiters()
    }

    /// At a snapshot boundary: queues a snapshot of every runner that has folded exactly this event
    /// (of those the boundary is for).
    private func queueSnapshots(at boundary: FoldBoundary) throws {
        let seq = boundary.seq
        for runner in runners where boundary.includes(runner) && isSnapshotDue(runner, at: seq) {
            let state = try encoded(runner)
            runner.lastSnapshot = (seq, state.count)
            pending.append(
                ProjectionSnapshot(
                    name: runner.name, version: runner.version, seq: seq, recordedAt: boundary.recordedAt,
                    chainHash: boundary.hash, state: state))
            pendingBytes += state.count
        }
        if pendingBytes >= options.snapshotBufferBytesMax {
            var report = CatchUpReport()
            flush(&report)
            savedMidFold += report.snapshotsSaved
            failedMidFold += report.snapshotFailures
        }
    }

    /// Whether `runner`'s state is snapshotted at the boundary `seq`: always, unless its last
    /// snapshot is so large that the events since then do not yet pay for another one
    /// (``Options/snapshotBytesPerEvent``). The decision depends only on the runner's own
    /// boundary snapshots, so every fold of the same log (on one thread or two, from zero or
    /// resumed from one of those snapshots) writes the same snapshots.
    private func isSnapshotDue(_ runner: ProjectionRunner, at seq: UInt64) -> Bool {
        guard options.snapshotBytesPerEvent > 0, let last = runner.lastSnapshot, last.seq < seq else { return true }
        let (allowance, overflow) = (seq - last.seq).multipliedReportingOverflow(by: UInt64(options.snapshotBytesPerEvent))
        return overflow || allowance >= UInt64(last.bytes)
    }

    private nonisolated func isBoundary(_ seq: UInt64) -> Bool {
        options.snapshotEvery > 0 && seq > 0 && seq % options.snapshotEvery == 0
    }

    private func encoded(_ runner: ProjectionRunner) throws -> [UInt8] {
        do { return try runner.encodedState() } catch {
            throw ProjectionError(.stateEncoding, "the state of \(runner.name) does not encode: \(error)", underlying: error)
        }
    }

    /// Writes the buffered snapshots with a checkpoint for the newest of each projection.
    private func flush(_ report: inout CatchUpReport) {
        guard !pending.isEmpty else { return }
        var newest: [String: ProjectionCheckpoint] = [:]
        for snapshot in pending where (newest[snapshot.name]?.seq ?? 0) < snapshot.seq {
            newest[snapshot.name] = snapshot.checkpoint
        }
        do {
            try snapshots.save(pending, checkpoints: newest.keys.sorted().map { newest[$0]! })
            report.snapshotsSaved += pending.count
        } catch {
            report.snapshotFailures.append("\(error)")
        }
        pending.removeAll(keepingCapacity: true)
        pendingBytes = 0
    }

    private func resumeWaiters() {
        guard !waiters.isEmpty else { return }
        let ready = waiters.filter { $0.seq <= position.seq }
        waiters.removeAll { $0.seq <= position.seq }
        for waiter in ready { waiter.continuation.resume() }
    }
}

/// Finds and checks snapshots for one query or catch-up (no state of its own).
struct SnapshotLoader: Sendable {
    let snapshots: any SnapshotStore
    let reader: LogReader
    let options: ProjectionEngine.Options

    /// Restores `runner` from the newest usable snapshot `<= limit`; returns its seq, or nil when
    /// none is usable (the runner is then untouched, at zero). Every refused snapshot is reported.
    func restoreNewest(
        _ runner: ProjectionRunner, atOrBefore limit: UInt64, rejections: inout [SnapshotRejection],
        isolation: isolated (any Actor)? = #isolation
    ) async throws -> UInt64? {
        guard limit > 0 else { return nil }
        var below = limit
        for _ in 0..<options.snapshotCandidatesMax {
            let found: StoredSnapshot?
            do {
                found = try snapshots.snapshot(named: runner.name, atOrBefore: below)
            } catch {
                rejections.append(SnapshotRejection(projection: runner.name, seq: below, reason: .unreadable("\(error)")))
                return nil
            }
            guard let found else { return nil }
            switch found {
            case .damaged(let seq, let why):
                rejections.append(SnapshotRejection(projection: runner.name, seq: seq, reason: .damaged(why)))
            case .intact(let snapshot):
                if snapshot.version != runner.version {
                    rejections.append(
                        SnapshotRejection(
                            projection: runner.name, seq: snapshot.seq,
                            reason: .otherVersion(found: snapshot.version, expected: runner.version)))
                } else if let why = try await mismatch(snapshot) {
                    rejections.append(SnapshotRejection(projection: runner.name, seq: snapshot.seq, reason: .notThisLog(why)))
                } else {
                    do {
                        try runner.restore(snapshot.state)
                        runner.seq = snapshot.seq
                        // A checkpoint's snapshot off the boundaries does not count: spacing
                        // follows the boundary snapshots only, as in a fold from zero.
                        let onBoundary = options.snapshotEvery > 0 && snapshot.seq % options.snapshotEvery == 0
                        runner.lastSnapshot = onBoundary ? (snapshot.seq, snapshot.state.count) : nil
                        return snapshot.seq
                    } catch {
                        rejections.append(
                            SnapshotRejection(projection: runner.name, seq: snapshot.seq, reason: .undecodable("\(error)")))
                    }
                }
            }
            guard found.seq > 1 else { return nil }
            below = found.seq - 1
        }
        rejections.append(
            SnapshotRejection(projection: runner.name, seq: below, reason: .gaveUp(afterCandidates: options.snapshotCandidatesMax)))
        return nil
    }

    /// Why `snapshot` is not a snapshot of this log, or nil when its position matches.
    private func mismatch(_ snapshot: ProjectionSnapshot) async throws -> String? {
        guard let at = try await reader.position(at: snapshot.seq) else {
            return "the log has no event \(snapshot.seq)"
        }
        if at.hash != snapshot.chainHash { return "the chain hash at seq \(snapshot.seq) differs" }
        if at.recordedAt != snapshot.recordedAt {
            return "recordedAt at seq \(snapshot.seq) differs"
        }
        return nil
    }

}

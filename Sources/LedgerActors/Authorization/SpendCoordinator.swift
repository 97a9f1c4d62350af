public import LedgerCore
public import LedgerDomain

/// A run to start: who runs it, for whom, and its caps.
public struct RunSpec: Sendable, Hashable {
    public var id: String
    public var agent: String
    public var client: String?
    public var project: String?
    public var task: String?
    public var owner: String?
    public var environment: String?
    public var caps: RunCaps
    public var modelRoute: String?
    public var expectedOutcome: String?
    /// The run that started this one (a sub-agent run); its client, project, task, owner,
    /// environment and tags propagate unless given here, and its start event is the causation.
    public var parentRun: String?
    /// Free-form tags; `critical: "true"` keeps a run spending when a budget pauses non-critical work.
    public var tags: [String: String]

    public init(
        id: String, agent: String, client: String? = nil, project: String? = nil, task: String? = nil,
        owner: String? = nil, environment: String? = nil, caps: RunCaps = RunCaps(), modelRoute: String? = nil,
        expectedOutcome: String? = nil, parentRun: String? = nil, tags: [String: String] = [:]
    ) {
        self.id = id
        self.agent = agent
        self.client = client
        self.project = project
        self.task = task
        self.owner = owner
        self.environment = environment
        self.caps = caps
        self.modelRoute = modelRoute
        self.expectedOutcome = expectedOutcome
        self.parentRun = parentRun
        self.tags = tags
    }
}

/// A granted reservation: settle it with the actual usage, or release it.
public struct Grant: Hashable, Sendable {
    public var reservation: EventID
    public var run: String
    public var estimate: Money
    public var expiresAt: LedgerTime
    public var budgets: [String]
}

/// The answer to "may this run spend `estimate` now?".
public enum AuthorizationResult: Hashable, Sendable {
    case granted(Grant)
    case denied(Denial)

    public var grant: Grant? { if case .granted(let grant) = self { grant } else { nil } }
    public var denial: Denial? { if case .denied(let denial) = self { denial } else { nil } }
}

/// What a batch of usage did: events appended, duplicates skipped, runs halted, thresholds crossed.
public struct RecordResult: Hashable, Sendable {
    public var recorded = 0
    public var duplicates = 0
    public var eventsAppended = 0
    public var cost = Money.zero
    public var halted: [String] = []
    public var thresholds: [String] = []
}

/// Decides before every call whether it may spend, and records what was spent, across the run,
/// budget and wallet actors. Every decision becomes events, appended atomically (one multi-stream
/// append), then applied to the actors.
///
/// **The guarantee.** Under any number of concurrent authorizations, a hard budget's spent plus
/// reserved never exceeds its limit while settlements stay within their estimates: each budget
/// checks and holds an estimate in one synchronous step of its actor, so two authorizations
/// cannot both take the last of a limit. Holds are taken in one order (run, budgets by id, wallet)
/// and dropped when any of them refuses. One process writes a ledger (the LMDB writer lock), so
/// the actors see every charge.
public final class SpendCoordinator: Sendable {
    public let store: any EventStore
    let clock: any LedgerClock
    let registry: ActorRegistry
    /// How long a reservation lives unless settled or released.
    public let reservationTTLNanoseconds: Int64

    private init(store: any EventStore, clock: any LedgerClock, registry: ActorRegistry, ttl: Int64) {
        self.store = store
        self.clock = clock
        self.registry = registry
        self.reservationTTLNanoseconds = ttl
    }

    /// Opens the coordinator over a store: folds the log once to rebuild every budget and wallet
    /// (their spend derives from every charge); runs activate from their own stream on first use.
    public static func open(
        store: any EventStore, clock: any LedgerClock = SystemClock(), reservationTTLSeconds: Int64 = 300,
        activeRunActorsMax: Int = Limits.activeRunActorsMax
    ) async throws -> SpendCoordinator {
        // Pass 1: every budget's and wallet's own stream. Pass 2: every charge, against the budgets
        // as finally defined, so a budget counts the matching charges of its period wherever they
        // stand in the log — exactly what a budget defined live counts (see `backfill`).
        var budgets: [String: BudgetState] = [:]
        var wallets: [String: WalletState] = [:]
        func applyOwnStream(_ event: RecordedEvent) throws {
            if event.stream.hasPrefix("budget:") {
                let id = String(event.stream.dropFirst("budget:".count))
                try budgets[id, default: BudgetState(id: id)].apply(event)
            } else if event.stream.hasPrefix("wallet:") {
                let agent = String(event.stream.dropFirst("wallet:".count))
                try wallets[agent, default: WalletState(agent: agent)].apply(event)
            }
        }
        if let source = store as? any EncodedEventSource {
            // The same two passes over the stored bytes in place: only budget and wallet events
            // are decoded, and of a charge only its cost and the dimensions the budgets look at.
            let head = try await store.head().seq
            try source.scanEncodedEvents(from: 1, through: head) { bytes in
                let view = try EventView(bytes)
                if view.streamHasPrefix("budget:") || view.streamHasPrefix("wallet:") { try applyOwnStream(try view.decoded()) }
                return true
            }
            let ids = budgets.keys.filter { budgets[$0]!.definition != nil }
            let matcher = BudgetMatcher(ids: ids, scopes: ids.map { budgets[$0]!.definition!.scope })
            var matched = ids.map { budgets.removeValue(forKey: $0)! }  // by slot, put back below
            defer { for (id, state) in zip(ids, matched) { budgets[id] = state } }
            try source.scanEncodedEvents(from: 1, through: head) { bytes in
                let view = try EventView(bytes)
                guard view.hasType("usage.recorded") else { return true }
                guard view.schema == UsageRecorded.schema, let figures = UsageFigures(binaryPayload: view.payload) else {
                    _ = try view.decoded().decode(as: UsageRecorded.self)  // throws what a full decode throws
                    return true
                }
                let cost = Money(nanos: figures.costNanos)
                let occurredAt = view.occurredAt
                if matcher.readsMetadata {
                    let event = try view.decoded()
                    matcher.forEachMatch(event.dimensions, metadata: event.metadata) {
                        matched[$0].applyCharge(cost, occurredAt: occurredAt)
                    }
                } else if !matcher.isEmpty {
                    matcher.forEachMatch(view) { matched[$0].applyCharge(cost, occurredAt: occurredAt) }
                }
                if let agent = view.dimension(0).map(EventView.string) {
                    wallets[agent, default: WalletState(agent: agent)].applyCharge(cost)
                }
                return true
            }
        } else {
            try await scan(store) { event in try applyOwnStream(event) }
            try await scan(store) { event in
                guard event.type == UsageRecorded.type else { return }
                let cost = try event.decode(as: UsageRecorded.self).cost
                for id in budgets.keys where budgets[id]!.matches(event.dimensions, metadata: event.metadata) {
                    budgets[id]!.applyCharge(cost, occurredAt: event.occurredAt)
                }
                if let agent = event.dimensions.agent { wallets[agent, default: WalletState(agent: agent)].applyCharge(cost) }
            }
        }
        let registry = ActorRegistry(
            store: store, budgets: Array(budgets.values), wallets: Array(wallets.values), activeRunActorsMax: activeRunActorsMax)
        return SpendCoordinator(
            store: store, clock: clock, registry: registry, ttl: reservationTTLSeconds * 1_000_000_000)
    }

    // MARK: Runs

    /// Starts a run: its first event, `run.started`, with its caps and metadata. A run id can be
    /// started once; sub-agent runs inherit from their parent (see ``RunSpec/parentRun``).
    @discardableResult
    public func startRun(_ spec: RunSpec, occurredAt: LedgerTime? = nil) async throws -> RunState {
        var spec = spec
        var dimensions = Dimensions(agent: spec.agent, run: spec.id)
        if let parentID = spec.parentRun {
            let parent = try await withRun(parentID) { await $0.current }
            guard parent.status != .notStarted else {
                throw LedgerError(.invalidEvent, "parent run \(parentID) has not been started", field: "parent_run")
            }
            spec.client = spec.client ?? parent.dimensions.client
            spec.project = spec.project ?? parent.dimensions.project
            spec.task = spec.task ?? parent.dimensions.task
            spec.owner = spec.owner ?? parent.dimensions.owner
            spec.environment = spec.environment ?? parent.dimensions.environment
            spec.tags = (parent.started?.tags ?? [:]).merging(spec.tags) { _, child in child }
            dimensions.causation = parent.startedEventID
            dimensions.correlation = parent.dimensions.correlation ?? parent.startedEventID
        }
        dimensions.client = spec.client
        dimensions.project = spec.project
        dimensions.task = spec.task
        dimensions.owner = spec.owner
        dimensions.environment = spec.environment
        let started = RunStarted(
            caps: spec.caps, modelRoute: spec.modelRoute, expectedOutcome: spec.expectedOutcome,
            parentRun: spec.parentRun, tags: spec.tags)
        let event = ProposedEvent(
            started, stream: SpendStreams.run(spec.id), occurredAt: occurredAt ?? clock.now(), dimensions: dimensions)
        do {
            let result = try await store.append([event], expecting: [event.stream: .noStream])
            return try await withRun(spec.id) { run in
                try await run.commit(try await readBack(result))
                return await run.current
            }
        } catch let error as LedgerError where error.code == .wrongExpectedVersion {
            throw LedgerError(.wrongExpectedVersion, "run \(spec.id) was already started", field: "run")
        }
    }

    /// Records how a run ended.
    public func completeRun(_ id: String, outcome: RunOutcome, occurredAt: LedgerTime? = nil) async throws {
        try await withRun(id) { run in
            let state = await run.current
            guard state.status != .notStarted else {
                throw LedgerError(.invalidEvent, "run \(id) has not been started", field: "run")
            }
            if case .completed = state.status {
                throw LedgerError(.invalidEvent, "run \(id) already completed", field: "run")
            }
            let event = ProposedEvent(
                RunCompleted(outcome: outcome), stream: SpendStreams.run(id), occurredAt: occurredAt ?? clock.now(),
                dimensions: state.dimensions)
            try await run.commit(try await readBack(try await store.append([event])))
        }
    }

    /// The run's state (activating it if needed); nil for a run never started.
    public func run(_ id: String) async throws -> RunState? {
        let state = try await withRun(id) { await $0.current }
        return state.status == .notStarted && state.version == 0 ? nil : state
    }

    // MARK: Budgets and wallets

    /// Defines (or redefines) budget `id`.
    public func defineBudget(_ id: String, _ definition: BudgetDefinition, occurredAt: LedgerTime? = nil) async throws {
        if definition.limit < .zero { throw LedgerError(.invalidEvent, "budget \(id): the limit is negative", field: "limit") }
        for percent in definition.thresholds where !(1...1_000).contains(percent) {
            throw LedgerError(.invalidEvent, "budget \(id): threshold \(percent) is not a percentage in 1...1000", field: "thresholds")
        }
        _ = try BudgetPeriods.period(definition.period, containing: clock.now(), timeZone: definition.timeZone)
        let now = clock.now()
        let event = ProposedEvent(BudgetDefined(definition: definition), stream: SpendStreams.budget(id), occurredAt: occurredAt ?? now)
        let actor = await registry.budgetDefined(id, scope: definition.scope)
        var events = [event]
        let previous = await actor.current
        if definition.period != .none, previous.definition?.period != definition.period || previous.definition?.timeZone != definition.timeZone {
            let (start, end) = try BudgetPeriods.period(definition.period, containing: now, timeZone: definition.timeZone)
            events.append(ProposedEvent(BudgetPeriodStarted(start: start, end: end), stream: event.stream, occurredAt: now))
        }
        let recorded = try await readBack(try await store.append(events))
        try await actor.commit(recorded, charges: [], claimed: .zero)
        // A new budget, or one whose scope changed, counts every matching charge already stored.
        if previous.definition?.scope != definition.scope {
            try await backfill(actor, scope: definition.scope)
        }
        // Thresholds the stored spend already crosses under this definition are recorded now.
        let thresholds = await actor.claimThresholds(forCharge: .zero, rollover: nil)
        if !thresholds.isEmpty {
            let events = thresholds.map { ProposedEvent($0, stream: SpendStreams.budget(id), occurredAt: now) }
            do {
                try await actor.commit(try await readBack(try await store.append(events)), charges: [], claimed: .zero)
            } catch {
                await actor.dropClaims(period: false, thresholds: thresholds.map(\.percent), charges: .zero)
                throw error
            }
        }
    }

    /// Every budget's state, by id.
    public func budgets() async -> [BudgetState] {
        var states: [BudgetState] = []
        for (_, actor) in await registry.budgets.sorted(by: { $0.key < $1.key }) { states.append(await actor.current) }
        return states
    }

    /// Opens or funds an agent's wallet (a credit limit on everything the agent spends).
    public func fundWallet(agent: String, amount: Money, occurredAt: LedgerTime? = nil) async throws {
        let wallet = await registry.wallet(agent)
        let opened = await wallet.current.version > 0
        let event: ProposedEvent
        if opened {
            event = ProposedEvent(WalletFunded(amount: amount), stream: SpendStreams.wallet(agent), occurredAt: occurredAt ?? clock.now())
        } else {
            event = ProposedEvent(WalletOpened(credit: amount), stream: SpendStreams.wallet(agent), occurredAt: occurredAt ?? clock.now())
        }
        try await wallet.commit(try await readBack(try await store.append([event])), charges: [], settled: [])
    }

    /// Pauses an agent: every later authorization for it is denied until ``resumeAgent(_:reason:)``.
    public func pauseAgent(_ agent: String, reason: String) async throws {
        let wallet = await registry.wallet(agent)
        let event = ProposedEvent(
            AgentPaused(reason: reason), stream: SpendStreams.wallet(agent), occurredAt: clock.now(),
            dimensions: Dimensions(agent: agent))
        try await wallet.commit(try await readBack(try await store.append([event])), charges: [], settled: [])
    }

    public func resumeAgent(_ agent: String, reason: String) async throws {
        let wallet = await registry.wallet(agent)
        let event = ProposedEvent(
            AgentResumed(reason: reason), stream: SpendStreams.wallet(agent), occurredAt: clock.now(),
            dimensions: Dimensions(agent: agent))
        try await wallet.commit(try await readBack(try await store.append([event])), charges: [], settled: [])
    }

    public func wallet(_ agent: String) async -> WalletState { await registry.wallet(agent).current }

    /// Halts a run now (a detector policy, an operator): later authorizations are denied.
    public func haltRun(_ id: String, cause: String, reason: String) async throws {
        try await withRun(id) { run in
            let state = await run.current
            guard state.isRunning else { return }
            let event = ProposedEvent(
                RunHalted(cause: cause, reason: reason), stream: SpendStreams.run(id), occurredAt: clock.now(),
                dimensions: state.dimensions)
            try await run.commit(try await readBack(try await store.append([event])))
        }
    }

    /// How many run actors are active now, and how many were passivated so far.
    public func activeRuns() async -> (active: Int, passivated: Int) {
        (await registry.activeRunCount, await registry.passivations)
    }

    // MARK: Helpers

    /// Runs `body` with the run's actor leased (never passivated meanwhile).
    func withRun<T>(_ id: String, _ body: (RunActor) async throws -> T) async throws -> T {
        let actor = try await registry.leaseRun(id)
        do {
            let value = try await body(actor)
            await registry.returnRun(id)
            return value
        } catch {
            await registry.returnRun(id)
            throw error
        }
    }

    /// The events an append stored, read back (with their seq, version and recordedAt).
    func readBack(_ result: AppendResult) async throws -> [RecordedEvent] {
        let written = result.positions.filter { !$0.isDuplicate }.map(\.seq)
        guard let first = written.min(), let last = written.max() else { return [] }
        let events = try await store.read(from: first, maxCount: Int(last - first + 1))
        let wanted = Set(written)
        return events.filter { wanted.contains($0.seq) }
    }

    /// Counts into a newly defined budget the charges already stored in its current period.
    private func backfill(_ actor: BudgetActor, scope: BudgetScope) async throws {
        var charges: [(Money, LedgerTime)] = []
        try await scan(store) { event in
            guard event.type == UsageRecorded.type, scope.matches(event.dimensions, metadata: event.metadata) else { return }
            charges.append((try event.decode(as: UsageRecorded.self).cost, event.occurredAt))
        }
        await actor.recount(charges)
    }
}

/// Every stored event in `seq` order, in bounded memory.
func scan(_ store: some EventStore, _ body: (RecordedEvent) throws -> Void) async throws {
    for try await event in store.events(from: 1) { try body(event) }
}

extension SpendCoordinator {
    /// Every run in the log, folded from its stream, ordered by id. A full scan: for listings,
    /// not for the hot path.
    public static func allRuns(in store: any EventStore) async throws -> [RunState] {
        var runs: [String: RunState] = [:]
        try await scan(store) { event in
            guard event.stream.hasPrefix("run:") else { return }
            let id = String(event.stream.dropFirst("run:".count))
            try runs[id, default: RunState(id: id)].apply(event)
        }
        return runs.values.sorted { $0.id < $1.id }
    }
}

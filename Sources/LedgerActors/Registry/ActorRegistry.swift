import LedgerCore
import LedgerDomain

/// Owns every actor: activates run actors from their stream on first use and passivates idle
/// ones beyond ``Limits/activeRunActorsMax``; keeps every budget and wallet resident (they are
/// few, and their spend derives from the whole log, which ``SpendCoordinator`` folds at open).
///
/// A run actor in use is *leased*: it is never passivated while a lease is out, so two
/// operations on one run always meet in the same actor.
actor ActorRegistry {
    private struct RunEntry {
        var actor: RunActor
        var leases: Int
        var lastUsed: UInt64

        /// Takes a lease, in place (one look-up of the entry).
        mutating func lease(at tick: UInt64) -> RunActor {
            leases += 1
            lastUsed = tick
            return actor
        }

        mutating func giveBack() {
            leases -= 1
            precondition(leases >= 0, "a run lease was returned twice")
        }
    }

    private let store: any EventStore
    private var runs: [String: RunEntry] = [:]
    private var activating: [String: Task<RunActor, any Error>] = [:]
    private var tick: UInt64 = 0
    private(set) var budgets: [String: BudgetActor] = [:]
    /// Budget scopes, kept here so matching a charge to budgets needs no actor hop.
    private var scopes: [String: BudgetScope] = [:] {
        didSet { matcher = nil }
    }
    /// The scopes indexed for matching a batch of charges; made again when a scope changes.
    private var matcher: BudgetMatcher?
    private(set) var wallets: [String: WalletActor] = [:]
    private(set) var passivations = 0

    private let activeRunActorsMax: Int

    init(store: any EventStore, budgets: [BudgetState], wallets: [WalletState], activeRunActorsMax: Int) {
        self.store = store
        self.activeRunActorsMax = activeRunActorsMax
        for budget in budgets {
            self.budgets[budget.id] = BudgetActor(state: budget)
            if let scope = budget.definition?.scope { scopes[budget.id] = scope }
        }
        for wallet in wallets { self.wallets[wallet.agent] = WalletActor(state: wallet) }
    }

    // MARK: Runs

    /// The run's actor, activated from its stream if needed; pair with ``returnRun(_:)``.
    func leaseRun(_ id: String) async throws -> RunActor {
        tick += 1
        if let actor = runs[id]?.lease(at: tick) { return actor }
        let task: Task<RunActor, any Error>
        if let pending = activating[id] {
            task = pending
        } else {
            let store = self.store
            task = Task { try await RunActor(state: Self.activate(run: id, from: store)) }
            activating[id] = task
        }
        let actor: RunActor
        do {
            actor = try await task.value
        } catch {
            activating[id] = nil
            throw error
        }
        activating[id] = nil
        tick += 1
        if let actor = runs[id]?.lease(at: tick) { return actor }  // another caller finished activating first
        runs[id] = RunEntry(actor: actor, leases: 1, lastUsed: tick)
        await passivateIfNeeded()
        return actor
    }

    func returnRun(_ id: String) {
        runs[id]?.giveBack()
    }

    /// Leases every run of `ids` (distinct) in one step of the registry: the resident ones at
    /// once, the others activated from their stream as ``leaseRun(_:)`` does. The actors come back
    /// in the order of `ids`; pair with ``returnRuns(_:)``. On an error nothing stays leased.
    func leaseRuns(_ ids: [String]) async throws -> [RunActor] {
        var actors: [RunActor?] = []
        actors.reserveCapacity(ids.count)
        var missing = false
        for id in ids {
            tick += 1
            let actor = runs[id]?.lease(at: tick)
            actors.append(actor)
            if actor == nil { missing = true }
        }
        guard missing else { return actors.map { $0! } }
        for (index, id) in ids.enumerated() where actors[index] == nil {
            do {
                actors[index] = try await leaseRun(id)
            } catch {
                for (index, id) in ids.enumerated() where actors[index] != nil { returnRun(id) }
                throw error
            }
        }
        return actors.map { $0! }
    }

    func returnRuns(_ ids: [String]) {
        for id in ids { returnRun(id) }
    }

    /// The resident run actor, if any, without activating or leasing it.
    func residentRun(_ id: String) -> RunActor? { runs[id]?.actor }

    var activeRunCount: Int { runs.count }

    /// Folds the run's whole stream (runs are short: a start, their charges, an end).
    static func activate(run id: String, from store: any EventStore) async throws -> RunState {
        var state = RunState(id: id)
        var from: UInt64 = 1
        while true {
            let events = try await store.readStream(
                SpendStreams.run(id), fromVersion: from, toVersion: .max, maxCount: Limits.replayChunkEventCountMax)
            for event in events { try state.apply(event) }
            guard events.count == Limits.replayChunkEventCountMax else { return state }
            from = state.version + 1
        }
    }

    /// Passivates the least recently used idle run actors once there are more than the bound:
    /// down to an eighth below it, so that the sort this takes is paid once per many activations
    /// rather than on each one.
    private func passivateIfNeeded() async {
        guard runs.count > activeRunActorsMax else { return }
        let candidates = runs.filter { $0.value.leases == 0 }.sorted { $0.value.lastUsed < $1.value.lastUsed }
        var excess = runs.count - (activeRunActorsMax - activeRunActorsMax / 8)
        for (id, entry) in candidates where excess > 0 {
            // An actor with holds or early events in flight stays until they settle.
            guard await entry.actor.isIdle, runs[id]?.leases == 0 else { continue }
            runs[id] = nil
            passivations += 1
            excess -= 1
        }
    }

    // MARK: Budgets and wallets

    /// The budgets whose scope matches a charge, in a fixed order (by id) so that holds are
    /// always taken in one order.
    func budgets(matching dimensions: Dimensions, metadata: [String: String]) -> [BudgetActor] {
        scopes.filter { $0.value.matches(dimensions, metadata: metadata) }.keys.sorted().compactMap { budgets[$0] }
    }

    func budget(_ id: String) -> BudgetActor? { budgets[id] }

    /// Every defined budget with its scope, in id order, for matching a batch of charges locally.
    func budgetScopes() -> [(BudgetActor, BudgetScope)] {
        scopes.keys.sorted().compactMap { id in budgets[id].map { ($0, scopes[id]!) } }
    }

    /// Every defined budget, indexed by scope, for matching a batch of charges locally.
    func budgetMatcher() -> BudgetMatcher {
        if let matcher { return matcher }
        let made = BudgetMatcher(budgetScopes())
        matcher = made
        return made
    }

    /// The wallet actors of `agents`, in their order (created when new), in one step.
    func wallets(_ agents: [String]) -> [WalletActor] {
        agents.map { wallet($0) }
    }

    /// Registers (or updates) a budget once its definition is stored.
    func budgetDefined(_ id: String, scope: BudgetScope) -> BudgetActor {
        scopes[id] = scope
        if let actor = budgets[id] { return actor }
        let actor = BudgetActor(state: BudgetState(id: id))
        budgets[id] = actor
        return actor
    }

    func wallet(_ agent: String) -> WalletActor {
        if let actor = wallets[agent] { return actor }
        let actor = WalletActor(state: WalletState(agent: agent))
        wallets[agent] = actor
        return actor
    }
}

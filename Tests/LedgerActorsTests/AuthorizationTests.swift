import LedgerActors
import LedgerCore
import LedgerDomain
import LedgerLMDB
import SpendLedgerTestKit
import Testing

@Suite struct AuthorizationTests {
    static func dollars(_ text: String) -> Money { Money(dollars: text)! }

    static func coordinator(
        _ store: any EventStore = InMemoryEventStore(clock: ManualClock()), clock: ManualClock = ManualClock()
    ) async throws -> SpendCoordinator {
        try await SpendCoordinator.open(store: store, clock: clock)
    }

    @Test func authorize_whenBudgetExhausted_deniesAndNamesBudgetAndWhatIsLeft() async throws {
        let ledger = try await Self.coordinator()
        try await ledger.defineBudget("acme", BudgetDefinition(scope: .client("acme"), limit: Self.dollars("1.00")))
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1", client: "acme"))
        let first = try await ledger.authorize(run: "r1", estimate: Self.dollars("0.70"))
        #expect(first.grant != nil)
        let second = try await ledger.authorize(run: "r1", estimate: Self.dollars("0.40"))
        let denial = try #require(second.denial)
        #expect(denial.deniedBy == "budget:acme")
        #expect(denial.remaining == Self.dollars("0.30"))
        #expect(denial.reason.contains("limit"))
        let run = try #require(try await ledger.run("r1"))
        #expect(run.denials == 1, "the denial is recorded on the run's stream")
    }

    @Test func budgetOfAnotherClient_doesNotApply() async throws {
        let ledger = try await Self.coordinator()
        try await ledger.defineBudget("globex", BudgetDefinition(scope: .client("globex"), limit: Self.dollars("0.01")))
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1", client: "acme"))
        let result = try await ledger.authorize(run: "r1", estimate: Self.dollars("5"))
        #expect(result.grant?.budgets == [])
    }

    @Test func settle_releasesTheDifference_andCountsTheActualCharge() async throws {
        let ledger = try await Self.coordinator()
        try await ledger.defineBudget("org", BudgetDefinition(scope: .org, limit: Self.dollars("10")))
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1"))
        let grant = try #require(try await ledger.authorize(run: "r1", estimate: Self.dollars("2")).grant)
        var budget = try #require(await ledger.budgets().first)
        #expect(budget.reserved == Self.dollars("2"))
        try await ledger.settle(grant, usage: UsageRecorded(cost: Self.dollars("0.5"), inputTokens: 100), model: "gpt-4o")
        budget = try #require(await ledger.budgets().first)
        #expect(budget.reserved == .zero)
        #expect(budget.spent == Self.dollars("0.5"))
        #expect(budget.remaining == Self.dollars("9.5"))
        await #expect(throws: LedgerError.self) {
            try await ledger.settle(grant, usage: UsageRecorded(cost: Self.dollars("0.5")))
        }
    }

    @Test func release_cancelsTheReservation() async throws {
        let ledger = try await Self.coordinator()
        try await ledger.defineBudget("org", BudgetDefinition(scope: .org, limit: Self.dollars("1")))
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1"))
        let grant = try #require(try await ledger.authorize(run: "r1", estimate: Self.dollars("1")).grant)
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("0.01")).denial != nil)
        try await ledger.release(grant)
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("1")).grant != nil)
    }

    @Test func settle_afterTheReservationExpired_stillRecordsTheCharge_once() async throws {
        let clock = ManualClock()
        let ledger = try await Self.coordinator(InMemoryEventStore(clock: clock), clock: clock)
        try await ledger.defineBudget("org", BudgetDefinition(scope: .org, limit: Self.dollars("10")))
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1"))
        let grant = try #require(try await ledger.authorize(run: "r1", estimate: Self.dollars("2")).grant)
        clock.advance(byNanoseconds: ledger.reservationTTLNanoseconds + 1)
        #expect(try await ledger.expireReservations() == 1)
        #expect(await ledger.budgets().first?.reserved == .zero)

        // The call finished after its hold lapsed: it happened, so it is recorded.
        let late = try await ledger.settle(grant, usage: UsageRecorded(cost: Self.dollars("0.75")), model: "gpt-4o")
        #expect(late.recorded == 1)
        #expect(try await ledger.run("r1")?.spent == Self.dollars("0.75"))
        #expect(await ledger.budgets().first?.spent == Self.dollars("0.75"))

        // But never twice.
        await #expect(throws: LedgerError.self) {
            try await ledger.settle(grant, usage: UsageRecorded(cost: Self.dollars("0.75")), model: "gpt-4o")
        }
        #expect(try await ledger.run("r1")?.spent == Self.dollars("0.75"))
    }

    @Test func settle_ofACancelledReservation_isRefused() async throws {
        let ledger = try await Self.coordinator()
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1"))
        let grant = try #require(try await ledger.authorize(run: "r1", estimate: Self.dollars("1")).grant)
        try await ledger.release(grant)
        await #expect(throws: LedgerError.self) {
            try await ledger.settle(grant, usage: UsageRecorded(cost: Self.dollars("0.5")))
        }
        #expect(try await ledger.run("r1")?.spent == .zero)
    }

    @Test func reservations_expireAfterTheirTTL() async throws {
        let clock = ManualClock()
        let store = InMemoryEventStore(clock: clock)
        let ledger = try await SpendCoordinator.open(store: store, clock: clock, reservationTTLSeconds: 60)
        try await ledger.defineBudget("org", BudgetDefinition(scope: .org, limit: Self.dollars("1")))
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1"))
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("1")).grant != nil)
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("1")).denial != nil)
        clock.advance(byNanoseconds: 61_000_000_000)
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("1")).grant != nil, "the stale reservation expired")
        let released = try await store.readStream("budget:org").filter { $0.type == SpendReleased.type }
        #expect(released.count == 1)
        #expect(try released[0].decode(as: SpendReleased.self).reason == .expired)
    }

    /// The property: 1,000 concurrent authorizations against one hard budget; granted ones settle
    /// at or under their estimate (or release). Reserved plus settled never exceeds the limit, and
    /// every denial was justified by what was left. Repeated over several seeds and both backends.
    @Test(arguments: [1, 2, 3])
    func concurrentAuthorizations_neverOverspendAHardBudget(seed: Int) async throws {
        try await Self.checkNeverOverspends(store: InMemoryEventStore(clock: ManualClock()), seed: UInt64(seed))
    }

    @Test func concurrentAuthorizations_neverOverspendAHardBudget_onLMDB() async throws {
        let directory = try TemporaryDirectory("authorize")
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        defer { store.close() }
        try await Self.checkNeverOverspends(store: store, seed: 42)
    }

    static func checkNeverOverspends(store: any EventStore, seed: UInt64) async throws {
        let clock = ManualClock()
        let ledger = try await SpendCoordinator.open(store: store, clock: clock)
        let limit = dollars("5")
        try await ledger.defineBudget("hard", BudgetDefinition(scope: .client("acme"), limit: limit))
        for run in 0..<10 { try await ledger.startRun(RunSpec(id: "run-\(run)", agent: "agent-\(run)", client: "acme")) }
        struct Outcome: Sendable {
            var estimate: Money
            var denial: Denial?
            var settled: Money?
        }
        let outcomes = try await withThrowingTaskGroup(of: Outcome.self) { group in
            for index in 0..<1_000 {
                group.addTask {
                    var random = WorkloadRandom(seed: seed &* 1_000 &+ UInt64(index))
                    let estimate = Money(nanos: Int64(random.next() % 20_000_000) + 1_000_000)  // $0.001 to $0.021
                    let result = try await ledger.authorize(run: "run-\(index % 10)", estimate: estimate)
                    switch result {
                    case .denied(let denial):
                        return Outcome(estimate: estimate, denial: denial)
                    case .granted(let grant):
                        if random.next() % 10 == 0 {
                            try await ledger.release(grant)
                            return Outcome(estimate: estimate)
                        }
                        // Between half the estimate and all of it: the settled total of the
                        // workload (about $7) exceeds the $5 limit whatever the interleaving,
                        // so the budget must refuse some authorizations.
                        let half = estimate.nanos / 2
                        let actual = Money(nanos: half + Int64(random.next() % UInt64(estimate.nanos - half + 1)))
                        try await ledger.settle(grant, usage: UsageRecorded(cost: actual))
                        return Outcome(estimate: estimate, settled: actual)
                    }
                }
            }
            var all: [Outcome] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        let budget = try #require(await ledger.budgets().first)
        let settled = outcomes.compactMap(\.settled).reduce(Money.zero, +)
        #expect(budget.spent == settled)
        #expect(budget.reserved == .zero)
        #expect(budget.spent + budget.reserved <= limit)
        let denials = outcomes.compactMap { outcome in outcome.denial.map { (outcome.estimate, $0) } }
        #expect(!denials.isEmpty, "the workload must press on the limit")
        for (estimate, denial) in denials {
            #expect(denial.deniedBy == "budget:hard")
            #expect(denial.remaining < estimate, "a denial is justified only if what was left could not cover the estimate")
        }
        // Replaying the log gives the same budget.
        let replayed = try await SpendCoordinator.open(store: store, clock: clock)
        let again = try #require(await replayed.budgets().first)
        #expect(again.spent == budget.spent)
        #expect(again.reserved == budget.reserved)
        #expect(try await store.verify().isIntact)
    }
}

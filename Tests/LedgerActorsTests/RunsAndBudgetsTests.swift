import LedgerActors
import LedgerCore
import LedgerDomain
import SpendLedgerTestKit
import Testing

@Suite struct RunsAndBudgetsTests {
    static func dollars(_ text: String) -> Money { Money(dollars: text)! }

    static func usage(_ cost: String, run: String, agent: String = "a1", client: String? = nil, retry: Int32 = 0, at time: LedgerTime)
        -> ProposedEvent
    {
        ProposedEvent(
            UsageRecorded(cost: dollars(cost), inputTokens: 10, retry: retry), stream: SpendStreams.run(run), occurredAt: time,
            dimensions: Dimensions(agent: agent, client: client, run: run, model: "gpt-4o-mini"))
    }

    @Test func crossingMaxCost_haltsTheRun_andLaterAuthorizationsAreDeniedWithTheReason() async throws {
        let clock = ManualClock()
        let store = InMemoryEventStore(clock: clock)
        let ledger = try await SpendCoordinator.open(store: store, clock: clock)
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1", caps: RunCaps(maxCost: Self.dollars("1"))))
        let result = try await ledger.record([Self.usage("0.6", run: "r1", at: clock.now()), Self.usage("0.5", run: "r1", at: clock.now())])
        #expect(result.halted == ["r1"])
        let run = try #require(try await ledger.run("r1"))
        #expect(run.status == .halted(cause: "max_cost", reason: "spent $1.1 of a max cost of $1"))
        let denial = try #require(try await ledger.authorize(run: "r1", estimate: Self.dollars("0.01")).denial)
        #expect(denial.deniedBy == "run:halted")
        #expect(denial.reason.contains("max_cost"))
        let halts = try await store.readStream("run:r1").filter { $0.type == RunHalted.type }
        #expect(halts.count == 1, "a halt is recorded once")
    }

    @Test func authorization_overMaxCost_isDeniedBeforeTheCall() async throws {
        let ledger = try await SpendCoordinator.open(store: InMemoryEventStore(clock: ManualClock()), clock: ManualClock())
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1", caps: RunCaps(maxCost: Self.dollars("1"))))
        let denial = try #require(try await ledger.authorize(run: "r1", estimate: Self.dollars("1.5")).denial)
        #expect(denial.deniedBy == "cap:max_cost")
        #expect(denial.remaining == Self.dollars("1"))
    }

    @Test func tooManyRetries_haltTheRun() async throws {
        let clock = ManualClock()
        let ledger = try await SpendCoordinator.open(store: InMemoryEventStore(clock: clock), clock: clock)
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1", caps: RunCaps(maxRetries: 3)))
        for attempt in 1...3 { _ = try await ledger.record([Self.usage("0.01", run: "r1", retry: Int32(attempt), at: clock.now())]) }
        #expect(try await ledger.run("r1")?.isRunning == true)
        let result = try await ledger.record([Self.usage("0.01", run: "r1", retry: 4, at: clock.now())])
        #expect(result.halted == ["r1"])
    }

    @Test func thresholds_fireOncePerPeriod_andAgainInTheNextPeriod() async throws {
        let clock = ManualClock(start: LedgerTime(rfc3339: "2026-11-20T08:00:00Z")!)
        let store = InMemoryEventStore(clock: clock)
        let ledger = try await SpendCoordinator.open(store: store, clock: clock)
        try await ledger.defineBudget(
            "daily", BudgetDefinition(scope: .client("acme"), period: .day, limit: Self.dollars("10"), hard: false))
        var fired: [String] = []
        for _ in 0..<11 {
            let result = try await ledger.record([Self.usage("1", run: "r1", client: "acme", at: clock.now())])
            fired += result.thresholds
        }
        #expect(fired == ["daily:50%", "daily:75%", "daily:90%", "daily:100%"])
        clock.advance(byNanoseconds: 24 * 3_600 * 1_000_000_000)
        let nextDay = try await ledger.record([Self.usage("6", run: "r1", client: "acme", at: clock.now())])
        #expect(nextDay.thresholds == ["daily:50%"], "a new period starts from its own events")
        let budget = try #require(await ledger.budgets().first)
        #expect(budget.spent == Self.dollars("6"))
        #expect(budget.spentAllTime == Self.dollars("17"))
        let periods = try await store.readStream("budget:daily").filter { $0.type == BudgetPeriodStarted.type }
        #expect(periods.count == 2)
    }

    @Test func aSoftBudget_neverRefuses_butStillReports() async throws {
        let ledger = try await SpendCoordinator.open(store: InMemoryEventStore(clock: ManualClock()), clock: ManualClock())
        try await ledger.defineBudget("soft", BudgetDefinition(scope: .org, limit: Self.dollars("1"), hard: false))
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1"))
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("5")).grant != nil)
    }

    @Test func ingest_isNeverRefusedByABudget_butMovesIt() async throws {
        let clock = ManualClock()
        let ledger = try await SpendCoordinator.open(store: InMemoryEventStore(clock: clock), clock: clock)
        try await ledger.defineBudget("hard", BudgetDefinition(scope: .org, limit: Self.dollars("1")))
        let result = try await ledger.record([Self.usage("3", run: "r9", at: clock.now())])
        #expect(result.recorded == 1)
        let budget = try #require(await ledger.budgets().first)
        #expect(budget.spent == Self.dollars("3"))
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1"))
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("0.01")).denial?.deniedBy == "budget:hard")
    }

    @Test func aPauseAllThreshold_deniesEveryLaterAuthorization_andPauseNonCriticalSparesCriticalRuns() async throws {
        let clock = ManualClock()
        let ledger = try await SpendCoordinator.open(store: InMemoryEventStore(clock: clock), clock: clock)
        try await ledger.defineBudget(
            "b", BudgetDefinition(scope: .org, limit: Self.dollars("10"), hard: false, actions: ["75": .pauseNonCritical]))
        try await ledger.startRun(RunSpec(id: "normal", agent: "a1"))
        try await ledger.startRun(RunSpec(id: "vital", agent: "a2", tags: ["critical": "true"]))
        _ = try await ledger.record([Self.usage("8", run: "other", at: clock.now())])
        #expect(try await ledger.authorize(run: "normal", estimate: Self.dollars("0.1")).denial?.deniedBy == "budget:b")
        #expect(try await ledger.authorize(run: "vital", estimate: Self.dollars("0.1")).grant != nil)
    }

    @Test func aPausedAgent_isDenied_untilResumed() async throws {
        let ledger = try await SpendCoordinator.open(store: InMemoryEventStore(clock: ManualClock()), clock: ManualClock())
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1"))
        try await ledger.pauseAgent("a1", reason: "runaway loop")
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("0.1")).denial?.deniedBy == "agent:paused")
        try await ledger.resumeAgent("a1", reason: "fixed")
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("0.1")).grant != nil)
    }

    @Test func aSubAgentRun_inheritsItsParentsClientProjectTagsAndCausation() async throws {
        let store = InMemoryEventStore(clock: ManualClock())
        let ledger = try await SpendCoordinator.open(store: store, clock: ManualClock())
        let parent = try await ledger.startRun(
            RunSpec(id: "parent", agent: "planner", client: "acme", project: "site", task: "t1", tags: ["team": "web"]))
        let child = try await ledger.startRun(RunSpec(id: "child", agent: "coder", parentRun: "parent", tags: ["step": "2"]))
        #expect(child.dimensions.client == "acme")
        #expect(child.dimensions.project == "site")
        #expect(child.dimensions.task == "t1")
        #expect(child.started?.tags == ["team": "web", "step": "2"])
        #expect(child.dimensions.causation == parent.startedEventID)
        #expect(child.dimensions.correlation == parent.startedEventID)
        await #expect(throws: LedgerError.self) { try await ledger.startRun(RunSpec(id: "x", agent: "a", parentRun: "missing")) }
        let again = await #expect(throws: LedgerError.self) { try await ledger.startRun(RunSpec(id: "parent", agent: "planner")) }
        #expect(again?.code == .wrongExpectedVersion)
    }

    @Test func runActors_arePassivatedBeyondTheBound_andReactivateFromTheirStream() async throws {
        let clock = ManualClock()
        let store = InMemoryEventStore(clock: clock)
        let ledger = try await SpendCoordinator.open(store: store, clock: clock, activeRunActorsMax: 4)
        for index in 0..<12 {
            try await ledger.startRun(RunSpec(id: "r\(index)", agent: "a\(index)", caps: RunCaps(maxCost: Self.dollars("1"))))
            _ = try await ledger.record([Self.usage("0.25", run: "r\(index)", agent: "a\(index)", at: clock.now())])
        }
        let (active, passivated) = await ledger.activeRuns()
        #expect(active <= 4)
        #expect(passivated >= 8)
        let first = try #require(try await ledger.run("r0"))
        #expect(first.spent == Self.dollars("0.25"), "re-activated from its stream")
        #expect(first.calls == 1)
    }

    @Test func completingARun_recordsItsOutcome_andDeniesLaterSpend() async throws {
        let ledger = try await SpendCoordinator.open(store: InMemoryEventStore(clock: ManualClock()), clock: ManualClock())
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1"))
        try await ledger.completeRun("r1", outcome: .accepted)
        #expect(try await ledger.run("r1")?.status == .completed(.accepted))
        #expect(try await ledger.authorize(run: "r1", estimate: Self.dollars("0.1")).denial?.deniedBy == "run:completed")
        await #expect(throws: LedgerError.self) { try await ledger.completeRun("r1", outcome: .rejected) }
    }

    @Test func recordingTheSameUsageTwice_countsItOnce() async throws {
        let clock = ManualClock()
        let ledger = try await SpendCoordinator.open(store: InMemoryEventStore(clock: clock), clock: clock)
        try await ledger.defineBudget("org", BudgetDefinition(scope: .org, limit: Self.dollars("100")))
        let charge = Self.usage("2", run: "r1", at: clock.now())
        let first = try await ledger.record([charge])
        let second = try await ledger.record([charge])
        #expect(first.recorded == 1)
        #expect(second.recorded == 0)
        #expect(second.duplicates == 1)
        #expect(await ledger.budgets().first?.spent == Self.dollars("2"))
    }
}

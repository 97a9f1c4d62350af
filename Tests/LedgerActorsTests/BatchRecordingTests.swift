@testable import LedgerActors
import LedgerCore
import LedgerDomain
import LedgerLMDB
import SpendLedgerTestKit
import Testing

/// Recording a batch folds its charges into the actors from what the append holds (decoded once,
/// grouped by run, budgets matched through an index of scopes), never reading them back. These
/// tests hold that shortcut to the long way: the actors a fresh coordinator rebuilds from the log.
@Suite struct BatchRecordingTests {
    static let agents = ["a1", "a2", "a3", "a4", "a5"]
    static let clients: [String?] = ["acme", "globex", nil]
    static let projects: [String?] = ["p1", "p2", nil]
    static let models: [String?] = ["gpt-4o", "gpt-4o-mini", "claude-sonnet", nil]

    static func randomCharge(_ random: inout WorkloadRandom, run: String, at time: LedgerTime) -> ProposedEvent {
        let metadata: [String: String] = random.next() % 3 == 0 ? ["team": "web"] : (random.next() % 2 == 0 ? ["team": "data"] : [:])
        let usage = UsageRecorded(
            kind: random.next() % 5 == 0 ? .tool : .llm, cost: Money(nanos: Int64(random.next() % 40_000_000)),
            inputTokens: Int64(random.next() % 5_000), toolCalls: Int32(random.next() % 3), retry: Int32(random.next() % 4 == 0 ? 1 : 0))
        return ProposedEvent(
            usage, stream: SpendStreams.run(run), occurredAt: time,
            dimensions: Dimensions(
                agent: agents[Int(random.next() % 5)], client: clients[Int(random.next() % 3)],
                project: projects[Int(random.next() % 3)], run: run, model: models[Int(random.next() % 4)]),
            metadata: metadata)
    }

    /// Every scope kind, daily periods (so batches carry period starts) and small limits (so they
    /// carry thresholds); runs with caps (so they carry halts) and runs known only from charges.
    static func recordRandomBatches(on store: any EventStore, seed: UInt64) async throws -> SpendCoordinator {
        let clock = ManualClock(start: LedgerTime(rfc3339: "2026-11-20T20:00:00Z")!)
        let ledger = try await SpendCoordinator.open(store: store, clock: clock, activeRunActorsMax: 6)
        let scopes: [(String, BudgetScope)] = [
            ("org", .org), ("acme", .client("acme")), ("p1", .project("p1")), ("a1", .agent("a1")),
            ("a2", .agent("a2")), ("gpt", .model("gpt-4o")), ("web", BudgetScope(kind: .tags, tags: ["team": "web"])),
            ("none", .client("nobody")),
        ]
        for (index, (id, scope)) in scopes.enumerated() {
            let limit = Money(nanos: Int64(200_000_000 * (index + 1)))
            try await ledger.defineBudget(id, BudgetDefinition(scope: scope, period: index % 2 == 0 ? .day : .none, limit: limit, hard: false))
        }
        for run in 0..<8 {
            try await ledger.startRun(
                RunSpec(
                    id: "started-\(run)", agent: agents[run % 5], client: clients[run % 3],
                    caps: RunCaps(maxCost: Money(nanos: Int64(150_000_000 * (run + 1))), maxRetries: 6), modelRoute: "gpt-4o-mini"))
        }
        let runs = (0..<8).map { "started-\($0)" } + (0..<6).map { "ingested-\($0)" }
        var random = WorkloadRandom(seed: seed)
        var earlier: [ProposedEvent] = []
        for batch in 0..<24 {
            if batch == 12 { clock.advance(byNanoseconds: 6 * 3_600 * 1_000_000_000) }  // past midnight: new periods
            var events: [ProposedEvent] = []
            for _ in 0..<(1 + Int(random.next() % 200)) {
                events.append(randomCharge(&random, run: runs[Int(random.next() % UInt64(runs.count))], at: clock.now()))
            }
            // Some charges recorded again: skipped, counted nowhere.
            if !earlier.isEmpty, batch % 3 == 0 { events.append(earlier[Int(random.next() % UInt64(earlier.count))]) }
            earlier += events.prefix(3)
            let result = try await ledger.record(events)
            #expect(result.recorded + result.duplicates == events.count)
            clock.advance(byNanoseconds: 60_000_000_000)
        }
        return ledger
    }

    static func expectSameActors(_ live: SpendCoordinator, _ rebuilt: SpendCoordinator) async throws {
        let runs = (0..<8).map { "started-\($0)" } + (0..<6).map { "ingested-\($0)" }
        for id in runs {
            let a = try #require(try await live.run(id))
            let b = try #require(try await rebuilt.run(id))
            #expect(a.version == b.version, "run \(id)")
            #expect(a.status == b.status, "run \(id)")
            #expect(a.spent == b.spent, "run \(id)")
            #expect(a.calls == b.calls, "run \(id)")
            #expect(a.retries == b.retries, "run \(id)")
            #expect(a.toolCalls == b.toolCalls, "run \(id)")
            #expect(a.premiumFallbacks == b.premiumFallbacks, "run \(id)")
            #expect(a.dimensions == b.dimensions, "run \(id)")
        }
        let liveBudgets = await live.budgets()
        let rebuiltBudgets = await rebuilt.budgets()
        #expect(liveBudgets.map(\.id) == rebuiltBudgets.map(\.id))
        for (a, b) in zip(liveBudgets, rebuiltBudgets) {
            #expect(a.version == b.version, "budget \(a.id)")
            #expect(a.spent == b.spent, "budget \(a.id)")
            #expect(a.spentAllTime == b.spentAllTime, "budget \(a.id)")
            #expect(a.spentByPeriod == b.spentByPeriod, "budget \(a.id)")
            #expect(a.crossed == b.crossed, "budget \(a.id)")
            #expect(a.periodStart == b.periodStart, "budget \(a.id)")
        }
        for agent in agents {
            let a = await live.wallet(agent)
            let b = await rebuilt.wallet(agent)
            #expect(a.spent == b.spent, "wallet \(agent)")
        }
    }

    @Test(arguments: [1, 2])
    func batches_foldIntoTheActorsAsARebuildFromTheLogDoes_inMemory(seed: Int) async throws {
        let store = InMemoryEventStore(clock: ManualClock())
        let live = try await Self.recordRandomBatches(on: store, seed: UInt64(seed))
        let rebuilt = try await SpendCoordinator.open(store: store, clock: ManualClock())
        try await Self.expectSameActors(live, rebuilt)
        try await Self.expectSomethingHappened(store)
    }

    /// On LMDB a coordinator rebuilds budgets and wallets from the stored bytes in place (only
    /// the fields budgets match on are read), so this compares that path too.
    @Test func batches_foldIntoTheActorsAsARebuildFromTheLogDoes_onLMDB() async throws {
        let directory = try TemporaryDirectory("batch-record")
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        defer { store.close() }
        let live = try await Self.recordRandomBatches(on: store, seed: 7)
        let rebuilt = try await SpendCoordinator.open(store: store, clock: ManualClock())
        try await Self.expectSameActors(live, rebuilt)
        try await Self.expectSomethingHappened(store)
    }

    /// The scenario is only a test if the batches carried what the shortcut has to get right.
    static func expectSomethingHappened(_ store: any EventStore) async throws {
        var types: [String: Int] = [:]
        for event in try await store.read(from: 1, maxCount: .max) { types[event.type, default: 0] += 1 }
        #expect(types[RunHalted.type, default: 0] > 0)
        #expect(types[ThresholdCrossed.type, default: 0] > 0)
        #expect(types[BudgetPeriodStarted.type, default: 0] == 8, "four daily budgets, each started again after midnight")
    }

    /// The matcher's index answers exactly what each scope's own `matches` answers.
    @Test func budgetMatcher_matchesExactlyWhatEachScopeMatches() {
        var random = WorkloadRandom(seed: 11)
        let values = ["x", "y", "z"]
        var scopes: [BudgetScope] = []
        for _ in 0..<40 {
            let value = values[Int(random.next() % 3)]
            switch random.next() % 6 {
            case 0: scopes.append(.org)
            case 1: scopes.append(.client(value))
            case 2: scopes.append(.project(value))
            case 3: scopes.append(.agent(value))
            case 4: scopes.append(.model(value))
            default: scopes.append(BudgetScope(kind: .tags, tags: random.next() % 2 == 0 ? ["k": value] : ["k": value, "j": "x"]))
            }
        }
        let matcher = BudgetMatcher(ids: scopes.indices.map { "b\($0)" }, scopes: scopes)
        func some(_ random: inout WorkloadRandom) -> String? { random.next() % 4 == 0 ? nil : values[Int(random.next() % 3)] }
        for _ in 0..<2_000 {
            let dimensions = Dimensions(
                agent: some(&random), client: some(&random), project: some(&random), model: some(&random))
            var metadata: [String: String] = [:]
            if let k = some(&random) { metadata["k"] = k }
            if let j = some(&random) { metadata["j"] = j }
            var found: [Int] = []
            matcher.forEachMatch(dimensions, metadata: metadata) { found.append($0) }
            let expected = scopes.indices.filter { scopes[$0].matches(dimensions, metadata: metadata) }
            #expect(found.sorted() == expected)
            let event = ProposedEvent(stream: "run:r", type: UsageRecorded.type, occurredAt: .epoch, dimensions: dimensions, metadata: metadata)
            var foundForEvent: [Int] = []
            matcher.forEachMatch(event) { foundForEvent.append($0) }
            #expect(foundForEvent.sorted() == expected)
        }
    }
}

@Suite struct ConcurrentRecordingTests {
    /// Charges recorded at once by many callers cross a run's cap together: the run halts, once,
    /// however the appends interleave.
    @Test(arguments: [1, 2, 3])
    func concurrentRecords_crossingACap_haltTheRunOnce(seed: Int) async throws {
        let clock = ManualClock()
        let store = InMemoryEventStore(clock: clock)
        let ledger = try await SpendCoordinator.open(store: store, clock: clock)
        try await ledger.startRun(RunSpec(id: "r1", agent: "a1", caps: RunCaps(maxCost: Money(dollars: "1")!)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                group.addTask {
                    let charge = ProposedEvent(
                        UsageRecorded(cost: Money(dollars: "0.05")!, inputTokens: Int64(index + seed)), stream: SpendStreams.run("r1"),
                        occurredAt: clock.now(), dimensions: Dimensions(agent: "a1", run: "r1"))
                    _ = try await ledger.record([charge])
                }
            }
            try await group.waitForAll()
        }
        let run = try #require(try await ledger.run("r1"))
        #expect(run.spent == Money(dollars: "2")!)
        #expect(!run.isRunning, "$2 was recorded against a cap of $1")
        let halts = try await store.readStream("run:r1").filter { $0.type == RunHalted.type }
        #expect(halts.count == 1)
    }
}

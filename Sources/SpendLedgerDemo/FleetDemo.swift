public import LedgerCore
public import LedgerDetectors
import Foundation
import LedgerActors
import LedgerDomain
import LedgerIncidents
import LedgerLMDB
import LedgerPricing
import LedgerProjections
import SpendLedger

/// How to run the fleet demo.
public struct FleetDemoOptions: Sendable {
    /// The ledger directory. It must be new, empty, or a ledger an earlier demo made (which is
    /// replaced); anything else is refused so the demo never overwrites a real ledger.
    public var dataDirectory: String
    public var seed: UInt64
    /// The simulated day starts at this instant (midnight UTC of yesterday by default).
    public var day: LedgerTime
    /// How many hours of the day to simulate (24 for the full demo; tests use fewer).
    public var hours: Int
    /// The folder with the real price map and traces (`../shared/data`), when there is one.
    public var sharedData: String?
    /// The `Fixtures/` folder: the fallback price catalog and call sizes.
    public var fixtures: String
    /// Where to write the HTML incident report (nil: none).
    public var htmlPath: String?
    public var detectors: DetectorConfiguration

    public init(
        dataDirectory: String, seed: UInt64 = 42, day: LedgerTime? = nil, hours: Int = 24, sharedData: String? = nil,
        fixtures: String, htmlPath: String? = nil, detectors: DetectorConfiguration = .default
    ) {
        precondition((1...24).contains(hours), "the demo simulates between 1 and 24 hours")
        self.dataDirectory = dataDirectory
        self.seed = seed
        self.day = day ?? FleetDemoOptions.yesterday()
        self.hours = hours
        self.sharedData = sharedData
        self.fixtures = fixtures
        self.htmlPath = htmlPath
        self.detectors = detectors
    }

    /// Midnight UTC of the day before today, so every instant of the demo is in the past and
    /// `spend report --at` / `spend audit --at` accept it.
    public static func yesterday(now: LedgerTime = SystemClock().now()) -> LedgerTime {
        let day: Int64 = 86_400_000_000_000
        return LedgerTime(nanosecondsSinceEpoch: (now.nanosecondsSinceEpoch / day - 1) * day)
    }
}

/// What the demo did, for its caller (and its tests) to check.
public struct FleetDemoSummary: Sendable {
    public var tally: SimulationTally
    public var alerts: [Alert]
    public var runawayAgent: String
    public var runawayRun: String
    public var bugStart: LedgerTime
    public var head: LogHead
    public var auditInstant: LedgerTime
    public var htmlPath: String?
}

/// `spend demo`: a realistic day of an agent fleet on an embedded LMDB ledger, with one agent
/// hitting a retry bug overnight that the detectors catch and the policy halts.
///
/// Every call goes through the in-process API as a service would make it: start a run, authorize
/// the priced estimate against the run's caps and every matching budget, call, settle the actual
/// usage, complete the run. The detectors follow the log live and append what they find.
public enum FleetDemo {
    public static func run(_ options: FleetDemoOptions, print: @escaping @Sendable (String) -> Void) async throws
        -> FleetDemoSummary
    {
        let started = ContinuousClock.now
        try prepareDirectory(options.dataDirectory)
        let (catalog, priceSource) = try loadCatalog(options)
        let sizes = try CallSizes.load(sharedData: options.sharedData, fixtureUsage: options.fixtures + "/sample-usage.jsonl")
        let plan = FleetPlan.make(seed: options.seed, day: options.day, hours: options.hours, sizes: sizes)

        print("SpendLedger demo: \(options.hours == 24 ? "a day" : "\(options.hours) hours") of an agent fleet, \(options.day.rfc3339.prefix(10)) (seed \(options.seed))")
        print("  \(Set(plan.runs.map(\.spec.agent)).count) agents, \(Set(plan.agents.map(\.client)).count) clients, \(Set(plan.agents.map(\.model)).count) models, \(plan.runs.count) runs planned")
        print("  prices: \(priceSource)")
        print("  call sizes: \(sizes.source)")
        print("  ledger: \(options.dataDirectory) (LMDB, every append fsync'd before it is acknowledged)")
        print("")

        let clock = SimulatedClock(start: options.day)
        let store = try LMDBEventStore.open(at: options.dataDirectory, options: LMDBOptions(clock: clock))
        // The mark that lets the next demo replace this directory (and nothing else).
        guard FileManager.default.createFile(atPath: options.dataDirectory + "/" + demoMarker, contents: Data("spend demo\n".utf8))
        else {
            store.close()
            throw DemoError("cannot write \(options.dataDirectory)/\(demoMarker)")
        }
        do {
            let ledger = try await Ledger.open(store: store, catalog: catalog, clock: clock)
            for budget in plan.budgets { try await ledger.defineBudget(budget.id, budget.definition) }
            let detectors = try await ledger.startDetectors(options.detectors)

            print("Simulating the day (every call authorized before it is made, settled after):")
            let simulator = FleetSimulator(plan: plan, ledger: ledger, clock: clock, detectors: detectors)
            let tally = try await simulator.run(progress: print)
            if !tally.denials.isEmpty {
                let refused = tally.denials.sorted { $0.key < $1.key }.map { "\($0.value) by \($0.key)" }
                print("  authorizations refused before the call: " + refused.joined(separator: ", "))
            }
            try await detectors.caughtUp(through: try store.head().seq)
            let alerts = await detectors.alerts()
            await detectors.stop()
            let end = LedgerTime(nanosecondsSinceEpoch: options.day.nanosecondsSinceEpoch + Int64(options.hours) * 3_600_000_000_000)
            clock.move(to: end)
            print("")

            // Snapshots of every built-in view, so any instant of the day answers from a snapshot.
            try await ViewSnapshots.refresh(store)
            let engine = ProjectionEngine(store: store, snapshots: LMDBSnapshotStore(store))
            for dimension in [SpendDimension.agent, .model, .client] {
                let result = try await engine.state(of: SpendByDimension(dimension), asOf: .head)
                print(SpendReport(dimension: dimension, result: result, asOf: clock.now()).text)
                print("")
            }
            printBudgets(await ledger.budgets(), print: print)
            printAlerts(alerts, print: print)

            let runaway = plan.runs.first(where: \.runaway)
            var htmlPath: String?
            if let runaway {
                print("Incident review: \(plan.runawayAgent)")
                // The default window: from an hour before the first anomaly to the agent's last
                // activity, so the chart shows the loop against the rest of the agent's day.
                let query = IncidentQuery(agent: plan.runawayAgent)
                let incident = try await IncidentReport.build(store: store, query: query, detectors: options.detectors)
                print(incident.text())
                if let path = options.htmlPath {
                    try Data(incident.html().utf8).write(to: URL(fileURLWithPath: path))
                    htmlPath = path
                    print("  HTML report with the spend-rate chart: \(path)")
                }
                printRunawayStory(tally, plan: plan, run: runaway, print: print)
            }

            let auditInstant = LedgerTime(
                nanosecondsSinceEpoch: options.day.nanosecondsSinceEpoch + Int64(options.hours) * 3_600_000_000_000 / 2)
            print("Audit statement as recorded at \(auditInstant.rfc3339) (a past instant, replayed from the log):")
            let statement = try await AuditStatement.make(
                engine: engine, at: auditInstant, ledger: URL(fileURLWithPath: options.dataDirectory).standardizedFileURL.path)
            print(statement.text)
            print("")

            let verification = try store.verify()
            let head = try store.head()
            print(
                verification.isIntact
                    ? "verified: \(verification.eventsChecked) events, hash chain and indexes intact; head seq \(head.seq), hash \(head.hash)"
                    : "VERIFY FAILED: \(verification.firstFailure!)")
            let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18
                + Double((ContinuousClock.now - started).components.seconds)
            print("done in \(String(format: "%.1f", seconds)) s")
            print("")
            print("Try next:")
            print("  spend report --data \(options.dataDirectory) --by task --at \(auditInstant.rfc3339)")
            print("  spend detect --data \(options.dataDirectory) --velocity-multiplier 3")
            print("  spend incident --data \(options.dataDirectory) --agent \(plan.runawayAgent) --html incident.html")
            print("  spend audit --data \(options.dataDirectory) --at \(auditInstant.rfc3339) --out statement.json")
            try await ledger.close()
            store.close()
            return FleetDemoSummary(
                tally: tally, alerts: alerts, runawayAgent: plan.runawayAgent, runawayRun: runaway?.spec.id ?? "",
                bugStart: plan.bugStart, head: head, auditInstant: auditInstant, htmlPath: htmlPath)
        } catch {
            store.close()
            throw error
        }
    }

    static let demoMarker = "spend-demo.marker"

    /// Makes sure the demo writes only where it may: a new or empty directory, or one an earlier
    /// demo made (emptied first).
    static func prepareDirectory(_ path: String) throws {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        guard files.fileExists(atPath: path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else { throw DemoError("\(path) exists and is not a directory") }
        let contents = try files.contentsOfDirectory(atPath: path)
        guard !contents.isEmpty else { return }
        guard contents.contains(demoMarker) else {
            throw DemoError(
                "\(path) is not empty and was not made by `spend demo`; the demo does not touch it. Pass --data NEW_DIRECTORY")
        }
        for name in contents { try files.removeItem(atPath: path + "/" + name) }
    }

    static func loadCatalog(_ options: FleetDemoOptions) throws -> (PriceCatalog, String) {
        if let folder = options.sharedData, let bytes = FileManager.default.contents(atPath: folder + "/litellm_model_prices.json") {
            let imported = try LiteLLMImporter.parse(Array(bytes), effectiveFrom: .epoch)
            let catalog = imported.catalog
            let missing = FleetPlan.models.filter { (try? catalog.requireEntry(for: $0, at: options.day)) == nil }
            if missing.isEmpty {
                return (catalog, "the real LiteLLM price map in \(folder) (\(imported.report.imported) models imported)")
            }
        }
        let path = options.fixtures + "/price-catalog.json"
        return (try PriceCatalog.load(contentsOf: path, effectiveFrom: .epoch), "the default catalog \(path) (the shared price map was not found)")
    }

    static func printBudgets(_ budgets: [BudgetState], print: (String) -> Void) {
        print("Budgets (daily; thresholds 50/75/90/100 %)")
        for budget in budgets.sorted(by: { $0.id < $1.id }) {
            guard let definition = budget.definition else { continue }
            let percent = definition.limit.nanos > 0 ? Double(budget.spent.nanos) * 100 / Double(definition.limit.nanos) : 0
            let crossed = budget.crossed.sorted().map { "\($0)%" }.joined(separator: " ")
            print(
                "  " + column(budget.id, 15) + column(definition.hard ? "hard" : "soft", 6) + "limit "
                    + column(usd(definition.limit), 8, right: true) + "  spent " + column(usd(budget.spent), 8, right: true)
                    + "  " + column(String(format: "%5.1f%%", percent), 7, right: true)
                    + (crossed.isEmpty ? "" : "  crossed \(crossed)"))
        }
        print("")
    }

    static func printAlerts(_ alerts: [Alert], print: (String) -> Void) {
        print("Alerts raised live by the detectors (\(alerts.count)):")
        if alerts.isEmpty { print("  none") }
        for alert in alerts.sorted(by: { $0.at < $1.at }) {
            print(
                "  \(clockTime(alert.at))  " + column(alert.kind.rawValue, 11) + column(alert.agent, 20)
                    + column(alert.run ?? "-", 28) + String(format: "score %.2f  ", alert.score) + alert.action.rawValue
                    + "  " + alert.evidence)
        }
        print("")
    }

    static func printRunawayStory(_ tally: SimulationTally, plan: FleetPlan, run: PlannedRun, print: (String) -> Void) {
        print("")
        print("The runaway, in short:")
        print("  \(clockTime(plan.bugStart))  \(plan.runawayAgent) starts re-sending the same call every 2 seconds (run \(run.spec.id))")
        if let stopped = tally.runawayStoppedAt {
            print("  \(clockTime(stopped))  its next call is refused: \(tally.runawayStopReason ?? "")")
            print(
                "  spent in the loop: \(usd(tally.runawaySpent)); without the halt the loop would have run until "
                    + "\(clockTime(plan.bugNoticedByHuman)) (the morning stand-up) and cost \(usd(tally.runawaySpent + tally.runawayAvoided))")
        } else {
            print("  the loop was NOT stopped: it spent \(usd(tally.runawaySpent))")
        }
        print("")
    }
}

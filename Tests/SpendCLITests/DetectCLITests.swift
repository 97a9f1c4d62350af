import Foundation
import LedgerCore
import LedgerDomain
import LedgerLMDB
import Testing

/// Whole command lines of `spend detect` against a ledger written here: agent `a` works at three
/// calls a minute from 00:00, and from 00:40 a second run of it calls thirty times a minute (with
/// varied prompts, so only velocity — not the loop detector — sees it); a $1 daily budget for
/// client acme is on pace to run out.
@Suite struct DetectCLITests {
    static func at(_ minutes: Double) -> LedgerTime {
        LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000 + Int64(minutes * 60_000_000_000))
    }

    static func makeLedger(_ path: String) async throws {
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(durability: .noSync, clock: ManualClockForCLI(at(80))))
        defer { store.close() }
        var events = [
            ProposedEvent(
                BudgetDefined(
                    definition: BudgetDefinition(scope: .client("acme"), period: .day, limit: Money(nanos: 1_000_000_000))),
                stream: "budget:acme-daily", occurredAt: at(0)),
            ProposedEvent(BudgetPeriodStarted(start: at(0), end: at(1_440)), stream: "budget:acme-daily", occurredAt: at(0)),
        ]
        var index = 0
        func charge(_ run: String, _ time: Double, cost: Int64) -> ProposedEvent {
            index += 1
            let prompt = Int64(300 * pow(1.3, Double(index % 12)))  // never near-identical
            return ProposedEvent(
                UsageRecorded(cost: Money(nanos: cost), inputTokens: prompt, outputTokens: 100), stream: "run:" + run,
                occurredAt: at(time),
                dimensions: Dimensions(agent: "a", client: "acme", run: run, model: "gpt-4o-mini", vendor: "openai"))
        }
        var timed: [(Double, ProposedEvent)] = []
        for m in 0..<70 {
            for c in 0..<3 { timed.append((Double(m) + Double(c) / 3, charge("work", Double(m) + Double(c) / 3, cost: 100_000))) }
            if m >= 40 {
                for c in 0..<30 {
                    timed.append((Double(m) + Double(c) / 30, charge("stuck", Double(m) + Double(c) / 30, cost: 1_000_000)))
                }
            }
        }
        events += timed.sorted { $0.0 < $1.0 }.map(\.1)
        try await store.append(events)
    }

    func json(_ output: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "not JSON: \(output)")
    }

    @Test func json_listsEveryAlertWithTheDocumentedKeys() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Self.makeLedger(ledger.path)
        let result = try await Spend.run("detect", "--data", ledger.path, "--json")
        #expect(result.status == 0, "\(result.error)")
        let object = try json(result.output)
        #expect(Array(object.keys) == ["alerts"])
        let alerts = try #require(object["alerts"] as? [[String: Any]])
        for alert in alerts {
            #expect(Set(alert.keys) == ["agent", "run", "kind", "at", "score", "evidence", "action"])
            #expect(LedgerTime(rfc3339: alert["at"] as? String ?? "") != nil)
            #expect((0...1).contains(alert["score"] as? Double ?? -1))
            #expect(
                ["velocity", "spike", "retry_storm", "loop", "burn_rate", "mix_shift"].contains(alert["kind"] as? String ?? ""))
        }
        let velocity = try #require(alerts.first { $0["kind"] as? String == "velocity" })
        #expect(velocity["agent"] as? String == "a" && velocity["run"] as? String == "stuck")
        #expect(velocity["action"] as? String == "halt_run")
        let at = try #require(LedgerTime(rfc3339: velocity["at"] as? String ?? ""))
        #expect(at >= Self.at(42) && at < Self.at(44))
        let burn = try #require(alerts.first { $0["kind"] as? String == "burn_rate" })
        #expect(burn["run"] is NSNull, "an alert about a budget names no run")
        #expect((burn["evidence"] as? String)?.contains("acme-daily") == true)
    }

    @Test func options_changeWhatIsCaught() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Self.makeLedger(ledger.path)
        func kinds(_ arguments: String...) async throws -> [String] {
            let result = try await Spend.run(["detect", "--data", ledger.path, "--json"] + arguments)
            #expect(result.status == 0, "\(result.error)")
            return try #require(try json(result.output)["alerts"] as? [[String: Any]]).compactMap { $0["kind"] as? String }
        }
        #expect(try await kinds().contains("velocity"))
        #expect(try await !kinds("--velocity-multiplier", "20").contains("velocity"), "k = 20 does not catch 10× the baseline")
        #expect(try await !kinds("--sustain-minutes", "40").contains("velocity"))
        #expect(
            try await kinds("--loop-repeats", "100", "--retry-limit", "0", "--spike-multiple", "2", "--velocity-floor", "0.5")
                .contains("velocity"))
        #expect(try await kinds("--to", Self.at(50).rfc3339) == ["velocity"])
        #expect(try await kinds("--from", Self.at(50).rfc3339) == ["burn_rate"], "the forecast comes at 01:00")
        #expect(try await kinds("--from", Self.at(60.5).rfc3339).isEmpty)
    }

    @Test func text_isATableWithACount() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Self.makeLedger(ledger.path)
        let result = try await Spend.run("detect", "--data", ledger.path)
        #expect(result.status == 0, "\(result.error)")
        let lines = result.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("AT") == true && lines.first?.contains("EVIDENCE") == true)
        #expect(lines.last == "2 alerts", "\(result.output)")
        let quiet = try await Spend.run("detect", "--data", ledger.path, "--from", Self.at(60.5).rfc3339)
        #expect(quiet.output == "no alerts\n")
    }

    @Test func detect_writesNothing() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Self.makeLedger(ledger.path)
        let before = try json(try await Spend.run("stats", "--data", ledger.path, "--json").output)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: ledger.path + "/data.mdb"))
        #expect(try await Spend.run("detect", "--data", ledger.path, "--json").status == 0)
        #expect(try await Spend.run("detect", "--data", ledger.path, "--velocity-multiplier", "2").status == 0)
        let after = try json(try await Spend.run("stats", "--data", ledger.path, "--json").output)
        #expect(after["head_seq"] as? Int == before["head_seq"] as? Int)
        #expect(after["head_hash"] as? String == before["head_hash"] as? String)
        #expect(try Data(contentsOf: URL(fileURLWithPath: ledger.path + "/data.mdb")) == bytes)
    }

    static let badCommandLines: [(arguments: [String], names: String)] = [
        (["--from", "yesterday"], "--from"),
        (["--to", "2026-13-01T00:00:00Z"], "--to"),
        (["--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"], "--from"),
        (["--velocity-multiplier", "0"], "--velocity-multiplier"),
        (["--velocity-multiplier", "abc"], "--velocity-multiplier"),
        (["--velocity-floor", "cheap"], "--velocity-floor"),
        (["--sustain-minutes", "0"], "--sustain-minutes"),
        (["--spike-multiple", "0"], "--spike-multiple"),
        (["--loop-repeats", "1"], "--loop-repeats"),
    ]

    @Test func badInput_exitsTwo_namingTheOption() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Self.makeLedger(ledger.path)
        for (arguments, option) in Self.badCommandLines {
            let result = try await Spend.run(["detect", "--data", ledger.path] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.error)")
            #expect(result.error.contains(option), "\(arguments): \(result.error)")
        }
        let missing = try await Spend.run("detect", "--data", "/nonexistent/spendledger/ledger")
        #expect(missing.status == 2 && !missing.error.isEmpty)
    }
}

import Foundation
import Synchronization
import LedgerCore
import LedgerLMDB
import Testing

/// Whole command lines of `spend report` and `spend audit` against ledgers written here with
/// `LMDBEventStore` and a manual clock, so that every time and figure is known.
@Suite struct ReportAuditCLITests {
    /// 2026-01-01T00:00:00Z plus `minutes`.
    static func at(_ minutes: Int64) -> LedgerTime {
        LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000 + minutes * 60_000_000_000)
    }

    /// A `usage.recorded` event with the binary payload of `UsageRecorded` schema 1 (see
    /// `Sources/LedgerDomain/UsageRecorded.swift`), built byte by byte.
    static func charge(
        nanos: Int64, agent: String?, model: String? = "gpt-4o-mini", occurredAt: LedgerTime, input: Int64 = 0, output: Int64 = 0,
        retry: Int32 = 0, note: String = "charge"
    ) -> ProposedEvent {
        var payload: [UInt8] = [0, 0, 0, 0]
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { payload.append(contentsOf: $0) } }
        put(Int32(1))  // tool calls
        put(retry)
        put(Int32(0))  // latency
        put(nanos)
        for tokens in [input, output, 0, 0, 0] { put(tokens) }
        return ProposedEvent(
            stream: "run:r1", type: "usage.recorded", occurredAt: occurredAt,
            dimensions: Dimensions(agent: agent, client: "acme", run: "r1", model: model), metadata: ["note": note],
            payloadEncoding: .binary, payload: payload)
    }

    /// A ledger: at minute 1, a ($1) and b ($2) occurring at minute 1; at minute 10, a ($0.5)
    /// that occurred at minute 0 (late) and a charge with no agent ($0.25) at minute 10, plus a
    /// monthly $10 budget for client acme.
    static func makeLedger(_ path: String) async throws -> [RecordedEvent] {
        let clock = ManualClockForCLI(at(1))
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(clock: clock))
        defer { store.close() }
        let budget = #"{"definition":{"actions":{},"hard":true,"limit_nanos":10000000000,"period":"month","scope":{"kind":"client","tags":{},"value":"acme"},"thresholds":[50,75,90,100]}}"#
        try await store.append([
            ProposedEvent(stream: "budget:acme-monthly", type: "budget.defined", occurredAt: at(0), payload: Array(budget.utf8)),
            charge(nanos: 1_000_000_000, agent: "a", occurredAt: at(1), input: 1200, output: 300),
            charge(nanos: 2_000_000_000, agent: "b", occurredAt: at(1), retry: 1, note: "original-charge"),
        ])
        clock.time = at(10)
        try await store.append([
            charge(nanos: 500_000_000, agent: "a", occurredAt: at(0)),
            charge(nanos: 250_000_000, agent: nil, model: nil, occurredAt: at(10)),
        ])
        return try store.read(from: 1, maxCount: 100)
    }

    func json(_ output: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "not JSON: \(output)")
    }

    @Test func reportJSON_now_byAgent_listsEveryRowWithTheDocumentedKeys() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        let events = try await Self.makeLedger(ledger.path)
        let result = try await Spend.run("report", "--data", ledger.path, "--by", "agent", "--json")
        #expect(result.status == 0, "\(result.error)")
        let object = try json(result.output)
        #expect(Set(object.keys) == ["as_of", "clock", "seq", "head_hash", "rows", "total_cost_nanos"])
        #expect(object["clock"] as? String == "recorded")
        #expect(object["seq"] as? Int == 5)
        #expect(object["head_hash"] as? String == events.last!.hash.description)
        #expect(object["total_cost_nanos"] as? Int == 3_750_000_000)
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows.map { $0["key"] as? String } == ["b", "a", ""])
        let a = rows[1]
        #expect(a["cost_nanos"] as? Int == 1_500_000_000 && a["cost_usd"] as? String == "1.5")
        #expect(a["calls"] as? Int == 2 && a["input_tokens"] as? Int == 1200 && a["output_tokens"] as? Int == 300)
        #expect(a["tool_calls"] as? Int == 2 && a["retries"] as? Int == 0)
        #expect(rows[0]["retries"] as? Int == 1)
        #expect(Set(a.keys) == [
            "key", "cost_nanos", "cost_usd", "calls", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens",
            "tool_calls", "retries",
        ])
    }

    @Test func reportAt_isWhatTheLedgerKnewThen_andOccurredIncludesLateEvents() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        let events = try await Self.makeLedger(ledger.path)
        let recorded = try json(try await Spend.run("report", "--data", ledger.path, "--by", "agent", "--at", Self.at(5).rfc3339, "--json").output)
        #expect(recorded["as_of"] as? String == Self.at(5).rfc3339)
        #expect(recorded["seq"] as? Int == 3)
        #expect(recorded["head_hash"] as? String == events[2].hash.description)
        #expect(recorded["total_cost_nanos"] as? Int == 3_000_000_000)

        // By minute 0.5 only the late charge had occurred, though the ledger learnt of it at minute 10.
        let occurred = try json(
            try await Spend.run("report", "--data", ledger.path, "--by", "agent", "--at", "2026-01-01T00:00:30Z", "--occurred", "--json").output)
        #expect(occurred["clock"] as? String == "occurred")
        #expect(occurred["seq"] as? Int == 5)
        #expect(occurred["total_cost_nanos"] as? Int == 500_000_000)
        #expect((occurred["rows"] as? [[String: Any]])?.map { $0["key"] as? String } == ["a"])

        let before = try json(try await Spend.run("report", "--data", ledger.path, "--by", "model", "--at", Self.at(0).rfc3339, "--json").output)
        #expect(before["seq"] as? Int == 0 && (before["rows"] as? [Any])?.isEmpty == true)
        #expect(before["head_hash"] as? String == String(repeating: "0", count: 64))
    }

    @Test func reportText_isAnAlignedTableWithTotals() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        _ = try await Self.makeLedger(ledger.path)
        let result = try await Spend.run("report", "--data", ledger.path, "--by", "model")
        #expect(result.status == 0, "\(result.error)")
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = try #require(lines.first { $0.hasPrefix("MODEL") })
        #expect(header.contains("COST (USD)") && header.contains("RETRIES"))
        let body = lines.filter { $0.hasPrefix("gpt-4o-mini") || $0.hasPrefix("(none)") || $0.hasPrefix("TOTAL") }
        #expect(body.count == 3)
        #expect(body.contains { $0.hasPrefix("TOTAL") && $0.contains("3.75") })
        // Columns align: every row is as long as the header's cost column ends.
        let costEnd = header.range(of: "COST (USD)")!.upperBound.utf16Offset(in: header)
        for line in body {
            let cost = line.firstRange(of: #/[0-9]+\.[0-9]+/#)!
            #expect(cost.upperBound.utf16Offset(in: line) == costEnd, "\(line)")
        }
    }

    @Test func report_readsALedgerThatAnotherProcessIsWriting() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        _ = try await Self.makeLedger(ledger.path)
        let writer = try LMDBEventStore.open(at: ledger.path)
        defer { writer.close() }
        let result = try await Spend.run("report", "--data", ledger.path, "--by", "vendor", "--json")
        #expect(result.status == 0, "\(result.error)")
        let rows = try #require(try json(result.output)["rows"] as? [[String: Any]])
        #expect(rows.map { $0["key"] as? String } == [""])
    }

    static let badReports: [[String]] = [
        ["--by", "planet"],
        ["--by", "agent", "--at", "yesterday"],
        ["--by", "agent", "--at", "2026-13-01T00:00:00Z"],
        ["--by", "agent", "--at", "2200-01-01T00:00:00Z"],
        ["--by", "agent", "--at", "2999-01-01T00:00:00Z"],
        ["--at", "2026-01-01T00:00:00Z"],
    ]

    @Test(arguments: badReports)
    func badReportInput_exitsTwoWithAClearError(arguments: [String]) async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        _ = try await Self.makeLedger(ledger.path)
        let result = try await Spend.run(["report", "--data", ledger.path] + arguments)
        #expect(result.status == 2, "\(arguments): \(result.output) \(result.error)")
        #expect(!result.error.isEmpty)
        if arguments.contains("planet") { #expect(result.error.contains("unknown dimension 'planet'")) }
        if arguments.contains(where: { $0.hasPrefix("2200") || $0.hasPrefix("2999") }) { #expect(result.error.contains("in the future")) }
        #expect(result.output.isEmpty)
    }

    @Test func report_onAMissingLedger_orADirectoryThatIsNotOne_exitsTwo() async throws {
        let missing = try await Spend.run("report", "--data", "/nonexistent/spendledger/ledger", "--by", "agent")
        #expect(missing.status == 2 && missing.error.contains("no ledger"))
        let directory = try Scratch()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.path + "/notes.txt"))
        let notALedger = try await Spend.run("audit", "--data", directory.path, "--at", "2026-01-01T00:00:00Z")
        #expect(notALedger.status == 2 && notALedger.error.contains("not a SpendLedger ledger"))
    }

    @Test func audit_isIdenticalWhenRerun_andItsCheckHolds() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        let events = try await Self.makeLedger(ledger.path)
        let file = ledger.path + "-statement.json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let time = Self.at(10).rfc3339
        let first = try await Spend.run("audit", "--data", ledger.path, "--at", time, "--json", "--out", file)
        #expect(first.status == 0, "\(first.error)")
        let statement = try json(first.output)
        #expect(statement["seq"] as? Int == 5)
        #expect(statement["chain_hash"] as? String == events.last!.hash.description)
        #expect(try String(contentsOfFile: file, encoding: .utf8) == first.output)
        let budgets = try #require(statement["budgets"] as? [[String: Any]])
        #expect(budgets.first?["id"] as? String == "acme-monthly")
        #expect(budgets.first?["spent_nanos"] as? Int == 3_750_000_000)
        #expect(budgets.first?["percent"] as? String == "37.50")
        let views = try #require(statement["views"] as? [[String: Any]])
        #expect(views.count == 9)
        #expect(views.first { $0["name"] as? String == "spend.by_agent" }?["total_cost_nanos"] as? Int == 3_750_000_000)

        let second = try await Spend.run("audit", "--data", ledger.path, "--at", time, "--json")
        #expect(second.output == first.output)
        let text = try await Spend.run("audit", "--data", ledger.path, "--at", time)
        #expect(text.status == 0 && text.output.contains("chain hash   \(events.last!.hash)"))

        let check = try await Spend.run("audit", "--data", ledger.path, "--check", file)
        #expect(check.status == 0, "\(check.output) \(check.error)")
        #expect(check.output.hasPrefix("HOLDS"))
        #expect(check.output.contains("recomputed over 5 events"))
    }

    @Test func auditCheck_failsWithExitOne_whenTheStatementOrTheLogChanged() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        _ = try await Self.makeLedger(ledger.path)
        let file = ledger.path + "-statement.json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try await Spend.run("audit", "--data", ledger.path, "--at", Self.at(5).rfc3339, "--out", file).status == 0)

        let original = try String(contentsOfFile: file, encoding: .utf8)
        let edited = original.replacingOccurrences(of: "\"total_cost_nanos\":3000000000", with: "\"total_cost_nanos\":3000000001")
        #expect(edited != original)
        try edited.write(toFile: file, atomically: true, encoding: .utf8)
        let figure = try await Spend.run("audit", "--data", ledger.path, "--check", file)
        #expect(figure.status == 1)
        #expect(figure.output.contains("DOES NOT HOLD") && figure.output.contains("total_cost_nanos"))

        try original.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try Surgery.replace(in: ledger.path + "/data.mdb", "original-charge", with: "altered--charge") >= 1)
        let tampered = try await Spend.run("audit", "--data", ledger.path, "--check", file, "--json")
        #expect(tampered.status == 1)
        let object = try json(tampered.output)
        #expect(object["holds"] as? Bool == false && object["first_bad_seq"] as? Int == 3)
    }

    static let badAudits: [[String]] = [
        [],
        ["--at", "2026-01-01T00:00:00Z", "--check", "x.json"],
        ["--check", "/nonexistent/statement.json"],
        ["--at", "noon"],
        ["--at", "2999-01-01T00:00:00Z"],
    ]

    @Test(arguments: badAudits)
    func badAuditInput_exitsTwo(arguments: [String]) async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        _ = try await Self.makeLedger(ledger.path)
        let result = try await Spend.run(["audit", "--data", ledger.path] + arguments)
        #expect(result.status == 2, "\(arguments): \(result.output) \(result.error)")
        #expect(!result.error.isEmpty)
    }

    @Test func auditCheck_ofAFileThatIsNoStatement_exitsTwo() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        _ = try await Self.makeLedger(ledger.path)
        let file = ledger.path + "-other.json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"{"hello":"world"}"#.utf8).write(to: URL(fileURLWithPath: file))
        let result = try await Spend.run("audit", "--data", ledger.path, "--check", file)
        #expect(result.status == 2)
        #expect(result.error.contains("not a SpendLedger audit statement"))
    }
}

/// A clock the CLI tests set by hand (the test kit's `ManualClock` is not a dependency here).
final class ManualClockForCLI: LedgerClock, Sendable {
    private let current: Mutex<LedgerTime>
    init(_ time: LedgerTime) { current = Mutex(time) }
    var time: LedgerTime {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
    func now() -> LedgerTime { time }
}

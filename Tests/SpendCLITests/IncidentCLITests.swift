import Foundation
import LedgerCore
import LedgerLMDB
import Testing

/// Whole command lines of `spend incident` against a ledger written here event by event (the
/// payloads spelt out as `LedgerDomain` stores them), so every figure is known.
@Suite struct IncidentCLITests {
    /// 2026-01-01T00:00:00Z plus minutes and seconds.
    static func at(_ minute: Int64, _ second: Int64 = 0) -> LedgerTime {
        LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000 + minute * 60_000_000_000 + second * 1_000_000_000)
    }

    static func event(_ type: String, stream: String, agent: String, run: String?, at time: LedgerTime, json: String)
        -> ProposedEvent
    {
        ProposedEvent(
            stream: stream, type: type, occurredAt: time, dimensions: Dimensions(agent: agent, task: "t", run: run),
            payload: Array(json.utf8))
    }

    /// A `usage.recorded` event (binary `UsageRecorded` schema 1) on `run:<run>`.
    static func charge(_ nanos: Int64, agent: String, run: String, model: String, retry: Int32 = 0, at time: LedgerTime)
        -> ProposedEvent
    {
        var payload: [UInt8] = [0, 0, 0, 0]
        func put<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { payload.append(contentsOf: $0) } }
        put(Int32(0))  // tool calls
        put(retry)
        put(Int32(0))  // latency
        put(nanos)
        for tokens: Int64 in [900, 100, 0, 0, 0] { put(tokens) }
        return ProposedEvent(
            stream: "run:" + run, type: "usage.recorded", occurredAt: time,
            dimensions: Dimensions(agent: agent, task: "t", run: run, model: model), payloadEncoding: .binary, payload: payload)
    }

    /// Agent `looper`: run r1 from minute 0 with one $0.001 call a minute, a sub-agent run r2 at
    /// minute 1 ($0.002), a retry loop of twenty $0.01 calls a minute from minute 5, a recorded
    /// velocity alert at 6:00 and a halt at 7:30. Agent `calm` spends $0.005 at minute 2.
    static func makeLedger(_ path: String, recordAlert: Bool = true) async throws {
        let clock = ManualClockForCLI(at(0))
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(clock: clock))
        defer { store.close() }
        var events: [ProposedEvent] = [
            event("run.started", stream: "run:r1", agent: "looper", run: "r1", at: at(0), json: #"{"caps":{},"tags":{}}"#),
            event(
                "run.started", stream: "run:r2", agent: "looper", run: "r2", at: at(1),
                json: #"{"caps":{},"parent_run":"r1","tags":{}}"#),
            charge(2_000_000, agent: "looper", run: "r2", model: "small", at: at(1, 30)),
            charge(5_000_000, agent: "calm", run: "c1", model: "small", at: at(2)),
        ]
        for minute: Int64 in 0..<5 {
            events.append(charge(1_000_000, agent: "looper", run: "r1", model: "small", at: at(minute, 10)))
        }
        var retry: Int32 = 0
        for minute: Int64 in 5...7 {
            for second in stride(from: Int64(0), to: 60, by: 3) where minute < 7 || second < 30 {
                retry += 1
                events.append(
                    charge(10_000_000, agent: "looper", run: "r1", model: "large", retry: retry, at: at(minute, second)))
            }
        }
        if recordAlert {
            events.append(
                event(
                    "anomaly.detected", stream: "detector:velocity", agent: "looper", run: "r1", at: at(6),
                    json: #"{"action":"halt_run","evidence":"20 calls a minute against 1","kind":"velocity","score_milli":900}"#))
        }
        events.append(
            event(
                "run.halted", stream: "run:r1", agent: "looper", run: "r1", at: at(7, 30),
                json: #"{"cause":"detector:velocity","reason":"runaway"}"#))
        for event in events.sorted(by: { $0.occurredAt < $1.occurredAt }) {
            clock.time = event.occurredAt
            try await store.append(event)
        }
    }

    static func head(_ path: String) throws -> LogHead {
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        return try store.head()
    }

    func object(_ output: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "not JSON: \(output)")
    }

    @Test func incidentJSON_tellsTheStoryWithTheDocumentedKeys() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Self.makeLedger(ledger.path)
        let before = try Self.head(ledger.path)
        let result = try await Spend.run("incident", "--data", ledger.path, "--agent", "looper", "--json")
        #expect(result.status == 0, "\(result.error)")
        let report = try object(result.output)
        for key in [
            "agent", "run", "from", "to", "first_anomaly_at", "halted_at", "cost_after_first_alert_nanos",
            "cost_after_first_alert_usd",
            "total_cost_nanos", "timeline", "alerts", "actions", "models", "tasks", "runs",
        ] {
            #expect(report[key] != nil, "missing \(key)")
        }
        #expect(report["agent"] as? String == "looper")
        #expect(report["alerts_found_by"] as? String == "log")
        #expect(report["first_anomaly_at"] as? String == "2026-01-01T00:06:00Z")
        #expect(report["halted_at"] as? String == "2026-01-01T00:07:30Z")
        // After 6:00: nineteen loop calls in minute 6 and ten in minute 7, at $0.01.
        #expect(report["cost_after_first_alert_nanos"] as? Int == 290_000_000)
        #expect(report["cost_after_first_alert_usd"] as? String == "0.29")
        // Five calm calls, the sub-agent's call, and 20 + 20 + 10 loop calls.
        #expect(report["total_cost_nanos"] as? Int == 5_000_000 + 2_000_000 + 500_000_000)
        let timeline = try #require(report["timeline"] as? [[String: Any]])
        #expect(timeline.filter { ($0["calls"] as? Int ?? 0) > 0 }.count == 8)
        let runs = try #require(report["runs"] as? [[String: Any]])
        #expect(runs.map { $0["id"] as? String } == ["r1"])
        #expect(runs.first?["status"] as? String == "halted")
        #expect((runs.first?["children"] as? [[String: Any]])?.map { $0["id"] as? String } == ["r2"])
        #expect(try Self.head(ledger.path) == before, "the review writes nothing")
    }

    @Test func incidentHTML_writesOneSelfContainedFile_andTheTextSummary() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Self.makeLedger(ledger.path, recordAlert: false)
        let before = try Self.head(ledger.path)
        let file = ledger.path + "-incident.html"
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await Spend.run("incident", "--data", ledger.path, "--agent", "looper", "--html", file)
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("Incident review of agent looper"))
        #expect(result.output.contains("found by review, not recorded live"))
        #expect(result.output.contains("HTML report: \(file)"))
        let html = try String(contentsOfFile: file, encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && html.contains("<svg"))
        #expect(!html.contains("http://") && !html.contains("https://") && !html.contains("<script"))
        #expect(try Self.head(ledger.path) == before, "the review writes nothing")
    }

    @Test func incident_withAGivenWindowAndRun() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Self.makeLedger(ledger.path)
        let result = try await Spend.run(
            "incident", "--data", ledger.path, "--agent", "looper", "--run", "r2", "--from", "2026-01-01T00:00:00Z", "--to",
            "2026-01-01T00:10:00Z", "--json")
        #expect(result.status == 0, "\(result.error)")
        let report = try object(result.output)
        #expect(report["run"] as? String == "r2" && report["window"] as? String == "given")
        #expect(report["total_cost_nanos"] as? Int == 2_000_000)
        #expect(report["halted_at"] is NSNull)
    }

    static let badInput: [(arguments: [String], mentions: String)] = [
        (["--agent", "nobody"], "agent 'nobody'"),
        (["--agent", "looper", "--run", "r9"], "run 'r9'"),
        (["--agent", "looper", "--from", "yesterday"], "--from"),
        (["--agent", "looper", "--to", "2026-02-30T00:00:00Z"], "--to"),
        (["--agent", "looper", "--from", "2026-01-01T01:00:00Z", "--to", "2026-01-01T00:00:00Z"], "--from"),
        (["--agent", ""], "--agent"),
        (["--json"], "--agent"),
    ]

    @Test(arguments: badInput)
    func badInput_exitsTwoNamingWhatIsWrong(input: (arguments: [String], mentions: String)) async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Self.makeLedger(ledger.path)
        let before = try Self.head(ledger.path)
        let result = try await Spend.run(["incident", "--data", ledger.path] + input.arguments)
        #expect(result.status == 2, "\(input.arguments): \(result.output) \(result.error)")
        #expect(result.error.contains(input.mentions), "\(result.error)")
        #expect(result.output.isEmpty)
        #expect(try Self.head(ledger.path) == before)
    }

    @Test func incident_onAMissingLedger_exitsTwo() async throws {
        let result = try await Spend.run("incident", "--data", "/nonexistent/spendledger/ledger", "--agent", "a")
        #expect(result.status == 2 && result.error.contains("no ledger"))
    }
}

import Foundation
import LedgerCore
import LedgerDomain
@testable import LedgerProjections
import SpendLedgerTestKit
import Testing

/// `spend report` and `spend audit` as library calls: the documented JSON, exact totals,
/// reproducible statements, and a check that notices a changed log.
@Suite struct ReportTests {
    typealias F = ProjectionFixtures

    @Test func theReportJSON_hasExactlyTheDocumentedKeys_andTotalsExactly() async throws {
        let store = InMemoryEventStore(clock: ManualClock())
        _ = try store.append([
            F.usage(cost: Money(dollars: "0.000372")!, agent: "a", inputTokens: 1200, outputTokens: 300),
            F.usage(cost: Money(dollars: "1.5")!, agent: "b", retry: 1),
            F.usage(cost: Money(nanos: 1), agent: nil),
        ], expecting: [:])
        let result = try await ProjectionEngine(store: store).state(of: SpendByDimension(.agent), asOf: .head)
        let report = SpendReport(dimension: .agent, result: result, asOf: ProjectionFixtures.epoch)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["as_of", "clock", "seq", "head_hash", "rows", "total_cost_nanos"])
        #expect(object["clock"] as? String == "recorded" && object["seq"] as? Int == 3)
        #expect(object["total_cost_nanos"] as? Int == 1_500_372_001)
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows.map { $0["key"] as? String } == ["b", "a", ""])
        #expect(Set(rows[0].keys) == [
            "key", "cost_nanos", "cost_usd", "calls", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens",
            "tool_calls", "retries",
        ])
        #expect(rows[1]["cost_usd"] as? String == "0.000372" && rows[1]["input_tokens"] as? Int == 1200)
        #expect(rows[0]["retries"] as? Int == 1)
        #expect(report.text.contains("TOTAL"))
        #expect(report.text.contains("(none)"))
        #expect(report.text.contains("1.500000000"))
    }

    @Test func anAuditStatement_isIdenticalWithOrWithoutSnapshots_andHoldsWhenChecked() async throws {
        let ledger = try TestLedger(.lmdb)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(400))
        let engine = ledger.engine(snapshotEvery: 64)
        try await engine.register(BuiltinViews.all)
        try await engine.catchUp()
        let events = try await ledger.all()
        let time = events[250].recordedAt
        let statement = try await AuditStatement.make(engine: engine, at: time, ledger: "L")
        let again = try await AuditStatement.make(engine: engine, at: time, ledger: "L", useSnapshots: false)
        #expect(statement.json == again.json)
        #expect(statement.seq == UInt64(events.lastIndex { $0.recordedAt <= time }! + 1))
        #expect(statement.chainHash == events[Int(statement.seq) - 1].hash)
        #expect(statement.text.contains("budgets"))
        // Later appends do not change a statement about the past.
        try await ledger.append(workload.next(50), seed: 9)
        let check = try await AuditStatement.check(statement.json, engine: engine)
        #expect(check.holds, "\(check.differences)")
        #expect(check.eventsVerified == statement.seq)
    }

    @Test func aCheck_namesTheFigureThatDiffers_andTheEventThatWasAltered() async throws {
        let store = InMemoryEventStore(clock: ManualClock())
        _ = try store.append([F.usage(cost: Money(nanos: 10), agent: "a"), F.usage(cost: Money(nanos: 20), agent: "b")], expecting: [:])
        let engine = ProjectionEngine(store: store)
        let time = store.head().recordedAt
        let statement = try await AuditStatement.make(engine: engine, at: time, ledger: "L")
        let edited = statement.json.replacingOccurrences(of: "\"total_cost_nanos\":30", with: "\"total_cost_nanos\":31")
        let figure = try await AuditStatement.check(edited, engine: engine)
        #expect(!figure.holds)
        #expect(figure.differences.contains { $0.contains("views[spend.by_agent].total_cost_nanos") && $0.contains("31") })

        store.corruptStoredByte(seq: 2, offset: 70)
        let tampered = try await AuditStatement.check(statement.json, engine: engine)
        #expect(!tampered.holds && tampered.firstBadSeq == 2)

        await #expect(throws: ProjectionError.self) { try await AuditStatement.check("{\"x\":1}", engine: engine) }
    }
}

/// The report's byte-level JSON writer writes what the core's writer writes.
@Suite struct JSONBytesTests {
    @Test func stringsAndIntegers_matchJSONObjectWriter() {
        for text in ["", "plain", "quote \" and \\ back", "tab\tnew\nline\r", "\u{01}\u{1F}", "ünïcødé ✓ 💸", "/slash"] {
            var mine = JSONBytes()
            mine.beginObject()
            mine.key("k")
            mine.string(text)
            mine.key("n")
            mine.integer(Int64.min)
            mine.key("z")
            mine.integer(0)
            mine.key("u")
            mine.integer(UInt64.max)
            mine.endObject()
            var theirs = JSONObjectWriter()
            theirs.add("k", text)
            theirs.add("n", Int64.min)
            theirs.add("z", 0)
            theirs.add("u", UInt64.max)
            #expect(mine.text == theirs.finish())
        }
    }
}

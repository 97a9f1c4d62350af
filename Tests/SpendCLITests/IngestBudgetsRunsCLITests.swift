import Foundation
import Testing

/// `spend ingest`, `spend budgets` and `spend runs`, as whole command lines.
@Suite struct IngestBudgetsRunsCLITests {
    static let goodRecords = """
        {"id":"00000000-0000-7000-8000-000000000001","time":"2026-11-20T01:02:03.123Z","agent":"agent-7","run":"run-42","client":"acme","model":"gpt-4o-mini","input_tokens":1200,"output_tokens":300}
        {"id":"00000000-0000-7000-8000-000000000002","time":"2026-11-20T01:03:00Z","agent":"agent-7","run":"run-42","client":"acme","kind":"tool","cost_usd":"0.25","tool_calls":1,"region":"eu"}
        {"id":"00000000-0000-7000-8000-000000000003","time":"2026-11-20T01:04:00Z","agent":"agent-8","client":"globex","model":"gpt-4o","prompt_tokens":1000,"cached_tokens":200,"completion_tokens":100}

        """

    static func write(_ text: String, in directory: Scratch, name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        let path = directory.path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func ingest_appendsPricedRecords_andIsIdempotentOnASecondRun() async throws {
        let directory = try Scratch()
        defer { directory.remove() }
        let input = try Self.write(Self.goodRecords, in: directory, name: "usage.jsonl")
        let ledger = directory.path + "/ledger"
        let first = try await Spend.run("ingest", "--data", ledger, input, "--json")
        #expect(first.status == 0, "\(first.error)")
        let summary = try Self.json(first.output)
        #expect(summary["records_read"] as? Int == 3)
        #expect(summary["records_appended"] as? Int == 3)
        #expect(summary["duplicates_skipped"] as? Int == 0)
        // gpt-4o-mini: 1200 × 1.5e-07 + 300 × 6e-07 = 0.00036; tool: 0.25;
        // gpt-4o: 800 × 2.5e-06 + 200 × 1.25e-06 + 100 × 1e-05 = 0.00325.
        #expect(summary["total_cost_nanos"] as? Int == 360_000 + 250_000_000 + 3_250_000)
        let second = try Self.json(try await Spend.run("ingest", "--data", ledger, input, "--json").output)
        #expect(second["records_appended"] as? Int == 0)
        #expect(second["duplicates_skipped"] as? Int == 3)
        let stats = try Self.json(try await Spend.run("stats", "--data", ledger, "--json").output)
        #expect(stats["events"] as? Int == 3)
    }

    @Test func ingest_withAnInvalidRecord_exitsOne_namesLineAndField_andAppendsNothing() async throws {
        let directory = try Scratch()
        defer { directory.remove() }
        let bad = Self.goodRecords + #"{"time":"2026-11-20T01:05:00Z","agent":"agent-7","model":"gpt-4o","input_tokens":-3}"# + "\n"
        let input = try Self.write(bad, in: directory, name: "usage.jsonl")
        let ledger = directory.path + "/ledger"
        let result = try await Spend.run("ingest", "--data", ledger, input)
        #expect(result.status == 1)
        #expect(result.error.contains("line 4"), "\(result.error)")
        #expect(result.error.contains("input_tokens"))
        #expect(result.error.contains("nothing was appended"))
        let stats = try Self.json(try await Spend.run("stats", "--data", ledger, "--json").output)
        #expect(stats["events"] as? Int == 0)
    }

    @Test func ingest_skipInvalid_appendsTheValidRecords_andWritesTheOthersWithReasons() async throws {
        let directory = try Scratch()
        defer { directory.remove() }
        let bad = Self.goodRecords + #"{"time":"yesterday","agent":"agent-7","cost_usd":"1"}"# + "\n"
            + #"{"time":"2026-11-20T01:05:00Z","agent":"a","model":"no-such-model","input_tokens":5}"# + "\n"
        let input = try Self.write(bad, in: directory, name: "usage.jsonl")
        let rejects = directory.path + "/rejects.jsonl"
        let result = try await Spend.run("ingest", "--data", directory.path + "/ledger", input, "--skip-invalid", rejects, "--json")
        #expect(result.status == 0, "\(result.error)")
        #expect(try Self.json(result.output)["records_appended"] as? Int == 3)
        let lines = try String(contentsOfFile: rejects, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try Self.json(String(lines[0]))
        #expect(first["line"] as? Int == 4)
        #expect(first["field"] as? String == "time")
        let second = try Self.json(String(lines[1]))
        #expect(second["field"] as? String == "model")
    }

    @Test func ingest_readsStandardInput() async throws {
        let directory = try Scratch()
        defer { directory.remove() }
        let input = try Self.write(Self.goodRecords, in: directory, name: "usage.jsonl")
        let result = try await Spend.run(["ingest", "--data", directory.path + "/ledger", "-", "--json"], stdin: input)
        #expect(result.status == 0, "\(result.error)")
        #expect(try Self.json(result.output)["records_appended"] as? Int == 3)
    }

    @Test func budgetsSetAndList_showSpendAndCrossedThresholds() async throws {
        let directory = try Scratch()
        defer { directory.remove() }
        let ledger = directory.path + "/ledger"
        let input = try Self.write(Self.goodRecords, in: directory, name: "usage.jsonl")
        try await Spend.run("ingest", "--data", ledger, input)
        let set = try await Spend.run("budgets", "set", "--data", ledger, "--id", "acme", "--scope", "client:acme", "--limit", "0.40")
        #expect(set.status == 0, "\(set.error)")
        let list = try Self.json(try await Spend.run("budgets", "list", "--data", ledger, "--json").output)
        let budget = try #require((list["budgets"] as? [[String: Any]])?.first)
        #expect(budget["id"] as? String == "acme")
        #expect(budget["spent_nanos"] as? Int == 250_360_000)
        #expect(budget["limit_nanos"] as? Int == 400_000_000)
        #expect(budget["thresholds_crossed"] as? [Int] == [50])
        let bad = try await Spend.run("budgets", "set", "--data", ledger, "--id", "x", "--scope", "galaxy:far", "--limit", "1")
        #expect(bad.status == 2)
        #expect(bad.error.contains("--scope"))
    }

    @Test func runsListAndShow_describeEachRun() async throws {
        let directory = try Scratch()
        defer { directory.remove() }
        let ledger = directory.path + "/ledger"
        let input = try Self.write(Self.goodRecords, in: directory, name: "usage.jsonl")
        try await Spend.run("ingest", "--data", ledger, input)
        let list = try Self.json(try await Spend.run("runs", "list", "--data", ledger, "--json").output)
        let runs = try #require(list["runs"] as? [[String: Any]])
        #expect(runs.map { $0["id"] as? String } == ["run-42"])
        #expect(runs[0]["spent_nanos"] as? Int == 250_360_000)
        #expect(runs[0]["agent"] as? String == "agent-7")
        let show = try await Spend.run("runs", "show", "--data", ledger, "run-42")
        #expect(show.status == 0)
        #expect(show.output.contains("usage.recorded"))
        let missing = try await Spend.run("runs", "show", "--data", ledger, "run-0")
        #expect(missing.status == 2)
    }
}

import Foundation
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

/// Whole command lines of the `spend` binary, with their output and exit codes.
@Suite struct SpendCLITests {
    @Test func demo_runsTheFleet_haltsTheRunaway_andWritesTheIncidentReport() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        let html = ledger.path + "-incident.html"
        defer { try? FileManager.default.removeItem(atPath: html) }
        let first = try await Spend.run("demo", "--data", ledger.path, "--hours", "3", "--seed", "7", "--html", html)
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.contains("spend by agent"))
        #expect(first.output.contains("Alerts raised live by the detectors"))
        #expect(first.output.contains("its next call is refused"))
        #expect(first.output.contains("hash chain and indexes intact"))
        #expect(FileManager.default.contents(atPath: html).map { String(decoding: $0, as: UTF8.self).contains("<svg") } == true)
        let verify = try await Spend.run("verify", "--data", ledger.path)
        #expect(verify.status == 0)

        // Again on the same directory: an earlier demo's ledger is replaced, not appended to.
        let second = try await Spend.run("demo", "--data", ledger.path, "--hours", "1", "--seed", "7", "--html", html)
        #expect(second.status == 0, "\(second.error)")
    }

    @Test func demo_refusesADirectoryItDidNotMake() async throws {
        let directory = try Scratch()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: directory.path + "/notes.txt"))
        let result = try await Spend.run("demo", "--data", directory.path, "--hours", "1")
        #expect(result.status == 2)
        #expect(result.error.contains("was not made by `spend demo`"))
        #expect(FileManager.default.contents(atPath: directory.path + "/notes.txt") == Data("keep me".utf8))
    }

    @Test func ingest_appendsTheSampleRecords_andIsIdempotentOnASecondRun() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        let first = try await Spend.run("ingest", "--data", ledger.path, "Fixtures/sample-usage.jsonl")
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.contains("records appended    240"))
        let second = try await Spend.run("ingest", "--data", ledger.path, "Fixtures/sample-usage.jsonl")
        #expect(second.status == 0)
        #expect(second.output.contains("records appended    0"))
        #expect(second.output.contains("duplicates skipped  240"))
        #expect(try await Spend.run("verify", "--data", ledger.path).output.contains("OK: 240 events"))

        // Ingest leaves the built-in views checkpointed at the head, so reports start from there.
        let store = try LMDBEventStore.open(at: ledger.path, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let checkpoint = try LMDBSnapshotStore(store).checkpoint(named: "spend.by_agent")
        #expect(checkpoint?.seq == 240)
    }

    @Test func statsJSON_hasExactlyTheDocumentedKeys() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Spend.run("ingest", "--data", ledger.path, "Fixtures/sample-usage.jsonl")
        let result = try await Spend.run("stats", "--data", ledger.path, "--json")
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["events", "head_seq", "head_hash", "first_recorded_at", "last_recorded_at", "bytes"])
        #expect(object["events"] as? Int == 240)
        #expect(object["head_seq"] as? Int == 240)
        #expect((object["head_hash"] as? String)?.count == 64)
        #expect(LedgerTime(rfc3339: object["first_recorded_at"] as? String ?? "") != nil)
        #expect((object["bytes"] as? Int ?? 0) > 0)
    }

    @Test func verify_exitsZeroWhenIntact_andOneWithTheFirstBadSeqWhenBytesWereAltered() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Spend.run("ingest", "--data", ledger.path, "Fixtures/sample-usage.jsonl")
        let intact = try await Spend.run("verify", "--data", ledger.path)
        #expect(intact.status == 0)
        #expect(intact.output.contains("OK: 240 events"))

        // Add one nano-dollar to the third event's stored cost (bytes 16..<24 of its payload).
        let third = try #require(try await Spend.run("export", "--data", ledger.path, "--from", "3", "--to", "3").output.split(separator: "\n").first)
        let object3 = try #require(try JSONSerialization.jsonObject(with: Data(third.utf8)) as? [String: Any])
        let payload = try #require(Data(base64Encoded: object3["payload_base64"] as? String ?? ""))
        let cost = Array(payload[16..<24])
        var altered = cost
        altered[0] = altered[0] &+ 1
        let changed = try Surgery.replace(in: ledger.path + "/data.mdb", cost, with: altered)
        #expect(changed >= 1)

        let tampered = try await Spend.run("verify", "--data", ledger.path)
        #expect(tampered.status == 1)
        #expect(tampered.output.contains("first bad seq 3"))
        let json = try await Spend.run("verify", "--data", ledger.path, "--json")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect(object["intact"] as? Bool == false)
        #expect(object["first_bad_seq"] as? Int == 3)
    }

    static let usageErrorCommandLines: [[String]] = [
        ["verify"],
        ["verify", "--data"],
        ["stats", "--data", "/nonexistent/spendledger/ledger"],
        ["verify", "--no-such-option"],
        ["export", "--data", "/tmp", "--from", "5", "--to", "2"],
        ["demo", "--data", "/nonexistent/spendledger/demo", "--hours", "0"],
        ["demo", "--data", "/nonexistent/spendledger/demo", "--hours", "25"],
        ["demo", "--data", "/nonexistent/spendledger/demo", "--day", "yesterday"],
        ["demo", "--data", "/nonexistent/spendledger/demo", "--day", "2999-01-01"],
    ]

    @Test(arguments: usageErrorCommandLines)
    func usageErrors_exitTwo(arguments: [String]) async throws {
        let result = try await Spend.run(arguments)
        #expect(result.status == 2, "\(arguments): \(result.error)")
        #expect(!result.error.isEmpty)
    }

    @Test func verify_onADirectoryThatIsNotALedger_exitsTwoAndSaysSo() async throws {
        let directory = try Scratch()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        try Data("not a ledger".utf8).write(to: URL(fileURLWithPath: directory.path + "/notes.txt"))
        let result = try await Spend.run("verify", "--data", directory.path)
        #expect(result.status == 2)
        #expect(result.error.contains("not a SpendLedger ledger"))
    }

    @Test func export_writesOneWholeEnvelopePerLine_forTheRequestedRange() async throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try await Spend.run("ingest", "--data", ledger.path, "Fixtures/sample-usage.jsonl")
        let all = try await Spend.run("export", "--data", ledger.path)
        #expect(all.status == 0)
        #expect(all.output.split(separator: "\n").count == 240)
        let range = try await Spend.run("export", "--data", ledger.path, "--from", "10", "--to", "12")
        let lines = range.output.split(separator: "\n")
        #expect(lines.count == 3)
        for (offset, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["seq"] as? Int == 10 + offset)
            for key in ["stream", "version", "id", "recorded_at", "occurred_at", "type", "schema", "dimensions", "payload", "payload_base64", "hash"] {
                #expect(object[key] != nil, "missing \(key)")
            }
            let payload = try #require(object["payload"] as? [String: Any])
            #expect((payload["cost_nanos"] as? Int ?? 0) > 0)
            #expect(payload["kind"] as? String == "llm")
        }
    }
}

/// Runs the `spend` binary built beside the test bundle.
enum Spend {
    struct Result {
        var status: Int32
        var output: String
        var error: String
    }

    @discardableResult
    static func run(_ arguments: String...) async throws -> Result { try await run(arguments) }

    @discardableResult
    static func run(_ arguments: [String], stdin: String? = nil) async throws -> Result {
        let binary = try binary()
        return try await offPool { try runBlocking(binary, arguments, stdin: stdin) }
    }

    private static func runBlocking(_ binary: String, _ arguments: [String], stdin: String?) throws -> Result {
        let process = Process()
        if let stdin { process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: stdin)) }
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: packageRoot())
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
            error: String(decoding: error, as: UTF8.self))
    }

    static func binary() throws -> String {
        var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("spend").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw LedgerError(.notFound, "the spend binary is not built beside the tests")
    }

    /// The package root (this file is Tests/SpendCLITests/SpendCLITests.swift).
    static func packageRoot() -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }
}

/// A ledger path under the temporary directory that does not exist yet.
struct Scratch {
    let path = FileManager.default.temporaryDirectory.path + "/spendledger-cli-" + UUID().uuidString.prefix(8)
    init() throws {}
    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum Surgery {
    /// Replaces every occurrence of `text` with a same-length `replacement`; returns the count.
    static func replace(in path: String, _ text: String, with replacement: String) throws -> Int {
        try replace(in: path, Array(text.utf8), with: Array(replacement.utf8))
    }

    /// Replaces every occurrence of the bytes `needle` with same-length `replacement`; returns the count.
    static func replace(in path: String, _ needle: [UInt8], with replacement: [UInt8]) throws -> Int {
        precondition(needle.count == replacement.count)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        var count = 0
        var index = 0
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0], bytes[index..<(index + needle.count)].elementsEqual(needle) {
                bytes.replaceSubrange(index..<(index + needle.count), with: replacement)
                count += 1
                index += needle.count
            } else {
                index += 1
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return count
    }
}

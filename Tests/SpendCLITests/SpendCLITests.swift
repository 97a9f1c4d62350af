import Foundation
import LedgerCore
import LedgerLMDB
import Testing

/// Whole command lines of the `spend` binary, with their output and exit codes.
@Suite struct SpendCLITests {
    @Test func demo_appendsTheSampleRecords_andIsIdempotentOnASecondRun() throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        let first = try Spend.run("demo", "--data", ledger.path)
        #expect(first.status == 0, "\(first.error)")
        #expect(first.output.contains("appended 240 events, 0 already in the ledger"))
        #expect(first.output.contains("verified: chain and indexes intact"))
        let second = try Spend.run("demo", "--data", ledger.path)
        #expect(second.status == 0)
        #expect(second.output.contains("appended 0 events, 240 already in the ledger"))
    }

    @Test func statsJSON_hasExactlyTheDocumentedKeys() throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try Spend.run("demo", "--data", ledger.path)
        let result = try Spend.run("stats", "--data", ledger.path, "--json")
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["events", "head_seq", "head_hash", "first_recorded_at", "last_recorded_at", "bytes"])
        #expect(object["events"] as? Int == 240)
        #expect(object["head_seq"] as? Int == 240)
        #expect((object["head_hash"] as? String)?.count == 64)
        #expect(LedgerTime(rfc3339: object["first_recorded_at"] as? String ?? "") != nil)
        #expect((object["bytes"] as? Int ?? 0) > 0)
    }

    @Test func verify_exitsZeroWhenIntact_andOneWithTheFirstBadSeqWhenBytesWereAltered() throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try Spend.run("demo", "--data", ledger.path)
        let intact = try Spend.run("verify", "--data", ledger.path)
        #expect(intact.status == 0)
        #expect(intact.output.contains("OK: 240 events"))

        // The third sample record costs 0.0008925 USD; make it cost 0.0008926 in the stored bytes.
        let third = try #require(try Spend.run("export", "--data", ledger.path, "--from", "3", "--to", "3").output.split(separator: "\n").first)
        let cost = try #require(third.firstRange(of: #/"cost_usd":"([0-9.]+)"/#).map { String(third[$0]).dropFirst(12).dropLast() })
        var altered = Array(cost)
        altered[altered.count - 1] = altered.last == "9" ? "8" : Character(UnicodeScalar(altered.last!.asciiValue! + 1))
        let changed = try Surgery.replace(in: ledger.path + "/data.mdb", "\"cost_usd\":\"\(cost)\"", with: "\"cost_usd\":\"\(String(altered))\"")
        #expect(changed >= 1)

        let tampered = try Spend.run("verify", "--data", ledger.path)
        #expect(tampered.status == 1)
        #expect(tampered.output.contains("first bad seq 3"))
        let json = try Spend.run("verify", "--data", ledger.path, "--json")
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
    ]

    @Test(arguments: usageErrorCommandLines)
    func usageErrors_exitTwo(arguments: [String]) throws {
        let result = try Spend.run(arguments)
        #expect(result.status == 2, "\(arguments): \(result.error)")
        #expect(!result.error.isEmpty)
    }

    @Test func verify_onADirectoryThatIsNotALedger_exitsTwoAndSaysSo() throws {
        let directory = try Scratch()
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        try Data("not a ledger".utf8).write(to: URL(fileURLWithPath: directory.path + "/notes.txt"))
        let result = try Spend.run("verify", "--data", directory.path)
        #expect(result.status == 2)
        #expect(result.error.contains("not a SpendLedger ledger"))
    }

    @Test func export_writesOneWholeEnvelopePerLine_forTheRequestedRange() throws {
        let ledger = try Scratch()
        defer { ledger.remove() }
        try Spend.run("demo", "--data", ledger.path)
        let all = try Spend.run("export", "--data", ledger.path)
        #expect(all.status == 0)
        #expect(all.output.split(separator: "\n").count == 240)
        let range = try Spend.run("export", "--data", ledger.path, "--from", "10", "--to", "12")
        let lines = range.output.split(separator: "\n")
        #expect(lines.count == 3)
        for (offset, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["seq"] as? Int == 10 + offset)
            for key in ["stream", "version", "id", "recorded_at", "occurred_at", "type", "schema", "dimensions", "payload", "hash"] {
                #expect(object[key] != nil, "missing \(key)")
            }
            let payload = try #require(object["payload"] as? [String: Any])
            #expect(payload["agent"] as? String == (object["dimensions"] as? [String: Any])?["agent"] as? String)
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
    static func run(_ arguments: String...) throws -> Result { try run(arguments) }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try binary())
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
        precondition(text.utf8.count == replacement.utf8.count)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let needle = Array(text.utf8)
        var count = 0
        var index = 0
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0], bytes[index..<(index + needle.count)].elementsEqual(needle) {
                bytes.replaceSubrange(index..<(index + needle.count), with: replacement.utf8)
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

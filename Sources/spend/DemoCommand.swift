import ArgumentParser
import Foundation
import LedgerCore
import LedgerLMDB

/// The main job until the full demo lands: append the sample usage records in `Fixtures/` to an
/// LMDB ledger in a local folder, verify it, and print its stats. Running it again appends nothing
/// new: every record has an id, so every event is a duplicate the second time.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Append the sample usage records to a local LMDB ledger and print its stats.")

    @Option(help: "The ledger directory.") var data = "spend-demo-ledger"
    @Option(help: "The usage records to append (JSON lines).") var records: String?

    func run() async throws {
        let path = try records ?? FixtureLocator.path("sample-usage.jsonl")
        let events = try SampleUsage.events(fromFile: path)
        let store = try LMDBEventStore.open(at: data)
        defer { store.close() }
        var appended = 0
        var duplicates = 0
        for start in stride(from: 0, to: events.count, by: 1_000) {
            let result = try await store.append(Array(events[start..<min(start + 1_000, events.count)]))
            appended += result.appendedCount
            duplicates += result.duplicateCount
        }
        printLine("read \(events.count) usage records from \(path)")
        printLine("appended \(appended) events, \(duplicates) already in the ledger")
        let report = try store.verify()
        printLine(report.isIntact ? "verified: chain and indexes intact" : "VERIFY FAILED: \(report.firstFailure!)")
        printLine("")
        printLine("ledger \(data)")
        printStatistics(try store.statistics(), json: false)
    }
}

/// Finds a file in `Fixtures/`: beside the working directory, else beside the package the binary
/// was built in (`.build/<config>/spend` -> the package root).
enum FixtureLocator {
    static func path(_ name: String) throws -> String {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            FileManager.default.currentDirectoryPath + "/Fixtures/" + name,
            executable.deletingLastPathComponent().appendingPathComponent("../../../Fixtures/\(name)").standardized.path,
            executable.deletingLastPathComponent().appendingPathComponent("../../Fixtures/\(name)").standardized.path,
        ]
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw ValidationError("cannot find Fixtures/\(name); pass --records FILE")
        }
        return found
    }
}

/// Usage records (the design's JSONL format) as `usage.recorded` events on their run's stream.
/// The whole record is kept as the event's JSON payload.
enum SampleUsage {
    static func events(fromFile path: String) throws -> [ProposedEvent] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path)")
        }
        var events: [ProposedEvent] = []
        for (offset, line) in data.split(separator: 0x0A).enumerated() where !line.isEmpty {
            let lineNumber = offset + 1
            guard let record = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                throw LedgerError(.invalidEvent, "\(path):\(lineNumber): not a JSON object", field: "line")
            }
            func text(_ key: String) -> String? { record[key] as? String }
            guard let agent = text("agent") else {
                throw LedgerError(.invalidEvent, "\(path):\(lineNumber): agent is missing", field: "agent")
            }
            guard let timeText = text("time"), let time = LedgerTime(rfc3339: timeText) else {
                throw LedgerError(.invalidEvent, "\(path):\(lineNumber): time is missing or not RFC 3339", field: "time")
            }
            let id = text("id").flatMap { EventID($0) } ?? EventID.generate(at: time)
            events.append(
                ProposedEvent(
                    id: id, stream: "run:" + (text("run") ?? "agent-\(agent)"), type: "usage.recorded",
                    occurredAt: time,
                    dimensions: Dimensions(
                        agent: agent, client: text("client"), project: text("project"), task: text("task"),
                        run: text("run"), model: text("model"), vendor: text("vendor")),
                    payload: Array(line)))
        }
        return events
    }
}

import ArgumentParser
import Foundation
import LedgerCore
import LedgerLMDB
import LedgerProjections

/// `spend report`: spend grouped by one dimension, now or at any past instant, on either clock.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Spend by agent, model, client, project, task or vendor, now or as of any instant.",
        discussion: """
            Without --at: everything in the ledger now. --at T (RFC 3339): what the ledger knew at T \
            (the events recorded at or before T). --occurred: the events that occurred at or before T \
            (or all of them, without --at), including those recorded late, as the ledger knows them now. \
            A charge with no value for the dimension is listed under the key "" ("(none)" in the table). \
            The ledger is opened read-only; snapshots make any instant cheap, and a snapshot that cannot \
            be trusted is reported on standard error and replaced by a replay.
            """)

    @OptionGroup var location: LedgerLocation
    @Option(help: "The dimension to group by: agent, model, client, project, task or vendor.") var by: String
    @Option(help: "The instant, RFC 3339 (2026-11-20T01:02:03Z). Default: now.") var at: String?
    @Flag(help: "Group the events that occurred by --at (as known now), not those recorded by then.") var occurred = false
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        _ = try Self.dimension(by)
        if let at { _ = try InstantArgument.parse(at, option: "--at", now: SystemClock().now()) }
    }

    static func dimension(_ name: String) throws -> SpendDimension {
        guard let dimension = SpendDimension(rawValue: name) else {
            let known = SpendDimension.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("unknown dimension '\(name)' for --by; use one of \(known)")
        }
        return dimension
    }

    func run() async throws {
        let now = SystemClock().now()
        let dimension = try Self.dimension(by)
        let time = try at.map { try InstantArgument.parse($0, option: "--at", now: now) }
        let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let engine = ProjectionEngine(store: store, snapshots: LMDBSnapshotStore(store))
        let point: AsOf = occurred ? .occurred(time ?? .distantFuture) : time.map { .recorded($0) } ?? .head
        let result = try await engine.state(of: SpendByDimension(dimension), asOf: point)
        reportNotes(result.rejectedSnapshots)
        let report = SpendReport(dimension: dimension, result: result, asOf: time ?? now)
        if report.overflowed {
            throw LedgerError(.limitExceeded, "a total of the \(dimension) view overflowed 64-bit nano-dollars; the figures cannot be shown exactly")
        }
        if report.unreadableEvents > 0 {
            printError("warning: \(report.unreadableEvents) charge(s) could not be read and are not counted")
        }
        printLine(json ? report.json : report.text)
    }
}

/// Says on standard error which snapshots were refused (the figures came from a replay instead).
func reportNotes(_ rejections: [SnapshotRejection]) {
    for rejection in rejections.prefix(5) { printError("note: \(rejection); replayed the log instead") }
    if rejections.count > 5 { printError("note: \(rejections.count - 5) more snapshots refused") }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Instants given on the command line: RFC 3339, not in the future.
enum InstantArgument {
    static func parse(_ text: String, option: String, now: LedgerTime) throws -> LedgerTime {
        guard let time = LedgerTime(rfc3339: text) else {
            // Valid RFC 3339 beyond what 64-bit nanoseconds hold (after 2262) is still in the future.
            let formatter = ISO8601DateFormatter()
            if let date = formatter.date(from: text), date.timeIntervalSince1970 > Double(now.nanosecondsSinceEpoch) / 1e9 {
                throw ValidationError("\(option) \(text) is in the future (it is now \(now.rfc3339)); the ledger cannot know it yet")
            }
            throw ValidationError("\(option) '\(text)' is not an RFC 3339 date-time (such as 2026-11-20T01:02:03Z)")
        }
        guard time <= now else {
            throw ValidationError("\(option) \(time.rfc3339) is in the future (it is now \(now.rfc3339)); the ledger cannot know it yet")
        }
        return time
    }
}

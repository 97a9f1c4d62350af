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

import ArgumentParser
import Foundation
import LedgerCore
import LedgerIncidents
import LedgerLMDB

/// `spend incident`: the story of an incident, reconstructed from the log without changing it.
struct IncidentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incident",
        abstract:
            "Reconstruct an incident: spend per minute against the baseline, alerts, the halt, and what it cost after the first warning.",
        discussion: """
            Reviews one agent (--run: one run and the sub-agent runs it started) on the occurred clock. \
            Without --from/--to the window runs from an hour before the first anomaly (not before the agent's \
            first activity) to its last activity; with no anomaly, over its whole activity. Alerts are the \
            anomaly.detected events of the log; when the log has none for the agent, the detectors are run over \
            history and their alerts are marked as found by the review. The ledger is opened read-only: \
            nothing is written to it. An agent or run the ledger does not know exits 2, as does a bad time \
            or --from after --to. See Docs/IncidentReview.md.
            """)

    @OptionGroup var location: LedgerLocation
    @Option(help: "The agent to review.") var agent: String
    @Option(name: .customLong("run"), help: "Only this run of the agent, with its sub-agent runs.") var runID: String?
    @Option(help: "Start of the window, RFC 3339 (occurred clock). Default: an hour before the first anomaly.") var from: String?
    @Option(help: "End of the window, RFC 3339 (occurred clock), inclusive. Default: the last activity.") var to: String?
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "Also write the report to this file as one self-contained HTML page.") var html: String?

    func validate() throws {
        guard !agent.isEmpty else { throw ValidationError("--agent must name an agent") }
        if runID?.isEmpty == true { throw ValidationError("--run must name a run") }
        _ = try window()
    }

    /// The parsed --from and --to, checked to be in order.
    private func window() throws -> (from: LedgerTime?, to: LedgerTime?) {
        let now = SystemClock().now()
        let start = try from.map { try InstantArgument.parse($0, option: "--from", now: now) }
        let end = try to.map { try InstantArgument.parse($0, option: "--to", now: now) }
        if let start, let end, start > end {
            throw ValidationError("--from \(start.rfc3339) is after --to \(end.rfc3339)")
        }
        return (start, end)
    }

    func run() async throws {
        let (start, end) = try window()
        let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let query = IncidentQuery(agent: agent, run: runID, from: start, to: end)
        let report = try await IncidentReport.build(store: store, query: query)
        if let html {
            do {
                try Data(report.html().utf8).write(to: URL(fileURLWithPath: html), options: .atomic)
            } catch {
                throw LedgerError(.storage, "cannot write the HTML report to \(html): \(error.localizedDescription)")
            }
        }
        printLine(json ? report.json() : report.text())
        if let html, !json { printLine("\nHTML report: \(html)") }
    }
}

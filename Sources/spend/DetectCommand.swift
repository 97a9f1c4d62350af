import ArgumentParser
import LedgerCore
import LedgerDetectors
import LedgerLMDB

/// `spend detect`: the runaway detectors over history, with any thresholds, writing nothing.
struct DetectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Run the runaway detectors over the ledger's history without writing anything.",
        discussion: """
            Replays every event through the detectors (velocity, spike, retry storm, loop, burn rate, \
            mix shift) with the default thresholds or those given, and lists the alerts whose time \
            (the occurred clock) is within --from and --to. History before --from still warms the \
            baselines. The ledger is opened read-only: a reviewer can ask what other settings would \
            have caught. See Docs/Detectors.md.
            """)

    @OptionGroup var location: LedgerLocation
    @Option(help: "Only alerts at or after this instant, RFC 3339 (2026-11-20T01:00:00Z).") var from: String?
    @Option(help: "Only alerts at or before this instant, RFC 3339.") var to: String?
    @Option(help: "Velocity: alert at K times the agent's baseline (default 5).") var velocityMultiplier: Double?
    @Option(help: "Velocity: spend per minute, in USD, below which spend never alerts (default 0.25).")
    var velocityFloor: String?
    @Option(help: "Velocity: consecutive anomalous minutes needed (default 3).") var sustainMinutes: Int?
    @Option(help: "Spike: a run costing X times the agent's median run (default 10).") var spikeMultiple: Double?
    @Option(help: "Retry storm: more than N retries on one task of a run (default 3).") var retryLimit: Int?
    @Option(help: "Loop: N near-identical model calls in one run within 10 minutes (default 12).") var loopRepeats: Int?
    @Flag(help: "Print one JSON object: {\"alerts\":[...]}.") var json = false

    func validate() throws {
        _ = try detectorConfiguration()
        _ = try window()
    }

    func run() async throws {
        let configuration = try detectorConfiguration()
        let (from, to) = try window()
        let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let alerts = try await DetectorSet.scan(store, configuration: configuration, from: from, to: to)
        printLine(json ? AlertListing.json(alerts) : AlertListing.text(alerts))
    }

    /// The defaults with every option given applied; a bad value names its option.
    func detectorConfiguration() throws -> DetectorConfiguration {
        var configuration = DetectorConfiguration.default
        if let velocityMultiplier {
            guard velocityMultiplier > 0, velocityMultiplier.isFinite else {
                throw ValidationError("--velocity-multiplier must be a number greater than 0, got \(velocityMultiplier)")
            }
            configuration.velocity.multiplier = velocityMultiplier
        }
        if let velocityFloor {
            guard let floor = Money(dollars: velocityFloor), floor >= .zero else {
                throw ValidationError(
                    "--velocity-floor must be an amount of USD per minute (such as 0.25), got '\(velocityFloor)'")
            }
            configuration.velocity.costPerMinuteFloor = floor
        }
        if let sustainMinutes {
            guard sustainMinutes >= 1 else {
                throw ValidationError("--sustain-minutes must be at least 1, got \(sustainMinutes)")
            }
            configuration.velocity.sustainMinutes = sustainMinutes
        }
        if let spikeMultiple {
            guard spikeMultiple > 0, spikeMultiple.isFinite else {
                throw ValidationError("--spike-multiple must be a number greater than 0, got \(spikeMultiple)")
            }
            configuration.spike.multiple = spikeMultiple
        }
        if let retryLimit {
            guard retryLimit >= 0 else { throw ValidationError("--retry-limit cannot be negative, got \(retryLimit)") }
            configuration.retryStorm.limit = retryLimit
        }
        if let loopRepeats {
            guard loopRepeats >= 2 else { throw ValidationError("--loop-repeats must be at least 2, got \(loopRepeats)") }
            configuration.loop.repeats = loopRepeats
        }
        if let problem = configuration.validationProblem() { throw ValidationError(problem) }
        return configuration
    }

    private func window() throws -> (from: LedgerTime?, to: LedgerTime?) {
        let start = try from.map { try Self.instant($0, option: "--from") }
        let end = try to.map { try Self.instant($0, option: "--to") }
        if let start, let end, start > end {
            throw ValidationError("--from \(start.rfc3339) is after --to \(end.rfc3339)")
        }
        return (start, end)
    }

    private static func instant(_ text: String, option: String) throws -> LedgerTime {
        guard let time = LedgerTime(rfc3339: text) else {
            throw ValidationError("\(option) '\(text)' is not an RFC 3339 date-time (such as 2026-11-20T01:02:03Z)")
        }
        return time
    }
}

/// How `spend detect` prints alerts.
enum AlertListing {
    /// `{"alerts":[{"agent","run","kind","at","score","evidence","action"}]}`; `run` is null when
    /// the alert names none, `agent` is "" for budget and fleet alerts, `score` has three decimals.
    static func json(_ alerts: [Alert]) -> String {
        let list = alerts.map { alert in
            var object = JSONObjectWriter()
            object.add("agent", alert.agent)
            object.add("run", alert.run)
            object.add("kind", alert.kind.rawValue)
            object.add("at", alert.at.rfc3339)
            object.addRaw("score", score(alert.scoreMilli))
            object.add("evidence", alert.evidence)
            object.add("action", alert.action.rawValue)
            return object.finish()
        }
        var object = JSONObjectWriter()
        object.addArray("alerts", list)
        return object.finish()
    }

    /// An aligned table, then the count.
    static func text(_ alerts: [Alert]) -> String {
        guard !alerts.isEmpty else { return "no alerts" }
        let header = ["AT", "KIND", "AGENT", "RUN", "SCORE", "ACTION", "EVIDENCE"]
        let rows = alerts.map {
            [
                $0.at.rfc3339, $0.kind.rawValue, $0.agent.isEmpty ? "-" : $0.agent, $0.run ?? "-", score($0.scoreMilli),
                $0.action.rawValue, $0.evidence,
            ]
        }
        var widths = header.map(\.count)
        for row in rows { for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                column == cells.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        var lines = [line(header)]
        lines += rows.map(line)
        lines.append("\(alerts.count) alert\(alerts.count == 1 ? "" : "s")")
        return lines.joined(separator: "\n")
    }

    /// Thousandths as a decimal number with three places (`0.873`, `1.000`).
    static func score(_ milli: Int) -> String {
        let fraction = String(milli % 1000)
        return "\(milli / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
}

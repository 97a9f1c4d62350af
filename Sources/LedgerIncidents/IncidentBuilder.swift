public import LedgerCore
public import LedgerDetectors
import LedgerDomain

extension IncidentReport {
    /// How far before the first anomaly the default window starts.
    public static let defaultLeadNanoseconds: Int64 = 3_600_000_000_000

    /// Reviews `query` against the log as it is now.
    ///
    /// Reads the log twice, streaming (``EventStore/events(from:through:)``), both times up to the
    /// head read at the start, so concurrent appends do not change the result. The first pass runs
    /// the detectors (for the baseline of every minute, and for the alerts when the log has none
    /// recorded), finds the runs under review and their sub-agent runs, the alerts and actions, and
    /// the span of activity that sets the default window; the second sums the charges in the window.
    /// Memory grows with the minutes, runs, models and tasks of the agent under review, not with
    /// the log. Writes nothing.
    ///
    /// Throws ``LedgerError/Code/notFound`` when the log has no event of `query.agent`, or no run
    /// `query.run` of that agent, and ``LedgerError/Code/invalidEvent`` when `query.from` is after
    /// `query.to`.
    public static func build(
        store: any EventStore, query: IncidentQuery, detectors: DetectorConfiguration = .default
    ) async throws -> IncidentReport {
        if let from = query.from, let to = query.to, from > to {
            throw LedgerError(.invalidEvent, "the window starts (\(from.rfc3339)) after it ends (\(to.rfc3339))", field: "from")
        }
        let head = try await store.head().seq
        var survey = IncidentSurvey(query: query, detectors: detectors)
        try await forEachEvent(in: store, through: head) { try survey.observe($0) }
        survey.finish()
        try survey.check()

        let alertSource: AlertSource = survey.recordedAlerts.isEmpty ? .review : .log
        let allAlerts = (alertSource == .log ? survey.recordedAlerts : survey.reviewAlerts)
            .filter { survey.scope.owns(alertAgent: $0.agent, run: $0.alert.run) }
            .map(\.alert)
            .sorted { ($0.at, $0.seq ?? .max) < ($1.at, $1.seq ?? .max) }
        let (from, to, window) = survey.window(alerts: allAlerts)

        let alerts = allAlerts.filter { from <= $0.at && $0.at <= to }
        let actions = survey.actions.filter { from <= $0.at && $0.at <= to }.sorted { ($0.at, $0.seq) < ($1.at, $1.seq) }
        let firstAnomalyAt = alerts.first?.at
        let halt = actions.first { $0.stops && $0.at >= (firstAnomalyAt ?? .distantPast) }

        let scope = survey.scope
        let avoidable = firstAnomalyAt.map { alertAt in
            AvoidableSpend(
                after: alertAt, through: halt?.at ?? to,
                runs: halt.flatMap { $0.kind == .runHalted ? $0.run.map(scope.subtree(of:)) : nil })
        }
        var tally = IncidentTally(from: from, to: to, avoidable: avoidable)
        try await forEachEvent(in: store, through: head) { event in
            guard event.type == UsageRecorded.type, scope.includesCharge(event) else { return }
            try tally.add(event, usage: try event.decode(as: UsageRecorded.self))
        }

        return IncidentReport(
            agent: query.agent, run: query.run, from: from, to: to, window: window, seq: head, alertSource: alertSource,
            timeline: tally.timeline(samples: survey.samples), alerts: alerts, actions: actions, halt: halt,
            costAfterFirstAlert: tally.costAfterFirstAlert, totalCost: tally.total, calls: tally.calls,
            retries: tally.retries, models: IncidentTally.lines(tally.models), tasks: IncidentTally.lines(tally.tasks),
            runs: scope.tree(from: from, to: to, tally: tally.runs))
    }
}

/// Every event `1...head` in `seq` order, in bounded memory.
private func forEachEvent(
    in store: some EventStore, through head: UInt64, _ body: (RecordedEvent) throws -> Void
) async throws {
    guard head > 0 else { return }
    for try await event in store.events(from: 1, through: head) { try body(event) }
}

extension LedgerTime {
    /// The start of the minute holding this instant.
    var minuteStart: LedgerTime {
        let minute: Int64 = 60_000_000_000
        let ns = nanosecondsSinceEpoch
        let floor = ns >= 0 ? ns / minute : (ns - (minute - 1)) / minute
        return LedgerTime(nanosecondsSinceEpoch: floor * minute)
    }

    /// This instant moved by `nanoseconds`, saturating at the ends of time.
    func moved(by nanoseconds: Int64) -> LedgerTime {
        LedgerTime(nanosecondsSinceEpoch: nanosecondsSinceEpoch.addingClamped(nanoseconds))
    }
}

extension Int64 {
    fileprivate func addingClamped(_ other: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }
}

/// The run an event is about: the `run:` stream it is on, else its `run` dimension.
func runID(of event: RecordedEvent) -> String? {
    if event.stream.hasPrefix("run:") { return String(event.stream.dropFirst(4)) }
    return event.dimensions.run
}

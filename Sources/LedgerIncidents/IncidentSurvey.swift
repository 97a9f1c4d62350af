import LedgerCore
import LedgerDetectors
import LedgerDomain

/// The first pass of a review: runs the detectors over the whole log, and finds what is under
/// review (runs, alerts, actions) and the span of its activity.
struct IncidentSurvey {
    /// An alert with the agent it was raised for, kept until the scope is complete.
    struct FoundAlert {
        var agent: String?
        var alert: IncidentAlert
    }

    let query: IncidentQuery
    private(set) var scope: IncidentScope
    private var detectors: DetectorSet
    /// The velocity detector's closed minutes for the agent, by minute start.
    private(set) var samples: [LedgerTime: MinuteSample] = [:]
    /// `anomaly.detected` events of the log that may be about what is under review.
    private(set) var recordedAlerts: [FoundAlert] = []
    /// What the detectors find replaying the log, for a log that recorded no alert.
    private(set) var reviewAlerts: [FoundAlert] = []
    private(set) var actions: [IncidentAction] = []
    private var agentSeen = false
    private var firstActivity: LedgerTime?
    private var lastActivity: LedgerTime?
    private var eventsSinceDrain = 0

    init(query: IncidentQuery, detectors configuration: DetectorConfiguration) {
        self.query = query
        scope = IncidentScope(agent: query.agent, run: query.run)
        detectors = DetectorSet(configuration: configuration, recordMinutes: true)
    }

    mutating func observe(_ event: RecordedEvent) throws {
        keep(detectors.observe(event))
        eventsSinceDrain += 1
        if eventsSinceDrain >= 1024 { drainMinutes() }
        let agent = query.agent
        if event.dimensions.agent == agent { agentSeen = true }
        switch event.type {
        case UsageRecorded.type:
            guard scope.includesCharge(event) else { return }
            scope.charged(event)
            active(at: event.occurredAt)
        case RunStarted.type:
            guard let run = runID(of: event) else { return }
            let started = try event.decode(as: RunStarted.self)
            if scope.started(run, agent: event.dimensions.agent, parent: started.parentRun, at: event.occurredAt) {
                active(at: event.occurredAt)
            }
        case RunHalted.type:
            guard let run = runID(of: event), scope.isStarted(run) || run == query.run else { return }
            let halted = try event.decode(as: RunHalted.self)
            scope.halted(run, at: event.occurredAt)
            actions.append(
                IncidentAction(
                    at: event.occurredAt, kind: .runHalted, run: run, cause: halted.cause, reason: halted.reason,
                    seq: event.seq))
            active(at: event.occurredAt)
        case RunCompleted.type:
            guard let run = runID(of: event), scope.isStarted(run) else { return }
            scope.completed(run, outcome: try event.decode(as: RunCompleted.self).outcome.rawValue, at: event.occurredAt)
            active(at: event.occurredAt)
        case AgentPaused.type, AgentResumed.type:
            guard event.stream == SpendStreams.wallet(agent) else { return }
            let paused = event.type == AgentPaused.type
            let reason = paused ? try event.decode(as: AgentPaused.self).reason : try event.decode(as: AgentResumed.self).reason
            actions.append(
                IncidentAction(
                    at: event.occurredAt, kind: paused ? .agentPaused : .agentResumed, run: nil, cause: nil, reason: reason,
                    seq: event.seq))
            active(at: event.occurredAt)
        case AnomalyDetected.type where event.stream.hasPrefix(SpendStreams.detector("")):
            let run = event.dimensions.run
            guard event.dimensions.agent == agent || run.map(scope.isStarted) == true || run == query.run else { return }
            let anomaly = try event.decode(as: AnomalyDetected.self)
            let alert = IncidentAlert(
                at: event.occurredAt, kind: anomaly.kind, run: run, scoreMilli: anomaly.scoreMilli,
                evidence: anomaly.evidence, action: anomaly.action, seq: event.seq)
            recordedAlerts.append(FoundAlert(agent: event.dimensions.agent, alert: alert))
        default:
            break
        }
    }

    /// Closes the detectors once the whole log is read.
    mutating func finish() {
        keep(detectors.finish())
        drainMinutes()
    }

    /// Throws when the query names an agent or run the log does not know.
    func check() throws {
        guard agentSeen else {
            throw LedgerError(.notFound, "the ledger has no events of agent '\(query.agent)'", field: "agent")
        }
        guard let run = query.run else { return }
        switch scope.requestedRunAgent {
        case .some(let owner) where owner != query.agent:
            throw LedgerError(
                .notFound, "run '\(run)' is a run of agent '\(owner ?? "")', not of '\(query.agent)'", field: "run")
        case .none where scope.runs[run] == nil:
            throw LedgerError(.notFound, "the ledger has no run '\(run)' of agent '\(query.agent)'", field: "run")
        default:
            break
        }
    }

    /// The window to review: the given bounds, with a missing one chosen as
    /// ``IncidentReport/WindowChoice`` says.
    func window(alerts: [IncidentAlert]) -> (from: LedgerTime, to: LedgerTime, choice: IncidentReport.WindowChoice) {
        if let from = query.from, let to = query.to { return (from, to, .given) }
        let lastAlert = alerts.last?.at
        let first = firstActivity ?? alerts.first?.at ?? query.from ?? query.to ?? .epoch
        let last = max(lastActivity ?? first, lastAlert ?? first)
        let to = query.to ?? max(last, query.from ?? last)
        if let from = query.from { return (from, to, .wholeHistory) }
        let firstAnomaly = alerts.first { $0.at <= to }?.at
        var from = first.minuteStart
        if let firstAnomaly {
            from = max(from, firstAnomaly.moved(by: -IncidentReport.defaultLeadNanoseconds).minuteStart)
        }
        return (min(from, to), to, firstAnomaly == nil ? .wholeHistory : .aroundFirstAnomaly)
    }

    private mutating func active(at time: LedgerTime) {
        firstActivity = min(firstActivity ?? time, time)
        lastActivity = max(lastActivity ?? time, time)
    }

    private mutating func keep(_ alerts: [Alert]) {
        for alert in alerts where alert.agent == query.agent || alert.run.map(scope.isStarted) == true {
            let found = IncidentAlert(
                at: alert.at, kind: alert.kind.rawValue, run: alert.run, scoreMilli: alert.scoreMilli,
                evidence: alert.evidence, action: alert.action.rawValue, seq: nil)
            reviewAlerts.append(FoundAlert(agent: alert.agent, alert: found))
        }
    }

    private mutating func drainMinutes() {
        eventsSinceDrain = 0
        for (agent, sample) in detectors.drainClosedMinutes() where agent == query.agent {
            samples[sample.minute] = sample
        }
    }
}

public import LedgerCore
import LedgerDomain

/// Every detector, fed the log in `seq` order: a pure, deterministic fold.
///
/// **Guarantees.** The same events in the same order with the same configuration give the same
/// alerts, in the same order, with the same scores and evidence — live, in a replay, in
/// `spend detect`. Time is the occurred clock (`occurredAt`, when the spending happened), in
/// minute buckets. The set ignores its own output (`anomaly.detected`) and what policies append
/// (`run.halted`, `agent.paused`), so alerting never feeds back into detection. Each incident
/// alerts once: once per run and kind for run detectors, once per streak for velocity, once per
/// period for a budget, once per rise for a model's share. Memory is bounded by
/// ``TrackingLimits``: completed runs are forgotten, and beyond the limits the least recently
/// active entries are.
///
/// Late events (an `occurredAt` before a minute the detector already judged) are handled as
/// `Docs/Detectors.md` describes: velocity does not count them (its minutes are judged as they
/// unfold), every other detector does, at their occurred time.
public struct DetectorSet: Sendable {
    public let configuration: DetectorConfiguration
    private let recordMinutes: Bool
    private var work: WorkDirectory
    private var agents: [String: AgentState] = [:]
    private var fleetScores = ScoreMemory()
    private var burnRate: BurnRateDetector
    private var mixShift: MixShiftDetector
    private var closedMinutes: [(agent: String, sample: MinuteSample)] = []

    /// - Parameter recordMinutes: keep every closed minute of every agent for
    ///   ``drainClosedMinutes()`` (what incident reports chart).
    public init(configuration: DetectorConfiguration = .default, recordMinutes: Bool = false) {
        self.configuration = configuration
        self.recordMinutes = recordMinutes
        work = WorkDirectory(runsMax: configuration.tracking.runsMax)
        burnRate = BurnRateDetector(configuration.burnRate)
        mixShift = MixShiftDetector(configuration.mixShift, keysMax: configuration.tracking.keysMax)
    }

    /// Feeds one event (in `seq` order) and returns the alerts it caused, in a fixed order.
    public mutating func observe(_ event: RecordedEvent) -> [Alert] {
        switch event.type {
        case UsageRecorded.type:
            guard let usage = UsageFields(event) else { return [] }
            return observeUsage(event, usage)
        case RunStarted.type:
            work.runStarted(event)
        case RunCompleted.type:
            if let completed = work.runCompleted(event) {
                agents[completed.agent]?.spike.runCompleted(
                    cost: completed.cost, excluded: completed.alerted.contains(.spike), configuration.spike)
            }
        case BudgetDefined.type, BudgetPeriodStarted.type:
            burnRate.observeBudgetEvent(event)
        default:
            break  // anomaly.detected, run.halted, agent.paused, reservations, ...: not signals
        }
        return []
    }

    /// Ends the history: closes every open minute (in agent order). Returns the alerts closing
    /// caused (none with the built-in detectors, which judge a minute as it unfolds).
    public mutating func finish() -> [Alert] {
        for agent in agents.keys.sorted() {
            if let sample = agents[agent]!.velocity.closeOpenMinute(configuration.velocity), recordMinutes {
                closedMinutes.append((agent, sample))
            }
        }
        return []
    }

    /// The minutes closed since the last drain, per agent, in the order they closed (only minutes
    /// with activity: an agent's idle minutes are not listed). Empty unless `recordMinutes`.
    public mutating func drainClosedMinutes() -> [(agent: String, sample: MinuteSample)] {
        defer { closedMinutes.removeAll(keepingCapacity: true) }
        return closedMinutes
    }

    /// Runs the detectors over the whole log without writing anything, and returns the alerts
    /// whose `at` is in `[from, to]` (nil: unbounded). History before `from` still warms the
    /// baselines, and events recorded after `to` that occurred before it still count.
    public static func scan(
        _ store: any EventStore, configuration: DetectorConfiguration = .default, from: LedgerTime? = nil,
        to: LedgerTime? = nil
    ) async throws -> [Alert] {
        try await scanOpened(store, configuration: configuration, from: from ?? .distantPast, to: to ?? .distantFuture)
    }

    private static func scanOpened(
        _ store: some EventStore, configuration: DetectorConfiguration, from: LedgerTime, to: LedgerTime
    ) async throws -> [Alert] {
        var detectors = DetectorSet(configuration: configuration)
        var alerts: [Alert] = []
        for try await event in store.events(from: 1) {
            for alert in detectors.observe(event) where alert.at >= from && alert.at <= to { alerts.append(alert) }
        }
        for alert in detectors.finish() where alert.at >= from && alert.at <= to { alerts.append(alert) }
        return alerts
    }

    /// How many runs, agents and mix keys the set remembers now (for tests of its bounds).
    var trackedCounts: (runs: Int, agents: Int, mixKeys: Int) { (work.count, agents.count, mixShift.keyCount) }

    // MARK: Usage

    private mutating func observeUsage(_ event: RecordedEvent, _ usage: UsageFields) -> [Alert] {
        let dimensions = event.dimensions
        let agentName = dimensions.agent ?? ""
        let at = event.occurredAt
        let minute = Minute(at)
        var findings: [Finding] = []

        // Run-scoped detectors: spike (the run's own cost), retry storm (the run's task), loop
        // (the run's root: a run and its sub-agent runs are one piece of work).
        let key = dimensions.run.map(WorkKey.run) ?? WorkKey.agent(agentName)
        let recorded = work.record(key, agent: agentName, cost: usage.costNanos, minute: minute)
        let root = recorded.root
        if configuration.spike.enabled, !recorded.spikeRaised,
            let finding = agents[agentName]?.spike.check(runCost: recorded.runCost, configuration.spike),
            work.claim(.spike, for: key)
        {
            findings.append(finding.attributed(agent: agentName, run: key.run, at: at))
        }
        if configuration.retryStorm.enabled, usage.retry > 0,
            let finding = work.checkRetries(key, task: dimensions.task, retry: usage.retry, at: at, configuration.retryStorm),
            work.claim(.retryStorm, for: key)
        {
            findings.append(finding.attributed(agent: agentName, run: key.run, at: at))
        }
        if configuration.loop.enabled,
            let finding = work.checkLoop(
                root, agent: agentName, usage: usage, model: dimensions.model, at: at, configuration.loop),
            work.claim(.loop, for: root)
        {
            findings.append(finding.attributed(agent: agentName, run: root.run, at: at))
        }

        // Agent-scoped: velocity.
        if configuration.velocity.enabled || recordMinutes {
            let outcome = agents[agentName, default: AgentState(configuration.spike)].observeVelocity(
                minute: minute, costNanos: usage.costNanos, isRetry: usage.retry > 0, voteFor: root.run,
                configuration.velocity)
            if recordMinutes, let closed = outcome.closed { closedMinutes.append((agentName, closed)) }
            if findings.contains(where: { $0.kind == .loop || $0.kind == .retryStorm }) {
                agents[agentName]?.velocity.exclude(minute)  // a runaway's minute is no baseline
            }
            if configuration.velocity.enabled, let finding = outcome.finding {
                findings.append(finding.attributed(agent: agentName, run: agents[agentName]?.velocity.suspectRun, at: at))
            }
        } else if agents[agentName] == nil {
            agents[agentName] = AgentState(configuration.spike)
        }
        if agents.count > configuration.tracking.agentsMax { evictAgents() }

        // Fleet-scoped: budgets and the model/vendor mix.
        if configuration.burnRate.enabled {
            burnRate.observeCharge(event, costNanos: usage.costNanos, into: &findings)
        }
        if configuration.mixShift.enabled {
            mixShift.observeCharge(
                model: dimensions.model, vendor: dimensions.vendor, costNanos: usage.costNanos, minute: minute, at: at,
                into: &findings)
        }
        guard !findings.isEmpty else { return [] }
        return findings.map { alert(for: $0, triggeredBy: event.id) }
    }

    /// Turns a finding into an alert: the combined score and the configured (applicable) policy.
    private mutating func alert(for finding: Finding, triggeredBy id: EventID) -> Alert {
        let window = Int64(configuration.scoreWindowMinutes) * Minute.nanoseconds
        let score: Int
        if finding.agent.isEmpty {
            score = fleetScores.combine(finding.kind, severity: finding.severityMilli, at: finding.at, window: window)
        } else {
            score =
                agents[finding.agent, default: AgentState(configuration.spike)].scores.combine(
                    finding.kind, severity: finding.severityMilli, at: finding.at, window: window)
        }
        var action = configuration.policy(for: finding.kind)
        if action == .haltRun, finding.run == nil { action = .notify }
        if action == .pauseAgent, finding.agent.isEmpty { action = .notify }
        return Alert(
            kind: finding.kind, agent: finding.agent, run: finding.run, at: finding.at, scoreMilli: score,
            evidence: finding.evidence, action: action, triggeredBy: id)
    }

    /// Forgets the least recently active quarter of the agents (ties broken by name).
    private mutating func evictAgents() {
        let order = agents.map { ($0.value.lastMinute, $0.key) }.sorted { $0 < $1 }
        for (_, name) in order.prefix(max(1, agents.count / 4)) { agents[name] = nil }
    }
}

/// What one agent's detectors remember.
struct AgentState: Sendable {
    var velocity = VelocityTracker()
    var spike: SpikeHistory
    var scores = ScoreMemory()
    var lastMinute = Minute(index: .min)

    init(_ spike: SpikeConfiguration) { self.spike = SpikeHistory(capacity: spike.historyRuns) }

    mutating func observeVelocity(
        minute: Minute, costNanos: Int64, isRetry: Bool, voteFor run: String?, _ configuration: VelocityConfiguration
    ) -> VelocityTracker.Outcome {
        lastMinute = max(lastMinute, minute)
        return velocity.observe(minute: minute, costNanos: costNanos, isRetry: isRetry, voteFor: run, configuration)
    }
}

/// A detector's raw finding, before it is attributed, scored and given a policy.
struct Finding: Sendable {
    var kind: AlertKind
    /// How far past its threshold the signal was, 0...1000 (see ``AnomalyScore``).
    var severityMilli: Int
    var evidence: String
    var agent = ""
    var run: String?
    var at = LedgerTime.epoch

    init(kind: AlertKind, severityMilli: Int, evidence: String) {
        self.kind = kind
        self.severityMilli = severityMilli
        self.evidence = evidence
    }

    init(kind: AlertKind, severityMilli: Int, evidence: String, agent: String, run: String?, at: LedgerTime) {
        self.init(kind: kind, severityMilli: severityMilli, evidence: evidence)
        self.agent = agent
        self.run = run
        self.at = at
    }

    func attributed(agent: String, run: String?, at: LedgerTime) -> Finding {
        var copy = self
        copy.agent = agent
        copy.run = run
        copy.at = at
        return copy
    }
}

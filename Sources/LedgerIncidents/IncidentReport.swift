public import LedgerCore

/// The story of an incident, reconstructed from the log: what one agent (or run) spent minute by
/// minute against the baseline the velocity detector used, when it was first flagged, every alert
/// and action, when it was stopped, and what it spent after the first warning.
///
/// Built by ``build(store:query:detectors:)`` from the log as it is at one head (``seq``), so the
/// same log and query always give the same report. All times are on the occurred clock; every
/// amount is the exact sum of the charges it counts.
public struct IncidentReport: Sendable, Hashable {
    /// How the review window was chosen.
    public enum WindowChoice: String, Sendable, Hashable {
        /// Both bounds were given.
        case given
        /// A missing bound was chosen around the first anomaly: from an hour before it (not before
        /// the first activity) to the last activity.
        case aroundFirstAnomaly = "around_first_anomaly"
        /// No anomaly: a missing bound was set to the first or last activity.
        case wholeHistory = "whole_history"
    }

    /// Where the alerts of the report come from.
    public enum AlertSource: String, Sendable, Hashable {
        /// `anomaly.detected` events the live detectors appended to the log.
        case log
        /// The log holds none for the agent; the review ran the detectors over the history itself.
        /// These alerts were found by the review, not recorded live: no policy acted on them.
        case review
    }

    public var agent: String
    public var run: String?
    /// The window, inclusive, on the occurred clock.
    public var from: LedgerTime
    public var to: LedgerTime
    public var window: WindowChoice
    /// The log head the review read through.
    public var seq: UInt64
    public var alertSource: AlertSource
    /// One row per minute in the window in which the agent was charged or the velocity detector
    /// closed a minute, in time order. Minutes without either are omitted (they are zero).
    public var timeline: [IncidentMinute]
    /// Every alert in the window, earliest first.
    public var alerts: [IncidentAlert]
    /// Every halt, pause and resume in the window, earliest first.
    public var actions: [IncidentAction]
    /// The halt that ended the incident: the first run halt or agent pause at or after the first
    /// anomaly (with no anomaly, the first one in the window).
    public var halt: IncidentAction?
    /// What stopping at the first warning would have saved: the charges under review that occurred
    /// after the first anomaly (strictly later) and no later than the halt (the window's end without
    /// one), of what the halt stopped: the halted run and its sub-agent runs, or everything under
    /// review for an agent pause or when nothing was stopped. Zero without an anomaly.
    public var costAfterFirstAlert: Money
    public var totalCost: Money
    public var calls: Int
    /// Charges that were retries (a retry number above 0).
    public var retries: Int
    /// Cost per model, most expensive first.
    public var models: [CostLine]
    /// Cost per task, most expensive first.
    public var tasks: [CostLine]
    /// The runs reviewed, as trees: each run with the sub-agent runs it started.
    public var runs: [RunNode]

    public init(
        agent: String, run: String?, from: LedgerTime, to: LedgerTime, window: WindowChoice, seq: UInt64,
        alertSource: AlertSource, timeline: [IncidentMinute], alerts: [IncidentAlert], actions: [IncidentAction],
        halt: IncidentAction?, costAfterFirstAlert: Money, totalCost: Money, calls: Int, retries: Int,
        models: [CostLine], tasks: [CostLine], runs: [RunNode]
    ) {
        self.agent = agent
        self.run = run
        self.from = from
        self.to = to
        self.window = window
        self.seq = seq
        self.alertSource = alertSource
        self.timeline = timeline
        self.alerts = alerts
        self.actions = actions
        self.halt = halt
        self.costAfterFirstAlert = costAfterFirstAlert
        self.totalCost = totalCost
        self.calls = calls
        self.retries = retries
        self.models = models
        self.tasks = tasks
        self.runs = runs
    }

    /// The earliest alert in the window.
    public var firstAnomaly: IncidentAlert? { alerts.first }
    public var firstAnomalyAt: LedgerTime? { firstAnomaly?.at }
    public var haltedAt: LedgerTime? { halt?.at }
}

/// One minute of the timeline: what the reviewed runs were charged in it, and the baseline the
/// velocity detector compared the agent's minute against.
public struct IncidentMinute: Sendable, Hashable {
    /// Start of the minute (occurred clock).
    public var minute: LedgerTime
    public var calls: Int
    public var cost: Money
    public var retries: Int
    /// The agent's baseline spend per minute in effect for this minute; nil when the detector
    /// closed no minute here.
    public var baselineCost: Money?
    public var baselineCalls: Double?
    /// True when the velocity detector judged the minute anomalous.
    public var anomalous: Bool

    public init(
        minute: LedgerTime, calls: Int, cost: Money, retries: Int, baselineCost: Money?, baselineCalls: Double?,
        anomalous: Bool
    ) {
        self.minute = minute
        self.calls = calls
        self.cost = cost
        self.retries = retries
        self.baselineCost = baselineCost
        self.baselineCalls = baselineCalls
        self.anomalous = anomalous
    }

    /// Spend against the baseline in thousandths (5000 is five times the baseline); nil without a
    /// positive baseline.
    public var velocityMilli: Int64? {
        guard let baseline = baselineCost?.nanos, baseline > 0 else { return nil }
        let (product, overflow) = cost.nanos.multipliedReportingOverflow(by: 1000)
        return overflow ? .max : product / baseline
    }
}

/// One detector finding about the reviewed agent or runs.
public struct IncidentAlert: Sendable, Hashable {
    /// When the detector fired (occurred clock).
    public var at: LedgerTime
    /// `velocity`, `spike`, `retry_storm`, `loop`, `burn_rate`, `mix_shift`.
    public var kind: String
    public var run: String?
    /// 0...1000.
    public var scoreMilli: Int
    public var evidence: String
    /// What the policy did: `notify`, `halt_run`, `pause_agent`.
    public var action: String
    /// The `anomaly.detected` event, when the alert was recorded live; nil when the review found it.
    public var seq: UInt64?

    public init(at: LedgerTime, kind: String, run: String?, scoreMilli: Int, evidence: String, action: String, seq: UInt64?) {
        self.at = at
        self.kind = kind
        self.run = run
        self.scoreMilli = scoreMilli
        self.evidence = evidence
        self.action = action
        self.seq = seq
    }

    /// True when the alert is an event of the log (the live detectors raised it).
    public var recorded: Bool { seq != nil }
}

/// Something that stopped or restarted spending: a run halted, the agent paused or resumed.
public struct IncidentAction: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        case runHalted = "run_halted"
        case agentPaused = "agent_paused"
        case agentResumed = "agent_resumed"
    }

    public var at: LedgerTime
    public var kind: Kind
    /// The halted run; nil for an agent pause or resume.
    public var run: String?
    /// For a halt: the cap or policy (`max_cost`, `detector:velocity`, ...).
    public var cause: String?
    public var reason: String
    public var seq: UInt64

    public init(at: LedgerTime, kind: Kind, run: String?, cause: String?, reason: String, seq: UInt64) {
        self.at = at
        self.kind = kind
        self.run = run
        self.cause = cause
        self.reason = reason
        self.seq = seq
    }

    /// True for the actions that stop spending (a halt or a pause).
    public var stops: Bool { kind != .agentResumed }
}

/// What one model or one task cost in the window.
public struct CostLine: Sendable, Hashable {
    /// The model or task name; "" for charges without one.
    public var name: String
    public var calls: Int
    public var cost: Money

    public init(name: String, calls: Int, cost: Money) {
        self.name = name
        self.calls = calls
        self.cost = cost
    }
}

/// A run in the review with the sub-agent runs it started (`RunStarted.parentRun`).
public struct RunNode: Sendable, Hashable {
    public enum Status: Sendable, Hashable {
        case running
        case halted
        case completed(String)

        /// `running`, `halted`, or the outcome of a completed run (`accepted`, `rejected`, `abandoned`).
        public var name: String {
            switch self {
            case .running: "running"
            case .halted: "halted"
            case .completed(let outcome): outcome
            }
        }
    }

    public var id: String
    public var agent: String?
    public var parent: String?
    /// Nil when the log holds charges for the run but no `run.started`.
    public var startedAt: LedgerTime?
    /// The status at the end of the window.
    public var status: Status
    public var haltedAt: LedgerTime?
    /// Charged to this run itself in the window (not to its children).
    public var cost: Money
    public var calls: Int
    public var retries: Int
    public var children: [RunNode]

    public init(
        id: String, agent: String?, parent: String?, startedAt: LedgerTime?, status: Status, haltedAt: LedgerTime?,
        cost: Money, calls: Int, retries: Int, children: [RunNode]
    ) {
        self.id = id
        self.agent = agent
        self.parent = parent
        self.startedAt = startedAt
        self.status = status
        self.haltedAt = haltedAt
        self.cost = cost
        self.calls = calls
        self.retries = retries
        self.children = children
    }

    /// This run's cost plus that of every run below it.
    public var treeCost: Money { children.reduce(cost) { $0 + $1.treeCost } }
}

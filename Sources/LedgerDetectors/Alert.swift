public import LedgerCore

/// What a detector found. The JSON names are the ones `spend detect --json` prints.
public enum AlertKind: String, Sendable, Hashable, Codable, CaseIterable {
    case velocity
    case spike
    case retryStorm = "retry_storm"
    case loop
    case burnRate = "burn_rate"
    case mixShift = "mix_shift"
}

/// What a policy does when a detector fires.
public enum DetectorAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Record the alert as an event; nothing is stopped.
    case notify
    /// Append a run-halted event for the run that fired: its later authorizations are denied.
    case haltRun = "halt_run"
    /// Pause the agent: every run of it is denied until it is resumed.
    case pauseAgent = "pause_agent"
}

/// One finding of a detector: deterministic for a given log prefix and configuration.
///
/// `at` is on the occurred clock (when the spending happened), so replaying history finds the
/// same alert at the same instant however late the events arrived.
public struct Alert: Sendable, Hashable {
    public var kind: AlertKind
    /// The agent the alert is about ("" when the finding is about a budget or the fleet).
    public var agent: String
    /// The run that fired, when there is one.
    public var run: String?
    public var at: LedgerTime
    /// Severity from 0 (nothing) to 1 (certain runaway), rounded to thousandths.
    public var scoreMilli: Int
    /// A human sentence with the numbers that triggered the alert.
    public var evidence: String
    /// What the configured policy does about it.
    public var action: DetectorAction
    /// The log event whose arrival made the detector fire.
    public var triggeredBy: EventID?

    public init(
        kind: AlertKind, agent: String, run: String?, at: LedgerTime, scoreMilli: Int, evidence: String,
        action: DetectorAction, triggeredBy: EventID? = nil
    ) {
        precondition((0...1000).contains(scoreMilli), "a score is between 0 and 1")
        self.kind = kind
        self.agent = agent
        self.run = run
        self.at = at
        self.scoreMilli = scoreMilli
        self.evidence = evidence
        self.action = action
        self.triggeredBy = triggeredBy
    }

    /// The score as a number from 0 to 1.
    public var score: Double { Double(scoreMilli) / 1000 }
}

/// One closed minute of one agent's spending, as the velocity detector saw it: what incident
/// reports chart against the baseline.
public struct MinuteSample: Sendable, Hashable {
    /// Start of the minute (occurred clock).
    public var minute: LedgerTime
    public var costNanos: Int64
    public var calls: Int
    public var retries: Int
    /// The baseline in effect for this minute (before the minute itself was folded in).
    public var baselineCostNanos: Int64
    public var baselineCalls: Double
    /// True when the minute was judged anomalous (and so kept out of the baseline).
    public var anomalous: Bool

    public init(
        minute: LedgerTime, costNanos: Int64, calls: Int, retries: Int, baselineCostNanos: Int64, baselineCalls: Double,
        anomalous: Bool
    ) {
        self.minute = minute
        self.costNanos = costNanos
        self.calls = calls
        self.retries = retries
        self.baselineCostNanos = baselineCostNanos
        self.baselineCalls = baselineCalls
        self.anomalous = anomalous
    }
}

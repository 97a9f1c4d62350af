public import LedgerCore

/// The limits a run may not cross. Nil means no limit.
public struct RunCaps: Hashable, Sendable, Codable {
    public var maxCost: Money?
    public var maxRetries: Int?
    public var maxToolCalls: Int?
    public var maxDurationSeconds: Int?
    public var maxPremiumFallbacks: Int?

    public init(
        maxCost: Money? = nil, maxRetries: Int? = nil, maxToolCalls: Int? = nil, maxDurationSeconds: Int? = nil,
        maxPremiumFallbacks: Int? = nil
    ) {
        self.maxCost = maxCost
        self.maxRetries = maxRetries
        self.maxToolCalls = maxToolCalls
        self.maxDurationSeconds = maxDurationSeconds
        self.maxPremiumFallbacks = maxPremiumFallbacks
    }

    enum CodingKeys: String, CodingKey {
        case maxCost = "max_cost_nanos", maxRetries = "max_retries", maxToolCalls = "max_tool_calls"
        case maxDurationSeconds = "max_duration_seconds", maxPremiumFallbacks = "max_premium_fallbacks"
    }
}

/// A run began: the first event of `run:<id>`. Its dimensions (agent, client, project, task,
/// owner, environment) are in the envelope; sub-agent runs name their `parentRun`.
public struct RunStarted: JSONSpendEvent {
    public static let type = "run.started"
    public var caps: RunCaps
    public var modelRoute: String?
    public var expectedOutcome: String?
    public var parentRun: String?
    public var tags: [String: String]

    public init(
        caps: RunCaps = RunCaps(), modelRoute: String? = nil, expectedOutcome: String? = nil, parentRun: String? = nil,
        tags: [String: String] = [:]
    ) {
        self.caps = caps
        self.modelRoute = modelRoute
        self.expectedOutcome = expectedOutcome
        self.parentRun = parentRun
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case caps, modelRoute = "model_route", expectedOutcome = "expected_outcome", parentRun = "parent_run", tags
    }
}

/// A run crossed a cap (or was stopped by a policy); later authorizations for it are denied.
public struct RunHalted: JSONSpendEvent {
    public static let type = "run.halted"
    /// Which cap or policy (`max_cost`, `max_retries`, `detector:velocity`, ...).
    public var cause: String
    public var reason: String

    public init(cause: String, reason: String) {
        self.cause = cause
        self.reason = reason
    }
}

/// How a run ended.
public enum RunOutcome: String, Sendable, Hashable, Codable, CaseIterable {
    case accepted, rejected, abandoned
}

/// A run ended with an outcome; cost per accepted outcome counts the accepted ones.
public struct RunCompleted: JSONSpendEvent {
    public static let type = "run.completed"
    public var outcome: RunOutcome

    public init(outcome: RunOutcome) { self.outcome = outcome }
}

/// An agent was paused (by a budget action or a detector policy) or resumed.
public struct AgentPaused: JSONSpendEvent {
    public static let type = "agent.paused"
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

public struct AgentResumed: JSONSpendEvent {
    public static let type = "agent.resumed"
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// A correction: a new event that points at the event it corrects and changes its amount.
public struct CorrectionRecorded: JSONSpendEvent {
    public static let type = "correction.recorded"
    public var corrects: String  // the corrected event's id (UUID text)
    public var delta: Money
    public var reason: String

    public init(corrects: EventID, delta: Money, reason: String) {
        self.corrects = corrects.description
        self.delta = delta
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey { case corrects, delta = "delta_nanos", reason }
}

/// A detector found something; what it found is part of the record.
public struct AnomalyDetected: JSONSpendEvent {
    public static let type = "anomaly.detected"
    /// `velocity`, `spike`, `retry_storm`, `loop`, `burn_rate`, `mix_shift`.
    public var kind: String
    /// 0...1000 (thousandths), an integer so replay stays exact.
    public var scoreMilli: Int
    public var evidence: String
    /// `notify`, `halt_run`, `pause_agent`.
    public var action: String

    public init(kind: String, scoreMilli: Int, evidence: String, action: String) {
        self.kind = kind
        self.scoreMilli = scoreMilli
        self.evidence = evidence
        self.action = action
    }

    enum CodingKeys: String, CodingKey { case kind, scoreMilli = "score_milli", evidence, action }
}

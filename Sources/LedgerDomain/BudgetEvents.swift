public import LedgerCore

/// Which charges a budget counts.
public struct BudgetScope: Hashable, Sendable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Every charge.
        case org
        case client, project, agent, model
        /// Charges whose event metadata holds every one of `tags`.
        case tags
    }

    public var kind: Kind
    /// The client, project, agent or model the budget covers; nil for `org` and `tags`.
    public var value: String?
    public var tags: [String: String]

    public init(kind: Kind, value: String? = nil, tags: [String: String] = [:]) {
        self.kind = kind
        self.value = value
        self.tags = tags
    }

    public static let org = BudgetScope(kind: .org)
    public static func client(_ id: String) -> BudgetScope { BudgetScope(kind: .client, value: id) }
    public static func project(_ id: String) -> BudgetScope { BudgetScope(kind: .project, value: id) }
    public static func agent(_ id: String) -> BudgetScope { BudgetScope(kind: .agent, value: id) }
    public static func model(_ id: String) -> BudgetScope { BudgetScope(kind: .model, value: id) }

    /// Whether a charge with these dimensions and metadata counts against this budget.
    public func matches(_ dimensions: Dimensions, metadata: [String: String] = [:]) -> Bool {
        switch kind {
        case .org: true
        case .client: dimensions.client == value
        case .project: dimensions.project == value
        case .agent: dimensions.agent == value
        case .model: dimensions.model == value
        case .tags: tags.allSatisfy { metadata[$0.key] == $0.value }
        }
    }
}

/// How often a budget starts over. A new period is an event; no counter is ever reset.
public enum BudgetPeriod: String, Sendable, Hashable, Codable, CaseIterable {
    case none, day, week, month
}

/// What happens when a threshold is crossed.
public enum ThresholdAction: String, Sendable, Hashable, Codable, CaseIterable {
    case notify
    case pauseNonCritical = "pause_non_critical"
    case pauseAll = "pause_all"
}

/// A budget's definition: scope, period, limit, hard or soft, thresholds and their actions.
public struct BudgetDefinition: Hashable, Sendable, Codable {
    public var scope: BudgetScope
    public var period: BudgetPeriod
    /// An IANA time zone name for day/week/month boundaries; UTC when nil.
    public var timeZone: String?
    public var limit: Money
    /// A hard budget denies authorizations that would exceed it; a soft one only reports.
    public var hard: Bool
    /// Percentages of the limit (default 50, 75, 90, 100), each crossed at most once per period.
    public var thresholds: [Int]
    /// The action for each threshold percentage (absent: notify).
    public var actions: [String: ThresholdAction]

    public init(
        scope: BudgetScope, period: BudgetPeriod = .none, timeZone: String? = nil, limit: Money, hard: Bool = true,
        thresholds: [Int] = [50, 75, 90, 100], actions: [String: ThresholdAction] = [:]
    ) {
        self.scope = scope
        self.period = period
        self.timeZone = timeZone
        self.limit = limit
        self.hard = hard
        self.thresholds = thresholds
        self.actions = actions
    }

    enum CodingKeys: String, CodingKey {
        case scope, period, timeZone = "time_zone", limit = "limit_nanos", hard, thresholds, actions
    }
}

/// A budget was defined (first event of `budget:<id>`) or redefined.
public struct BudgetDefined: JSONSpendEvent {
    public static let type = "budget.defined"
    public var definition: BudgetDefinition
    public init(definition: BudgetDefinition) { self.definition = definition }
}

/// A new budget period began: spend counts from `start` until `end`.
public struct BudgetPeriodStarted: JSONSpendEvent {
    public static let type = "budget.period_started"
    public var start: Int64  // ns since epoch
    public var end: Int64

    public init(start: LedgerTime, end: LedgerTime) {
        self.start = start.nanosecondsSinceEpoch
        self.end = end.nanosecondsSinceEpoch
    }

    enum CodingKeys: String, CodingKey { case start = "start_ns", end = "end_ns" }
}

/// A budget crossed a threshold in its current period (emitted once per threshold per period).
public struct ThresholdCrossed: JSONSpendEvent {
    public static let type = "budget.threshold_crossed"
    public var percent: Int
    public var spent: Money
    public var limit: Money
    public var action: ThresholdAction
    public var periodStart: Int64

    public init(percent: Int, spent: Money, limit: Money, action: ThresholdAction, periodStart: LedgerTime) {
        self.percent = percent
        self.spent = spent
        self.limit = limit
        self.action = action
        self.periodStart = periodStart.nanosecondsSinceEpoch
    }

    enum CodingKeys: String, CodingKey {
        case percent, spent = "spent_nanos", limit = "limit_nanos", action, periodStart = "period_start_ns"
    }
}

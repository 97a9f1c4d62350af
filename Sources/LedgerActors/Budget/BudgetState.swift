public import LedgerCore
public import LedgerDomain

/// A reservation as a budget holds it.
public struct BudgetReservation: Hashable, Sendable {
    public var run: String
    public var amount: Money
    public var expiresAt: LedgerTime
}

/// A budget's state: a fold of its own stream (`budget:<id>`: definition, periods, reservations,
/// releases, thresholds) plus the charges of every usage event its scope matches.
///
/// Deterministic: the same events in the same order give the same state. Spend counts the charges
/// whose `occurredAt` falls in the current period; a new period is an event, and nothing is ever
/// reset in the log — the state of a new period simply starts from its own events.
public struct BudgetState: Hashable, Sendable {
    public var id: String
    public private(set) var version: UInt64 = 0
    public private(set) var definition: BudgetDefinition?
    public private(set) var periodStart = LedgerTime.distantPast
    public private(set) var periodEnd = LedgerTime.distantFuture
    /// Spend per period, keyed by the period's start (ns): charges land in the period their
    /// `occurredAt` falls in, whatever order they are applied in, so live state equals replay.
    public private(set) var spentByPeriod: [Int64: Money] = [:]
    /// Spend since the budget was defined, across all periods.
    public private(set) var spentAllTime = Money.zero
    public private(set) var reservations: [EventID: BudgetReservation] = [:]
    /// Thresholds (percent) already crossed in the current period.
    public private(set) var crossed: Set<Int> = []
    /// Set by a crossed threshold whose action pauses: `pause_all` or `pause_non_critical`.
    public private(set) var pauseAction: ThresholdAction?

    public init(id: String) { self.id = id }

    public var stream: String { SpendStreams.budget(id) }
    public var reserved: Money { reservations.values.reduce(Money.zero) { $0 + $1.amount } }

    /// What is left under the limit: limit − spent − reserved (never below zero).
    public var remaining: Money {
        guard let definition else { return .zero }
        let left = definition.limit - spent - reserved
        return left < .zero ? .zero : left
    }

    /// Folds one event of the budget's own stream.
    public mutating func apply(_ event: RecordedEvent) throws(LedgerError) {
        precondition(event.stream == stream, "a budget state applies only its own stream")
        precondition(event.version == version + 1, "budget \(id) must apply its events in order")
        version = event.version
        switch event.type {
        case BudgetDefined.type:
            let defined = try event.decode(as: BudgetDefined.self).definition
            let redefinedPeriod = definition?.period != defined.period || definition?.timeZone != defined.timeZone
            definition = defined
            if redefinedPeriod { (periodStart, periodEnd) = (.distantPast, .distantFuture) }
        case BudgetPeriodStarted.type:
            let started = try event.decode(as: BudgetPeriodStarted.self)
            periodStart = LedgerTime(nanosecondsSinceEpoch: started.start)
            periodEnd = LedgerTime(nanosecondsSinceEpoch: started.end)
            crossed = []
            pauseAction = nil
        case SpendReserved.type:
            let reserved = try event.decode(as: SpendReserved.self)
            if let reservation = reserved.reservationID {
                reservations[reservation] = BudgetReservation(
                    run: reserved.run, amount: reserved.amount, expiresAt: LedgerTime(nanosecondsSinceEpoch: reserved.expiresAt))
            }
        case SpendReleased.type:
            let released = try event.decode(as: SpendReleased.self)
            if let reservation = released.reservationID { reservations[reservation] = nil }
        case ThresholdCrossed.type:
            let threshold = try event.decode(as: ThresholdCrossed.self)
            crossed.insert(threshold.percent)
            if threshold.action != .notify { pauseAction = threshold.action }
        default:
            break
        }
    }

    /// Forgets every counted charge (before a recount under a new scope).
    mutating func resetCharges() {
        spentByPeriod = [:]
        spentAllTime = .zero
    }

    /// Spend in the current period.
    public var spent: Money { spentByPeriod[periodStart.nanosecondsSinceEpoch] ?? .zero }

    /// Counts a charge this budget's scope matches, in the period its `occurredAt` falls in.
    public mutating func applyCharge(_ cost: Money, occurredAt: LedgerTime) {
        spentAllTime += cost
        guard let start = chargePeriodStart(for: occurredAt) else { return }
        spentByPeriod[start.nanosecondsSinceEpoch, default: .zero] += cost
    }

    /// Counts charges this budget's scope matches, as ``applyCharge(_:occurredAt:)`` one by one
    /// does, with one update of a period's spend per run of charges in the same period.
    mutating func applyCharges(_ charges: [(Money, LedgerTime)]) {
        var start: Int64?
        var sum = Money.zero
        for (cost, occurredAt) in charges {
            spentAllTime += cost
            guard let period = chargePeriodStart(for: occurredAt)?.nanosecondsSinceEpoch else { continue }
            if period == start {
                sum += cost
            } else {
                if let start { spentByPeriod[start, default: .zero] += sum }
                start = period
                sum = cost
            }
        }
        if let start { spentByPeriod[start, default: .zero] += sum }
    }

    /// The start of the period a charge at `occurredAt` counts in; nil without a definition, or
    /// when no period can be computed (the charge then counts only in ``spentAllTime``).
    private mutating func chargePeriodStart(for occurredAt: LedgerTime) -> LedgerTime? {
        guard let definition else { return nil }
        if definition.period == .none { return .distantPast }
        if periodStart != .distantPast, occurredAt >= periodStart, occurredAt < periodEnd { return periodStart }
        if let cached = lastChargePeriod, occurredAt >= cached.start, occurredAt < cached.end { return cached.start }
        guard let period = try? BudgetPeriods.period(definition.period, containing: occurredAt, timeZone: definition.timeZone) else {
            return nil
        }
        lastChargePeriod = period
        return period.start
    }

    /// The period of the last charge outside the current period (a cache for calendar arithmetic).
    private var lastChargePeriod: (start: LedgerTime, end: LedgerTime)? {
        get { lastChargePeriodStart.map { ($0, lastChargePeriodEnd) } }
        set {
            lastChargePeriodStart = newValue?.start
            lastChargePeriodEnd = newValue?.end ?? .distantFuture
        }
    }
    private var lastChargePeriodStart: LedgerTime?
    private var lastChargePeriodEnd = LedgerTime.distantFuture

    // MARK: Decisions

    /// The period event this budget owes at `now`: its first period, or the next one once the
    /// current one is over.
    public func periodRollover(at now: LedgerTime) throws(LedgerError) -> BudgetPeriodStarted? {
        guard let definition, definition.period != .none else { return nil }
        guard now >= periodEnd || periodStart == .distantPast else { return nil }
        let (start, end) = try BudgetPeriods.period(definition.period, containing: now, timeZone: definition.timeZone)
        return BudgetPeriodStarted(start: start, end: end)
    }

    /// Whether `estimate` may be reserved now, with `pending` already held in flight. A soft budget
    /// never refuses; a hard one refuses what would take spent + reserved over the limit, and a
    /// crossed pausing threshold refuses non-critical (or all) runs.
    public func checkReservation(estimate: Money, pending: Money, critical: Bool) -> Denial? {
        guard let definition else { return nil }
        if let pauseAction, pauseAction == .pauseAll || !critical {
            return Denial(
                deniedBy: "budget:\(id)",
                reason: "budget \(id) paused \(pauseAction == .pauseAll ? "all" : "non-critical") spending after a threshold",
                remaining: remaining)
        }
        guard definition.hard else { return nil }
        let committed = spent + reserved + pending
        if committed + estimate > definition.limit {
            let left = definition.limit - committed
            return Denial(
                deniedBy: "budget:\(id)",
                reason: "budget \(id) would exceed its limit of \(definition.limit) (spent \(spent), reserved \(reserved + pending))",
                remaining: left < .zero ? .zero : left)
        }
        return nil
    }

    /// The thresholds that `spentAfter` crosses for the first time in this period, excluding
    /// `claimed` ones already on their way to the log.
    public func thresholdsCrossed(
        by spentAfter: Money, claimed: Set<Int>, inNewPeriodStarting newPeriod: LedgerTime? = nil
    ) -> [ThresholdCrossed] {
        guard let definition, definition.limit > .zero else { return [] }
        let alreadyCrossed = newPeriod == nil ? crossed : []
        return definition.thresholds.sorted().compactMap { percent in
            guard !alreadyCrossed.contains(percent), !claimed.contains(percent) else { return nil }
            // spent / limit >= percent / 100, in exact integers.
            guard Int128(spentAfter.nanos) * 100 >= Int128(definition.limit.nanos) * Int128(percent) else { return nil }
            let action = definition.actions[String(percent)] ?? .notify
            return ThresholdCrossed(
                percent: percent, spent: spentAfter, limit: definition.limit, action: action,
                periodStart: newPeriod ?? periodStart)
        }
    }

    /// Whether a charge with these dimensions and metadata counts against this budget.
    public func matches(_ dimensions: Dimensions, metadata: [String: String]) -> Bool {
        definition?.scope.matches(dimensions, metadata: metadata) ?? false
    }
}

import LedgerCore
import LedgerDomain

/// One budget: the only place that decides whether its limit admits another reservation.
/// A thin actor over ``BudgetState`` with the same hold/commit protocol as ``RunActor``.
public actor BudgetActor {
    public nonisolated let id: String
    private var state: BudgetState
    private var holds: [EventID: Money] = [:]
    private var claimedThresholds: Set<Int> = []
    private var claimedPeriod = false
    private var pendingCharges = Money.zero
    private var early = InOrderEvents<RecordedEvent>()

    init(state: BudgetState) {
        self.id = state.id
        self.state = state
    }

    public var current: BudgetState { state }

    func matches(_ dimensions: Dimensions, metadata: [String: String]) -> Bool {
        state.matches(dimensions, metadata: metadata)
    }

    /// The period event owed at `now`, claimed once.
    func claimPeriod(at now: LedgerTime) throws -> BudgetPeriodStarted? {
        guard !claimedPeriod, let started = try state.periodRollover(at: now) else { return nil }
        claimedPeriod = true
        return started
    }

    /// Checks and holds `estimate`; a denial holds nothing.
    func hold(_ reservation: EventID, estimate: Money, critical: Bool) -> Denial? {
        let pending = holds.values.reduce(Money.zero, +)
        if let denial = state.checkReservation(estimate: estimate, pending: pending, critical: critical) { return denial }
        holds[reservation] = estimate
        return nil
    }

    func dropHold(_ reservation: EventID) { holds[reservation] = nil }

    /// The thresholds that charges of `amount` in the current period cross, claimed once each;
    /// the charge itself is counted as pending until ``applyCharges(_:)``.
    func claimThresholds(forCharge amount: Money, rollover: BudgetPeriodStarted?) -> [ThresholdCrossed] {
        pendingCharges += amount
        let crossed: [ThresholdCrossed]
        if let rollover {
            crossed = state.thresholdsCrossed(
                by: amount, claimed: claimedThresholds, inNewPeriodStarting: LedgerTime(nanosecondsSinceEpoch: rollover.start))
        } else {
            crossed = state.thresholdsCrossed(by: state.spent + pendingCharges, claimed: claimedThresholds)
        }
        for threshold in crossed { claimedThresholds.insert(threshold.percent) }
        return crossed
    }

    /// What a batch of charges claims, in one step of the actor: the period event owed at `now`
    /// (``claimPeriod(at:)``), the charges that fall in the current period — or the period about
    /// to start — counted as pending, and the thresholds they cross (``claimThresholds(forCharge:rollover:)``).
    func claim(charges: [(Money, LedgerTime)], at now: LedgerTime) throws -> BudgetClaim {
        let rollover = try claimPeriod(at: now)
        var inPeriod = Money.zero
        for (cost, occurredAt) in charges where isInCurrentPeriod(occurredAt, rollover: rollover) { inPeriod += cost }
        let thresholds = claimThresholds(forCharge: inPeriod, rollover: rollover)
        return BudgetClaim(rollover: rollover, claimed: inPeriod, thresholds: thresholds)
    }

    /// Whether `time` falls in the budget's current period (or the period about to start).
    func isInCurrentPeriod(_ time: LedgerTime, rollover: BudgetPeriodStarted?) -> Bool {
        if let rollover { return time.nanosecondsSinceEpoch >= rollover.start && time.nanosecondsSinceEpoch < rollover.end }
        return time >= state.periodStart && time < state.periodEnd
    }

    /// Drops what a failed append had claimed.
    func dropClaims(period: Bool, thresholds: [Int], charges: Money) {
        if period { claimedPeriod = false }
        for percent in thresholds { claimedThresholds.remove(percent) }
        pendingCharges -= charges
    }

    /// Applies stored events of this budget's stream (in version order) and the charges an append
    /// carried, releasing the holds and claims they fulfil.
    func commit(_ events: [RecordedEvent], charges: [(Money, LedgerTime)], claimed: Money) throws {
        for event in early.admit(events, after: state.version) {
            try state.apply(event)
            switch event.type {
            case SpendReserved.type:
                if let id = try event.decode(as: SpendReserved.self).reservationID { holds[id] = nil }
            case BudgetPeriodStarted.type:
                claimedPeriod = false
                claimedThresholds = []
            case ThresholdCrossed.type:
                claimedThresholds.remove(try event.decode(as: ThresholdCrossed.self).percent)
            default:
                break
            }
        }
        state.applyCharges(charges)
        pendingCharges -= claimed
    }

    /// Replaces every counted charge with `charges` (a new or re-scoped budget's history).
    func recount(_ charges: [(Money, LedgerTime)]) {
        state.resetCharges()
        state.applyCharges(charges)
    }

    /// Reservations held here that are past their expiry.
    func expired(at now: LedgerTime) -> [(EventID, BudgetReservation)] {
        state.reservations.filter { $0.value.expiresAt <= now }.map { ($0.key, $0.value) }.sorted { $0.0 < $1.0 }
    }
}

/// What ``BudgetActor/claim(charges:at:)`` claimed for one append: drop it with
/// ``BudgetActor/dropClaims(period:thresholds:charges:)`` if the append fails.
struct BudgetClaim {
    var rollover: BudgetPeriodStarted?
    /// The charges counted as pending (those in the current period).
    var claimed: Money
    var thresholds: [ThresholdCrossed]
}

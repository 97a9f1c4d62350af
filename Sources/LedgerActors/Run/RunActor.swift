import LedgerCore
import LedgerDomain

/// One agent run: its status, caps and counters, and the only place that decides whether the run
/// may spend more. A thin actor over ``RunState``.
///
/// Decisions take a *hold* synchronously (no suspension between check and hold), so concurrent
/// authorizations cannot both pass a check that only one of them fits. A hold becomes state when
/// the ledger has stored the events (``commit(_:)``) and is dropped when the append fails.
public actor RunActor {
    public nonisolated let id: String
    private var state: RunState
    private var holds: [EventID: Money] = [:]
    private var haltClaimed = false
    private var early = InOrderEvents()

    init(state: RunState) {
        self.id = state.id
        self.state = state
    }

    /// The run's state as of the events committed so far.
    public var current: RunState { state }

    var isIdle: Bool { holds.isEmpty && !haltClaimed && early.isEmpty }

    /// Checks and holds `estimate` for `reservation`; a denial holds nothing.
    func hold(_ reservation: EventID, estimate: Money, now: LedgerTime) -> Denial? {
        let pending = holds.values.reduce(Money.zero, +)
        if let denial = state.checkAuthorization(estimate: estimate, pending: pending, now: now) { return denial }
        holds[reservation] = estimate
        return nil
    }

    func dropHold(_ reservation: EventID) { holds[reservation] = nil }

    func reservation(_ id: EventID) -> Reservation? { state.reservations[id] }

    /// The halt the run owes once `usage` (not yet stored) is counted, claimed so that only one
    /// concurrent append carries it.
    func claimHalt(after usage: [(UsageRecorded, String?)], now: LedgerTime) -> RunHalted? {
        guard !haltClaimed else { return nil }
        var preview = state
        for (event, model) in usage { preview.applyUsage(event, model: model) }
        guard let halt = preview.capCrossed(now: now) else { return nil }
        haltClaimed = true
        return halt
    }

    func dropHaltClaim() { haltClaimed = false }

    /// Applies stored events of this run's stream (in version order) and settles the holds and
    /// claims they fulfil.
    func commit(_ events: [RecordedEvent]) throws {
        for event in early.admit(events, after: state.version) {
            try state.apply(event)
            switch event.type {
            case SpendAuthorized.type:
                if let id = try event.decode(as: SpendAuthorized.self).reservationID { holds[id] = nil }
            case RunHalted.type:
                haltClaimed = false
            default:
                break
            }
        }
    }
}

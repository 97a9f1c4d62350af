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
    /// The claim whose append carries the run's halt, until the halt is stored or the append fails.
    private var haltClaim: UInt64?
    /// Charges of appends in flight, by claim (see ``claimHalt(after:now:)``).
    private var claims: [UInt64: ArraySlice<RunCharge>] = [:]
    private var claimsMade: UInt64 = 0
    private var early = InOrderEvents<RunStreamEntry>()

    init(state: RunState) {
        self.id = state.id
        self.state = state
    }

    /// The run's state as of the events committed so far.
    public var current: RunState { state }

    var isIdle: Bool { holds.isEmpty && haltClaim == nil && claims.isEmpty && early.isEmpty }

    /// Checks and holds `estimate` for `reservation`; a denial holds nothing.
    func hold(_ reservation: EventID, estimate: Money, now: LedgerTime) -> Denial? {
        let pending = holds.values.reduce(Money.zero, +)
        if let denial = state.checkAuthorization(estimate: estimate, pending: pending, now: now) { return denial }
        holds[reservation] = estimate
        return nil
    }

    func dropHold(_ reservation: EventID) { holds[reservation] = nil }

    func reservation(_ id: EventID) -> Reservation? { state.reservations[id] }

    /// The halt the run owes once `charges` (not yet stored) are counted, claimed so that only one
    /// concurrent append carries it; and whether the run still takes its dimensions from its
    /// charges (a run known only from ingested charges), so that the commit carries them.
    ///
    /// The charges stay claimed until ``commit(entries:claim:)`` or ``dropClaim(_:)``: every later
    /// preview counts them, and the charges stored but still waiting for an earlier version, so
    /// that appends in flight together cannot each stay under a cap they cross together.
    func claimHalt(after charges: ArraySlice<RunCharge>, now: LedgerTime) -> RunClaim {
        claimsMade += 1
        let token = claimsMade
        claims[token] = charges
        let takesDimensions = state.takesDimensionsFromCharges
        guard haltClaim == nil, case .running = state.status else {  // only a running run halts (capCrossed)
            return RunClaim(token: token, halt: nil, takesDimensions: takesDimensions)
        }
        var preview = state
        for entry in early.waitingEvents { if let charge = entry.charge { preview.applyCharge(charge) } }
        for pending in claims.values { for charge in pending { preview.applyCharge(charge) } }
        guard let halt = preview.capCrossed(now: now) else { return RunClaim(token: token, halt: nil, takesDimensions: takesDimensions) }
        haltClaim = token
        return RunClaim(token: token, halt: halt, takesDimensions: takesDimensions)
    }

    /// Gives up a claim whose append failed: its charges no longer count, and its halt, if it
    /// carried one, is owed again.
    func dropClaim(_ token: UInt64) {
        claims[token] = nil
        if haltClaim == token { haltClaim = nil }
    }

    /// Applies stored events of this run's stream (in version order) and settles the holds and
    /// claims they fulfil.
    func commit(_ events: [RecordedEvent]) throws {
        try commit(entries: events.map { .event($0) })
    }

    /// Applies stored entries of this run's stream — charges held decoded, other events as
    /// stored — in version order, settling the holds and claims they fulfil. `claim` is the
    /// append's claim (``claimHalt(after:now:)``), now stored.
    func commit(entries: [RunStreamEntry], claim: UInt64? = nil) throws {
        if let claim { claims[claim] = nil }
        try apply(early.admit(entries, after: state.version))
    }

    private func apply(_ entries: [RunStreamEntry]) throws {
        for entry in entries {
            let event: RecordedEvent
            switch entry {
            case .charge(let charge):
                state.apply(charge, dimensions: nil)
                continue
            case .chargeWithDimensions(let charge, let dimensions):
                state.apply(charge, dimensions: dimensions)
                continue
            case .event(let recorded):
                event = recorded
            }
            try state.apply(event)
            switch event.type {
            case SpendAuthorized.type:
                if let id = try event.decode(as: SpendAuthorized.self).reservationID { holds[id] = nil }
            case RunHalted.type:
                haltClaim = nil
            default:
                break
            }
        }
    }
}

/// What ``RunActor/claimHalt(after:now:)`` answers.
struct RunClaim: Sendable {
    /// Names the claim to ``RunActor/commit(entries:claim:)`` or ``RunActor/dropClaim(_:)``.
    var token: UInt64
    var halt: RunHalted?
    /// The run is known only from its charges and has no agent yet: its next charges carry their
    /// dimensions (``RunStreamEntry/chargeWithDimensions(_:_:)``). Once false, never true again.
    var takesDimensions: Bool
}

import LedgerCore
import LedgerDomain

/// One agent's wallet: whether the agent is paused or out of credit. A thin actor over
/// ``WalletState``.
public actor WalletActor {
    public nonisolated let agent: String
    private var state: WalletState
    private var holds: [EventID: Money] = [:]
    private var early = InOrderEvents<RecordedEvent>()

    init(state: WalletState) {
        self.agent = state.agent
        self.state = state
    }

    public var current: WalletState { state }

    func hold(_ reservation: EventID, estimate: Money) -> Denial? {
        let pending = holds.values.reduce(Money.zero, +)
        if let denial = state.checkAuthorization(estimate: estimate, pending: pending) { return denial }
        holds[reservation] = estimate
        return nil
    }

    func dropHold(_ reservation: EventID) { holds[reservation] = nil }

    func commit(_ events: [RecordedEvent], charges: [Money], settled: [EventID]) throws {
        for event in early.admit(events, after: state.version) { try state.apply(event) }
        for charge in charges { state.applyCharge(charge) }
        for reservation in settled { holds[reservation] = nil }
    }
}

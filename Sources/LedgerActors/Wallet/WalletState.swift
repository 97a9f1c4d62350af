public import LedgerCore
import LedgerDomain

/// An agent's wallet: its credit (if it has one), its total spend, and whether it is paused.
/// A fold of `wallet:<agent>` plus every charge the agent made.
public struct WalletState: Hashable, Sendable {
    public var agent: String
    public private(set) var version: UInt64 = 0
    /// The credit the agent may spend in total; nil means no wallet limit.
    public private(set) var credit: Money?
    public private(set) var spent = Money.zero
    public private(set) var paused: String?

    public init(agent: String) { self.agent = agent }

    public var stream: String { SpendStreams.wallet(agent) }

    public mutating func apply(_ event: RecordedEvent) throws(LedgerError) {
        precondition(event.stream == stream, "a wallet state applies only its own stream")
        precondition(event.version == version + 1, "wallet \(agent) must apply its events in order")
        version = event.version
        switch event.type {
        case WalletOpened.type:
            credit = try event.decode(as: WalletOpened.self).credit
        case WalletFunded.type:
            let amount = try event.decode(as: WalletFunded.self).amount
            credit = (credit ?? .zero) + amount
        case AgentPaused.type:
            paused = try event.decode(as: AgentPaused.self).reason
        case AgentResumed.type:
            paused = nil
        default:
            break
        }
    }

    public mutating func applyCharge(_ cost: Money) { spent += cost }

    /// Whether the agent may reserve `estimate` more, with `pending` held in flight.
    public func checkAuthorization(estimate: Money, pending: Money) -> Denial? {
        if let paused {
            return Denial(deniedBy: "agent:paused", reason: "agent \(agent) is paused: \(paused)", remaining: .zero)
        }
        if let credit, spent + pending + estimate > credit {
            let left = credit - spent - pending
            return Denial(
                deniedBy: "wallet:\(agent)", reason: "agent \(agent) would exceed its wallet credit of \(credit)",
                remaining: left < .zero ? .zero : left)
        }
        return nil
    }
}

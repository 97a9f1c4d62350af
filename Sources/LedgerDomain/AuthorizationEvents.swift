public import LedgerCore

/// A reservation was granted before a call: on the run's stream. The matching budgets each get a
/// ``SpendReserved`` in the same atomic append.
public struct SpendAuthorized: JSONSpendEvent {
    public static let type = "spend.authorized"
    public var reservation: String  // reservation id (UUID text)
    public var estimate: Money
    public var expiresAt: Int64  // ns since epoch
    public var budgets: [String]

    public init(reservation: EventID, estimate: Money, expiresAt: LedgerTime, budgets: [String]) {
        self.reservation = reservation.description
        self.estimate = estimate
        self.expiresAt = expiresAt.nanosecondsSinceEpoch
        self.budgets = budgets
    }

    public var reservationID: EventID? { EventID(reservation) }

    enum CodingKeys: String, CodingKey {
        case reservation, estimate = "estimate_nanos", expiresAt = "expires_at_ns", budgets
    }
}

/// A reservation held against a budget: on the budget's stream.
public struct SpendReserved: JSONSpendEvent {
    public static let type = "spend.reserved"
    public var reservation: String
    public var run: String
    public var amount: Money
    public var expiresAt: Int64

    public init(reservation: EventID, run: String, amount: Money, expiresAt: LedgerTime) {
        self.reservation = reservation.description
        self.run = run
        self.amount = amount
        self.expiresAt = expiresAt.nanosecondsSinceEpoch
    }

    public var reservationID: EventID? { EventID(reservation) }

    enum CodingKeys: String, CodingKey { case reservation, run, amount = "amount_nanos", expiresAt = "expires_at_ns" }
}

/// An authorization was refused: on the run's stream, naming what refused it and what is left.
public struct SpendDenied: JSONSpendEvent {
    public static let type = "spend.denied"
    public var estimate: Money
    /// `budget:<id>`, `cap:max_cost`, `run:halted`, `agent:paused`, ...
    public var deniedBy: String
    public var reason: String
    public var remaining: Money

    public init(estimate: Money, deniedBy: String, reason: String, remaining: Money) {
        self.estimate = estimate
        self.deniedBy = deniedBy
        self.reason = reason
        self.remaining = remaining
    }

    enum CodingKeys: String, CodingKey { case estimate = "estimate_nanos", deniedBy = "denied_by", reason, remaining = "remaining_nanos" }
}

/// Why a reservation ended.
public enum ReleaseReason: String, Sendable, Hashable, Codable, CaseIterable {
    /// Settled with actual usage; the unused part of the estimate is released.
    case settled
    case cancelled
    case expired
}

/// A reservation ended: on the run's stream and on each budget's stream it was held against.
/// `amount` is the reserved amount released (the whole estimate); settled usage is counted by
/// the ``UsageRecorded`` event appended in the same batch.
public struct SpendReleased: JSONSpendEvent {
    public static let type = "spend.released"
    public var reservation: String
    public var amount: Money
    public var reason: ReleaseReason

    public init(reservation: EventID, amount: Money, reason: ReleaseReason) {
        self.reservation = reservation.description
        self.amount = amount
        self.reason = reason
    }

    public var reservationID: EventID? { EventID(reservation) }

    enum CodingKeys: String, CodingKey { case reservation, amount = "amount_nanos", reason }
}

/// An agent's wallet (its cost container) was opened, with an optional credit.
public struct WalletOpened: JSONSpendEvent {
    public static let type = "wallet.opened"
    public var credit: Money?
    public init(credit: Money?) { self.credit = credit }
    enum CodingKeys: String, CodingKey { case credit = "credit_nanos" }
}

/// Credit was added to an agent's wallet.
public struct WalletFunded: JSONSpendEvent {
    public static let type = "wallet.funded"
    public var amount: Money
    public init(amount: Money) { self.amount = amount }
    enum CodingKeys: String, CodingKey { case amount = "amount_nanos" }
}

/// A catalog price was set for a model from an instant on (on `catalog:prices`). Every field is a
/// price per unit in atto-dollars; nil means the catalog has no such price.
public struct PriceSet: JSONSpendEvent {
    public static let type = "price.set"
    public var model: String
    public var vendor: String?
    public var effectiveFrom: Int64  // ns since epoch
    public var input: Price?
    public var output: Price?
    public var cacheRead: Price?
    public var cacheWrite: Price?
    public var reasoning: Price?
    public var perCall: Price?
    public var perToolCall: Price?

    public init(
        model: String, vendor: String? = nil, effectiveFrom: LedgerTime, input: Price? = nil, output: Price? = nil,
        cacheRead: Price? = nil, cacheWrite: Price? = nil, reasoning: Price? = nil, perCall: Price? = nil,
        perToolCall: Price? = nil
    ) {
        self.model = model
        self.vendor = vendor
        self.effectiveFrom = effectiveFrom.nanosecondsSinceEpoch
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
        self.reasoning = reasoning
        self.perCall = perCall
        self.perToolCall = perToolCall
    }

    enum CodingKeys: String, CodingKey {
        case model, vendor, effectiveFrom = "effective_from_ns", input = "input_atto", output = "output_atto"
        case cacheRead = "cache_read_atto", cacheWrite = "cache_write_atto", reasoning = "reasoning_atto"
        case perCall = "per_call_atto", perToolCall = "per_tool_call_atto"
    }
}

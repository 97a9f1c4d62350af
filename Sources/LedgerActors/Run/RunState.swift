public import LedgerCore
public import LedgerDomain

/// Why an authorization was refused: what refused it and what was left.
public struct Denial: Hashable, Sendable, Error, CustomStringConvertible {
    /// `budget:<id>`, `cap:max_cost`, `run:halted`, `run:completed`, `agent:paused`, `wallet:<agent>`.
    public var deniedBy: String
    public var reason: String
    /// What was left under the limit that refused it (zero for a halted or paused run).
    public var remaining: Money

    public init(deniedBy: String, reason: String, remaining: Money) {
        self.deniedBy = deniedBy
        self.reason = reason
        self.remaining = remaining
    }

    public var description: String { "\(deniedBy): \(reason) (remaining \(remaining))" }
}

/// One open reservation: an estimate held against a run and its budgets until settled,
/// released or expired.
public struct Reservation: Hashable, Sendable {
    public var id: EventID
    public var run: String
    public var amount: Money
    public var expiresAt: LedgerTime
    public var budgets: [String]
}

/// A run's state: a pure fold of its stream (`run:<id>`), plus the decisions a run makes.
///
/// Deterministic: the same events give the same state. `decide` functions never mutate; the
/// actor applies the events they return once the ledger has stored them.
public struct RunState: Hashable, Sendable {
    public enum Status: Hashable, Sendable {
        case notStarted
        case running
        case halted(cause: String, reason: String)
        case completed(RunOutcome)
    }

    public var id: String
    /// The stream version this state has applied.
    public private(set) var version: UInt64 = 0
    public private(set) var status = Status.notStarted
    public private(set) var dimensions = Dimensions()
    public private(set) var caps = RunCaps()
    public private(set) var started: RunStarted?
    public private(set) var startedAt: LedgerTime?
    /// The id of the `run.started` event: the causation of sub-agent runs.
    public private(set) var startedEventID: EventID?
    public private(set) var spent = Money.zero
    public private(set) var calls = 0
    public private(set) var retries = 0
    public private(set) var toolCalls = 0
    public private(set) var premiumFallbacks = 0
    public private(set) var reservations: [EventID: Reservation] = [:]
    /// Reservations that expired before their call was settled. A late settle still records the
    /// charge (the call happened), once.
    public private(set) var lapsedReservations: Set<EventID> = []
    public private(set) var denials = 0

    public init(id: String) { self.id = id }

    /// The sum of open reservations.
    public var reserved: Money { reservations.values.reduce(Money.zero) { $0 + $1.amount } }

    public var isRunning: Bool { status == .running }

    /// Folds one event of this run's stream.
    public mutating func apply(_ event: RecordedEvent) throws(LedgerError) {
        precondition(event.stream == SpendStreams.run(id), "a run state applies only its own stream")
        precondition(event.version == version + 1, "run \(id) must apply its events in order: got \(event.version) after \(version)")
        version = event.version
        switch event.type {
        case RunStarted.type:
            let started = try event.decode(as: RunStarted.self)
            self.started = started
            caps = started.caps
            dimensions = event.dimensions
            startedAt = event.occurredAt
            startedEventID = event.id
            status = .running
        case SpendAuthorized.type:
            let authorized = try event.decode(as: SpendAuthorized.self)
            guard let reservation = authorized.reservationID else {
                throw LedgerError(.corrupted, "spend.authorized at seq \(event.seq) has a bad reservation id", seq: event.seq)
            }
            reservations[reservation] = Reservation(
                id: reservation, run: id, amount: authorized.estimate,
                expiresAt: LedgerTime(nanosecondsSinceEpoch: authorized.expiresAt), budgets: authorized.budgets)
        case SpendReleased.type:
            let released = try event.decode(as: SpendReleased.self)
            if let reservation = released.reservationID {
                reservations[reservation] = nil
                if released.reason == .expired { lapsedReservations.insert(reservation) }
            }
        case SpendDenied.type:
            denials += 1
        case UsageRecorded.type:
            let usage = try event.decode(as: UsageRecorded.self)
            if started == nil, dimensions.agent == nil {
                // A run known only from ingested charges: take who and for whom from the first one.
                dimensions = event.dimensions
                dimensions.model = nil
                dimensions.vendor = nil
            }
            if let reservation = usage.reservation { lapsedReservations.remove(reservation) }
            applyUsage(usage, model: event.dimensions.model)
        case RunHalted.type:
            let halted = try event.decode(as: RunHalted.self)
            if case .running = status { status = .halted(cause: halted.cause, reason: halted.reason) }
        case RunCompleted.type:
            let completed = try event.decode(as: RunCompleted.self)
            status = .completed(completed.outcome)
        default:
            break  // other kinds on a run stream (anomalies, corrections) do not change the run's counters
        }
    }

    /// Folds a charge of this run's stream that the actors already hold decoded (see
    /// ``RunCharge``): the same as applying its `usage.recorded` event, whose dimensions are
    /// `dimensions` — needed only while the run is known from its charges alone and has no agent
    /// (see ``RunActor/claimHalt(after:now:)``).
    mutating func apply(_ charge: RunCharge, dimensions: Dimensions?) {
        precondition(charge.version == version + 1, "run \(id) must apply its events in order: got \(charge.version) after \(version)")
        version = charge.version
        if started == nil, self.dimensions.agent == nil, let dimensions {
            // A run known only from ingested charges: take who and for whom from the first one.
            self.dimensions = dimensions
            self.dimensions.model = nil
            self.dimensions.vendor = nil
        }
        if let reservation = charge.reservation { lapsedReservations.remove(reservation) }
        applyCharge(cost: charge.cost, kind: charge.kind, retry: charge.retry, toolCalls: charge.toolCalls, model: charge.model)
    }

    /// Whether the run still takes its dimensions from the next charge it folds.
    var takesDimensionsFromCharges: Bool { started == nil && dimensions.agent == nil }

    /// Counts a charge's figures (a preview of charges not yet stored).
    mutating func applyCharge(_ charge: RunCharge) {
        applyCharge(cost: charge.cost, kind: charge.kind, retry: charge.retry, toolCalls: charge.toolCalls, model: charge.model)
    }

    mutating func applyUsage(_ usage: UsageRecorded, model: String?) {
        applyCharge(cost: usage.cost, kind: usage.kind, retry: usage.retry, toolCalls: usage.toolCalls, model: model)
    }

    mutating func applyCharge(cost: Money, kind: ChargeKind, retry: Int32, toolCalls: Int32, model: String?) {
        spent += cost
        calls += 1
        if retry > 0 { retries += 1 }
        self.toolCalls += Int(toolCalls)
        if let route = started?.modelRoute, let model, model != route, kind == .llm { premiumFallbacks += 1 }
    }

    // MARK: Decisions

    /// Whether the run may reserve `estimate` more now, with `pending` already held in flight.
    public func checkAuthorization(estimate: Money, pending: Money, now: LedgerTime) -> Denial? {
        switch status {
        case .notStarted:
            return Denial(deniedBy: "run:\(id)", reason: "run \(id) has not been started", remaining: .zero)
        case .halted(let cause, let reason):
            return Denial(deniedBy: "run:halted", reason: "run \(id) was halted by \(cause): \(reason)", remaining: .zero)
        case .completed(let outcome):
            return Denial(deniedBy: "run:completed", reason: "run \(id) completed (\(outcome.rawValue))", remaining: .zero)
        case .running:
            break
        }
        if let maxCost = caps.maxCost {
            let committed = spent + reserved + pending
            if committed + estimate > maxCost {
                let left = maxCost - committed
                return Denial(
                    deniedBy: "cap:max_cost",
                    reason: "run \(id) would exceed its max cost of \(maxCost) (spent \(spent), reserved \(reserved + pending))",
                    remaining: left < .zero ? .zero : left)
            }
        }
        if let halt = capCrossed(now: now) {
            return Denial(deniedBy: "cap:\(halt.cause)", reason: halt.reason, remaining: .zero)
        }
        return nil
    }

    /// The halt a running run owes now, if a cap is crossed (cost reached, too many retries,
    /// tool calls or fallbacks, or its duration is over).
    public func capCrossed(now: LedgerTime) -> RunHalted? {
        guard case .running = status else { return nil }
        if let maxCost = caps.maxCost, spent >= maxCost {
            return RunHalted(cause: "max_cost", reason: "spent \(spent) of a max cost of \(maxCost)")
        }
        if let maxRetries = caps.maxRetries, retries > maxRetries {
            return RunHalted(cause: "max_retries", reason: "\(retries) retries, over the cap of \(maxRetries)")
        }
        if let maxToolCalls = caps.maxToolCalls, toolCalls > maxToolCalls {
            return RunHalted(cause: "max_tool_calls", reason: "\(toolCalls) tool calls, over the cap of \(maxToolCalls)")
        }
        if let maxFallbacks = caps.maxPremiumFallbacks, premiumFallbacks > maxFallbacks {
            return RunHalted(
                cause: "max_premium_fallbacks", reason: "\(premiumFallbacks) premium-model fallbacks, over the cap of \(maxFallbacks)")
        }
        if let maxSeconds = caps.maxDurationSeconds, let startedAt,
            now.nanosecondsSinceEpoch - startedAt.nanosecondsSinceEpoch > Int64(maxSeconds) * 1_000_000_000
        {
            return RunHalted(cause: "max_duration", reason: "ran longer than \(maxSeconds) s")
        }
        return nil
    }

    /// Open reservations whose time is up.
    public func expiredReservations(at now: LedgerTime) -> [Reservation] {
        reservations.values.filter { $0.expiresAt <= now }.sorted { $0.id < $1.id }
    }
}

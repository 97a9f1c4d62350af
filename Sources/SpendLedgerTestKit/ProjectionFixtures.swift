public import LedgerCore
public import LedgerDomain

/// Ready-made events for projection tests: charges, runs, budgets and reservations, with the
/// envelopes SpendLedger writes (streams, dimensions) so that the built-in views see them as they
/// would in production.
///
/// Guarantees: every helper returns a valid ``ProposedEvent`` with a fresh id unless one is
/// given; nothing is appended.
public enum ProjectionFixtures {
    /// 2026-01-01T00:00:00Z.
    public static let epoch = LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000)

    /// `epoch` plus `minutes`.
    public static func at(minutes: Int64) -> LedgerTime {
        LedgerTime(nanosecondsSinceEpoch: epoch.nanosecondsSinceEpoch + minutes * 60_000_000_000)
    }

    /// A `usage.recorded` charge on `run:<run>` with the binary payload.
    public static func usage(
        cost: Money, occurredAt: LedgerTime = epoch, agent: String? = "agent-1", run: String = "run-1",
        client: String? = nil, project: String? = nil, task: String? = nil, model: String? = nil, vendor: String? = nil,
        inputTokens: Int64 = 0, outputTokens: Int64 = 0, cachedTokens: Int64 = 0, reasoningTokens: Int64 = 0,
        toolCalls: Int32 = 0, retry: Int32 = 0, metadata: [String: String] = [:], id: EventID = .generate()
    ) -> ProposedEvent {
        ProposedEvent(
            UsageRecorded(
                cost: cost, inputTokens: inputTokens, outputTokens: outputTokens, cachedTokens: cachedTokens,
                reasoningTokens: reasoningTokens, toolCalls: toolCalls, retry: retry),
            stream: SpendStreams.run(run), occurredAt: occurredAt,
            dimensions: Dimensions(
                agent: agent, client: client, project: project, task: task, run: run, model: model, vendor: vendor),
            metadata: metadata, id: id)
    }

    /// `run.started` on `run:<run>`.
    public static func runStarted(
        _ run: String, task: String? = nil, agent: String? = "agent-1", client: String? = nil, occurredAt: LedgerTime = epoch
    ) -> ProposedEvent {
        ProposedEvent(
            RunStarted(), stream: SpendStreams.run(run), occurredAt: occurredAt,
            dimensions: Dimensions(agent: agent, client: client, task: task, run: run))
    }

    /// `run.completed` on `run:<run>` (no task in its envelope: views find it through the run).
    public static func runCompleted(_ run: String, _ outcome: RunOutcome, occurredAt: LedgerTime = epoch) -> ProposedEvent {
        ProposedEvent(
            RunCompleted(outcome: outcome), stream: SpendStreams.run(run), occurredAt: occurredAt,
            dimensions: Dimensions(run: run))
    }

    /// `budget.defined` on `budget:<id>`.
    public static func budget(
        _ id: String, scope: BudgetScope, limit: Money, period: BudgetPeriod = .none, timeZone: String? = nil,
        occurredAt: LedgerTime = epoch
    ) -> ProposedEvent {
        ProposedEvent(
            BudgetDefined(definition: BudgetDefinition(scope: scope, period: period, timeZone: timeZone, limit: limit)),
            stream: SpendStreams.budget(id), occurredAt: occurredAt)
    }

    /// `spend.reserved` on `budget:<budget>`.
    public static func reserved(
        _ amount: Money, budget: String, reservation: EventID, run: String = "run-1", occurredAt: LedgerTime = epoch
    ) -> ProposedEvent {
        ProposedEvent(
            SpendReserved(
                reservation: reservation, run: run, amount: amount,
                expiresAt: LedgerTime(nanosecondsSinceEpoch: occurredAt.nanosecondsSinceEpoch + 60_000_000_000)),
            stream: SpendStreams.budget(budget), occurredAt: occurredAt)
    }

    /// `spend.released` on `budget:<budget>`.
    public static func released(
        _ amount: Money, budget: String, reservation: EventID, reason: ReleaseReason = .settled, occurredAt: LedgerTime = epoch
    ) -> ProposedEvent {
        ProposedEvent(
            SpendReleased(reservation: reservation, amount: amount, reason: reason), stream: SpendStreams.budget(budget),
            occurredAt: occurredAt)
    }

    /// `budget.threshold_crossed` on `budget:<budget>`.
    public static func thresholdCrossed(
        _ percent: Int, budget: String, spent: Money, limit: Money, periodStart: LedgerTime, occurredAt: LedgerTime = epoch
    ) -> ProposedEvent {
        ProposedEvent(
            ThresholdCrossed(percent: percent, spent: spent, limit: limit, action: .notify, periodStart: periodStart),
            stream: SpendStreams.budget(budget), occurredAt: occurredAt)
    }
}

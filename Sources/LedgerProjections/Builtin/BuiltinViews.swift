public import LedgerCore
import LedgerDomain

/// The views SpendLedger keeps for everyone: spend by agent, model, client, project, task and
/// vendor, spend per hour, budget status, and cost per task and per accepted outcome.
///
/// Guarantees: ``all`` lists each built-in view once, with a distinct name; registering them all
/// on one ``ProjectionEngine`` and calling ``ProjectionEngine/rebuild()`` rebuilds every one of
/// them in a single pass over the log.
public enum BuiltinViews {
    /// The six spend-by-dimension views, in the order reports list them.
    public static let spendViews: [SpendByDimension] = SpendDimension.allCases.map(SpendByDimension.init)

    /// Every built-in view.
    public static var all: [any Projection] {
        spendViews.map { $0 as any Projection } + [SpendPerHour(), BudgetStatusView(), OutcomeCosts()]
    }
}

extension ProposedEvent {
    /// A correction of a stored charge, shaped so that every view adjusts the charge's own rows.
    ///
    /// Guarantees: the correction goes on the charge's stream, carries the charge's dimensions and
    /// metadata (so spend-by-dimension rows, budget scopes and tag budgets see it where they saw the
    /// charge), points at the charge (`causation` = its id, and the payload's `corrects`), and by
    /// default occurs when the charge occurred (so the occurred clock puts the corrected amount in
    /// the charge's hour and period). Only the cost changes: calls and tokens stay as recorded.
    ///
    /// - Parameters:
    ///   - delta: the amount to add to the charge's cost (negative for a refund).
    ///   - occurredAt: defaults to the corrected charge's `occurredAt`.
    public static func correction(
        of charge: RecordedEvent, delta: Money, reason: String, id: EventID = .generate(), occurredAt: LedgerTime? = nil
    ) -> ProposedEvent {
        var dimensions = charge.dimensions
        dimensions.causation = charge.id
        return ProposedEvent(
            CorrectionRecorded(corrects: charge.id, delta: delta, reason: reason), stream: charge.stream,
            occurredAt: occurredAt ?? charge.occurredAt, dimensions: dimensions, metadata: charge.metadata, id: id)
    }
}

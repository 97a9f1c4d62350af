import LedgerCore

/// What a built-in view needs to know about an event's type, decided once per event.
enum BuiltinEvent {
    case usage, correction, runStarted, runCompleted, other

    @inline(__always)
    static func classify(_ event: EventView) -> BuiltinEvent {
        if event.hasType("usage.recorded") { return .usage }
        if event.hasType("correction.recorded") { return .correction }
        if event.hasType("run.started") { return .runStarted }
        if event.hasType("run.completed") { return .runCompleted }
        return .other
    }
}

/// Where a built-in view's state lives while it is folded, so that several built-in views can be
/// folded together (see ``BuiltinFold``).
enum BuiltinMember {
    case spend(field: Int, UnsafeMutablePointer<SpendTable>)
    case hourly(UnsafeMutablePointer<HourlySpend>)
    case budgets(UnsafeMutablePointer<BudgetBook>)
    case outcomes(UnsafeMutablePointer<OutcomeBook>)
}

/// The built-in views of one fold, updated together: each event is classified once and its
/// charge read once, then every view's own update function runs — the same functions each view's
/// ``EncodedProjection/apply(encoded:to:)`` runs, so folding views together or one by one gives
/// the same states (the tests compare the two).
///
/// Each member folds only the events above the seq it started from, exactly like a runner.
struct BuiltinFold {
    private var spend: [(field: Int, start: UInt64, state: UnsafeMutablePointer<SpendTable>)] = []
    private var hourly: (start: UInt64, state: UnsafeMutablePointer<HourlySpend>)?
    private var budgets: (start: UInt64, state: UnsafeMutablePointer<BudgetBook>)?
    private var outcomes: (start: UInt64, state: UnsafeMutablePointer<OutcomeBook>)?

    var isEmpty: Bool { spend.isEmpty && hourly == nil && budgets == nil && outcomes == nil }

    mutating func add(_ member: BuiltinMember, start: UInt64) {
        switch member {
        case .spend(let field, let state): spend.append((field, start, state))
        case .hourly(let state): hourly = (start, state)
        case .budgets(let state): budgets = (start, state)
        case .outcomes(let state): outcomes = (start, state)
        }
    }

    @inline(__always)
    func apply(_ event: EventView, seq: UInt64) {
        switch BuiltinEvent.classify(event) {
        case .usage:
            let usage = UsageFields.read(event)
            let time = event.occurredAt.nanosecondsSinceEpoch
            let dimensions = event.dimensionTable
            for member in spend where member.start < seq {
                member.state.pointee.record(usage, key: dimensions[member.field], at: time)
            }
            if let hourly, hourly.start < seq { hourly.state.pointee.record(usage, at: time) }
            if let budgets, budgets.start < seq { budgets.state.pointee.record(usage, event, dimensions) }
            if let outcomes, outcomes.start < seq { outcomes.state.pointee.record(usage, task: dimensions[3]) }
        case .correction:
            let delta = CorrectionFields.delta(event)
            let dimensions = event.dimensionTable
            for member in spend where member.start < seq {
                member.state.pointee.record(correction: delta, key: dimensions[member.field])
            }
            if let hourly, hourly.start < seq { hourly.state.pointee.record(correction: delta, at: event.occurredAt.nanosecondsSinceEpoch) }
            if let budgets, budgets.start < seq { budgets.state.pointee.record(correction: delta, event, dimensions) }
            if let outcomes, outcomes.start < seq { outcomes.state.pointee.record(correction: delta, task: dimensions[3]) }
        case .runStarted:
            if let outcomes, outcomes.start < seq { outcomes.state.pointee.runStarted(event) }
        case .runCompleted:
            if let outcomes, outcomes.start < seq { outcomes.state.pointee.runCompleted(event) }
        case .other:
            if let budgets, budgets.start < seq, event.streamHasPrefix("budget:") { budgets.state.pointee.applyBudgetEvent(event) }
        }
    }
}

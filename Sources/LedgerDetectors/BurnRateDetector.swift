import LedgerActors
import LedgerCore
import LedgerDomain

/// Burn-rate forecasts: a periodic budget that, at the pace of its period so far, runs out
/// before the period ends.
///
/// Each budget is followed from its own events (`budget.defined`, `budget.period_started`) and
/// from every charge its scope matches (``BudgetScope/matches(_:metadata:)``), counted in the
/// period its `occurredAt` falls in — as the budget actor counts it. On each matching charge, once
/// `minimumElapsedMinutes` of the period have passed and `minimumSpentPercent` of the limit is
/// spent: forecast = spent × period length ÷ elapsed; forecast > limit alerts, once per budget per
/// period. Severity: forecast ÷ limit. Budgets without a period (`none`) are not forecast.
struct BurnRateDetector: Sendable {
    private struct Budget: Sendable {
        var id: String
        var definition: BudgetDefinition?
        /// The period being counted: `[start, end)` in ns, and what was spent in it.
        var start: Int64 = .min
        var end: Int64 = .min
        var spent: Int64 = 0
        var alertedPeriod: Int64?
    }

    private let configuration: BurnRateConfiguration
    /// Sorted by id, so alerts come out in one order on every replay.
    private var budgets: [Budget] = []

    init(_ configuration: BurnRateConfiguration) { self.configuration = configuration }

    mutating func observeBudgetEvent(_ event: RecordedEvent) {
        guard event.stream.hasPrefix("budget:") else { return }
        let id = String(event.stream.dropFirst("budget:".count))
        let index = budgetIndex(id)
        switch event.type {
        case BudgetDefined.type:
            guard let defined = try? event.decode(as: BudgetDefined.self) else { return }
            let old = budgets[index].definition
            budgets[index].definition = defined.definition
            if old?.period != defined.definition.period || old?.timeZone != defined.definition.timeZone
                || old?.scope != defined.definition.scope
            {
                budgets[index].start = .min
                budgets[index].end = .min
                budgets[index].spent = 0
            }
        case BudgetPeriodStarted.type:
            // The period may already be counted from a charge that came first (same start): keep it.
            guard let started = try? event.decode(as: BudgetPeriodStarted.self), budgets[index].start != started.start
            else { return }
            budgets[index].start = started.start
            budgets[index].end = started.end
            budgets[index].spent = 0
        default:
            break
        }
    }

    mutating func observeCharge(_ event: RecordedEvent, costNanos: Int64, into findings: inout [Finding]) {
        let at = event.occurredAt.nanosecondsSinceEpoch
        for index in budgets.indices {
            guard let definition = budgets[index].definition, definition.period != .none,
                definition.scope.matches(event.dimensions, metadata: event.metadata)
            else { continue }
            if at < budgets[index].start { continue }  // a charge of an earlier period: not this forecast
            if at >= budgets[index].end {
                guard
                    let (start, end) = try? BudgetPeriods.period(
                        definition.period, containing: event.occurredAt, timeZone: definition.timeZone)
                else { continue }
                budgets[index].start = start.nanosecondsSinceEpoch
                budgets[index].end = end.nanosecondsSinceEpoch
                budgets[index].spent = 0
            }
            budgets[index].spent &+= costNanos
            if let finding = forecast(budgets[index], at: at) {
                budgets[index].alertedPeriod = budgets[index].start
                findings.append(finding.attributed(agent: agentOf(definition.scope), run: nil, at: event.occurredAt))
            }
        }
    }

    private func forecast(_ budget: Budget, at: Int64) -> Finding? {
        guard let definition = budget.definition, budget.alertedPeriod != budget.start, definition.limit.nanos > 0 else {
            return nil
        }
        let elapsed = at - budget.start
        let length = budget.end - budget.start
        guard elapsed >= Int64(configuration.minimumElapsedMinutes) * Minute.nanoseconds, length > 0,
            Int128(budget.spent) * 100 >= Int128(definition.limit.nanos) * Int128(configuration.minimumSpentPercent)
        else { return nil }
        let forecast = Int128(budget.spent) * Int128(length) / Int128(elapsed)
        guard forecast > Int128(definition.limit.nanos) else { return nil }
        let ratio = Double(forecast) / Double(definition.limit.nanos)
        let untilEmpty = Int128(elapsed) * Int128(definition.limit.nanos) / Int128(max(budget.spent, 1))
        let emptyAt = LedgerTime(nanosecondsSinceEpoch: Int64(clamping: Int128(budget.start) + untilEmpty))
        let hours = { (ns: Int64) in Decimal1.text(Double(ns) / 3_600_000_000_000) }
        let evidence =
            "budget \(budget.id): \(Dollars.text(budget.spent)) of \(Dollars.text(definition.limit.nanos)) spent after "
            + "\(hours(elapsed)) h of its \(hours(length)) h \(definition.period.rawValue); at this pace "
            + "\(Dollars.text(Int64(clamping: forecast))) by the period's end, empty at \(emptyAt.rfc3339)"
        return Finding(kind: .burnRate, severityMilli: AnomalyScore.severity(ratio: ratio), evidence: evidence)
    }

    private func agentOf(_ scope: BudgetScope) -> String {
        scope.kind == .agent ? scope.value ?? "" : ""
    }

    private mutating func budgetIndex(_ id: String) -> Int {
        var low = 0
        var high = budgets.count
        while low < high {
            let mid = (low + high) / 2
            if budgets[mid].id < id { low = mid + 1 } else { high = mid }
        }
        if low < budgets.count, budgets[low].id == id { return low }
        budgets.insert(Budget(id: id), at: low)
        return low
    }
}

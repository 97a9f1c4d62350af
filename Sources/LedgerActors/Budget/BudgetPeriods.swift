import Foundation
public import LedgerCore
public import LedgerDomain

/// Period boundaries for budgets: day, ISO week (Monday) and calendar month, in UTC or a named
/// IANA time zone. Calendar arithmetic only decides boundaries; no money passes through here.
public enum BudgetPeriods {
    /// The period of kind `period` that contains `time`: `[start, end)`. For `.none`, all time.
    public static func period(
        _ period: BudgetPeriod, containing time: LedgerTime, timeZone: String?
    ) throws(LedgerError) -> (start: LedgerTime, end: LedgerTime) {
        if period == .none { return (.distantPast, .distantFuture) }
        var calendar = Calendar(identifier: .gregorian)
        calendar.firstWeekday = 2  // Monday
        calendar.minimumDaysInFirstWeek = 4
        if let timeZone {
            guard let zone = TimeZone(identifier: timeZone) else {
                throw LedgerError(.invalidEvent, "time zone \(timeZone) is not a known IANA time zone", field: "time_zone")
            }
            calendar.timeZone = zone
        } else {
            calendar.timeZone = TimeZone(identifier: "UTC")!
        }
        let seconds = time.nanosecondsSinceEpoch / 1_000_000_000
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        let component: Calendar.Component
        switch period {
        case .day: component = .day
        case .week: component = .weekOfYear
        case .month: component = .month
        case .none: component = .era
        }
        guard let interval = calendar.dateInterval(of: component, for: date) else {
            throw LedgerError(.invalidEvent, "no \(period.rawValue) period contains \(time)")
        }
        return (
            LedgerTime(nanosecondsSinceEpoch: Int64(interval.start.timeIntervalSince1970.rounded()) * 1_000_000_000),
            LedgerTime(nanosecondsSinceEpoch: Int64(interval.end.timeIntervalSince1970.rounded()) * 1_000_000_000)
        )
    }
}

import Foundation
public import LedgerCore
public import LedgerDomain

/// The window of a budget period: `[start, end)` in ns since the epoch.
public struct PeriodWindow: Hashable, Sendable, Codable {
    public var start: Int64
    public var end: Int64

    /// The one window of a budget without periods: all of time.
    public static let always = PeriodWindow(start: .min, end: .max)

    @inline(__always)
    func contains(_ time: Int64) -> Bool { time >= start && time < end }
}

/// Calendar periods of budgets: day, ISO week (Monday first) and month, in the budget's time zone
/// (UTC when it names none).
///
/// Guarantees: the windows of one period kind tile time with no gap and no overlap, and the
/// window returned always contains the instant asked about (checked in integer nanoseconds, so
/// an instant a nanosecond before midnight is never put in the next day). UTC windows are pure
/// integer arithmetic; other zones use the system's time zone database (Foundation), so their
/// boundaries follow that database's rules.
public enum BudgetCalendar {
    static let dayNanos: Int64 = 86_400_000_000_000

    /// The window of `period` that contains `time`.
    public static func window(containing time: Int64, period: BudgetPeriod, timeZone: String?) -> PeriodWindow {
        if period == .none { return .always }
        if let timeZone, timeZone != "UTC", timeZone != "Etc/UTC", let zone = TimeZone(identifier: timeZone) {
            return zonedWindow(containing: time, period: period, zone: zone)
        }
        return utcWindow(containing: time, period: period)
    }

    static func floorDiv(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }

    static func utcWindow(containing time: Int64, period: BudgetPeriod) -> PeriodWindow {
        let day = floorDiv(time, dayNanos)
        switch period {
        case .none:
            return .always
        case .day:
            return PeriodWindow(start: day * dayNanos, end: (day + 1) * dayNanos)
        case .week:
            // 1970-01-01 was a Thursday: Monday-based weekday = (day + 3) mod 7.
            let weekday = ((day + 3) % 7 + 7) % 7
            let monday = day - weekday
            return PeriodWindow(start: monday * dayNanos, end: (monday + 7) * dayNanos)
        case .month:
            let (year, month, _) = CivilCalendar.civil(fromDays: day)
            let first = CivilCalendar.days(year: year, month: month, day: 1)
            let next = month == 12
                ? CivilCalendar.days(year: year + 1, month: 1, day: 1) : CivilCalendar.days(year: year, month: month + 1, day: 1)
            return PeriodWindow(start: first * dayNanos, end: next * dayNanos)
        }
    }

    static func zonedWindow(containing time: Int64, period: BudgetPeriod, zone: TimeZone) -> PeriodWindow {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        calendar.firstWeekday = 2
        calendar.minimumDaysInFirstWeek = 4
        let component: Calendar.Component = period == .day ? .day : period == .week ? .weekOfYear : .month
        func interval(_ nanos: Int64) -> PeriodWindow? {
            let seconds = floorDiv(nanos, 1_000_000_000)
            guard let found = calendar.dateInterval(of: component, for: Date(timeIntervalSince1970: TimeInterval(seconds)))
            else { return nil }
            let start = Int64(found.start.timeIntervalSince1970.rounded()) * 1_000_000_000
            let end = Int64(found.end.timeIntervalSince1970.rounded()) * 1_000_000_000
            return end > start ? PeriodWindow(start: start, end: end) : nil
        }
        guard var window = interval(time) else { return utcWindow(containing: time, period: period) }
        // Whole seconds were asked; make sure the window holds the exact nanosecond.
        var steps = 0
        while !window.contains(time), steps < 4 {
            guard let next = interval(time < window.start ? window.start - 1 : window.end) else { break }
            window = next
            steps += 1
        }
        return window.contains(time) ? window : utcWindow(containing: time, period: period)
    }

    /// `YYYY-MM-DD` of `time` in UTC.
    public static func utcDay(_ time: LedgerTime) -> String {
        String(time.rfc3339.prefix(10))
    }
}

/// An instant as nanoseconds since the Unix epoch, UTC: the only time type in the ledger.
///
/// Integer nanoseconds order, compare and hash exactly and encode in eight bytes. Conversion to
/// and from RFC 3339 text is exact (up to nanoseconds) and independent of the locale and the
/// system time zone.
public struct LedgerTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanosecondsSinceEpoch: Int64

    public init(nanosecondsSinceEpoch: Int64) {
        self.nanosecondsSinceEpoch = nanosecondsSinceEpoch
    }

    public static let epoch = LedgerTime(nanosecondsSinceEpoch: 0)
    public static let distantPast = LedgerTime(nanosecondsSinceEpoch: .min)
    public static let distantFuture = LedgerTime(nanosecondsSinceEpoch: .max)

    public static func < (lhs: LedgerTime, rhs: LedgerTime) -> Bool {
        lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
    }

    /// The RFC 3339 text in UTC, with as many fraction digits as needed (0, 3, 6 or 9).
    public var description: String { rfc3339 }

    public var rfc3339: String {
        let ns = nanosecondsSinceEpoch
        // Floor division without overflow, so that even `distantPast` prints.
        var seconds = ns / 1_000_000_000
        var fraction = ns % 1_000_000_000
        if fraction < 0 {
            seconds -= 1
            fraction += 1_000_000_000
        }
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = CivilCalendar.civil(fromDays: days)
        var text = ""
        text.reserveCapacity(30)
        text += Self.pad(year, 4) + "-" + Self.pad(month, 2) + "-" + Self.pad(day, 2)
        text += "T" + Self.pad(secondOfDay / 3600, 2) + ":" + Self.pad(secondOfDay / 60 % 60, 2)
        text += ":" + Self.pad(secondOfDay % 60, 2)
        if fraction != 0 {
            var digits = Self.pad(fraction, 9)
            while digits.count > 3, digits.hasSuffix("000") { digits.removeLast(3) }
            text += "." + digits
        }
        return text + "Z"
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let raw = String(value < 0 ? -value : value)
        let body = raw.count < width ? String(repeating: "0", count: width - raw.count) + raw : raw
        return value < 0 ? "-" + body : body
    }

    /// Parses RFC 3339 (`2026-11-20T01:02:03.123Z`, `2026-11-20T02:02:03+01:00`). A fraction of
    /// up to nine digits is kept exactly; more digits are an error, never silently rounded.
    /// Returns nil for anything that is not a valid RFC 3339 date-time.
    public init?(rfc3339 text: String) {
        var text = text
        guard let time = text.withUTF8({ Self.parseRFC3339($0) }) else { return nil }
        self = time
    }

    public init?(rfc3339 text: Substring) { self.init(rfc3339: String(text)) }

    /// Parses RFC 3339 from UTF-8 bytes without building a String (the ingest hot path).
    public static func parseRFC3339(_ bytes: UnsafeBufferPointer<UInt8>) -> LedgerTime? {
        var index = 0
        let count = bytes.count
        @inline(__always) func number(_ width: Int) -> Int64? {
            guard index + width <= count else { return nil }
            var value: Int64 = 0
            for _ in 0..<width {
                let digit = bytes[index] &- 0x30
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
                index += 1
            }
            return value
        }
        @inline(__always) func expect(_ byte: UInt8) -> Bool {
            guard index < count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        guard let year = number(4), expect(0x2D), let month = number(2), expect(0x2D), let day = number(2),
            index < count, bytes[index] == 0x54 || bytes[index] == 0x74 || bytes[index] == 0x20
        else { return nil }
        index += 1
        guard let hour = number(2), expect(0x3A), let minute = number(2), expect(0x3A), let second = number(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= CivilCalendar.daysIn(month: month, year: year),
            hour <= 23, minute <= 59, second <= 60
        else { return nil }
        var fraction: Int64 = 0
        if index < count, bytes[index] == 0x2E {
            index += 1
            var digits = 0
            while index < count, bytes[index] &- 0x30 < 10 {
                guard digits < 9 else { return nil }
                fraction = fraction * 10 + Int64(bytes[index] - 0x30)
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { fraction *= 10 }
        }
        guard index < count else { return nil }
        var offsetSeconds: Int64 = 0
        switch bytes[index] {
        case 0x5A, 0x7A:
            index += 1
        case 0x2B, 0x2D:
            let sign: Int64 = bytes[index] == 0x2D ? -1 : 1
            index += 1
            guard let offsetHours = number(2), expect(0x3A), let offsetMinutes = number(2), offsetHours <= 23,
                offsetMinutes <= 59
            else { return nil }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        default:
            return nil
        }
        guard index == count else { return nil }
        let days = CivilCalendar.days(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        let (total, overflow2) = scaled.addingReportingOverflow(fraction)
        guard !overflow2 else { return nil }
        return LedgerTime(nanosecondsSinceEpoch: total)
    }

}

/// Proleptic Gregorian calendar arithmetic (Howard Hinnant's days-from-civil algorithms).
package enum CivilCalendar {
    package static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    package static func civil(fromDays z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    package static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

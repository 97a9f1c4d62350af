/// An exact amount of US dollars in nano-dollars (1 USD = 1,000,000,000 nanos).
///
/// No floating point anywhere: amounts parse from and print to decimal text exactly, add with
/// overflow checks, and a charge is rounded once, half-even, when it is computed from prices
/// (see ``Price``). A report's total is the exact sum of its events' amounts.
public struct Money: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public var nanos: Int64

    public static let nanosPerDollar: Int64 = 1_000_000_000
    public static let zero = Money(nanos: 0)

    public init(nanos: Int64) { self.nanos = nanos }

    public static func < (lhs: Money, rhs: Money) -> Bool { lhs.nanos < rhs.nanos }

    /// Parses a decimal number of dollars (`"0.000372"`, `"12"`, `"-1.5"`, `"3.75e-06"`).
    /// More than nine decimal places are rounded half-even to the nano (one rounding).
    /// Returns nil for anything else, including values that do not fit.
    public init?(dollars text: some StringProtocol) {
        guard let decimal = ExactDecimal(text), let nanos = decimal.scaled(toDecimalPlaces: 9) else { return nil }
        self.nanos = nanos
    }

    /// The dollars as decimal text with no trailing zeros (`0.000372`, `12`, `-1.5`).
    public var dollars: String { ExactDecimal.format(units: Int128(nanos), decimalPlaces: 9) }

    public var description: String { "$" + dollars }

    /// `lhs + rhs`, or nil on overflow.
    public func adding(_ other: Money) -> Money? {
        let (sum, overflow) = nanos.addingReportingOverflow(other.nanos)
        return overflow ? nil : Money(nanos: sum)
    }

    public static func + (lhs: Money, rhs: Money) -> Money {
        guard let sum = lhs.adding(rhs) else { preconditionFailure("money overflow: \(lhs) + \(rhs)") }
        return sum
    }

    public static func - (lhs: Money, rhs: Money) -> Money {
        let (difference, overflow) = lhs.nanos.subtractingReportingOverflow(rhs.nanos)
        precondition(!overflow, "money overflow: \(lhs) - \(rhs)")
        return Money(nanos: difference)
    }

    public static func += (lhs: inout Money, rhs: Money) { lhs = lhs + rhs }
    public static func -= (lhs: inout Money, rhs: Money) { lhs = lhs - rhs }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        nanos = try container.decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(nanos)
    }
}

/// A price per unit (per token, per call) in atto-dollars (1 USD = 10^18 atto), exact to 18
/// decimal places: every LiteLLM per-token price (such as `7.5e-08`) is exact here.
public struct Price: Hashable, Comparable, Sendable, CustomStringConvertible, Codable {
    public var attodollars: Int64

    public static let attoPerNano: Int128 = 1_000_000_000
    public static let zero = Price(attodollars: 0)

    public init(attodollars: Int64) { self.attodollars = attodollars }

    public static func < (lhs: Price, rhs: Price) -> Bool { lhs.attodollars < rhs.attodollars }

    /// Parses decimal dollars per unit (`"2.5e-06"`, `"0.0000025"`). Nil when the value is
    /// negative, needs more than 18 decimal places, or does not fit.
    public init?(dollars text: some StringProtocol) {
        guard let decimal = ExactDecimal(text), !decimal.isNegative,
            let atto = decimal.scaledExactly(toDecimalPlaces: 18)
        else { return nil }
        attodollars = atto
    }

    public var dollars: String { ExactDecimal.format(units: Int128(attodollars), decimalPlaces: 18) }
    public var description: String { "$" + dollars + "/unit" }

    /// The exact cost of `units` at this price, in atto-dollars (not yet rounded).
    public func cost(of units: Int64) -> Int128 {
        precondition(units >= 0, "a unit count is never negative")
        return Int128(attodollars) * Int128(units)
    }

    /// Rounds an exact atto-dollar amount to nano-dollars, half-even: the one rounding of a charge.
    public static func roundToMoney(_ atto: Int128) -> Money? {
        var quotient = atto / attoPerNano
        let remainder = atto % attoPerNano
        let twice = remainder.magnitude * 2
        if twice > attoPerNano.magnitude || (twice == attoPerNano.magnitude && quotient % 2 != 0) {
            quotient += atto < 0 ? -1 : 1
        }
        guard let nanos = Int64(exactly: quotient) else { return nil }
        return Money(nanos: nanos)
    }

    public init(from decoder: any Decoder) throws {
        attodollars = try decoder.singleValueContainer().decode(Int64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(attodollars)
    }
}

/// A decimal number held exactly as `digits × 10^exponent`, parsed from text (plain or
/// scientific notation). Never touches binary floating point.
package struct ExactDecimal: Sendable {
    package var isNegative: Bool
    /// The significant digits, without sign; at most 38 of them.
    package var digits: UInt128
    package var exponent: Int

    package init?(_ text: some StringProtocol) {
        var bytes = Substring(text).utf8[...]
        isNegative = false
        if let first = bytes.first, first == 45 || first == 43 {
            isNegative = first == 45
            bytes = bytes.dropFirst()
        }
        digits = 0
        exponent = 0
        var sawDigit = false
        var sawPoint = false
        var significant = 0
        while let byte = bytes.first {
            if byte >= 48, byte <= 57 {
                sawDigit = true
                if digits == 0, byte == 48 {
                    if sawPoint { exponent -= 1 }
                } else {
                    guard significant < 38 else { return nil }
                    digits = digits * 10 + UInt128(byte - 48)
                    significant += 1
                    if sawPoint { exponent -= 1 }
                }
            } else if byte == 46, !sawPoint {
                sawPoint = true
            } else {
                break
            }
            bytes = bytes.dropFirst()
        }
        guard sawDigit else { return nil }
        if let marker = bytes.first, marker == 101 || marker == 69 {
            bytes = bytes.dropFirst()
            var negative = false
            if let sign = bytes.first, sign == 45 || sign == 43 {
                negative = sign == 45
                bytes = bytes.dropFirst()
            }
            var value = 0
            var any = false
            while let byte = bytes.first, byte >= 48, byte <= 57 {
                value = value * 10 + Int(byte - 48)
                guard value < 10_000 else { return nil }
                any = true
                bytes = bytes.dropFirst()
            }
            guard any else { return nil }
            exponent += negative ? -value : value
        }
        guard bytes.isEmpty else { return nil }
        if digits == 0 { isNegative = false }
    }

    /// The value in units of 10^-places, exactly; nil if that needs rounding or does not fit Int64.
    package func scaledExactly(toDecimalPlaces places: Int) -> Int64? {
        let shift = exponent + places
        var magnitude = digits
        if shift >= 0 {
            for _ in 0..<shift {
                let (product, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                magnitude = product
            }
        } else {
            for _ in 0..<(-shift) {
                guard magnitude % 10 == 0 else { return nil }
                magnitude /= 10
            }
        }
        return Self.signed(magnitude, negative: isNegative)
    }

    /// The value in units of 10^-places, rounded half-even once; nil if it does not fit Int64.
    package func scaled(toDecimalPlaces places: Int) -> Int64? {
        let shift = exponent + places
        if shift >= 0 { return scaledExactly(toDecimalPlaces: places) }
        var magnitude = digits
        var dropped: UInt128 = 0  // the removed digits as a fraction numerator
        var scale: UInt128 = 1
        for _ in 0..<min(-shift, 39) {
            dropped += (magnitude % 10) * scale
            magnitude /= 10
            if scale > UInt128.max / 10 { break }
            scale *= 10
        }
        if -shift > 38 { return Self.signed(0, negative: false) }
        let twice = dropped * 2
        if twice > scale || (twice == scale && magnitude % 2 == 1) { magnitude += 1 }
        return Self.signed(magnitude, negative: isNegative)
    }

    private static func signed(_ magnitude: UInt128, negative: Bool) -> Int64? {
        if negative {
            guard magnitude <= UInt128(Int64.max) + 1 else { return nil }
            return magnitude == UInt128(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt128(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// `units × 10^-places` as decimal text with no trailing zeros.
    package static func format(units: Int128, decimalPlaces places: Int) -> String {
        let negative = units < 0
        let magnitude = units.magnitude
        var whole = String(magnitude / pow10(places))
        var fraction = String(magnitude % pow10(places))
        if fraction != "0" {
            fraction = String(repeating: "0", count: places - fraction.count) + fraction
            while fraction.hasSuffix("0") { fraction.removeLast() }
            whole += "." + fraction
        }
        return negative ? "-" + whole : whole
    }

    private static func pow10(_ n: Int) -> UInt128 {
        var value: UInt128 = 1
        for _ in 0..<n { value *= 10 }
        return value
    }
}

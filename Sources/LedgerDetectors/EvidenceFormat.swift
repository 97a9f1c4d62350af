import LedgerCore

/// Money as the evidence prints it: dollars and cents from a dollar up, five decimals below.
enum Dollars {
    static func text(_ nanos: Int64) -> String {
        guard nanos.magnitude >= 1_000_000_000 else {
            return "$" + Money(nanos: (nanos / 10_000) * 10_000).dollars  // five decimals are enough below $1
        }
        let cents = (Int128(nanos) + (nanos >= 0 ? 5_000_000 : -5_000_000)) / 10_000_000
        let whole = cents.magnitude / 100
        let fraction = cents.magnitude % 100
        return (cents < 0 ? "-$" : "$") + String(whole) + (fraction < 10 ? ".0" : ".") + String(fraction)
    }

    static func text(_ nanos: Double) -> String { text(self.nanos(nanos)) }

    /// A computed amount (an average) rounded to whole nano-dollars, clamped to what Int64 holds.
    static func nanos(_ value: Double) -> Int64 {
        guard value.isFinite else { return value > 0 ? .max : 0 }
        return value >= 9.2e18 ? .max : value <= -9.2e18 ? .min : Int64(value.rounded())
    }
}

/// Numbers as the evidence prints them (one decimal).
enum Decimal1 {
    static func text(_ value: Double) -> String {
        let tenths = Int64((value * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        let magnitude = tenths.magnitude
        return sign + String(magnitude / 10) + "." + String(magnitude % 10)
    }
}

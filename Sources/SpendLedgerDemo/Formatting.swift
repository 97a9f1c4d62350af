import LedgerCore

/// Dollars for people: rounded half-even to `places` decimals (the ledger itself stays exact).
func usd(_ money: Money, places: Int = 2) -> String {
    precondition((0...9).contains(places))
    var unit: Int64 = 1
    for _ in 0..<(9 - places) { unit *= 10 }
    let (quotient, remainder) = money.nanos.quotientAndRemainder(dividingBy: unit)
    var rounded = quotient
    let twice = remainder.magnitude * 2
    if twice > unit.magnitude || (twice == unit.magnitude && quotient % 2 != 0) { rounded += money.nanos < 0 ? -1 : 1 }
    let sign = rounded < 0 ? "-" : ""
    var scale: Int64 = 1
    for _ in 0..<places { scale *= 10 }
    let whole = rounded.magnitude / UInt64(scale)
    let fraction = rounded.magnitude % UInt64(scale)
    guard places > 0 else { return "\(sign)$\(whole)" }
    let digits = String(fraction)
    return "\(sign)$\(whole).\(String(repeating: "0", count: places - digits.count))\(digits)"
}

/// `HH:MM` of an instant (UTC).
func clockTime(_ time: LedgerTime) -> String { String(time.rfc3339.dropFirst(11).prefix(5)) }

/// Pads or truncates to a column.
func column(_ text: String, _ width: Int, right: Bool = false) -> String {
    guard text.count < width else { return text }
    let pad = String(repeating: " ", count: width - text.count)
    return right ? pad + text : text + pad
}

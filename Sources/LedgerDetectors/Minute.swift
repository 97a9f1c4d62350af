import LedgerCore

/// A minute of the occurred clock: `floor(occurredAt / 60 s)`.
struct Minute: Hashable, Comparable, Sendable {
    static let nanoseconds: Int64 = 60_000_000_000
    var index: Int64

    init(index: Int64) { self.index = index }

    init(_ time: LedgerTime) {
        let ns = time.nanosecondsSinceEpoch
        index = ns >= 0 ? ns / Self.nanoseconds : (ns + 1) / Self.nanoseconds - 1
    }

    /// The first instant of the minute.
    var start: LedgerTime { LedgerTime(nanosecondsSinceEpoch: index &* Self.nanoseconds) }

    static func < (lhs: Minute, rhs: Minute) -> Bool { lhs.index < rhs.index }
}

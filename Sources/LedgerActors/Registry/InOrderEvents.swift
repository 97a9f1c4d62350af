import LedgerCore

/// Something stored at a version of one stream.
protocol StreamVersioned {
    var version: UInt64 { get }
}

extension RecordedEvent: StreamVersioned {}

/// Hands a stream's events to a fold strictly in version order.
///
/// Appends complete in any order (the group-commit writer resumes its callers together), so an
/// actor may be told about version 7 before version 6. Early events wait here; events at or below
/// the applied version (already read at activation) are dropped. Bounded by the number of appends
/// in flight for the stream.
///
/// The usual case — nothing waiting, and the events follow the applied version without a gap —
/// passes the events through without touching the buffer.
struct InOrderEvents<Element: StreamVersioned> {
    private var waiting: [UInt64: Element] = [:]

    /// The events that can be applied now, in order, given the fold is at `version`.
    mutating func admit(_ events: [Element], after version: UInt64) -> [Element] {
        if waiting.isEmpty, Self.follow(events, version) { return events }
        for event in events where event.version > version { waiting[event.version] = event }
        var ready: [Element] = []
        var next = version + 1
        while let event = waiting.removeValue(forKey: next) {
            ready.append(event)
            next += 1
        }
        precondition(waiting.count <= Limits.batchEventCountMax, "a stream's out-of-order buffer must stay bounded")
        return ready
    }

    /// Whether `events` are exactly the versions `version + 1, version + 2, ...`.
    private static func follow(_ events: [Element], _ version: UInt64) -> Bool {
        var next = version + 1
        for event in events {
            guard event.version == next else { return false }
            next += 1
        }
        return true
    }

    var isEmpty: Bool { waiting.isEmpty }

    /// The events stored but waiting for an earlier version, in no particular order.
    var waitingEvents: Dictionary<UInt64, Element>.Values { waiting.values }
}

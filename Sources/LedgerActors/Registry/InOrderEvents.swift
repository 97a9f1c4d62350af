import LedgerCore

/// Hands a stream's events to a fold strictly in version order.
///
/// Appends complete in any order (the group-commit writer resumes its callers together), so an
/// actor may be told about version 7 before version 6. Early events wait here; events at or below
/// the applied version (already read at activation) are dropped. Bounded by the number of appends
/// in flight for the stream.
struct InOrderEvents {
    private var waiting: [UInt64: RecordedEvent] = [:]

    /// The events that can be applied now, in order, given the fold is at `version`.
    mutating func admit(_ events: [RecordedEvent], after version: UInt64) -> [RecordedEvent] {
        for event in events where event.version > version { waiting[event.version] = event }
        var ready: [RecordedEvent] = []
        var next = version + 1
        while let event = waiting.removeValue(forKey: next) {
            ready.append(event)
            next += 1
        }
        precondition(waiting.count <= Limits.batchEventCountMax, "a stream's out-of-order buffer must stay bounded")
        return ready
    }

    var isEmpty: Bool { waiting.isEmpty }
}

import LedgerCore

/// A batch's events encoded by ``EventCodec/encodeTemplate(_:into:)`` into one buffer, back to back:
/// the part of each event's encoding that does not depend on where it goes, made by the appending
/// caller so that the single writer thread only copies and seals it.
struct EventTemplates: Sendable {
    var bytes: [UInt8]
    /// Event `i` is `bytes[starts[i]..<starts[i + 1]]`.
    var starts: [Int]
    /// Which stream each event writes, for the writer's planner.
    var streams: BatchStreams

    /// Checks `events` (``AppendPlanner/validate(_:)``) and encodes them; throws what is wrong
    /// with the first faulty event.
    init(validating events: [ProposedEvent]) throws(LedgerError) {
        (bytes, starts, streams) = try AppendPlanner.validatedTemplates(of: events)
    }

    func range(of index: Int) -> Range<Int> { starts[index]..<starts[index + 1] }
}

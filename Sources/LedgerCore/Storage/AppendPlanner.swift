/// What a backend answers while an append batch is planned, inside its write transaction.
package protocol AppendPlanningContext {
    /// The highest version of `stream`, including events planned earlier in the same transaction.
    mutating func currentVersion(of stream: String) throws -> UInt64
    /// `(seq, version)` of the stored (or earlier-planned) event with each of `ids`, in their
    /// order; nil for an id no such event has. Asked once per batch, so that a backend can answer
    /// all of them together (one lock, index look-ups in key order).
    mutating func storedPositions(of ids: [EventID]) throws -> [(seq: UInt64, version: UInt64)?]
    /// ``storedPositions(of:)`` for one id, asked for an append of one event.
    mutating func storedPosition(of id: EventID) throws -> (seq: UInt64, version: UInt64)?
}

extension AppendPlanningContext {
    package mutating func storedPosition(of id: EventID) throws -> (seq: UInt64, version: UInt64)? {
        try storedPositions(of: [id])[0]
    }
}

/// The backend-independent rules of one append: validation, idempotency, expected versions and
/// version assignment. Every backend plans with it, so all of them decide alike.
package enum AppendPlanner {
    /// Up to this many streams, a batch's next versions are found by comparing names.
    static let streamsSearchedMax = 8

    package struct Plan {
        /// Positions for every event. For a new event `version` is the one it gets and `seq` is
        /// 0 until the backend assigns it; a duplicate has the stored event's position.
        package var positions: [EventPosition]
        /// How many events are new: those the backend writes, in batch order.
        package var newEventCount: Int
        /// Each stream's last version once the writes are done (only streams the batch writes),
        /// in the order the batch first writes them.
        package var lastVersions: [(stream: String, version: UInt64)]
    }

    /// Checks a batch without the store: the batch size, each event's fields, ids unique in the batch.
    package static func validate(_ events: [ProposedEvent]) throws(LedgerError) {
        try checkCount(of: events)
        var seen = BatchIDSet(count: events.count)
        for index in events.indices { try check(events[index], at: index, of: events.count, seen: &seen) }
    }

    /// ``validate(_:)`` and the batch's templates (``EventCodec/encodeTemplate(_:into:)``) in one
    /// pass (``BatchEncoder``).
    package static func validatedTemplates(
        of events: [ProposedEvent]
    ) throws(LedgerError) -> (bytes: [UInt8], starts: [Int], streams: BatchStreams) {
        var encoder = try BatchEncoder(events)
        return try encoder.templates(for: events.indices)
    }

    /// ``validatedTemplates(of:)`` for an append of one event: its template alone, sized exactly.
    package static func validatedTemplate(of event: ProposedEvent) throws(LedgerError) -> [UInt8] {
        try EventCodec.validate(event, batchIndex: 0)
        var template = [UInt8](repeating: 0, count: EventCodec.encodedSize(of: event))
        template.withUnsafeMutableBytes { EventCodec.encodeTemplate(event, into: $0) }
        return template
    }

    /// Checks and encodes a batch, whole or in consecutive ranges; the check that no id repeats
    /// spans the whole batch.
    package struct BatchEncoder {
        private let events: [ProposedEvent]
        private var seen: BatchIDSet

        /// Checks the batch's size.
        package init(_ events: [ProposedEvent]) throws(LedgerError) {
            try checkCount(of: events)
            self.events = events
            seen = BatchIDSet(count: events.count)
        }

        /// ``validate(_:)`` for the events in `range` (the ranges asked for must follow each other
        /// from the start) and their templates in one pass, back to back in one buffer: event
        /// `range.lowerBound + i` is `bytes[starts[i]..<starts[i + 1]]`. Their streams come with
        /// them (``BatchStreams``, slots counted from the range's start), for
        /// ``plan(_:range:streams:expecting:in:)``.
        ///
        /// One pass because reading an event out of the array copies it (a retain and a release
        /// of each of its strings and its payload) for every function it is handed to; checking,
        /// sizing and encoding it in one function costs that once, not three times.
        package mutating func templates(
            for range: Range<Int>
        ) throws(LedgerError) -> (bytes: [UInt8], starts: [Int], streams: BatchStreams) {
            var starts: [Int] = []
            starts.reserveCapacity(range.count + 1)
            var bytes: [UInt8] = []
            bytes.reserveCapacity(range.count * 256)
            var streams = BatchStreams()
            for index in range {
                try checkAndEncode(
                    events[index], at: index, of: events.count, seen: &seen, into: &bytes, starts: &starts, streams: &streams,
                    rangeCount: range.count)
            }
            starts.append(bytes.count)
            return (bytes, starts, streams)
        }
    }

    private static func checkAndEncode(
        _ event: ProposedEvent, at index: Int, of count: Int, seen: inout BatchIDSet, into bytes: inout [UInt8], starts: inout [Int],
        streams: inout BatchStreams, rangeCount: Int
    ) throws(LedgerError) {
        try check(event, at: index, of: count, seen: &seen)
        streams.add(event.stream, batchCount: rangeCount)
        let start = bytes.count
        let size = EventCodec.encodedSize(of: event)
        starts.append(start)
        var unfilled = size  // room for the event, made by copying zeros (faster than a repeated 0)
        while unfilled > 0 {
            let chunk = Swift.min(unfilled, zeros.count)
            zeros.withUnsafeBufferPointer { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: $0[0..<chunk])) }
            unfilled -= chunk
        }
        bytes.withUnsafeMutableBytes { raw in
            EventCodec.encodeTemplate(event, into: UnsafeMutableRawBufferPointer(rebasing: raw[start..<start + size]))
        }
    }

    private static let zeros = [UInt8](repeating: 0, count: 4_096)

    private static func checkCount(of events: [ProposedEvent]) throws(LedgerError) {
        guard events.count <= Limits.batchEventCountMax else {
            throw LedgerError(
                .limitExceeded, "a batch of \(events.count) events is over the limit of \(Limits.batchEventCountMax)",
                field: "batch")
        }
    }

    /// One event's fields, and its id not seen earlier in a batch of `count` events.
    private static func check(_ event: ProposedEvent, at index: Int, of count: Int, seen: inout BatchIDSet) throws(LedgerError) {
        try EventCodec.validate(event, batchIndex: index)
        if count > 1, seen.insert(event.id) != nil {
            throw LedgerError(.duplicateIDInBatch, "id \(event.id) appears twice in one batch", batchIndex: index, field: "id")
        }
    }

    /// Plans a validated batch, or the events in `range` of it, against the store's current state.
    /// `streams`, when the caller found them (``BatchEncoder/templates(for:)``), say which stream
    /// each event writes without comparing or hashing names. A range planned after an earlier one
    /// of the same batch sees that one's versions through `context`.
    package static func plan(
        _ events: [ProposedEvent], range: Range<Int>? = nil, streams: BatchStreams? = nil,
        expecting expectations: [String: ExpectedVersion], in context: inout some AppendPlanningContext
    ) throws -> Plan {
        // Positions are the range's, counted from its start; so are the streams' slots.
        let range = range ?? events.indices
        let first = range.lowerBound
        if range.count == 1 {
            let event = events[first]
            let position = try planOne(id: event.id, stream: event.stream, expecting: expectations, in: &context)
            return Plan(
                positions: [position], newEventCount: position.isDuplicate ? 0 : 1,
                lastVersions: position.isDuplicate ? [] : [(event.stream, position.version)])
        }
        var positions = [EventPosition]()
        positions.reserveCapacity(range.count)
        var duplicates = 0
        let stored = try context.storedPositions(of: events[range].map(\.id))
        for offset in 0..<range.count {
            if let stored = stored[offset] {
                positions.append(EventPosition(seq: stored.seq, version: stored.version, isDuplicate: true))
                duplicates += 1
            } else {
                positions.append(EventPosition(seq: 0, version: 0, isDuplicate: false))
            }
        }
        // A retried batch (every event already stored) succeeds without re-checking expectations,
        // which the first attempt already moved past. An empty batch still checks them.
        if duplicates == range.count, !range.isEmpty { return Plan(positions: positions, newEventCount: 0, lastVersions: []) }

        try check(expectations, in: &context)
        var next: [(stream: String, version: UInt64)] = []
        if let streams, !streams.slots.isEmpty {
            // Each distinct stream's place in `next`, once the batch writes it.
            var place = [Int32](repeating: -1, count: streams.count)
            for offset in 0..<range.count where !positions[offset].isDuplicate {
                let slot = Int(streams.slots[offset])
                let version: UInt64
                if place[slot] >= 0 {
                    version = next[Int(place[slot])].version + 1
                    next[Int(place[slot])].version = version
                } else {
                    let stream = events[first + offset].stream
                    version = try context.currentVersion(of: stream) + 1
                    place[slot] = Int32(next.count)
                    next.append((stream, version))
                }
                positions[offset].version = version
            }
            return Plan(positions: positions, newEventCount: range.count - duplicates, lastVersions: next)
        }
        // Without them: most batches write one stream or a few, whose versions are found by
        // comparing names; a batch over many streams indexes them.
        var slots: [String: Int] = [:]
        for offset in 0..<range.count where !positions[offset].isDuplicate {
            let stream = events[first + offset].stream
            let slot: Int?
            if next.count <= Self.streamsSearchedMax {
                slot = next.firstIndex { $0.stream == stream }
            } else {
                if slots.isEmpty { for (position, entry) in next.enumerated() { slots[entry.stream] = position } }
                slot = slots[stream]
            }
            let version: UInt64
            if let slot {
                version = next[slot].version + 1
                next[slot].version = version
            } else {
                version = try context.currentVersion(of: stream) + 1
                if !slots.isEmpty { slots[stream] = next.count }
                next.append((stream, version))
            }
            positions[offset].version = version
        }
        return Plan(positions: positions, newEventCount: range.count - duplicates, lastVersions: next)
    }

    /// ``plan(_:range:streams:expecting:in:)`` for an append of one event, with the same decisions
    /// and no arrays (most appends are of one event): its position, with `seq` 0 when it is new.
    package static func planOne(
        id: EventID, stream: String, expecting expectations: [String: ExpectedVersion],
        in context: inout some AppendPlanningContext
    ) throws -> EventPosition {
        if let stored = try context.storedPosition(of: id) {
            return EventPosition(seq: stored.seq, version: stored.version, isDuplicate: true)
        }
        try check(expectations, in: &context)
        return EventPosition(seq: 0, version: try context.currentVersion(of: stream) + 1, isDuplicate: false)
    }

    /// Every expected version holds, checked in stream order (so the error names the first stream
    /// by name that fails).
    private static func check(
        _ expectations: [String: ExpectedVersion], in context: inout some AppendPlanningContext
    ) throws {
        if expectations.isEmpty { return }
        for (stream, expected) in expectations.sorted(by: { $0.key < $1.key }) {
            let current = try context.currentVersion(of: stream)
            guard expected.admits(current) else {
                throw LedgerError(
                    .wrongExpectedVersion,
                    "stream \(stream) is at version \(current), the append expected \(expected)", field: "stream")
            }
        }
    }
}

/// What a backend answers while an append batch is planned, inside its write transaction.
package protocol AppendPlanningContext {
    /// The highest version of `stream`, including events planned earlier in the same transaction.
    mutating func currentVersion(of stream: String) throws -> UInt64
    /// `(seq, version)` of the stored (or earlier-planned) event with each of `ids`, in their
    /// order; nil for an id no such event has. Asked once per batch, so that a backend can answer
    /// all of them together (one lock, index look-ups in key order).
    mutating func storedPositions(of ids: [EventID]) throws -> [(seq: UInt64, version: UInt64)?]
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
        guard events.count <= Limits.batchEventCountMax else {
            throw LedgerError(
                .limitExceeded, "a batch of \(events.count) events is over the limit of \(Limits.batchEventCountMax)",
                field: "batch")
        }
        var seen = Set<EventID>(minimumCapacity: events.count)
        // Elements read in place: no copy (and retain) of each event.
        try events.withUnsafeBufferPointer { events throws(LedgerError) in
            for index in events.indices {
                try EventCodec.validate(events[index], batchIndex: index)
                if !seen.insert(events[index].id).inserted {
                    throw LedgerError(
                        .duplicateIDInBatch, "id \(events[index].id) appears twice in one batch", batchIndex: index, field: "id")
                }
            }
        }
    }

    /// Plans a validated batch against the store's current state.
    package static func plan(
        _ events: [ProposedEvent], expecting expectations: [String: ExpectedVersion],
        in context: inout some AppendPlanningContext
    ) throws -> Plan {
        var positions = [EventPosition]()
        positions.reserveCapacity(events.count)
        var duplicates = 0
        let stored = try context.storedPositions(of: events.map(\.id))
        for index in events.indices {
            if let stored = stored[index] {
                positions.append(EventPosition(seq: stored.seq, version: stored.version, isDuplicate: true))
                duplicates += 1
            } else {
                positions.append(EventPosition(seq: 0, version: 0, isDuplicate: false))
            }
        }
        // A retried batch (every event already stored) succeeds without re-checking expectations,
        // which the first attempt already moved past. An empty batch still checks them.
        if duplicates == events.count, !events.isEmpty { return Plan(positions: positions, newEventCount: 0, lastVersions: []) }

        for (stream, expected) in expectations.sorted(by: { $0.key < $1.key }) {
            let current = try context.currentVersion(of: stream)
            guard expected.admits(current) else {
                throw LedgerError(
                    .wrongExpectedVersion,
                    "stream \(stream) is at version \(current), the append expected \(expected)", field: "stream")
            }
        }
        // Most batches write one stream or a few: their versions are found by comparing names,
        // with no hashing; a batch over many streams indexes them.
        var next: [(stream: String, version: UInt64)] = []
        var slots: [String: Int] = [:]
        for index in events.indices where !positions[index].isDuplicate {
            let stream = events[index].stream
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
            positions[index].version = version
        }
        return Plan(positions: positions, newEventCount: events.count - duplicates, lastVersions: next)
    }
}

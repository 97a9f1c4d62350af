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
    /// One event to write: its index in the batch and its stream version.
    package struct Write {
        package var index: Int
        package var version: UInt64
    }

    package struct Plan {
        /// Positions for every event; for new events `seq` is 0 until the backend assigns it.
        package var positions: [EventPosition]
        package var writes: [Write]
        /// Each stream's last version once the writes are done (only streams the batch writes).
        package var lastVersions: [String: UInt64] = [:]
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
        if duplicates == events.count, !events.isEmpty { return Plan(positions: positions, writes: []) }

        for (stream, expected) in expectations.sorted(by: { $0.key < $1.key }) {
            let current = try context.currentVersion(of: stream)
            guard expected.admits(current) else {
                throw LedgerError(
                    .wrongExpectedVersion,
                    "stream \(stream) is at version \(current), the append expected \(expected)", field: "stream")
            }
        }
        var next: [String: UInt64] = [:]
        var writes = [Write]()
        writes.reserveCapacity(events.count - duplicates)
        for index in events.indices where !positions[index].isDuplicate {
            let stream = events[index].stream
            let version: UInt64
            if let slot = next.index(forKey: stream) {  // one hash look-up for a stream seen before
                version = next.values[slot] + 1
                next.values[slot] = version
            } else {
                version = try context.currentVersion(of: stream) + 1
                next[stream] = version
            }
            positions[index].version = version
            writes.append(Write(index: index, version: version))
        }
        return Plan(positions: positions, writes: writes, lastVersions: next)
    }
}

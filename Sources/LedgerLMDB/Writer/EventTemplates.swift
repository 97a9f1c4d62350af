import LedgerCore

/// A batch's events encoded by ``EventCodec/encodeTemplate(_:into:)`` into one buffer, back to back:
/// the part of each event's encoding that does not depend on where it goes, made by the appending
/// caller so that the single writer thread only copies and seals it.
struct EventTemplates: Sendable {
    var bytes: [UInt8]
    /// Event `i` is `bytes[starts[i]..<starts[i + 1]]`.
    var starts: [Int]

    /// Encodes `events`, which must have passed `AppendPlanner.validate`.
    init(_ events: [ProposedEvent]) {
        var starts: [Int] = []
        starts.reserveCapacity(events.count + 1)
        var total = 0
        events.withUnsafeBufferPointer { events in
            for index in events.indices {
                starts.append(total)
                total += EventCodec.encodedSize(of: events[index])
            }
        }
        starts.append(total)
        self.starts = starts
        self.bytes = [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            events.withUnsafeBufferPointer { events in
                for index in events.indices {
                    EventCodec.encodeTemplate(events[index], into: UnsafeMutableRawBufferPointer(rebasing: raw[starts[index]..<starts[index + 1]]))
                }
            }
            count = total
        }
    }

    func range(of index: Int) -> Range<Int> { starts[index]..<starts[index + 1] }
}

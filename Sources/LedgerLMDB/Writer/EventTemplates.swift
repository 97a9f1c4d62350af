import Foundation
import LedgerCore
import Synchronization

/// A batch's events encoded by ``EventCodec/encodeTemplate(_:into:)`` into one buffer, back to back:
/// the part of each event's encoding that does not depend on where it goes, made by the appending
/// caller so that the single writer thread only copies and seals it.
struct EventTemplates: Sendable {
    /// From this many events, a batch is checked and encoded on two threads (the caller's and one
    /// of Dispatch's), each taking half.
    static let parallelEventCountMin = 4_096

    var bytes: [UInt8]
    /// Event `i` is `bytes[starts[i]..<starts[i + 1]]`.
    var starts: [Int]

    /// Checks `events` as ``AppendPlanner/validate(_:)`` does (the same errors, naming the same
    /// event) and encodes them. A large batch is done in two halves at once: an append of 10,000
    /// events spends about a third of its time here, before the writer can start.
    static func validated(_ events: [ProposedEvent]) throws(LedgerError) -> EventTemplates {
        guard events.count >= parallelEventCountMin else {
            try AppendPlanner.validate(events)
            return EventTemplates(events)
        }
        try AppendPlanner.checkCount(events)
        let starts = Self.starts(of: events)
        let half = events.count / 2
        let halves = [0..<half, half..<events.count]
        let fieldErrors = Mutex<[LedgerError?]>([nil, nil])
        let bytes = [UInt8](unsafeUninitializedCapacity: starts[events.count]) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            nonisolated(unsafe) let output = raw  // each half writes only its own events' bytes
            DispatchQueue.concurrentPerform(iterations: 2) { part in
                do throws(LedgerError) {
                    try AppendPlanner.validate(events, in: halves[part])
                    encode(events, in: halves[part], starts: starts, into: output)
                } catch {
                    fieldErrors.withLock { $0[part] = error }
                }
            }
            count = starts[events.count]
        }
        let errors = fieldErrors.withLock { $0 }
        try AppendPlanner.checkIDsUnique(events, andFields: errors[0] ?? errors[1])
        return EventTemplates(bytes: bytes, starts: starts)
    }

    /// Encodes `events`, which must have passed `AppendPlanner.validate`.
    init(_ events: [ProposedEvent]) {
        let starts = Self.starts(of: events)
        self.starts = starts
        self.bytes = [UInt8](unsafeUninitializedCapacity: starts[events.count]) { buffer, count in
            Self.encode(events, in: events.indices, starts: starts, into: UnsafeMutableRawBufferPointer(buffer))
            count = starts[events.count]
        }
    }

    private init(bytes: [UInt8], starts: [Int]) {
        self.bytes = bytes
        self.starts = starts
    }

    func range(of index: Int) -> Range<Int> { starts[index]..<starts[index + 1] }

    /// Where each event's template starts in the buffer, and (last) the buffer's size.
    private static func starts(of events: [ProposedEvent]) -> [Int] {
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
        return starts
    }

    private static func encode(
        _ events: [ProposedEvent], in range: Range<Int>, starts: [Int], into raw: UnsafeMutableRawBufferPointer
    ) {
        events.withUnsafeBufferPointer { events in
            for index in range {
                EventCodec.encodeTemplate(events[index], into: UnsafeMutableRawBufferPointer(rebasing: raw[starts[index]..<starts[index + 1]]))
            }
        }
    }
}

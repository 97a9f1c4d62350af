import LedgerCore

/// Events encoded by ``EventCodec/encodeTemplate(_:into:)`` into one buffer, back to back: the part
/// of each event's encoding that does not depend on where it goes, made by the appending caller so
/// that the single writer thread only copies and seals it. A whole batch, or one range of it
/// (``TemplateFeed``).
struct EventTemplates: Sendable {
    var bytes: [UInt8]
    /// Event `i` (counted from the start of what these templates cover) is
    /// `bytes[starts[i]..<starts[i + 1]]`.
    var starts: [Int]
    /// Which stream each event writes, for the writer's planner.
    var streams: BatchStreams

    init(_ encoded: (bytes: [UInt8], starts: [Int], streams: BatchStreams)) {
        (bytes, starts, streams) = encoded
    }

    func range(of index: Int) -> Range<Int> { starts[index]..<starts[index + 1] }
}

/// A large append handed to the writer in ranges: the caller checks and encodes the first range,
/// queues the append, then encodes the others while the writer plans and writes the ones it has,
/// so that encoding (a quarter of a batch's time on one core) overlaps writing.
///
/// The writer takes each range in order (``templates(ofRange:)``, which waits for it) and keeps
/// them, since a transaction that is retried (a full map, another append's failed write) writes
/// them again. A range that fails its checks fails the whole append: the writer abandons the
/// transaction, which then holds part of it, and retries the others without it.
///
/// `@unchecked Sendable`: `delivered` and `failure` are touched only under `lock`.
final class TemplateFeed: @unchecked Sendable {
    /// Appends of at least twice this many events, without expected versions, are taken in ranges
    /// of this many.
    static let rangeEventCount = 2_048

    /// The ranges of an append of `count` events.
    static func ranges(count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: rangeEventCount).map { $0..<min($0 + rangeEventCount, count) }
    }

    let ranges: [Range<Int>]
    private let lock = ConditionLock()
    private var delivered: [EventTemplates]
    private var failure: LedgerError?

    /// A feed whose first range is already encoded.
    init(count: Int, first: EventTemplates) {
        ranges = Self.ranges(count: count)
        delivered = [first]
        delivered.reserveCapacity(ranges.count)
    }

    /// The caller: the next range's templates.
    func deliver(_ templates: EventTemplates) {
        lock.withLock {
            precondition(delivered.count < ranges.count, "every range is delivered once")
            delivered.append(templates)
            lock.broadcast()
        }
    }

    /// The caller: a range failed its checks; the append fails with `error`.
    func fail(_ error: LedgerError) {
        lock.withLock {
            failure = error
            lock.broadcast()
        }
    }

    /// The writer: range `index`'s templates, once delivered, or the caller's error.
    func templates(ofRange index: Int) throws(LedgerError) -> EventTemplates {
        let result: Result<EventTemplates, LedgerError> = lock.withLock {
            while delivered.count <= index, failure == nil { lock.wait() }
            if index < delivered.count { return .success(delivered[index]) }
            return .failure(failure!)
        }
        return try result.get()
    }
}

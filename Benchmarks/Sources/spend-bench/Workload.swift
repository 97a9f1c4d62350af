import LedgerCore
import SpendLedgerTestKit

/// The events every benchmark writes: `EventStoreConformance.sampleEvent`, realistic usage events
/// of about 200 encoded bytes (four dimensions, a JSON payload of token counts and cost, a fresh
/// time-ordered UUIDv7 id), spread over ``streamCount`` streams (`run:r0` ... `run:r999`), as many
/// agents' runs would be.
///
/// Events are always made before the clock starts: the figures measure the store, not the
/// producer's string formatting and id generation.
enum Workload {
    /// How many streams the events are spread over, round robin.
    static let streamCount = 1_000

    /// Stream names, made once.
    static let streams: [String] = (0..<streamCount).map { "run:r\($0)" }

    /// The event with global index `index` (any `Int`; index `i` goes to stream `i % streamCount`).
    static func event(_ index: Int) -> ProposedEvent {
        EventStoreConformance.sampleEvent(stream: streams[index % streamCount], index: index)
    }

    /// The events `start ..< start + count`.
    static func batch(from start: Int, count: Int) -> [ProposedEvent] {
        var events: [ProposedEvent] = []
        events.reserveCapacity(count)
        for index in start..<(start + count) { events.append(event(index)) }
        return events
    }
}

/// Encodes proposed events exactly as the store would (seq, per-stream version, recordedAt and
/// the chain hash linking each to the previous), for the raw-LMDB ceiling: the ceiling writes the
/// same bytes, only without SpendLedger's validation, planning, indexes and head record.
struct ChainEncoder {
    private(set) var seq: UInt64 = 0
    private var previous = ChainHash.genesis
    private var versions: [String: UInt64] = [:]

    /// The encoded bytes of `events`, stamped `recordedAt`, continuing the chain.
    mutating func encode(_ events: [ProposedEvent], recordedAt: LedgerTime) -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(events.count)
        for event in events {
            seq += 1
            let version = (versions[event.stream] ?? 0) + 1
            versions[event.stream] = version
            let (bytes, hash) = EventCodec.encode(
                event, seq: seq, version: version, recordedAt: recordedAt, previous: previous)
            previous = hash
            out.append(bytes)
        }
        return out
    }
}

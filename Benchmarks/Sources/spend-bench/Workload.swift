import LedgerCore
import LedgerDomain
import SpendLedgerTestKit

/// The events every benchmark writes: `EventStoreConformance.sampleEvent`, realistic usage events
/// of about 200 encoded bytes (four dimensions, a JSON payload of token counts and cost, a fresh
/// time-ordered UUIDv7 id), spread over ``streamCount`` streams (`run:r0` ... `run:r999`), as many
/// agents' runs would be.
///
/// Events are always made before the clock starts: the figures measure the store, not the
/// producer's string formatting and id generation.
enum Workload {
    /// How many streams the events are spread over, round robin (`--streams`, a diagnostic).
    /// Set once, before any benchmark runs.
    nonisolated(unsafe) static var streamCount = 1_000 {
        didSet { streams = (0..<streamCount).map { "run:r\($0)" } }
    }

    /// Stream names, made once.
    nonisolated(unsafe) private(set) static var streams: [String] = (0..<1_000).map { "run:r\($0)" }

    /// Whether usage events carry the binary `UsageRecorded` payload the Swift API and `spend ingest`
    /// write, instead of the sample's JSON (`--binary-payload`). Set once, before any benchmark runs.
    nonisolated(unsafe) static var binaryPayload = false

    /// The event with global index `index` (any `Int`; index `i` goes to stream `i % streamCount`).
    static func event(_ index: Int) -> ProposedEvent {
        shaped(EventStoreConformance.sampleEvent(stream: streams[index % streamCount], index: index), index: index)
    }

    /// The event with global index `index`, in stream `stream % streamCount` (for appenders that
    /// each own a stream).
    static func event(_ index: Int, stream: Int) -> ProposedEvent {
        shaped(EventStoreConformance.sampleEvent(stream: streams[stream % streamCount], index: index), index: index)
    }

    /// The sample event, with the same token counts and cost as a binary `UsageRecorded` payload
    /// when ``binaryPayload`` is set.
    private static func shaped(_ sample: ProposedEvent, index: Int) -> ProposedEvent {
        guard binaryPayload else { return sample }
        let input = Int64(200 + (index &* 37) % 4_000)
        let output = Int64(50 + (index &* 13) % 900)
        let usage = UsageRecorded(cost: Money(nanos: input * 150 + output * 600), inputTokens: input, outputTokens: output)
        return ProposedEvent(usage, stream: sample.stream, occurredAt: sample.occurredAt, dimensions: sample.dimensions, id: sample.id)
    }

    /// The events `start ..< start + count`.
    static func batch(from start: Int, count: Int) -> [ProposedEvent] {
        var events: [ProposedEvent] = []
        events.reserveCapacity(count)
        for index in start..<(start + count) { events.append(event(index)) }
        return events
    }
}

/// One event encoded by ``ChainEncoder``, with what the index entries are made of.
struct EncodedEvent {
    var bytes: [UInt8]
    var stream: String
    var version: UInt64
    var id: EventID
    var occurredAt: LedgerTime
}

/// Encodes proposed events exactly as the store would (seq, per-stream version, recordedAt and
/// the chain hash linking each to the previous), for the raw-LMDB ceiling: the ceiling writes the
/// same bytes, only without SpendLedger's validation, planning, indexes and head record.
struct ChainEncoder {
    private(set) var seq: UInt64 = 0
    private var previous = ChainHash.genesis
    private var versions: [String: UInt64] = [:]

    /// The encoded bytes of `events`, stamped `recordedAt`, continuing the chain.
    mutating func encode(_ events: [ProposedEvent], recordedAt: LedgerTime) -> [EncodedEvent] {
        var out: [EncodedEvent] = []
        out.reserveCapacity(events.count)
        for event in events {
            seq += 1
            let version = (versions[event.stream] ?? 0) + 1
            versions[event.stream] = version
            let (bytes, hash) = EventCodec.encode(
                event, seq: seq, version: version, recordedAt: recordedAt, previous: previous)
            previous = hash
            out.append(
                EncodedEvent(
                    bytes: bytes, stream: event.stream, version: version, id: event.id, occurredAt: event.occurredAt))
        }
        return out
    }
}

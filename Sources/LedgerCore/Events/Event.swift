/// An event a producer asks the ledger to append. The store assigns `seq`, `version`,
/// `recordedAt` and `hash` at commit and returns them as a ``RecordedEvent``.
public struct ProposedEvent: Sendable, Hashable {
    /// The idempotency key. Use ``EventID/generate(at:)`` when the producer has none.
    public var id: EventID
    /// The entity the event belongs to, such as `wallet:agent-7` or `run:run-42`. Non-empty, no NUL.
    public var stream: String
    /// The event kind, such as `usage.recorded`.
    public var type: String
    /// The version of the payload layout for `type`, for upcasting old events.
    public var schema: UInt16
    /// When it happened, as the producer says; it may be earlier than when it is recorded.
    public var occurredAt: LedgerTime
    public var dimensions: Dimensions
    /// Producer-supplied string metadata (bounded, see ``Limits``). Stored sorted by key.
    public var metadata: [String: String]
    public var payloadEncoding: PayloadEncoding
    public var payload: [UInt8]

    public init(
        id: EventID = .generate(), stream: String, type: String, schema: UInt16 = 1,
        occurredAt: LedgerTime, dimensions: Dimensions = .none, metadata: [String: String] = [:],
        payloadEncoding: PayloadEncoding = .json, payload: [UInt8] = []
    ) {
        self.id = id
        self.stream = stream
        self.type = type
        self.schema = schema
        self.occurredAt = occurredAt
        self.dimensions = dimensions
        self.metadata = metadata
        self.payloadEncoding = payloadEncoding
        self.payload = payload
    }
}

/// An event as stored: immutable, at a gap-free global position, chained to its predecessor.
///
/// `seq` starts at 1 and has no gaps. `version` is the 1-based position in `stream`.
/// `recordedAt` never decreases along `seq`. `hash` is SHA-256 over the previous event's hash and
/// this event's canonical bytes (see `Docs/EventFormat.md`).
public struct RecordedEvent: Sendable, Hashable {
    public var seq: UInt64
    public var stream: String
    public var version: UInt64
    public var id: EventID
    public var recordedAt: LedgerTime
    public var occurredAt: LedgerTime
    public var type: String
    public var schema: UInt16
    public var dimensions: Dimensions
    public var metadata: [String: String]
    public var payloadEncoding: PayloadEncoding
    public var payload: [UInt8]
    public var hash: ChainHash

    public init(
        seq: UInt64, stream: String, version: UInt64, id: EventID, recordedAt: LedgerTime,
        occurredAt: LedgerTime, type: String, schema: UInt16, dimensions: Dimensions,
        metadata: [String: String], payloadEncoding: PayloadEncoding, payload: [UInt8], hash: ChainHash
    ) {
        self.seq = seq
        self.stream = stream
        self.version = version
        self.id = id
        self.recordedAt = recordedAt
        self.occurredAt = occurredAt
        self.type = type
        self.schema = schema
        self.dimensions = dimensions
        self.metadata = metadata
        self.payloadEncoding = payloadEncoding
        self.payload = payload
        self.hash = hash
    }

    /// The proposal this event was stored from.
    public var proposed: ProposedEvent {
        ProposedEvent(
            id: id, stream: stream, type: type, schema: schema, occurredAt: occurredAt,
            dimensions: dimensions, metadata: metadata, payloadEncoding: payloadEncoding, payload: payload)
    }
}

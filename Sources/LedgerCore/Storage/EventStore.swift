/// What an append requires of a stream's version before it may write.
public enum ExpectedVersion: Hashable, Sendable, CustomStringConvertible {
    /// No check.
    case any
    /// The stream must have no events.
    case noStream
    /// The stream's highest version must be exactly this (0 means no stream).
    case exactly(UInt64)

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .exactly(let version): "version \(version)"
        }
    }

    func admits(_ current: UInt64) -> Bool {
        switch self {
        case .any: true
        case .noStream: current == 0
        case .exactly(let version): current == version
        }
    }
}

/// Where one proposed event ended up.
public struct EventPosition: Hashable, Sendable {
    public var seq: UInt64
    public var version: UInt64
    /// True when an event with the same id was already stored; nothing was written for it and
    /// `seq`/`version` are those of the stored event.
    public var isDuplicate: Bool

    public init(seq: UInt64, version: UInt64, isDuplicate: Bool) {
        self.seq = seq
        self.version = version
        self.isDuplicate = isDuplicate
    }
}

/// The end of the log: the highest `seq`, its chain hash and its `recordedAt`.
public struct LogHead: Hashable, Sendable {
    public var seq: UInt64
    public var hash: ChainHash
    public var recordedAt: LedgerTime

    public init(seq: UInt64, hash: ChainHash, recordedAt: LedgerTime) {
        self.seq = seq
        self.hash = hash
        self.recordedAt = recordedAt
    }

    /// The head of an empty log.
    public static let empty = LogHead(seq: 0, hash: .genesis, recordedAt: .distantPast)
}

/// What an acknowledged append did.
public struct AppendResult: Hashable, Sendable {
    /// One position per proposed event, in the order they were proposed.
    public var positions: [EventPosition]
    /// The log's head once the append was durable (for an append of only duplicates: the head
    /// at the time it was answered).
    public var head: LogHead

    public init(positions: [EventPosition], head: LogHead) {
        self.positions = positions
        self.head = head
    }

    public var appendedCount: Int { positions.count - duplicateCount }
    public var duplicateCount: Int { positions.lazy.filter(\.isDuplicate).count }
}

/// The result of walking the whole log: the hash chain and every index checked.
public struct VerificationReport: Hashable, Sendable {
    /// What was found wrong first, in `seq` order.
    public struct Failure: Hashable, Sendable, CustomStringConvertible {
        public var seq: UInt64
        public var reason: String
        public init(seq: UInt64, reason: String) {
            self.seq = seq
            self.reason = reason
        }
        public var description: String { "seq \(seq): \(reason)" }
    }

    public var eventsChecked: UInt64
    public var head: LogHead
    /// Nil when the chain and the indexes are intact.
    public var firstFailure: Failure?

    public init(eventsChecked: UInt64, head: LogHead, firstFailure: Failure?) {
        self.eventsChecked = eventsChecked
        self.head = head
        self.firstFailure = firstFailure
    }

    public var isIntact: Bool { firstFailure == nil }
}

/// The append-only, hash-chained event log every SpendLedger component stands on.
///
/// Every backend guarantees, and the conformance suite in `SpendLedgerTestKit` checks:
/// - **Atomic batches.** An append writes all of its events or none, across any number of streams.
/// - **Expected versions.** An append whose expectations do not hold writes nothing and throws
///   ``LedgerError/Code/wrongExpectedVersion`` naming the stream.
/// - **Idempotency.** An event whose id is already stored is not written again; its stored position
///   is returned with `isDuplicate`. When every event of a batch is a duplicate the expectations are
///   not checked (a retried append succeeds). Two events with one id in one batch are an error.
/// - **Gap-free order.** `seq` runs 1, 2, 3, ... A reader that has seen `seq = n` has seen every
///   event below `n`.
/// - **Durability.** When `append` returns, the events are durable in the store's durability mode.
/// - **Monotonic time.** `recordedAt` never decreases along `seq`.
public protocol EventStore: Sendable {
    /// Appends `events` atomically, each stream's version checked against `expectations` first.
    func append(_ events: [ProposedEvent], expecting expectations: [String: ExpectedVersion]) async throws -> AppendResult

    /// Appends one event, its stream's version checked against `expected` first. The same as
    /// appending a batch of one; a backend may answer it without making the batch (most appends
    /// are of one event).
    func append(_ event: ProposedEvent, expecting expected: ExpectedVersion) async throws -> AppendResult

    /// Up to `maxCount` events with `seq >= from`, in `seq` order. `maxCount` is capped at
    /// ``Limits/readEventCountMax``; use ``events(from:through:)`` to stream any length in bounded memory.
    func read(from seq: UInt64, maxCount: Int) async throws -> [RecordedEvent]

    /// Events of `stream` with `fromVersion <= version <= toVersion`, ascending, at most `maxCount`.
    /// An unknown stream, `maxCount == 0` or `fromVersion > toVersion` give an empty array.
    func readStream(_ stream: String, fromVersion: UInt64, toVersion: UInt64, maxCount: Int) async throws -> [RecordedEvent]

    /// The highest version of `stream`; 0 when it has no events.
    func streamVersion(_ stream: String) async throws -> UInt64

    /// The stored event with this id, if any.
    func event(id: EventID) async throws -> RecordedEvent?

    /// For each id, whether an event with it is stored (one snapshot of the log for all of them).
    func containsEvents(ids: [EventID]) async throws -> [Bool]

    /// The highest `seq` whose `recordedAt <= time`; 0 when there is none. Because `recordedAt`
    /// grows with `seq`, the events `1...seq` are exactly what the ledger knew at `time`.
    func seq(recordedAtOrBefore time: LedgerTime) async throws -> UInt64

    /// The current head.
    func head() async throws -> LogHead

    /// Recomputes the hash chain over every event and checks every index against the log.
    func verify() async throws -> VerificationReport

    /// Signals each durable head change, for subscriptions.
    var headNotifier: HeadNotifier { get }

    /// Flushes and closes. Appends after close throw ``LedgerError/Code/closed``.
    func close() async throws
}

extension EventStore {
    public func containsEvents(ids: [EventID]) async throws -> [Bool] {
        var found: [Bool] = []
        found.reserveCapacity(ids.count)
        for id in ids { found.append(try await event(id: id) != nil) }
        return found
    }

    /// Appends a batch with no version expectations.
    @discardableResult
    public func append(_ events: [ProposedEvent]) async throws -> AppendResult {
        try await append(events, expecting: [:])
    }

    /// Appends one event with no version expectation.
    @discardableResult
    public func append(_ event: ProposedEvent) async throws -> AppendResult {
        try await append(event, expecting: .any)
    }

    /// Appends one event as a batch of one.
    @discardableResult
    public func append(_ event: ProposedEvent, expecting expected: ExpectedVersion) async throws -> AppendResult {
        try await append([event], expecting: expected == .any ? [:] : [event.stream: expected])
    }

    /// Every event of `stream`, ascending.
    public func readStream(_ stream: String) async throws -> [RecordedEvent] {
        try await readStream(stream, fromVersion: 1, toVersion: .max, maxCount: .max)
    }

    /// The events `from...through` as an `AsyncSequence` read in chunks of
    /// ``Limits/replayChunkEventCountMax``, so any log length replays in bounded memory. The range
    /// ends at the head as it is when iteration reaches it.
    public func events(from seq: UInt64 = 1, through last: UInt64 = .max) -> StoredEvents<Self> {
        StoredEvents(store: self, from: max(seq, 1), through: last)
    }

    /// Every event after `seq` (0 for all): first those stored, then each new one as it is
    /// appended, never skipping or repeating one. Ends when the task is cancelled.
    public func subscribe(after seq: UInt64) -> EventSubscription<Self> {
        EventSubscription(store: self, after: seq)
    }
}

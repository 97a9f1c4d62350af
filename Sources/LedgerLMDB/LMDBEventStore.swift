import CLMDB
import Synchronization
public import LedgerCore
import Logging

/// The embedded, durable event store: one LMDB environment (a directory) per ledger.
///
/// Guarantees, beyond every ``EventStore`` guarantee:
/// - **Group commit.** Appends from any number of tasks are written by one writer thread; every
///   append pending at a moment goes into one transaction and one fsync.
/// - **Durability.** With ``LMDBOptions/Durability/fsync`` (the default) an append returns only
///   after its transaction is on stable storage.
/// - **One writing process.** A process that opens the ledger for writing holds an exclusive lock
///   on `writer.lock`; a second writer gets ``LedgerError/Code/locked``. Any number of processes may
///   open it read-only at the same time (LMDB's MVCC readers never block the writer).
/// - **Plain LMDB.** The directory is a valid LMDB environment that `mdb_stat -a` and `mdb_dump`
///   read; its databases are described in `Docs/EventFormat.md`.
///
/// ```swift
/// let store = try LMDBEventStore.open(at: "ledger")
/// try await store.append(ProposedEvent(stream: "run:run-42", type: "run.started", occurredAt: .init(nanosecondsSinceEpoch: 0)))
/// ```
public final class LMDBEventStore: EventStore {
    /// This process's open environments of the ledger, shared with its other stores.
    private let ledger: OpenLedgers.Handle
    let environment: LMDBEnvironment
    /// Opened read-only: no writer, no writer lock, no snapshot saves.
    let isReadOnly: Bool
    private let writerLock: Int32?
    private let indexer: StreamIndexer?
    private let writer: GroupCommitWriter?
    public let headNotifier: HeadNotifier
    /// The ledger's directory.
    public var path: String { environment.path }

    private init(ledger: OpenLedgers.Handle, writerLock: Int32?, options: LMDBOptions) throws(LedgerError) {
        self.ledger = ledger
        let environment = ledger.environment
        self.environment = environment
        self.isReadOnly = writerLock == nil
        self.writerLock = writerLock
        let head = try environment.withReadTransaction { txn throws(LedgerError) in try environment.head(in: txn) }
        self.headNotifier = HeadNotifier(head: head.seq)
        if writerLock != nil {
            guard let index = ledger.index else { throw LedgerError(.storage, "the stream index of \(ledger.environment.path) is not open") }
            try environment.setDurability(options.durability)
            let indexer = try StreamIndexer(environment: environment, index: index, logger: options.logger ?? Logger.current)
            self.indexer = indexer
            self.writer = GroupCommitWriter(
                environment: environment, durability: options.durability, clock: options.clock, notifier: headNotifier,
                indexer: indexer)
            OpenLedgers.setTail(indexer.tail, of: ledger)
        } else {
            self.indexer = nil
            self.writer = nil
        }
    }

    /// The ledger's index (`index/`) as it is now; nil when it has none or it cannot be trusted.
    var ledgerIndex: StreamIndex? { ledger.streams.index }

    /// The stream index and the writer's tail as they are now: a read-only store in the writer's
    /// process sees the writer's tail.
    private var streamPositions: StreamPositions {
        let streams = ledger.streams
        return StreamPositions(environment: environment, index: streams.index, tail: streams.tail)
    }

    /// The same for event ids.
    private var idPositions: IDPositions {
        let streams = ledger.streams
        return IDPositions(environment: environment, index: streams.index, tail: streams.tail)
    }

    /// Opens the ledger in `path`, creating it when missing (unless read-only or told not to).
    ///
    /// - Throws: ``LedgerError`` with ``LedgerError/Code/notALedger`` for a directory that holds
    ///   something else, ``LedgerError/Code/unsupportedFormat`` for a ledger from a newer build,
    ///   ``LedgerError/Code/locked`` when another process writes it, ``LedgerError/Code/readOnly``
    ///   for a directory this process may not write, ``LedgerError/Code/notFound`` for a missing
    ///   ledger opened read-only.
    public static func open(at path: String, options: LMDBOptions = LMDBOptions()) throws(LedgerError) -> LMDBEventStore {
        try LMDBEnvironment.prepareDirectory(path, options: options)
        let writerLock = options.readOnly ? nil : try LMDBEnvironment.takeWriterLock(path)
        do throws(LedgerError) {
            let ledger = try OpenLedgers.acquire(path: path, options: options)
            do throws(LedgerError) {
                return try LMDBEventStore(ledger: ledger, writerLock: writerLock, options: options)
            } catch {
                OpenLedgers.release(ledger)
                throw error
            }
        } catch {
            if let writerLock { LMDBEnvironment.releaseWriterLock(writerLock) }
            throw error
        }
    }

    deinit { close() }

    // MARK: Writing

    public func append(_ events: [ProposedEvent], expecting expectations: [String: ExpectedVersion]) async throws -> AppendResult {
        let writer = try openWriter()
        // Checked and encoded here, by the caller, not the writer.
        var encoder = try AppendPlanner.BatchEncoder(events)
        if events.count >= 2 * TemplateFeed.rangeEventCount, expectations.isEmpty {
            // A large append: the writer plans and writes each range while this encodes the next.
            let ranges = TemplateFeed.ranges(count: events.count)
            let first = EventTemplates(try encoder.templates(for: ranges[0]))
            let feed = TemplateFeed(count: events.count, first: first)
            let answer = try await withUnsafeThrowingContinuation { continuation in
                writer.submit(.init(appended: .batch(events, first), feed: feed, expectations: [:], continuation: continuation))
                for range in ranges.dropFirst() {
                    do throws(LedgerError) {
                        feed.deliver(EventTemplates(try encoder.templates(for: range)))
                    } catch {
                        feed.fail(error)
                        return
                    }
                }
            }
            return answer.result
        }
        let templates = EventTemplates(try encoder.templates(for: events.indices))
        if events.isEmpty, expectations.isEmpty {
            return AppendResult(positions: [], head: try head())
        }
        let answer = try await withUnsafeThrowingContinuation { continuation in
            writer.submit(
                .init(appended: .batch(events, templates), feed: nil, expectations: expectations, continuation: continuation))
        }
        return answer.result
    }

    /// Appends one event without making a batch of it: the writer gets its template and the
    /// fields it plans by, not the event.
    @discardableResult
    public func append(_ event: ProposedEvent, expecting expected: ExpectedVersion) async throws -> AppendResult {
        let writer = try openWriter()
        let template = try AppendPlanner.validatedTemplate(of: event)
        let appended = GroupCommitWriter.Appended.one(
            template: template, stream: event.stream, id: event.id, occurredAt: event.occurredAt)
        let expectations = expected == .any ? [:] : [event.stream: expected]
        let answer = try await withUnsafeThrowingContinuation { continuation in
            writer.submit(.init(appended: appended, feed: nil, expectations: expectations, continuation: continuation))
        }
        // Held to here, so that the template is freed on this thread, where it was allocated,
        // not on the writer's.
        withExtendedLifetime(template) {}
        return answer.result
    }

    /// The writer, or the error an append on a read-only ledger gets.
    private func openWriter() throws(LedgerError) -> GroupCommitWriter {
        guard let writer else { throw LedgerError(.readOnly, "the ledger at \(path) is open read-only") }
        return writer
    }

    /// Commits every append already queued, then closes the environment and releases the writer
    /// lock. Later calls throw ``LedgerError/Code/closed``. Idempotent.
    public func close() {
        let first = closed.withLock { closed in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        writer?.stop()
        indexer?.stop()
        if indexer != nil { OpenLedgers.setTail(nil, of: ledger) }
        if let writerLock { LMDBEnvironment.releaseWriterLock(writerLock) }
        headNotifier.close()
        OpenLedgers.release(ledger)
    }

    private let closed = Mutex(false)

    // MARK: Reading

    public func read(from seq: UInt64, maxCount: Int) throws -> [RecordedEvent] {
        let count = min(maxCount, Limits.readEventCountMax)
        guard count > 0 else { return [] }
        let first = max(seq, 1)
        // Seqs have no gaps, so `count` events end at `first + count - 1`.
        let last = first > UInt64.max - UInt64(count - 1) ? UInt64.max : first + UInt64(count - 1)
        var events: [RecordedEvent] = []
        events.reserveCapacity(min(count, 1_024))
        // The batches `forEachEvent` reads, but each event decoded straight into the array: going
        // through `forEachEvent`'s closure copies every event once more (a retain and a release of
        // each string and the payload), 2.6 M events/s against 3.6 M.
        var strings = DecodedStrings()
        _ = try scanEncodedEventBatches(from: first, through: last, batchCountMax: Self.decodeBatchCountMax) { batch, _ in
            for bytes in batch { events.append(try EventCodec.decode(bytes, strings: &strings)) }
            return true
        }
        return events
    }

    public func readStream(_ stream: String, fromVersion: UInt64, toVersion: UInt64, maxCount: Int) throws -> [RecordedEvent] {
        guard maxCount > 0, fromVersion <= toVersion, !stream.isEmpty, !stream.utf8.contains(0) else { return [] }
        return try environment.withReadTransaction { txn throws(LedgerError) in
            let head = try environment.head(in: txn)
            let positions = try streamPositions.positions(
                of: stream, fromVersion: max(fromVersion, 1), toVersion: toVersion,
                maxCount: min(maxCount, Limits.readEventCountMax), head: head.seq, in: txn)
            var events: [RecordedEvent] = []
            events.reserveCapacity(positions.count)
            for position in positions { events.append(try environment.decodedEvent(position.seq, in: txn)) }
            return events
        }
    }

    public func streamVersion(_ stream: String) throws -> UInt64 {
        guard !stream.isEmpty, !stream.utf8.contains(0) else { return 0 }
        return try environment.withReadTransaction { txn throws(LedgerError) in
            let head = try environment.head(in: txn)
            return try streamPositions.highestVersion(of: stream, head: head.seq, in: txn)
        }
    }

    public func event(id: EventID) throws -> RecordedEvent? {
        try environment.withReadTransaction { txn throws(LedgerError) in
            let head = try environment.head(in: txn)
            guard let seq = try idPositions.seqs(of: [id], head: head.seq, in: txn)[0] else { return nil }
            return try environment.decodedEvent(seq, in: txn)
        }
    }

    /// Id look-ups only (the writer's tail, the index, and the log above what they cover), in
    /// one read transaction; nothing is decoded.
    public func containsEvents(ids: [EventID]) throws -> [Bool] {
        try environment.withReadTransaction { txn throws(LedgerError) in
            let head = try environment.head(in: txn)
            return try idPositions.seqs(of: ids, head: head.seq, in: txn).map { $0 != nil }
        }
    }

    public func seq(recordedAtOrBefore time: LedgerTime) throws -> UInt64 {
        try environment.withReadTransaction { txn throws(LedgerError) in
            let head = try environment.head(in: txn)
            return try environment.seq(recordedAtOrBefore: time, head: head.seq, in: txn)
        }
    }

    public func head() throws -> LogHead {
        try environment.withReadTransaction { txn throws(LedgerError) in try environment.head(in: txn) }
    }

    /// Events decoded per batch by ``forEachEvent(from:through:_:)`` and ``read(from:maxCount:)``.
    static let decodeBatchCountMax = 1_024

    /// Decodes every event in `from...through` and hands it to `body`, in `seq` order, on the
    /// calling thread; `body` returns false to stop. The fastest full replay: each read transaction
    /// covers a bounded chunk of the log, so a long replay never pins old pages for long, and the
    /// events come in batches of up to 1,024 whose pages of the map are read whole, with
    /// independent loads, before the first is decoded (decoding one event at a time straight off
    /// the cursor waits for memory at every event: 3.1 M events/s against 4.3 M). Returns the last
    /// seq visited (0 if none).
    @discardableResult
    public func forEachEvent(
        from: UInt64 = 1, through: UInt64 = .max, _ body: (RecordedEvent) throws -> Bool
    ) throws -> UInt64 {
        var last: UInt64 = 0
        var strings = DecodedStrings()
        _ = try scanEncodedEventBatches(from: from, through: through, batchCountMax: Self.decodeBatchCountMax) { batch, _ in
            for bytes in batch {
                let event = try EventCodec.decode(bytes, strings: &strings)
                last = event.seq
                guard try body(event) else { return false }
            }
            return true
        }
        return last
    }

    /// Like ``forEachEvent(from:through:_:)`` but hands `body` the stored bytes in place (zero-copy
    /// from the memory map, valid only during the call). Decode fields with ``EventCodec``.
    @discardableResult
    public func forEachEncodedEvent(
        from: UInt64 = 1, through: UInt64 = .max, _ body: (UnsafeRawBufferPointer) throws -> Bool
    ) throws -> UInt64 {
        var next = max(from, 1)
        var last: UInt64 = 0
        var failure: (any Error)?
        var stopped = false
        let chunk = UInt64(Limits.replayChunkEventCountMax) * 16
        while !stopped, failure == nil, next <= through {
            let chunkEnd = through - next < chunk ? through : next + chunk - 1
            let visited = try environment.withReadTransaction { txn throws(LedgerError) in
                try environment.forEachEncoded(from: next, through: chunkEnd, in: txn) { (_, bytes) in
                    do {
                        if try body(bytes) { return true }
                        stopped = true
                    } catch {
                        failure = error
                    }
                    return false
                }
            }
            if visited == 0 { break }
            last = visited
            if visited < chunkEnd, !stopped, failure == nil { break }  // reached the head
            next = visited + 1
        }
        if let failure { throw failure }
        return last
    }

    // MARK: Verification and statistics

    public func verify() throws -> VerificationReport {
        try LedgerVerifier(environment: environment, index: ledger.streams.index).run()
    }

    /// Counts and sizes for `spend stats`.
    public func statistics() throws -> LedgerStatistics {
        try environment.withReadTransaction { txn throws(LedgerError) in
            let head = try environment.head(in: txn)
            var first: LedgerTime?
            try environment.forEachEncoded(from: 1, through: 1, in: txn) { (_, bytes) in
                first = EventCodec.recordedAt(in: bytes)
                return false
            }
            var stat = MDB_stat()
            try LMDBResult.check(mdb_stat(txn, environment.dbs.events, &stat), "reading event statistics")
            return LedgerStatistics(
                events: UInt64(stat.ms_entries), head: head, firstRecordedAt: first,
                lastRecordedAt: head.seq > 0 ? head.recordedAt : nil,
                bytesOnDisk: environment.dataFileBytes() + (ledger.streams.index?.dataFileBytes() ?? 0))
        }
    }
}

/// What `spend stats` prints.
public struct LedgerStatistics: Sendable, Hashable {
    public var events: UInt64
    public var head: LogHead
    public var firstRecordedAt: LedgerTime?
    public var lastRecordedAt: LedgerTime?
    /// Size of `data.mdb` and of the stream index's `index/data.mdb`.
    public var bytesOnDisk: UInt64
}

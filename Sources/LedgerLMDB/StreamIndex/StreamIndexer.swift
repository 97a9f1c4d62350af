import Foundation
import LedgerCore
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Moves the stream positions and ids of committed events from the in-memory ``StreamTail`` into
/// the on-disk ``StreamIndex``, on a thread of its own, in large sorted batches.
///
/// At open it first brings the index up to the log's head (after a crash the index may be behind;
/// after a copy or an `.noSync` power cut it may be ahead or paired with another log, and an index
/// from format 2 has no ids; then it is rebuilt), so the tail starts empty. At close it indexes everything pending, so a cleanly closed
/// ledger reopens with nothing to catch up.
///
/// `@unchecked Sendable`: `stopping` is atomic; the thread's own state lives in `run()`.
final class StreamIndexer: @unchecked Sendable {
    /// The indexer writes once this many events are pending, or once the oldest has waited
    /// ``flushIntervalNanoseconds``.
    ///
    /// Rarely, because every index commit rewrites the last leaf of each stream it touches and
    /// syncs them, and that I/O stalls the writer's own fsync. Ten a second (32,768 events or
    /// 100 ms) held 1,000 appenders over 1,000 streams to 152 k events/s, p99 24 ms, for 2M events;
    /// one a second gave 230 k, p99 11 ms. Readers do not notice: in this process they read the
    /// tail, in others a scan of the log above the watermark (at most this many events).
    static let batchEventCount = 262_144
    static let flushIntervalNanoseconds: UInt64 = 1_000_000_000
    /// Events the catch-up at open indexes per transaction.
    static let catchUpChunkEventCount: UInt64 = 1 << 20

    let index: StreamIndex
    let tail: StreamTail
    /// Told when the index first cannot be written and when it is written again: appends go on
    /// meanwhile, so no call reports it until the tail is full.
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)
    private let finished = ConditionLock()
    private var running = true

    /// Catches the index up with the log (synchronously), then starts the indexing thread.
    init(environment: LMDBEnvironment, index: StreamIndex, logger: Logger) throws(LedgerError) {
        let head = try environment.withReadTransaction { txn throws(LedgerError) in try environment.head(in: txn) }
        try index.beginUnsyncedWrites()
        try Self.catchUp(environment: environment, index: index, head: head)
        self.index = index
        self.logger = logger
        self.tail = StreamTail(indexed: head.seq)
        LedgerThreads.start(named: "ledger-indexer") { [self] in run() }
    }

    /// Indexes everything pending, ends the thread, then syncs the index (a clean close leaves no
    /// unsynced marker). Call after the writer has stopped.
    func stop() {
        stopping.store(true, ordering: .releasing)
        tail.wake()
        finished.withLock {
            while running { finished.wait() }
        }
        guard tail.pendingEventCount == 0 else { return }  // not all indexed: the marker stays, harmlessly
        do {
            try index.endUnsyncedWrites()
        } catch {
            logger.warning(
                "the stream index could not be synced at close; it will be rebuilt if the machine goes down first: \(error.message)",
                metadata: ["index": "\(index.path)"])
        }
    }

    private func run() {
        Self.yieldToTheWritePath()
        var failing = false
        while true {
            let stop = { self.stopping.load(ordering: .acquiring) }
            let pending = tail.waitForWork(
                minimum: Self.batchEventCount, timeoutNanoseconds: Self.flushIntervalNanoseconds, isStopping: stop)
            if pending == 0, stop() { break }
            guard let sealed = tail.seal() else { continue }
            let last = sealed.last!
            do {
                try index.write(
                    Self.entries(of: sealed), ids: Self.idEntries(of: sealed), occurred: Self.occurredEntries(of: sealed),
                    through: last.lastSeq, hash: last.lastHash)
                tail.dropIndexed(sealed.count, through: last.lastSeq)
                if failing {
                    failing = false
                    logger.notice(
                        "the stream and id index is written again", metadata: ["index": "\(index.path)", "through_seq": "\(last.lastSeq)"])
                }
            } catch {
                if !failing {
                    failing = true
                    logger.warning(
                        """
                        the stream and id index cannot be written: \(error.message). Appends are still acknowledged \
                        and reads stay exact; appends fail once \(Limits.streamIndexLagEventCountMax) events wait to be indexed
                        """,
                        metadata: ["index": "\(index.path)", "code": "\(error.code)"])
                }
                tail.fail(error)
                if stop() { break }  // the next open catches up from the log
                usleep(100_000)
            }
        }
        finished.withLock {
            running = false
            finished.broadcast()
        }
    }

    /// Lowers this thread's scheduling priority (nice 10), so that under load the writer, its
    /// hasher and the appending tasks come first and the index is mostly written while they wait
    /// for the log's fsync, when the cores are idle. On two cores indexing costs about as much CPU
    /// as writing; at equal priority it took a core from a batch in progress.
    ///
    /// Not lower: at nice 19 a busy machine (two CPU-bound processes on two cores) left the indexer
    /// under 1 % of a core, and it fell seconds behind. At nice 10 it keeps about a tenth of a core
    /// against each busy thread. It never falls behind without bound: once
    /// ``Limits/streamIndexLagEventCountMax`` events wait, appends wait for it
    /// (``StreamTail/waitForRoom(eventCountMax:)``).
    private static func yieldToTheWritePath() {
        #if os(Linux)
        // On Linux the nice value is a thread's, and `who` 0 is the calling thread.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
        #endif
    }

    /// The generations' positions as index entries, by stream, then version. Streams are sorted
    /// as Swift strings, which is byte order for ASCII names; any order is correct (the index puts
    /// each key where it belongs), a sorted one writes each leaf once.
    static func entries(of generations: [StreamTail.Generation]) -> [StreamIndexEntry] {
        var streams: [String: [StreamTail.Run]] = [:]
        var count = 0
        for var generation in generations {
            count += generation.eventCount
            for (stream, run) in generation.allRuns() { streams[stream, default: []].append(run) }
        }
        var entries: [StreamIndexEntry] = []
        entries.reserveCapacity(count)
        for stream in streams.keys.sorted() {
            for run in streams[stream]! {
                for (offset, seq) in run.seqs.enumerated() {
                    entries.append(StreamIndexEntry(stream: stream, version: run.firstVersion + UInt64(offset), seq: seq))
                }
            }
        }
        return entries
    }

    /// The generations' ids as index entries, sorted by id (the index's key order).
    static func idEntries(of generations: [StreamTail.Generation]) -> [IDIndexEntry] {
        var entries = positions(of: generations) { IDIndexEntry(id: $0.id, seq: $0.seq) }
        entries.sort { $0.id < $1.id }
        return entries
    }

    /// The generations' occurredAt entries, sorted by key (time, then seq): mostly in seq order
    /// already, as most events are recorded as they occur.
    static func occurredEntries(of generations: [StreamTail.Generation]) -> [OccurredIndexEntry] {
        var entries = positions(of: generations) { OccurredIndexEntry(time: $0.occurredAt, seq: $0.seq) }
        if zip(entries, entries.dropFirst()).contains(where: { $0 > $1 }) { entries.sort() }
        return entries
    }

    /// Every position the generations hold, in seq order, made into an index entry.
    private static func positions<Entry>(
        of generations: [StreamTail.Generation], _ entry: (WrittenPosition) -> Entry
    ) -> [Entry] {
        var entries: [Entry] = []
        entries.reserveCapacity(generations.reduce(0) { $0 + $1.eventCount })
        for generation in generations {
            for commit in generation.commits {
                for position in commit { entries.append(entry(position)) }
            }
        }
        return entries
    }

    // MARK: Catch-up at open

    /// Brings the index to `head`, reading the log from the index's watermark; resets an index
    /// that is ahead of the log, whose watermark hash is not the log's, or that has no ids or no
    /// occurredAt entries (one written by format 2 or 3).
    static func catchUp(environment: LMDBEnvironment, index: StreamIndex, head: LogHead) throws(LedgerError) {
        let watermark = try index.withReadTransaction { txn throws(LedgerError) in try index.watermark(in: txn) }
        var from = watermark.seq
        var paired = from <= head.seq && index.ids != nil && index.occurred != nil
        if paired, from > 0 { paired = try storedHash(environment, at: from) == watermark.hash }
        if !paired {
            try index.reset()
            from = 0
        }
        while from < head.seq {
            let through = min(head.seq, from + catchUpChunkEventCount)
            var positions: [WrittenPosition] = []
            var lastHash = ChainHash.genesis
            _ = try environment.withReadTransaction { txn throws(LedgerError) in
                try environment.forEachEncoded(from: from + 1, through: through, in: txn) { (seq, bytes) throws(LedgerError) in
                    let view = try EventView(bytes)
                    positions.append(
                        WrittenPosition(stream: view.streamName, version: view.version, id: view.id, seq: seq, occurredAt: view.occurredAt))
                    lastHash = view.hash
                    return true
                }
            }
            var generation = StreamTail.Generation()
            generation.add(positions)
            generation.lastHash = lastHash
            guard generation.lastSeq == through else {
                throw LedgerError(.corrupted, "the log ends at seq \(generation.lastSeq) below its head \(through)", seq: generation.lastSeq + 1)
            }
            try index.write(
                entries(of: [generation]), ids: idEntries(of: [generation]), occurred: occurredEntries(of: [generation]),
                through: through, hash: generation.lastHash)
            from = through
        }
    }

    private static func storedHash(_ environment: LMDBEnvironment, at seq: UInt64) throws(LedgerError) -> ChainHash? {
        try environment.withReadTransaction { txn throws(LedgerError) in
            try environment.encodedEvent(seq, in: txn).map { EventCodec.storedHash(in: $0) }
        }
    }
}

import Foundation
import Synchronization
import LedgerCore

/// Reads the log for folds: zero-copy when the store hands out stored bytes
/// (``EncodedEventSource``), else in decoded chunks re-encoded to their canonical bytes.
struct LogReader: Sendable {
    let store: any EventStore
    let encoded: (any EncodedEventSource)?
    /// 2: long folds over an ``EncodedEventSource`` use two threads: by seq range
    /// (``foldRanges(_:plan:through:runners:cursor:atBoundary:)``) when `ranges` allows it, else by
    /// projection (``scanInParallel(_:through:feeds:cursor:atBoundary:visit:)``).
    let threads: Int
    let ranges: RangeSplitPolicy

    init(_ store: any EventStore, threads: Int = 2, ranges: RangeSplitPolicy = RangeSplitPolicy()) {
        self.store = store
        self.encoded = store as? any EncodedEventSource
        self.threads = threads
        self.ranges = ranges
    }

    /// The hot loop's view of the runners: their fold closures and the seq each has reached.
    struct Feed {
        let runners: [ProjectionRunner]
        /// The built-in views among the runners, folded together.
        let builtins: BuiltinFold?
        /// Every other runner's fold and start.
        let applies: ContiguousArray<ProjectionRunner.Apply>
        let starts: ContiguousArray<UInt64>
        let allStarts: [UInt64]
        let cache = DecodeCache()

        /// A feed of `runners`; with `include`, only the built-in members it accepts, and the other
        /// runners only when `others` is true.
        init(_ runners: [ProjectionRunner], include: (BuiltinMember) -> Bool = { _ in true }, others: Bool = true) {
            self.runners = runners
            var fold = BuiltinFold()
            var applies = ContiguousArray<ProjectionRunner.Apply>()
            var starts = ContiguousArray<UInt64>()
            for runner in runners {
                if let member = runner.member {
                    if include(member) { fold.add(member, start: runner.seq) }
                } else if others {
                    applies.append(runner.apply)
                    starts.append(runner.seq)
                }
            }
            builtins = fold.isEmpty ? nil : fold
            self.applies = applies
            self.starts = starts
            allStarts = runners.map(\.seq)
        }

        var isEmpty: Bool { builtins == nil && applies.isEmpty }

        /// Folds one event into every runner that has not folded it yet.
        @inline(__always)
        func callAsFunction(_ view: EventView, seq: UInt64) throws(LedgerError) {
            builtins?.apply(view, seq: seq)
            for index in applies.indices where starts[index] < seq {
                try applies[index](view, cache)
            }
        }

        /// Marks every runner that has folded `seq` as being at `seq`.
        func settle(at seq: UInt64) {
            for (index, runner) in runners.enumerated() where allStarts[index] < seq && runner.seq < seq { runner.seq = seq }
        }
    }

    /// Folds of at least this many events use two threads when the runners split into two groups.
    static let parallelEventCountMin: UInt64 = 65_536
    /// Events per batch handed to the second thread.
    static let parallelBatchCountMax = 8_192

    /// Folds the events `from...through` (in `seq` order, with no gap) into `runners`, each only
    /// the events above its own seq. At every seq that is a multiple of `boundaryEvery` (0: none)
    /// the runners' seqs are brought up to date and `atBoundary` is called; `visit`, when given,
    /// sees every event. Returns the number of events read.
    ///
    /// If the fold throws, the runners' states may hold part of the range: the caller must
    /// discard or reset them.
    func fold(
        _ runners: [ProjectionRunner], from: UInt64, through: UInt64, boundaryEvery: UInt64 = 0,
        isolation: isolated (any Actor)? = #isolation,
        atBoundary: (FoldBoundary) throws -> Void = { _ in },
        visit: ((EventView) throws -> Void)? = nil
    ) async throws -> UInt64 {
        let start = max(from, 1)
        guard start <= through, !runners.isEmpty else { return 0 }
        let feed = Feed(runners)
        var cursor = Cursor(
            expected: start, boundaryEvery: boundaryEvery,
            nextBoundary: boundaryEvery == 0 ? .max : ((start + boundaryEvery - 1) / boundaryEvery) * boundaryEvery)
        if let encoded, threads > 1, visit == nil,
            let plan = RangePlan(runners, start: start, through: through, boundaryEvery: boundaryEvery, policy: ranges)
        {
            try Self.foldRanges(encoded, plan: plan, through: through, runners: runners, cursor: &cursor, atBoundary: atBoundary)
        } else if let encoded, threads > 1, through - start + 1 >= Self.parallelEventCountMin, let split = Self.split(runners) {
            try Self.scanInParallel(
                encoded, through: through, feeds: split, cursor: &cursor, atBoundary: atBoundary, visit: visit)
        } else if let encoded {
            try Self.scan(encoded, through: through, feed: feed, cursor: &cursor, atBoundary: atBoundary, visit: visit)
        } else {
            chunks: while cursor.expected <= through {
                let wanted = Int(min(UInt64(Limits.replayChunkEventCountMax), through - cursor.expected + 1))
                let chunk = try await store.read(from: cursor.expected, maxCount: wanted)
                if chunk.isEmpty { break }
                for event in chunk {
                    guard event.seq <= through else { break chunks }
                    feed.cache.prime(event)
                    try EventBytes.withView(of: event) { view in
                        try cursor.step(view, feed: feed, atBoundary: atBoundary, visit: visit)
                    }
                }
            }
        }
        let read = cursor.expected - start
        if read > 0 { feed.settle(at: cursor.expected - 1) }
        return read
    }

    /// Where a fold is: the next seq due and the next snapshot boundary.
    struct Cursor {
        var expected: UInt64
        let boundaryEvery: UInt64
        var nextBoundary: UInt64

        @inline(__always)
        mutating func step(
            _ view: EventView, feed: Feed, atBoundary: (FoldBoundary) throws -> Void, visit: ((EventView) throws -> Void)?
        ) throws {
            let seq = view.seq
            guard seq == expected else {
                throw LedgerError(.corrupted, "the log returned seq \(seq) where seq \(expected) was due", seq: expected)
            }
            try feed(view, seq: seq)
            if let visit { try visit(view) }
            if seq == nextBoundary {
                feed.settle(at: seq)
                try atBoundary(FoldBoundary(view))
                nextBoundary += boundaryEvery
            }
            expected += 1
        }
    }

    /// The zero-copy loop, kept synchronous so that its state is plain locals.
    static func scan(
        _ source: any EncodedEventSource, through: UInt64, feed: Feed, cursor: inout Cursor,
        atBoundary: (FoldBoundary) throws -> Void, visit: ((EventView) throws -> Void)?
    ) throws {
        try source.scanEncodedEvents(from: cursor.expected, through: through) { bytes in
            try cursor.step(try EventView(bytes), feed: feed, atBoundary: atBoundary, visit: visit)
            return true
        }
    }

    /// The runners as two feeds of comparable work, or nil when one side would be empty. The
    /// reading thread also pays for the scan itself, so it keeps the lighter side: the agent and
    /// client spend views and the hourly view; the other spend views, budgets, outcomes and every
    /// other projection go to the helper. (Each thread reads an event's charge itself.)
    static func split(_ runners: [ProjectionRunner]) -> (Feed, Feed)? {
        func onReader(_ member: BuiltinMember) -> Bool {
            switch member {
            case .spend(let field, _): field == SpendDimension.agent.fieldIndex || field == SpendDimension.client.fieldIndex
            case .hourly: true
            case .budgets, .outcomes: false
            }
        }
        let reader = Feed(runners, include: onReader, others: false)
        let helper = Feed(runners, include: { !onReader($0) }, others: true)
        guard !reader.isEmpty, !helper.isEmpty else { return nil }
        return (reader, helper)
    }

    /// One pass over the log folded by two threads, pipelined: this thread reads batch k, hands
    /// it to the helper thread and folds its own feed over it; the helper folds the other feed
    /// over batch k while this thread moves on to read batch k + 1. Every runner is folded by
    /// exactly one thread, in `seq` order, so the states are the single-thread states. The helper
    /// is always done with a batch before its buffers can go stale (before a call that closes the
    /// scan's window returns) and before a snapshot boundary is handled (batches end at
    /// boundaries).
    private static func scanInParallel(
        _ source: any EncodedEventSource, through: UInt64, feeds: (Feed, Feed), cursor: inout Cursor,
        atBoundary: (FoldBoundary) throws -> Void, visit: ((EventView) throws -> Void)?
    ) throws {
        let (mine, theirs) = feeds
        let helper = FoldHelper(feed: theirs)
        defer { helper.stop() }
        // Two pointer arrays, alternately: the helper reads one while this thread fills the other.
        let buffers = [
            UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: parallelBatchCountMax),
            UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: parallelBatchCountMax),
        ]
        defer { for buffer in buffers { buffer.deallocate() } }
        var turn = 0
        var helperBusy = false
        while cursor.expected <= through {
            let segmentEnd = min(through, cursor.nextBoundary)
            let before = cursor.expected
            try source.scanEncodedEventBatches(
                from: cursor.expected, through: segmentEnd, batchCountMax: parallelBatchCountMax
            ) { batch, closesWindow in
                let copy = UnsafeMutableBufferPointer(rebasing: buffers[turn][0..<batch.count])
                _ = copy.initialize(fromContentsOf: batch)
                turn ^= 1
                var failure: (any Error)?
                do {
                    if helperBusy {
                        helperBusy = false
                        try helper.finish()
                    }
                    helper.start(UnsafeBufferPointer(copy))
                    helperBusy = true
                    for bytes in batch {
                        let view = try EventView(bytes)
                        let seq = view.seq
                        guard seq == cursor.expected else {
                            throw LedgerError(
                                .corrupted, "the log returned seq \(seq) where seq \(cursor.expected) was due", seq: cursor.expected)
                        }
                        try mine(view, seq: seq)
                        if let visit { try visit(view) }
                        cursor.expected += 1
                    }
                } catch {
                    failure = error
                }
                let atBoundaryNow = cursor.expected - 1 == cursor.nextBoundary
                if failure != nil || closesWindow || atBoundaryNow, helperBusy {
                    helperBusy = false
                    do { try helper.finish() } catch { failure = failure ?? error }
                }
                if let failure { throw failure }
                if atBoundaryNow, let last = batch.last {
                    mine.settle(at: cursor.nextBoundary)
                    try atBoundary(FoldBoundary(try EventView(last)))
                    cursor.nextBoundary += cursor.boundaryEvery
                }
                return true
            }
            if helperBusy {
                helperBusy = false
                try helper.finish()
            }
            if cursor.expected == before { break }  // the log ends here
        }
    }

    /// Folds every event of `1...through` with `occurredAt <= time`, in `seq` order, into
    /// `runners` (which must be at zero). Returns the number of events folded.
    func foldOccurred(
        _ runners: [ProjectionRunner], atOrBefore time: LedgerTime, through: UInt64,
        isolation: isolated (any Actor)? = #isolation
    ) async throws -> UInt64 {
        guard through > 0, !runners.isEmpty else { return 0 }
        let feed = Feed(runners)
        var count: UInt64 = 0
        var last: UInt64 = 0
        if let encoded {
            try encoded.scanEncodedEvents(occurredAtOrBefore: time, through: through) { bytes in
                let view = try EventView(bytes)
                try feed(view, seq: view.seq)
                last = view.seq
                count += 1
                return true
            }
        } else {
            var next: UInt64 = 1
            while next <= through {
                let wanted = Int(min(UInt64(Limits.replayChunkEventCountMax), through - next + 1))
                let chunk = try await store.read(from: next, maxCount: wanted)
                guard let tail = chunk.last else { break }
                for event in chunk where event.seq <= through && event.occurredAt <= time {
                    feed.cache.prime(event)
                    try EventBytes.withView(of: event) { view in try feed(view, seq: event.seq) }
                    last = event.seq
                    count += 1
                }
                next = tail.seq + 1
            }
        }
        if last > 0 { feed.settle(at: last) }
        return count
    }

    /// `recordedAt` and the stored chain hash of event `seq`; nil when the log has no such event.
    /// Seq 0 is the empty prefix: (nil, genesis).
    func position(at seq: UInt64) async throws -> (recordedAt: LedgerTime?, hash: ChainHash)? {
        guard seq > 0 else { return (nil, .genesis) }
        if let encoded {
            var found: (LedgerTime?, ChainHash)?
            try encoded.scanEncodedEvents(from: seq, through: seq) { bytes in
                if EventCodec.seq(in: bytes) == seq {
                    found = (EventCodec.recordedAt(in: bytes), EventCodec.storedHash(in: bytes))
                }
                return false
            }
            return found
        }
        guard let event = try await store.read(from: seq, maxCount: 1).first, event.seq == seq else { return nil }
        return (event.recordedAt, event.hash)
    }
}

/// Where the helper leaves the sum of the bytes it touched ahead, so the reads are kept.
private let touched = Atomic<UInt8>(0)

/// The second thread of a parallel fold: folds its feed over each batch it is handed.
///
/// `@unchecked Sendable`: the batch and the feed are handed over and back through two
/// semaphores, so the reading thread and the helper never touch them at the same time; the feed's
/// states are folded by the helper only (the reading thread folds other states).
private final class FoldHelper: @unchecked Sendable {
    private let feed: LogReader.Feed
    private let go = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private var batch = UnsafeBufferPointer<UnsafeRawBufferPointer>(start: nil, count: 0)
    private var failure: (any Error)?
    private var stopping = false

    init(feed: LogReader.Feed) {
        self.feed = feed
        LedgerThreads.start(named: "ledger-fold") { [self] in run() }
    }

    func start(_ batch: UnsafeBufferPointer<UnsafeRawBufferPointer>) {
        self.batch = batch
        go.signal()
    }

    /// Waits for the batch; rethrows what the helper's feed threw.
    func finish() throws {
        done.wait()
        if let failure {
            self.failure = nil
            throw failure
        }
    }

    func stop() {
        stopping = true
        go.signal()
        done.wait()
    }

    private func run() {
        let pageBytes = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4_096)
        let pageMask = ~UInt(pageBytes - 1)
        var sink: UInt8 = 0
        while true {
            go.wait()
            if stopping { break }
            // Read each OS page of the batch once, all loads independent, before folding: the
            // same trick as the reading thread's scan (this core's caches do not have the events).
            var lastPage: UInt = 0
            for bytes in batch {
                guard let start = bytes.baseAddress else { continue }
                let page = UInt(bitPattern: start) & pageMask
                if page != lastPage {
                    lastPage = page
                    let base = UnsafeRawPointer(bitPattern: page)!
                    var offset = 0
                    while offset < pageBytes {
                        sink &+= base.load(fromByteOffset: offset, as: UInt8.self)
                        offset += 64
                    }
                }
            }
            touched.store(sink, ordering: .relaxed)
            do {
                for bytes in batch {
                    let view = try EventView(bytes)
                    try feed(view, seq: view.seq)
                }
            } catch {
                failure = error
            }
            done.signal()
        }
        done.signal()
    }
}

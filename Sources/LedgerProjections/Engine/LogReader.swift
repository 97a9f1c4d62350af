import LedgerCore

/// Reads the log for folds: zero-copy when the store hands out stored bytes
/// (``EncodedEventSource``), else in decoded chunks re-encoded to their canonical bytes.
struct LogReader: Sendable {
    let store: any EventStore
    let encoded: (any EncodedEventSource)?

    init(_ store: any EventStore) {
        self.store = store
        self.encoded = store as? any EncodedEventSource
    }

    /// The hot loop's view of the runners: their fold closures and the seq each has reached.
    private struct Feed {
        let runners: [ProjectionRunner]
        /// The built-in views among the runners, folded together.
        let builtins: BuiltinFold?
        /// Every other runner's fold and start.
        let applies: ContiguousArray<ProjectionRunner.Apply>
        let starts: ContiguousArray<UInt64>
        let allStarts: [UInt64]
        let cache = DecodeCache()

        init(_ runners: [ProjectionRunner]) {
            self.runners = runners
            let fold = BuiltinFold()
            var applies = ContiguousArray<ProjectionRunner.Apply>()
            var starts = ContiguousArray<UInt64>()
            for runner in runners {
                if let member = runner.member {
                    fold.add(member, start: runner.seq)
                } else {
                    applies.append(runner.apply)
                    starts.append(runner.seq)
                }
            }
            builtins = fold.isEmpty ? nil : fold
            self.applies = applies
            self.starts = starts
            allStarts = runners.map(\.seq)
        }

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
        atBoundary: (EventView) throws -> Void = { _ in },
        visit: ((EventView) throws -> Void)? = nil
    ) async throws -> UInt64 {
        let start = max(from, 1)
        guard start <= through, !runners.isEmpty else { return 0 }
        let feed = Feed(runners)
        var cursor = Cursor(
            expected: start, boundaryEvery: boundaryEvery,
            nextBoundary: boundaryEvery == 0 ? .max : ((start + boundaryEvery - 1) / boundaryEvery) * boundaryEvery)
        if let encoded {
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
    private struct Cursor {
        var expected: UInt64
        let boundaryEvery: UInt64
        var nextBoundary: UInt64

        @inline(__always)
        mutating func step(
            _ view: EventView, feed: Feed, atBoundary: (EventView) throws -> Void, visit: ((EventView) throws -> Void)?
        ) throws {
            let seq = view.seq
            guard seq == expected else {
                throw LedgerError(.corrupted, "the log returned seq \(seq) where seq \(expected) was due", seq: expected)
            }
            try feed(view, seq: seq)
            if let visit { try visit(view) }
            if seq == nextBoundary {
                feed.settle(at: seq)
                try atBoundary(view)
                nextBoundary += boundaryEvery
            }
            expected += 1
        }
    }

    /// The zero-copy loop, kept synchronous so that its state is plain locals.
    private static func scan(
        _ source: any EncodedEventSource, through: UInt64, feed: Feed, cursor: inout Cursor,
        atBoundary: (EventView) throws -> Void, visit: ((EventView) throws -> Void)?
    ) throws {
        try source.scanEncodedEvents(from: cursor.expected, through: through) { bytes in
            try cursor.step(try EventView(bytes), feed: feed, atBoundary: atBoundary, visit: visit)
            return true
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

import LedgerCore

/// The positions of committed events that the index does not hold yet: the writer adds every
/// commit's (stream, version, seq) and (id, seq) here, the indexer moves them to the index and
/// drops them, and in-process readers consult it so a stream read or an id look-up never misses
/// an acknowledged event.
///
/// Entries are kept in generations. The writer adds to the newest; the indexer seals it (a new,
/// empty generation takes the writes from then on), writes the sealed ones to the index, and drops
/// them once that index transaction is durable. Within one generation a stream's events have
/// consecutive versions, so its look-up table by stream keeps, per stream, the first version and
/// the seqs.
///
/// Invariants: every commit continues the head with no gap (checked on every add); every entry's
/// seq is in `(indexed, head]`; an id is held once and a stream's versions grow by exactly one
/// (checked as a generation's look-up tables are built).
///
/// `@unchecked Sendable`: every field is touched only under `lock`.
final class StreamTail: @unchecked Sendable {
    /// One stream's events within a generation: versions `firstVersion ..< firstVersion + seqs.count`.
    struct Run {
        var firstVersion: UInt64
        var seqs: [UInt64]

        var lastVersion: UInt64 { firstVersion + UInt64(seqs.count) - 1 }

        /// Adds the event at `version`, which must follow the run's last (or start an empty run).
        mutating func append(version: UInt64, seq: UInt64) {
            precondition(version == firstVersion + UInt64(seqs.count), "a stream's versions grow by one")
            seqs.append(seq)
        }
    }

    /// A generation of the tail: the positions of the commits it took, in seq order, and the last
    /// committed event it holds.
    ///
    /// Adding a commit costs no hashing: its positions are kept as the writer made them. The
    /// look-up tables by id and by stream are built from them on first use, under the tail's
    /// lock, and extended by later uses; a workload that never looks up, like a single producer
    /// of fresh time-ordered ids, never builds them. The indexer sorts the positions itself.
    ///
    /// Time-ordered ids (UUIDv7) from many producers mostly need no table: a fresh id can only be
    /// in the last few commits, those whose ids reach as high as it (each commit keeps the highest
    /// id of it and every commit before). Those few commits are searched by their own sorted ids;
    /// only an id that many commits could hold (a random id, or an old one repeated) is looked up
    /// in the table of the whole generation.
    struct Generation {
        /// Each commit's positions, in seq order.
        private(set) var commits: [[WrittenPosition]] = []
        private(set) var eventCount = 0
        private(set) var lastSeq: UInt64 = 0
        var lastHash = ChainHash.genesis
        /// Per commit: the highest id of it and of every commit before it (never decreasing).
        private var highestIDThrough: [EventID] = []
        /// Per commit: its lowest and highest id.
        private var idBounds: [(lowest: EventID, highest: EventID)] = []
        /// Per commit, once searched: its (id, seq) pairs sorted by id.
        private var sortedIDs: [[(id: EventID, seq: UInt64)]?] = []
        private var ids = EventIDTable()
        private var runs: [String: Run] = [:]
        /// How many of `commits` are in `ids`, and in `runs`.
        private var commitsInIDs = 0
        private var commitsInRuns = 0

        /// Searching more commits than this by their sorted ids costs more than the table.
        static let commitsSearchedMax = 8

        /// The highest id the generation holds (nil when empty): a higher id is not here.
        var highestID: EventID? { highestIDThrough.last }

        /// Adds one commit's positions, which must continue the generation's seqs.
        mutating func add(_ commit: [WrittenPosition]) {
            guard let first = commit.first else { return }
            precondition(eventCount == 0 || first.seq == lastSeq + 1, "a generation's seqs have no gaps")
            var (lowest, highest) = (first.id, first.id)
            for position in commit {
                lowest = min(lowest, position.id)
                highest = max(highest, position.id)
            }
            highestIDThrough.append(max(highest, highestID ?? highest))
            idBounds.append((lowest, highest))
            sortedIDs.append(nil)
            commits.append(commit)
            eventCount += commit.count
            lastSeq = commit.last!.seq
        }

        /// The seq of the event with `id`, if the generation holds it.
        mutating func seq(ofID id: EventID) -> UInt64? {
            guard let highestID, id <= highestID else { return nil }
            // Commits before `candidates` hold only ids below `id`.
            var (low, high) = (0, highestIDThrough.count - 1)
            while low < high {
                let middle = (low + high) / 2
                if highestIDThrough[middle] < id { low = middle + 1 } else { high = middle }
            }
            let candidates = low..<commits.count
            if candidates.count <= Self.commitsSearchedMax {
                for commit in candidates where idBounds[commit].lowest <= id && id <= idBounds[commit].highest {
                    if let seq = searchSorted(commit, for: id) { return seq }
                }
                return nil
            }
            while commitsInIDs < commits.count {
                for position in commits[commitsInIDs] {
                    let previous = ids.insert(position.id, value: position.seq)
                    precondition(previous == nil, "an event id is stored once")
                }
                commitsInIDs += 1
            }
            return ids[id]
        }

        /// Binary search in commit `index`'s ids, sorted on first use.
        private mutating func searchSorted(_ index: Int, for id: EventID) -> UInt64? {
            if sortedIDs[index] == nil {
                sortedIDs[index] = commits[index].map { ($0.id, $0.seq) }.sorted { $0.id < $1.id }
            }
            return sortedIDs[index]!.withUnsafeBufferPointer { sorted in
                var (low, high) = (0, sorted.count)
                while low < high {
                    let middle = (low + high) / 2
                    if sorted[middle].id < id { low = middle + 1 } else { high = middle }
                }
                return low < sorted.count && sorted[low].id == id ? sorted[low].seq : nil
            }
        }

        /// The run of `stream`'s events in this generation, if any.
        mutating func run(of stream: String) -> Run? {
            tableRuns()
            return runs[stream]
        }

        /// Every stream's run in this generation.
        mutating func allRuns() -> [String: Run] {
            tableRuns()
            return runs
        }

        /// Versions grow by exactly one within a stream; checked here, as the runs are built.
        private mutating func tableRuns() {
            while commitsInRuns < commits.count {
                for position in commits[commitsInRuns] {
                    runs[position.stream, default: Run(firstVersion: position.version, seqs: [])]
                        .append(version: position.version, seq: position.seq)
                }
                commitsInRuns += 1
            }
        }
    }

    /// What a reader sees of one stream: its runs in version order and the bounds they cover.
    struct StreamView {
        /// (version, seq) of each tail event of the stream, in version order.
        var entries: [(version: UInt64, seq: UInt64)]
        /// Every event with seq at or below this is in the index (or the tail's entries).
        var indexed: UInt64
        /// The last committed seq the tail holds; events above it are not in the tail yet.
        var head: UInt64
    }

    private let lock = ConditionLock()
    /// Oldest first; never empty. The last one takes the writer's adds.
    private var generations = [Generation()]
    private var indexed: UInt64
    private var head: UInt64
    private var eventCount = 0
    /// Set by the indexer when it cannot write the index; appends fail with it once the tail is full.
    private var failure: LedgerError?

    /// A tail for a log whose events up to `indexed` are in the index and whose head is `indexed`.
    init(indexed: UInt64) {
        self.indexed = indexed
        self.head = indexed
    }

    // MARK: The writer

    /// Adds the events of one committed transaction, in seq order, ending at `head`.
    func append(_ written: [WrittenPosition], head newHead: LogHead) {
        guard !written.isEmpty else { return }
        lock.withLock {
            precondition(written.first!.seq == head + 1, "the tail must grow without gaps")
            precondition(newHead.seq == head + UInt64(written.count), "the tail's head must match the commit")
            var generation = generations.removeLast()
            generation.add(written)
            generation.lastHash = newHead.hash
            generations.append(generation)
            eventCount += written.count
            head = newHead.seq
            lock.broadcast()
        }
    }

    /// The highest version of `stream` the tail holds, or nil with the seq through which the index
    /// must be read to know it.
    func latestVersion(of stream: String) -> (version: UInt64?, indexed: UInt64) {
        lock.withLock {
            for index in generations.indices.reversed() {
                if let run = generations[index].run(of: stream) { return (run.lastVersion, indexed) }
            }
            return (nil, indexed)
        }
    }

    /// The seq of each of `ids` the tail holds (nil for the others), under one lock, with the
    /// bounds a reader needs to combine the answers with the index and the log: ids not in the tail are indexed if at all at or below
    /// `indexed`, or above `head` (committed after this look).
    func seqs(ofIDs ids: [EventID]) -> (seqs: [UInt64?], indexed: UInt64, head: UInt64) {
        lock.withLock {
            var seqs: [UInt64?] = []
            seqs.reserveCapacity(ids.count)
            for id in ids { seqs.append(lockedSeq(ofID: id)) }
            return (seqs, indexed, head)
        }
    }

    /// ``seqs(ofIDs:)`` for one id, with no array (the writer asks this once per single-event append).
    func seq(ofID id: EventID) -> (seq: UInt64?, indexed: UInt64) {
        lock.withLock { (lockedSeq(ofID: id), indexed) }
    }

    /// The seq of `id` in the tail; under `lock`.
    private func lockedSeq(ofID id: EventID) -> UInt64? {
        for index in generations.indices.reversed() {
            if let seq = generations[index].seq(ofID: id) { return seq }
        }
        return nil
    }

    /// Blocks while the tail holds `eventCountMax` events or more; throws the indexer's failure
    /// if it has one by then.
    func waitForRoom(eventCountMax: Int) throws(LedgerError) {
        let failure: LedgerError? = lock.withLock {
            while eventCount >= eventCountMax, self.failure == nil { lock.wait() }
            return eventCount >= eventCountMax ? self.failure : nil
        }
        if let failure { throw failure }
    }

    // MARK: Readers

    /// One stream's tail entries, with the bounds a reader needs to combine them with the index.
    func view(of stream: String) -> StreamView {
        lock.withLock {
            var entries: [(version: UInt64, seq: UInt64)] = []
            for index in generations.indices {
                guard let run = generations[index].run(of: stream) else { continue }
                for (offset, seq) in run.seqs.enumerated() {
                    entries.append((run.firstVersion + UInt64(offset), seq))
                }
            }
            return StreamView(entries: entries, indexed: indexed, head: head)
        }
    }

    // MARK: The indexer

    /// Events waiting for the index.
    var pendingEventCount: Int { lock.withLock { eventCount } }

    /// Waits until at least `minimum` events are pending, `timeoutNanoseconds` passed with at least
    /// one pending, or `isStopping()` says so. Returns the number pending.
    func waitForWork(minimum: Int, timeoutNanoseconds: UInt64, isStopping: () -> Bool) -> Int {
        lock.withLock {
            var deadline: UInt64?
            while eventCount < minimum, !isStopping() {
                guard eventCount > 0 else {
                    deadline = nil
                    lock.wait()
                    continue
                }
                let now = ConditionLock.monotonicNanoseconds()
                let until = deadline ?? now + timeoutNanoseconds
                deadline = until
                if now >= until { break }
                lock.wait(until: until)
            }
            return eventCount
        }
    }

    /// Wakes the indexer (to stop, or to look again).
    func wake() { lock.withLock { lock.broadcast() } }

    /// Seals the newest generation and returns every sealed one, oldest first; nil when nothing
    /// is pending. The writer's later adds go to a fresh generation.
    func seal() -> [Generation]? {
        lock.withLock {
            if generations.last!.eventCount > 0 { generations.append(Generation()) }
            let sealed = Array(generations.dropLast())
            return sealed.isEmpty ? nil : sealed
        }
    }

    /// Drops the `count` oldest generations, which the index now holds through `seq`.
    func dropIndexed(_ count: Int, through seq: UInt64) {
        lock.withLock {
            precondition(count < generations.count, "the writer's generation is never dropped")
            precondition(generations[count - 1].lastSeq == seq, "dropped generations must end at the index's watermark")
            eventCount -= generations[0..<count].reduce(0) { $0 + $1.eventCount }
            generations.removeFirst(count)
            indexed = seq
            failure = nil
            lock.broadcast()
        }
    }

    /// Records why the indexer could not write, for appends that wait on a full tail.
    func fail(_ error: LedgerError) {
        lock.withLock {
            failure = error
            lock.broadcast()
        }
    }
}

/// Where the writer put one event: collected during a transaction, handed to ``StreamTail`` after
/// the commit.
struct WrittenPosition {
    var stream: String
    var version: UInt64
    var id: EventID
    var seq: UInt64
    var occurredAt: LedgerTime
}

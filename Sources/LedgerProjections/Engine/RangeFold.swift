import Foundation
import Synchronization
import LedgerCore

/// A snapshot boundary reached by a fold: the position a snapshot taken there records, and which
/// runners it is for.
struct FoldBoundary {
    let seq: UInt64
    let recordedAt: LedgerTime
    let hash: ChainHash
    /// nil: every runner that has folded exactly `seq`; else only these among them.
    let only: [ProjectionRunner]?

    init(seq: UInt64, recordedAt: LedgerTime, hash: ChainHash, only: [ProjectionRunner]? = nil) {
        self.seq = seq
        self.recordedAt = recordedAt
        self.hash = hash
        self.only = only
    }

    init(_ view: EventView, only: [ProjectionRunner]? = nil) {
        self.init(seq: view.seq, recordedAt: view.recordedAt, hash: view.hash, only: only)
    }

    /// The same position, for `runners` only.
    func only(_ runners: [ProjectionRunner]) -> FoldBoundary {
        FoldBoundary(seq: seq, recordedAt: recordedAt, hash: hash, only: runners)
    }

    func includes(_ runner: ProjectionRunner) -> Bool {
        runner.seq == seq && (only?.contains { $0 === runner } ?? true)
    }
}

/// When a long fold splits the log into two seq ranges (``LogReader/foldRanges``). Internal knobs:
/// tests force a split point and lower the minimum.
struct RangeSplitPolicy: Sendable, Hashable {
    /// false: never split by range (the view split of ``LogReader/scanInParallel`` is used instead).
    var enabled = true
    /// Shorter folds are not split.
    var eventCountMin: UInt64 = 200_000
    /// The share of the events in the first range when some views must be folded in order; half
    /// when none must be. The reading thread then also folds those over the second range, which
    /// costs about half a full fold per event (the scan, the event view and the charge: 0.13 µs
    /// against 0.24 µs on the benchmark log), so it takes the smaller first range: 0.3 balances
    /// the two threads there (Docs/BENCHMARKS.md, "Projections").
    var firstShare = 0.3
    /// A forced last seq of the first range (tests); nil: from `firstShare`.
    var splitAt: UInt64?
    /// The most the helper keeps of copies of its states at the second range's boundaries
    /// (approximate bytes). Beyond it the helper stops, and the rest of the second range is folded
    /// in order after the merge: memory stays bounded for views with very many keys.
    var keptBytesMax = 256 << 20
}

/// The plan of a range-split fold: which runners add up and where the log is cut.
struct RangePlan {
    /// The last seq of the first range.
    let split: UInt64
    /// Spend tables and the hourly view: states that add up, folded over each range separately.
    let additive: [ProjectionRunner]
    /// Every other runner (budgets, outcomes, any other projection): folded in seq order over the
    /// whole fold by the reading thread.
    let ordered: [ProjectionRunner]
    /// See ``RangeSplitPolicy/keptBytesMax``.
    let keptBytesMax: Int

    /// The plan for folding `start...through` into `runners`, or nil when the fold should not be
    /// split: disabled, shorter than the policy's minimum or than two snapshot intervals, runners
    /// starting from different seqs (a catch-up from snapshots), or no view that adds up.
    init?(_ runners: [ProjectionRunner], start: UInt64, through: UInt64, boundaryEvery: UInt64, policy: RangeSplitPolicy) {
        guard policy.enabled, start <= through else { return nil }
        let count = through - start + 1
        guard count >= max(policy.eventCountMin, 2), boundaryEvery == 0 || count / 2 >= boundaryEvery else { return nil }
        guard runners.allSatisfy({ $0.seq == start - 1 }) else { return nil }
        additive = runners.filter { AdditiveState.adds($0) }
        ordered = runners.filter { !AdditiveState.adds($0) }
        guard !additive.isEmpty else { return nil }
        let share = ordered.isEmpty ? 0.5 : min(max(policy.firstShare, 0), 1)
        let cut = policy.splitAt ?? (start - 1 + UInt64(Double(count) * share))
        split = min(max(cut, start), through - 1)
        keptBytesMax = policy.keptBytesMax
    }
}

/// The state of a view that adds up over consecutive ranges, by value.
enum AdditiveState {
    case spend(SpendTable)
    case hourly(HourlySpend)

    static func adds(_ runner: ProjectionRunner) -> Bool {
        switch runner.member {
        case .spend, .hourly: true
        default: false
        }
    }

    /// A copy of `runner`'s state (a runner that ``adds(_:)``).
    init(of runner: ProjectionRunner) {
        switch runner.member {
        case .spend(_, let state): self = .spend(state.pointee)
        case .hourly(let state): self = .hourly(state.pointee)
        default: preconditionFailure("\(runner.name) does not add up")
        }
    }

    /// About how many bytes the state holds (rows, keys and index).
    var approximateBytes: Int {
        switch self {
        case .spend(let table): table.count * (SpendRow.encodedBytes + 32) + table.keys.arena.count
        case .hourly(let hours): hours.hours.count * (SpendRow.encodedBytes + 40)
        }
    }

    /// Replaces `runner`'s state with this one.
    func store(in runner: ProjectionRunner) {
        switch (self, runner.member) {
        case (.spend(let table), .spend(_, let state)): state.pointee = table
        case (.hourly(let hours), .hourly(let state)): state.pointee = hours
        default: preconditionFailure("\(runner.name) does not hold this kind of state")
        }
    }

    /// This state followed by `later` (folded from zero over the events right after this state's);
    /// nil when the merge might differ from one fold over both ranges.
    func merged(with later: AdditiveState) -> AdditiveState? {
        switch (self, later) {
        case (.spend(var table), .spend(let next)): return table.merge(later: next) ? .spend(table) : nil
        case (.hourly(var hours), .hourly(let next)): return hours.merge(later: next) ? .hourly(hours) : nil
        default: return nil
        }
    }
}

extension LogReader {
    /// How many folds have taken the range split (for tests: they check the path was taken).
    static let rangeFolds = Atomic<Int>(0)
    /// How many range-split folds refused a merge and folded the rest of the second range in order.
    static let rangeMergesRefused = Atomic<Int>(0)

    /// One long fold as two seq ranges folded at the same time, then merged.
    ///
    /// The views whose states add up (the six spend tables and spend per hour: every row is a sum,
    /// a count, a minimum or a maximum of the events in it) are folded twice as fast: this thread
    /// folds them over `start...split`, a helper thread folds fresh states of them over
    /// `split + 1...through`, each reading only its own range from the memory map. Every other
    /// runner (budget status — periods, thresholds and burn rate depend on every earlier event —,
    /// outcomes — a completion is counted for the task of its run's start, which may be in the
    /// first range —, and any other projection) is folded by this thread, in `seq` order, over the
    /// whole fold, as in a single-threaded fold; so its state is exact by construction.
    ///
    /// **Exactness of the merge.** A row of the second range's state holds the sums of its events
    /// from zero; added to the first range's row with the same overflow checks (calls, retries and
    /// corrections wrap in both), with min/max of the times, it is the row one fold makes. Keys
    /// new in the second range are appended in the order it saw them, which is the order one fold
    /// would have (and encodings sort keys). If the second range's state overflowed, or a checked
    /// sum overflows in the merge, the merged state might differ from one fold's (which checks every
    /// partial sum): the merge is then abandoned at that point and the rest of the second range is
    /// folded again, in order, on this thread. Known limit: a row whose running sum leaves Int64
    /// inside the second range and comes back while neither range nor the merge overflows (a key
    /// above ±9.2 × 10^18 nano-dollars or tokens and back, which needs negative amounts) would
    /// merge without `overflowed` set where one fold sets it; its figures are the same.
    ///
    /// **Snapshots.** The snapshots are exactly a sequential fold's: every boundary in the first
    /// range is handled by this thread as usual (all runners are at that seq). In the second range
    /// this thread snapshots the ordered runners at each boundary as it passes it, and the helper
    /// keeps a copy of its additive states and the boundary's position (seq, recordedAt, chain
    /// hash). After the merge, each kept copy is added to the first range's final states — the
    /// additive state at that boundary — and snapshotted with that position. A copy costs the size
    /// of the tables once per boundary; past ``RangeSplitPolicy/keptBytesMax`` the helper stops and
    /// the rest of the second range is folded in order after the merge, as for an inexact merge.
    ///
    /// The states are those of a single-threaded fold (``ProjectionResult/stateHash``), which
    /// `ParallelFoldTests` checks at several sizes and split points.
    static func foldRanges(
        _ source: any EncodedEventSource, plan: RangePlan, through: UInt64, runners: [ProjectionRunner], cursor: inout Cursor,
        atBoundary: (FoldBoundary) throws -> Void
    ) throws {
        rangeFolds.add(1, ordering: .relaxed)
        let worker = RangeWorker(
            source: source, runners: plan.additive.map { ProjectionRunner.make($0.projection) }, from: plan.split + 1,
            through: through, boundaryEvery: cursor.boundaryEvery, keptBytesMax: plan.keptBytesMax)
        var failure: (any Error)?
        var firstRangeDone = false
        do {
            try scan(source, through: plan.split, feed: Feed(runners), cursor: &cursor, atBoundary: atBoundary, visit: nil)
            firstRangeDone = cursor.expected == plan.split + 1
            if firstRangeDone, !plan.ordered.isEmpty {
                let ordered = plan.ordered
                try scan(
                    source, through: through, feed: Feed(ordered), cursor: &cursor,
                    atBoundary: { try atBoundary($0.only(ordered)) },
                    visit: nil)
            }
        } catch {
            worker.cancel()
            failure = error
        }
        let result: RangeWorker.Result
        do {
            result = try worker.finish()
        } catch {
            throw failure ?? error
        }
        if let failure { throw failure }
        guard firstRangeDone else { return }  // the log ends in the first range
        let kept = result.kept
        // The last seq of the fold: known from this thread's second pass, or from a helper that finished.
        var end: UInt64?
        if !plan.ordered.isEmpty {
            end = cursor.expected - 1
            if result.complete, result.reached != cursor.expected - 1 {
                throw LedgerError(
                    .corrupted, "the log ended at seq \(result.reached) for one thread and \(cursor.expected - 1) for the other",
                    seq: min(result.reached, cursor.expected - 1) + 1)
            }
        } else if result.complete {
            end = result.reached
            cursor.expected = result.reached + 1
        }
        if let end, end <= plan.split { return }

        // Merge: the first range's states plus the second range's at each kept position, in order.
        let additive = plan.additive
        let base = additive.map { AdditiveState(of: $0) }
        var mergedThrough = plan.split
        merging: for entry in kept {
            var merged: [AdditiveState] = []
            merged.reserveCapacity(base.count)
            for (index, state) in base.enumerated() {
                guard let sum = state.merged(with: entry.states[index]) else { break merging }
                merged.append(sum)
            }
            for (index, runner) in additive.enumerated() {
                merged[index].store(in: runner)
                runner.seq = entry.seq
            }
            mergedThrough = entry.seq
            if entry.isBoundary {
                try atBoundary(FoldBoundary(seq: entry.seq, recordedAt: entry.recordedAt, hash: entry.hash, only: additive))
            }
        }
        if end.map({ mergedThrough < $0 }) ?? true {
            rangeMergesRefused.add(1, ordering: .relaxed)
            // A merge that might not be exact, or a helper that stopped keeping its states: fold the
            // rest in order from the last merged state.
            var again = Cursor(
                expected: mergedThrough + 1, boundaryEvery: cursor.boundaryEvery,
                nextBoundary: cursor.boundaryEvery == 0
                    ? .max : ((mergedThrough + cursor.boundaryEvery) / cursor.boundaryEvery) * cursor.boundaryEvery)
            try scan(
                source, through: end ?? through, feed: Feed(additive), cursor: &again,
                atBoundary: { try atBoundary($0.only(additive)) },
                visit: nil)
            if let end {
                guard again.expected == end + 1 else {
                    throw LedgerError(.corrupted, "the log ended at seq \(again.expected - 1) below seq \(end)", seq: again.expected)
                }
            } else {
                cursor.expected = again.expected
            }
        }
    }
}

/// The helper thread of a range-split fold: folds its own fresh states of the additive views over
/// the second range, keeping a copy of them at every snapshot boundary and at the end.
///
/// `@unchecked Sendable`: the runners and the kept states are touched by the helper thread only
/// until ``finish()`` has waited for it, and by the calling thread only after; `cancelled` is atomic.
private final class RangeWorker: @unchecked Sendable {
    /// The additive states after folding through `seq`, and that event's position.
    struct Kept {
        let seq: UInt64
        let recordedAt: LedgerTime
        let hash: ChainHash
        let isBoundary: Bool
        let states: [AdditiveState]
    }

    /// What the helper did: the last seq it folded, its kept states in seq order (the last one at
    /// `reached` when `complete`), and whether it folded the whole second range (false: it stopped
    /// at `keptBytesMax`).
    struct Result {
        let reached: UInt64
        let kept: [Kept]
        let complete: Bool
    }

    private let source: any EncodedEventSource
    private let runners: [ProjectionRunner]
    private let from: UInt64
    private let through: UInt64
    private let boundaryEvery: UInt64
    private let keptBytesMax: Int
    private var keptBytes = 0
    private var complete = true
    private let done = DispatchSemaphore(value: 0)
    private let cancelled = Atomic<Bool>(false)
    private var reached: UInt64 = 0
    private var kept: [Kept] = []
    private var failure: (any Error)?

    init(
        source: any EncodedEventSource, runners: [ProjectionRunner], from: UInt64, through: UInt64, boundaryEvery: UInt64,
        keptBytesMax: Int
    ) {
        self.source = source
        self.keptBytesMax = keptBytesMax
        self.runners = runners
        self.from = from
        self.through = through
        self.boundaryEvery = boundaryEvery
        reached = from - 1
        LedgerThreads.start(named: "ledger-range") { [self] in
            run()
            done.signal()
        }
    }

    /// Asks the helper to stop early (the fold failed).
    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// Waits for the helper and returns what it did.
    func finish() throws -> Result {
        done.wait()
        if let failure { throw failure }
        return Result(reached: reached, kept: kept, complete: complete)
    }

    /// A copy of the states, or nil (and the helper stops) once the copies would pass `keptBytesMax`.
    private func keep() -> [AdditiveState]? {
        let states = runners.map { AdditiveState(of: $0) }
        keptBytes += states.reduce(0) { $0 + $1.approximateBytes }
        guard keptBytes <= keptBytesMax else {
            complete = false
            return nil
        }
        return states
    }

    private func run() {
        let feed = LogReader.Feed(runners)
        var expected = from
        var nextBoundary = boundaryEvery == 0 ? UInt64.max : ((from + boundaryEvery - 1) / boundaryEvery) * boundaryEvery
        do {
            try source.scanEncodedEvents(from: from, through: through) { bytes in
                let view = try EventView(bytes)
                let seq = view.seq
                guard seq == expected else {
                    throw LedgerError(.corrupted, "the log returned seq \(seq) where seq \(expected) was due", seq: expected)
                }
                try feed(view, seq: seq)
                expected += 1
                if seq == nextBoundary {
                    nextBoundary += boundaryEvery
                    guard let states = keep() else { return false }
                    kept.append(Kept(seq: seq, recordedAt: view.recordedAt, hash: view.hash, isBoundary: true, states: states))
                }
                return !cancelled.load(ordering: .relaxed)
            }
            reached = expected - 1
            if complete, reached >= from, kept.last?.seq != reached {
                // Not a boundary: its position is never used.
                if let states = keep() {
                    kept.append(
                        Kept(
                            seq: reached, recordedAt: LedgerTime(nanosecondsSinceEpoch: 0), hash: .genesis, isBoundary: false,
                            states: states))
                }
            }
        } catch {
            failure = error
        }
    }
}

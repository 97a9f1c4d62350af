import Foundation
import LedgerCore
import LedgerDomain
import LedgerLMDB
@testable import LedgerProjections
import SpendLedgerTestKit
import Testing

/// A log for the range-split tests: the projection workload (budgets defined first, runs,
/// reservations, thresholds, corrections, late charges; binary payloads), with one charge in five
/// rewritten as a JSON payload and one of those in fifty unreadable.
func rangeTestEvents(_ count: Int, seed: UInt64) -> [ProposedEvent] {
    var options = ProjectionWorkload.Options()
    options.seed = seed
    var workload = ProjectionWorkload(options)
    var events = workload.next(count)
    var random = WorkloadRandom(seed: seed ^ 0x5EED)
    for index in events.indices where events[index].type == "usage.recorded" && random.next() % 5 == 0 {
        let event = events[index]
        let input = random.next() % 4_000
        let output = random.next() % 1_000
        let payload =
            random.next() % 50 == 0
            ? #"{"input_tokens":"many"}"#
            : #"{"input_tokens":\#(input),"output_tokens":\#(output),"cost_nanos":\#(input * 150 + output * 600)}"#
        events[index] = ProposedEvent(
            id: event.id, stream: event.stream, type: event.type, occurredAt: event.occurredAt, dimensions: event.dimensions,
            metadata: event.metadata, payloadEncoding: .json, payload: Array(payload.utf8))
    }
    return events
}

/// A JSON charge of `cost` nano-dollars for agent `agent` (to drive sums to the edge of Int64).
func rangeTestCharge(cost: Int64, agent: String, at nanos: Int64) -> ProposedEvent {
    ProposedEvent(
        stream: "run:edge", type: "usage.recorded", occurredAt: LedgerTime(nanosecondsSinceEpoch: nanos),
        dimensions: Dimensions(agent: agent, run: "edge"), payloadEncoding: .json,
        payload: Array(#"{"input_tokens":1,"output_tokens":1,"cost_nanos":\#(cost)}"#.utf8))
}

/// What a rebuild leaves behind: every registered state's hash, and every snapshot and checkpoint.
struct RebuildOutcome: Equatable {
    var stateHashes: [String: ContentHash] = [:]
    var snapshots: [String: [StoredSnapshot?]] = [:]
    var snapshotSeqs: [String: [UInt64]] = [:]
    var checkpoints: [String: ProjectionCheckpoint?] = [:]
    var eventsFolded: UInt64 = 0
}

/// The range split of long folds (``LogReader/foldRanges(_:plan:through:runners:cursor:atBoundary:)``)
/// must give exactly what one thread gives: states, snapshots (seq, recordedAt, chain hash, state)
/// and checkpoints, whatever the split point.
extension ParallelFoldTests {
    static let projections: [any Projection] = BuiltinViews.all + [CountingProjection()]

    /// An engine over `ledger` whose folds split by range from 1,000 events on, at `split` if given.
    static func engine(
        _ ledger: TestLedger, threads: Int, ranges: Bool = true, split: UInt64? = nil, every: UInt64,
        snapshots: any SnapshotStore = InMemorySnapshotStore(), keptBytesMax: Int? = nil, bytesPerEvent: Int = 64
    ) -> ProjectionEngine {
        var options = ProjectionEngine.Options(
            snapshotEvery: every, snapshotBytesPerEvent: bytesPerEvent, foldThreads: threads, foldRanges: ranges)
        options.rangeSplit.eventCountMin = 1_000
        options.rangeSplit.splitAt = split
        if let keptBytesMax { options.rangeSplit.keptBytesMax = keptBytesMax }
        return ProjectionEngine(store: ledger.store, snapshots: snapshots, options: options)
    }

    /// Rebuilds `projections` with `engine` (over a fresh in-memory snapshot store) and reads back
    /// everything it left.
    static func rebuild(
        _ ledger: TestLedger, threads: Int, ranges: Bool = true, split: UInt64? = nil, every: UInt64,
        projections: [any Projection] = projections, keptBytesMax: Int? = nil, bytesPerEvent: Int = 64
    ) async throws -> RebuildOutcome {
        let store = InMemorySnapshotStore()
        let engine = engine(
            ledger, threads: threads, ranges: ranges, split: split, every: every, snapshots: store, keptBytesMax: keptBytesMax,
            bytesPerEvent: bytesPerEvent)
        try await engine.register(projections)
        let report = try await engine.rebuild()
        #expect(report.snapshotFailures.isEmpty)
        var outcome = RebuildOutcome(eventsFolded: report.eventsFolded)
        for projection in projections {
            outcome.stateHashes[projection.name] = try await engine.stateOfRegistered(projection.name)
            let seqs = store.snapshotSeqs(named: projection.name)
            outcome.snapshotSeqs[projection.name] = seqs
            outcome.snapshots[projection.name] = seqs.map { store.snapshot(named: projection.name, atOrBefore: $0) }
            outcome.checkpoints[projection.name] = try store.checkpoint(named: projection.name)
        }
        return outcome
    }

    @Test(arguments: [2_500, 9_999, 24_000])
    func aRangeSplitRebuild_equalsOneThread_atEverySplitPoint_snapshotsIncluded(_ size: Int) async throws {
        let ledger = try TestLedger(.lmdb)
        try await ledger.append(rangeTestEvents(size, seed: UInt64(size)), seed: 3)
        let head = try await ledger.store.head().seq
        let every: UInt64 = 1_000
        let reference = try await Self.rebuild(ledger, threads: 1, every: every)
        #expect(reference.eventsFolded == head)
        #expect(reference.snapshotSeqs["spend.by_agent"] == Array(stride(from: every, through: head, by: Int(every))))
        let oldPath = try await Self.rebuild(ledger, threads: 2, ranges: false, every: every)
        #expect(oldPath == reference)
        // On and off snapshot boundaries, at both ends, and the default share.
        let splits: [UInt64?] = [nil, 1, every, every + 1, head / 2, (head / 2 / every) * every, head - every, head - 2, head - 1]
        for split in splits {
            let before = LogReader.rangeFolds.load(ordering: .relaxed)
            let ranged = try await Self.rebuild(ledger, threads: 2, split: split, every: every)
            #expect(LogReader.rangeFolds.load(ordering: .relaxed) > before, "split \(split.map(String.init) ?? "default")")
            #expect(ranged == reference, "split \(split.map(String.init) ?? "default") of \(head)")
        }
        // Without snapshots (a query replay from zero, and a rebuild).
        let single = try await Self.engine(ledger, threads: 1, every: 0)
            .states(of: Self.projections, asOf: .head, useSnapshots: false)
        for split in [nil, head / 3, head - 1] as [UInt64?] {
            let ranged = try await Self.engine(ledger, threads: 2, split: split, every: 0)
                .states(of: Self.projections, asOf: .head, useSnapshots: false)
            #expect(ranged.map(\.result.stateHash) == single.map(\.result.stateHash))
            #expect(ranged.allSatisfy { $0.result.seq == head })
        }
        #expect(try await Self.rebuild(ledger, threads: 2, split: head / 3, every: 0) == Self.rebuild(ledger, threads: 1, every: 0))
    }

    /// With ``ProjectionEngine/Options/snapshotBytesPerEvent`` spacing out the snapshots of large
    /// states, every fold still writes the same snapshots: one thread, two by projection, two by
    /// range, and a catch-up in two steps that resumes from its own snapshots.
    @Test func spacedOutSnapshots_followTheSizeRule_andAreTheSameOnEveryFoldPath() async throws {
        var options = ProjectionWorkload.Options()
        options.seed = 21
        options.tasks = 4_000  // spend.by_task grows with the log
        var workload = ProjectionWorkload(options)
        let events = workload.next(8_000)
        let ledger = try TestLedger(.lmdb)
        try await ledger.append(Array(events.prefix(3_000)), seed: 2)
        let resumed = InMemorySnapshotStore()
        let every: UInt64 = 250
        let bytesPerEvent = 4
        func catchUp() async throws {
            let engine = Self.engine(ledger, threads: 1, every: every, snapshots: resumed, bytesPerEvent: bytesPerEvent)
            try await engine.register(Self.projections)
            try await engine.catchUp()
        }
        try await catchUp()
        try await ledger.append(Array(events.dropFirst(3_000)), seed: 3)
        try await catchUp()
        let head = try await ledger.store.head().seq

        let reference = try await Self.rebuild(ledger, threads: 1, every: every, bytesPerEvent: bytesPerEvent)
        let boundaries = Array(stride(from: every, through: head, by: Int(every)))
        for projection in Self.projections {
            let name = projection.name
            let seqs = try #require(reference.snapshotSeqs[name])
            let sizes = try #require(reference.snapshots[name]).map { stored -> Int in
                guard case .intact(let snapshot) = stored else { return -1 }
                return snapshot.state.count
            }
            // The first boundary, then each next one the first whose events pay for the last size.
            var expected = [every]
            while expected.count <= sizes.count, let last = expected.last,
                let next = boundaries.first(where: { $0 > last && Int($0 - last) * bytesPerEvent >= sizes[expected.count - 1] })
            {
                expected.append(next)
            }
            #expect(seqs == expected, "\(name)")
            #expect(resumed.snapshotSeqs(named: name) == seqs, "\(name) caught up in two steps")
        }
        let byTask = try #require(reference.snapshotSeqs["spend.by_task"])
        #expect(byTask.count < boundaries.count / 2, "a large state is snapshotted less often")
        #expect(reference.snapshotSeqs[CountingProjection().name]?.count == boundaries.count, "a small state at every boundary")

        #expect(try await Self.rebuild(ledger, threads: 2, ranges: false, every: every, bytesPerEvent: bytesPerEvent) == reference)
        for split: UInt64? in [nil, head / 2, 2_999] {
            #expect(try await Self.rebuild(ledger, threads: 2, split: split, every: every, bytesPerEvent: bytesPerEvent) == reference)
        }
    }

    @Test func aRangeSplitOfOnlyAdditiveViews_equalsOneThread() async throws {
        let ledger = try TestLedger(.lmdb)
        try await ledger.append(rangeTestEvents(6_000, seed: 11), seed: 5)
        let spend: [any Projection] = SpendDimension.allCases.map { SpendByDimension($0) } + [SpendPerHour()]
        let reference = try await Self.rebuild(ledger, threads: 1, every: 700, projections: spend)
        for split: UInt64? in [nil, 700, 2_801] {
            #expect(try await Self.rebuild(ledger, threads: 2, split: split, every: 700, projections: spend) == reference)
        }
        // A view at a time (the query `spend report` makes) and a replay at a past seq.
        let oneView = try await Self.engine(ledger, threads: 2, every: 0)
            .state(of: SpendByDimension(.agent), asOf: .seq(4_321), useSnapshots: false)
        let oneViewSingle = try await Self.engine(ledger, threads: 1, every: 0)
            .state(of: SpendByDimension(.agent), asOf: .seq(4_321), useSnapshots: false)
        #expect(oneView.state == oneViewSingle.state && oneView.stateHash == oneViewSingle.stateHash)
    }

    /// Sums at the edge of Int64: the second range's own sums overflow, or only their merge does.
    /// The merge then stops and the rest is folded in order, so `overflowed` and every figure are
    /// one thread's.
    @Test func aMergeThatMightNotBeExact_isFoldedInOrderInstead() async throws {
        let ledger = try TestLedger(.lmdb)
        var events = rangeTestEvents(5_000, seed: 17)
        let big: Int64 = 5_000_000_000_000_000_000
        let time = ProjectionWorkload.Options().start.nanosecondsSinceEpoch
        events.insert(rangeTestCharge(cost: big, agent: "agent-edge", at: time), at: 1_000)  // first range
        events.insert(rangeTestCharge(cost: big, agent: "agent-edge", at: time), at: 3_500)  // merge overflows
        events.insert(rangeTestCharge(cost: big, agent: "agent-two", at: time), at: 4_000)
        events.insert(rangeTestCharge(cost: big, agent: "agent-two", at: time), at: 4_100)  // the range's own sum overflows
        try await ledger.append(events, seed: 7)
        let reference = try await Self.rebuild(ledger, threads: 1, every: 500)
        for split: UInt64 in [2_000, 2_250, 3_999, 4_050] {
            let refused = LogReader.rangeMergesRefused.load(ordering: .relaxed)
            #expect(try await Self.rebuild(ledger, threads: 2, split: split, every: 500) == reference, "split \(split)")
            #expect(LogReader.rangeMergesRefused.load(ordering: .relaxed) > refused, "split \(split)")
        }
        let table = try await Self.engine(ledger, threads: 2, split: 2_000, every: 0)
            .state(of: SpendByDimension(.agent), asOf: .head, useSnapshots: false).state
        #expect(table.overflowed)
    }

    /// A helper that stops keeping its states (memory bound) leaves the rest of the second range to
    /// be folded in order after the merge: the same states, snapshots and checkpoints.
    @Test func aHelperPastItsMemoryBound_givesTheSameRebuild() async throws {
        let ledger = try TestLedger(.lmdb)
        try await ledger.append(rangeTestEvents(8_000, seed: 31), seed: 12)
        let head = try await ledger.store.head().seq
        let spend: [any Projection] = SpendDimension.allCases.map { SpendByDimension($0) } + [SpendPerHour()]
        for projections in [Self.projections, spend] {
            let reference = try await Self.rebuild(ledger, threads: 1, every: 600, projections: projections)
            // Nothing kept; the first few boundaries kept; all kept (about 15 kB per boundary here).
            for keptBytesMax in [0, 40_000, 200_000] {
                for split: UInt64? in [nil, 3_000, head - 700] {
                    let refused = LogReader.rangeMergesRefused.load(ordering: .relaxed)
                    let ranged = try await Self.rebuild(
                        ledger, threads: 2, split: split, every: 600, projections: projections, keptBytesMax: keptBytesMax)
                    #expect(ranged == reference, "kept at most \(keptBytesMax) bytes, split \(split.map(String.init) ?? "default")")
                    if keptBytesMax == 0 { #expect(LogReader.rangeMergesRefused.load(ordering: .relaxed) > refused) }
                }
            }
            let replay = try await Self.engine(ledger, threads: 2, every: 0, keptBytesMax: 0)
                .states(of: projections, asOf: .head, useSnapshots: false)
            let single = try await Self.engine(ledger, threads: 1, every: 0).states(of: projections, asOf: .head, useSnapshots: false)
            #expect(replay.map(\.result.stateHash) == single.map(\.result.stateHash))
        }
    }

    /// A catch-up from zero splits by range; one that resumes from snapshots (runners at different
    /// seqs) does not, and both give one thread's states.
    @Test func catchUpFromZeroAndFromSnapshots_equalOneThread() async throws {
        let ledger = try TestLedger(.lmdb)
        try await ledger.append(rangeTestEvents(4_000, seed: 23), seed: 9)
        let store = InMemorySnapshotStore()
        let first = Self.engine(ledger, threads: 2, every: 512, snapshots: store)
        try await first.register(Self.projections)
        let before = LogReader.rangeFolds.load(ordering: .relaxed)
        try await first.catchUp()
        #expect(LogReader.rangeFolds.load(ordering: .relaxed) > before)
        try await ledger.append(rangeTestEvents(3_000, seed: 29), seed: 10)
        let resumed = Self.engine(ledger, threads: 2, every: 512, snapshots: store)
        try await resumed.register(Self.projections)
        let report = try await resumed.catchUp()
        #expect(!report.restoredFrom.isEmpty)
        let reference = try await Self.rebuild(ledger, threads: 1, every: 512)
        for projection in Self.projections {
            #expect(try await resumed.stateOfRegistered(projection.name) == reference.stateHashes[projection.name])
            #expect(store.snapshotSeqs(named: projection.name) == reference.snapshotSeqs[projection.name])
        }
    }

    @Test func shortFoldsAndOtherStarts_doNotSplitByRange() throws {
        let runners = Self.projections.map { ProjectionRunner.make($0) }
        var policy = RangeSplitPolicy()
        // Long enough: split inside the range, budgets, outcomes and the counter in order.
        let plan = try #require(RangePlan(runners, start: 1, through: 1_000_000, boundaryEvery: 32_768, policy: policy))
        #expect(plan.split >= 1 && plan.split < 1_000_000)
        #expect(Set(plan.ordered.map(\.name)) == ["budgets", "outcomes", CountingProjection().name])
        #expect(plan.additive.count == 7)
        // Below the minimum, below two snapshot intervals, disabled, mixed starts, nothing additive.
        #expect(RangePlan(runners, start: 1, through: 199_999, boundaryEvery: 0, policy: policy) == nil)
        #expect(RangePlan(runners, start: 1, through: 300_000, boundaryEvery: 200_000, policy: policy) == nil)
        policy.enabled = false
        #expect(RangePlan(runners, start: 1, through: 1_000_000, boundaryEvery: 0, policy: policy) == nil)
        policy.enabled = true
        runners[0].seq = 10
        #expect(RangePlan(runners, start: 1, through: 1_000_000, boundaryEvery: 0, policy: policy) == nil)
        let others = [ProjectionRunner.make(BudgetStatusView()), ProjectionRunner.make(OutcomeCosts())]
        #expect(RangePlan(others, start: 1, through: 1_000_000, boundaryEvery: 0, policy: policy) == nil)
    }
}

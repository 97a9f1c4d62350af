import Foundation
import LedgerCore
import LedgerDomain
import LedgerLMDB
@testable import LedgerProjections
import SpendLedgerTestKit
import Testing

/// The engine's guarantees: live equals rebuilt, one pass, catch-up from checkpoints,
/// deterministic replay.
@Suite struct EngineTests {
    @Test(arguments: Backend.allCases)
    func liveFollowing_equalsARebuildFromZero_byStateHash(_ backend: Backend) async throws {
        let ledger = try TestLedger(backend)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(150), seed: 2)
        let engine = ledger.engine(snapshotEvery: 40)
        try await engine.register(BuiltinViews.all)
        let agent = try await engine.register(CountingProjection())
        let following = Task { try await engine.follow() }
        // Appends while the engine follows.
        for round in 0..<6 {
            try await ledger.append(workload.next(60), seed: UInt64(round + 10))
        }
        let head = try await ledger.store.head()
        await engine.waitUntilFolded(head.seq)
        let live = try await engine.current(agent)
        #expect(live.seq == head.seq && live.chainHash == head.hash)

        let rebuilt = ledger.engine(snapshotEvery: 0)
        try await rebuilt.register(BuiltinViews.all)
        let rebuiltCounter = try await rebuilt.register(CountingProjection())
        let report = try await rebuilt.rebuild()
        #expect(report.eventsFolded == head.seq)
        #expect(try await rebuilt.current(rebuiltCounter).stateHash == live.stateHash)
        let fromZero = try await engine.states(of: BuiltinViews.all, asOf: .head, useSnapshots: false)
        for result in fromZero {
            let liveResult = try await engine.stateOfRegistered(result.result.name)
            #expect(liveResult == result.result.stateHash, "\(result.result.name)")
        }
        following.cancel()
        _ = await following.result
    }

    @Test(arguments: Backend.allCases)
    func rebuildingAllViews_readsTheLogOnce_andGivesEveryViewItsReferenceState(_ backend: Backend) async throws {
        let ledger = try TestLedger(backend)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(500))
        let events = try await ledger.all()
        let engine = ledger.engine(snapshotEvery: 100)
        try await engine.register(BuiltinViews.all)
        let report = try await engine.rebuild()
        #expect(report.eventsFolded == UInt64(events.count), "one pass, not one per view")
        #expect(report.snapshotsSaved == BuiltinViews.all.count * (events.count / 100))
        #expect(report.snapshotFailures.isEmpty)
        for projection in BuiltinViews.all {
            #expect(try await engine.stateOfRegistered(projection.name) == ContentHash(of: try referenceBytes(projection, events)))
        }
        // Flushing at every boundary (a tiny buffer) saves and reports the same snapshots.
        let eager = ProjectionEngine(
            store: ledger.store, snapshots: InMemorySnapshotStore(),
            options: .init(snapshotEvery: 100, snapshotBufferBytesMax: 1))
        try await eager.register(BuiltinViews.all)
        let eagerReport = try await eager.rebuild()
        #expect(eagerReport.snapshotsSaved == report.snapshotsSaved && eagerReport.snapshotFailures.isEmpty)
        #expect(try eager.snapshots.checkpoint(named: "outcomes")?.seq == UInt64(events.count / 100 * 100))
    }

    @Test(arguments: Backend.allCases)
    func replayingTwice_givesByteIdenticalState(_ backend: Backend) async throws {
        let ledger = try TestLedger(backend)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(400))
        let engine = ledger.engine()
        for projection in BuiltinViews.all as [any Projection] + [CountingProjection()] {
            func bytes<P: Projection>(_ projection: P) async throws -> [UInt8] {
                try projection.encodeState(try await engine.state(of: projection, asOf: .head, useSnapshots: false).state)
            }
            let first = try await bytes(projection)
            let second = try await bytes(projection)
            #expect(first == second, "\(projection.name)")
            #expect(!first.isEmpty)
        }
    }

    @Test func bothBackends_giveTheSameStateHashes_forTheSameEvents() async throws {
        var hashes: [Backend: [ContentHash]] = [:]
        for backend in Backend.allCases {
            let ledger = try TestLedger(backend)
            var workload = ProjectionWorkload()
            try await ledger.append(workload.next(300))
            hashes[backend] = try await ledger.engine().states(of: BuiltinViews.all, asOf: .head).map(\.result.stateHash)
        }
        #expect(hashes[.lmdb] == hashes[.inMemory])
    }

    @Test(arguments: Backend.allCases)
    func catchUp_resumesFromTheCheckpoint_andFoldsOnlyTheTail(_ backend: Backend) async throws {
        let ledger = try TestLedger(backend)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(230))
        let first = ledger.engine(snapshotEvery: 50)
        try await first.register(SpendByDimension(.model))
        let firstReport = try await first.catchUp()
        #expect(firstReport.restoredFrom.isEmpty)
        let checkpoint = try #require(try ledger.snapshots.checkpoint(named: "spend.by_model"))
        #expect(checkpoint.seq == 200 && checkpoint.version == 1)

        try await ledger.append(workload.next(40), seed: 5)
        let second = ledger.engine(snapshotEvery: 50)
        let handle = try await second.register(SpendByDimension(.model))
        let report = try await second.catchUp()
        let head = try await ledger.store.head()
        #expect(report.restoredFrom["spend.by_model"] == 200)
        #expect(report.eventsFolded == head.seq - 200)
        let events = try await ledger.all()
        #expect(try await second.current(handle).stateHash == ContentHash(of: try referenceBytes(SpendByDimension(.model), events)))

        // An explicit checkpoint lets the next engine resume at exactly the head.
        let saved = try await second.checkpoint()
        #expect(saved.map(\.seq) == [head.seq])
        let third = ledger.engine(snapshotEvery: 50)
        try await third.register(SpendByDimension(.model))
        let resumed = try await third.catchUp()
        #expect(resumed.restoredFrom["spend.by_model"] == head.seq && resumed.eventsFolded == 0)
    }

    @Test func registeringTwoProjectionsWithOneName_isRefused() async throws {
        let engine = try TestLedger(.inMemory).engine()
        try await engine.register(SpendByDimension(.agent))
        let error = await #expect(throws: ProjectionError.self) { try await engine.register(SpendByDimension(.agent)) }
        #expect(error?.code == .duplicateName)
    }

    @Test func aPlainProjection_andAnEncodedOne_foldTheSameEventsInOnePass() async throws {
        let ledger = try TestLedger(.lmdb)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(200))
        let results = try await ledger.engine().states(of: [CountingProjection(), SpendByDimension(.task)], asOf: .head)
        let counts = try results[0].typed(CountingProjection.State.self).state
        #expect(counts.values.reduce(0, +) == Int(try await ledger.store.head().seq))
    }
}

/// A plain (decoded-event) projection: events per type. JSON state with String keys.
struct CountingProjection: Projection {
    typealias State = [String: Int]
    let name = "test.count_by_type"
    let version: UInt32 = 1
    var initialState: State { [:] }
    func apply(_ event: RecordedEvent, to state: inout State) { state[event.type, default: 0] += 1 }
}

extension ProjectionEngine {
    /// The state hash of the registered projection named `name`.
    func stateOfRegistered(_ name: String) async throws -> ContentHash? {
        for projection in BuiltinViews.all + [CountingProjection()] where projection.name == name {
            func hash<P: Projection>(_ projection: P) async throws -> ContentHash? {
                guard registeredNames.contains(projection.name) else { return nil }
                let index = registeredNames.firstIndex(of: projection.name)!
                return try await current(ProjectionHandle<P>(name: projection.name, index: index)).stateHash
            }
            return try await hash(projection)
        }
        return nil
    }
}

/// Long folds over LMDB use two threads; they must give exactly the single-thread states.
@Suite struct ParallelFoldTests {
    @Test func aLongFoldOnTwoThreads_equalsTheSingleThreadFold_snapshotsIncluded() async throws {
        let ledger = try TestLedger(.lmdb)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(70_000))
        let head = try await ledger.store.head()
        #expect(head.seq >= LogReader.parallelEventCountMin)
        let projections = BuiltinViews.all + [CountingProjection()]

        func engine(threads: Int, snapshots: any SnapshotStore) -> ProjectionEngine {
            ProjectionEngine(
                store: ledger.store, snapshots: snapshots, options: .init(snapshotEvery: 20_000, foldThreads: threads))
        }
        let one = try await engine(threads: 1, snapshots: InMemorySnapshotStore())
            .states(of: projections, asOf: .head, useSnapshots: false)
        let two = try await engine(threads: 2, snapshots: InMemorySnapshotStore())
            .states(of: projections, asOf: .head, useSnapshots: false)
        #expect(one.map(\.result.stateHash) == two.map(\.result.stateHash))
        #expect(two.allSatisfy { $0.result.seq == head.seq })

        // A two-thread rebuild writes the same snapshots as one thread would.
        let firstSnapshots = InMemorySnapshotStore()
        let secondSnapshots = InMemorySnapshotStore()
        for (threads, store) in [(1, firstSnapshots), (2, secondSnapshots)] {
            let rebuilding = engine(threads: threads, snapshots: store)
            try await rebuilding.register(projections)
            let report = try await rebuilding.rebuild()
            #expect(report.eventsFolded == head.seq && report.snapshotFailures.isEmpty)
        }
        for projection in projections {
            let seqs = firstSnapshots.snapshotSeqs(named: projection.name)
            #expect(seqs == [20_000, 40_000, 60_000])
            #expect(secondSnapshots.snapshotSeqs(named: projection.name) == seqs)
            for seq in seqs {
                #expect(firstSnapshots.snapshot(named: projection.name, atOrBefore: seq) == secondSnapshots.snapshot(named: projection.name, atOrBefore: seq))
            }
        }
    }
}

import LedgerCore
import LedgerDomain
import LedgerLMDB
@testable import LedgerProjections
import SpendLedgerTestKit
import Testing

/// Snapshots are used only when they can be trusted; every refusal is reported and the figure
/// comes from a replay instead.
@Suite struct SnapshotTests {
    /// A ledger of 300 events with snapshots of every built-in view at 100, 200 and 300.
    func snapshotted(_ backend: Backend) async throws -> (TestLedger, ProjectionEngine, [RecordedEvent]) {
        let ledger = try TestLedger(backend)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(300))
        let engine = ledger.engine(snapshotEvery: 100)
        try await engine.register(BuiltinViews.all)
        try await engine.catchUp()
        return (ledger, engine, try await ledger.all())
    }

    @Test(arguments: Backend.allCases)
    func snapshots_areKeyedByNameAndSeq_withTheirLogPositionAndVersion(_ backend: Backend) async throws {
        let (ledger, _, events) = try await snapshotted(backend)
        #expect(try ledger.snapshots.snapshotSeqs(named: "spend.by_agent") == [100, 200, 300])
        guard case .intact(let snapshot) = try #require(try ledger.snapshots.snapshot(named: "spend.by_agent", atOrBefore: 250)) else {
            Issue.record("the snapshot at 200 is not intact")
            return
        }
        #expect(snapshot.seq == 200 && snapshot.version == 1)
        #expect(snapshot.chainHash == events[199].hash && snapshot.recordedAt == events[199].recordedAt)
        #expect(snapshot.stateHash == ContentHash(of: try referenceBytes(SpendByDimension(.agent), Array(events.prefix(200)))))
        #expect(try ledger.snapshots.snapshot(named: "spend.by_agent", atOrBefore: 99) == nil)
        #expect(try ledger.snapshots.snapshot(named: "spend.by_agen", atOrBefore: 300) == nil)
        let checkpoint = try #require(try ledger.snapshots.checkpoint(named: "budgets"))
        let expected = ContentHash(of: try referenceBytes(BudgetStatusView(), events))
        #expect(checkpoint.seq == 300 && checkpoint.stateHash == expected)
    }

    @Test(arguments: Backend.allCases)
    func aNewProjectionVersion_neverUsesTheOldSnapshots_andReportsThem(_ backend: Backend) async throws {
        let (ledger, engine, events) = try await snapshotted(backend)
        let v2 = Reversioned(base: SpendByDimension(.client), version: 2)
        let result = try await engine.state(of: v2, asOf: .seq(250))
        #expect(result.snapshotSeq == nil)
        #expect(result.fellBackToReplay)
        #expect(result.rejectedSnapshots.map(\.seq) == [200, 100])
        #expect(result.rejectedSnapshots.allSatisfy { $0.reason == .otherVersion(found: 1, expected: 2) })
        #expect(result.stateHash == ContentHash(of: try referenceBytes(v2, Array(events.prefix(250)))))

        // Catching up the new version reports the old checkpoint, rebuilds, and overwrites the
        // snapshots; afterwards version 2 is served from its own snapshots.
        let upgraded = ledger.engine(snapshotEvery: 100)
        try await upgraded.register(v2)
        let report = try await upgraded.catchUp()
        #expect(report.rejectedSnapshots.contains { $0.reason == .otherVersion(found: 1, expected: 2) })
        #expect(report.restoredFrom.isEmpty)
        let again = try await engine.state(of: v2, asOf: .seq(250))
        #expect(again.snapshotSeq == 200 && again.rejectedSnapshots.isEmpty)
        #expect(again.stateHash == result.stateHash)
        let old = try await engine.state(of: SpendByDimension(.client), asOf: .seq(250))
        #expect(old.rejectedSnapshots.first?.reason == .otherVersion(found: 2, expected: 1))
        #expect(old.stateHash == result.stateHash)
    }

    @Test(arguments: Backend.allCases)
    func aCorruptedSnapshot_fallsBackToAnOlderOneAndSaysSo(_ backend: Backend) async throws {
        let (ledger, engine, events) = try await snapshotted(backend)
        try damage(ledger, name: "spend.by_model", seq: 200, byteOffset: 400)
        let result = try await engine.state(of: SpendByDimension(.model), asOf: .seq(260))
        #expect(result.snapshotSeq == 100)
        #expect(result.eventsFolded == 160)
        guard case .damaged(let why) = try #require(result.rejectedSnapshots.first).reason else {
            Issue.record("expected a damaged snapshot, got \(result.rejectedSnapshots)")
            return
        }
        #expect(why.contains("SHA-256") || why.contains("checksum"))
        #expect(result.stateHash == ContentHash(of: try referenceBytes(SpendByDimension(.model), Array(events.prefix(260)))))
    }

    @Test(arguments: Backend.allCases)
    func aDamagedHeader_isRefusedToo(_ backend: Backend) async throws {
        let (ledger, engine, _) = try await snapshotted(backend)
        try damage(ledger, name: "spend.by_model", seq: 200, byteOffset: 9)  // the version field
        let result = try await engine.state(of: SpendByDimension(.model), asOf: .seq(200))
        #expect(result.snapshotSeq == 100)
        #expect(result.rejectedSnapshots.count == 1)
    }

    @Test(arguments: Backend.allCases)
    func everySnapshotDamaged_meansAReplayFromZero(_ backend: Backend) async throws {
        let (ledger, engine, events) = try await snapshotted(backend)
        for seq: UInt64 in [100, 200, 300] { try damage(ledger, name: "outcomes", seq: seq, byteOffset: 150) }
        let result = try await engine.state(of: OutcomeCosts(), asOf: .head)
        #expect(result.snapshotSeq == nil && result.eventsFolded == UInt64(events.count))
        #expect(result.rejectedSnapshots.map(\.seq) == [300, 200, 100])
        #expect(result.stateHash == ContentHash(of: try referenceBytes(OutcomeCosts(), events)))
    }

    @Test(arguments: Backend.allCases)
    func aSnapshotOfAnotherLog_isRefused(_ backend: Backend) async throws {
        let (ledger, engine, events) = try await snapshotted(backend)
        // A well-formed snapshot whose chain hash is not this log's.
        try ledger.snapshots.save(
            [ProjectionSnapshot(
                name: "spend.by_vendor", version: 1, seq: 250, recordedAt: events[249].recordedAt, chainHash: .genesis,
                state: SpendTable().encoded())], checkpoints: [])
        let result = try await engine.state(of: SpendByDimension(.vendor), asOf: .seq(280))
        #expect(result.snapshotSeq == 200)
        guard case .notThisLog = try #require(result.rejectedSnapshots.first).reason else {
            Issue.record("expected notThisLog, got \(result.rejectedSnapshots)")
            return
        }
        #expect(result.stateHash == ContentHash(of: try referenceBytes(SpendByDimension(.vendor), Array(events.prefix(280)))))
    }

    @Test(arguments: Backend.allCases)
    func intactBytesThatDoNotDecode_areRefused(_ backend: Backend) async throws {
        let (ledger, engine, events) = try await snapshotted(backend)
        try ledger.snapshots.save(
            [ProjectionSnapshot(
                name: "spend.by_task", version: 1, seq: 250, recordedAt: events[249].recordedAt, chainHash: events[249].hash,
                state: [9, 9, 9])], checkpoints: [])
        let result = try await engine.state(of: SpendByDimension(.task), asOf: .seq(250))
        #expect(result.snapshotSeq == 200)
        guard case .undecodable = try #require(result.rejectedSnapshots.first).reason else {
            Issue.record("expected undecodable, got \(result.rejectedSnapshots)")
            return
        }
    }

    @Test func lmdbSnapshots_survivePersistence_andRejectWritesOnAReadOnlyLedger() async throws {
        let directory = try TemporaryDirectory("snapshots")
        defer { directory.remove() }
        var workload = ProjectionWorkload()
        do {
            let store = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(durability: .noSync))
            try await store.append(workload.next(120))
            let engine = ProjectionEngine(store: store, snapshots: LMDBSnapshotStore(store), options: .init(snapshotEvery: 50))
            try await engine.register(SpendByDimension(.agent))
            try await engine.catchUp()
            store.close()
        }
        let store = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let snapshots = LMDBSnapshotStore(store)
        #expect(try snapshots.snapshotSeqs(named: "spend.by_agent") == [50, 100])
        let result = try await ProjectionEngine(store: store, snapshots: snapshots).state(of: SpendByDimension(.agent), asOf: .head)
        #expect(result.snapshotSeq == 100 && result.rejectedSnapshots.isEmpty)
        let error = #expect(throws: LedgerError.self) {
            try snapshots.save([ProjectionSnapshot(name: "x", version: 1, seq: 1, recordedAt: .epoch, chainHash: .genesis, state: [])], checkpoints: [])
        }
        #expect(error?.code == .readOnly)
    }

    @Test func snapshotRecords_roundTrip_andEveryFlippedByteIsDetected() throws {
        let snapshot = ProjectionSnapshot(
            name: "spend.by_agent", version: 3, seq: 42, recordedAt: LedgerTime(nanosecondsSinceEpoch: 7),
            chainHash: ChainHash(w0: 1, w1: 2, w2: 3, w3: 4), state: Array("state bytes".utf8))
        let bytes = SnapshotRecord.encode(snapshot)
        #expect(bytes.withUnsafeBytes { SnapshotRecord.decodeSnapshot($0, name: "spend.by_agent", seq: 42) } == .intact(snapshot))
        for offset in bytes.indices {
            var damaged = bytes
            damaged[offset] ^= 0x01
            let decoded = damaged.withUnsafeBytes { SnapshotRecord.decodeSnapshot($0, name: "spend.by_agent", seq: 42) }
            guard case .damaged = decoded else {
                Issue.record("flipping byte \(offset) went unnoticed")
                continue
            }
        }
        #expect(bytes.withUnsafeBytes { SnapshotRecord.decodeSnapshot($0, name: "spend.by_model", seq: 42) } != .intact(snapshot))
    }

    func damage(_ ledger: TestLedger, name: String, seq: UInt64, byteOffset: Int) throws {
        if let memory = ledger.snapshots as? InMemorySnapshotStore {
            memory.damageSnapshot(named: name, seq: seq, byteOffset: byteOffset)
        } else if let lmdb = ledger.snapshots as? LMDBSnapshotStore {
            var record = try #require(try lmdb.rawRecord(named: name, seq: seq))
            record[min(byteOffset, record.count - 1)] ^= 0xFF
            try lmdb.putRawRecord(named: name, seq: seq, record)
        }
    }
}

import LedgerCore
import LedgerDomain
import LedgerLMDB
@testable import LedgerProjections
import SpendLedgerTestKit
import Testing

/// `state(asOf:)` against a brute-force fold of the same prefix, on both clocks and both backends,
/// with late events (occurredAt far before recordedAt, out of order).
@Suite struct TimeTravelTests {
    static let projections: [any Projection] = BuiltinViews.all

    /// A ledger with 900 workload events (15% of charges late by up to 3 hours).
    func ledger(_ backend: Backend) async throws -> (TestLedger, [RecordedEvent]) {
        let ledger = try TestLedger(backend)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(900))
        return (ledger, try await ledger.all())
    }

    /// Random instants: around every recorded time (exactly at, and a nanosecond either side), and
    /// before and after the log.
    func instants(_ times: [LedgerTime], count: Int, seed: UInt64) -> [LedgerTime] {
        var random = WorkloadRandom(seed: seed)
        let low = times.min()!.nanosecondsSinceEpoch - 1_000_000
        let high = times.max()!.nanosecondsSinceEpoch + 1_000_000
        var out = [LedgerTime(nanosecondsSinceEpoch: low - 10_000_000_000), LedgerTime(nanosecondsSinceEpoch: high)]
        for _ in 0..<count {
            switch random.next() % 3 {
            case 0:
                let time = times[Int(random.next() % UInt64(times.count))].nanosecondsSinceEpoch
                out.append(LedgerTime(nanosecondsSinceEpoch: time + Int64(random.next() % 3) - 1))
            default:
                out.append(LedgerTime(nanosecondsSinceEpoch: low + Int64(random.next() % UInt64(high - low))))
            }
        }
        return out
    }

    @Test(arguments: Backend.allCases)
    func stateAsRecorded_equalsABruteForceFoldOfThePrefix_forRandomInstants(_ backend: Backend) async throws {
        let (ledger, events) = try await ledger(backend)
        let engine = ledger.engine(snapshotEvery: 97)
        try await engine.register(Self.projections)
        try await engine.catchUp()  // writes snapshots every 97 events
        #expect(!(try ledger.snapshots.snapshotSeqs(named: "spend.by_agent")).isEmpty)
        for time in instants(events.map(\.recordedAt), count: 25, seed: 7) {
            let prefix = events.filter { $0.recordedAt <= time }
            #expect(prefix.map(\.seq) == (0..<prefix.count).map { UInt64($0 + 1) })
            let results = try await engine.states(of: Self.projections, asOf: .recorded(time))
            for (projection, result) in zip(Self.projections, results) {
                let expected = try referenceBytes(projection, prefix)
                #expect(result.result.stateHash == ContentHash(of: expected), "\(projection.name) at \(time)")
                #expect(result.result.seq == UInt64(prefix.count))
                #expect(result.result.chainHash == (prefix.last?.hash ?? .genesis))
                #expect(result.result.rejectedSnapshots.isEmpty)
                if let snapshot = result.result.snapshotSeq { #expect(UInt64(prefix.count) - snapshot < 97) }
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func stateAsOccurred_equalsABruteForceFoldOfEverythingThatOccurredByThen(_ backend: Backend) async throws {
        let (ledger, events) = try await ledger(backend)
        let engine = ledger.engine()
        #expect(zip(events, events.dropFirst()).contains { $0.occurredAt > $1.occurredAt }, "the workload has late events")
        for time in instants(events.map(\.occurredAt), count: 25, seed: 11) + [.distantFuture] {
            let selected = events.filter { $0.occurredAt <= time }
            let results = try await engine.states(of: Self.projections, asOf: .occurred(time))
            for (projection, result) in zip(Self.projections, results) {
                #expect(result.result.stateHash == ContentHash(of: try referenceBytes(projection, selected)), "\(projection.name) by \(time)")
                #expect(result.result.clock == .occurred)
                #expect(result.result.seq == events.last!.seq)
                #expect(result.result.eventsFolded == UInt64(selected.count))
            }
        }
    }

    @Test(arguments: Backend.allCases)
    func spendViews_matchAnIndependentOracle_atRandomInstants(_ backend: Backend) async throws {
        let (ledger, events) = try await ledger(backend)
        let engine = ledger.engine(snapshotEvery: 50)
        for view in BuiltinViews.spendViews { try await engine.register(view) }
        try await engine.catchUp()
        for time in instants(events.map(\.recordedAt), count: 8, seed: 3) {
            let prefix = events.filter { $0.recordedAt <= time }
            for view in BuiltinViews.spendViews {
                let table = try await engine.state(of: view, asOf: .recorded(time)).state
                let oracle = try oracleSpend(prefix, by: view.dimension)
                #expect(table.count == oracle.count)
                for (key, expected) in oracle {
                    let row = try #require(table[key], "\(view.name) has no row \(key)")
                    #expect(row.costNanos == expected.cost && row.calls == expected.calls, "\(view.name) \(key)")
                    #expect(row.inputTokens == expected.input && row.retries == expected.retries)
                }
                #expect(table.total.costNanos == oracle.values.reduce(0) { $0 + $1.cost })
            }
        }
    }

    @Test func lateEvents_changeTheOccurredPast_butNotTheRecordedPast() async throws {
        let ledger = try TestLedger(.inMemory)
        let engine = ledger.engine()
        let t0 = ProjectionFixtures.at(minutes: 0)
        ledger.clock.set(ProjectionFixtures.at(minutes: 10))
        try await ledger.store.append(ProjectionFixtures.usage(cost: Money(nanos: 100), occurredAt: ProjectionFixtures.at(minutes: 9), agent: "a"))
        ledger.clock.set(ProjectionFixtures.at(minutes: 20))
        // Arrives at minute 20 but happened at minute 1.
        try await ledger.store.append(ProjectionFixtures.usage(cost: Money(nanos: 7), occurredAt: ProjectionFixtures.at(minutes: 1), agent: "a"))
        let view = SpendByDimension(.agent)
        let recordedAt15 = try await engine.state(of: view, asOf: .recorded(ProjectionFixtures.at(minutes: 15)))
        #expect(recordedAt15.state["a"]?.costNanos == 100)
        #expect(recordedAt15.seq == 1)
        let occurredBy5 = try await engine.state(of: view, asOf: .occurred(ProjectionFixtures.at(minutes: 5)))
        #expect(occurredBy5.state["a"]?.costNanos == 7)
        #expect(occurredBy5.state["a"]?.firstAt == ProjectionFixtures.at(minutes: 1))
        let occurredBy9 = try await engine.state(of: view, asOf: .occurred(ProjectionFixtures.at(minutes: 9)))
        #expect(occurredBy9.state["a"]?.costNanos == 107)
        let before = try await engine.state(of: view, asOf: .recorded(t0))
        #expect(before.seq == 0 && before.state.count == 0 && before.chainHash == .genesis && before.recordedAt == nil)
    }

    @Test func aSeqBeyondTheHead_isAnOutOfRangeError() async throws {
        let ledger = try TestLedger(.inMemory)
        try await ledger.store.append(ProjectionFixtures.usage(cost: Money(nanos: 1)))
        let error = await #expect(throws: ProjectionError.self) {
            try await ledger.engine().state(of: SpendByDimension(.agent), asOf: .seq(2))
        }
        #expect(error?.code == .outOfRange)
    }
}

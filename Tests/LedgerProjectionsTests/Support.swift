import Foundation
import LedgerCore
import LedgerDomain
import LedgerLMDB
@testable import LedgerProjections
import SpendLedgerTestKit
import Testing

/// The two kinds of store a projection can read: zero-copy LMDB, and the generic (decoded) path.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case lmdb, inMemory
    var testDescription: String { rawValue }
}

/// A store of either backend with its clock, snapshot store and (for LMDB) its directory.
final class TestLedger: @unchecked Sendable {
    // @unchecked: every stored property is immutable and Sendable except `directory`, which is
    // only read; the class exists to remove the directory when the test ends.
    let backend: Backend
    let clock: ManualClock
    let store: any EventStore
    let snapshots: any SnapshotStore
    let directory: TemporaryDirectory?

    init(_ backend: Backend, clock: ManualClock = ManualClock()) throws {
        self.backend = backend
        self.clock = clock
        switch backend {
        case .lmdb:
            let directory = try TemporaryDirectory("projections")
            let store = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(durability: .noSync, clock: clock))
            self.directory = directory
            self.store = store
            self.snapshots = LMDBSnapshotStore(store)
        case .inMemory:
            directory = nil
            store = InMemoryEventStore(clock: clock)
            snapshots = InMemorySnapshotStore()
        }
    }

    var lmdb: LMDBEventStore? { store as? LMDBEventStore }

    func engine(snapshotEvery: UInt64 = 64) -> ProjectionEngine {
        ProjectionEngine(store: store, snapshots: snapshots, options: ProjectionEngine.Options(snapshotEvery: snapshotEvery))
    }

    /// Appends `events` in batches of 1 to 20, moving the clock 1 ms before each batch (and
    /// sometimes not at all, so that several batches share a recordedAt).
    func append(_ events: [ProposedEvent], seed: UInt64 = 1) async throws {
        var random = WorkloadRandom(seed: seed)
        var start = 0
        while start < events.count {
            let count = min(Int(1 + random.next() % 20), events.count - start)
            if random.next() % 4 != 0 { clock.advance(byNanoseconds: 1_000_000) }
            try await store.append(Array(events[start..<(start + count)]))
            start += count
        }
    }

    /// Every stored event, decoded.
    func all() async throws -> [RecordedEvent] {
        var events: [RecordedEvent] = []
        var next: UInt64 = 1
        while true {
            let chunk = try await store.read(from: next, maxCount: 4_096)
            guard let last = chunk.last else { return events }
            events += chunk
            next = last.seq + 1
        }
    }

    deinit {
        directory?.remove()
    }
}

/// A projection with another version (and otherwise the same fold), for invalidation tests.
struct Reversioned<P: Projection>: Projection {
    let base: P
    let version: UInt32
    var name: String { base.name }
    var initialState: P.State { base.initialState }
    func apply(_ event: RecordedEvent, to state: inout P.State) { base.apply(event, to: &state) }
    func encodeState(_ state: P.State) throws -> [UInt8] { try base.encodeState(state) }
    func decodeState(_ bytes: [UInt8]) throws -> P.State { try base.decodeState(bytes) }
}

/// The reference fold: `events` one by one through `apply(RecordedEvent)`, as bytes.
func referenceBytes<P: Projection>(_ projection: P, _ events: [RecordedEvent]) throws -> [UInt8] {
    try projection.encodeState(projection.fold(events))
}

/// Spend by a dimension computed independently of the views: every charge decoded with the
/// domain's decoder and grouped with `Dimensions[named:]`.
func oracleSpend(_ events: [RecordedEvent], by dimension: SpendDimension) throws -> [String: (cost: Int64, calls: Int64, input: Int64, retries: Int64)] {
    var rows: [String: (cost: Int64, calls: Int64, input: Int64, retries: Int64)] = [:]
    for event in events {
        let key = event.dimensions[named: dimension.rawValue] ?? ""
        if event.type == UsageRecorded.type {
            let usage = try event.decode(as: UsageRecorded.self)
            var row = rows[key] ?? (0, 0, 0, 0)
            row.cost += usage.cost.nanos
            row.calls += 1
            row.input += usage.inputTokens
            row.retries += usage.retry > 0 ? 1 : 0
            rows[key] = row
        } else if event.type == CorrectionRecorded.type {
            let correction = try event.decode(as: CorrectionRecorded.self)
            var row = rows[key] ?? (0, 0, 0, 0)
            row.cost += correction.delta.nanos
            rows[key] = row
        }
    }
    return rows
}

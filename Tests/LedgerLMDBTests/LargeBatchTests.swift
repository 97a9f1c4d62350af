import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

/// Batches of thousands of events must be stored exactly as proposed, and a faulty one refused
/// whole with the error a small batch gets, naming the first faulty event: a field error or a
/// repeated id, whichever comes first in the batch.
@Suite struct LargeBatchTests {
    static func events(_ count: Int) -> [ProposedEvent] {
        (0..<count).map { EventStoreConformance.sampleEvent(stream: "run:r\($0 % 7)", index: $0) }
    }

    /// A fresh ledger (no fsync: these tests are about validation and encoding).
    static func withStore(_ body: (LMDBEventStore) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(durability: .noSync))
        defer { store.close() }
        try await body(store)
    }

    @Test func aLargeBatch_isStoredExactlyAsProposed() async throws {
        try await Self.withStore { store in
            let batch = Self.events(6_001)
            let result = try await store.append(batch)
            #expect(result.positions.map(\.seq) == Array(1...6_001))
            let stored = try store.read(from: 1, maxCount: 10_000)
            #expect(stored.map(\.proposed) == batch)
        }
    }

    @Test func aLargeBatch_isRefusedNamingItsFirstFaultyEvent_andNothingIsWritten() async throws {
        try await Self.withStore { store in
            let events = Self.events(6_000)
            func spoiled(_ edits: [(Int, (inout ProposedEvent) -> Void)]) -> [ProposedEvent] {
                var batch = events
                for (index, edit) in edits { edit(&batch[index]) }
                return batch
            }
            let emptyStream: (inout ProposedEvent) -> Void = { $0.stream = "" }
            let longType: (inout ProposedEvent) -> Void = { $0.type = String(repeating: "t", count: Limits.eventTypeBytesMax + 1) }
            let cases: [(batch: [ProposedEvent], code: LedgerError.Code, index: Int, field: String)] = [
                (spoiled([(4_500, emptyStream)]), .invalidEvent, 4_500, "stream"),
                (spoiled([(4_500, emptyStream), (10, longType)]), .limitExceeded, 10, "type"),
                (spoiled([(4_500, emptyStream), (5_000, { $0.id = events[3].id })]), .invalidEvent, 4_500, "stream"),
                (spoiled([(4_500, emptyStream), (100, { $0.id = events[3].id })]), .duplicateIDInBatch, 100, "id"),
                (spoiled([(5_999, { $0.id = events[3_000].id })]), .duplicateIDInBatch, 5_999, "id"),
            ]
            for (batch, code, index, field) in cases {
                let error = await #expect(throws: LedgerError.self) { try await store.append(batch) }
                #expect(error?.code == code && error?.batchIndex == index && error?.field == field, "\(String(describing: error))")
                // A small batch with the same fault is refused alike.
                let small = Array(batch[..<(index + 1)])
                let smallError = await #expect(throws: LedgerError.self) { try await store.append(small) }
                #expect(smallError?.code == code && smallError?.batchIndex == index)
            }
            let head = try store.head()
            #expect(head.seq == 0)
        }
    }
}

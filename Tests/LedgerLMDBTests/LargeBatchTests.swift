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
            #expect(try store.verify().isIntact, "each range's hashes, made apart, continue the chain")
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

    /// A batch of 4,096 events or more without expected versions goes to the writer in ranges,
    /// while the caller is still encoding it. Beside many small appends it lands whole, in one
    /// piece and in order; a faulty one lands not at all, although the writer had written its
    /// first ranges; the small appends are untouched either way; repeats are recognised across
    /// ranges, and new events after stored ones get the next versions.
    @Test func batchesTakenInRanges_landWholeOrNotAtAll_besideSmallAppends() async throws {
        try await Self.withStore { store in
            func sample(_ stream: String, _ index: Int) -> ProposedEvent {
                EventStoreConformance.sampleEvent(stream: stream, index: index)
            }
            let good = (0..<6_000).map { sample("run:big\($0 % 13)", $0) }
            let bad = (0..<6_000).map { index in
                var event = sample("run:bad", 10_000 + index)
                if index == 5_500 { event.stream = "" }
                return event
            }
            let smalls = (0..<300).map { sample("run:small\($0 % 5)", 20_000 + $0) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (number, event) in smalls.enumerated() {
                    group.addTask { _ = try await store.append(event) }
                    if number == 100 { group.addTask { _ = try await store.append(good) } }
                    if number == 150 {
                        group.addTask {
                            let error = await #expect(throws: LedgerError.self) { try await store.append(bad) }
                            #expect(error?.batchIndex == 5_500 && error?.field == "stream")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let stored = try store.read(from: 1, maxCount: 100_000)
            #expect(stored.count == 6_300)
            #expect(stored.enumerated().allSatisfy { $0.element.seq == UInt64($0.offset + 1) }, "seqs have no gap")
            #expect(!stored.contains { $0.stream == "run:bad" })
            let big = stored.filter { $0.stream.hasPrefix("run:big") }
            #expect(big.map(\.proposed) == good)
            #expect(big.last!.seq - big[0].seq == 5_999, "one batch is stored in one piece")
            #expect(Set(stored.filter { $0.stream.hasPrefix("run:small") }.map(\.id)) == Set(smalls.map(\.id)))
            for stream in Set(stored.map(\.stream)) {
                #expect(stored.filter { $0.stream == stream }.map(\.version) == Array(1...UInt64(stored.filter { $0.stream == stream }.count)))
            }
            #expect(try store.verify().isIntact)

            // Appended again: nothing is written, and every event's stored position comes back.
            let again = try await store.append(good)
            #expect(again.positions.allSatisfy { $0.isDuplicate })
            #expect(again.positions.map(\.seq) == big.map(\.seq))
            #expect(try store.head().seq == 6_300)

            // Half stored, half new: the new ones continue each stream's versions.
            let more = (6_000..<10_000).map { sample("run:big\($0 % 13)", $0) }
            let mixed = Array(good[2_000...]) + more
            let result = try await store.append(mixed)
            #expect(result.positions.prefix(4_000).allSatisfy { $0.isDuplicate })
            #expect(result.positions.dropFirst(4_000).allSatisfy { !$0.isDuplicate })
            #expect(result.positions.dropFirst(4_000).map(\.seq) == Array(6_301...10_300))
            let all = try store.read(from: 1, maxCount: 100_000)
            for stream in (0..<13).map({ "run:big\($0)" }) {
                let versions = all.filter { $0.stream == stream }.map(\.version)
                #expect(versions == Array(1...UInt64(versions.count)))
                #expect(versions.count == (0..<10_000).filter { $0 % 13 == Int(stream.dropFirst(7))! }.count)
            }
            #expect(try store.verify().isIntact)
        }
    }
}

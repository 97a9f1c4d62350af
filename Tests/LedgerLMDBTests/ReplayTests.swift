import CLMDB
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

/// `forEachEvent`, the full replay: batches of events whose pages are read ahead, over several read
/// transactions. It must visit exactly the range asked for, in order, stop when asked, and stop at a
/// damaged event only after every event before it.
@Suite struct ReplayTests {
    static func events(_ range: Range<Int>) -> [ProposedEvent] {
        range.map { EventStoreConformance.sampleEvent(stream: "run:r\($0 % 13)", index: $0) }
    }

    @Test func forEachEvent_visitsExactlyTheRange_inOrder_acrossBatchesAndTransactions() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(durability: .noSync))
        defer { store.close() }
        // More than one read transaction's share of the log (65,536 events) and many batches.
        let count = 70_000
        for start in stride(from: 0, to: count, by: 10_000) { try await store.append(Self.events(start..<(start + 10_000))) }

        var seqs: [UInt64] = []
        let last = try store.forEachEvent { event in
            seqs.append(event.seq)
            return true
        }
        #expect(last == UInt64(count))
        #expect(seqs == Array(1...UInt64(count)))

        seqs = []
        let bounded = try store.forEachEvent(from: 1_023, through: 66_000) { event in
            seqs.append(event.seq)
            return true
        }
        #expect(bounded == 66_000 && seqs == Array(1_023...66_000))

        seqs = []
        let stopped = try store.forEachEvent(from: 500) { event in
            seqs.append(event.seq)
            return event.seq < 2_000
        }
        #expect(stopped == 2_000 && seqs == Array(500...2_000), "the event that stopped it is the last visited")

        #expect(try store.forEachEvent(from: UInt64(count) + 1) { _ in true } == 0)
        #expect(try store.forEachEvent(from: 10, through: 9) { _ in true } == 0)

        // The same events as the batched read hands out, field for field.
        var replayed: [RecordedEvent] = []
        try store.forEachEvent(from: 65_000, through: 66_100) { event in
            replayed.append(event)
            return true
        }
        #expect(replayed == (try store.read(from: 65_000, maxCount: 1_101)))
    }

    @Test func aDamagedEvent_stopsTheReplayThere_afterEveryEventBeforeIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await makeLedger(at: directory.path, Self.events(0..<3_000))
        var key = UInt64(2_500)
        let keyBytes = withUnsafeBytes(of: &key) { Array($0) }
        try RawLMDB.write(directory.path, database: "events", key: keyBytes, value: [1, 2, 3], flags: MDB_INTEGERKEY)

        let store = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        var seqs: [UInt64] = []
        let error = #expect(throws: LedgerError.self) {
            try store.forEachEvent { event in
                seqs.append(event.seq)
                return true
            }
        }
        #expect(error?.code == .corrupted)
        #expect(seqs == Array(1...2_499))
    }
}

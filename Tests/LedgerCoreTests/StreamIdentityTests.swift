import LedgerCore
import SpendLedgerTestKit
import Testing

/// Stream identity and batch edge cases that every backend must decide alike.
@Suite struct StreamIdentityTests {
    @Test func streamNameNotInNFC_isRejected_becauseTwoSpellingsWouldBeTwoStreamsOnDisk() async throws {
        let store = InMemoryEventStore(clock: ManualClock())
        let decomposed = "wallet:e\u{301}"  // "é" as e + combining acute
        let error = await #expect(throws: LedgerError.self) {
            try await store.append(EventStoreConformance.sampleEvent(stream: decomposed, index: 0))
        }
        #expect(error?.code == .invalidEvent)
        #expect(error?.field == "stream")
        #expect(store.head().seq == 0)
        try await store.append(EventStoreConformance.sampleEvent(stream: "wallet:\u{E9}", index: 1))
        #expect(store.streamVersion("wallet:\u{E9}") == 1)
    }

    @Test func emptyBatch_stillChecksItsExpectations() async throws {
        let store = InMemoryEventStore(clock: ManualClock())
        try await store.append(EventStoreConformance.sampleEvent(stream: "run:a", index: 0))
        let error = #expect(throws: LedgerError.self) {
            try store.append([], expecting: ["run:a": .exactly(5)])
        }
        #expect(error?.code == .wrongExpectedVersion)
        let result = try store.append([], expecting: ["run:a": .exactly(1)])
        #expect(result.positions.isEmpty)
        #expect(result.head.seq == 1)
    }
}

import LedgerCore
import SpendLedgerTestKit
import Testing

@Suite("InMemoryEventStore")
struct InMemoryEventStoreTests {
    func storeWithEvents(_ count: Int) async throws -> InMemoryEventStore {
        let store = InMemoryEventStore(clock: ManualClock())
        for index in 0..<count {
            try await store.append(EventStoreConformance.sampleEvent(stream: "run:verify-\(index % 3)", index: index))
        }
        return store
    }

    @Test func verify_ofAnUntouchedLog_isIntact() async throws {
        let store = try await storeWithEvents(10)
        let report = store.verify()
        #expect(report.isIntact)
        #expect(report.eventsChecked == 10)
        #expect(report.head == store.head())
    }

    @Test(
        arguments: [
            (1, 0), (4, 0), (4, EventCodec.seqOffset), (4, EventCodec.recordedAtOffset), (4, 60), (10, 100), (7, -1), (7, -32),
        ] as [(UInt64, Int)])
    func verify_afterOneStoredByteIsCorrupted_namesThatSeq(_ seq: UInt64, _ offset: Int) async throws {
        let store = try await storeWithEvents(10)
        // A negative offset counts from the end of the event: -1 is the last byte of its hash.
        let size = try #require(store.read(from: seq, maxCount: 1).first).proposed
        let absolute = offset >= 0 ? offset : EventCodec.encodedSize(of: size) + offset
        store.corruptStoredByte(seq: seq, offset: absolute)
        let report = store.verify()
        let failure = try #require(report.firstFailure)
        #expect(failure.seq == seq)
        #expect(report.eventsChecked == seq - 1)
        #expect(!report.isIntact)
        #expect(failure.description.hasPrefix("seq \(seq): "))
    }

    @Test func verify_withTwoCorruptedEvents_namesTheFirst() async throws {
        let store = try await storeWithEvents(10)
        store.corruptStoredByte(seq: 8, offset: 70)
        store.corruptStoredByte(seq: 3, offset: 70)
        #expect(store.verify().firstFailure?.seq == 3)
    }

    @Test func reopened_seesTheSameEventsAndHeadAndAcceptsAppends() async throws {
        let store = try await storeWithEvents(5)
        let head = store.head()
        store.close()
        let clock = ManualClock(start: LedgerTime(nanosecondsSinceEpoch: 0))
        let reopened = store.reopened(clock: clock)
        #expect(reopened.head() == head)
        #expect(try reopened.read(from: 1, maxCount: 10) == store.read(from: 1, maxCount: 10))
        #expect(reopened.headNotifier.head == 5)
        let result = try await reopened.append(EventStoreConformance.sampleEvent(stream: "run:verify-0", index: 5))
        #expect(result.positions.map(\.version) == [3])
        #expect(result.head.seq == 6)
        #expect(result.head.recordedAt == head.recordedAt)  // the clock is behind: time never goes back
        #expect(reopened.verify().isIntact)
        // The closed original is unchanged and still closed.
        #expect(store.head() == head)
        await #expect(throws: LedgerError.self) {
            try await store.append(EventStoreConformance.sampleEvent(stream: "s", index: 0))
        }
    }

    @Test func appendExpectingNoStream_whenStreamExists_throwsWrongExpectedVersion() async throws {
        let store = try await storeWithEvents(1)
        let error = try await #require(throws: LedgerError.self) {
            try await store.append(EventStoreConformance.sampleEvent(stream: "run:verify-0", index: 1), expecting: .noStream)
        }
        #expect(error.code == .wrongExpectedVersion)
        #expect(error.description == "stream run:verify-0 is at version 1, the append expected no stream")
        #expect(store.head().seq == 1)
    }

    @Test func readingFromOrBeyondUInt64Max_returnsNothing() async throws {
        let store = try await storeWithEvents(3)
        #expect(try store.read(from: .max, maxCount: 10).isEmpty)
        #expect(try store.read(from: UInt64(Int.max) + 1, maxCount: 10).isEmpty)
        #expect(try store.readStream("run:verify-0", fromVersion: .max, toVersion: .max, maxCount: 10).isEmpty)
        #expect(try store.readStream("run:verify-0", fromVersion: UInt64(Int.max) + 1, toVersion: .max, maxCount: 10).isEmpty)
    }
}

@Suite("ManualClock")
struct ManualClockTests {
    @Test func theClock_movesOnlyWhenTold() {
        let start = LedgerTime(nanosecondsSinceEpoch: 1_000)
        let clock = ManualClock(start: start)
        #expect(clock.now() == start)
        #expect(clock.now() == start)
        #expect(clock.advance(byNanoseconds: 500) == LedgerTime(nanosecondsSinceEpoch: 1_500))
        #expect(clock.now() == LedgerTime(nanosecondsSinceEpoch: 1_500))
        clock.set(LedgerTime(nanosecondsSinceEpoch: 10))
        #expect(clock.now() == LedgerTime(nanosecondsSinceEpoch: 10))
        clock.advance(byNanoseconds: -20)
        #expect(clock.now() == LedgerTime(nanosecondsSinceEpoch: -10))
    }

    @Test func theDefaultStart_isNewYear2026() {
        #expect(ManualClock().now().rfc3339 == "2026-01-01T00:00:00Z")
        #expect(EventStoreConformance.sampleEpoch == ManualClock().now())
    }

    @Test func concurrentAdvances_areAllCounted() async {
        let clock = ManualClock(start: .epoch)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<100 { group.addTask { clock.advance(byNanoseconds: 1) } }
        }
        #expect(clock.now().nanosecondsSinceEpoch == 100)
    }
}

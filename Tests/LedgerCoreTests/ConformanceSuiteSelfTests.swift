import LedgerCore
import SpendLedgerTestKit
import Synchronization
import Testing

/// The conformance suite must catch broken backends, not only pass good ones: each mutant store
/// below breaks one guarantee, and the checks that cover that guarantee must fail on it.
@Suite("EventStoreConformance catches broken stores")
struct ConformanceSuiteSelfTests {
    enum Mutation: String, Sendable, CaseIterable {
        case ignoresExpectations
        case readStreamIgnoresMaxCount
        case readStreamExcludesTheUpperBound
        case readSkipsTheFirstRequestedEvent
        case lookupByIDFindsNothing
        case timeLookupAlwaysAnswersTheHead
        case reopeningLosesTheData
        case closeIsIgnored
        case duplicatesAreReportedAsNew
        case headHasTheGenesisHash
    }

    static let pairs: [(Mutation, EventStoreConformance.Case)] = [
        (.ignoresExpectations, .expectingNoStreamSucceedsOnlyOnANewStream),
        (.ignoresExpectations, .expectingAnExactVersionSucceedsOnlyAtThatVersion),
        (.ignoresExpectations, .aFailedExpectationWritesNothingAndNamesTheStream),
        (.ignoresExpectations, .concurrentAppendersExpectingOneVersionHaveExactlyOneWinner),
        (.readStreamIgnoresMaxCount, .replayingWithAMaxCountReturnsAtMostThatMany),
        (.readStreamIgnoresMaxCount, .replayingWithMaxCountZeroReturnsNothing),
        (.readStreamIgnoresMaxCount, .replayingWithBoundsAndAMaxCountAppliesAllThree),
        (.readStreamExcludesTheUpperBound, .replayingToAVersionStopsAtThatVersion),
        (.readStreamExcludesTheUpperBound, .replayingWithEqualBoundsReturnsOneEvent),
        (.readSkipsTheFirstRequestedEvent, .readingFromASeqHonoursTheStartAndTheMaxCount),
        (.readSkipsTheFirstRequestedEvent, .streamingARangeLargerThanOneChunkDeliversItInOrder),
        (.readSkipsTheFirstRequestedEvent, .concurrentAppendersGetGapFreeStrictlyIncreasingSeqs),
        (.lookupByIDFindsNothing, .lookingUpAnEventByIDFindsOnlyStoredEvents),
        (.lookupByIDFindsNothing, .storedEventsKeepEveryProposedField),
        (.timeLookupAlwaysAnswersTheHead, .recordedTimeLookupFindsTheLastEventKnownAtEachInstant),
        (.reopeningLosesTheData, .theHighestVersionNeverDecreasesAcrossAppendsAndReopening),
        (.reopeningLosesTheData, .verifyFindsTheLogIntactAfterReopeningWithTheSameHead),
        (.reopeningLosesTheData, .recordedAtNeverDecreasesWhenTheClockGoesBack),
        (.closeIsIgnored, .appendingAfterCloseThrowsClosed),
        (.duplicatesAreReportedAsNew, .reappendingStoredIDsReturnsTheStoredPositionsAndWritesNothing),
        (.duplicatesAreReportedAsNew, .aRetriedBatchWithNewEventsWritesOnlyTheNewOnes),
        (.headHasTheGenesisHash, .theHeadIsTheLastEventsSeqHashAndTime),
        (.headHasTheGenesisHash, .eachHashChainsThePreviousHashAndTheCanonicalBytes),
    ]

    @Test(arguments: pairs)
    func aMutantStore_failsTheCheckThatCoversItsBug(_ mutation: Mutation, _ check: EventStoreConformance.Case) async throws {
        let failure = await #expect(throws: ConformanceFailure.self) {
            try await EventStoreConformance.run(check) { MutantHarness(mutation: mutation) }
        }
        #expect(failure?.check == check.rawValue)
    }

    @Test func everyMutation_isCaughtByAtLeastOneCheck() {
        #expect(Set(Self.pairs.map(\.0)) == Set(Mutation.allCases))
    }

    @Test func aFailure_saysWhatWasExpectedAndWhatWasSeen() async throws {
        let failure = try await #require(throws: ConformanceFailure.self) {
            try await EventStoreConformance.run(.replayingWithMaxCountZeroReturnsNothing) {
                MutantHarness(mutation: .readStreamIgnoresMaxCount)
            }
        }
        #expect(failure.description.hasPrefix("replayingWithMaxCountZeroReturnsNothing: "))
        #expect(failure.description.contains("expected []"))
        #expect(failure.description.contains("saw [1, 2, 3, 4, 5]"))
    }
}

final class MutantHarness: EventStoreHarness {
    let mutation: ConformanceSuiteSelfTests.Mutation
    private let current = Mutex<InMemoryEventStore?>(nil)

    init(mutation: ConformanceSuiteSelfTests.Mutation) { self.mutation = mutation }

    func open(clock: any LedgerClock) async throws -> MutantStore {
        let inner = current.withLock { current in
            let store =
                current.flatMap { mutation == .reopeningLosesTheData ? nil : $0.reopened(clock: clock) }
                ?? InMemoryEventStore(clock: clock)
            current = store
            return store
        }
        return MutantStore(inner: inner, mutation: mutation)
    }
}

struct MutantStore: EventStore {
    let inner: InMemoryEventStore
    let mutation: ConformanceSuiteSelfTests.Mutation

    var headNotifier: HeadNotifier { inner.headNotifier }

    func append(_ events: [ProposedEvent], expecting expectations: [String: ExpectedVersion]) async throws -> AppendResult {
        var result = try inner.append(events, expecting: mutation == .ignoresExpectations ? [:] : expectations)
        if mutation == .duplicatesAreReportedAsNew {
            for index in result.positions.indices { result.positions[index].isDuplicate = false }
        }
        if mutation == .headHasTheGenesisHash { result.head.hash = .genesis }
        return result
    }

    func read(from seq: UInt64, maxCount: Int) async throws -> [RecordedEvent] {
        try inner.read(from: mutation == .readSkipsTheFirstRequestedEvent ? max(seq, 1) + 1 : seq, maxCount: maxCount)
    }

    func readStream(_ stream: String, fromVersion: UInt64, toVersion: UInt64, maxCount: Int) async throws -> [RecordedEvent] {
        switch mutation {
        case .readStreamIgnoresMaxCount:
            try inner.readStream(stream, fromVersion: fromVersion, toVersion: toVersion, maxCount: .max)
        case .readStreamExcludesTheUpperBound:
            toVersion == 0
                ? [] : try inner.readStream(stream, fromVersion: fromVersion, toVersion: toVersion - 1, maxCount: maxCount)
        default:
            try inner.readStream(stream, fromVersion: fromVersion, toVersion: toVersion, maxCount: maxCount)
        }
    }

    func streamVersion(_ stream: String) async throws -> UInt64 { inner.streamVersion(stream) }

    func event(id: EventID) async throws -> RecordedEvent? {
        mutation == .lookupByIDFindsNothing ? nil : try inner.event(id: id)
    }

    func seq(recordedAtOrBefore time: LedgerTime) async throws -> UInt64 {
        mutation == .timeLookupAlwaysAnswersTheHead ? inner.head().seq : inner.seq(recordedAtOrBefore: time)
    }

    func head() async throws -> LogHead {
        var head = inner.head()
        if mutation == .headHasTheGenesisHash { head.hash = .genesis }
        return head
    }

    func verify() async throws -> VerificationReport { inner.verify() }

    func close() async throws {
        if mutation != .closeIsIgnored { inner.close() }
    }
}

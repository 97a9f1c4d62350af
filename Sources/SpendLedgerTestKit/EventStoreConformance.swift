public import LedgerCore
import Synchronization

/// Opens the ``EventStore`` under test for ``EventStoreConformance``.
///
/// What a harness must do:
/// - The first ``open(clock:)`` returns a store over fresh, empty storage.
/// - A later ``open(clock:)`` returns a store over the SAME data, as a process that reopens its
///   ledger would see it. The suite only does this after it has closed the previous store with
///   ``EventStore/close()``; it never has two stores of one harness open at once and never uses a
///   store after closing it.
/// - The store stamps `recordedAt` from the given clock (never letting it decrease along `seq`).
///
/// The suite asks for a new harness for every check, so checks never share data.
public protocol EventStoreHarness: Sendable {
    associatedtype Store: EventStore
    /// Opens the store under test over fresh, empty storage the first time; opening again after
    /// `close` must reopen the SAME data (for reopen tests).
    func open(clock: any LedgerClock) async throws -> Store
}

/// A conformance check that did not hold: what was expected and what was seen.
public struct ConformanceFailure: Error, CustomStringConvertible {
    /// The raw value of the ``EventStoreConformance/Case`` that failed, once known.
    public var check: String?
    public var message: String
    public var file: String
    public var line: UInt

    public init(_ message: String, check: String? = nil, file: String = #fileID, line: UInt = #line) {
        self.message = message
        self.check = check
        self.file = file
        self.line = line
    }

    public var description: String {
        (check.map { "\($0): " } ?? "") + message + " (\(file):\(line))"
    }
}

/// The conformance suite every ``EventStore`` backend must pass (a TCK, like Akka Persistence's
/// `JournalSpec`): replay bounds, expected versions, idempotency, validation, atomic batches,
/// gap-free `seq` under concurrency, monotonic `recordedAt`, time lookup, streaming reads,
/// subscriptions, the hash chain and reopening.
///
/// It does not depend on a test framework: a failed check throws ``ConformanceFailure``. Run every
/// case from a parameterized test:
///
/// ```swift
/// @Test(arguments: EventStoreConformance.Case.allCases)
/// func myStoreConforms(_ check: EventStoreConformance.Case) async throws {
///     try await EventStoreConformance.run(check) { MyHarness() }
/// }
/// ```
public enum EventStoreConformance {
    /// One check of the suite. Each runs against its own fresh harness and takes well under a
    /// second against a durable store.
    public enum Case: String, CaseIterable, Sendable {
        // Replaying a stream (the Akka journal TCK cases, adapted to streams).
        case replayingAStreamReturnsAllItsEventsInOrder
        case replayingFromAVersionStartsAtThatVersion
        case replayingToAVersionStopsAtThatVersion
        case replayingWithAMaxCountReturnsAtMostThatMany
        case replayingWithBoundsAndAMaxCountAppliesAllThree
        case replayingWithEqualBoundsReturnsOneEvent
        case replayingWithMaxCountZeroReturnsNothing
        case replayingWithTheLowerBoundAboveTheUpperBoundReturnsNothing
        case anUnknownStreamHasNoEventsAndVersionZero
        case theHighestVersionNeverDecreasesAcrossAppendsAndReopening

        // Expected versions.
        case expectingNoStreamSucceedsOnlyOnANewStream
        case expectingAnExactVersionSucceedsOnlyAtThatVersion
        case expectingAnyVersionAlwaysSucceeds
        case aFailedExpectationWritesNothingAndNamesTheStream
        case concurrentAppendersExpectingOneVersionHaveExactlyOneWinner

        // Idempotency and validation.
        case reappendingStoredIDsReturnsTheStoredPositionsAndWritesNothing
        case aRetriedBatchWithNewEventsWritesOnlyTheNewOnes
        case aDuplicateIDInOneBatchRejectsTheWholeBatch
        case anInvalidEventRejectsTheWholeBatchNamingItsIndexAndField
        case anEventAtEveryLimitIsStoredAndReadBackIntact

        // Order, atomicity and time.
        case aMultiStreamBatchIsAtomicWithConsecutiveSeqs
        case aBatchOverManyStreamsGetsEachStreamsNextVersions
        case concurrentAppendersGetGapFreeStrictlyIncreasingSeqs
        case recordedAtNeverDecreasesWhenTheClockGoesBack
        case recordedTimeLookupFindsTheLastEventKnownAtEachInstant

        // Reading.
        case storedEventsKeepEveryProposedField
        case readingFromASeqHonoursTheStartAndTheMaxCount
        case streamingARangeLargerThanOneChunkDeliversItInOrder
        case aSubscriptionFromMidLogCatchesUpThenFollowsLiveAppends
        case lookingUpAnEventByIDFindsOnlyStoredEvents
        case theHeadIsTheLastEventsSeqHashAndTime

        // Integrity and lifecycle.
        case verifyFindsAFreshLogIntact
        case verifyFindsTheLogIntactAfterReopeningWithTheSameHead
        case eachHashChainsThePreviousHashAndTheCanonicalBytes
        case appendingAfterCloseThrowsClosed
    }

    /// Runs one check against a new harness from `makeHarness`. Throws ``ConformanceFailure`` (with
    /// `check` set) when the store does not conform; an unexpected error from the store is wrapped
    /// in one too.
    public static func run(
        _ check: Case, makeHarness: @Sendable () async throws -> some EventStoreHarness
    ) async throws {
        let harness = try await makeHarness()
        let checks = Checks(harness: harness)
        do {
            try await checks.run(check)
        } catch var failure as ConformanceFailure {
            failure.check = check.rawValue
            throw failure
        } catch {
            throw ConformanceFailure("unexpected error: \(String(reflecting: error))", check: check.rawValue)
        }
    }

    // MARK: Workload

    /// 2026-01-01T00:00:00Z, the time sample events occur around.
    public static let sampleEpoch = LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000)

    private static let sampleAgents = ["agent-1", "agent-2", "agent-3", "agent-4", "agent-5", "agent-6", "agent-7"]
    private static let sampleClients = ["acme", "globex", "initech", "umbrella"]
    private static let sampleModels = ["gpt-4o-mini", "claude-haiku", "gpt-4o", "llama-3-70b", "claude-sonnet"]

    /// A realistic usage event of about 200 encoded bytes: dimensions `agent`, `client`, `model`
    /// and `run` filled and a small JSON payload of token counts and cost, all derived from
    /// `index`. The id is new each call unless given, so two calls never collide by accident.
    public static func sampleEvent(
        stream: String, index: Int, id: EventID = .generate(), occurredAt: LedgerTime? = nil
    ) -> ProposedEvent {
        let input = 200 + (index &* 37) % 4_000
        let output = 50 + (index &* 13) % 900
        let cost = input * 150 + output * 600  // nano-dollars at 0.15 / 0.60 USD per million tokens
        let payload = #"{"input_tokens":\#(input),"output_tokens":\#(output),"cost_nanos":\#(cost)}"#
        let slot = index & Int.max
        return ProposedEvent(
            id: id, stream: stream, type: "usage.recorded",
            occurredAt: occurredAt
                ?? LedgerTime(nanosecondsSinceEpoch: sampleEpoch.nanosecondsSinceEpoch + Int64(slot % 1_000_000) * 1_000_000),
            dimensions: Dimensions(
                agent: sampleAgents[slot % sampleAgents.count], client: sampleClients[slot % sampleClients.count],
                run: "run-\(slot % 97)", model: sampleModels[slot % sampleModels.count]),
            payloadEncoding: .json, payload: Array(payload.utf8))
    }
}

// MARK: - The checks

private struct Checks<Harness: EventStoreHarness>: Sendable {
    typealias Store = Harness.Store
    let harness: Harness

    func run(_ check: EventStoreConformance.Case) async throws {
        switch check {
        case .replayingAStreamReturnsAllItsEventsInOrder: try await replayingAStreamReturnsAllItsEventsInOrder()
        case .replayingFromAVersionStartsAtThatVersion: try await replayingFromAVersionStartsAtThatVersion()
        case .replayingToAVersionStopsAtThatVersion: try await replayingToAVersionStopsAtThatVersion()
        case .replayingWithAMaxCountReturnsAtMostThatMany: try await replayingWithAMaxCountReturnsAtMostThatMany()
        case .replayingWithBoundsAndAMaxCountAppliesAllThree: try await replayingWithBoundsAndAMaxCountAppliesAllThree()
        case .replayingWithEqualBoundsReturnsOneEvent: try await replayingWithEqualBoundsReturnsOneEvent()
        case .replayingWithMaxCountZeroReturnsNothing: try await replayingWithMaxCountZeroReturnsNothing()
        case .replayingWithTheLowerBoundAboveTheUpperBoundReturnsNothing:
            try await replayingWithTheLowerBoundAboveTheUpperBoundReturnsNothing()
        case .anUnknownStreamHasNoEventsAndVersionZero: try await anUnknownStreamHasNoEventsAndVersionZero()
        case .theHighestVersionNeverDecreasesAcrossAppendsAndReopening:
            try await theHighestVersionNeverDecreasesAcrossAppendsAndReopening()
        case .expectingNoStreamSucceedsOnlyOnANewStream: try await expectingNoStreamSucceedsOnlyOnANewStream()
        case .expectingAnExactVersionSucceedsOnlyAtThatVersion: try await expectingAnExactVersionSucceedsOnlyAtThatVersion()
        case .expectingAnyVersionAlwaysSucceeds: try await expectingAnyVersionAlwaysSucceeds()
        case .aFailedExpectationWritesNothingAndNamesTheStream: try await aFailedExpectationWritesNothingAndNamesTheStream()
        case .concurrentAppendersExpectingOneVersionHaveExactlyOneWinner:
            try await concurrentAppendersExpectingOneVersionHaveExactlyOneWinner()
        case .reappendingStoredIDsReturnsTheStoredPositionsAndWritesNothing:
            try await reappendingStoredIDsReturnsTheStoredPositionsAndWritesNothing()
        case .aRetriedBatchWithNewEventsWritesOnlyTheNewOnes: try await aRetriedBatchWithNewEventsWritesOnlyTheNewOnes()
        case .aDuplicateIDInOneBatchRejectsTheWholeBatch: try await aDuplicateIDInOneBatchRejectsTheWholeBatch()
        case .anInvalidEventRejectsTheWholeBatchNamingItsIndexAndField:
            try await anInvalidEventRejectsTheWholeBatchNamingItsIndexAndField()
        case .anEventAtEveryLimitIsStoredAndReadBackIntact: try await anEventAtEveryLimitIsStoredAndReadBackIntact()
        case .aMultiStreamBatchIsAtomicWithConsecutiveSeqs: try await aMultiStreamBatchIsAtomicWithConsecutiveSeqs()
        case .aBatchOverManyStreamsGetsEachStreamsNextVersions: try await aBatchOverManyStreamsGetsEachStreamsNextVersions()
        case .concurrentAppendersGetGapFreeStrictlyIncreasingSeqs:
            try await concurrentAppendersGetGapFreeStrictlyIncreasingSeqs()
        case .recordedAtNeverDecreasesWhenTheClockGoesBack: try await recordedAtNeverDecreasesWhenTheClockGoesBack()
        case .recordedTimeLookupFindsTheLastEventKnownAtEachInstant:
            try await recordedTimeLookupFindsTheLastEventKnownAtEachInstant()
        case .storedEventsKeepEveryProposedField: try await storedEventsKeepEveryProposedField()
        case .readingFromASeqHonoursTheStartAndTheMaxCount: try await readingFromASeqHonoursTheStartAndTheMaxCount()
        case .streamingARangeLargerThanOneChunkDeliversItInOrder:
            try await streamingARangeLargerThanOneChunkDeliversItInOrder()
        case .aSubscriptionFromMidLogCatchesUpThenFollowsLiveAppends:
            try await aSubscriptionFromMidLogCatchesUpThenFollowsLiveAppends()
        case .lookingUpAnEventByIDFindsOnlyStoredEvents: try await lookingUpAnEventByIDFindsOnlyStoredEvents()
        case .theHeadIsTheLastEventsSeqHashAndTime: try await theHeadIsTheLastEventsSeqHashAndTime()
        case .verifyFindsAFreshLogIntact: try await verifyFindsAFreshLogIntact()
        case .verifyFindsTheLogIntactAfterReopeningWithTheSameHead:
            try await verifyFindsTheLogIntactAfterReopeningWithTheSameHead()
        case .eachHashChainsThePreviousHashAndTheCanonicalBytes: try await eachHashChainsThePreviousHashAndTheCanonicalBytes()
        case .appendingAfterCloseThrowsClosed: try await appendingAfterCloseThrowsClosed()
        }
    }

    // MARK: Fixtures

    /// Opens a store, runs `body`, and closes the store whether `body` throws or not.
    func withStore<Output>(
        clock: any LedgerClock = SystemClock(), _ body: (Store) async throws -> Output
    ) async throws -> Output {
        let store = try await harness.open(clock: clock)
        let result: Output
        do {
            result = try await body(store)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
        return result
    }

    func sample(_ stream: String, _ index: Int) -> ProposedEvent {
        EventStoreConformance.sampleEvent(stream: stream, index: index)
    }

    /// The stream `replay` with five events (versions 1...5), interleaved with three events of
    /// `replay-other` so that stream versions and seqs differ.
    func replayFixture(_ store: Store) async throws -> [ProposedEvent] {
        var proposed = [ProposedEvent]()
        for index in 0..<5 {
            let event = sample("run:replay", index)
            try await store.append(event)
            proposed.append(event)
            if index < 3 { try await store.append(sample("run:replay-other", index)) }
        }
        return proposed
    }

    /// Checks that `events` are exactly the given versions of the replay fixture, in order.
    func checkReplay(
        _ events: [RecordedEvent], _ fixture: [ProposedEvent], versions: [UInt64], _ what: String,
        line: UInt = #line
    ) throws {
        try checkEqual(events.map(\.version), versions, "\(what): versions read", line: line)
        for event in events {
            try check(event.stream == "run:replay", "\(what): read an event of stream \(event.stream)", line: line)
            try check(
                event.id == fixture[Int(event.version) - 1].id,
                "\(what): version \(event.version) has id \(event.id), expected \(fixture[Int(event.version) - 1].id)",
                line: line)
        }
        try check(
            zip(events, events.dropFirst()).allSatisfy { $0.seq < $1.seq },
            "\(what): seqs \(events.map(\.seq)) are not increasing", line: line)
    }

    func readAll(_ store: Store) async throws -> [RecordedEvent] {
        var events = [RecordedEvent]()
        for try await event in store.events() { events.append(event) }
        return events
    }

    // MARK: Replaying a stream

    func replayingAStreamReturnsAllItsEventsInOrder() async throws {
        try await withStore { store in
            let fixture = try await replayFixture(store)
            let all = try await store.readStream("run:replay")
            try checkReplay(all, fixture, versions: [1, 2, 3, 4, 5], "readStream(\"run:replay\")")
            try checkEqual(all.map(\.seq), [1, 3, 5, 7, 8], "seqs of the stream's events")
            let explicit = try await store.readStream("run:replay", fromVersion: 1, toVersion: .max, maxCount: .max)
            try checkEqual(explicit, all, "readStream(fromVersion: 1, toVersion: .max, maxCount: .max)")
            let other = try await store.readStream("run:replay-other")
            try checkEqual(other.map(\.version), [1, 2, 3], "versions of the interleaved stream")
        }
    }

    func replayingFromAVersionStartsAtThatVersion() async throws {
        try await withStore { store in
            let fixture = try await replayFixture(store)
            for (from, versions) in [
                (0, [1, 2, 3, 4, 5]), (1, [1, 2, 3, 4, 5]), (3, [3, 4, 5]), (5, [5]), (6, []), (UInt64.max, []),
            ]
                as [(UInt64, [UInt64])]
            {
                let events = try await store.readStream("run:replay", fromVersion: from, toVersion: .max, maxCount: .max)
                try checkReplay(events, fixture, versions: versions, "readStream(fromVersion: \(from))")
            }
        }
    }

    func replayingToAVersionStopsAtThatVersion() async throws {
        try await withStore { store in
            let fixture = try await replayFixture(store)
            for (to, versions) in [(0, []), (1, [1]), (3, [1, 2, 3]), (5, [1, 2, 3, 4, 5]), (100, [1, 2, 3, 4, 5])]
                as [(UInt64, [UInt64])]
            {
                let events = try await store.readStream("run:replay", fromVersion: 1, toVersion: to, maxCount: .max)
                try checkReplay(events, fixture, versions: versions, "readStream(fromVersion: 1, toVersion: \(to))")
            }
        }
    }

    func replayingWithAMaxCountReturnsAtMostThatMany() async throws {
        try await withStore { store in
            let fixture = try await replayFixture(store)
            for (maxCount, versions) in [
                (1, [1]), (3, [1, 2, 3]), (5, [1, 2, 3, 4, 5]), (100, [1, 2, 3, 4, 5]), (Int.max, [1, 2, 3, 4, 5]),
            ]
                as [(Int, [UInt64])]
            {
                let events = try await store.readStream("run:replay", fromVersion: 1, toVersion: .max, maxCount: maxCount)
                try checkReplay(events, fixture, versions: versions, "readStream(maxCount: \(maxCount))")
            }
        }
    }

    func replayingWithBoundsAndAMaxCountAppliesAllThree() async throws {
        try await withStore { store in
            let fixture = try await replayFixture(store)
            let cases: [(UInt64, UInt64, Int, [UInt64])] = [
                (2, 4, 10, [2, 3, 4]), (2, 4, 2, [2, 3]), (2, 10, 2, [2, 3]), (4, 5, 3, [4, 5]),
                (3, .max, 1, [3]), (1, 3, 3, [1, 2, 3]), (5, 9, 9, [5]),
            ]
            for (from, to, maxCount, versions) in cases {
                let events = try await store.readStream("run:replay", fromVersion: from, toVersion: to, maxCount: maxCount)
                try checkReplay(
                    events, fixture, versions: versions,
                    "readStream(fromVersion: \(from), toVersion: \(to), maxCount: \(maxCount))")
            }
        }
    }

    func replayingWithEqualBoundsReturnsOneEvent() async throws {
        try await withStore { store in
            let fixture = try await replayFixture(store)
            for version: UInt64 in [1, 3, 5] {
                let events = try await store.readStream("run:replay", fromVersion: version, toVersion: version, maxCount: .max)
                try checkReplay(
                    events, fixture, versions: [version], "readStream(fromVersion: \(version), toVersion: \(version))")
            }
            let beyond = try await store.readStream("run:replay", fromVersion: 6, toVersion: 6, maxCount: .max)
            try checkReplay(beyond, fixture, versions: [], "readStream(fromVersion: 6, toVersion: 6) past the stream's end")
        }
    }

    func replayingWithMaxCountZeroReturnsNothing() async throws {
        try await withStore { store in
            let fixture = try await replayFixture(store)
            for (from, to) in [(1, UInt64.max), (2, 4), (3, 3)] as [(UInt64, UInt64)] {
                let events = try await store.readStream("run:replay", fromVersion: from, toVersion: to, maxCount: 0)
                try checkReplay(events, fixture, versions: [], "readStream(fromVersion: \(from), toVersion: \(to), maxCount: 0)")
            }
        }
    }

    func replayingWithTheLowerBoundAboveTheUpperBoundReturnsNothing() async throws {
        try await withStore { store in
            let fixture = try await replayFixture(store)
            for (from, to) in [(4, 3), (5, 1), (2, 0), (UInt64.max, 0), (UInt64.max, 5)] as [(UInt64, UInt64)] {
                let events = try await store.readStream("run:replay", fromVersion: from, toVersion: to, maxCount: .max)
                try checkReplay(events, fixture, versions: [], "readStream(fromVersion: \(from), toVersion: \(to))")
            }
        }
    }

    func anUnknownStreamHasNoEventsAndVersionZero() async throws {
        try await withStore { store in
            try checkEqual(try await store.readStream("run:nowhere").count, 0, "events of a stream in an empty store")
            try checkEqual(try await store.streamVersion("run:nowhere"), 0, "version of a stream in an empty store")
            _ = try await replayFixture(store)
            // Names that share a prefix with a stored stream, or extend one, are other streams.
            for stream in ["run:nowhere", "run:replay-", "run:repla", "run:replay-otherx", "run:replay\u{1}", "Run:replay"] {
                let events = try await store.readStream(stream)
                try check(events.isEmpty, "readStream(\"\(stream)\") returned \(events.count) events, expected none")
                try checkEqual(try await store.streamVersion(stream), 0, "streamVersion(\"\(stream)\")")
            }
        }
    }

    func theHighestVersionNeverDecreasesAcrossAppendsAndReopening() async throws {
        let stream = "wallet:agent-7"
        try await withStore { store in
            for expected in UInt64(1)...5 {
                let result = try await store.append(sample(stream, Int(expected)))
                try checkEqual(result.positions.map(\.version), [expected], "version of append \(expected)")
                try checkEqual(try await store.streamVersion(stream), expected, "streamVersion after append \(expected)")
            }
            let batch = try await store.append((0..<3).map { sample(stream, 10 + $0) })
            try checkEqual(batch.positions.map(\.version), [6, 7, 8], "versions of a batch of three")
            try checkEqual(try await store.streamVersion(stream), 8, "streamVersion after the batch")
        }
        try await withStore { store in
            try checkEqual(try await store.streamVersion(stream), 8, "streamVersion after reopening")
            try checkEqual(
                try await store.readStream(stream).map(\.version), Array(1...8), "versions read after reopening")
            let result = try await store.append(sample(stream, 20), expecting: .exactly(8))
            try checkEqual(result.positions.map(\.version), [9], "version of the first append after reopening")
            try checkEqual(try await store.streamVersion(stream), 9, "streamVersion after appending again")
        }
        try await withStore { store in
            try checkEqual(try await store.streamVersion(stream), 9, "streamVersion after a second reopening")
        }
    }

    // MARK: Expected versions

    func expectingNoStreamSucceedsOnlyOnANewStream() async throws {
        try await withStore { store in
            let first = try await store.append(sample("run:new", 0), expecting: .noStream)
            try checkEqual(
                first.positions, [EventPosition(seq: 1, version: 1, isDuplicate: false)],
                "append to a new stream expecting no stream")
            try await expectWrongVersion(
                store, [sample("run:new", 1)], ["run:new": .noStream], naming: "run:new", "expecting no stream")
            // .exactly(0) means the same as .noStream.
            try await expectWrongVersion(
                store, [sample("run:new", 2)], ["run:new": .exactly(0)], naming: "run:new", "expecting version 0")
            let other = try await store.append(sample("run:other", 0), expecting: .exactly(0))
            try checkEqual(other.positions.map(\.version), [1], "version of an append to a new stream expecting version 0")
            try checkEqual(try await store.streamVersion("run:new"), 1, "streamVersion after the rejected appends")
            try checkEqual(try await store.head().seq, 2, "head seq after the rejected appends")
        }
    }

    func expectingAnExactVersionSucceedsOnlyAtThatVersion() async throws {
        let stream = "budget:client-acme-monthly"
        try await withStore { store in
            try await expectWrongVersion(
                store, [sample(stream, 0)], [stream: .exactly(1)], naming: stream, "expecting version 1 of a new stream")
            try await store.append([sample(stream, 1), sample(stream, 2)])
            let third = try await store.append(sample(stream, 3), expecting: .exactly(2))
            try checkEqual(third.positions.map(\.version), [3], "version after expecting version 2")
            try await expectWrongVersion(
                store, [sample(stream, 4)], [stream: .exactly(2)], naming: stream, "expecting a stale version")
            try await expectWrongVersion(
                store, [sample(stream, 5)], [stream: .exactly(4)], naming: stream, "expecting a version ahead")
            try await expectWrongVersion(
                store, [sample(stream, 6)], [stream: .exactly(.max)], naming: stream, "expecting version UInt64.max")
            let batch = try await store.append([sample(stream, 7), sample(stream, 8)], expecting: [stream: .exactly(3)])
            try checkEqual(batch.positions.map(\.version), [4, 5], "versions of a batch expecting version 3")
            try checkEqual(try await store.streamVersion(stream), 5, "streamVersion at the end")
        }
    }

    func expectingAnyVersionAlwaysSucceeds() async throws {
        try await withStore { store in
            let first = try await store.append(sample("run:any", 0), expecting: .any)
            try checkEqual(first.positions.map(\.version), [1], "version of the first append expecting any")
            let second = try await store.append([sample("run:any", 1)], expecting: ["run:any": .any])
            try checkEqual(second.positions.map(\.version), [2], "version of the second append expecting any")
            let third = try await store.append(
                [sample("run:any", 2), sample("run:any-2", 0)], expecting: ["run:any": .any, "run:any-2": .any])
            try checkEqual(third.positions.map(\.version), [3, 1], "versions of a two-stream batch expecting any")
        }
    }

    func aFailedExpectationWritesNothingAndNamesTheStream() async throws {
        try await withStore { store in
            try await store.append([sample("wallet:agent-1", 0), sample("wallet:agent-1", 1), sample("budget:acme", 0)])
            let headBefore = try await store.head()
            let batch = [sample("wallet:agent-1", 2), sample("budget:acme", 1), sample("run:run-9", 0)]
            try await expectWrongVersion(
                store, batch, ["wallet:agent-1": .exactly(2), "budget:acme": .exactly(5)], naming: "budget:acme",
                "a batch whose second stream's expectation fails")
            try await expectWrongVersion(
                store, batch, ["wallet:agent-1": .exactly(2), "budget:acme": .exactly(1), "run:run-9": .exactly(3)],
                naming: "run:run-9", "a batch whose new stream's expectation fails")
            try await expectNothingWritten(store, since: headBefore, ids: batch.map(\.id), "after the failed expectations")
            try checkEqual(try await store.streamVersion("wallet:agent-1"), 2, "version of wallet:agent-1")
            try checkEqual(try await store.streamVersion("budget:acme"), 1, "version of budget:acme")
            try checkEqual(try await store.streamVersion("run:run-9"), 0, "version of run:run-9")
            // Nothing of the failed batch was stored, so it is new when it is appended right.
            let retried = try await store.append(
                batch, expecting: ["wallet:agent-1": .exactly(2), "budget:acme": .exactly(1), "run:run-9": .noStream])
            try checkEqual(
                retried.positions,
                [
                    EventPosition(seq: 4, version: 3, isDuplicate: false), EventPosition(seq: 5, version: 2, isDuplicate: false),
                    EventPosition(seq: 6, version: 1, isDuplicate: false),
                ], "positions of the batch appended with the right expectations")
        }
    }

    func concurrentAppendersExpectingOneVersionHaveExactlyOneWinner() async throws {
        let stream = "run:contended"
        let contenders = 4
        try await withStore { store in
            for round in 0..<12 {
                let current = try await store.streamVersion(stream)
                let expected: ExpectedVersion = round == 0 ? .noStream : .exactly(current)
                let events = (0..<contenders).map { sample(stream, round * contenders + $0) }
                let outcomes = await withTaskGroup(of: (Int, Result<AppendResult, any Error>).self) { group in
                    for (index, event) in events.enumerated() {
                        group.addTask {
                            do { return (index, .success(try await store.append(event, expecting: expected))) } catch {
                                return (index, .failure(error))
                            }
                        }
                    }
                    var outcomes = [(Int, Result<AppendResult, any Error>)]()
                    for await outcome in group { outcomes.append(outcome) }
                    return outcomes
                }
                var winners = [Int]()
                for (index, outcome) in outcomes {
                    switch outcome {
                    case .success(let result):
                        winners.append(index)
                        try checkEqual(
                            result.positions.map(\.version), [current + 1], "round \(round): the winner's version")
                    case .failure(let error):
                        guard let error = error as? LedgerError, error.code == .wrongExpectedVersion else {
                            throw ConformanceFailure(
                                "round \(round): a losing appender got \(String(reflecting: error)), "
                                    + "expected wrong_expected_version")
                        }
                        try check(
                            error.description.contains(stream),
                            "round \(round): the error \"\(error)\" does not name the stream \(stream)")
                    }
                }
                try checkEqual(winners.count, 1, "round \(round): appenders that won expecting \(expected)")
                try checkEqual(try await store.streamVersion(stream), current + 1, "round \(round): streamVersion")
                for (index, event) in events.enumerated() {
                    let stored = try await store.event(id: event.id)
                    try checkEqual(
                        stored != nil, index == winners[0], "round \(round): whether appender \(index)'s event is stored")
                }
            }
            try checkEqual(try await store.head().seq, 12, "head seq after 12 rounds")
        }
    }

    // MARK: Idempotency and validation

    func reappendingStoredIDsReturnsTheStoredPositionsAndWritesNothing() async throws {
        try await withStore { store in
            let batch = [sample("wallet:agent-1", 0), sample("run:run-1", 0), sample("wallet:agent-1", 1)]
            let first = try await store.append(batch)
            let stored = [
                EventPosition(seq: 1, version: 1, isDuplicate: false), EventPosition(seq: 2, version: 1, isDuplicate: false),
                EventPosition(seq: 3, version: 2, isDuplicate: false),
            ]
            try checkEqual(first.positions, stored, "positions of the first append")
            let head = try await store.head()

            let again = try await store.append(batch)
            try checkEqual(
                again.positions, stored.map { EventPosition(seq: $0.seq, version: $0.version, isDuplicate: true) },
                "positions of the same batch appended again")
            try checkEqual(again.appendedCount, 0, "appendedCount of the repeated batch")
            try checkEqual(again.head, head, "head returned for the repeated batch")
            try checkEqual(try await store.head(), head, "head after the repeated batch")

            // A retried append succeeds even though its expectation no longer holds.
            let retried = try await store.append(batch[1], expecting: .noStream)
            try checkEqual(
                retried.positions, [EventPosition(seq: 2, version: 1, isDuplicate: true)],
                "a retried single append whose expectation (no stream) no longer holds")
            // The stored event wins over a different event with the same id.
            var changed = sample("run:elsewhere", 5)
            changed.id = batch[0].id
            let impostor = try await store.append(changed)
            try checkEqual(
                impostor.positions, [EventPosition(seq: 1, version: 1, isDuplicate: true)],
                "an event with a stored id but other content")
            let original = try await store.event(id: batch[0].id)
            try checkEqual(original?.proposed, batch[0], "the stored event after its id was appended with other content")
            try checkEqual(try await store.head(), head, "head after all the duplicates")
            try checkEqual(try await readAll(store).map(\.id), batch.map(\.id), "ids of every stored event")
            try checkEqual(try await store.streamVersion("run:elsewhere"), 0, "version of the impostor's stream")
        }
    }

    func aRetriedBatchWithNewEventsWritesOnlyTheNewOnes() async throws {
        try await withStore { store in
            let a = sample("run:retry", 0)
            let b = sample("run:retry", 1)
            try await store.append([a, b])
            let d = sample("run:retry", 2)
            let e = sample("wallet:retry", 0)
            let result = try await store.append([a, d, b, e])
            try checkEqual(
                result.positions,
                [
                    EventPosition(seq: 1, version: 1, isDuplicate: true), EventPosition(seq: 3, version: 3, isDuplicate: false),
                    EventPosition(seq: 2, version: 2, isDuplicate: true), EventPosition(seq: 4, version: 1, isDuplicate: false),
                ], "positions of a batch mixing stored and new events")
            try checkEqual(result.appendedCount, 2, "appendedCount")
            try checkEqual(result.duplicateCount, 2, "duplicateCount")
            try checkEqual(result.head.seq, 4, "head seq of the result")
            try checkEqual(try await readAll(store).map(\.id), [a.id, b.id, d.id, e.id], "ids of every stored event")
        }
    }

    func aDuplicateIDInOneBatchRejectsTheWholeBatch() async throws {
        try await withStore { store in
            try await store.append(sample("run:before", 0))
            let headBefore = try await store.head()
            let x = sample("run:dup", 0)
            let y = sample("run:dup-other", 1)
            var twin = sample("run:dup", 2)
            twin.id = x.id
            let error = try await expectLedgerError(.duplicateIDInBatch, "a batch with one id twice") {
                try await store.append([x, y, twin])
            }
            try checkEqual(error.batchIndex, 2, "batchIndex of the duplicate id error")
            try checkEqual(error.field, "id", "field of the duplicate id error")
            // The same event twice, its id already stored: still two events with one id in one batch.
            _ = try await expectLedgerError(.duplicateIDInBatch, "a batch with a stored event twice") {
                try await store.append([headEvent(store), headEvent(store)])
            }
            try await expectNothingWritten(store, since: headBefore, ids: [x.id, y.id], "after the duplicate id batches")
            try checkEqual(try await store.streamVersion("run:dup"), 0, "version of run:dup")
            try checkEqual(try await store.streamVersion("run:dup-other"), 0, "version of run:dup-other")
        }
    }

    private func headEvent(_ store: Store) async throws -> ProposedEvent {
        guard let event = try await store.read(from: 1, maxCount: 1).first else {
            throw ConformanceFailure("expected an event at seq 1, read none")
        }
        return event.proposed
    }

    func anInvalidEventRejectsTheWholeBatchNamingItsIndexAndField() async throws {
        try await withStore { store in
            try await store.append(sample("run:before", 0))
            let headBefore = try await store.head()
            var allIDs = [EventID]()
            func batch(_ count: Int, spoiling index: Int, _ spoil: (inout ProposedEvent) -> Void) -> [ProposedEvent] {
                var events = (0..<count).map { sample("run:valid-\($0)", $0) }
                spoil(&events[index])
                allIDs += events.map(\.id)
                return events
            }
            let cases: [(String, LedgerError.Code, Int, String, [ProposedEvent])] = [
                ("an empty stream", .invalidEvent, 1, "stream", batch(3, spoiling: 1) { $0.stream = "" }),
                (
                    "a stream name over the limit", .limitExceeded, 0, "stream",
                    batch(2, spoiling: 0) { $0.stream = String(repeating: "s", count: Limits.streamNameBytesMax + 1) }
                ),
                (
                    "a stream name with a NUL byte", .invalidEvent, 1, "stream",
                    batch(2, spoiling: 1) { $0.stream = "run:a\u{0}b" }
                ),
                (
                    "a payload over the limit", .limitExceeded, 2, "payload",
                    batch(3, spoiling: 2) { $0.payload = [UInt8](repeating: 7, count: Limits.eventPayloadBytesMax + 1) }
                ),
                ("an empty type", .invalidEvent, 1, "type", batch(2, spoiling: 1) { $0.type = "" }),
                (
                    "an agent over the limit", .limitExceeded, 1, "agent",
                    batch(2, spoiling: 1) {
                        $0.dimensions.agent = String(repeating: "a", count: Limits.dimensionValueBytesMax + 1)
                    }
                ),
                (
                    "a metadata value over the limit", .limitExceeded, 0, "metadata.region",
                    batch(2, spoiling: 0) {
                        $0.metadata["region"] = String(repeating: "r", count: Limits.metadataValueBytesMax + 1)
                    }
                ),
            ]
            for (what, code, index, field, events) in cases {
                let error = try await expectLedgerError(code, "a batch with \(what) at index \(index)") {
                    try await store.append(events)
                }
                try checkEqual(error.batchIndex, index, "batchIndex of the error for \(what)")
                try checkEqual(error.field, field, "field of the error for \(what)")
            }
            try await expectNothingWritten(store, since: headBefore, ids: allIDs, "after the invalid batches")
            for index in 0..<3 {
                try checkEqual(try await store.streamVersion("run:valid-\(index)"), 0, "version of run:valid-\(index)")
            }
        }
    }

    func anEventAtEveryLimitIsStoredAndReadBackIntact() async throws {
        func text(_ prefix: String, _ count: Int) -> String {
            prefix + String(repeating: "x", count: count - prefix.utf8.count)
        }
        var largest = ProposedEvent(
            stream: text("wallet:", Limits.streamNameBytesMax), type: text("usage.", Limits.eventTypeBytesMax),
            occurredAt: EventStoreConformance.sampleEpoch, payloadEncoding: .binary,
            payload: (0..<Limits.eventPayloadBytesMax).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        for index in Dimensions.stringFieldNames.indices {
            largest.dimensions[field: index] = text("\(Dimensions.stringFieldNames[index])-", Limits.dimensionValueBytesMax)
        }
        largest.dimensions.causation = .generate()
        largest.dimensions.correlation = .generate()
        for entry in 0..<Limits.metadataEntriesMax {
            largest.metadata[text("key-\(entry)-", Limits.metadataKeyBytesMax)] = text(
                "value-\(entry)-", Limits.metadataValueBytesMax)
        }
        try await withStore { store in
            try await store.append(sample("run:small", 0))
            let result = try await store.append(largest, expecting: .noStream)
            try checkEqual(
                result.positions, [EventPosition(seq: 2, version: 1, isDuplicate: false)], "position of the largest event")
            try await store.append(sample("run:small", 1))
            try checkEqual(try await store.read(from: 2, maxCount: 1).first?.proposed, largest, "the largest event read by seq")
            try checkEqual(
                try await store.readStream(largest.stream).map(\.proposed), [largest], "the largest event read by stream")
            try checkEqual(try await store.event(id: largest.id)?.proposed, largest, "the largest event read by id")
            try checkEqual(try await store.streamVersion(largest.stream), 1, "version of the longest stream name")
            let report = try await store.verify()
            try check(
                report.isIntact,
                "verify() after storing the largest event: \(report.firstFailure.map(String.init(describing:)) ?? "")")
        }
    }

    // MARK: Order, atomicity and time

    func aMultiStreamBatchIsAtomicWithConsecutiveSeqs() async throws {
        try await withStore { store in
            try await store.append(sample("wallet:s1", 0))
            let batch = [
                sample("wallet:s1", 1), sample("run:s2", 0), sample("wallet:s1", 2), sample("budget:s3", 0), sample("run:s2", 1),
            ]
            let result = try await store.append(batch, expecting: ["wallet:s1": .exactly(1), "run:s2": .noStream])
            try checkEqual(result.positions.map(\.seq), [2, 3, 4, 5, 6], "seqs of a five-event batch, in batch order")
            try checkEqual(result.positions.map(\.version), [2, 1, 3, 1, 2], "versions of the batch's events")
            try checkEqual(result.head.seq, 6, "head seq of the result")
            let stored = try await store.read(from: 2, maxCount: 100)
            try checkEqual(stored.map(\.id), batch.map(\.id), "ids read from seq 2")
            try checkEqual(stored.map(\.stream), batch.map(\.stream), "streams read from seq 2")
            // The same shape with one bad event writes none of the others.
            let spoiled = [sample("wallet:s1", 3), sample("run:s2", 2), sample("", 9)]
            _ = try await expectLedgerError(.invalidEvent, "a multi-stream batch with an invalid event") {
                try await store.append(spoiled)
            }
            try await expectNothingWritten(store, since: result.head, ids: spoiled.map(\.id), "after the spoiled batch")
        }
    }

    /// Twenty streams interleaved in one batch (more than a planner keeps in a short list), some
    /// with stored events, some new, with already-stored events repeated among the new ones.
    func aBatchOverManyStreamsGetsEachStreamsNextVersions() async throws {
        try await withStore { store in
            let streams = (0..<20).map { "run:many-\($0)" }
            var stored: [ProposedEvent] = []
            for (index, stream) in streams.enumerated() where index % 3 == 0 {
                stored += [sample(stream, 0), sample(stream, 1)]
            }
            let first = try await store.append(stored)
            var batch: [ProposedEvent] = []
            var expected: [UInt64] = []
            var next = Dictionary(uniqueKeysWithValues: streams.enumerated().map { ($1, $0 % 3 == 0 ? UInt64(3) : 1) })
            for round in 0..<3 {
                for (index, stream) in streams.enumerated().reversed() {
                    batch.append(sample(stream, 10 + round))
                    expected.append(next[stream]!)
                    next[stream]! += 1
                    if round == 1, index % 3 == 0 {  // a stored event, sent again
                        batch.append(stored[(index / 3) * 2 + 1])
                        expected.append(2)
                    }
                }
            }
            let result = try await store.append(batch)
            try checkEqual(result.positions.map(\.version), expected, "versions of a batch over 20 streams")
            try checkEqual(
                result.positions.map(\.isDuplicate), batch.map { event in stored.contains { $0.id == event.id } },
                "duplicates in a batch over 20 streams")
            try checkEqual(result.head.seq, first.head.seq + 60, "head after 60 new events")
            for stream in streams {
                let events = try await store.readStream(stream, fromVersion: 1, toVersion: .max, maxCount: 100)
                try checkEqual(events.map(\.version), Array(1...(next[stream]! - 1)), "versions stored in \(stream)")
                try checkEqual(try await store.streamVersion(stream), next[stream]! - 1, "highest version of \(stream)")
            }
        }
    }

    func concurrentAppendersGetGapFreeStrictlyIncreasingSeqs() async throws {
        let appenders = 100
        try await withStore { store in
            let acknowledged = try await withThrowingTaskGroup(of: [Acknowledged].self) { group in
                for appender in 0..<appenders {
                    group.addTask {
                        let own = "run:appender-\(appender)"
                        let shared = "wallet:shared"
                        let batches: [[ProposedEvent]] = [
                            [sample(own, 0)], [sample(shared, appender)],
                            [sample(own, 1), sample(shared, appenders + appender), sample(own, 2)],
                            [sample(own, 3)], [sample(shared, 2 * appenders + appender)],
                        ]
                        var acknowledged = [Acknowledged]()
                        for batch in batches {
                            let result = try await store.append(batch)
                            guard result.positions.count == batch.count else {
                                throw ConformanceFailure(
                                    "an append of \(batch.count) events returned \(result.positions.count) positions")
                            }
                            guard result.head.seq >= result.positions.map(\.seq).max()! else {
                                throw ConformanceFailure(
                                    "an append returned head seq \(result.head.seq) "
                                        + "below its own positions \(result.positions.map(\.seq))")
                            }
                            for (event, position) in zip(batch, result.positions) {
                                acknowledged.append(Acknowledged(appender: appender, event: event, position: position))
                            }
                        }
                        return acknowledged
                    }
                }
                var all = [Acknowledged]()
                for try await part in group { all += part }
                return all
            }
            let total = acknowledged.count
            let events = try await readAll(store)
            try checkEqual(events.count, total, "events read after \(total) acknowledged appends")
            for (index, event) in events.enumerated() where event.seq != UInt64(index + 1) {
                throw ConformanceFailure(
                    "the event read at position \(index + 1) has seq \(event.seq): the seqs have a gap or repeat")
            }
            try checkEqual(try await store.head().seq, UInt64(total), "head seq")
            var lastSeqOfAppender = [Int: UInt64]()
            for ack in acknowledged {
                try check(!ack.position.isDuplicate, "appender \(ack.appender): a new event was acknowledged as a duplicate")
                try check(
                    (1...UInt64(total)).contains(ack.position.seq),
                    "appender \(ack.appender): acknowledged seq \(ack.position.seq), outside 1...\(total)")
                let stored = events[Int(ack.position.seq) - 1]
                try check(
                    stored.id == ack.event.id && stored.stream == ack.event.stream && stored.version == ack.position.version,
                    "appender \(ack.appender): acknowledged \(ack.event.id) in \(ack.event.stream) "
                        + "at seq \(ack.position.seq) version \(ack.position.version), but that seq holds \(describe(stored))")
                // One appender's appends are sequential, so their seqs increase.
                if let last = lastSeqOfAppender[ack.appender] {
                    try check(
                        ack.position.seq > last,
                        "appender \(ack.appender): seq \(ack.position.seq) acknowledged after seq \(last)")
                }
                lastSeqOfAppender[ack.appender] = ack.position.seq
            }
            var versions = [String: UInt64]()
            for event in events {
                let expected = versions[event.stream, default: 0] + 1
                try check(
                    event.version == expected,
                    "seq \(event.seq): \(event.stream) has version \(event.version), expected \(expected)")
                versions[event.stream] = expected
            }
            try checkEqual(versions["wallet:shared"], UInt64(3 * appenders), "version of the shared stream")
            for (earlier, later) in zip(events, events.dropFirst()) where later.recordedAt < earlier.recordedAt {
                throw ConformanceFailure("recordedAt decreases from seq \(earlier.seq) to \(later.seq)")
            }
        }
    }

    func recordedAtNeverDecreasesWhenTheClockGoesBack() async throws {
        let start = EventStoreConformance.sampleEpoch
        let clock = ManualClock(start: start)
        func at(_ milliseconds: Int64) -> LedgerTime {
            LedgerTime(nanosecondsSinceEpoch: start.nanosecondsSinceEpoch + milliseconds * 1_000_000)
        }
        let last: LogHead = try await withStore(clock: clock) { store in
            var times = [LedgerTime]()
            func append(_ count: Int, _ what: String) async throws {
                let result = try await store.append((0..<count).map { sample("run:clock", times.count + $0) })
                for position in result.positions {
                    guard let event = try await store.read(from: position.seq, maxCount: 1).first else {
                        throw ConformanceFailure("\(what): no event at acknowledged seq \(position.seq)")
                    }
                    times.append(event.recordedAt)
                }
            }
            try await append(1, "the first append")
            try checkEqual(times, [at(0)], "recordedAt stamped from the clock")
            clock.set(at(-1_000))
            try await append(1, "an append with the clock a second back")
            try checkEqual(times.last, at(0), "recordedAt after the clock went back a second")
            clock.advance(byNanoseconds: 500_000_000)
            try await append(2, "a batch with the clock still behind")
            try checkEqual(Array(times.suffix(2)), [at(0), at(0)], "recordedAt of a batch while the clock is still behind")
            clock.set(at(1_000))
            try await append(1, "an append with the clock ahead again")
            try checkEqual(times.last, at(1_000), "recordedAt once the clock is ahead again")
            clock.set(LedgerTime(nanosecondsSinceEpoch: 0))
            try await append(1, "an append with the clock at the epoch")
            try checkEqual(times.last, at(1_000), "recordedAt with the clock at the epoch")
            let head = try await store.head()
            try checkEqual(head.recordedAt, at(1_000), "head recordedAt")
            try checkEqual(try await readAll(store).map(\.recordedAt), times, "recordedAt read back")
            return head
        }
        // A reopened store knows the head's time even when its clock is far behind.
        let behind = ManualClock(start: at(-86_400_000))
        try await withStore(clock: behind) { store in
            try checkEqual(try await store.head(), last, "head after reopening")
            let result = try await store.append(sample("run:clock", 99))
            let event = try await store.read(from: result.positions[0].seq, maxCount: 1).first
            try checkEqual(
                event?.recordedAt, at(1_000), "recordedAt of the first event after reopening with a clock a day behind")
            behind.set(at(2_000))
            let next = try await store.append(sample("run:clock", 100))
            try checkEqual(next.head.recordedAt, at(2_000), "recordedAt once the reopened store's clock is ahead")
        }
    }

    func recordedTimeLookupFindsTheLastEventKnownAtEachInstant() async throws {
        let start = EventStoreConformance.sampleEpoch
        let clock = ManualClock(start: start)
        func at(_ microseconds: Int64) -> LedgerTime {
            LedgerTime(nanosecondsSinceEpoch: start.nanosecondsSinceEpoch + microseconds * 1_000)
        }
        try await withStore(clock: clock) { store in
            for time in [LedgerTime.distantPast, start, .distantFuture] {
                try checkEqual(
                    try await store.seq(recordedAtOrBefore: time), 0, "seq(recordedAtOrBefore: \(time)) of an empty store")
            }
            clock.set(at(1_000))
            try await store.append(sample("run:time", 0))  // seq 1 at 1 ms
            clock.set(at(2_000))
            try await store.append([sample("run:time", 1), sample("run:time", 2)])  // seqs 2, 3 at 2 ms
            try await store.append(sample("run:time", 3))  // seq 4 at 2 ms
            clock.set(at(3_000))
            try await store.append(sample("run:time", 4))  // seq 5 at 3 ms
            let head = try await store.head()
            try checkEqual(head.seq, 5, "head seq")
            let cases: [(String, LedgerTime, UInt64)] = [
                ("the distant past", .distantPast, 0), ("before the first event", at(0), 0),
                (
                    "a nanosecond before the first event", LedgerTime(nanosecondsSinceEpoch: at(1_000).nanosecondsSinceEpoch - 1),
                    0
                ),
                ("exactly the first event's time", at(1_000), 1), ("between the first and second", at(1_500), 1),
                ("exactly the time of seqs 2...4", at(2_000), 4), ("between seq 4 and 5", at(2_999), 4),
                ("exactly the last event's time", at(3_000), 5), ("an hour after the last event", at(3_600_000_000), head.seq),
                ("the distant future", .distantFuture, head.seq),
            ]
            for (what, time, expected) in cases {
                try checkEqual(try await store.seq(recordedAtOrBefore: time), expected, "seq(recordedAtOrBefore:) at \(what)")
            }
            for event in try await readAll(store) {
                let expected: UInt64 = [1: 1, 2: 4, 3: 4, 4: 4, 5: 5][event.seq]!
                try checkEqual(
                    try await store.seq(recordedAtOrBefore: event.recordedAt), expected,
                    "seq(recordedAtOrBefore:) at the recordedAt of seq \(event.seq)")
            }
        }
    }

    // MARK: Reading

    func storedEventsKeepEveryProposedField() async throws {
        let occurred = LedgerTime(rfc3339: "2025-12-31T23:59:58.123456789Z")!
        let full = ProposedEvent(
            stream: "wallet:agent-7", type: "usage.recorded", schema: 3, occurredAt: occurred,
            dimensions: Dimensions(
                agent: "agent-7", client: "acme", project: "site-redesign", task: "summarize-17", run: "run-42",
                model: "gpt-4o-mini", vendor: "openai", environment: "production", owner: "ops@acme.example",
                causation: .generate(), correlation: .generate()),
            metadata: ["region": "eu-west-1", "ticket": "INC-42", "zeta": "ünïcødé ✓"],
            payloadEncoding: .json, payload: Array(#"{"input_tokens":1200,"output_tokens":300}"#.utf8))
        let minimal = ProposedEvent(
            stream: "s", type: "t", schema: 0, occurredAt: LedgerTime(nanosecondsSinceEpoch: 0), payloadEncoding: .binary)
        let binary = ProposedEvent(
            stream: "run:binary", type: "blob", occurredAt: LedgerTime(nanosecondsSinceEpoch: -1_234_567_891),
            dimensions: Dimensions(causation: .zero), payloadEncoding: .binary, payload: (0...255).map { UInt8($0) })
        let unicode = ProposedEvent(
            stream: "wallet:agënt-7 🚀", type: "wallet.funded", schema: .max, occurredAt: .distantFuture,
            dimensions: Dimensions(agent: "agënt-7 🚀", correlation: EventID(high: .max, low: .max)),
            metadata: ["b": "2", "a": "1", "é": "3"], payloadEncoding: .json, payload: Array("{}".utf8))
        let proposals = [full, minimal, binary, unicode]
        try await withStore { store in
            let result = try await store.append(proposals)
            try checkEqual(result.positions.map(\.seq), [1, 2, 3, 4], "seqs")
            let read = try await store.read(from: 1, maxCount: 10)
            try checkEqual(read.count, proposals.count, "events read")
            for (index, (event, proposal)) in zip(read, proposals).enumerated() {
                try checkEqual(event.proposed, proposal, "event \(index) read by seq")
                try checkEqual(event.seq, UInt64(index + 1), "seq of event \(index)")
                try checkEqual(event.version, 1, "version of event \(index)")
                try checkEqual(try await store.event(id: proposal.id), event, "event \(index) read by id")
                try checkEqual(try await store.readStream(proposal.stream), [event], "event \(index) read by stream")
            }
        }
        // And the same after reopening.
        try await withStore { store in
            try checkEqual(
                try await store.read(from: 1, maxCount: 10).map(\.proposed), proposals, "events read by seq after reopening")
        }
    }

    func readingFromASeqHonoursTheStartAndTheMaxCount() async throws {
        try await withStore { store in
            try checkEqual(try await store.read(from: 1, maxCount: 10).count, 0, "events read from an empty store")
            let proposals = (0..<10).map { sample("run:read-\($0 % 3)", $0) }
            try await store.append(Array(proposals[0..<4]))
            for event in proposals[4...] { try await store.append(event) }
            let cases: [(UInt64, Int, [UInt64])] = [
                (0, 100, Array(1...10)), (1, 100, Array(1...10)), (1, 3, [1, 2, 3]), (4, 2, [4, 5]),
                (8, 100, [8, 9, 10]), (10, 1, [10]), (10, 10, [10]), (11, 10, []), (1_000, 10, []),
                (.max, 10, []), (5, 0, []), (1, .max, Array(1...10)),
            ]
            for (from, maxCount, seqs) in cases {
                let events = try await store.read(from: from, maxCount: maxCount)
                try checkEqual(events.map(\.seq), seqs, "seqs of read(from: \(from), maxCount: \(maxCount))")
                for event in events {
                    try checkEqual(event.id, proposals[Int(event.seq) - 1].id, "id at seq \(event.seq)")
                }
            }
        }
    }

    func streamingARangeLargerThanOneChunkDeliversItInOrder() async throws {
        let total = 10_000
        try await withStore { store in
            precondition(total > 2 * Limits.replayChunkEventCountMax, "the range must span several chunks")
            var ids = [EventID]()
            ids.reserveCapacity(total)
            for start in stride(from: 0, to: total, by: 500) {
                let batch = (start..<(start + 500)).map { sample("run:bulk-\($0 % 10)", $0) }
                ids += batch.map(\.id)
                try await store.append(batch)
            }
            var expected: UInt64 = 1
            for try await event in store.events() {
                guard event.seq == expected else {
                    throw ConformanceFailure("events() delivered seq \(event.seq) where seq \(expected) was due")
                }
                guard event.id == ids[Int(expected) - 1] else {
                    throw ConformanceFailure(
                        "events() delivered id \(event.id) at seq \(expected), expected \(ids[Int(expected) - 1])")
                }
                expected += 1
            }
            try checkEqual(expected - 1, UInt64(total), "events delivered by events()")
            let ranges: [(UInt64, UInt64, ClosedRange<UInt64>?)] = [
                (4_000, 8_200, 4_000...8_200), (9_990, .max, 9_990...10_000), (0, 5_000, 1...5_000),
                (10_001, .max, nil), (3, 2, nil), (7, 7, 7...7),
            ]
            for (from, through, range) in ranges {
                var seqs = [UInt64]()
                for try await event in store.events(from: from, through: through) { seqs.append(event.seq) }
                try checkEqual(seqs, range.map(Array.init) ?? [], "seqs of events(from: \(from), through: \(through))")
            }
        }
    }

    func aSubscriptionFromMidLogCatchesUpThenFollowsLiveAppends() async throws {
        let existing = 10
        let after: UInt64 = 4
        let live = 40
        let wanted = existing - Int(after) + live
        try await withStore { store in
            try await store.append((0..<existing).map { sample("run:sub-\($0 % 3)", $0) })
            let (caughtUp, caughtUpSignal) = AsyncStream<Void>.makeStream()
            let progress = Shared<[UInt64]>([])
            let received: [RecordedEvent] = try await withThrowingTaskGroup(of: [RecordedEvent]?.self) { group in
                group.addTask {
                    var received = [RecordedEvent]()
                    for try await event in store.subscribe(after: after) {
                        received.append(event)
                        progress.update { $0.append(event.seq) }
                        if received.count == existing - Int(after) { caughtUpSignal.yield() }
                        if received.count == wanted { break }
                    }
                    guard received.count == wanted else {
                        throw ConformanceFailure(
                            "the subscription after seq \(after) ended after \(received.count) of \(wanted) events "
                                + "(last seq \(received.last.map { String($0.seq) } ?? "none"))")
                    }
                    return received
                }
                group.addTask {
                    for await _ in caughtUp { break }
                    // Live events: some one by one, one batch, some from concurrent appenders.
                    for index in 0..<20 {
                        try await store.append(sample("run:sub-live", index))
                        await Task.yield()
                    }
                    try await store.append((20..<25).map { sample("run:sub-live", $0) })
                    try await withThrowingTaskGroup(of: Void.self) { appenders in
                        for index in 25..<live {
                            appenders.addTask { try await store.append(sample("run:sub-live-\(index % 4)", index)) }
                        }
                        try await appenders.waitForAll()
                    }
                    return nil
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(60))
                    let seen = progress.value
                    throw ConformanceFailure(
                        "the subscription after seq \(after) delivered \(seen.count) of \(wanted) events in 60 s "
                            + "(last seq \(seen.last.map(String.init) ?? "none"))")
                }
                var received: [RecordedEvent]?
                var appended = false
                while let outcome = try await group.next() {
                    if let outcome { received = outcome } else { appended = true }
                    if let received, appended {
                        group.cancelAll()
                        return received
                    }
                }
                throw ConformanceFailure("the subscription ended before it delivered \(wanted) events")
            }
            caughtUpSignal.finish()
            try checkEqual(received.count, wanted, "events delivered by the subscription")
            try checkEqual(
                received.map(\.seq), Array((after + 1)...UInt64(existing + live)), "seqs delivered by the subscription")
            let stored = try await store.read(from: after + 1, maxCount: wanted)
            try checkEqual(received, stored, "events delivered by the subscription, compared with those read")
        }
    }

    func lookingUpAnEventByIDFindsOnlyStoredEvents() async throws {
        try await withStore { store in
            let proposals = (0..<5).map { sample("run:ids-\($0 % 2)", $0) }
            try checkEqual(try await store.event(id: proposals[0].id), nil, "event(id:) in an empty store")
            try await store.append(Array(proposals[0..<2]))
            for event in proposals[2...] { try await store.append(event) }
            for (index, proposal) in proposals.enumerated() {
                let byID = try await store.event(id: proposal.id)
                let bySeq = try await store.read(from: UInt64(index + 1), maxCount: 1).first
                try check(byID != nil, "event(id: \(proposal.id)) found nothing for stored seq \(index + 1)")
                try checkEqual(byID, bySeq, "event(id:) of seq \(index + 1), compared with read(from:)")
            }
            for id in [EventID.generate(), .zero, EventID(high: .max, low: .max)] {
                try checkEqual(try await store.event(id: id), nil, "event(id: \(id)) that was never stored")
            }
        }
    }

    func theHeadIsTheLastEventsSeqHashAndTime() async throws {
        let clock = ManualClock(start: EventStoreConformance.sampleEpoch)
        try await withStore(clock: clock) { store in
            try checkEqual(try await store.head(), .empty, "head of an empty store")
            let first = try await store.append([sample("run:head", 0), sample("run:head-2", 0), sample("run:head", 1)])
            try await checkHead(store, seq: 3, result: first, "after a batch of three")
            clock.advance(byNanoseconds: 1_000)
            let fourth = sample("run:head", 2)
            let second = try await store.append(fourth)
            try await checkHead(store, seq: 4, result: second, "after one more event")
            clock.advance(byNanoseconds: 1_000)
            let duplicate = try await store.append(fourth)
            try checkEqual(duplicate.head, second.head, "head returned for a duplicate append")
            try checkEqual(try await store.head(), second.head, "head after a duplicate append")
        }
    }

    private func checkHead(_ store: Store, seq: UInt64, result: AppendResult, _ what: String, line: UInt = #line) async throws {
        let head = try await store.head()
        guard let last = try await store.read(from: seq, maxCount: 1).first else {
            throw ConformanceFailure("\(what): no event at seq \(seq)", line: line)
        }
        try checkEqual(head.seq, seq, "head seq \(what)", line: line)
        try checkEqual(head.hash, last.hash, "head hash \(what), compared with the hash of seq \(seq)", line: line)
        try checkEqual(head.recordedAt, last.recordedAt, "head recordedAt \(what), compared with that of seq \(seq)", line: line)
        try checkEqual(result.head, head, "the head returned by the append \(what)", line: line)
        try checkEqual(try await store.read(from: seq + 1, maxCount: 10).count, 0, "events after the head \(what)", line: line)
    }

    // MARK: Integrity and lifecycle

    func verifyFindsAFreshLogIntact() async throws {
        try await withStore { store in
            let empty = try await store.verify()
            try check(
                empty.isIntact, "verify() of an empty store found \(empty.firstFailure.map(String.init(describing:)) ?? "")")
            try checkEqual(empty.eventsChecked, 0, "eventsChecked of an empty store")
            try checkEqual(empty.head, .empty, "head reported by verify() of an empty store")
            try await appendMixedLog(store, count: 20)
            let report = try await store.verify()
            try check(report.isIntact, "verify() of a fresh log found \(report.firstFailure.map(String.init(describing:)) ?? "")")
            try checkEqual(report.eventsChecked, 20, "eventsChecked")
            try checkEqual(report.head, try await store.head(), "head reported by verify()")
        }
    }

    func verifyFindsTheLogIntactAfterReopeningWithTheSameHead() async throws {
        let (head, events): (LogHead, [RecordedEvent]) = try await withStore { store in
            try await appendMixedLog(store, count: 25)
            let report = try await store.verify()
            try check(report.isIntact, "verify() before closing found \(report.firstFailure.map(String.init(describing:)) ?? "")")
            return (try await store.head(), try await readAll(store))
        }
        try await withStore { store in
            try checkEqual(try await store.head(), head, "head after reopening")
            let report = try await store.verify()
            try check(
                report.isIntact, "verify() after reopening found \(report.firstFailure.map(String.init(describing:)) ?? "")")
            try checkEqual(report.eventsChecked, 25, "eventsChecked after reopening")
            try checkEqual(report.head, head, "head reported by verify() after reopening")
            try checkEqual(try await readAll(store), events, "every event after reopening")
            for event in events where event.seq % 5 == 0 {
                try checkEqual(try await store.event(id: event.id), event, "event(id:) of seq \(event.seq) after reopening")
                try checkEqual(
                    try await store.readStream(event.stream, fromVersion: event.version, toVersion: event.version, maxCount: 1),
                    [event], "readStream of seq \(event.seq)'s stream and version after reopening")
            }
            // The chain continues from the reopened head.
            let next = sample("run:after-reopen", 0)
            let result = try await store.append(next)
            try checkEqual(result.positions.map(\.seq), [26], "seq of the first append after reopening")
            guard let stored = try await store.read(from: 26, maxCount: 1).first else {
                throw ConformanceFailure("no event at seq 26 after appending it")
            }
            let expected = EventCodec.encode(next, seq: 26, version: 1, recordedAt: stored.recordedAt, previous: head.hash).hash
            try checkEqual(stored.hash, expected, "hash of seq 26, chained to the reopened head")
            let after = try await store.verify()
            try check(
                after.isIntact,
                "verify() after appending to the reopened log found \(after.firstFailure.map(String.init(describing:)) ?? "")")
            try checkEqual(after.eventsChecked, 26, "eventsChecked after appending to the reopened log")
        }
    }

    func eachHashChainsThePreviousHashAndTheCanonicalBytes() async throws {
        try await withStore { store in
            try await appendMixedLog(store, count: 12)
            var previous = ChainHash.genesis
            for event in try await readAll(store) {
                let (bytes, hash) = EventCodec.encode(
                    event.proposed, seq: event.seq, version: event.version, recordedAt: event.recordedAt, previous: previous)
                try checkEqual(
                    event.hash, hash, "hash of seq \(event.seq), recomputed from the previous hash and its canonical bytes")
                let decoded = try bytes.withUnsafeBytes { try EventCodec.decode($0) }
                try checkEqual(decoded, event, "seq \(event.seq) re-encoded and decoded")
                previous = hash
            }
            try checkEqual(try await store.head().hash, previous, "head hash, compared with the last event's")
        }
    }

    func appendingAfterCloseThrowsClosed() async throws {
        let store = try await harness.open(clock: SystemClock())
        try await store.append(sample("run:closing", 0))
        try await store.close()
        _ = try await expectLedgerError(.closed, "appending one event after close") {
            try await store.append(sample("run:closing", 1))
        }
        _ = try await expectLedgerError(.closed, "appending a batch after close") {
            try await store.append(
                [sample("run:closing", 2), sample("run:closing-2", 0)], expecting: ["run:closing": .exactly(1)])
        }
    }

    /// Appends `count` events over several streams, in singles and batches, with expectations.
    func appendMixedLog(_ store: Store, count: Int) async throws {
        var appended = 0
        var size = 1
        while appended < count {
            let batch = (appended..<min(count, appended + size)).map { sample("run:mixed-\($0 % 4)", $0) }
            if size == 2, let first = batch.first {
                let version = try await store.streamVersion(first.stream)
                _ = try await store.append(batch, expecting: [first.stream: .exactly(version)])
            } else {
                try await store.append(batch)
            }
            appended += batch.count
            size = size % 3 + 1
        }
    }

    // MARK: Expectation helpers

    func expectWrongVersion(
        _ store: Store, _ events: [ProposedEvent], _ expectations: [String: ExpectedVersion], naming stream: String,
        _ what: String, line: UInt = #line
    ) async throws {
        let headBefore = try await store.head()
        let error = try await expectLedgerError(.wrongExpectedVersion, what, line: line) {
            try await store.append(events, expecting: expectations)
        }
        try check(
            error.description.contains(stream), "\(what): the error \"\(error)\" does not name the stream \(stream)", line: line)
        try await expectNothingWritten(store, since: headBefore, ids: events.map(\.id), what, line: line)
    }

    func expectNothingWritten(
        _ store: Store, since head: LogHead, ids: [EventID], _ what: String, line: UInt = #line
    ) async throws {
        try checkEqual(try await store.head(), head, "head \(what)", line: line)
        let after = try await store.read(from: head.seq + 1, maxCount: 10)
        try check(after.isEmpty, "\(what): events were written after seq \(head.seq): \(after.map(describe))", line: line)
        for id in ids {
            if let stored = try await store.event(id: id) {
                throw ConformanceFailure("\(what): event \(id) was stored as \(describe(stored))", line: line)
            }
        }
    }
}

// MARK: - Assertions

private func check(_ condition: Bool, _ message: @autoclosure () -> String, line: UInt = #line) throws {
    if !condition { throw ConformanceFailure(message(), line: line) }
}

private func checkEqual<T: Equatable>(_ seen: T, _ expected: T, _ what: @autoclosure () -> String, line: UInt = #line) throws {
    if seen != expected {
        throw ConformanceFailure("\(what()): expected \(describe(expected)), saw \(describe(seen))", line: line)
    }
}

/// Runs `body` and returns the ``LedgerError`` it throws, which must have `code`.
private func expectLedgerError<T>(
    _ code: LedgerError.Code, _ what: String, line: UInt = #line, _ body: () async throws -> T
) async throws -> LedgerError {
    let outcome: T
    do {
        outcome = try await body()
    } catch let error as LedgerError {
        guard error.code == code else {
            throw ConformanceFailure("\(what): expected a \(code) error, got \(error.code): \(error)", line: line)
        }
        return error
    } catch {
        throw ConformanceFailure("\(what): expected a LedgerError \(code), got \(String(reflecting: error))", line: line)
    }
    throw ConformanceFailure("\(what): expected a \(code) error, but it succeeded: \(describe(outcome))", line: line)
}

private func describe(_ value: Any) -> String {
    switch value {
    case let event as RecordedEvent:
        return "seq \(event.seq) \(event.stream) v\(event.version) id \(event.id) "
            + "recordedAt \(event.recordedAt.nanosecondsSinceEpoch)"
    case let head as LogHead:
        return "head(seq \(head.seq), hash \(head.hash), recordedAt \(head.recordedAt.nanosecondsSinceEpoch))"
    case let time as LedgerTime:
        return "\(time.nanosecondsSinceEpoch) ns"
    case let position as EventPosition:
        return "(seq \(position.seq), v\(position.version)\(position.isDuplicate ? ", duplicate" : ""))"
    case let result as AppendResult:
        return "positions \(describe(result.positions)), \(describe(result.head))"
    case let array as [Any]:
        if array.count > 24 {
            return "[\(array.prefix(12).map(describe).joined(separator: ", ")), ... (\(array.count) in all)]"
        }
        return "[\(array.map(describe).joined(separator: ", "))]"
    case let optional as any OptionalProtocol:
        return optional.wrapped.map(describe) ?? "nil"
    default:
        return String(describing: value)
    }
}

private protocol OptionalProtocol {
    var wrapped: Any? { get }
}

extension Optional: OptionalProtocol {
    fileprivate var wrapped: Any? {
        switch self {
        case .some(let value): value
        case .none: nil
        }
    }
}

/// One event an appender saw acknowledged.
private struct Acknowledged: Sendable {
    var appender: Int
    var event: ProposedEvent
    var position: EventPosition
}

/// A value shared between tasks.
private final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value { storage.withLock { $0 } }
    func update(_ body: (inout Value) -> Void) { storage.withLock { body(&$0) } }
}

public import LedgerCore
public import LedgerProjections

/// A projection check that did not hold: what was expected and what was seen.
public struct ProjectionExpectationFailure: Error, CustomStringConvertible {
    public var message: String
    public var file: String
    public var line: UInt

    public init(_ message: String, file: String = #fileID, line: UInt = #line) {
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String { "\(message) (\(file):\(line))" }
}

/// Given events, expect a state: the harness for testing a projection (like Marten's
/// `ProjectionScenario`), with the engine's guarantees checked on the way.
///
/// ``run()`` appends the events to a fresh ``InMemoryEventStore`` (a ``ManualClock`` moving 1 ms
/// per event, so every event has its own `recordedAt`), then folds them four ways and requires the
/// same state hash from each: the plain reference fold (`apply` in a loop), the engine catching up
/// with a snapshot every `snapshotEvery` events, ``ProjectionEngine/state(of:asOf:useSnapshots:)``
/// from those snapshots, and a second replay from zero. It also requires the state to survive its
/// own encoding (encode, decode, encode gives the same bytes). A projection that passes is pure
/// and deterministic as far as these events can show. It does not depend on a test framework: a
/// failed check throws ``ProjectionExpectationFailure``.
///
/// ```swift
/// let state = try await ProjectionScenario(SpendByDimension(.agent))
///     .given(ProjectionFixtures.usage(cost: Money(nanos: 5), agent: "a"))
///     .state()
/// #expect(state["a"]?.costNanos == 5)
/// ```
public struct ProjectionScenario<P: Projection>: Sendable {
    public let projection: P
    public private(set) var events: [ProposedEvent] = []
    /// Snapshot spacing for the engine fold (small, so that snapshots are exercised).
    public var snapshotEvery: UInt64

    public init(_ projection: P, snapshotEvery: UInt64 = 3) {
        self.projection = projection
        self.snapshotEvery = snapshotEvery
    }

    /// The scenario with `events` appended after those already given.
    public func given(_ events: ProposedEvent...) -> Self { given(events) }

    /// The scenario with `events` appended after those already given.
    public func given(_ events: [ProposedEvent]) -> Self {
        var copy = self
        copy.events += events
        return copy
    }

    /// What a scenario produced.
    public struct Outcome: Sendable {
        public var state: P.State
        public var stateHash: ContentHash
        /// The events as stored (with seq, recordedAt and hash).
        public var recorded: [RecordedEvent]
    }

    /// Runs the scenario and returns the state once every check holds.
    public func state() async throws -> P.State { try await run().state }

    /// Runs the scenario, then hands the state to `check` (which throws or records failures).
    public func expect(_ check: (P.State) throws -> Void) async throws {
        try check(try await run().state)
    }

    /// Runs the scenario and every determinism check; returns the state and its hash.
    public func run() async throws -> Outcome {
        let clock = ManualClock()
        let store = InMemoryEventStore(clock: clock)
        for event in events {
            clock.advance(byNanoseconds: 1_000_000)
            try await store.append(event)
        }
        let recorded = try store.read(from: 1, maxCount: Limits.readEventCountMax)
        let reference = projection.fold(recorded)
        let referenceBytes = try projection.encodeState(reference)
        let referenceHash = ContentHash(of: referenceBytes)

        let snapshots = InMemorySnapshotStore()
        let engine = ProjectionEngine(
            store: store, snapshots: snapshots, options: ProjectionEngine.Options(snapshotEvery: snapshotEvery))
        let handle = try await engine.register(projection)
        let report = try await engine.catchUp()
        guard report.snapshotFailures.isEmpty else {
            throw ProjectionExpectationFailure("snapshots of \(projection.name) failed: \(report.snapshotFailures)")
        }
        let live = try await engine.current(handle)
        try require(live.stateHash, referenceHash, "the engine's fold")
        let fromSnapshots = try await engine.state(of: projection, asOf: .head)
        guard fromSnapshots.rejectedSnapshots.isEmpty else {
            throw ProjectionExpectationFailure("the engine refused its own snapshots: \(fromSnapshots.rejectedSnapshots)")
        }
        try require(fromSnapshots.stateHash, referenceHash, "state(asOf: .head) from snapshots")
        let replay = try await engine.state(of: projection, asOf: .head, useSnapshots: false)
        try require(replay.stateHash, referenceHash, "a replay from zero")

        let decoded = try projection.decodeState(referenceBytes)
        let again = try projection.encodeState(decoded)
        guard again == referenceBytes else {
            throw ProjectionExpectationFailure(
                "\(projection.name): encoding the decoded state gives other bytes; the state encoding is not canonical")
        }
        return Outcome(state: reference, stateHash: referenceHash, recorded: recorded)
    }

    private func require(_ hash: ContentHash, _ expected: ContentHash, _ what: String) throws {
        guard hash == expected else {
            throw ProjectionExpectationFailure(
                "\(projection.name): \(what) has state hash \(hash), the plain fold \(expected): the projection is not deterministic (check for Sets, non-String dictionary keys, clocks or randomness)")
        }
    }
}

import LedgerActors
import LedgerCore
import LedgerDetectors
import LedgerDomain
import LedgerLMDB
import SpendLedger
import SpendLedgerTestKit
import Testing

/// Records what the service asked it to do.
actor RecordingEnforcer: PolicyEnforcer {
    private(set) var halts: [String] = []
    private(set) var pauses: [String] = []

    func haltRun(_ run: String, cause: String, reason: String) async throws { halts.append(run) }
    func pauseAgent(_ agent: String, reason: String) async throws { pauses.append(agent) }
}

func storedEvents(ofType type: String, in store: some EventStore) async throws -> [RecordedEvent] {
    var found: [RecordedEvent] = []
    for try await event in store.events(from: 1) where event.type == type { found.append(event) }
    return found
}

@Suite struct DetectorServiceTests {
    @Test func onALMDBLedger_haltsTheLoopingRun_andARestartAppendsNothingTwice() async throws {
        let directory = try TemporaryDirectory("detectors")
        defer { directory.remove() }
        let clock = ManualClock(start: dayStart)
        let ledger = try await Ledger.open(at: directory.path, options: LMDBOptions(durability: .noSync, clock: clock))
        let service = try await ledger.startDetectors()
        try await ledger.startRun(RunSpec(id: "work", agent: "a", client: "acme"))
        try await ledger.startRun(RunSpec(id: "stuck", agent: "a", client: "acme"))

        /// Authorizes and settles one call at `time`; the denial when refused.
        func call(_ run: String, at time: LedgerTime, prompt: Int64) async throws -> Denial? {
            clock.set(time)
            switch try await ledger.authorize(run: run, estimate: dollars("0.01")) {
            case .granted(let grant):
                let usage = UsageRecorded(cost: Money(nanos: 100_000), inputTokens: prompt, outputTokens: 200)
                try await ledger.spend.settle(grant, usage: usage, model: "gpt-4o-mini", vendor: "openai", occurredAt: time)
                return nil
            case .denied(let denial):
                return denial
            }
        }

        for index in 0..<60 { _ = try await call("work", at: minute(Double(index) / 3), prompt: variedPrompt(index)) }
        try await service.caughtUp(through: try await ledger.store.head().seq)
        #expect(await service.alerts().isEmpty, "ordinary work raises nothing")

        // From minute 20 the same call every two seconds, as the demo's retry bug does.
        var denial: Denial?
        var attempts = 0
        while denial == nil, attempts < 300 {
            denial = try await call("stuck", at: minute(20 + Double(attempts) / 30), prompt: 4_000)
            try await service.caughtUp(through: try await ledger.store.head().seq)
            attempts += 1
        }
        let refused = try #require(denial)
        #expect(refused.deniedBy == "run:halted")
        #expect(refused.reason.contains("detector:loop") && refused.reason.contains("near-identical"), "\(refused.reason)")
        #expect(attempts == 13, "twelve calls make the loop, the thirteenth is refused")
        #expect(try await call("work", at: minute(21), prompt: variedPrompt(61)) == nil, "the agent's other run still spends")

        let alerts = await service.alerts()
        let loop = try #require(alerts.first)
        #expect(alerts.count == 1 && loop.kind == .loop && loop.run == "stuck" && loop.action == .haltRun)
        let anomalies = try await storedEvents(ofType: AnomalyDetected.type, in: ledger.store)
        #expect(anomalies.count == 1)
        let recorded = try #require(anomalies.first)
        #expect(recorded.stream == "detector:loop" && recorded.occurredAt == loop.at)
        #expect(recorded.dimensions.agent == "a" && recorded.dimensions.run == "stuck")
        #expect(recorded.dimensions.causation == loop.triggeredBy)
        #expect(recorded.id == DetectorService.eventID(for: loop))
        let payload = try recorded.decode(as: AnomalyDetected.self)
        #expect(payload.kind == "loop" && payload.action == "halt_run" && payload.scoreMilli == loop.scoreMilli)
        let halts = try await storedEvents(ofType: RunHalted.type, in: ledger.store)
        #expect(halts.count == 1 && halts.first?.stream == "run:stuck")
        await service.stop()

        // A restart folds the history again: the same alert, nothing appended, nothing halted twice.
        let headBefore = try await ledger.store.head()
        let restarted = try await ledger.startDetectors()
        try await restarted.caughtUp(through: headBefore.seq)
        #expect(await restarted.alerts() == alerts)
        #expect(try await ledger.store.head() == headBefore)
        await restarted.stop()
        try await ledger.close()
    }

    @Test func policiesApplyOnce_evenAcrossRestarts() async throws {
        let store = InMemoryEventStore()
        var configuration = DetectorConfiguration.default
        configuration.policies[.loop] = .pauseAgent
        let enforcer = RecordingEnforcer()
        let service = DetectorService(store: store, configuration: configuration, enforcer: enforcer)
        try await service.start()
        for event in LoopTests.calls(20) { try await store.append(event.proposed) }
        try await service.caughtUp(through: store.head().seq)
        #expect(await service.alerts().map(\.action) == [.pauseAgent])
        #expect(await enforcer.pauses == ["a"])
        #expect(await enforcer.halts.isEmpty)
        await service.stop()

        let again = RecordingEnforcer()
        let restarted = DetectorService(store: store, configuration: configuration, enforcer: again)
        try await restarted.start()
        #expect(await restarted.alerts().count == 1)
        #expect(await again.pauses.isEmpty, "an alert already in the log does not apply its policy again")
        #expect(try await storedEvents(ofType: AnomalyDetected.type, in: store).count == 1)
        await restarted.stop()
        await #expect(throws: CancellationError.self) { try await restarted.caughtUp(through: .max) }
    }

    @Test func withoutAnEnforcer_alertsAreRecordedOnly() async throws {
        let store = InMemoryEventStore()
        for event in LoopTests.calls(12) { try await store.append(event.proposed) }
        let service = DetectorService(store: store, configuration: .default, enforcer: nil)
        try await service.start()
        #expect(await service.alerts().count == 1)
        #expect(try await storedEvents(ofType: AnomalyDetected.type, in: store).count == 1)
        #expect(try await storedEvents(ofType: RunHalted.type, in: store).isEmpty)
        await service.stop()
    }
}

import Foundation
import LedgerCore
import LedgerDomain
import Testing

@testable import LedgerDetectors

/// The default configuration with every detector but `kind` switched off.
func only(_ kind: AlertKind, _ change: (inout DetectorConfiguration) -> Void = { _ in }) -> DetectorConfiguration {
    var configuration = DetectorConfiguration.default
    configuration.velocity.enabled = kind == .velocity
    configuration.spike.enabled = kind == .spike
    configuration.retryStorm.enabled = kind == .retryStorm
    configuration.loop.enabled = kind == .loop
    configuration.burnRate.enabled = kind == .burnRate
    configuration.mixShift.enabled = kind == .mixShift
    change(&configuration)
    return configuration
}

/// Token counts that are never near-identical: twelve sizes, each 30 % above the last, in turn (a
/// size comes back only after the loop tracker's eight signatures have moved on).
func variedPrompt(_ index: Int) -> Int64 { Int64(300 * pow(1.3, Double(index % 12))) }
func variedCompletion(_ index: Int) -> Int64 { Int64(100 * pow(1.3, Double(index % 12))) }

// MARK: - Velocity

@Suite struct VelocityTests {
    /// Agent `a`: 3 calls a minute on run `work` for `minutes` minutes, plus `loopPerMinute` calls a
    /// minute on run `stuck` during `loopMinutes`.
    static func log(
        minutes: Int = 60, loopPerMinute: Int = 30, loopMinutes: [Range<Int>] = [30..<60], cost: Int64 = 100_000
    ) -> [RecordedEvent] {
        var log = EventLog()
        var index = 0
        for m in 0..<minutes {
            var times: [(Double, String)] = (0..<3).map { (Double(m) + Double($0) / 3 + 0.05, "work") }
            if loopMinutes.contains(where: { $0.contains(m) }) {
                times += (0..<loopPerMinute).map { (Double(m) + Double($0) / Double(loopPerMinute), "stuck") }
            }
            for (time, run) in times.sorted(by: { $0.0 < $1.0 }) {
                index += 1
                log.usage(agent: "a", run: run, at: minute(time), cost: cost, input: variedPrompt(index))
            }
        }
        return log.events
    }

    @Test func sustainedLoop_firesOnceWithinFourMinutes_namingTheRunAndHaltingIt() throws {
        let alerts = detect(Self.log(), only(.velocity))
        #expect(alerts.count == 1)
        let alert = try #require(alerts.first)
        #expect(alert.kind == .velocity && alert.agent == "a" && alert.run == "stuck")
        #expect(alert.at >= minute(32) && alert.at < minute(34), "the third anomalous minute: \(alert.at)")
        #expect(alert.action == .haltRun)
        #expect((500...1000).contains(alert.scoreMilli))
        #expect(alert.evidence.contains("calls/min"), "\(alert.evidence)")
        #expect(alert.triggeredBy != nil)
    }

    @Test func shortBurst_doesNotFire() {
        #expect(detect(Self.log(loopMinutes: [30..<32]), only(.velocity)).isEmpty)
    }

    @Test func rearms_onlyAfterTheConditionClears() {
        let alerts = detect(Self.log(minutes: 90, loopMinutes: [30..<45, 60..<80]), only(.velocity))
        #expect(alerts.map(\.kind) == [.velocity, .velocity])
        #expect(alerts.map { $0.at >= minute(60) } == [false, true])
    }

    @Test func thresholds_areConfigurable() throws {
        let events = Self.log()
        #expect(detect(events, only(.velocity) { $0.velocity.multiplier = 20 }).isEmpty)
        #expect(detect(events, only(.velocity) { $0.velocity.callsPerMinuteFloor = 40 }).isEmpty)
        let quick = try #require(detect(events, only(.velocity) { $0.velocity.sustainMinutes = 1 }).first)
        #expect(quick.at < minute(31))
        // The spend floor: each call costs $0.01, so 33 calls a minute spend $0.33.
        let expensive = Self.log(cost: 10_000_000)
        let bySpend = detect(expensive, only(.velocity) { $0.velocity.callsPerMinuteFloor = 1_000 })
        #expect(bySpend.count == 1)
        #expect(
            detect(
                expensive,
                only(.velocity) {
                    $0.velocity.callsPerMinuteFloor = 1_000
                    $0.velocity.costPerMinuteFloor = dollars("1")
                }
            ).isEmpty)
    }

    @Test func baseline_excludesAnomalousMinutes_andMinutesAreRecorded() {
        var detectors = DetectorSet(configuration: only(.velocity), recordMinutes: true)
        for event in Self.log(minutes: 50, loopMinutes: [30..<45]) { _ = detectors.observe(event) }
        _ = detectors.finish()
        let samples = detectors.drainClosedMinutes()
        #expect(samples.count == 50 && samples.allSatisfy { $0.agent == "a" })
        #expect(samples.map(\.sample.minute) == (0..<50).map { minute(Double($0)) })
        let loopMinutes = samples[30..<45].map(\.sample)
        #expect(loopMinutes.allSatisfy { $0.anomalous && $0.calls == 33 })
        #expect(samples[..<30].allSatisfy { !$0.sample.anomalous })
        // The baseline after the loop is still the ordinary 3 calls a minute.
        #expect(abs(samples[46].sample.baselineCalls - 3) < 0.01, "\(samples[46].sample.baselineCalls)")
        #expect(samples[46].sample.baselineCostNanos == 300_000)
        #expect(detectors.drainClosedMinutes().isEmpty, "a drain empties the list")
    }

    @Test func aMinuteWithALoop_staysOutOfTheBaseline_evenBelowTheVelocityThresholds() {
        var log = EventLog()
        for m in 0..<30 {
            for c in 0..<3 {
                log.usage(
                    agent: "a", run: "work", at: minute(Double(m) + Double(c) / 3), cost: 100_000, input: variedPrompt(m * 3 + c))
            }
        }
        // Minute 30: twelve identical calls (a loop, but under 5 × the baseline and the floor).
        for index in 0..<12 {
            log.usage(agent: "a", run: "stuck", at: minute(30 + Double(index) / 13), cost: 100_000, input: 4_000)
        }
        for m in 31..<35 { log.usage(agent: "a", run: "work", at: minute(Double(m)), cost: 100_000, input: variedPrompt(m)) }
        var detectors = DetectorSet(configuration: .default, recordMinutes: true)
        var alerts: [Alert] = []
        for event in log.events { alerts += detectors.observe(event) }
        _ = detectors.finish()
        #expect(alerts.map(\.kind) == [.loop])
        let samples = detectors.drainClosedMinutes().map(\.sample)
        #expect(samples[30].calls == 12 && samples[30].anomalous)
        #expect(abs(samples[31].baselineCalls - 3) < 0.01, "the loop's minute did not feed the baseline")
    }

    @Test func lateCharges_areNotCountedInAMinuteAlreadyJudged() {
        var log = EventLog()
        for m in 0..<40 {
            for c in 0..<3 {
                log.usage(
                    agent: "a", run: "work", at: minute(Double(m) + Double(c) / 3), cost: 100_000, input: variedPrompt(m * 3 + c))
            }
        }
        // 200 charges that occurred during minutes 30...34 arrive after minute 39.
        for index in 0..<200 {
            log.usage(agent: "a", run: "late", at: minute(30 + Double(index) / 40), cost: 100_000, input: variedPrompt(index))
        }
        #expect(detect(log.events, only(.velocity)).isEmpty)
    }

    @Test func youngAgent_needsKTimesTheFloorsUntilWarm() {
        var fast = EventLog()
        var faster = EventLog()
        for index in 0..<(6 * 60) {
            fast.usage(agent: "new", run: "r", at: minute(Double(index) / 30), cost: 1_000, input: variedPrompt(index))
        }
        for index in 0..<(6 * 60) {
            faster.usage(agent: "new", run: "r", at: minute(Double(index) / 60), cost: 1_000, input: variedPrompt(index))
        }
        #expect(detect(fast.events, only(.velocity)).isEmpty, "30 a minute from the start is not 5 × the floor")
        #expect(detect(faster.events, only(.velocity)).count == 1, "60 a minute from the start is")
    }
}

// MARK: - Spike

@Suite struct SpikeTests {
    /// Agent `a` completes `runs` runs of $0.20 (two $0.10 calls), then run `big` makes $0.50 calls.
    static func log(completedRuns runs: Int, bigCalls: Int = 8) -> [RecordedEvent] {
        var log = EventLog()
        var t = 0.0
        for index in 0..<runs {
            log.startRun("r\(index)", agent: "a", at: minute(t))
            for _ in 0..<2 {
                t += 1
                log.usage(agent: "a", run: "r\(index)", at: minute(t), cost: 100_000_000, input: variedPrompt(index))
            }
            log.completeRun("r\(index)", agent: "a", at: minute(t))
        }
        log.startRun("big", agent: "a", at: minute(t))
        for index in 0..<bigCalls {
            t += 1
            log.usage(agent: "a", run: "big", at: minute(t), cost: 500_000_000, input: variedPrompt(index))
        }
        return log.events
    }

    @Test func runAboveTenTimesTheMedian_firesOnce_atTheCrossingCharge() throws {
        let events = Self.log(completedRuns: 5)
        let alerts = detect(events, only(.spike))
        #expect(alerts.count == 1)
        let alert = try #require(alerts.first)
        #expect(alert.kind == .spike && alert.run == "big" && alert.agent == "a")
        // $0.50 × 5 = $2.50 is the first total above 10 × $0.20.
        let fifthBigCall = events.filter { $0.dimensions.run == "big" && $0.type == UsageRecorded.type }[4]
        #expect(alert.at == fifthBigCall.occurredAt && alert.triggeredBy == fifthBigCall.id)
        #expect(alert.action == .notify)
        #expect(alert.evidence.contains("median"), "\(alert.evidence)")
    }

    @Test func tooFewCompletedRuns_orAHigherMultiple_doNotFire() {
        #expect(detect(Self.log(completedRuns: 4), only(.spike)).isEmpty)
        #expect(detect(Self.log(completedRuns: 5), only(.spike) { $0.spike.multiple = 25 }).isEmpty)
        #expect(detect(Self.log(completedRuns: 4), only(.spike) { $0.spike.minimumCompletedRuns = 3 }).count == 1)
    }
}

// MARK: - Retry storm

@Suite struct RetryStormTests {
    static func log(retries: [(minute: Double, task: String, number: Int32)]) -> [RecordedEvent] {
        var log = EventLog()
        for (index, retry) in retries.enumerated() {
            log.usage(
                agent: "a", run: "r", at: minute(retry.minute), cost: 1_000, input: variedPrompt(index), retry: retry.number,
                task: retry.task)
        }
        return log.events
    }

    @Test func fourthRetryOnOneTask_firesOnce() throws {
        let events = Self.log(retries: (0..<7).map { (Double($0), "t", 1) })
        let alerts = detect(events, only(.retryStorm))
        #expect(alerts.count == 1)
        let alert = try #require(alerts.first)
        #expect(alert.kind == .retryStorm && alert.run == "r" && alert.at == minute(3))
        #expect(alert.action == .haltRun)
        #expect(alert.evidence.contains("task t"), "\(alert.evidence)")
    }

    @Test func threeRetries_retriesSpreadOverTasks_orOutsideTheWindow_doNotFire() {
        #expect(detect(Self.log(retries: (0..<3).map { (Double($0), "t", 1) }), only(.retryStorm)).isEmpty)
        #expect(detect(Self.log(retries: (0..<6).map { (Double($0), $0 % 2 == 0 ? "t1" : "t2", 1) }), only(.retryStorm)).isEmpty)
        #expect(detect(Self.log(retries: (0..<4).map { (Double($0) * 30, "t", 1) }), only(.retryStorm)).isEmpty)
    }

    @Test func aRetryNumberAboveTheLimit_isAStormByItself() {
        let alerts = detect(Self.log(retries: [(0, "t", 4)]), only(.retryStorm))
        #expect(alerts.count == 1 && alerts.first?.evidence.contains("retry number 4") == true)
    }

    @Test func limit_isConfigurable() {
        let events = Self.log(retries: (0..<5).map { (Double($0), "t", 1) })
        #expect(detect(events, only(.retryStorm) { $0.retryStorm.limit = 5 }).isEmpty)
        #expect(detect(events, only(.retryStorm) { $0.retryStorm.limit = 1 }).first?.at == minute(1))
    }
}

// MARK: - Loop

@Suite struct LoopTests {
    static func calls(
        _ count: Int, every seconds: Double = 10, run: String = "r", kind: ChargeKind = .llm, model: String = "gpt-4o",
        prompt: (Int) -> Int64 = { _ in 4_000 }, completion: (Int) -> Int64 = { _ in 300 }
    ) -> [RecordedEvent] {
        var log = EventLog()
        for index in 0..<count {
            log.usage(
                agent: "a", run: run, at: minute(Double(index) * seconds / 60), cost: 10_000, model: model,
                input: prompt(index), output: completion(index), kind: kind)
        }
        return log.events
    }

    @Test func twelveNearIdenticalCalls_fireOnce_atTheTwelfth() throws {
        let events = Self.calls(30, prompt: { 4_000 + Int64($0 % 3) * 20 }, completion: { 300 - Int64($0 % 2) * 10 })
        let alerts = detect(events, only(.loop))
        #expect(alerts.count == 1)
        let alert = try #require(alerts.first)
        #expect(alert.kind == .loop && alert.run == "r" && alert.action == .haltRun)
        #expect(alert.triggeredBy == events[11].id)
        #expect(alert.evidence.contains("12 near-identical calls to gpt-4o"), "\(alert.evidence)")
        #expect(detect(Array(events.prefix(11)), only(.loop)).isEmpty)
    }

    @Test func variedCalls_doNotFire() {
        #expect(detect(Self.calls(60, prompt: variedPrompt), only(.loop)).isEmpty)
        #expect(detect(Self.calls(60, completion: variedCompletion), only(.loop)).isEmpty, "outputs differ")
    }

    @Test func growingContext_isOneLoop() {
        let events = Self.calls(20, prompt: { Int64(4_000 * pow(1.03, Double($0))) })
        #expect(detect(events, only(.loop)).count == 1)
        let jumps = Self.calls(40, prompt: { Int64(4_000 * pow(1.2, Double($0 % 12))) })
        #expect(detect(jumps, only(.loop)).isEmpty, "20 % steps are different calls")
    }

    @Test func subAgentFanOut_isOneLoop_namingTheRootRun() throws {
        var log = EventLog()
        log.startRun("parent", agent: "a", at: minute(0))
        for child in 0..<8 {
            let id = "child-\(child)"
            log.startRun(id, agent: "a", at: minute(Double(child) / 2), parent: "parent")
            for call in 0..<2 {
                log.usage(
                    agent: "a", run: id, at: minute(Double(child) / 2 + Double(call) / 10), cost: 10_000, input: 2_500,
                    output: 400)
            }
            log.completeRun(id, agent: "a", at: minute(Double(child) / 2 + 0.3))
        }
        let alert = try #require(detect(log.events, only(.loop)).first)
        #expect(alert.run == "parent" && alert.agent == "a")
    }

    @Test func toolCalls_needMoreRepeats_andEmbeddingsAreNotWatched() {
        #expect(
            detect(Self.calls(20, kind: .tool, model: "web_search", prompt: { _ in 0 }, completion: { _ in 0 }), only(.loop))
                .isEmpty)
        #expect(
            detect(Self.calls(24, kind: .tool, model: "web_search", prompt: { _ in 0 }, completion: { _ in 0 }), only(.loop))
                .count == 1)
        #expect(
            detect(Self.calls(60, kind: .embedding, model: "text-embedding-3-small", completion: { _ in 0 }), only(.loop)).isEmpty
        )
    }

    @Test func repeatsAndWindow_areConfigurable() {
        let events = Self.calls(15)
        #expect(detect(events, only(.loop) { $0.loop.repeats = 20 }).isEmpty)
        #expect(detect(events, only(.loop) { $0.loop.repeats = 5 }).first?.triggeredBy == events[4].id)
        let slow = Self.calls(15, every: 150)  // one every 2.5 minutes: never 12 within 10 minutes
        #expect(detect(slow, only(.loop)).isEmpty)
        #expect(detect(slow, only(.loop) { $0.loop.windowMinutes = 60 }).count == 1)
    }
}

// MARK: - Burn rate

@Suite struct BurnRateTests {
    static let daily = BudgetDefinition(scope: .client("acme"), period: .day, limit: dollars("10"))

    static func log(every minutes: Double, cost: Int64, client: String = "acme", days: Double = 1) -> [RecordedEvent] {
        var log = EventLog()
        log.defineBudget("acme-daily", daily, at: minute(0))
        log.periodStarted("acme-daily", start: minute(0), end: minute(1_440))
        var t = minutes
        while t < 1_440 * days {
            log.usage(agent: "a", run: "r", at: minute(t), cost: cost, input: variedPrompt(Int(t)), client: client)
            t += minutes
        }
        return log.events
    }

    @Test func budgetOnPaceToRunOut_firesOncePerPeriod() throws {
        let alerts = detect(Self.log(every: 10, cost: 1_000_000_000), only(.burnRate))
        #expect(alerts.count == 1)
        let alert = try #require(alerts.first)
        #expect(alert.kind == .burnRate && alert.run == nil && alert.agent == "" && alert.action == .notify)
        #expect(alert.at == minute(60), "the first charge after the minimum elapsed hour")
        #expect(alert.evidence.contains("budget acme-daily"), "\(alert.evidence)")
        // The next day (no period event: the detector computes it) alerts again.
        #expect(detect(Self.log(every: 10, cost: 1_000_000_000, days: 2), only(.burnRate)).count == 2)
    }

    @Test func slowSpend_orAnotherScope_doesNotFire() {
        #expect(detect(Self.log(every: 10, cost: 50_000_000), only(.burnRate)).isEmpty)
        #expect(detect(Self.log(every: 10, cost: 1_000_000_000, client: "globex"), only(.burnRate)).isEmpty)
    }
}

// MARK: - Mix shift

@Suite struct MixShiftTests {
    static func log(shiftAt shift: Int?) -> [RecordedEvent] {
        var log = EventLog()
        for m in 0..<360 {
            log.usage(
                agent: "a", run: "r1", at: minute(Double(m)), cost: 500_000_000, model: "gpt-4o", vendor: "openai",
                input: variedPrompt(m))
            log.usage(
                agent: "b", run: "r2", at: minute(Double(m) + 0.5), cost: 500_000_000, model: "gpt-4o-mini", vendor: "openai",
                input: variedPrompt(m))
            if let shift, m >= shift {
                log.usage(
                    agent: "c", run: "r3", at: minute(Double(m) + 0.7), cost: 2_000_000_000, model: "claude-opus-4-1",
                    vendor: "anthropic", input: variedPrompt(m))
            }
        }
        return log.events
    }

    @Test func aModelTakingOverTheSpend_firesOnceForTheModelAndOnceForItsVendor() throws {
        let alerts = detect(Self.log(shiftAt: 240), only(.mixShift))
        #expect(alerts.map(\.evidence.first) == ["m", "v"], "\(alerts.map(\.evidence))")
        let alert = try #require(alerts.first)
        #expect(alert.kind == .mixShift && alert.agent == "" && alert.run == nil && alert.action == .notify)
        #expect(alert.at >= minute(240) && alert.at < minute(260))
        #expect(alert.evidence.contains("model claude-opus-4-1"), "\(alert.evidence)")
    }

    @Test func aSteadyMix_doesNotFire() {
        #expect(detect(Self.log(shiftAt: nil), only(.mixShift)).isEmpty)
    }
}

// MARK: - Score, policies, feedback, determinism, bounds

@Suite struct DetectorSetTests {
    @Test func severityAndCombination_areTheDocumentedFormulas() {
        #expect(AnomalyScore.severity(ratio: 1) == 500)
        #expect(AnomalyScore.severity(ratio: 2) == 750)
        #expect(AnomalyScore.severity(ratio: 5) == 900)
        #expect(AnomalyScore.severity(ratio: 0.3) == 500)
        #expect(AnomalyScore.severity(ratio: .infinity) == 999)
        #expect(AnomalyScore.combine([]) == 0)
        #expect(AnomalyScore.combine([500, 500]) == 750)
        #expect(AnomalyScore.combine([900, 750]) == 975)
    }

    @Test func signalsOfOneAgent_reinforceTheScore() throws {
        // A fast loop: the loop alert comes first, the velocity alert minutes later scores both.
        let events = VelocityTests.log(loopPerMinute: 30)
        var fixed = EventLog()
        for event in events {
            // Make the stuck run's calls identical so the loop detector fires too.
            if event.dimensions.run == "stuck" {
                fixed.usage(agent: "a", run: "stuck", at: event.occurredAt, cost: 100_000, input: 4_000)
            } else {
                fixed.append(event.proposed)
            }
        }
        var configuration = DetectorConfiguration.default
        configuration.mixShift.enabled = false
        let alerts = detect(fixed.events, configuration)
        let loop = try #require(alerts.first { $0.kind == .loop })
        let velocity = try #require(alerts.first { $0.kind == .velocity })
        #expect(loop.at < velocity.at)
        #expect(velocity.scoreMilli > loop.scoreMilli)
    }

    @Test func policies_areConfigurable_andFallBackWhenTheyCannotApply() throws {
        let events = LoopTests.calls(12)
        #expect(detect(events, only(.loop) { $0.policies[.loop] = .pauseAgent }).first?.action == .pauseAgent)
        #expect(detect(events, only(.loop) { $0.policies[.loop] = nil }).first?.action == .notify)
        var runless = EventLog()
        for _ in 0..<12 { runless.usage(agent: "a", run: nil, at: minute(1), cost: 10_000, input: 4_000) }
        let alert = try #require(detect(runless.events, only(.loop)).first)
        #expect(alert.run == nil && alert.action == .notify, "halt_run needs a run")
    }

    @Test func ownAlertsHaltsAndPauses_areIgnored() {
        let events = VelocityTests.log()
        var noisy = EventLog()
        for event in events {
            noisy.append(event.proposed)
            if event.dimensions.run == "stuck" {
                noisy.append(
                    ProposedEvent(
                        AnomalyDetected(kind: "velocity", scoreMilli: 900, evidence: "x", action: "halt_run"),
                        stream: SpendStreams.detector("velocity"), occurredAt: event.occurredAt,
                        dimensions: Dimensions(agent: "a", run: "stuck"), id: noisy.freshID()))
                noisy.append(
                    ProposedEvent(
                        RunHalted(cause: "detector:velocity", reason: "x"), stream: SpendStreams.run("stuck"),
                        occurredAt: event.occurredAt, dimensions: Dimensions(agent: "a", run: "stuck"), id: noisy.freshID()))
                noisy.append(
                    ProposedEvent(
                        AgentPaused(reason: "x"), stream: SpendStreams.wallet("a"), occurredAt: event.occurredAt,
                        dimensions: Dimensions(agent: "a"), id: noisy.freshID()))
            }
        }
        let plain = detect(events).map { [$0.kind.rawValue, $0.at.rfc3339, $0.evidence, String($0.scoreMilli)] }
        let withFeedback = detect(noisy.events).map { [$0.kind.rawValue, $0.at.rfc3339, $0.evidence, String($0.scoreMilli)] }
        #expect(!plain.isEmpty && plain == withFeedback)
    }

    @Test func scan_isDeterministic_andFiltersByTime() async throws {
        let store = InMemoryEventStore()
        let fleet = SyntheticFleet(
            seed: 5, minutes: 240, agents: 12, loop: SyntheticFleet.Loop(shape: .fastRetry, agentIndex: 2, startMinute: 180))
        for chunk in fleet.events().map(\.proposed).chunked(1_000) { try await store.append(chunk) }
        let first = try await DetectorSet.scan(store, configuration: .default, from: nil, to: nil)
        let second = try await DetectorSet.scan(store, configuration: .default, from: nil, to: nil)
        #expect(!first.isEmpty && first == second)
        let loopAlert = try #require(first.first { $0.kind == .loop })
        let from = LedgerTime(nanosecondsSinceEpoch: loopAlert.at.nanosecondsSinceEpoch + 1)
        let later = try await DetectorSet.scan(store, configuration: .default, from: from, to: nil)
        #expect(later == first.filter { $0.at >= from })
        let window = try await DetectorSet.scan(store, configuration: .default, from: minute(0), to: loopAlert.at)
        #expect(window == first.filter { $0.at <= loopAlert.at })
    }

    @Test func usageFields_agreeWithTheFullDecoder() throws {
        let usage = UsageRecorded(
            kind: .tool, cost: Money(nanos: 123_456), inputTokens: 10, outputTokens: 20, cachedTokens: 30, cacheWriteTokens: 40,
            reasoningTokens: 50, toolCalls: 2, retry: 3, latencyMs: 99, priceEntry: "gpt-4o@2026-01-01",
            reservation: EventID(high: 7, low: 9))
        var log = EventLog()
        let event = log.append(ProposedEvent(usage, stream: "run:r", occurredAt: minute(0)))
        let fields = try #require(UsageFields(event))
        #expect(fields.kind == .tool && fields.costNanos == 123_456 && fields.retry == 3)
        #expect(fields.promptTokens == 80 && fields.completionTokens == 70)
        var damaged = event
        damaged.payload.removeLast(40)
        #expect(UsageFields(damaged) == nil)
    }

    @Test func trackedRunsAndAgents_stayBounded() {
        var configuration = DetectorConfiguration.default
        configuration.tracking = TrackingLimits(agentsMax: 20, runsMax: 40, keysMax: 16)
        var detectors = DetectorSet(configuration: configuration)
        var log = EventLog()
        for index in 0..<2_000 {
            log.usage(
                agent: "agent-\(index % 100)", run: "run-\(index)", at: minute(Double(index) / 10), cost: 1_000,
                model: "model-\(index % 50)", vendor: "vendor-\(index % 30)", input: variedPrompt(index))
        }
        for event in log.events { _ = detectors.observe(event) }
        #expect(detectors.trackedCounts.runs <= 40 && detectors.trackedCounts.agents <= 20)
        #expect(detectors.trackedCounts.mixKeys <= 16)
    }

    @Test func completedRuns_areForgotten() {
        var detectors = DetectorSet()
        var log = EventLog()
        for index in 0..<100 {
            log.startRun("r\(index)", agent: "a", at: minute(Double(index)))
            log.usage(agent: "a", run: "r\(index)", at: minute(Double(index) + 0.5), cost: 1_000, input: variedPrompt(index))
            log.completeRun("r\(index)", agent: "a", at: minute(Double(index) + 0.9))
        }
        for event in log.events { _ = detectors.observe(event) }
        #expect(detectors.trackedCounts.runs == 0)
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}

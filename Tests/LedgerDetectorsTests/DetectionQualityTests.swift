import LedgerCore
import LedgerDetectors
import Testing

/// Item 5 of issue 5: seeded synthetic fleets with loops of several shapes are caught within 10
/// minutes of the loop starting, and a steady 24-hour fleet with ordinary bursts raises no velocity
/// or loop alert.
@Suite struct DetectionQualityTests {
    static let runawayKinds: Set<AlertKind> = [.velocity, .loop, .retryStorm]

    struct Case: CustomTestStringConvertible, Sendable {
        var shape: SyntheticFleet.LoopShape
        var seed: UInt64
        var testDescription: String { "\(shape.rawValue), seed \(seed)" }
    }

    static let loopCases: [Case] = SyntheticFleet.LoopShape.allCases.flatMap { shape in
        [UInt64(1), 2, 3].map { Case(shape: shape, seed: $0) }
    }

    @Test(arguments: loopCases)
    func loopIsCaughtWithinTenMinutes_andNoOtherAgentIsFlagged(_ scenario: Case) throws {
        var random = SeededRandom(seed: scenario.seed &+ 99)
        let loop = SyntheticFleet.Loop(
            shape: scenario.shape, agentIndex: random.int(0...11), startMinute: random.uniform(150...200).rounded())
        let fleet = SyntheticFleet(seed: scenario.seed, minutes: 240, agents: 12, loop: loop)
        let alerts = detect(fleet.events())
        let looping = fleet.agentName(loop.agentIndex)
        let start = minute(loop.startMinute)

        let caught = alerts.filter { $0.agent == looping && Self.runawayKinds.contains($0.kind) && $0.at >= start }
        let first = try #require(caught.min { $0.at < $1.at }, "no alert for \(looping)'s \(scenario.shape) loop")
        let delay = Double(first.at.nanosecondsSinceEpoch - start.nanosecondsSinceEpoch) / 60e9
        #expect(delay <= 10, "\(scenario.shape) caught after \(delay) min by \(first.kind): \(first.evidence)")
        #expect(first.action == .haltRun)
        #expect(first.run == "loop-\(looping)", "the alert names the looping run (the root of a fan-out)")

        let falseAlarms = alerts.filter { $0.agent != looping && ($0.kind == .velocity || $0.kind == .loop) }
        #expect(falseAlarms.isEmpty, "\(falseAlarms.map { "\($0.agent) \($0.kind) at \($0.at): \($0.evidence)" })")
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func steadyDayWithOrdinaryBursts_raisesNoVelocityOrLoopAlert(seed: UInt64) {
        let fleet = SyntheticFleet(seed: seed, minutes: 1_440, agents: 12)
        let events = fleet.events()
        #expect(events.count > 20_000, "a realistic day: \(events.count) events")
        let alerts = detect(events).filter { $0.kind == .velocity || $0.kind == .loop }
        #expect(alerts.isEmpty, "\(alerts.map { "\($0.agent) \($0.kind) at \($0.at): \($0.evidence)" })")
    }
}

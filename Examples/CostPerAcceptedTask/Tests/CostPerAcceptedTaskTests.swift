import CostPerAcceptedTaskExample
import LedgerCore
import LedgerDomain
import SpendLedgerTestKit
import Testing

/// The example projection, tested the way a projection author would: given events, expect state.
@Suite struct CostPerAcceptedTaskTests {
    typealias F = ProjectionFixtures

    @Test func acceptedTasks_costIncludesFailedAttempts_andAveragesHalfEven() async throws {
        let state = try await ProjectionScenario(CostPerAcceptedTask())
            .given(
                F.runStarted("r1", task: "summarize"),
                F.usage(cost: Money(nanos: 1_000), run: "r1", task: "summarize"),
                F.runCompleted("r1", .rejected),
                F.runStarted("r2", task: "summarize"),
                F.usage(cost: Money(nanos: 2_001), run: "r2", task: "summarize"),
                F.runCompleted("r2", .accepted),
                F.runStarted("r3", task: "translate"),
                F.usage(cost: Money(nanos: 500), run: "r3", task: "translate"),
                F.runCompleted("r3", .accepted)
            )
            .state()
        #expect(state.tasks["summarize"] == .init(costNanos: 3_001, runs: 2, accepted: true))
        #expect(state.tasks["translate"]?.costNanos == 500)
        #expect(state.acceptedTasks == 2)
        // (3001 + 500) / 2 = 1750.5 -> 1750 (half-even).
        #expect(state.costPerAcceptedTask == Money(nanos: 1_750))
        #expect(state.openRuns.isEmpty)
    }

    @Test func aTaskNeverAccepted_isNotInTheAverage() async throws {
        let state = try await ProjectionScenario(CostPerAcceptedTask())
            .given(
                F.runStarted("r1", task: "a"), F.usage(cost: Money(nanos: 10), run: "r1", task: "a"),
                F.runCompleted("r1", .abandoned),
                F.runStarted("r2", task: "b"), F.usage(cost: Money(nanos: 7), run: "r2", task: "b"),
                F.runCompleted("r2", .accepted))
            .state()
        #expect(state.costPerAcceptedTask == Money(nanos: 7))
        #expect(state.tasks["a"]?.accepted == false)
    }

    @Test func noAcceptedTask_hasNoAverage() async throws {
        let state = try await ProjectionScenario(CostPerAcceptedTask())
            .given(F.usage(cost: Money(nanos: 10), task: "a"))
            .state()
        #expect(state.costPerAcceptedTask == nil)
        #expect(state.tasks["a"]?.costNanos == 10)
    }

    @Test func aRandomWorkload_isDeterministicThroughTheEngine() async throws {
        var workload = ProjectionWorkload()
        let outcome = try await ProjectionScenario(CostPerAcceptedTask(), snapshotEvery: 25)
            .given(workload.next(400))
            .run()
        #expect(outcome.state.acceptedTasks > 0)
        #expect(outcome.state.unreadableEvents == 0)
    }
}

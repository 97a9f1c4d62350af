import LedgerActors
public import LedgerCore
import LedgerDetectors
import LedgerDomain
import LedgerPricing
import SpendLedger

/// What the simulated day did.
public struct SimulationTally: Sendable {
    public var runsStarted = 0
    public var modelCalls = 0
    public var toolCalls = 0
    public var spent = Money.zero
    /// Authorizations refused, by what refused them (`budget:acme-daily`, `run:halted`, ...).
    public var denials: [String: Int] = [:]
    /// The runaway run: when it was stopped, what it spent, and what its remaining calls would
    /// have cost had nothing stopped it.
    public var runawayStoppedAt: LedgerTime?
    public var runawayStopReason: String?
    public var runawaySpent = Money.zero
    public var runawayAvoided = Money.zero
}

/// Drives a ``FleetPlan`` through the in-process API in simulated time.
///
/// Time advances in ticks of five simulated minutes. Within a tick every run that has something
/// to do does it concurrently (as a fleet would: that is what makes the ledger group-commit), each
/// run's own steps in order, each charge stamped with the instant its call was made (`occurredAt`);
/// the ledger's own clock (`recordedAt`) moves with the latest call of the tick, so a charge is
/// recorded at most a tick after it occurred. Durable appends are bound by fsync latency, so the
/// tick sets how long the day takes: about 10 s at five minutes, about 50 s at one. After each model call the run waits until the detectors have seen
/// it, so a policy that halts a run takes effect before the run's next call, as it would live,
/// and the same seed halts the runaway at the same call every time.
struct FleetSimulator {
    let plan: FleetPlan
    let ledger: Ledger
    let clock: SimulatedClock
    let detectors: DetectorService
    let tickNanoseconds: Int64 = 300_000_000_000

    private enum Action: Sendable {
        case start
        case step(Int)
        case complete
    }

    /// One run's share of a tick.
    private struct Work: Sendable {
        var run: Int
        var actions: [(at: LedgerTime, action: Action)]
    }

    /// What a run's share of a tick did.
    private struct WorkResult: Sendable {
        var run: Int
        var tally = SimulationTally()
        /// Set when an authorization was refused: the run stops there.
        var stopped: (at: LedgerTime, by: String, reason: String)?
    }

    func run(progress: (String) -> Void) async throws -> SimulationTally {
        var timeline: [(at: LedgerTime, run: Int, order: Int, action: Action)] = []
        for (index, run) in plan.runs.enumerated() {
            timeline.append((run.start, index, 0, .start))
            for (stepIndex, step) in run.steps.enumerated() { timeline.append((step.at, index, stepIndex + 1, .step(stepIndex))) }
            let last = run.steps.last?.at ?? run.start
            timeline.append((LedgerTime(nanosecondsSinceEpoch: last.nanosecondsSinceEpoch + 1_000_000_000), index, Int.max, .complete))
        }
        timeline.sort { ($0.at, $0.run, $0.order) < ($1.at, $1.run, $1.order) }

        var tally = SimulationTally()
        var stopped = [Bool](repeating: false, count: plan.runs.count)
        var started = [Bool](repeating: false, count: plan.runs.count)
        var cursor = 0
        var nextReport = plan.day.nanosecondsSinceEpoch + 6 * 3_600_000_000_000
        while cursor < timeline.count {
            let tick = timeline[cursor].at.nanosecondsSinceEpoch / tickNanoseconds
            var end = cursor
            while end < timeline.count, timeline[end].at.nanosecondsSinceEpoch / tickNanoseconds == tick { end += 1 }
            let tickEnd = LedgerTime(nanosecondsSinceEpoch: (tick + 1) * tickNanoseconds - 1)
            while tickEnd.nanosecondsSinceEpoch >= nextReport {
                progress(progressLine(at: LedgerTime(nanosecondsSinceEpoch: nextReport), tally: tally))
                nextReport += 6 * 3_600_000_000_000
            }

            // Group the tick's actions by run, skipping runs that were stopped. Runs started by
            // another run go in a second wave, after their parents exist.
            var byRun: [Int: [(LedgerTime, Action)]] = [:]
            var order: [Int] = []
            for entry in timeline[cursor..<end] where !stopped[entry.run] {
                if byRun[entry.run] == nil { order.append(entry.run) }
                byRun[entry.run, default: []].append((entry.at, entry.action))
            }
            cursor = end
            let first = order.filter { plan.runs[$0].spec.parentRun == nil || started[$0] }
            let second = order.filter { !first.contains($0) }
            var appended = false
            for wave in [first, second] where !wave.isEmpty {
                let results = try await withThrowingTaskGroup(of: WorkResult.self) { group in
                    for run in wave {
                        let work = Work(run: run, actions: byRun[run]!)
                        group.addTask { try await perform(work) }
                    }
                    var results: [WorkResult] = []
                    for try await result in group { results.append(result) }
                    return results
                }
                for result in results {
                    appended = true
                    started[result.run] = true
                    merge(result.tally, into: &tally)
                    if let stop = result.stopped {
                        stopped[result.run] = true
                        if plan.runs[result.run].runaway {
                            tally.runawayStoppedAt = stop.at
                            tally.runawayStopReason = stop.reason
                            tally.runawayAvoided = try avoidedCost(of: plan.runs[result.run], after: stop.at)
                        }
                        // The agent gives up the run it may no longer spend on.
                        clock.move(to: stop.at)
                        try await ledger.completeRun(plan.runs[result.run].spec.id, outcome: .abandoned)
                    }
                }
            }
            clock.move(to: tickEnd)
            if appended {
                try await detectors.caughtUp(through: try await ledger.store.head().seq)
            }
        }
        progress(progressLine(at: clock.now(), tally: tally))
        return tally
    }

    private func perform(_ work: Work) async throws -> WorkResult {
        let planned = plan.runs[work.run]
        var result = WorkResult(run: work.run)
        for (at, action) in work.actions {
            clock.move(to: at)
            switch action {
            case .start:
                try await ledger.startRun(planned.spec)
                result.tally.runsStarted += 1
            case .complete:
                try await ledger.completeRun(planned.spec.id, outcome: planned.outcome)
            case .step(let index):
                switch planned.steps[index].step {
                case .model(let model, let usage, let estimate, let retry, let latency):
                    switch try await ledger.authorize(run: planned.spec.id, model: model, estimate: estimate) {
                    case .granted(let grant):
                        let recorded = try await ledger.settle(
                            grant, model: model, usage: usage, retry: retry, latencyMs: latency, occurredAt: at)
                        // As live: the detectors see this call before the run makes its next one.
                        try await detectors.caughtUp(through: try await ledger.store.head().seq)
                        result.tally.modelCalls += 1
                        result.tally.spent = result.tally.spent + recorded.cost
                        if planned.runaway { result.tally.runawaySpent += recorded.cost }
                    case .denied(let denial):
                        result.tally.denials[denial.deniedBy, default: 0] += 1
                        result.stopped = (at, denial.deniedBy, denial.reason)
                        return result
                    }
                case .tool(let cost):
                    switch try await ledger.authorize(run: planned.spec.id, estimate: cost) {
                    case .granted(let grant):
                        let recorded = try await ledger.settle(grant, cost: cost, kind: .tool, occurredAt: at)
                        result.tally.toolCalls += 1
                        result.tally.spent = result.tally.spent + recorded.cost
                    case .denied(let denial):
                        result.tally.denials[denial.deniedBy, default: 0] += 1
                        result.stopped = (at, denial.deniedBy, denial.reason)
                        return result
                    }
                }
            }
        }
        return result
    }

    private func merge(_ part: SimulationTally, into tally: inout SimulationTally) {
        tally.runsStarted += part.runsStarted
        tally.modelCalls += part.modelCalls
        tally.toolCalls += part.toolCalls
        tally.spent = tally.spent + part.spent
        tally.runawaySpent = tally.runawaySpent + part.runawaySpent
        for (by, count) in part.denials { tally.denials[by, default: 0] += count }
    }

    /// What the runaway run's calls after `instant` would have cost at the catalog's prices.
    private func avoidedCost(of run: PlannedRun, after instant: LedgerTime) throws -> Money {
        var total = Money.zero
        for (at, step) in run.steps where at >= instant {
            if case .model(let model, let usage, _, _, _) = step {
                total = total + (try ledger.catalog.price(usage, model: model, at: at)).cost
            }
        }
        return total
    }

    private func progressLine(at instant: LedgerTime, tally: SimulationTally) -> String {
        let clockText = String(instant.rfc3339.dropFirst(11).prefix(5))
        return "  \(clockText)  \(tally.runsStarted) runs, \(tally.modelCalls) model calls, \(tally.toolCalls) tool calls, "
            + "\(usd(tally.spent)) spent"
    }
}

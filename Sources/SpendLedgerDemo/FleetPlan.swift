import Foundation
import LedgerActors
import LedgerCore
import LedgerDomain
import LedgerPricing

/// One agent of the simulated fleet: who it works for, which model it calls, how busy it is.
struct AgentProfile: Sendable {
    var name: String
    var client: String
    var project: String
    var model: String
    var sizes: CallSizes.Family
    /// Runs per hour at the busiest hour of the day.
    var peakRunsPerHour: Double
    var stepsPerRun: ClosedRange<Int>
    /// Chance that a model call is followed by a paid tool call (search, code execution).
    var toolCallChance: Double
    /// Share of the prompt served from the provider's cache.
    var cachedShare: Double
    /// Sub-agent runs each run starts (0 for most agents).
    var subAgents: ClosedRange<Int> = 0...0
    var subAgentProfile: String? = nil
    /// A batch of runs started together at this hour (an ordinary burst), if any.
    var batchHour: Int? = nil
    var batchRuns: Int = 0
}

/// What one planned step of a run does.
enum PlannedStep: Sendable {
    /// A model call: what it will use, what the agent estimates before the call, whether it is a
    /// retry of the previous call.
    case model(model: String, usage: TokenCounts, estimate: TokenCounts, retry: Int32, latencyMs: Int32)
    /// A paid tool call with a fixed price.
    case tool(cost: Money)
}

/// A run the simulator will start, with every step it would take if nothing stops it.
struct PlannedRun: Sendable {
    var spec: RunSpec
    var start: LedgerTime
    var steps: [(at: LedgerTime, step: PlannedStep)]
    var outcome: RunOutcome
    /// True for the run with the retry bug.
    var runaway = false
}

/// The fleet's day: agents, budgets and every run, all following from the seed.
struct FleetPlan: Sendable {
    var day: LedgerTime
    var agents: [AgentProfile]
    var budgets: [(id: String, definition: BudgetDefinition)]
    var runs: [PlannedRun]
    /// When the retry bug starts, and when (without SpendLedger) someone would have noticed.
    var bugStart: LedgerTime
    var bugNoticedByHuman: LedgerTime
    var runawayAgent: String

    static let models = ["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5", "gemini/gemini-2.5-flash"]

    static let fleet: [AgentProfile] = [
        // acme: customer support and documentation.
        AgentProfile(
            name: "support-triage", client: "acme", project: "support", model: "gpt-4o-mini", sizes: .conversation,
            peakRunsPerHour: 9, stepsPerRun: 2...4, toolCallChance: 0.1, cachedShare: 0.3),
        AgentProfile(
            name: "support-reply", client: "acme", project: "support", model: "claude-sonnet-4-5", sizes: .conversation,
            peakRunsPerHour: 6, stepsPerRun: 3...6, toolCallChance: 0.2, cachedShare: 0.5),
        AgentProfile(
            name: "kb-search", client: "acme", project: "support", model: "gpt-4o-mini", sizes: .conversation,
            peakRunsPerHour: 8, stepsPerRun: 1...3, toolCallChance: 0.6, cachedShare: 0.0),
        AgentProfile(
            name: "docs-writer", client: "acme", project: "docs", model: "gpt-4o", sizes: .conversation,
            peakRunsPerHour: 2, stepsPerRun: 4...9, toolCallChance: 0.1, cachedShare: 0.2),
        // globex: billing and analytics.
        AgentProfile(
            name: "invoice-reconciler", client: "globex", project: "billing", model: "claude-sonnet-4-5", sizes: .code,
            peakRunsPerHour: 3, stepsPerRun: 3...6, toolCallChance: 0.3, cachedShare: 0.4),
        AgentProfile(
            name: "billing-qa", client: "globex", project: "billing", model: "gpt-4o-mini", sizes: .code,
            peakRunsPerHour: 5, stepsPerRun: 2...4, toolCallChance: 0.1, cachedShare: 0.2, batchHour: 14,
            batchRuns: 10),
        AgentProfile(
            name: "analytics-sql", client: "globex", project: "analytics", model: "gpt-4o", sizes: .code,
            peakRunsPerHour: 4, stepsPerRun: 2...5, toolCallChance: 0.5, cachedShare: 0.3),
        AgentProfile(
            name: "report-builder", client: "globex", project: "analytics", model: "gemini/gemini-2.5-flash",
            sizes: .longContext, peakRunsPerHour: 2, stepsPerRun: 2...4, toolCallChance: 0.1, cachedShare: 0.3,
            batchHour: 6, batchRuns: 6),
        // initech: platform engineering and research.
        AgentProfile(
            name: "code-reviewer", client: "initech", project: "platform", model: "claude-sonnet-4-5", sizes: .code,
            peakRunsPerHour: 4, stepsPerRun: 2...5, toolCallChance: 0.2, cachedShare: 0.5),
        AgentProfile(
            name: "test-writer", client: "initech", project: "platform", model: "gpt-4o", sizes: .code,
            peakRunsPerHour: 3, stepsPerRun: 3...6, toolCallChance: 0.4, cachedShare: 0.3),
        AgentProfile(
            name: "research-scout", client: "initech", project: "research", model: "gemini/gemini-2.5-flash",
            sizes: .longContext, peakRunsPerHour: 1.5, stepsPerRun: 2...4, toolCallChance: 0.5, cachedShare: 0.2,
            subAgents: 1...3, subAgentProfile: "research-summarizer"),
        AgentProfile(
            name: "research-summarizer", client: "initech", project: "research", model: "gpt-4o-mini",
            sizes: .conversation, peakRunsPerHour: 0, stepsPerRun: 1...3, toolCallChance: 0.0, cachedShare: 0.0),
        AgentProfile(
            name: "incident-bot", client: "initech", project: "platform", model: "gpt-4o-mini", sizes: .conversation,
            peakRunsPerHour: 2, stepsPerRun: 1...3, toolCallChance: 0.3, cachedShare: 0.0),
        AgentProfile(
            name: "release-notes", client: "initech", project: "platform", model: "gpt-4o", sizes: .conversation,
            peakRunsPerHour: 1, stepsPerRun: 3...5, toolCallChance: 0.0, cachedShare: 0.1),
    ]

    /// Share of the peak rate at each hour of the day (UTC): quiet nights, busy office hours.
    static let hourShape: [Double] = [
        0.10, 0.08, 0.08, 0.08, 0.10, 0.15, 0.30, 0.55, 0.85, 1.0, 1.0, 1.0,
        0.90, 1.0, 1.0, 1.0, 0.95, 0.85, 0.60, 0.45, 0.35, 0.25, 0.18, 0.12,
    ]

    /// The day's plan. `hours` limits the simulated span (the full demo uses 24).
    static func make(seed: UInt64, day: LedgerTime, hours: Int, sizes: CallSizes) -> FleetPlan {
        let random = DemoRandom(seed: seed)
        let hour: Int64 = 3_600_000_000_000
        let end = LedgerTime(nanosecondsSinceEpoch: day.nanosecondsSinceEpoch + Int64(hours) * hour)
        var runs: [PlannedRun] = []
        let byName = Dictionary(uniqueKeysWithValues: fleet.map { ($0.name, $0) })
        for agent in fleet where agent.peakRunsPerHour > 0 {
            var generator = random.derived(agent.name)
            var starts: [LedgerTime] = []
            // Poisson arrivals whose rate follows the hour shape (thinning).
            var t = Double(day.nanosecondsSinceEpoch)
            while true {
                t += generator.exponential(mean: 3.6e12 / agent.peakRunsPerHour)
                guard t < Double(end.nanosecondsSinceEpoch) else { break }
                let hourOfDay = Int((Int64(t) - day.nanosecondsSinceEpoch) / hour) % 24
                if generator.chance(hourShape[hourOfDay]) { starts.append(LedgerTime(nanosecondsSinceEpoch: Int64(t))) }
            }
            if let batchHour = agent.batchHour, batchHour < hours {
                for index in 0..<agent.batchRuns {
                    let offset = Int64(batchHour) * hour + Int64(index) * 20_000_000_000
                    starts.append(LedgerTime(nanosecondsSinceEpoch: day.nanosecondsSinceEpoch + offset))
                }
            }
            for (index, start) in starts.sorted().enumerated() {
                let id = "\(agent.name)-\(String(format: "%04d", index + 1))"
                let run = plannedRun(id: id, agent: agent, start: start, parent: nil, using: &generator, sizes: sizes)
                runs.append(run)
                guard let subName = agent.subAgentProfile, let sub = byName[subName] else { continue }
                for child in 0..<Int.random(in: agent.subAgents, using: &generator) {
                    let childStart = LedgerTime(
                        nanosecondsSinceEpoch: start.nanosecondsSinceEpoch + Int64(child + 1) * 4_000_000_000)
                    let childRun = plannedRun(
                        id: "\(id).\(child + 1)", agent: sub, start: childStart, parent: run.spec,
                        using: &generator, sizes: sizes)
                    runs.append(childRun)
                }
            }
        }
        // The bug: at 01:07 the invoice reconciler's tool keeps failing in a way the agent reads as
        // "try again", so it re-sends the same 6k-token prompt every two seconds. Nobody would look
        // before the 07:30 stand-up.
        let runaway = "invoice-reconciler"
        let bugStart = LedgerTime(nanosecondsSinceEpoch: day.nanosecondsSinceEpoch + hour + 7 * 60_000_000_000)
        let noticed = LedgerTime(nanosecondsSinceEpoch: day.nanosecondsSinceEpoch + 7 * hour + 30 * 60_000_000_000)
        if bugStart < end, let agent = byName[runaway] {
            var generator = random.derived("runaway")
            let base = sizes.draw(.code, using: &generator)
            let prompt = max(base.input, 5_800)
            var steps: [(LedgerTime, PlannedStep)] = []
            var at = bugStart.nanosecondsSinceEpoch
            while at < min(noticed, end).nanosecondsSinceEpoch {
                // Near-identical calls: the same prompt give or take a few tokens.
                let input = prompt + Int64.random(in: -8...8, using: &generator)
                let output = Int64.random(in: 40...60, using: &generator)
                let usage = TokenCounts(input: input, output: output)
                steps.append(
                    (
                        LedgerTime(nanosecondsSinceEpoch: at),
                        .model(
                            model: agent.model, usage: usage, estimate: TokenCounts(input: input, output: 512), retry: 0,
                            latencyMs: Int32.random(in: 1_400...2_200, using: &generator))
                    ))
                at += 2_000_000_000
            }
            let spec = RunSpec(
                id: "invoice-reconciler-nightly", agent: runaway, client: agent.client, project: agent.project,
                task: "reconcile-2026-11", owner: "billing-team", environment: "production", modelRoute: agent.model,
                expectedOutcome: "all invoices matched", tags: ["schedule": "nightly"])
            runs.append(PlannedRun(spec: spec, start: bugStart, steps: steps, outcome: .abandoned, runaway: true))
        }
        runs.sort { ($0.start, $0.spec.id) < ($1.start, $1.spec.id) }
        return FleetPlan(
            day: day, agents: fleet, budgets: budgets(), runs: runs, bugStart: bugStart, bugNoticedByHuman: noticed,
            runawayAgent: runaway)
    }

    private static func plannedRun(
        id: String, agent: AgentProfile, start: LedgerTime, parent: RunSpec?, using generator: inout DemoRandom,
        sizes: CallSizes
    ) -> PlannedRun {
        let task = parent?.task ?? "\(agent.project)-task-\(Int.random(in: 1...400, using: &generator))"
        let spec = RunSpec(
            id: id, agent: agent.name, client: agent.client, project: agent.project, task: task,
            owner: agent.project + "-team", environment: "production",
            caps: RunCaps(maxCost: Money(nanos: 2_000_000_000), maxRetries: 5, maxToolCalls: 20),
            modelRoute: agent.model, expectedOutcome: "task completed", parentRun: parent?.id)
        var steps: [(LedgerTime, PlannedStep)] = []
        var at = start.nanosecondsSinceEpoch + Int64.random(in: 500_000_000...3_000_000_000, using: &generator)
        let count = Int.random(in: agent.stepsPerRun, using: &generator)
        for _ in 0..<count {
            let size = sizes.draw(agent.sizes, using: &generator)
            let cached = Int64(Double(size.input) * agent.cachedShare)
            let usage = TokenCounts(input: size.input - cached, output: size.output, cached: cached)
            let estimate = TokenCounts(input: size.input - cached, output: max(256, size.output * 2), cached: cached)
            let latency = Int32(clamping: 300 + size.output * 12)
            steps.append(
                (LedgerTime(nanosecondsSinceEpoch: at), .model(model: agent.model, usage: usage, estimate: estimate, retry: 0, latencyMs: latency)))
            at += Int64(latency) * 1_000_000
            // An ordinary transient failure: the call is retried once.
            if generator.chance(0.03) {
                at += 2_000_000_000
                steps.append(
                    (LedgerTime(nanosecondsSinceEpoch: at), .model(model: agent.model, usage: usage, estimate: estimate, retry: 1, latencyMs: latency)))
                at += Int64(latency) * 1_000_000
            }
            if generator.chance(agent.toolCallChance) {
                let cost = Money(nanos: Int64.random(in: 500_000...5_000_000, using: &generator))
                steps.append((LedgerTime(nanosecondsSinceEpoch: at), .tool(cost: cost)))
                at += Int64.random(in: 1_000_000_000...6_000_000_000, using: &generator)
            }
            at += Int64.random(in: 2_000_000_000...25_000_000_000, using: &generator)
        }
        let draw = Double.random(in: 0..<1, using: &generator)
        let outcome: RunOutcome = draw < 0.8 ? .accepted : draw < 0.95 ? .rejected : .abandoned
        return PlannedRun(spec: spec, start: start, steps: steps, outcome: outcome)
    }

    private static func cents(_ amount: Int64) -> Money { Money(nanos: amount * 10_000_000) }

    /// Daily budgets per client (hard) and for the whole organization (soft), with the default
    /// 50/75/90/100 % thresholds.
    static func budgets() -> [(id: String, definition: BudgetDefinition)] {
        [
            ("org-daily", BudgetDefinition(scope: .org, period: .day, limit: cents(1_000), hard: false)),
            ("acme-daily", BudgetDefinition(scope: .client("acme"), period: .day, limit: cents(400))),
            ("globex-daily", BudgetDefinition(scope: .client("globex"), period: .day, limit: cents(350))),
            ("initech-daily", BudgetDefinition(scope: .client("initech"), period: .day, limit: cents(240))),
            ("sonnet-daily", BudgetDefinition(scope: .model("claude-sonnet-4-5"), period: .day, limit: cents(300), hard: false)),
        ]
    }
}

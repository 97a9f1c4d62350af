import Foundation
import LedgerCore
import LedgerDomain

/// A seeded, synthetic fleet of agents: realistic call sizes (log-normal, shaped like the Azure
/// LLM inference traces: median ~1,000 prompt and ~130 completion tokens, wide spread), runs of
/// 3–30 calls with tool calls, occasional sub-agent runs and retries, a smooth day/night rhythm,
/// and ordinary bursts (2–3× for 5–20 minutes, 4× for a minute or two). Optionally one agent
/// falls into a loop of a given shape at a given minute.
///
/// The same seed gives the same log, event for event.
struct SyntheticFleet {
    /// The ways an agent runs away, each as an extra worker of the looping agent.
    enum LoopShape: String, CaseIterable, Sendable {
        /// The same call sent again every 2 seconds (30 a minute).
        case fastRetry
        /// An expensive model called 4–6 times a minute with near-identical prompts.
        case slowExpensive
        /// ~8 calls a minute whose context grows 2–3 % each call.
        case growingContext
        /// A model call and a tool call, over and over (~12 charges a minute).
        case toolCall
        /// A run that spawns a sub-agent run every ~20 s, each making three similar calls.
        case fanOut
    }

    struct Loop {
        var shape: LoopShape
        var agentIndex: Int
        /// Minutes after the start of the day.
        var startMinute: Double
    }

    struct Model {
        var name: String
        var vendor: String
        /// Nano-dollars per token.
        var input: Int64
        var output: Int64
    }

    static let models = [
        Model(name: "gpt-4o-mini", vendor: "openai", input: 150, output: 600),
        Model(name: "gpt-4o", vendor: "openai", input: 2_500, output: 10_000),
        Model(name: "claude-sonnet-4-5", vendor: "anthropic", input: 3_000, output: 15_000),
        Model(name: "claude-opus-4-1", vendor: "anthropic", input: 15_000, output: 75_000),
    ]
    static let toolCost: Int64 = 8_000_000  // $0.008 a search

    struct Agent {
        var name: String
        var model: Model
        var inputMedian: Double
        var outputMedian: Double
        var sigma: Double
        var workers: Int
        /// Mean seconds between two calls of a run at full daytime pace.
        var gapSeconds: Double
        var toolProbability: Double
        /// Ordinary bursts: [start, end) in seconds since the day's start, and the pace multiplier.
        var bursts: [(start: Double, end: Double, multiplier: Double)]
    }

    let seed: UInt64
    let minutes: Double
    let agentCount: Int
    let loop: Loop?

    init(seed: UInt64, minutes: Double, agents: Int = 12, loop: Loop? = nil) {
        self.seed = seed
        self.minutes = minutes
        self.agentCount = agents
        self.loop = loop
    }

    func agentName(_ index: Int) -> String { "agent-\(index + 1)" }

    /// The whole log, in `seq` order (ordered by occurred time).
    func events() -> [RecordedEvent] {
        var random = SeededRandom(seed: seed)
        let agents = (0..<agentCount).map { makeAgent($0, &random) }
        var timeline = Timeline()
        for (index, agent) in agents.enumerated() {
            for worker in 0..<agent.workers {
                var workerRandom = SeededRandom(seed: seed &* 1_000_003 &+ UInt64(index * 16 + worker))
                simulateWorker(agent, worker: worker, into: &timeline, &workerRandom)
            }
        }
        if let loop {
            var loopRandom = SeededRandom(seed: seed &* 7_919 &+ 17)
            simulateLoop(loop, agent: agents[loop.agentIndex], into: &timeline, &loopRandom)
        }
        return timeline.log()
    }

    private func makeAgent(_ index: Int, _ random: inout SeededRandom) -> Agent {
        // Mostly cheap models; the premium ones at a slower pace.
        let model = Self.models[index % 7 == 6 ? 3 : index % 3]
        let premium = model.input >= 15_000
        var bursts: [(Double, Double, Double)] = []
        let seconds = minutes * 60
        for _ in 0..<max(1, Int((Double(random.int(3...6)) * minutes / 1_440).rounded(.up))) {
            let start = random.uniform(0...seconds)
            bursts.append((start, start + random.uniform(300...1_200), random.uniform(2...3)))
        }
        for _ in 0..<max(1, Int((2 * minutes / 1_440).rounded(.up))) {
            let start = random.uniform(0...seconds)
            bursts.append((start, start + random.uniform(60...120), 4))
        }
        return Agent(
            name: agentName(index), model: model, inputMedian: random.uniform(500...3_000),
            outputMedian: random.uniform(60...300), sigma: random.uniform(0.8...1.1), workers: premium ? 1 : random.int(1...2),
            gapSeconds: premium ? random.uniform(30...50) : random.uniform(12...25), toolProbability: random.uniform(0.05...0.2),
            bursts: bursts)
    }

    /// The pace at `second` of the day: a smooth day/night rhythm (35 % at 03:00, 100 % at 15:00)
    /// times any ordinary burst.
    private func pace(_ agent: Agent, at second: Double) -> Double {
        let hour = (second / 3_600).truncatingRemainder(dividingBy: 24)
        var pace = 0.35 + 0.65 * (0.5 - 0.5 * cos(2 * Double.pi * (hour - 3) / 24))
        for burst in agent.bursts where second >= burst.start && second < burst.end { pace *= burst.multiplier }
        return pace
    }

    private func simulateWorker(_ agent: Agent, worker: Int, into timeline: inout Timeline, _ random: inout SeededRandom) {
        let end = minutes * 60
        var t = random.uniform(0...60)
        var runs = 0
        while t < end {
            runs += 1
            let run = "\(agent.name)-w\(worker)-r\(runs)"
            let task = "task-\(runs % 7)"
            timeline.start(run, agent: agent.name, at: t)
            for _ in 0..<random.int(3...30) {
                t += random.exponential(mean: agent.gapSeconds / pace(agent, at: t))
                if random.chance(agent.toolProbability) {
                    timeline.tool(agent: agent.name, run: run, task: task, at: t)
                } else {
                    timeline.call(agent: agent, model: agent.model, run: run, task: task, at: t, random: &random)
                }
                if random.chance(0.02) {  // a sub-agent run
                    var child = 0
                    for _ in 0..<random.int(1...3) {
                        child += 1
                        let sub = "\(run)-s\(child)"
                        t += 1
                        timeline.start(sub, agent: agent.name, at: t, parent: run)
                        for _ in 0..<random.int(2...5) {
                            t += random.exponential(mean: agent.gapSeconds / pace(agent, at: t))
                            timeline.call(agent: agent, model: agent.model, run: sub, task: task, at: t, random: &random)
                        }
                        t += 1
                        timeline.complete(sub, agent: agent.name, at: t)
                    }
                }
            }
            t += 1
            timeline.complete(run, agent: agent.name, at: t)
            t += random.exponential(mean: 90 / pace(agent, at: t))
        }
    }

    private func simulateLoop(_ loop: Loop, agent: Agent, into timeline: inout Timeline, _ random: inout SeededRandom) {
        let end = minutes * 60
        var t = loop.startMinute * 60
        let run = "loop-\(agent.name)"
        timeline.start(run, agent: agent.name, at: t)
        var n = 0.0
        func jitter(_ value: Double, _ fraction: Double) -> Int64 {
            Int64((value * (1 + random.uniform(-fraction...fraction))).rounded())
        }
        while t < end {
            switch loop.shape {
            case .fastRetry:
                timeline.usage(agent: agent.name, run: run, task: "stuck", model: agent.model, input: 3_000, output: 150, at: t)
                t += random.uniform(1.8...2.2)
            case .slowExpensive:
                let opus = Self.models[3]
                timeline.usage(
                    agent: agent.name, run: run, task: "stuck", model: opus, input: jitter(12_000, 0.005),
                    output: jitter(700, 0.03), at: t)
                t += random.uniform(10...15)
            case .growingContext:
                timeline.usage(
                    agent: agent.name, run: run, task: "stuck", model: agent.model,
                    input: jitter(4_000 * pow(1.025, n), 0.003), output: jitter(250, 0.05), at: t)
                t += random.uniform(6...8)
            case .toolCall:
                timeline.usage(
                    agent: agent.name, run: run, task: "stuck", model: agent.model, input: jitter(2_500 * pow(1.01, n), 0.002),
                    output: jitter(120, 0.05), at: t)
                t += random.uniform(2...3)
                timeline.tool(agent: agent.name, run: run, task: "stuck", at: t)
                t += random.uniform(2...3)
            case .fanOut:
                let child = "\(run)-c\(Int(n) + 1)"
                timeline.start(child, agent: agent.name, at: t, parent: run)
                for _ in 0..<3 {
                    t += random.uniform(2...4)
                    timeline.usage(
                        agent: agent.name, run: child, task: "stuck", model: agent.model, input: jitter(2_500, 0.02),
                        output: jitter(400, 0.05), at: t)
                }
                t += 1
                timeline.complete(child, agent: agent.name, at: t)
                t += random.uniform(12...18)
            }
            n += 1
        }
    }
}

/// Events collected out of order by the simulated workers, then put in time order as a log.
private struct Timeline {
    private enum Item {
        case start(run: String, agent: String, parent: String?)
        case usage(
            agent: String, run: String, task: String, model: String, vendor: String, kind: ChargeKind, cost: Int64, input: Int64,
            output: Int64, retry: Int32)
        case complete(run: String, agent: String)
    }

    private var items: [(time: Int64, order: Int, item: Item)] = []

    private static func nanoseconds(_ seconds: Double) -> Int64 { Int64((seconds * 1e9).rounded()) }

    mutating func start(_ run: String, agent: String, at time: Double, parent: String? = nil) {
        items.append((Self.nanoseconds(time), items.count, .start(run: run, agent: agent, parent: parent)))
    }

    mutating func complete(_ run: String, agent: String, at time: Double) {
        items.append((Self.nanoseconds(time), items.count, .complete(run: run, agent: agent)))
    }

    mutating func call(
        agent: SyntheticFleet.Agent, model: SyntheticFleet.Model, run: String, task: String, at time: Double,
        random: inout SeededRandom
    ) {
        let input = Int64(random.logNormal(median: agent.inputMedian, sigma: agent.sigma, range: 20...60_000).rounded())
        let output = Int64(random.logNormal(median: agent.outputMedian, sigma: agent.sigma * 0.8, range: 3...4_000).rounded())
        usage(
            agent: agent.name, run: run, task: task, model: model, input: input, output: output, at: time,
            retry: random.chance(0.01) ? 1 : 0)
    }

    mutating func usage(
        agent: String, run: String, task: String, model: SyntheticFleet.Model, input: Int64, output: Int64, at time: Double,
        retry: Int32 = 0
    ) {
        let cost = input * model.input + output * model.output
        items.append(
            (
                Self.nanoseconds(time), items.count,
                .usage(
                    agent: agent, run: run, task: task, model: model.name, vendor: model.vendor, kind: .llm, cost: cost,
                    input: input, output: output, retry: retry)
            ))
    }

    mutating func tool(agent: String, run: String, task: String, at time: Double) {
        items.append(
            (
                Self.nanoseconds(time), items.count,
                .usage(
                    agent: agent, run: run, task: task, model: "web_search", vendor: "tavily", kind: .tool,
                    cost: SyntheticFleet.toolCost, input: 0, output: 0, retry: 0)
            ))
    }

    func log() -> [RecordedEvent] {
        var log = EventLog()
        for entry in items.sorted(by: { $0.time != $1.time ? $0.time < $1.time : $0.order < $1.order }) {
            let at = LedgerTime(nanosecondsSinceEpoch: dayStart.nanosecondsSinceEpoch + entry.time)
            switch entry.item {
            case .start(let run, let agent, let parent):
                log.startRun(run, agent: agent, at: at, parent: parent)
            case .usage(let agent, let run, let task, let model, let vendor, let kind, let cost, let input, let output, let retry):
                log.usage(
                    agent: agent, run: run, at: at, cost: cost, model: model, vendor: vendor, input: input, output: output,
                    retry: retry, task: task, kind: kind)
            case .complete(let run, let agent):
                log.completeRun(run, agent: agent, at: at)
            }
        }
        return log.events
    }
}

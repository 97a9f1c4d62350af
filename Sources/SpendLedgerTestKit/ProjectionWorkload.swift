public import LedgerCore
import LedgerDomain

/// A deterministic generator of realistic spend logs for projection tests and benchmarks:
/// charges over many agents, models, clients, projects, tasks and vendors (some dimensions
/// missing), late events (occurredAt well before they are recorded), runs that start and end,
/// budgets with reservations and releases, threshold crossings and corrections.
///
/// Guarantees: the same options (seed included) give the same events, ids included, on every
/// run and machine; every event is valid for any ``EventStore``.
public struct ProjectionWorkload: Sendable {
    public struct Options: Sendable, Hashable {
        public var seed: UInt64 = 42
        public var agents = 7
        public var models = 5
        public var clients = 4
        public var projects = 6
        public var tasks = 50
        public var vendors = 3
        /// Per mille of charges that arrive late (occurredAt up to `lateByMax` before their turn).
        public var latePerMille = 150
        public var lateByMaxNanos: Int64 = 3 * 3_600_000_000_000
        /// Per mille of charges that lack a given dimension (each dimension drawn separately).
        public var missingPerMille = 60
        /// Add runs, budgets, reservations, thresholds and corrections besides the charges.
        public var lifecycle = true
        /// Spacing of the charges' occurredAt.
        public var stepNanos: Int64 = 20_000_000_000
        public var start = LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000)

        public init() {}
    }

    public let options: Options
    private var random: WorkloadRandom
    private var index = 0
    private var openReservation: (EventID, Money)?
    private let names: Names

    private struct Names: Sendable {
        var agents: [String]
        var models: [String]
        var clients: [String]
        var projects: [String]
        var tasks: [String]
        var vendors: [String]
    }

    public init(_ options: Options = Options()) {
        self.options = options
        random = WorkloadRandom(seed: options.seed)
        names = Names(
            agents: (0..<options.agents).map { "agent-\($0)" }, models: (0..<options.models).map { "model-\($0)" },
            clients: (0..<options.clients).map { "client-\($0)" }, projects: (0..<options.projects).map { "project-\($0)" },
            tasks: (0..<options.tasks).map { "task-\($0)" }, vendors: (0..<options.vendors).map { "vendor-\($0)" })
    }

    /// The budgets the lifecycle workload defines (before any charge).
    public func budgets() -> [ProposedEvent] {
        let start = options.start
        return [
            ProjectionFixtures.budget("org", scope: .org, limit: Money(nanos: 5_000_000_000_000), occurredAt: start),
            ProjectionFixtures.budget(
                "client-0-monthly", scope: .client("client-0"), limit: Money(nanos: 900_000_000_000), period: .month,
                occurredAt: start),
            ProjectionFixtures.budget(
                "agent-1-daily", scope: .agent("agent-1"), limit: Money(nanos: 50_000_000_000), period: .day, occurredAt: start),
            ProjectionFixtures.budget(
                "model-0-weekly", scope: .model("model-0"), limit: Money(nanos: 400_000_000_000), period: .week, occurredAt: start),
            ProjectionFixtures.budget(
                "prod-tag", scope: BudgetScope(kind: .tags, tags: ["env": "prod"]), limit: Money(nanos: 700_000_000_000),
                occurredAt: start),
        ]
    }

    /// The next `count` events (charges, and with ``Options/lifecycle`` the events around them).
    public mutating func next(_ count: Int) -> [ProposedEvent] {
        var out: [ProposedEvent] = []
        out.reserveCapacity(count)
        if index == 0, options.lifecycle { out += budgets() }
        while out.count < count {
            out += step()
        }
        return Array(out.prefix(count))
    }

    private mutating func draw(_ values: [String]) -> String? {
        if Int(random.next() % 1000) < options.missingPerMille { return nil }
        return values[Int(random.next() % UInt64(values.count))]
    }

    private mutating func step() -> [ProposedEvent] {
        defer { index += 1 }
        let turn = options.start.nanosecondsSinceEpoch + Int64(index) * options.stepNanos
        var occurred = turn
        if Int(random.next() % 1000) < options.latePerMille {
            occurred -= Int64(random.next() % UInt64(options.lateByMaxNanos))
        }
        let time = LedgerTime(nanosecondsSinceEpoch: occurred)
        let runNumber = index / 8
        let run = "run-\(runNumber)"
        let agent = draw(names.agents)
        let task = names.tasks[runNumber % names.tasks.count]
        var events: [ProposedEvent] = []
        if options.lifecycle, index % 8 == 0 {
            events.append(
                ProposedEvent(
                    RunStarted(), stream: SpendStreams.run(run), occurredAt: time,
                    dimensions: Dimensions(agent: agent, task: task, run: run),
                    id: EventID.generate(at: time, using: &random)))
        }
        let input = Int64(random.next() % 4_000)
        let output = Int64(random.next() % 1_000)
        let cost = Money(nanos: input * 150 + output * 600 + Int64(random.next() % 1_000))
        let charge = ProposedEvent(
            UsageRecorded(
                cost: cost, inputTokens: input, outputTokens: output, cachedTokens: Int64(random.next() % 300),
                reasoningTokens: Int64(random.next() % 200), toolCalls: Int32(random.next() % 3),
                retry: random.next() % 10 == 0 ? Int32(1 + random.next() % 3) : 0),
            stream: SpendStreams.run(run), occurredAt: time,
            dimensions: Dimensions(
                agent: agent, client: draw(names.clients), project: draw(names.projects), task: draw([task]), run: run,
                model: draw(names.models), vendor: draw(names.vendors)),
            metadata: random.next() % 3 == 0 ? ["env": "prod"] : [:],
            id: EventID.generate(at: time, using: &random))
        if options.lifecycle, index % 5 == 0 {
            // Authorized calls: each reservation is released (settled, or expired for one in ten)
            // when the next one is made, so a few are always open and none stays open for ever.
            if let (reservation, amount) = openReservation {
                events.append(
                    ProposedEvent(
                        SpendReleased(reservation: reservation, amount: amount, reason: index % 50 == 0 ? .expired : .settled),
                        stream: SpendStreams.budget("org"), occurredAt: time, id: EventID.generate(at: time, using: &random)))
            }
            let reservation = EventID.generate(at: time, using: &random)
            let amount = cost + Money(nanos: 500)
            events.append(
                ProposedEvent(
                    SpendReserved(reservation: reservation, run: run, amount: amount, expiresAt: time),
                    stream: SpendStreams.budget("org"), occurredAt: time, id: EventID.generate(at: time, using: &random)))
            openReservation = (reservation, amount)
        }
        events.append(charge)
        if options.lifecycle, index % 37 == 0 {
            var dimensions = charge.dimensions
            dimensions.causation = charge.id
            events.append(
                ProposedEvent(
                    CorrectionRecorded(corrects: charge.id, delta: Money(nanos: -Int64(random.next() % 200)), reason: "price fix"),
                    stream: charge.stream, occurredAt: time, dimensions: dimensions, metadata: charge.metadata,
                    id: EventID.generate(at: time, using: &random)))
        }
        if options.lifecycle, index % 8 == 7 {
            let outcome: RunOutcome = random.next() % 3 == 0 ? .rejected : random.next() % 5 == 0 ? .abandoned : .accepted
            events.append(
                ProposedEvent(
                    RunCompleted(outcome: outcome), stream: SpendStreams.run(run), occurredAt: time,
                    dimensions: Dimensions(run: run), id: EventID.generate(at: time, using: &random)))
        }
        if options.lifecycle, index % 211 == 0 {
            events.append(
                ProjectionFixtures.thresholdCrossed(
                    50, budget: "org", spent: cost, limit: Money(nanos: 5_000_000_000_000),
                    periodStart: LedgerTime(nanosecondsSinceEpoch: .min), occurredAt: time))
        }
        return events
    }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64): the same seed gives
/// the same sequence everywhere.
public struct WorkloadRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

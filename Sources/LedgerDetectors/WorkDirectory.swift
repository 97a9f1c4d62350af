import LedgerCore
import LedgerDomain

/// What run-scoped detectors key on: a run, or — for charges recorded without a run — the agent.
enum WorkKey: Hashable, Sendable {
    case run(String)
    case agent(String)

    /// The run id, for an alert's `run`; nil for an agent's run-less charges.
    var run: String? {
        if case .run(let id) = self { id } else { nil }
    }
}

/// The alert kinds already raised for one piece of work (each fires once per run).
struct AlertKinds: OptionSet, Sendable {
    let rawValue: UInt8
    static let spike = AlertKinds(rawValue: 1)
    static let retryStorm = AlertKinds(rawValue: 2)
    static let loop = AlertKinds(rawValue: 4)

    init(rawValue: UInt8) { self.rawValue = rawValue }

    init?(_ kind: AlertKind) {
        switch kind {
        case .spike: self = .spike
        case .retryStorm: self = .retryStorm
        case .loop: self = .loop
        default: return nil
        }
    }
}

/// One open run (or an agent's run-less charges) as the run-scoped detectors see it.
struct WorkState: Sendable {
    var agent: String
    /// The run at the top of this run's tree of sub-agent runs (itself for a top-level run).
    var root: WorkKey
    var startedEventID: EventID?
    /// The run's own cost so far (spike).
    var cost: Int64 = 0
    var lastMinute = Minute(index: .min)
    var alerted = AlertKinds()
    var retries = RetryTracker()
    /// Near-identical call signatures of the whole tree (kept on the root only).
    var loops = LoopTracker()

    init(agent: String, root: WorkKey) {
        self.agent = agent
        self.root = root
    }
}

/// What a completed run leaves behind: its agent's median run cost learns from it.
struct CompletedRun: Sendable {
    var agent: String
    var cost: Int64
    var alerted: AlertKinds
}

/// Every open run the detectors track, with the tree of sub-agent runs.
///
/// Bounded: a completed run is forgotten at once; beyond `runsMax` runs, the least recently
/// active quarter is forgotten (ties broken by key, so eviction is deterministic).
struct WorkDirectory: Sendable {
    private var states: [WorkKey: WorkState] = [:]
    /// `run.started` event id -> run id: how a sub-agent run (whose causation is its parent's
    /// start event) finds its parent.
    private var startEvents: [EventID: String] = [:]
    private let runsMax: Int

    init(runsMax: Int) { self.runsMax = runsMax }

    var count: Int { states.count }

    mutating func runStarted(_ event: RecordedEvent) {
        guard let run = event.dimensions.run ?? runID(fromStream: event.stream) else { return }
        let key = WorkKey.run(run)
        var root = key
        if let parentStart = event.dimensions.causation, let parent = startEvents[parentStart],
            let parentState = states[.run(parent)]
        {
            root = parentState.root
        }
        var state = states[key] ?? WorkState(agent: event.dimensions.agent ?? "", root: root)
        state.root = root
        state.startedEventID = event.id
        state.lastMinute = Minute(event.occurredAt)
        states[key] = state
        startEvents[event.id] = run
        evictIfNeeded()
    }

    /// Forgets a completed run and returns what the spike detector learns from it.
    mutating func runCompleted(_ event: RecordedEvent) -> CompletedRun? {
        guard let run = event.dimensions.run ?? runID(fromStream: event.stream),
            let state = states.removeValue(forKey: .run(run))
        else { return nil }
        if let started = state.startedEventID { startEvents[started] = nil }
        return CompletedRun(agent: state.agent, cost: state.cost, alerted: state.alerted)
    }

    /// What a charge left its run at: the root of its work (where loops are tracked), the run's
    /// cost so far and whether a spike was already raised for it.
    struct Recorded {
        var root: WorkKey
        var runCost: Int64
        var spikeRaised: Bool
    }

    /// Counts a charge against its run (one lookup; the run is created on first sight).
    mutating func record(_ key: WorkKey, agent: String, cost: Int64, minute: Minute) -> Recorded {
        if let index = states.index(forKey: key) {
            return Self.update(&states.values[index], cost: cost, minute: minute)
        }
        var state = WorkState(agent: agent, root: key)
        let recorded = Self.update(&state, cost: cost, minute: minute)
        states[key] = state
        evictIfNeeded()
        return recorded
    }

    private static func update(_ state: inout WorkState, cost: Int64, minute: Minute) -> Recorded {
        state.cost &+= cost
        state.lastMinute = max(state.lastMinute, minute)
        return Recorded(root: state.root, runCost: state.cost, spikeRaised: state.alerted.contains(.spike))
    }

    /// Marks `kind` as raised for `key`; false when it already was (an incident alerts once).
    mutating func claim(_ kind: AlertKinds, for key: WorkKey) -> Bool {
        guard let index = states.index(forKey: key), !states.values[index].alerted.contains(kind) else { return false }
        states.values[index].alerted.insert(kind)
        return true
    }

    mutating func checkRetries(
        _ key: WorkKey, task: String?, retry: Int32, at: LedgerTime, _ configuration: RetryStormConfiguration
    ) -> Finding? {
        guard let index = states.index(forKey: key), !states.values[index].alerted.contains(.retryStorm) else { return nil }
        return states.values[index].retries.observe(task: task, retry: retry, at: at, configuration)
    }

    /// Feeds a charge to the loop tracker of its root run (created when the root was forgotten).
    mutating func checkLoop(
        _ root: WorkKey, agent: String, usage: UsageFields, model: String?, at: LedgerTime, _ configuration: LoopConfiguration
    ) -> Finding? {
        guard configuration.kinds.contains(usage.kind) else { return nil }
        let index: Dictionary<WorkKey, WorkState>.Index
        if let found = states.index(forKey: root) {
            index = found
        } else {
            states[root] = WorkState(agent: agent, root: root)
            index = states.index(forKey: root)!
        }
        states.values[index].lastMinute = max(states.values[index].lastMinute, Minute(at))
        guard !states.values[index].alerted.contains(.loop) else { return nil }
        return states.values[index].loops.observe(usage: usage, model: model, at: at, configuration)
    }

    private func runID(fromStream stream: String) -> String? {
        stream.hasPrefix("run:") ? String(stream.dropFirst(4)) : nil
    }

    private mutating func evictIfNeeded() {
        guard states.count > runsMax else { return }
        let order = states.map { (minute: $0.value.lastMinute.index, key: $0.key) }.sorted { lhs, rhs in
            lhs.minute != rhs.minute ? lhs.minute < rhs.minute : Self.order(lhs.key, rhs.key)
        }
        for entry in order.prefix(max(1, states.count / 4)) {
            if let started = states.removeValue(forKey: entry.key)?.startedEventID { startEvents[started] = nil }
        }
    }

    private static func order(_ lhs: WorkKey, _ rhs: WorkKey) -> Bool {
        switch (lhs, rhs) {
        case (.run(let a), .run(let b)), (.agent(let a), .agent(let b)): a < b
        case (.run, .agent): true
        case (.agent, .run): false
        }
    }
}

import LedgerCore

/// Which runs and charges an incident review covers, found while reading the log in `seq` order.
///
/// Without a run in the query: every run the agent started, every run started below one of them
/// (sub-agent runs, whatever agent they are recorded under), and every charge of the agent. With a
/// run: that run and the runs below it.
struct IncidentScope {
    /// What the log says about one run under review.
    struct Run {
        var id: String
        var agent: String?
        var parent: String?
        /// Nil while no `run.started` was seen: the run is known from its charges only.
        var startedAt: LedgerTime?
        var firstSeen: LedgerTime
        var lastSeen: LedgerTime
        var haltedAt: LedgerTime?
        var completed: (at: LedgerTime, outcome: String)?

        init(id: String, agent: String?, at: LedgerTime) {
            self.id = id
            self.agent = agent
            firstSeen = at
            lastSeen = at
        }

        mutating func seen(at time: LedgerTime) {
            firstSeen = min(firstSeen, time)
            lastSeen = max(lastSeen, time)
        }
    }

    let agent: String
    let run: String?
    private(set) var runs: [String: Run] = [:]
    /// The agent the requested run was started by, once its `run.started` is seen.
    private(set) var requestedRunAgent: String??

    init(agent: String, run: String?) {
        self.agent = agent
        self.run = run
    }

    /// True for a run whose `run.started` put it under review.
    func isStarted(_ id: String) -> Bool { runs[id]?.startedAt != nil }

    /// Records a `run.started`; returns true when the run is under review.
    mutating func started(_ id: String, agent: String?, parent: String?, at time: LedgerTime) -> Bool {
        if id == run { requestedRunAgent = .some(agent) }
        let belowReviewed = parent.map(isStarted) ?? false
        let reviewedItself = if let run { id == run } else { agent == self.agent }
        guard reviewedItself || belowReviewed else { return false }
        var record = runs[id] ?? Run(id: id, agent: agent, at: time)
        record.agent = agent
        record.parent = parent
        record.startedAt = time
        record.seen(at: time)
        runs[id] = record
        return true
    }

    /// Whether a charge is counted: it is on a run under review, or (for runs the log never saw
    /// start) it is the agent's own, or on the requested run.
    func includesCharge(_ event: RecordedEvent) -> Bool {
        let id = runID(of: event)
        if let id, isStarted(id) { return true }
        if let run { return id == run }
        return event.dimensions.agent == agent
    }

    /// Notes the activity of an included charge on its run.
    mutating func charged(_ event: RecordedEvent) {
        guard let id = runID(of: event) else { return }
        if runs[id] == nil { runs[id] = Run(id: id, agent: event.dimensions.agent, at: event.occurredAt) }
        runs[id]?.seen(at: event.occurredAt)
    }

    mutating func halted(_ id: String, at time: LedgerTime) {
        runs[id]?.seen(at: time)
        if runs[id]?.haltedAt == nil { runs[id]?.haltedAt = time }
    }

    mutating func completed(_ id: String, outcome: String, at time: LedgerTime) {
        runs[id]?.seen(at: time)
        runs[id]?.completed = (time, outcome)
    }

    /// `run` and every run under review below it.
    func subtree(of run: String) -> Set<String> {
        var members: Set<String> = [run]
        for record in runs.values {
            var seen = Set<String>()
            var id: String? = record.id
            while let current = id, seen.insert(current).inserted {
                if current == run {
                    members.insert(record.id)
                    break
                }
                id = runs[current]?.parent
            }
        }
        return members
    }

    /// Whether an alert about `alertAgent` (and `run`) is about what is under review: an alert on
    /// a run under review, or an agent-wide alert of the agent.
    func owns(alertAgent: String?, run alertRun: String?) -> Bool {
        if let alertRun, isStarted(alertRun) || alertRun == run { return true }
        return alertAgent == agent && (run == nil || alertRun == nil)
    }

    /// The runs alive in the window (started by its end, active at or after its start), with the
    /// runs above them, as trees ordered by start time. `tally` holds each run's charges.
    func tree(from: LedgerTime, to: LedgerTime, tally: [String: ChargeCount]) -> [RunNode] {
        var listed = Set<String>()
        for record in runs.values where (record.startedAt ?? record.firstSeen) <= to && record.lastSeen >= from {
            var id: String? = record.id
            while let current = id, runs[current] != nil, listed.insert(current).inserted { id = runs[current]?.parent }
        }
        var children: [String: [Run]] = [:]
        var roots: [Run] = []
        for id in listed {
            let record = runs[id]!
            if let parent = record.parent, listed.contains(parent) {
                children[parent, default: []].append(record)
            } else {
                roots.append(record)
            }
        }
        func ordered(_ records: [Run]) -> [Run] {
            records.sorted { ($0.startedAt ?? $0.firstSeen, $0.id) < ($1.startedAt ?? $1.firstSeen, $1.id) }
        }
        var visited = Set<String>()
        func node(_ record: Run) -> RunNode {
            visited.insert(record.id)
            let counts = tally[record.id] ?? ChargeCount()
            let status: RunNode.Status
            if let completed = record.completed, completed.at <= to {
                status = .completed(completed.outcome)
            } else if let halted = record.haltedAt, halted <= to {
                status = .halted
            } else {
                status = .running
            }
            let below = ordered(children[record.id] ?? []).filter { !visited.contains($0.id) }
            return RunNode(
                id: record.id, agent: record.agent, parent: record.parent, startedAt: record.startedAt, status: status,
                haltedAt: record.haltedAt.flatMap { $0 <= to ? $0 : nil }, cost: counts.cost, calls: counts.calls,
                retries: counts.retries, children: below.map(node))
        }
        return ordered(roots).map(node)
    }
}

import LedgerCore
import LedgerDetectors
import LedgerDomain

/// Calls, retries and exact cost of a set of charges.
struct ChargeCount: Hashable {
    var calls = 0
    var retries = 0
    var cost = Money.zero

    mutating func add(_ usage: UsageRecorded) throws {
        guard let sum = cost.adding(usage.cost) else {
            throw LedgerError(.limitExceeded, "an incident total overflowed 64-bit nano-dollars; it cannot be shown exactly")
        }
        cost = sum
        calls += 1
        if usage.retry > 0 { retries += 1 }
    }
}

/// The charges that stopping at the first alert would have saved: those after the alert and by the
/// halt, of what the halt stopped (a halted run and its sub-runs, or, for an agent pause or when
/// nothing was stopped, everything under review).
struct AvoidableSpend {
    var after: LedgerTime
    var through: LedgerTime
    /// Nil for everything under review.
    var runs: Set<String>?

    func contains(_ event: RecordedEvent) -> Bool {
        let time = event.occurredAt
        guard after < time, time <= through else { return false }
        guard let runs else { return true }
        return runID(of: event).map(runs.contains) ?? false
    }
}

/// The second pass of a review: the charges under review that occurred in the window, summed per
/// minute, model, task and run.
struct IncidentTally {
    let from: LedgerTime
    let to: LedgerTime
    let avoidable: AvoidableSpend?
    private(set) var all = ChargeCount()
    private(set) var costAfterFirstAlert = Money.zero
    private(set) var minutes: [LedgerTime: ChargeCount] = [:]
    private(set) var models: [String: ChargeCount] = [:]
    private(set) var tasks: [String: ChargeCount] = [:]
    private(set) var runs: [String: ChargeCount] = [:]

    init(from: LedgerTime, to: LedgerTime, avoidable: AvoidableSpend?) {
        self.from = from
        self.to = to
        self.avoidable = avoidable
    }

    var total: Money { all.cost }
    var calls: Int { all.calls }
    var retries: Int { all.retries }

    /// Counts a charge under review if it occurred in the window.
    mutating func add(_ event: RecordedEvent, usage: UsageRecorded) throws {
        let time = event.occurredAt
        guard from <= time, time <= to else { return }
        try all.add(usage)
        if avoidable?.contains(event) == true {
            costAfterFirstAlert = costAfterFirstAlert + usage.cost  // bounded by the total just checked
        }
        try minutes[time.minuteStart, default: ChargeCount()].add(usage)
        try models[event.dimensions.model ?? "", default: ChargeCount()].add(usage)
        try tasks[event.dimensions.task ?? "", default: ChargeCount()].add(usage)
        if let run = runID(of: event) { try runs[run, default: ChargeCount()].add(usage) }
    }

    /// The timeline: every minute of the window with a charge or a closed detector minute.
    func timeline(samples: [LedgerTime: MinuteSample]) -> [IncidentMinute] {
        let first = from.minuteStart
        var keys = Set(minutes.keys)
        for minute in samples.keys where first <= minute && minute <= to { keys.insert(minute) }
        return keys.sorted().map { minute in
            let counts = minutes[minute] ?? ChargeCount()
            let sample = samples[minute]
            return IncidentMinute(
                minute: minute, calls: counts.calls, cost: counts.cost, retries: counts.retries,
                baselineCost: sample.map { Money(nanos: $0.baselineCostNanos) }, baselineCalls: sample?.baselineCalls,
                anomalous: sample?.anomalous ?? false)
        }
    }

    /// Cost lines, most expensive first, then by name.
    static func lines(_ counts: [String: ChargeCount]) -> [CostLine] {
        counts.map { CostLine(name: $0.key, calls: $0.value.calls, cost: $0.value.cost) }
            .sorted { $0.cost != $1.cost ? $0.cost > $1.cost : $0.name < $1.name }
    }
}

import LedgerCore

/// Cost spikes: a run costing more than `multiple` × the median cost of its agent's recent
/// completed runs.
///
/// The agent remembers the costs of its last `historyRuns` completed runs (runs a spike alert
/// fired on are left out, so one runaway does not raise the bar for the next). The check runs on
/// every charge of an open run, so a spike is caught while the run spends, not when it ends. A run
/// below `minimumRunCost` is never a spike (ten times a tenth of a cent is not worth a look).
struct SpikeHistory: Sendable {
    /// The recent completed-run costs in completion order (a ring), and the same costs sorted.
    private var costs: [Int64] = []
    private var sorted: [Int64] = []
    private var next = 0
    private let capacity: Int
    /// The median of the recent completed-run costs.
    private(set) var median: Int64 = 0

    init(capacity: Int) { self.capacity = max(1, capacity) }

    var completedRuns: Int { costs.count }

    mutating func runCompleted(cost: Int64, excluded: Bool, _ configuration: SpikeConfiguration) {
        guard !excluded, cost > 0 else { return }
        if costs.count < capacity {
            costs.append(cost)
        } else {
            sorted.remove(at: Self.position(of: costs[next], in: sorted))
            costs[next] = cost
            next = (next + 1) % capacity
        }
        sorted.insert(cost, at: Self.position(of: cost, in: sorted))
        let middle = sorted.count / 2
        median = sorted.count % 2 == 1 ? sorted[middle] : sorted[middle - 1] / 2 + sorted[middle] / 2
    }

    /// The first index whose value is not below `value` (binary search).
    private static func position(of value: Int64, in sorted: [Int64]) -> Int {
        var low = 0
        var high = sorted.count
        while low < high {
            let mid = (low + high) / 2
            if sorted[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// A finding when a run that has cost `runCost` so far passes the threshold.
    func check(runCost: Int64, _ configuration: SpikeConfiguration) -> Finding? {
        guard costs.count >= configuration.minimumCompletedRuns, median > 0, runCost >= configuration.minimumRunCost.nanos
        else { return nil }
        let threshold = Double(median) * configuration.multiple
        guard Double(runCost) > threshold else { return nil }
        let ratio = Double(runCost) / threshold
        let evidence =
            "run cost \(Dollars.text(runCost)) is \(Decimal1.text(Double(runCost) / Double(median)))× the agent's median "
            + "run cost \(Dollars.text(median)) over its last \(sorted.count) completed runs (spike at "
            + "\(Decimal1.text(configuration.multiple))×)"
        return Finding(kind: .spike, severityMilli: AnomalyScore.severity(ratio: ratio), evidence: evidence)
    }
}

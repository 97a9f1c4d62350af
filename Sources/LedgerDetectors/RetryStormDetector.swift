import LedgerCore

/// Retry storms: more than `limit` retries on one task of one run within the window.
///
/// Per run, per task: the times of the last `limit + 1` retries. A storm is `limit + 1` retries
/// within `windowMinutes`, or one charge whose retry number alone is above `limit` (the attempts
/// before it failed without a charge). Severity: the retry rate against the limit's rate, with
/// the elapsed time counted as at least a minute.
struct RetryTracker: Sendable {
    private struct TaskRetries: Sendable {
        var task: String?
        /// Occurred times (ns) of the most recent retries, oldest first, at most `limit + 1`.
        var times: [Int64] = []
    }

    private var tasks: [TaskRetries] = []
    /// Tasks of one run tracked at once (the oldest is forgotten beyond it).
    static let tasksMax = 32

    mutating func observe(task: String?, retry: Int32, at: LedgerTime, _ configuration: RetryStormConfiguration) -> Finding? {
        let now = at.nanosecondsSinceEpoch
        let index: Int
        if let found = tasks.firstIndex(where: { $0.task == task }) {
            index = found
        } else {
            if tasks.count >= Self.tasksMax { tasks.removeFirst() }
            tasks.append(TaskRetries(task: task))
            index = tasks.count - 1
        }
        tasks[index].times.append(now)
        tasks[index].times.sort()  // a late retry lands in its place
        let keep = configuration.limit + 1
        if tasks[index].times.count > keep { tasks[index].times.removeFirst(tasks[index].times.count - keep) }
        let times = tasks[index].times
        let window = Int64(configuration.windowMinutes) * Minute.nanoseconds
        let inWindow = times.count > configuration.limit && times.last! - times.first! <= window
        guard inWindow || Int(retry) > configuration.limit else { return nil }
        let count = max(inWindow ? times.count : 0, Int(retry))
        let elapsed = max(Minute.nanoseconds, inWindow ? times.last! - times.first! : 0)
        // (count / elapsed) against ((limit + 1) / window).
        let ratio = (Double(count) / Double(elapsed)) / (Double(configuration.limit + 1) / Double(window))
        let taskText = task.map { "task \($0)" } ?? "its task"
        let evidence: String
        if inWindow {
            let minutes = Decimal1.text(Double(times.last! - times.first!) / Double(Minute.nanoseconds))
            evidence =
                "\(times.count) retries on \(taskText) within \(minutes) min (more than \(configuration.limit) in "
                + "\(configuration.windowMinutes) min); latest retry number \(retry)"
        } else {
            evidence = "retry number \(retry) on \(taskText): more than \(configuration.limit) retries of one call"
        }
        return Finding(kind: .retryStorm, severityMilli: AnomalyScore.severity(ratio: ratio), evidence: evidence)
    }
}

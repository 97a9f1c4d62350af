public import LedgerCore
import LedgerDomain
public import LedgerProjections

/// Cost per accepted task: what the tasks that were finally accepted cost, each and on average,
/// failed attempts included.
///
/// This is the projection a developer would write on top of SpendLedger, shown as an example of
/// ``LedgerProjections/Projection``: a name, a version, a `Codable` state and `apply`. The engine
/// then gives it catch-up, live following, snapshots, rebuilds and time travel for free.
///
/// Guarantees: a task's cost is the exact sum of the charges (and corrections) whose envelope
/// names the task; a task is accepted once any of its runs completes `accepted`; the average is
/// the exact total of the accepted tasks' costs divided by their number, rounded half-even to the
/// nano-dollar. A charge whose payload cannot be read is counted in `unreadableEvents`, never as
/// zero.
///
/// ```swift
/// let engine = ProjectionEngine(store: store)
/// let result = try await engine.state(of: CostPerAcceptedTask(), asOf: .head)
/// print(result.state.costPerAcceptedTask ?? .zero)
/// ```
public struct CostPerAcceptedTask: Projection {
    /// One task's cost and fate.
    public struct TaskCost: Codable, Sendable, Hashable {
        public var costNanos: Int64 = 0
        public var runs = 0
        public var accepted = false

        public init(costNanos: Int64 = 0, runs: Int = 0, accepted: Bool = false) {
            self.costNanos = costNanos
            self.runs = runs
            self.accepted = accepted
        }
    }

    /// The fold's state. Only `String`-keyed dictionaries and integers, so its JSON encoding (the
    /// default snapshot format) is canonical.
    public struct State: Codable, Sendable, Hashable {
        /// Task → cost and fate.
        public var tasks: [String: TaskCost] = [:]
        /// Run → task, for runs that have started and not yet completed.
        public var openRuns: [String: String] = [:]
        public var unreadableEvents = 0

        /// The accepted tasks' total cost / their number, or nil when none was accepted.
        public var costPerAcceptedTask: Money? {
            let accepted = tasks.values.filter(\.accepted)
            guard !accepted.isEmpty else { return nil }
            let total = accepted.reduce(Int128(0)) { $0 + Int128($1.costNanos) }
            return Money(nanos: Self.divideHalfEven(total, Int128(accepted.count)))
        }

        /// Tasks accepted so far.
        public var acceptedTasks: Int { tasks.values.filter(\.accepted).count }

        static func divideHalfEven(_ numerator: Int128, _ denominator: Int128) -> Int64 {
            var quotient = numerator / denominator
            let twice = (numerator % denominator).magnitude * 2
            if twice > denominator.magnitude || (twice == denominator.magnitude && quotient % 2 != 0) {
                quotient += numerator < 0 ? -1 : 1
            }
            return Int64(clamping: quotient)
        }
    }

    public init() {}

    public let name = "example.cost_per_accepted_task"
    public let version: UInt32 = 1
    public var initialState: State { State() }

    public func apply(_ event: RecordedEvent, to state: inout State) {
        switch event.type {
        case UsageRecorded.type:
            guard let usage = try? event.decode(as: UsageRecorded.self) else {
                state.unreadableEvents += 1
                return
            }
            state.tasks[event.dimensions.task ?? "", default: TaskCost()].costNanos += usage.cost.nanos
        case CorrectionRecorded.type:
            guard let correction = try? event.decode(as: CorrectionRecorded.self) else {
                state.unreadableEvents += 1
                return
            }
            state.tasks[event.dimensions.task ?? "", default: TaskCost()].costNanos += correction.delta.nanos
        case RunStarted.type:
            let task = event.dimensions.task ?? ""
            state.tasks[task, default: TaskCost()].runs += 1
            state.openRuns[Self.runID(event.stream)] = task
        case RunCompleted.type:
            guard let completed = try? event.decode(as: RunCompleted.self) else {
                state.unreadableEvents += 1
                return
            }
            let task = state.openRuns.removeValue(forKey: Self.runID(event.stream)) ?? event.dimensions.task ?? ""
            if completed.outcome == .accepted { state.tasks[task, default: TaskCost()].accepted = true }
        default:
            break
        }
    }

    static func runID(_ stream: String) -> String {
        stream.hasPrefix("run:") ? String(stream.dropFirst(4)) : stream
    }
}

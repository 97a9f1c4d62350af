public import LedgerCore

/// Cost per task and per accepted outcome: what each task cost, how many runs it took, how they
/// ended, and so what one accepted outcome costs.
///
/// Guarantees: a task's cost is the exact sum of the charges (and corrections) whose envelope
/// names that task (`""` for none). A run counts for the task of its `run.started` event; its
/// `run.completed` outcome (accepted, rejected, abandoned) is counted for that same task even if
/// the completion carries no task. Cost per accepted outcome = all the task's cost (failed
/// attempts included: they are part of what an accepted outcome costs) / its accepted runs.
/// Name `outcomes`, version 1.
public struct OutcomeCosts: EncodedProjection {
    public init() {}

    public var name: String { "outcomes" }
    public var version: UInt32 { 1 }
    public var initialState: OutcomeBook { OutcomeBook() }

    public func apply(encoded event: EventView, to state: inout OutcomeBook) {
        switch BuiltinEvent.classify(event) {
        case .usage: state.record(UsageFields.read(event), task: event.dimension(3))
        case .correction: state.record(correction: CorrectionFields.delta(event), task: event.dimension(3))
        case .runStarted: state.runStarted(event)
        case .runCompleted: state.runCompleted(event)
        case .other: break
        }
    }

    public func encodeState(_ state: OutcomeBook) throws -> [UInt8] { state.encoded() }
    public func decodeState(_ bytes: [UInt8]) throws -> OutcomeBook { try OutcomeBook(encoded: bytes) }
}

/// What one task cost and how its runs ended: exact sums and counts.
public struct TaskOutcome: Hashable, Sendable, Codable {
    public var costNanos: Int64 = 0
    public var calls: Int64 = 0
    public var runs: Int64 = 0
    public var accepted: Int64 = 0
    public var rejected: Int64 = 0
    public var abandoned: Int64 = 0

    public init() {}

    public var cost: Money { Money(nanos: costNanos) }

    /// Cost / accepted runs, rounded half-even to the nano; nil with no accepted run.
    public var costPerAcceptedOutcome: Money? {
        guard accepted > 0 else { return nil }
        return Money(nanos: Self.divideHalfEven(Int128(costNanos), Int128(accepted)))
    }

    static func divideHalfEven(_ numerator: Int128, _ denominator: Int128) -> Int64 {
        var quotient = numerator / denominator
        let remainder = numerator % denominator
        let twice = remainder.magnitude * 2
        if twice > denominator.magnitude || (twice == denominator.magnitude && quotient % 2 != 0) {
            quotient += (numerator < 0) != (denominator < 0) ? -1 : 1
        }
        return Int64(clamping: quotient)
    }

    mutating func add(cost: Int64, calls: Int64) -> Bool {
        let (sum, overflow) = costNanos.addingReportingOverflow(cost)
        costNanos = sum
        self.calls &+= calls
        return overflow
    }

    mutating func add(_ other: TaskOutcome) {
        costNanos &+= other.costNanos
        calls &+= other.calls
        runs &+= other.runs
        accepted &+= other.accepted
        rejected &+= other.rejected
        abandoned &+= other.abandoned
    }

    enum CodingKeys: String, CodingKey { case costNanos = "cost_nanos", calls, runs, accepted, rejected, abandoned }
}

/// The state of ``OutcomeCosts``: a row per task and the task of every run still open.
///
/// Guarantees: equal books encode to identical bytes; completed runs are forgotten by the
/// encoding (only open runs are needed to attribute a later completion).
public struct OutcomeBook: Sendable, Hashable, Codable {
    var keys = KeyTable()
    var rows: [TaskOutcome] = []
    /// Every run id seen since the state was made or restored.
    /// Run id → task row, for the runs started and not yet completed (completed runs are removed,
    /// so this stays as small as the number of runs in flight).
    var openRunTask: [RunKey: Int32] = [:]
    var openRunCount: Int { openRunTask.count }
    public internal(set) var unreadableEvents: Int64 = 0
    public internal(set) var overflowed = false

    public init() {}

    public struct Entry: Hashable, Sendable, Codable {
        public var task: String
        public var outcome: TaskOutcome
    }

    /// Every task, ordered by its UTF-8 bytes.
    public var entries: [Entry] {
        keys.sortedIndexes().map { Entry(task: keys.string(at: $0), outcome: rows[$0]) }
    }

    public subscript(task: String) -> TaskOutcome? { keys.find(task).map { rows[$0] } }

    /// All tasks together: cost per accepted outcome over the whole ledger.
    public var total: TaskOutcome {
        var total = TaskOutcome()
        for row in rows { total.add(row) }
        return total
    }

    /// Run id → task, for the runs started and not yet completed, ordered by run id bytes.
    var openRuns: [(run: String, task: Int)] {
        openRunTask.map { (run: $0.key.bytes, task: Int($0.value)) }
            .sorted { $0.run.lexicographicallyPrecedes($1.run) }
            .map { (String(decoding: $0.run, as: UTF8.self), $0.task) }
    }

    // MARK: Folding

    @inline(__always)
    mutating func record(_ usage: UsageFields?, task: UnsafeRawBufferPointer?) {
        guard let usage else {
            unreadableEvents += 1
            return
        }
        let index = taskIndex(task)
        if rows[index].add(cost: usage.cost, calls: 1) { overflowed = true }
    }

    mutating func record(correction delta: Int64?, task: UnsafeRawBufferPointer?) {
        guard let delta else {
            unreadableEvents += 1
            return
        }
        let index = taskIndex(task)
        if rows[index].add(cost: delta, calls: 0) { overflowed = true }
    }

    mutating func runStarted(_ event: EventView) {
        guard event.streamHasPrefix("run:") else { return }
        let task = taskIndex(event.dimension(3))
        rows[task].runs += 1
        markOpen(UnsafeRawBufferPointer(rebasing: event.stream[4...]), task: task)
    }

    mutating func runCompleted(_ event: EventView) {
        guard event.streamHasPrefix("run:") else { return }
        var outcome: (accepted: Bool, rejected: Bool, abandoned: Bool) = (false, false, false)
        let ok = FlatJSON.forEachMember(event.payload) { key, value in
            guard FlatJSON.key(key, is: "outcome"), case .string(let text, false) = value else { return }
            outcome = (
                FlatJSON.key(text, is: "accepted"), FlatJSON.key(text, is: "rejected"), FlatJSON.key(text, is: "abandoned")
            )
        }
        let run = RunKey(UnsafeRawBufferPointer(rebasing: event.stream[4...]))
        let task = openRunTask.removeValue(forKey: run).map(Int.init) ?? taskIndex(event.dimension(3))
        if ok, outcome.accepted {
            rows[task].accepted += 1
        } else if ok, outcome.rejected {
            rows[task].rejected += 1
        } else if ok, outcome.abandoned {
            rows[task].abandoned += 1
        } else {
            unreadableEvents += 1
        }
    }

    private mutating func markOpen(_ run: UnsafeRawBufferPointer, task: Int) {
        openRunTask[RunKey(run)] = Int32(task)
    }

    mutating func taskIndex(_ key: UnsafeRawBufferPointer?) -> Int {
        let index = keys.index(of: key ?? UnsafeRawBufferPointer(start: nil, count: 0))
        if index == rows.count { rows.append(TaskOutcome()) }
        return index
    }

    public static func == (lhs: OutcomeBook, rhs: OutcomeBook) -> Bool { lhs.encoded() == rhs.encoded() }
    public func hash(into hasher: inout Hasher) { hasher.combine(encoded()) }

    struct OpenRun: Codable {
        var run: String
        var task: String
    }

    enum CodingKeys: String, CodingKey { case tasks, openRuns = "open_runs", unreadableEvents = "unreadable_events", overflowed }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        for entry in try container.decode([Entry].self, forKey: .tasks) {
            let key = Array(entry.task.utf8)
            let index = key.withUnsafeBytes { taskIndex($0) }
            guard index == rows.count - 1 else { throw ProjectionError(.stateEncoding, "a task appears twice") }
            rows[index] = entry.outcome
        }
        for open in try container.decode([OpenRun].self, forKey: .openRuns) {
            guard let index = keys.find(open.task) else { throw ProjectionError(.stateEncoding, "an open run names an unknown task") }
            let run = Array(open.run.utf8)
            run.withUnsafeBytes { self.markOpen($0, task: index) }
        }
        unreadableEvents = try container.decode(Int64.self, forKey: .unreadableEvents)
        overflowed = try container.decode(Bool.self, forKey: .overflowed)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(entries, forKey: .tasks)
        try container.encode(openRuns.map { OpenRun(run: $0.run, task: keys.string(at: $0.task)) }, forKey: .openRuns)
        try container.encode(unreadableEvents, forKey: .unreadableEvents)
        try container.encode(overflowed, forKey: .overflowed)
    }

    func encoded() -> [UInt8] {
        var writer = StateWriter(capacity: 32 + rows.count * 64 + openRunCount * 24)
        writer.writeHeader(unreadableEvents: unreadableEvents, overflowed: overflowed)
        let order = keys.sortedIndexes()
        var position = [Int](repeating: 0, count: order.count)
        writer.write(UInt32(order.count))
        for (rank, index) in order.enumerated() {
            position[index] = rank
            keys.key(at: index).withUnsafeBytes { writer.write($0) }
            let row = rows[index]
            writer.write(row.costNanos)
            writer.write(row.calls)
            writer.write(row.runs)
            writer.write(row.accepted)
            writer.write(row.rejected)
            writer.write(row.abandoned)
        }
        let open = openRuns
        writer.write(UInt32(open.count))
        for (run, task) in open {
            writer.write(run)
            writer.write(UInt32(position[task]))
        }
        return writer.bytes
    }

    init(encoded bytes: [UInt8]) throws {
        var reader = StateReader(bytes)
        (unreadableEvents, overflowed) = try reader.readHeader()
        let count = try reader.readCount(minimumBytesEach: 4 + 48)
        for _ in 0..<count {
            let key = try reader.readBytes()
            let index = key.withUnsafeBytes { taskIndex($0) }
            guard index == rows.count - 1 else { throw ProjectionError(.stateEncoding, "a task appears twice") }
            var row = TaskOutcome()
            row.costNanos = try reader.read()
            row.calls = try reader.read()
            row.runs = try reader.read()
            row.accepted = try reader.read()
            row.rejected = try reader.read()
            row.abandoned = try reader.read()
            rows[index] = row
        }
        let open = try reader.readCount(minimumBytesEach: 8)
        for _ in 0..<open {
            let run = try reader.readBytes()
            let task = Int(try reader.read(UInt32.self))
            guard task < rows.count else { throw StateReader.Truncated() }
            let known = openRunTask.count
            run.withUnsafeBytes { self.markOpen($0, task: task) }
            guard openRunTask.count == known + 1 else { throw ProjectionError(.stateEncoding, "a run appears twice") }
        }
        try reader.finish()
    }
}

/// A run id as a dictionary key without a heap allocation for ids of up to 32 bytes (the usual
/// case): the bytes live inline in four words.
struct RunKey: Hashable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private let count: Int
    private var long: [UInt8]?

    init(_ bytes: UnsafeRawBufferPointer) {
        count = bytes.count
        if bytes.count <= 32 {
            withUnsafeMutableBytes(of: &words) { raw in
                if let base = bytes.baseAddress { raw.baseAddress!.copyMemory(from: base, byteCount: bytes.count) }
            }
            long = nil
        } else {
            long = Array(bytes)
        }
    }

    /// The id's bytes.
    var bytes: [UInt8] {
        if let long { return long }
        return withUnsafeBytes(of: words) { Array($0.prefix(count)) }
    }

    static func == (lhs: RunKey, rhs: RunKey) -> Bool {
        lhs.count == rhs.count && lhs.words == rhs.words && lhs.long == rhs.long
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
        if let long { hasher.combine(long) }
    }
}

public import LedgerCore

/// What was spent under one key (an agent, a model, an hour, ...): exact cost, calls, tokens.
///
/// Guarantees: `costNanos` is the exact integer sum of the charges' costs plus the corrections'
/// deltas (nano-dollars; no floating point); every counter is an exact sum. `retries` counts the
/// charges whose `retry` number is above 0 (each retry is its own charge). `firstAt`/`lastAt` are
/// the earliest and latest `occurredAt` of the charges (corrections do not move them).
public struct SpendRow: Hashable, Sendable, Codable {
    public var costNanos: Int64 = 0
    /// Charges (`usage.recorded` events).
    public var calls: Int64 = 0
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cachedTokens: Int64 = 0
    public var reasoningTokens: Int64 = 0
    public var toolCalls: Int64 = 0
    /// Charges that were retries (`retry > 0`).
    public var retries: Int64 = 0
    /// Corrections applied to this row.
    public var corrections: Int64 = 0
    /// `occurredAt` of the earliest charge, in ns (`Int64.max` when none).
    public var firstNanos: Int64 = .max
    /// `occurredAt` of the latest charge, in ns (`Int64.min` when none).
    public var lastNanos: Int64 = .min

    public init() {}

    public var cost: Money { Money(nanos: costNanos) }
    public var firstAt: LedgerTime? { firstNanos == .max ? nil : LedgerTime(nanosecondsSinceEpoch: firstNanos) }
    public var lastAt: LedgerTime? { lastNanos == .min ? nil : LedgerTime(nanosecondsSinceEpoch: lastNanos) }

    /// Adds one charge; returns true when a sum overflowed (the row is then not exact).
    @inline(__always)
    mutating func add(_ usage: UsageFields, at time: Int64) -> Bool {
        var overflow = false
        @inline(__always) func add(_ field: inout Int64, _ amount: Int64) {
            let (sum, over) = field.addingReportingOverflow(amount)
            field = sum
            overflow = overflow || over
        }
        add(&costNanos, usage.cost)
        calls &+= 1
        add(&inputTokens, usage.inputTokens)
        add(&outputTokens, usage.outputTokens)
        add(&cachedTokens, usage.cachedTokens)
        add(&reasoningTokens, usage.reasoningTokens)
        add(&toolCalls, usage.toolCalls)
        if usage.retry > 0 { retries &+= 1 }
        if time < firstNanos { firstNanos = time }
        if time > lastNanos { lastNanos = time }
        return overflow
    }

    /// Adds a correction's delta; returns true on overflow.
    mutating func correct(by delta: Int64) -> Bool {
        let (sum, overflow) = costNanos.addingReportingOverflow(delta)
        costNanos = sum
        corrections &+= 1
        return overflow
    }

    /// Adds the row folded from zero over the events right after this row's, exactly as one fold
    /// over both would have counted: the same overflow-checked sums (calls, retries and corrections
    /// wrap there and here), earliest and latest times. Returns false when a checked sum overflows.
    mutating func merge(_ later: SpendRow) -> Bool {
        var exact = true
        @inline(__always) func add(_ field: inout Int64, _ amount: Int64) {
            let (sum, over) = field.addingReportingOverflow(amount)
            field = sum
            if over { exact = false }
        }
        add(&costNanos, later.costNanos)
        calls &+= later.calls
        add(&inputTokens, later.inputTokens)
        add(&outputTokens, later.outputTokens)
        add(&cachedTokens, later.cachedTokens)
        add(&reasoningTokens, later.reasoningTokens)
        add(&toolCalls, later.toolCalls)
        retries &+= later.retries
        corrections &+= later.corrections
        firstNanos = min(firstNanos, later.firstNanos)
        lastNanos = max(lastNanos, later.lastNanos)
        return exact
    }

    /// Adds another row (for totals); returns true on overflow.
    mutating func add(_ other: SpendRow) -> Bool {
        var overflow = false
        func add(_ field: inout Int64, _ amount: Int64) {
            let (sum, over) = field.addingReportingOverflow(amount)
            field = sum
            overflow = overflow || over
        }
        add(&costNanos, other.costNanos)
        add(&calls, other.calls)
        add(&inputTokens, other.inputTokens)
        add(&outputTokens, other.outputTokens)
        add(&cachedTokens, other.cachedTokens)
        add(&reasoningTokens, other.reasoningTokens)
        add(&toolCalls, other.toolCalls)
        add(&retries, other.retries)
        add(&corrections, other.corrections)
        firstNanos = min(firstNanos, other.firstNanos)
        lastNanos = max(lastNanos, other.lastNanos)
        return overflow
    }

    enum CodingKeys: String, CodingKey {
        case costNanos = "cost_nanos", calls, inputTokens = "input_tokens", outputTokens = "output_tokens"
        case cachedTokens = "cached_tokens", reasoningTokens = "reasoning_tokens", toolCalls = "tool_calls", retries
        case corrections, firstNanos = "first_at_ns", lastNanos = "last_at_ns"
    }

    static let encodedBytes = 11 * 8

    func write(to writer: inout StateWriter) {
        writer.write(costNanos)
        writer.write(calls)
        writer.write(inputTokens)
        writer.write(outputTokens)
        writer.write(cachedTokens)
        writer.write(reasoningTokens)
        writer.write(toolCalls)
        writer.write(retries)
        writer.write(corrections)
        writer.write(firstNanos)
        writer.write(lastNanos)
    }

    static func read(from reader: inout StateReader) throws -> SpendRow {
        var row = SpendRow()
        row.costNanos = try reader.read()
        row.calls = try reader.read()
        row.inputTokens = try reader.read()
        row.outputTokens = try reader.read()
        row.cachedTokens = try reader.read()
        row.reasoningTokens = try reader.read()
        row.toolCalls = try reader.read()
        row.retries = try reader.read()
        row.corrections = try reader.read()
        row.firstNanos = try reader.read()
        row.lastNanos = try reader.read()
        return row
    }
}

/// Spend grouped by one key, the state of the spend-by-dimension views.
///
/// Guarantees: one row per distinct key; a charge with no value for the key's dimension is under
/// the key `""`. Two tables are equal when they hold the same rows under the same keys (the order
/// keys were first seen in does not matter), and their canonical encodings are then identical.
/// If an exact sum ever overflowed Int64, ``overflowed`` is set and the figures must not be used.
public struct SpendTable: Sendable, Hashable, Codable {
    var keys = KeyTable()
    var rowStore: [SpendRow] = []
    /// Charges (or corrections) whose payload could not be read: not counted in any row.
    public internal(set) var unreadableEvents: Int64 = 0
    /// True when an exact sum overflowed Int64.
    public internal(set) var overflowed = false
    /// The index of the key `""` once it has been looked up (-1 before): not part of the state.
    private var noneIndex = -1

    public init() {}

    /// One key and its row.
    public struct Entry: Hashable, Sendable, Codable {
        public var key: String
        public var row: SpendRow
    }

    /// The number of keys.
    public var count: Int { rowStore.count }

    /// Every key and its row, ordered by the key's UTF-8 bytes.
    public var entries: [Entry] {
        keys.sortedIndexes().map { Entry(key: keys.string(at: $0), row: rowStore[$0]) }
    }

    /// The row of `key` (`""` for charges without a value), or nil.
    public subscript(key: String) -> SpendRow? {
        keys.find(key).map { rowStore[$0] }
    }

    /// The sum of every row.
    public var total: SpendRow {
        var total = SpendRow()
        for row in rowStore { _ = total.add(row) }
        return total
    }

    // MARK: Folding

    /// Folds one charge (nil: its payload could not be read) into the row of `key`.
    @inline(__always)
    mutating func record(_ usage: UsageFields?, key: UnsafeRawBufferPointer?, at time: Int64) {
        guard let usage else {
            unreadableEvents += 1
            return
        }
        let index = rowIndex(key)
        let overflow = rowStore.withUnsafeMutableBufferPointer { $0[index].add(usage, at: time) }
        if overflow { overflowed = true }
    }

    /// Folds one correction (nil: unreadable) into the row of `key`.
    mutating func record(correction delta: Int64?, key: UnsafeRawBufferPointer?) {
        guard let delta else {
            unreadableEvents += 1
            return
        }
        let index = rowIndex(key)
        if rowStore[index].correct(by: delta) { overflowed = true }
    }

    @inline(__always)
    private mutating func rowIndex(_ key: UnsafeRawBufferPointer?) -> Int {
        guard let key, key.count > 0 else { return noneRowIndex() }
        let index = keys.index(of: key)
        if index == rowStore.count { rowStore.append(SpendRow()) }
        return index
    }

    /// The row of `""` (charges without a value for the dimension), looked up once.
    @inline(__always)
    private mutating func noneRowIndex() -> Int {
        if noneIndex >= 0 { return noneIndex }
        let index = keys.index(of: UnsafeRawBufferPointer(start: nil, count: 0))
        if index == rowStore.count { rowStore.append(SpendRow()) }
        noneIndex = index
        return index
    }

    // MARK: Merging (range-split folds)

    /// Adds `later`, the table folded from zero over the events right after this table's, so that
    /// this table becomes the one a single fold over both ranges makes: rows of the same key add
    /// up, keys new in `later` are appended in `later`'s order (the order one fold would have seen
    /// them in; encodings sort keys anyway). Returns false, with this table in an unspecified
    /// state, when the result might differ from one fold's: `later` overflowed (its sums started
    /// from zero, not from this table's) or an exact sum overflows now.
    mutating func merge(later: SpendTable) -> Bool {
        guard !later.overflowed else { return false }
        let (sum, over) = unreadableEvents.addingReportingOverflow(later.unreadableEvents)
        guard !over else { return false }
        unreadableEvents = sum
        var exact = true
        later.keys.arena.withUnsafeBytes { arena in
            for index in 0..<later.rowStore.count {
                let start = later.keys.starts[index]
                let key = UnsafeRawBufferPointer(rebasing: arena[start..<later.keys.starts[index + 1]])
                let mine = keys.index(of: key)
                if mine == rowStore.count { rowStore.append(SpendRow()) }
                if !rowStore[mine].merge(later.rowStore[index]) { exact = false }
            }
        }
        return exact
    }

    // MARK: Equality and coding

    public static func == (lhs: SpendTable, rhs: SpendTable) -> Bool {
        lhs.unreadableEvents == rhs.unreadableEvents && lhs.overflowed == rhs.overflowed && lhs.entries == rhs.entries
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(unreadableEvents)
        hasher.combine(overflowed)
        hasher.combine(entries)
    }

    enum CodingKeys: String, CodingKey { case rows, unreadableEvents = "unreadable_events", overflowed }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        unreadableEvents = try container.decode(Int64.self, forKey: .unreadableEvents)
        overflowed = try container.decode(Bool.self, forKey: .overflowed)
        for entry in try container.decode([Entry].self, forKey: .rows) {
            try insert(entry.key, entry.row)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(entries, forKey: .rows)
        try container.encode(unreadableEvents, forKey: .unreadableEvents)
        try container.encode(overflowed, forKey: .overflowed)
    }

    private mutating func insert(_ key: String, _ row: SpendRow) throws {
        var key = key
        let index = key.withUTF8 { keys.index(of: UnsafeRawBufferPointer($0)) }
        guard index == rowStore.count else {
            throw ProjectionError(.stateEncoding, "the key \(key) appears twice in a spend table")
        }
        rowStore.append(row)
    }

    /// The canonical binary form: counters, then rows in key-byte order.
    func encoded() -> [UInt8] {
        var writer = StateWriter(capacity: 16 + count * (SpendRow.encodedBytes + 24))
        writer.writeHeader(unreadableEvents: unreadableEvents, overflowed: overflowed)
        writer.write(UInt32(count))
        for index in keys.sortedIndexes() {
            keys.key(at: index).withUnsafeBytes { writer.write($0) }
            rowStore[index].write(to: &writer)
        }
        return writer.bytes
    }

    init(encoded bytes: [UInt8]) throws {
        var reader = StateReader(bytes)
        (unreadableEvents, overflowed) = try reader.readHeader()
        let count = try reader.readCount(minimumBytesEach: 4 + SpendRow.encodedBytes)
        rowStore.reserveCapacity(count)
        for _ in 0..<count {
            let key = try reader.readBytes()
            let index = key.withUnsafeBytes { keys.index(of: $0) }
            guard index == rowStore.count else { throw ProjectionError(.stateEncoding, "a key appears twice in a spend table") }
            rowStore.append(try SpendRow.read(from: &reader))
        }
        try reader.finish()
    }
}

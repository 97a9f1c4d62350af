public import LedgerCore

/// A dimension spend can be grouped by: each names one of the envelope's string dimensions.
public enum SpendDimension: String, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    case agent, model, client, project, task, vendor

    /// The index of the dimension in ``LedgerCore/Dimensions/stringFieldNames``.
    public var fieldIndex: Int {
        switch self {
        case .agent: 0
        case .client: 1
        case .project: 2
        case .task: 3
        case .model: 5
        case .vendor: 6
        }
    }

    public var description: String { rawValue }
}

/// Spend by agent, model, client, project, task or vendor: the exact cost, calls, tokens, tool
/// calls, retries and first/last time of every key.
///
/// Guarantees: every `usage.recorded` event is counted once, in the row of its envelope's value
/// for the dimension (`""` when it has none), so the rows sum to the exact total of all charges.
/// A `correction.recorded` event adds its `delta` to the cost of the row of *its own* envelope's
/// value; corrections made with ``LedgerCore/ProposedEvent/correction(of:delta:reason:id:)`` copy
/// the corrected charge's dimensions, so the delta lands in the corrected charge's row. A payload
/// that cannot be read is counted in ``SpendTable/unreadableEvents``, never as zero.
///
/// Name `spend.by_<dimension>`, version 1. Folds events in place (no allocation per event once
/// a key has been seen).
public struct SpendByDimension: EncodedProjection {
    public let dimension: SpendDimension

    public init(_ dimension: SpendDimension) { self.dimension = dimension }

    public var name: String { "spend.by_" + dimension.rawValue }
    public var version: UInt32 { 1 }
    public var initialState: SpendTable { SpendTable() }

    public func apply(encoded event: EventView, to state: inout SpendTable) {
        switch BuiltinEvent.classify(event) {
        case .usage:
            state.record(UsageFields.read(event), key: event.dimension(dimension.fieldIndex), at: event.occurredAt.nanosecondsSinceEpoch)
        case .correction:
            state.record(correction: CorrectionFields.delta(event), key: event.dimension(dimension.fieldIndex))
        default:
            break
        }
    }

    public func encodeState(_ state: SpendTable) throws -> [UInt8] { state.encoded() }
    public func decodeState(_ bytes: [UInt8]) throws -> SpendTable { try SpendTable(encoded: bytes) }
}

/// Spend per hour (UTC, by `occurredAt`): the burn of the whole ledger, hour by hour.
///
/// Guarantees: each charge is counted once, in the hour that contains its `occurredAt`
/// (`[h, h + 1 h)`); corrections add their delta to the hour of their own `occurredAt` (the
/// corrected charge's, when made with ``LedgerCore/ProposedEvent/correction(of:delta:reason:id:)``).
/// Keys are the hours' start instants. Name `spend.per_hour`, version 1.
public struct SpendPerHour: EncodedProjection {
    public init() {}

    public var name: String { "spend.per_hour" }
    public var version: UInt32 { 1 }
    public var initialState: HourlySpend { HourlySpend() }

    public func apply(encoded event: EventView, to state: inout HourlySpend) {
        switch BuiltinEvent.classify(event) {
        case .usage: state.record(UsageFields.read(event), at: event.occurredAt.nanosecondsSinceEpoch)
        case .correction: state.record(correction: CorrectionFields.delta(event), at: event.occurredAt.nanosecondsSinceEpoch)
        default: break
        }
    }

    public func encodeState(_ state: HourlySpend) throws -> [UInt8] { state.encoded() }
    public func decodeState(_ bytes: [UInt8]) throws -> HourlySpend { try HourlySpend(encoded: bytes) }
}

/// Spend per UTC hour, the state of ``SpendPerHour``.
///
/// Guarantees: one row per hour that saw a charge or a correction, keyed by the hour's first
/// instant; the rows sum to the exact total. Equal states encode to identical bytes.
public struct HourlySpend: Sendable, Hashable, Codable {
    var index: [Int64: Int] = [:]
    var hours: [Int64] = []
    var rowStore: [SpendRow] = []
    private var lastHour: Int64 = .min
    private var lastIndex = 0
    public internal(set) var unreadableEvents: Int64 = 0
    public internal(set) var overflowed = false

    public init() {}

    public struct Entry: Hashable, Sendable, Codable {
        /// The hour's first instant (UTC).
        public var hourStart: LedgerTime
        public var row: SpendRow

        enum CodingKeys: String, CodingKey { case hourStart = "hour_start_ns", row }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            hourStart = LedgerTime(nanosecondsSinceEpoch: try container.decode(Int64.self, forKey: .hourStart))
            row = try container.decode(SpendRow.self, forKey: .row)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(hourStart.nanosecondsSinceEpoch, forKey: .hourStart)
            try container.encode(row, forKey: .row)
        }

        init(hourStart: LedgerTime, row: SpendRow) {
            self.hourStart = hourStart
            self.row = row
        }
    }

    /// Every hour with spend, in time order.
    public var entries: [Entry] {
        hours.indices.sorted { hours[$0] < hours[$1] }.map {
            Entry(hourStart: LedgerTime(nanosecondsSinceEpoch: hours[$0]), row: rowStore[$0])
        }
    }

    /// The sum of every hour.
    public var total: SpendRow {
        var total = SpendRow()
        for row in rowStore { _ = total.add(row) }
        return total
    }

    static let hourNanos: Int64 = 3_600_000_000_000

    /// The start of the hour containing `time` (floor, also before 1970).
    static func hourStart(_ time: Int64) -> Int64 {
        let quotient = time / hourNanos
        let floor = time % hourNanos < 0 ? quotient - 1 : quotient
        return floor * hourNanos
    }

    @inline(__always)
    mutating func record(_ usage: UsageFields?, at time: Int64) {
        guard let usage else {
            unreadableEvents += 1
            return
        }
        let index = rowIndex(hour: Self.hourStart(time))
        if rowStore[index].add(usage, at: time) { overflowed = true }
    }

    mutating func record(correction delta: Int64?, at time: Int64) {
        guard let delta else {
            unreadableEvents += 1
            return
        }
        let index = rowIndex(hour: Self.hourStart(time))
        if rowStore[index].correct(by: delta) { overflowed = true }
    }

    @inline(__always)
    mutating func rowIndex(hour: Int64) -> Int {
        if hour == lastHour { return lastIndex }
        let found: Int
        if let existing = index[hour] {
            found = existing
        } else {
            found = rowStore.count
            index[hour] = found
            hours.append(hour)
            rowStore.append(SpendRow())
        }
        lastHour = hour
        lastIndex = found
        return found
    }

    /// Adds `later`, the hours folded from zero over the events right after this state's, so that
    /// this becomes the state one fold over both ranges makes (see ``SpendTable/merge(later:)``).
    /// Returns false, with this state unspecified, when the result might differ from one fold's.
    mutating func merge(later: HourlySpend) -> Bool {
        guard !later.overflowed else { return false }
        let (sum, over) = unreadableEvents.addingReportingOverflow(later.unreadableEvents)
        guard !over else { return false }
        unreadableEvents = sum
        var exact = true
        for position in later.hours.indices {
            let mine = rowIndex(hour: later.hours[position])
            if !rowStore[mine].merge(later.rowStore[position]) { exact = false }
        }
        return exact
    }

    public static func == (lhs: HourlySpend, rhs: HourlySpend) -> Bool {
        lhs.unreadableEvents == rhs.unreadableEvents && lhs.overflowed == rhs.overflowed && lhs.entries == rhs.entries
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(entries) }

    enum CodingKeys: String, CodingKey { case hours, unreadableEvents = "unreadable_events", overflowed }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        unreadableEvents = try container.decode(Int64.self, forKey: .unreadableEvents)
        overflowed = try container.decode(Bool.self, forKey: .overflowed)
        for entry in try container.decode([Entry].self, forKey: .hours) {
            rowStore[rowIndex(hour: entry.hourStart.nanosecondsSinceEpoch)] = entry.row
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(entries, forKey: .hours)
        try container.encode(unreadableEvents, forKey: .unreadableEvents)
        try container.encode(overflowed, forKey: .overflowed)
    }

    func encoded() -> [UInt8] {
        var writer = StateWriter(capacity: 16 + hours.count * (SpendRow.encodedBytes + 8))
        writer.writeHeader(unreadableEvents: unreadableEvents, overflowed: overflowed)
        writer.write(UInt32(hours.count))
        for position in hours.indices.sorted(by: { hours[$0] < hours[$1] }) {
            writer.write(hours[position])
            rowStore[position].write(to: &writer)
        }
        return writer.bytes
    }

    init(encoded bytes: [UInt8]) throws {
        var reader = StateReader(bytes)
        (unreadableEvents, overflowed) = try reader.readHeader()
        let count = try reader.readCount(minimumBytesEach: 8 + SpendRow.encodedBytes)
        for _ in 0..<count {
            let hour: Int64 = try reader.read()
            guard index[hour] == nil else { throw ProjectionError(.stateEncoding, "an hour appears twice") }
            rowStore[rowIndex(hour: hour)] = try SpendRow.read(from: &reader)
        }
        try reader.finish()
    }
}

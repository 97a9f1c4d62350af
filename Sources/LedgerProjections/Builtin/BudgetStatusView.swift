import Foundation
public import LedgerCore
public import LedgerDomain

/// Budget status: for every budget, what its scope has spent in each period, what is reserved
/// against it, and which thresholds it crossed; ``BudgetBook/status(at:)`` turns that into limit,
/// spent, reserved, remaining, percent, burn rate and the forecast day the budget runs out.
///
/// Guarantees:
/// - **Spent** is the exact sum of the `usage.recorded` costs (plus `correction.recorded` deltas)
///   whose envelope matches the budget's scope (``LedgerDomain/BudgetScope/matches(_:metadata:)``,
///   evaluated in place with the same rules), attributed to the calendar period (day, ISO week,
///   month in the budget's time zone; all time for `none`) that contains the charge's
///   `occurredAt`. A late charge lands in the period it happened in.
/// - **Reserved** is the sum of the reservations held on the budget's stream (`spend.reserved`)
///   and not yet released there (`spend.released`), so a settled call is never counted twice: its
///   reservation is released and its usage is spent.
/// - **Thresholds crossed** are the `budget.threshold_crossed` events of the budget in the period.
///
/// Budgets are the streams `budget:<id>`; a `budget.defined` event there defines (or redefines)
/// one. A redefinition that changes the period or the time zone counts only the periods of the new
/// kind. Name `budgets`, version 1.
public struct BudgetStatusView: EncodedProjection {
    public init() {}

    public var name: String { "budgets" }
    public var version: UInt32 { 1 }
    public var initialState: BudgetBook { BudgetBook() }

    public func apply(encoded event: EventView, to state: inout BudgetBook) {
        switch BuiltinEvent.classify(event) {
        case .usage: state.record(UsageFields.read(event), event, event.dimensionTable)
        case .correction: state.record(correction: CorrectionFields.delta(event), event, event.dimensionTable)
        case .other: if event.streamHasPrefix("budget:") { state.applyBudgetEvent(event) }
        default: break
        }
    }

    public func encodeState(_ state: BudgetBook) throws -> [UInt8] { try state.encoded() }
    public func decodeState(_ bytes: [UInt8]) throws -> BudgetBook { try BudgetBook(encoded: bytes) }
}

/// One period's spend of a budget: the exact sum of the matching charges that occurred in the window.
public struct PeriodSpend: Hashable, Sendable, Codable {
    public var window: PeriodWindow
    public var spentNanos: Int64
    public var calls: Int64

    enum CodingKeys: String, CodingKey { case window, spentNanos = "spent_nanos", calls }
}

/// A threshold crossing recorded on a budget's stream, kept as recorded (never inferred).
public struct ThresholdMark: Hashable, Sendable, Codable {
    public var percent: Int
    public var periodStart: Int64
    public var occurredAt: Int64

    enum CodingKeys: String, CodingKey { case percent, periodStart = "period_start_ns", occurredAt = "occurred_at_ns" }
}

/// Everything the budget view knows about one budget: its latest definition, its spend per
/// period, its open reservations and its threshold crossings — facts from the log only; the
/// derived figures are computed for an instant by ``BudgetBook/status(at:)``.
public struct BudgetAccount: Hashable, Sendable, Codable {
    /// The id: the budget's stream without `budget:`.
    public var id: String
    public var definition: BudgetDefinition
    /// `occurredAt` of the first definition: where burn is measured from for a budget without periods.
    public var definedAt: Int64
    /// Spend per period window, ordered by window start.
    public var spent: [PeriodSpend] = []
    /// Open reservations on the budget's stream: reservation id → amount in nanos.
    public var reservations: [EventID: Int64] = [:]
    public var thresholds: [ThresholdMark] = []
    /// True when an exact sum overflowed Int64.
    public var overflowed = false

    enum CodingKeys: String, CodingKey {
        case id, definition, definedAt = "defined_at_ns", spent, reservations, thresholds, overflowed
    }

    init(id: String, definition: BudgetDefinition, definedAt: Int64) {
        self.id = id
        self.definition = definition
        self.definedAt = definedAt
    }

    /// Reservations encode as an array ordered by id, so the encoding is canonical.
    private struct Hold: Codable {
        var reservation: String
        var amountNanos: Int64
        enum CodingKeys: String, CodingKey { case reservation, amountNanos = "amount_nanos" }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        definition = try container.decode(BudgetDefinition.self, forKey: .definition)
        definedAt = try container.decode(Int64.self, forKey: .definedAt)
        spent = try container.decode([PeriodSpend].self, forKey: .spent)
        for hold in try container.decode([Hold].self, forKey: .reservations) {
            guard let reservation = EventID(hold.reservation) else {
                throw ProjectionError(.stateEncoding, "a reservation id is not a UUID")
            }
            reservations[reservation] = hold.amountNanos
        }
        thresholds = try container.decode([ThresholdMark].self, forKey: .thresholds)
        overflowed = try container.decode(Bool.self, forKey: .overflowed)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(definition, forKey: .definition)
        try container.encode(definedAt, forKey: .definedAt)
        try container.encode(spent, forKey: .spent)
        try container.encode(
            reservations.keys.sorted().map { Hold(reservation: $0.description, amountNanos: reservations[$0]!) }, forKey: .reservations)
        try container.encode(thresholds, forKey: .thresholds)
        try container.encode(overflowed, forKey: .overflowed)
    }
}

/// What the budget view folds into: one ``BudgetAccount`` per budget, in id order.
///
/// Guarantees: equal books encode to identical bytes (the per-budget matchers kept beside the
/// accounts for speed are derived, never encoded or compared).
public struct BudgetBook: Sendable, Hashable, Codable {
    /// Every defined budget, ordered by id.
    public internal(set) var accounts: [BudgetAccount] = []
    /// Budget events or charges whose payload could not be read.
    public internal(set) var unreadableEvents: Int64 = 0
    var runtime: [BudgetRuntime] = []

    public init() {}

    /// The account of budget `id`, or nil.
    public subscript(id: String) -> BudgetAccount? { accounts.first { $0.id == id } }

    // MARK: Folding

    /// Folds one charge (nil: unreadable) into every budget whose scope matches it.
    @inline(__always)
    mutating func record(_ usage: UsageFields?, _ event: EventView, _ dimensions: DimensionTable) {
        guard !accounts.isEmpty else { return }
        guard let usage else {
            unreadableEvents += 1
            return
        }
        charge(event, dimensions, amount: usage.cost, calls: 1)
    }

    /// Folds one correction (nil: unreadable) into every budget whose scope matches it.
    mutating func record(correction delta: Int64?, _ event: EventView, _ dimensions: DimensionTable) {
        guard !accounts.isEmpty else { return }
        guard let delta else {
            unreadableEvents += 1
            return
        }
        charge(event, dimensions, amount: delta, calls: 0)
    }

    @inline(__always)
    mutating func charge(_ event: EventView, _ dimensions: DimensionTable, amount: Int64, calls: Int64) {
        let time = event.occurredAt.nanosecondsSinceEpoch
        runtime.withUnsafeMutableBufferPointer { runtime in
            accounts.withUnsafeMutableBufferPointer { accounts in
                for index in 0..<accounts.count where runtime[index].matcher.matches(event, dimensions) {
                    accounts[index].add(amount, calls: calls, at: time, runtime: &runtime[index])
                }
            }
        }
    }

    /// An event on a `budget:` stream: a definition, a reservation, a release or a crossing.
    mutating func applyBudgetEvent(_ event: EventView) {
        let id = UnsafeRawBufferPointer(rebasing: event.stream[7...])
        if event.hasType("budget.defined") {
            guard let recorded = try? event.decoded(), let defined = try? recorded.decode(as: BudgetDefined.self) else {
                unreadableEvents += 1
                return
            }
            define(String(decoding: id, as: UTF8.self), defined.definition, at: event.occurredAt.nanosecondsSinceEpoch)
            return
        }
        guard let index = runtime.firstIndex(where: { ScopeMatcher.equal(id, $0.id) }) else { return }
        if event.hasType("spend.reserved") {
            guard let (amount, reservation) = Self.reservation(event.payload) else {
                unreadableEvents += 1
                return
            }
            accounts[index].reservations[reservation] = amount
        } else if event.hasType("spend.released") {
            guard let (_, reservation) = Self.reservation(event.payload) else {
                unreadableEvents += 1
                return
            }
            accounts[index].reservations[reservation] = nil
        } else if event.hasType("budget.threshold_crossed") {
            guard let recorded = try? event.decoded(), let crossed = try? recorded.decode(as: ThresholdCrossed.self) else {
                unreadableEvents += 1
                return
            }
            accounts[index].thresholds.append(
                ThresholdMark(
                    percent: crossed.percent, periodStart: crossed.periodStart,
                    occurredAt: event.occurredAt.nanosecondsSinceEpoch))
        }
    }

    /// The amount and id of a `spend.reserved` or `spend.released` payload (a release's amount
    /// is not used).
    static func reservation(_ payload: UnsafeRawBufferPointer) -> (Int64, EventID)? {
        if let fast = FlatJSON.reservationFast(payload) { return fast }
        var reservation: EventID?
        var amount: Int64?
        let ok = FlatJSON.forEachMember(payload) { key, value in
            if FlatJSON.key(key, is: "reservation") {
                reservation = FlatJSON.uuid(value)
            } else if FlatJSON.key(key, is: "amount_nanos") {
                amount = FlatJSON.integer(value)
            }
        }
        guard ok, let reservation, let amount else { return nil }
        return (amount, reservation)
    }

    private mutating func define(_ id: String, _ definition: BudgetDefinition, at time: Int64) {
        if let index = accounts.firstIndex(where: { $0.id == id }) {
            accounts[index].definition = definition
            runtime[index] = BudgetRuntime(id: id, definition)
            return
        }
        let index = accounts.firstIndex { $0.id.utf8.lexicographicallyPrecedes(id.utf8) == false } ?? accounts.count
        accounts.insert(BudgetAccount(id: id, definition: definition, definedAt: time), at: index)
        runtime.insert(BudgetRuntime(id: id, definition), at: index)
    }

    // MARK: Status

    /// The status of every budget at `time`: the period containing `time`, its spend, the open
    /// reservations, and the burn rate and forecast measured from the period's start to `time`.
    public func status(at time: LedgerTime) -> [BudgetStatus] {
        accounts.map { BudgetStatus(account: $0, at: time) }
    }

    // MARK: Equality and coding

    public static func == (lhs: BudgetBook, rhs: BudgetBook) -> Bool {
        lhs.accounts == rhs.accounts && lhs.unreadableEvents == rhs.unreadableEvents
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(accounts)
        hasher.combine(unreadableEvents)
    }

    enum CodingKeys: String, CodingKey { case accounts = "budgets", unreadableEvents = "unreadable_events" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accounts = try container.decode([BudgetAccount].self, forKey: .accounts)
        unreadableEvents = try container.decode(Int64.self, forKey: .unreadableEvents)
        guard zip(accounts, accounts.dropFirst()).allSatisfy({ $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }) else {
            throw ProjectionError(.stateEncoding, "budget accounts are not in id order")
        }
        runtime = accounts.map { BudgetRuntime(id: $0.id, $0.definition) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accounts, forKey: .accounts)
        try container.encode(unreadableEvents, forKey: .unreadableEvents)
    }

    /// The canonical binary form (what snapshots store and the state hash covers): accounts in id
    /// order, each with its definition as sorted-key JSON, its periods in order and its
    /// reservations ordered by id.
    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var writer = StateWriter(capacity: 64 + accounts.count * 256)
        writer.write(UInt8(1))
        writer.write(unreadableEvents)
        writer.write(UInt32(accounts.count))
        for account in accounts {
            writer.write(account.id)
            let definition = Array(try encoder.encode(account.definition))
            definition.withUnsafeBytes { writer.write($0) }
            writer.write(account.definedAt)
            writer.write(account.overflowed)
            writer.write(UInt32(account.spent.count))
            for period in account.spent {
                writer.write(period.window.start)
                writer.write(period.window.end)
                writer.write(period.spentNanos)
                writer.write(period.calls)
            }
            writer.write(UInt32(account.reservations.count))
            for id in account.reservations.keys.sorted() {
                writer.write(id.high)
                writer.write(id.low)
                writer.write(account.reservations[id]!)
            }
            writer.write(UInt32(account.thresholds.count))
            for mark in account.thresholds {
                writer.write(Int64(mark.percent))
                writer.write(mark.periodStart)
                writer.write(mark.occurredAt)
            }
        }
        return writer.bytes
    }

    init(encoded bytes: [UInt8]) throws {
        var reader = StateReader(bytes)
        guard try reader.read(UInt8.self) == 1 else { throw StateReader.Truncated() }
        unreadableEvents = try reader.read()
        let count = try reader.readCount(minimumBytesEach: 16)
        let decoder = JSONDecoder()
        for _ in 0..<count {
            let id = try reader.readString()
            let definition = try decoder.decode(BudgetDefinition.self, from: Data(try reader.readBytes()))
            var account = BudgetAccount(id: id, definition: definition, definedAt: try reader.read())
            account.overflowed = try reader.readBool()
            for _ in 0..<(try reader.readCount(minimumBytesEach: 32)) {
                let window = PeriodWindow(start: try reader.read(), end: try reader.read())
                account.spent.append(PeriodSpend(window: window, spentNanos: try reader.read(), calls: try reader.read()))
            }
            for _ in 0..<(try reader.readCount(minimumBytesEach: 24)) {
                let id = EventID(high: try reader.read(), low: try reader.read())
                account.reservations[id] = try reader.read()
            }
            for _ in 0..<(try reader.readCount(minimumBytesEach: 24)) {
                let percent: Int64 = try reader.read()
                account.thresholds.append(
                    ThresholdMark(percent: Int(percent), periodStart: try reader.read(), occurredAt: try reader.read()))
            }
            if let last = accounts.last, !last.id.utf8.lexicographicallyPrecedes(id.utf8) {
                throw ProjectionError(.stateEncoding, "budget accounts are not in id order")
            }
            accounts.append(account)
        }
        try reader.finish()
        runtime = accounts.map { BudgetRuntime(id: $0.id, $0.definition) }
    }
}

extension BudgetAccount {
    mutating func add(_ amount: Int64, calls: Int64, at time: Int64, runtime: inout BudgetRuntime) {
        if runtime.index < 0 || !runtime.window.contains(time) {
            let window = BudgetCalendar.window(containing: time, period: definition.period, timeZone: definition.timeZone)
            var low = 0
            var high = spent.count
            while low < high {
                let mid = (low + high) / 2
                if spent[mid].window.start < window.start { low = mid + 1 } else { high = mid }
            }
            if low == spent.count || spent[low].window != window {
                spent.insert(PeriodSpend(window: window, spentNanos: 0, calls: 0), at: low)
            }
            runtime.window = window
            runtime.index = low
        }
        let (sum, overflow) = spent[runtime.index].spentNanos.addingReportingOverflow(amount)
        spent[runtime.index].spentNanos = sum
        spent[runtime.index].calls += calls
        if overflow { overflowed = true }
    }
}

/// The per-budget helpers the fold keeps beside the state: the scope matcher over event bytes and
/// the last period window charged.
struct BudgetRuntime: Sendable {
    /// The budget id's UTF-8 bytes, to find the budget of a `budget:` stream without a `String`.
    let id: [UInt8]
    var matcher: ScopeMatcher
    var window = PeriodWindow(start: 0, end: 0)
    var index = -1

    init(id: String, _ definition: BudgetDefinition) {
        self.id = Array(id.utf8)
        matcher = ScopeMatcher(definition.scope)
    }
}

/// ``LedgerDomain/BudgetScope/matches(_:metadata:)`` over an event read in place.
struct ScopeMatcher: Sendable {
    let kind: BudgetScope.Kind
    let field: Int
    let value: [UInt8]?
    let tags: [(key: [UInt8], value: [UInt8])]

    init(_ scope: BudgetScope) {
        kind = scope.kind
        switch scope.kind {
        case .agent: field = 0
        case .client: field = 1
        case .project: field = 2
        case .model: field = 5
        case .org, .tags: field = -1
        }
        value = scope.value.map { Array($0.utf8) }
        tags = scope.tags.map { (Array($0.key.utf8), Array($0.value.utf8)) }
    }

    @inline(__always)
    func matches(_ event: EventView, _ dimensions: DimensionTable) -> Bool {
        switch kind {
        case .org: return true
        case .tags:
            for tag in tags {
                let found = tag.key.withUnsafeBytes { event.metadataValue(forKey: $0) }
                guard let found, Self.equal(found, tag.value) else { return false }
            }
            return true
        case .agent, .client, .project, .model:
            let found = dimensions[field]
            guard let value else { return found == nil }
            guard let found else { return false }
            return Self.equal(found, value)
        }
    }

    @inline(__always)
    static func equal(_ bytes: UnsafeRawBufferPointer, _ value: [UInt8]) -> Bool {
        guard bytes.count == value.count else { return false }
        if value.isEmpty { return true }
        return value.withUnsafeBytes { memcmp($0.baseAddress!, bytes.baseAddress!, value.count) == 0 }
    }
}

/// A budget's figures at one instant.
///
/// Guarantees: exact integers throughout. `remaining = limit - spent - reserved` (negative when
/// over). `percentBasisPoints` is `spent × 10000 / limit` rounded down (nil for a zero limit).
/// `burnRatePerHour` is the period's spend divided by the hours elapsed from the period's start
/// (for a budget without periods: from its definition) to the instant, rounded down.
/// `runsOutAt` extrapolates that rate: the instant `remaining` would be spent, if that falls
/// inside the period; nil when the budget is not spending, already exhausted, or lasts the period.
public struct BudgetStatus: Hashable, Sendable {
    public var id: String
    public var scope: BudgetScope
    public var period: BudgetPeriod
    /// The current period (nil bounds for a budget without periods).
    public var periodStart: LedgerTime?
    public var periodEnd: LedgerTime?
    public var limit: Money
    public var hard: Bool
    public var spent: Money
    public var calls: Int64
    public var reserved: Money
    public var remaining: Money
    public var percentBasisPoints: Int64?
    /// The thresholds (percent) crossed in the current period, ascending.
    public var thresholdsCrossed: [Int]
    public var burnRatePerHour: Money
    public var runsOutAt: LedgerTime?
    /// True when nothing is left (`remaining <= 0`).
    public var exhausted: Bool
    /// True when an exact sum overflowed Int64 (the figures must not be used).
    public var overflowed: Bool

    init(account: BudgetAccount, at time: LedgerTime) {
        let definition = account.definition
        let now = time.nanosecondsSinceEpoch
        let window = BudgetCalendar.window(containing: now, period: definition.period, timeZone: definition.timeZone)
        id = account.id
        scope = definition.scope
        period = definition.period
        periodStart = window == .always ? nil : LedgerTime(nanosecondsSinceEpoch: window.start)
        periodEnd = window == .always ? nil : LedgerTime(nanosecondsSinceEpoch: window.end)
        limit = definition.limit
        hard = definition.hard
        var spentNanos: Int128 = 0
        var callCount: Int64 = 0
        for bucket in account.spent where bucket.window.start >= window.start && bucket.window.end <= window.end {
            spentNanos += Int128(bucket.spentNanos)
            callCount += bucket.calls
        }
        let reservedNanos = account.reservations.values.reduce(Int128(0)) { $0 + Int128($1) }
        let remainingNanos = Int128(definition.limit.nanos) - spentNanos - reservedNanos
        overflowed =
            account.overflowed || Int64(exactly: spentNanos) == nil || Int64(exactly: reservedNanos) == nil
            || Int64(exactly: remainingNanos) == nil
        func clamp(_ value: Int128) -> Int64 { Int64(clamping: value) }
        spent = Money(nanos: clamp(spentNanos))
        calls = callCount
        reserved = Money(nanos: clamp(reservedNanos))
        remaining = Money(nanos: clamp(remainingNanos))
        percentBasisPoints = definition.limit.nanos > 0 ? clamp(spentNanos * 10_000 / Int128(definition.limit.nanos)) : nil
        thresholdsCrossed = Array(
            Set(account.thresholds.filter { window.contains($0.periodStart) }.map(\.percent))
        ).sorted()
        exhausted = remainingNanos <= 0
        let from = window == .always ? account.definedAt : window.start
        let elapsed = Int128(now) - Int128(from)
        if elapsed > 0, spentNanos > 0 {
            burnRatePerHour = Money(nanos: clamp(spentNanos * 3_600_000_000_000 / elapsed))
            if remainingNanos > 0 {
                let at = Int128(now) + remainingNanos * elapsed / spentNanos
                runsOutAt = at < Int128(window.end) ? LedgerTime(nanosecondsSinceEpoch: clamp(at)) : nil
            } else {
                runsOutAt = nil
            }
        } else {
            burnRatePerHour = .zero
            runsOutAt = nil
        }
    }

    /// `spent / limit` as a percentage with two decimals (`"87.50"`), exact (rounded down).
    public var percentText: String? {
        percentBasisPoints.map { points in
            let sign = points < 0 ? "-" : ""
            let magnitude = points.magnitude
            let fraction = String(magnitude % 100)
            return sign + String(magnitude / 100) + "." + (fraction.count == 1 ? "0" + fraction : fraction)
        }
    }

    /// The UTC day (`YYYY-MM-DD`) of ``runsOutAt``.
    public var runsOutDay: String? { runsOutAt.map(BudgetCalendar.utcDay) }

    /// The scope as text: `org`, `client:acme`, `tags:env=prod,team=a`.
    public var scopeText: String {
        switch scope.kind {
        case .org: "org"
        case .tags: "tags:" + scope.tags.keys.sorted().map { "\($0)=\(scope.tags[$0]!)" }.joined(separator: ",")
        default: scope.kind.rawValue + ":" + (scope.value ?? "")
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

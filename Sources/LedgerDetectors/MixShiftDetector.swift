import LedgerCore

/// Mix shift: a model's or vendor's share of the fleet's spend over the last `windowMinutes`
/// against its share over the `historyHours` before the window.
///
/// Spend is kept per model and per vendor (and in total) in exact integer buckets: one per minute
/// for the window, one per hour for the history; a minute leaving the window moves into its hour.
/// The window ends at the newest occurred minute seen in the fleet; a late charge lands in its own
/// minute or hour bucket, or is dropped once older than the history. On each charge, for its model
/// and its vendor: when the fleet has `minimumHistoryMinutes` of history and spent at least
/// `minimumWindowSpend` in the window, a share `jumpPercent` points above the history's alerts —
/// once, re-armed when the jump falls below half of that. Severity: the jump ÷ `jumpPercent`.
struct MixShiftDetector: Sendable {
    enum Key: Hashable, Sendable {
        case model(String)
        case vendor(String)

        var text: String {
            switch self {
            case .model(let name): "model \(name)"
            case .vendor(let name): "vendor \(name)"
            }
        }
    }

    private let configuration: MixShiftConfiguration
    private let keysMax: Int
    private var total: SpendSeries
    private var series: [Key: SpendSeries] = [:]
    private var watermark = Int64.min
    private var firstMinute = Int64.min

    init(_ configuration: MixShiftConfiguration, keysMax: Int) {
        self.configuration = configuration
        self.keysMax = keysMax
        total = SpendSeries(windowMinutes: configuration.windowMinutes, historyHours: configuration.historyHours)
    }

    var keyCount: Int { series.count }

    mutating func observeCharge(
        model: String?, vendor: String?, costNanos: Int64, minute: Minute, at: LedgerTime, into findings: inout [Finding]
    ) {
        if firstMinute == .min { firstMinute = minute.index }
        watermark = max(watermark, minute.index)
        total.add(costNanos, minute: minute.index, now: watermark)
        if let model { observe(.model(model), costNanos: costNanos, minute: minute.index, at: at, into: &findings) }
        if let vendor { observe(.vendor(vendor), costNanos: costNanos, minute: minute.index, at: at, into: &findings) }
    }

    private mutating func observe(_ key: Key, costNanos: Int64, minute: Int64, at: LedgerTime, into findings: inout [Finding]) {
        if series.count >= keysMax, series[key] == nil { evict() }
        let judged =
            watermark - firstMinute >= Int64(configuration.minimumHistoryMinutes) && total.recent > 0 && total.history > 0
            && total.recent >= configuration.minimumWindowSpend.nanos
        let threshold = Double(configuration.jumpPercent)
        // One lookup: add, then judge the share and update the alert's arming in place.
        let shift: (recent: Int64, recentShare: Double, historyShare: Double)? = series[
            key, default: SpendSeries(windowMinutes: configuration.windowMinutes, historyHours: configuration.historyHours)
        ].add(costNanos, minute: minute, now: watermark, judgedAgainst: judged ? total : nil, jumpPoints: threshold)
        guard let shift else { return }
        let jumpPoints = (shift.recentShare - shift.historyShare) * 100
        let evidence =
            "\(key.text): \(Int((shift.recentShare * 100).rounded()))% of spend in the last \(configuration.windowMinutes) min "
            + "(\(Dollars.text(shift.recent)) of \(Dollars.text(total.recent))) vs "
            + "\(Int((shift.historyShare * 100).rounded()))% over the \(configuration.historyHours) h before; alerts at "
            + "+\(configuration.jumpPercent) points"
        findings.append(
            Finding(
                kind: .mixShift, severityMilli: AnomalyScore.severity(ratio: jumpPoints / threshold), evidence: evidence,
                agent: "", run: nil, at: at))
    }

    /// Forgets the quarter of the keys touched least recently (ties broken by name).
    private mutating func evict() {
        let order = series.map { (minute: $0.value.newest, key: $0.key) }.sorted { lhs, rhs in
            lhs.minute != rhs.minute ? lhs.minute < rhs.minute : lhs.key.text < rhs.key.text
        }
        for entry in order.prefix(max(1, series.count / 4)) { series[entry.key] = nil }
    }
}

/// Exact spend in a sliding window of minutes, and in hourly buckets for the hours before it.
struct SpendSeries: Sendable {
    private var minutes: [Int64]
    private var hours: [Int64]
    /// The newest minute the window holds (the window is `newest - W + 1 ... newest`).
    private(set) var newest = Int64.min
    /// The newest hour the history holds (the history is `newestHour - H + 1 ... newestHour`).
    private var newestHour = Int64.min
    private(set) var recent: Int64 = 0
    private(set) var history: Int64 = 0
    var alerted = false

    init(windowMinutes: Int, historyHours: Int) {
        minutes = [Int64](repeating: 0, count: windowMinutes)
        hours = [Int64](repeating: 0, count: historyHours)
    }

    /// Adds a charge; with `total` (the fleet's series, when a shift may be judged), returns the
    /// shares when this series' share rose `jumpPoints` above its history's and was armed. An
    /// alerted series re-arms once the rise falls below half of `jumpPoints`.
    mutating func add(
        _ cost: Int64, minute: Int64, now: Int64, judgedAgainst total: SpendSeries?, jumpPoints threshold: Double
    ) -> (recent: Int64, recentShare: Double, historyShare: Double)? {
        add(cost, minute: minute, now: now)
        guard let total else { return nil }
        let recentShare = Double(recent) / Double(total.recent)
        let historyShare = Double(history) / Double(total.history)
        let jump = (recentShare - historyShare) * 100
        if alerted {
            if jump < threshold / 2 { alerted = false }
            return nil
        }
        guard jump >= threshold else { return nil }
        alerted = true
        return (recent, recentShare, historyShare)
    }

    mutating func add(_ cost: Int64, minute: Int64, now: Int64) {
        advance(to: max(now, minute))
        let window = Int64(minutes.count)
        if minute > newest - window {
            minutes[Self.slot(minute, minutes.count)] &+= cost
            recent &+= cost
        } else {
            addToHistory(cost, hour: Self.hour(of: minute))
        }
    }

    private mutating func advance(to minute: Int64) {
        let window = Int64(minutes.count)
        if newest == .min {
            newest = minute
            newestHour = Self.hour(of: minute - window)
            return
        }
        guard minute > newest else { return }
        // Minutes leaving the window, oldest first, move into their hour.
        let leaving = min(minute - newest, window)
        let firstLeaving = newest - window + 1
        for offset in 0..<leaving {
            let old = firstLeaving + offset
            let slot = Self.slot(old, minutes.count)
            let value = minutes[slot]
            if value != 0 {
                minutes[slot] = 0
                recent &-= value
                addToHistory(value, hour: Self.hour(of: old))
            }
        }
        newest = minute
        advanceHours(to: Self.hour(of: minute - window))
    }

    private mutating func addToHistory(_ cost: Int64, hour: Int64) {
        advanceHours(to: hour)
        guard hour > newestHour - Int64(hours.count) else { return }  // older than the history
        hours[Self.slot(hour, hours.count)] &+= cost
        history &+= cost
    }

    private mutating func advanceHours(to hour: Int64) {
        if newestHour == .min {
            newestHour = hour
            return
        }
        guard hour > newestHour else { return }
        let steps = min(hour - newestHour, Int64(hours.count))
        for offset in 1...steps {
            let slot = Self.slot(hour - steps + offset, hours.count)
            history &-= hours[slot]
            hours[slot] = 0
        }
        newestHour = hour
    }

    private static func slot(_ index: Int64, _ count: Int) -> Int {
        let count = Int64(count)
        return Int(((index % count) + count) % count)
    }

    private static func hour(of minute: Int64) -> Int64 {
        minute >= 0 ? minute / 60 : (minute + 1) / 60 - 1
    }
}

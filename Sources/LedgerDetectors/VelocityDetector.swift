import LedgerCore

/// Velocity: one agent's calls per minute and spend per minute against its own baseline.
///
/// Minutes are buckets of the occurred clock. The open minute is judged as it fills: it becomes
/// anomalous as soon as its calls reach `max(k × baseline calls, calls floor)` or its spend
/// reaches `max(k × baseline spend, spend floor)`. The alert fires on the charge that makes the
/// `sustainMinutes`-th consecutive anomalous minute cross, and not again until a minute closes
/// normal (or the agent goes quiet for a minute): one alert per incident.
///
/// The baseline is an exponentially weighted moving average (weight α = `smoothing`) of the
/// agent's active minutes that closed normal; anomalous minutes never feed it, nor do minutes in
/// which another detector found a loop or a retry storm of the agent. It is bias-corrected
/// (divided by `1 − (1 − α)ⁿ` after n minutes) so a young agent's baseline is its plain average.
/// Until `warmupMinutes` minutes have fed it, a minute must reach k × the floors instead (the
/// floors themselves when k < 1).
///
/// Late charges (an occurred minute before the agent's open minute) are not counted: that minute
/// was already judged. The run the alert names is the majority run (by a Boyer–Moore vote over the
/// incident's charges, sub-agent runs counted for their root run): the run a halt should stop.
struct VelocityTracker: Sendable {
    struct Outcome {
        var closed: MinuteSample?
        var finding: Finding?
    }

    private var minute = Minute(index: .min)
    private var calls = 0
    private var cost: Int64 = 0
    private var retries = 0
    private var crossed = false
    /// Another detector found a runaway in this minute: keep it out of the baseline.
    private var excluded = false
    private var minuteRatio = 0.0
    private var callsThreshold = 1.0
    private var costThreshold = 1.0

    private var averageCalls = 0.0
    private var averageCost = 0.0
    /// (1 − α)ⁿ after n folded minutes, for the bias correction.
    private var decay = 1.0
    private var folded = 0

    /// Consecutive anomalous minutes closed right before the open one, and what they held.
    private var streak = 0
    private var streakCalls = 0
    private var streakCost: Int64 = 0
    private var streakPeak = 0.0
    private var incident = false

    private var candidate: String?
    private var votes = 0

    /// The run the current incident is mostly about.
    var suspectRun: String? { candidate }

    var baselineCalls: Double { folded == 0 ? 0 : averageCalls / (1 - decay) }
    var baselineCost: Double { folded == 0 ? 0 : averageCost / (1 - decay) }

    mutating func observe(
        minute current: Minute, costNanos: Int64, isRetry: Bool, voteFor run: String?, _ configuration: VelocityConfiguration
    ) -> Outcome {
        var outcome = Outcome()
        if current < minute { return outcome }  // late: its minute was already judged
        if current > minute {
            if minute.index != .min {
                outcome.closed = close(configuration)
                if current.index > minute.index + 1 { endIncident() }  // a quiet minute in between is normal
            }
            open(current, configuration)
        }
        calls += 1
        cost &+= costNanos
        if isRetry { retries += 1 }
        vote(run)
        let ratio = max(Double(calls) / callsThreshold, Double(cost) / costThreshold)
        if ratio >= 1 {
            crossed = true
            minuteRatio = max(minuteRatio, ratio)
        }
        if crossed, !incident, streak + 1 >= configuration.sustainMinutes {
            incident = true
            outcome.finding = finding(configuration)
        }
        return outcome
    }

    /// Keeps the open minute out of the baseline: another detector (a loop, a retry storm) found a
    /// runaway in it, even if the rates alone did not cross.
    mutating func exclude(_ minute: Minute) {
        if minute == self.minute { excluded = true }
    }

    /// Closes the open minute (at the end of history) and returns it.
    mutating func closeOpenMinute(_ configuration: VelocityConfiguration) -> MinuteSample? {
        guard minute.index != .min else { return nil }
        let sample = close(configuration)
        minute = Minute(index: .min)
        return sample
    }

    private mutating func open(_ next: Minute, _ configuration: VelocityConfiguration) {
        minute = next
        calls = 0
        cost = 0
        retries = 0
        crossed = false
        excluded = false
        minuteRatio = 0
        let k = configuration.multiplier
        let callsFloor = Double(configuration.callsPerMinuteFloor)
        let costFloor = Double(configuration.costPerMinuteFloor.nanos)
        if folded > 0, folded >= configuration.warmupMinutes {
            callsThreshold = max(callsFloor, k * baselineCalls)
            costThreshold = max(costFloor, k * baselineCost)
        } else {
            callsThreshold = max(1, k) * callsFloor
            costThreshold = max(1, k) * costFloor
        }
        callsThreshold = max(callsThreshold, 1)
        costThreshold = max(costThreshold, 1)
    }

    private mutating func close(_ configuration: VelocityConfiguration) -> MinuteSample {
        let sample = MinuteSample(
            minute: minute.start, costNanos: cost, calls: calls, retries: retries,
            baselineCostNanos: Dollars.nanos(baselineCost), baselineCalls: baselineCalls, anomalous: crossed || excluded)
        if crossed {
            streak += 1
            streakCalls += calls
            streakCost &+= cost
            streakPeak = max(streakPeak, minuteRatio)
        } else if excluded {
            endIncident()  // not a velocity incident, but not a baseline minute either
        } else {
            endIncident()
            let alpha = configuration.smoothing
            averageCalls = alpha * Double(calls) + (1 - alpha) * averageCalls
            averageCost = alpha * Double(cost) + (1 - alpha) * averageCost
            decay *= 1 - alpha
            folded += 1
        }
        return sample
    }

    private mutating func endIncident() {
        streak = 0
        streakCalls = 0
        streakCost = 0
        streakPeak = 0
        incident = false
        candidate = nil
        votes = 0
    }

    private mutating func vote(_ run: String?) {
        if votes == 0 {
            candidate = run
            votes = 1
        } else if candidate == run {
            votes += 1
        } else {
            votes -= 1
        }
    }

    private func finding(_ configuration: VelocityConfiguration) -> Finding {
        let minutes = streak + 1
        let perMinuteCalls = Double(streakCalls + calls) / Double(minutes)
        let perMinuteCost = Double(streakCost &+ cost) / Double(minutes)
        let warm = folded > 0 && folded >= configuration.warmupMinutes
        let against =
            warm
            ? "baseline \(Decimal1.text(baselineCalls)) calls/min (\(Dollars.text(baselineCost))/min)"
            : "no trusted baseline yet (\(folded) normal minutes)"
        let evidence =
            "\(Decimal1.text(perMinuteCalls)) calls/min (\(Dollars.text(perMinuteCost))/min) for \(minutes) min vs \(against); "
            + "alerts at \(Decimal1.text(configuration.multiplier))× and at least \(configuration.callsPerMinuteFloor) calls/min "
            + "or \(Dollars.text(configuration.costPerMinuteFloor.nanos))/min"
        let ratio = max(streakPeak, minuteRatio)
        return Finding(kind: .velocity, severityMilli: AnomalyScore.severity(ratio: ratio), evidence: evidence)
    }
}

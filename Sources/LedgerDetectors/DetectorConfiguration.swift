public import LedgerCore
public import LedgerDomain

/// Every threshold of every detector, and what each kind of alert does.
///
/// A value type: two detector sets with equal configurations fed the same events raise the same
/// alerts. ``default`` is tuned so that a 30-calls-a-minute retry loop is caught in about three
/// minutes while the ordinary bursts of a fleet are not (see `Docs/Detectors.md`).
public struct DetectorConfiguration: Sendable, Hashable {
    public var velocity: VelocityConfiguration
    public var spike: SpikeConfiguration
    public var retryStorm: RetryStormConfiguration
    public var loop: LoopConfiguration
    public var burnRate: BurnRateConfiguration
    public var mixShift: MixShiftConfiguration
    /// What each kind of alert does. A kind missing here notifies. `halt_run` on an alert that
    /// names no run, and `pause_agent` on one that names no agent, notify instead.
    public var policies: [AlertKind: DetectorAction]
    /// Alerts of one agent within this many minutes of each other reinforce each other's score
    /// (see ``AnomalyScore``).
    public var scoreWindowMinutes: Int
    /// Bounds on what the detectors remember.
    public var tracking: TrackingLimits

    /// Velocity, loop and retry storm halt the run (they are runaways in progress); spike, burn
    /// rate and mix shift notify (they are worth a look, not proof of a bug).
    public static let defaultPolicies: [AlertKind: DetectorAction] = [
        .velocity: .haltRun, .loop: .haltRun, .retryStorm: .haltRun,
        .spike: .notify, .burnRate: .notify, .mixShift: .notify,
    ]

    public static let `default` = DetectorConfiguration()

    public init(
        velocity: VelocityConfiguration = VelocityConfiguration(), spike: SpikeConfiguration = SpikeConfiguration(),
        retryStorm: RetryStormConfiguration = RetryStormConfiguration(), loop: LoopConfiguration = LoopConfiguration(),
        burnRate: BurnRateConfiguration = BurnRateConfiguration(), mixShift: MixShiftConfiguration = MixShiftConfiguration(),
        policies: [AlertKind: DetectorAction] = DetectorConfiguration.defaultPolicies, scoreWindowMinutes: Int = 15,
        tracking: TrackingLimits = TrackingLimits()
    ) {
        self.velocity = velocity
        self.spike = spike
        self.retryStorm = retryStorm
        self.loop = loop
        self.burnRate = burnRate
        self.mixShift = mixShift
        self.policies = policies
        self.scoreWindowMinutes = scoreWindowMinutes
        self.tracking = tracking
    }

    /// The action configured for `kind` (notify when none is).
    public func policy(for kind: AlertKind) -> DetectorAction { policies[kind] ?? .notify }

    /// The first setting that makes no sense, named as `section.field: why`; nil when all are valid.
    public func validationProblem() -> String? {
        let checks: [(Bool, String)] = [
            (velocity.multiplier > 0, "velocity.multiplier must be greater than 0"),
            (velocity.callsPerMinuteFloor >= 0, "velocity.callsPerMinuteFloor cannot be negative"),
            (velocity.costPerMinuteFloor >= .zero, "velocity.costPerMinuteFloor cannot be negative"),
            (velocity.sustainMinutes >= 1, "velocity.sustainMinutes must be at least 1"),
            (velocity.smoothing > 0 && velocity.smoothing <= 1, "velocity.smoothing must be in (0, 1]"),
            (velocity.warmupMinutes >= 0, "velocity.warmupMinutes cannot be negative"),
            (spike.multiple > 0, "spike.multiple must be greater than 0"),
            (spike.minimumCompletedRuns >= 1, "spike.minimumCompletedRuns must be at least 1"),
            (spike.historyRuns >= spike.minimumCompletedRuns, "spike.historyRuns must be at least minimumCompletedRuns"),
            (retryStorm.limit >= 0, "retryStorm.limit cannot be negative"),
            (retryStorm.windowMinutes >= 1, "retryStorm.windowMinutes must be at least 1"),
            (loop.repeats >= 2 && loop.toolRepeats >= 2, "loop.repeats and loop.toolRepeats must be at least 2"),
            (loop.windowMinutes >= 1, "loop.windowMinutes must be at least 1"),
            (
                loop.tolerancePercent >= 0 && loop.outputTolerancePercent >= 0 && loop.toleranceTokens >= 0,
                "loop tolerances cannot be negative"
            ),
            (burnRate.minimumElapsedMinutes >= 1, "burnRate.minimumElapsedMinutes must be at least 1"),
            ((0...100).contains(burnRate.minimumSpentPercent), "burnRate.minimumSpentPercent must be in 0...100"),
            (mixShift.windowMinutes >= 1, "mixShift.windowMinutes must be at least 1"),
            (mixShift.historyHours >= 1, "mixShift.historyHours must be at least 1"),
            ((1...100).contains(mixShift.jumpPercent), "mixShift.jumpPercent must be in 1...100"),
            (scoreWindowMinutes >= 0, "scoreWindowMinutes cannot be negative"),
            (tracking.agentsMax >= 16 && tracking.runsMax >= 16 && tracking.keysMax >= 16, "tracking limits must be at least 16"),
        ]
        return checks.first { !$0.0 }?.1
    }
}

/// Spend per minute and calls per minute of each agent against its own adaptive baseline.
///
/// A minute is anomalous when its calls reach `multiplier` × the baseline calls and the calls
/// floor, or its cost reaches `multiplier` × the baseline cost and the cost floor. The alert fires
/// when `sustainMinutes` consecutive minutes are anomalous. The baseline is an exponentially
/// weighted average over the agent's active, non-anomalous minutes.
public struct VelocityConfiguration: Sendable, Hashable {
    public var enabled: Bool
    /// k: how many times the baseline a minute must reach.
    public var multiplier: Double
    /// Calls in one minute below which the calls rate never alerts.
    public var callsPerMinuteFloor: Int
    /// Spend in one minute below which the spend rate never alerts.
    public var costPerMinuteFloor: Money
    /// Consecutive anomalous minutes needed (the current minute counts once it crosses).
    public var sustainMinutes: Int
    /// The EWMA weight of a new minute (0 < α ≤ 1).
    public var smoothing: Double
    /// Active minutes folded before the baseline is trusted; until then only the floors apply.
    public var warmupMinutes: Int

    public init(
        enabled: Bool = true, multiplier: Double = 5, callsPerMinuteFloor: Int = 10,
        costPerMinuteFloor: Money = Money(nanos: 250_000_000), sustainMinutes: Int = 3, smoothing: Double = 0.1,
        warmupMinutes: Int = 3
    ) {
        self.enabled = enabled
        self.multiplier = multiplier
        self.callsPerMinuteFloor = callsPerMinuteFloor
        self.costPerMinuteFloor = costPerMinuteFloor
        self.sustainMinutes = sustainMinutes
        self.smoothing = smoothing
        self.warmupMinutes = warmupMinutes
    }
}

/// A run whose cost passes `multiple` × the median cost of the agent's last completed runs (and
/// `minimumRunCost`).
public struct SpikeConfiguration: Sendable, Hashable {
    public var enabled: Bool
    public var multiple: Double
    /// Completed runs of the agent needed before its median is trusted.
    public var minimumCompletedRuns: Int
    /// How many of the agent's most recent completed runs the median is taken over.
    public var historyRuns: Int
    /// A run that has cost less than this is never a spike.
    public var minimumRunCost: Money

    public init(
        enabled: Bool = true, multiple: Double = 10, minimumCompletedRuns: Int = 5, historyRuns: Int = 50,
        minimumRunCost: Money = Money(nanos: 100_000_000)
    ) {
        self.enabled = enabled
        self.minimumRunCost = minimumRunCost
        self.multiple = multiple
        self.minimumCompletedRuns = minimumCompletedRuns
        self.historyRuns = historyRuns
    }
}

/// More than `limit` retries on one task of one run within `windowMinutes`.
///
/// A charge with `retry > 0` is a retry (its `retry` is the attempt's retry number); a charge whose
/// retry number alone exceeds `limit` is a storm by itself.
public struct RetryStormConfiguration: Sendable, Hashable {
    public var enabled: Bool
    public var limit: Int
    public var windowMinutes: Int

    public init(enabled: Bool = true, limit: Int = 3, windowMinutes: Int = 60) {
        self.enabled = enabled
        self.limit = limit
        self.windowMinutes = windowMinutes
    }
}

/// Near-identical calls repeated in one piece of work (a run and its sub-agent runs).
///
/// Two charges are near-identical when they have the same kind and model and their input and
/// output token counts each differ by at most the tolerance (the larger of `toleranceTokens` and the
/// percentage of the previous call's count). Each repeat is compared with the previous one, so a
/// context that creeps up a little each call stays one loop.
public struct LoopConfiguration: Sendable, Hashable {
    public var enabled: Bool
    /// Repeats (the first call included) of a model call that make a loop.
    public var repeats: Int
    /// Repeats of a tool call (or any other kind without tokens) that make a loop: higher, as a
    /// tool call has no token counts to tell two calls apart, and agents legitimately search or
    /// fetch a dozen times in one run.
    public var toolRepeats: Int
    /// ... within this many minutes of the first of them.
    public var windowMinutes: Int
    /// Input tokens: the relative tolerance, in percent of the previous call's count.
    public var tolerancePercent: Int
    /// Output tokens: the relative tolerance, in percent of the previous call's count.
    public var outputTolerancePercent: Int
    /// The absolute tolerance, in tokens, for both counts.
    public var toleranceTokens: Int
    /// The kinds of charge watched. Embeddings and retrievals are left out by default: a pipeline
    /// embedding equal-sized chunks is near-identical by design.
    public var kinds: Set<ChargeKind>

    public init(
        enabled: Bool = true, repeats: Int = 12, toolRepeats: Int = 24, windowMinutes: Int = 10, tolerancePercent: Int = 5,
        outputTolerancePercent: Int = 10, toleranceTokens: Int = 16, kinds: Set<ChargeKind> = [.llm, .tool]
    ) {
        self.kinds = kinds
        self.toolRepeats = toolRepeats
        self.enabled = enabled
        self.repeats = repeats
        self.windowMinutes = windowMinutes
        self.tolerancePercent = tolerancePercent
        self.outputTolerancePercent = outputTolerancePercent
        self.toleranceTokens = toleranceTokens
    }
}

/// A periodic budget forecast to run out before its period ends, at the pace of the period so far.
public struct BurnRateConfiguration: Sendable, Hashable {
    public var enabled: Bool
    /// Minutes of the period that must have passed before a forecast is made.
    public var minimumElapsedMinutes: Int
    /// Percent of the limit that must be spent before a forecast is made.
    public var minimumSpentPercent: Int

    public init(enabled: Bool = true, minimumElapsedMinutes: Int = 60, minimumSpentPercent: Int = 10) {
        self.enabled = enabled
        self.minimumElapsedMinutes = minimumElapsedMinutes
        self.minimumSpentPercent = minimumSpentPercent
    }
}

/// A model's or vendor's share of the fleet's spend over the last `windowMinutes` against its
/// share over the `historyHours` before.
public struct MixShiftConfiguration: Sendable, Hashable {
    public var enabled: Bool
    public var windowMinutes: Int
    public var historyHours: Int
    /// The rise in share, in percentage points, that alerts.
    public var jumpPercent: Int
    /// Spend in the window below which no shift is judged.
    public var minimumWindowSpend: Money
    /// Minutes of fleet history (since the first charge) before any shift is judged.
    public var minimumHistoryMinutes: Int

    public init(
        enabled: Bool = true, windowMinutes: Int = 60, historyHours: Int = 24, jumpPercent: Int = 30,
        minimumWindowSpend: Money = Money(nanos: 1_000_000_000), minimumHistoryMinutes: Int = 180
    ) {
        self.enabled = enabled
        self.windowMinutes = windowMinutes
        self.historyHours = historyHours
        self.jumpPercent = jumpPercent
        self.minimumWindowSpend = minimumWindowSpend
        self.minimumHistoryMinutes = minimumHistoryMinutes
    }
}

/// How much the detectors remember at most: beyond these counts the least recently active entries
/// are forgotten (deterministically: by last activity, then by name).
public struct TrackingLimits: Sendable, Hashable {
    public var agentsMax: Int
    /// Open runs (and retry/loop keys) tracked; completed runs are forgotten at once.
    public var runsMax: Int
    /// Models and vendors tracked by the mix-shift detector.
    public var keysMax: Int

    public init(agentsMax: Int = 10_000, runsMax: Int = 50_000, keysMax: Int = 1_000) {
        self.agentsMax = agentsMax
        self.runsMax = runsMax
        self.keysMax = keysMax
    }
}

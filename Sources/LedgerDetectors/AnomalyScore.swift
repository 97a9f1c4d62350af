import LedgerCore

/// The combined anomaly score, 0...1000 thousandths.
///
/// Each detector rates how far past its threshold its signal was as a severity
/// `s = 1 − 1 / (2r)` where `r ≥ 1` is the signal over its threshold (so 0.5 at the threshold,
/// 0.75 at twice it, 0.9 at five times it). An alert's score combines the severities of the
/// newest signal of every kind raised for the same agent (or, for fleet alerts, the fleet)
/// within the score window, as independent evidence (a noisy OR): `1 − Π (1 − sᵢ)`.
/// Everything is computed in integer thousandths, rounded half up at each step, so the score is
/// exact and identical on every replay.
public enum AnomalyScore {
    /// The severity, in thousandths, of a signal `ratio` times its threshold (clamped to ≥ 1).
    public static func severity(ratio: Double) -> Int {
        guard ratio.isFinite else { return ratio > 0 ? 999 : 500 }
        let r = max(1, ratio)
        return min(999, max(500, Int((1000 - 500 / r).rounded())))
    }

    /// `1 − Π (1 − sᵢ)` in thousandths.
    public static func combine(_ severities: [Int]) -> Int {
        var remaining = 1000
        for severity in severities {
            let s = min(1000, max(0, severity))
            remaining = (remaining * (1000 - s) + 500) / 1000
        }
        return 1000 - remaining
    }
}

/// The newest severity of each alert kind for one agent (or the fleet), for the combined score.
struct ScoreMemory: Sendable {
    private var severities = [Int](repeating: 0, count: AlertKind.allCases.count)
    private var times = [Int64](repeating: .min, count: AlertKind.allCases.count)

    /// Records `severity` for `kind` at `at` and returns the combined score of every kind seen
    /// within `window` nanoseconds before `at`.
    mutating func combine(_ kind: AlertKind, severity: Int, at: LedgerTime, window: Int64) -> Int {
        let slot = AlertKind.allCases.firstIndex(of: kind)!
        severities[slot] = severity
        times[slot] = at.nanosecondsSinceEpoch
        var recent: [Int] = []
        for index in severities.indices where times[index] != .min {
            let age = at.nanosecondsSinceEpoch - times[index]
            if index == slot || (age >= 0 && age <= window) { recent.append(severities[index]) }
        }
        return AnomalyScore.combine(recent)
    }
}

import LedgerCore
import LedgerDomain

/// Loops: near-identical calls repeated in one piece of work (a run and its sub-agent runs).
///
/// The tracker keeps a few call signatures (kind, model, prompt and completion tokens) per root
/// run. A charge that matches a signature — same kind and model, each token count within the
/// tolerance of the signature's latest call — repeats it, and the signature moves to the new
/// counts, so a context that grows a little each call stays one loop. A signature counts its
/// repeats in episodes of `windowMinutes` from the episode's first call; `repeats` calls in one
/// episode are a loop (`toolRepeats` for charges other than model calls). Severity: the repeat rate against `repeats / windowMinutes`, with the
/// elapsed time counted as at least a minute.
struct LoopTracker: Sendable {
    private struct Signature: Sendable {
        var kind: ChargeKind
        var model: String?
        var prompt: Int64
        var completion: Int64
        var count: Int
        var first: Int64
        var last: Int64
    }

    /// Signatures tracked per root run; the least recently repeated is replaced beyond it.
    static let signaturesMax = 8
    private var signatures: [Signature] = []

    mutating func observe(usage: UsageFields, model: String?, at: LedgerTime, _ configuration: LoopConfiguration) -> Finding? {
        let now = at.nanosecondsSinceEpoch
        let window = Int64(configuration.windowMinutes) * Minute.nanoseconds
        var match = -1
        var stalest = 0
        for slot in signatures.indices {
            let signature = signatures[slot]
            if signature.kind == usage.kind, signature.model == model,
                Self.near(signature.prompt, usage.promptTokens, percent: configuration.tolerancePercent, configuration),
                Self.near(
                    signature.completion, usage.completionTokens, percent: configuration.outputTolerancePercent, configuration)
            {
                match = slot
                break
            }
            if signature.last < signatures[stalest].last { stalest = slot }
        }
        guard match >= 0 else {
            let signature = Signature(
                kind: usage.kind, model: model, prompt: usage.promptTokens, completion: usage.completionTokens, count: 1,
                first: now, last: now)
            if signatures.count < Self.signaturesMax { signatures.append(signature) } else { signatures[stalest] = signature }
            return nil
        }
        let index = match
        if now - signatures[index].first > window || now < signatures[index].first {
            signatures[index].count = 1
            signatures[index].first = now
        } else {
            signatures[index].count += 1
        }
        signatures[index].prompt = usage.promptTokens
        signatures[index].completion = usage.completionTokens
        signatures[index].last = max(signatures[index].last, now)
        let signature = signatures[index]
        let repeats = usage.kind == .llm ? configuration.repeats : configuration.toolRepeats
        guard signature.count >= repeats else { return nil }
        let elapsed = max(0, now - signature.first)
        let ratio =
            (Double(signature.count) / Double(max(elapsed, Minute.nanoseconds)))
            / (Double(repeats) / Double(window))
        let minutes = Decimal1.text(Double(elapsed) / Double(Minute.nanoseconds))
        let what =
            usage.kind == .llm ? "calls to \(model ?? "an unnamed model")" : "\(usage.kind.name) calls (\(model ?? "unnamed"))"
        let evidence =
            "\(signature.count) near-identical \(what) within \(minutes) min "
            + "(~\(usage.promptTokens) prompt / \(usage.completionTokens) completion tokens; "
            + "loop at \(repeats) in \(configuration.windowMinutes) min)"
        return Finding(kind: .loop, severityMilli: AnomalyScore.severity(ratio: ratio), evidence: evidence)
    }

    /// Whether `b` is within the tolerance of `a`: the larger of the absolute tokens and the
    /// percentage of `a`.
    private static func near(_ a: Int64, _ b: Int64, percent: Int, _ configuration: LoopConfiguration) -> Bool {
        let tolerance = max(Int64(configuration.toleranceTokens), a / 100 * Int64(percent) + a % 100 * Int64(percent) / 100)
        let difference = a > b ? a - b : b - a
        return difference <= tolerance
    }
}

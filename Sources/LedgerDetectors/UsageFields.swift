import LedgerCore
import LedgerDomain

/// The few numbers of a `usage.recorded` payload the detectors need, read in place: no
/// allocation, whatever the payload holds (a price entry, a reservation).
struct UsageFields: Sendable {
    var kind: ChargeKind
    var costNanos: Int64
    /// Prompt tokens of every kind: input, cache reads and cache writes.
    var promptTokens: Int64
    /// Output and reasoning tokens.
    var completionTokens: Int64
    var retry: Int32

    /// Nil for a damaged payload or a layout this build does not know (the event is then not a signal).
    init?(_ event: RecordedEvent) {
        guard event.schema == UsageRecorded.schema, event.payloadEncoding == .binary else {
            guard let usage = try? event.decode(as: UsageRecorded.self) else { return nil }
            self.init(usage)
            return
        }
        let figures = event.payload.withUnsafeBytes { UsageFigures(binaryPayload: $0) }
        guard let figures else { return nil }
        self.init(
            kind: figures.kind, costNanos: figures.costNanos,
            promptTokens: figures.inputTokens &+ figures.cachedTokens &+ figures.cacheWriteTokens,
            completionTokens: figures.outputTokens &+ figures.reasoningTokens, retry: figures.retry)
    }

    init(_ usage: UsageRecorded) {
        self.init(
            kind: usage.kind, costNanos: usage.cost.nanos,
            promptTokens: usage.inputTokens &+ usage.cachedTokens &+ usage.cacheWriteTokens,
            completionTokens: usage.outputTokens &+ usage.reasoningTokens, retry: usage.retry)
    }

    init(kind: ChargeKind, costNanos: Int64, promptTokens: Int64, completionTokens: Int64, retry: Int32) {
        self.kind = kind
        self.costNanos = costNanos
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.retry = retry
    }
}

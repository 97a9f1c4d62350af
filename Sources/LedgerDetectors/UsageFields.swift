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
        // Schema 1 (see `UsageRecorded`): u8 kind, u8 flags, u16 0, i32 tool calls, i32 retry,
        // i32 latency, i64 cost, i64 input, output, cached, cache write, reasoning.
        let fields: UsageFields? = event.payload.withUnsafeBytes { raw in
            guard raw.count >= 64, let kind = ChargeKind(rawValue: raw[0]) else { return nil }
            func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
                T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
            }
            return UsageFields(
                kind: kind, costNanos: load(16, Int64.self),
                promptTokens: load(24, Int64.self) &+ load(40, Int64.self) &+ load(48, Int64.self),
                completionTokens: load(32, Int64.self) &+ load(56, Int64.self), retry: load(8, Int32.self))
        }
        guard let fields else { return nil }
        self = fields
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

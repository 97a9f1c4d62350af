public import LedgerCore
public import LedgerDomain

/// The cost of one record and where it came from.
///
/// Guarantees: `cost` is exact and non-negative; `entry` is nil exactly when the producer gave the
/// cost, and otherwise is the catalog version whose prices made `cost` (its ``CatalogEntry/key``
/// is what the usage event records).
public struct PricedUsage: Hashable, Sendable {
    /// The exact charge: the record's `cost_usd`, or the catalog price rounded once.
    public var cost: Money
    /// The catalog entry that priced it; nil when the producer gave the cost.
    public var entry: CatalogEntry?

    public init(cost: Money, entry: CatalogEntry?) {
        self.cost = cost
        self.entry = entry
    }
}

/// Turns usage records into ready-to-append `usage.recorded` events.
///
/// Guarantees: a record's `cost_usd`, when present, is its cost, and the event's `priceEntry`
/// is nil; otherwise the catalog prices it at the record's time
/// (``PriceCatalog/price(_:model:at:)``: one half-even rounding of the exact sum) and
/// `priceEntry` is the key of the entry used, so the cost can be audited after the catalog
/// changes. The event goes on `run:<run>` when the record names a run, else on `usage:<agent>`;
/// its dimensions are the record's (the vendor taken from the catalog entry when the record has
/// none), its metadata the record's unknown fields, its `occurredAt` the record's time, and its id
/// the record's id (or a new UUIDv7 at the record's time). Pricing is deterministic: the same
/// record and catalog give the same event, id aside for records without one.
///
/// ```swift
/// let pricer = UsagePricer(catalog: catalog)
/// let record = try UsageRecordParser().parse(lineBytes, lineNumber: 17)
/// let event = try pricer.proposedEvent(for: record, line: 17)
/// ```
public struct UsagePricer: Sendable {
    public var catalog: PriceCatalog

    public init(catalog: PriceCatalog) { self.catalog = catalog }

    static let runStreamPrefixBytes = "run:".utf8.count
    static let agentStreamPrefixBytes = "usage:".utf8.count

    /// The stream a record's event goes on: `run:<run>`, or `usage:<agent>` without a run.
    public static func stream(for record: UsageRecord) -> String {
        if let run = record.run { return SpendStreams.run(run) }
        return SpendStreams.usage(record.agent)
    }

    /// The record's cost: its `cost_usd`, else the catalog's price for its model at its time.
    ///
    /// - Throws: ``UsageRecordError`` (code `unpriced`) naming `line` and the field: `model` when
    ///   the model is absent, unknown, ambiguous or not yet priced at the record's time; a token
    ///   field when the entry lacks the price it needs.
    public func charge(for record: UsageRecord, line: Int? = nil) throws(UsageRecordError) -> PricedUsage {
        if let cost = record.cost {
            guard cost.nanos >= 0 else {
                throw UsageRecordError(.invalidValue, line: line, field: "cost_usd", reason: "must not be negative, got \(cost.dollars)")
            }
            return PricedUsage(cost: cost, entry: nil)
        }
        guard let model = record.model else {
            throw UsageRecordError(
                .missingField, line: line, field: "model",
                reason: "is required when cost_usd is absent (the catalog prices a record by its model)")
        }
        do {
            let entry = try catalog.requireEntry(for: model, at: record.time)
            return PricedUsage(cost: try entry.charge(for: record.tokens), entry: entry)
        } catch {
            throw Self.recordError(error, line: line)
        }
    }

    /// The `usage.recorded` payload for a record.
    ///
    /// - Parameter reservation: the authorization this charge settles, if any.
    /// - Throws: what ``charge(for:line:)`` throws, or a bound error when a count does not fit the
    ///   event (tool calls, retry and latency are 32-bit).
    public func usageRecorded(for record: UsageRecord, line: Int? = nil, reservation: EventID? = nil)
        throws(UsageRecordError) -> UsageRecorded
    {
        try usageRecorded(for: record, priced: charge(for: record, line: line), line: line, reservation: reservation)
    }

    /// The event to append for a record, priced.
    ///
    /// - Throws: what ``usageRecorded(for:line:reservation:)`` throws.
    public func proposedEvent(for record: UsageRecord, line: Int? = nil, reservation: EventID? = nil)
        throws(UsageRecordError) -> ProposedEvent
    {
        // A record built in code has not been through the parser: check what names the stream.
        guard !record.agent.isEmpty else {
            throw UsageRecordError(.missingField, line: line, field: "agent", reason: "must not be empty")
        }
        guard record.run != "" else {
            throw UsageRecordError(.invalidValue, line: line, field: "run", reason: "must not be empty (leave it nil for no run)")
        }
        let priced = try charge(for: record, line: line)
        let usage = try usageRecorded(for: record, priced: priced, line: line, reservation: reservation)
        var dimensions = record.dimensions
        if dimensions.vendor == nil { dimensions.vendor = priced.entry?.vendor }
        return ProposedEvent(
            usage, stream: Self.stream(for: record), occurredAt: record.time, dimensions: dimensions,
            metadata: record.metadata, id: record.id ?? EventID.generate(at: record.time))
    }

    private func usageRecorded(for record: UsageRecord, priced: PricedUsage, line: Int?, reservation: EventID?)
        throws(UsageRecordError) -> UsageRecorded
    {
        let tokens = record.tokens
        func check(_ value: Int64, _ field: String) throws(UsageRecordError) {
            guard value >= 0 else {
                throw UsageRecordError(.invalidValue, line: line, field: field, reason: "must be a non-negative integer, got \(value)")
            }
        }
        try check(tokens.input, "input_tokens")
        try check(tokens.output, "output_tokens")
        try check(tokens.cached, "cached_tokens")
        try check(tokens.cacheWrite, "cache_write_tokens")
        try check(tokens.reasoning, "reasoning_tokens")
        guard let toolCalls = Int32(exactly: tokens.toolCalls), toolCalls >= 0 else {
            throw UsageRecordError(
                .invalidValue, line: line, field: "tool_calls",
                reason: "must be a non-negative integer up to \(Int32.max), got \(tokens.toolCalls)")
        }
        guard record.retry >= 0 else {
            throw UsageRecordError(.invalidValue, line: line, field: "retry", reason: "must be a non-negative integer, got \(record.retry)")
        }
        guard record.latencyMs >= 0 else {
            throw UsageRecordError(
                .invalidValue, line: line, field: "latency_ms", reason: "must be a non-negative integer, got \(record.latencyMs)")
        }
        return UsageRecorded(
            kind: record.kind, cost: priced.cost, inputTokens: tokens.input, outputTokens: tokens.output,
            cachedTokens: tokens.cached, cacheWriteTokens: tokens.cacheWrite, reasoningTokens: tokens.reasoning,
            toolCalls: toolCalls, retry: record.retry, latencyMs: record.latencyMs, priceEntry: priced.entry?.key,
            reservation: reservation)
    }

    /// A catalog error (message `"<field>: <reason>"`) as a record error at `line`.
    static func recordError(_ error: LedgerError, line: Int?) -> UsageRecordError {
        let field = error.field ?? "model"
        var reason = error.message
        if reason.hasPrefix(field + ": ") { reason.removeFirst(field.count + 2) }
        if field == "model", error.code == .notFound { reason += "; give cost_usd or add the model to the catalog" }
        let code: UsageRecordError.Code = error.code == .limitExceeded ? .limitExceeded : .unpriced
        return UsageRecordError(code, line: line, field: field, reason: reason)
    }
}

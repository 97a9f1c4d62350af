public import LedgerCore
public import LedgerDomain

/// The prices of one model from one instant on: one version of a catalog row.
///
/// Guarantees: prices are exact (``Price`` holds atto-dollars per unit, exact to 18 decimal
/// places), and ``key`` (`"<model>@<effective-from RFC 3339>"`, for example
/// `gpt-4o@2026-11-01T00:00:00Z`) names this version for ever: a ``UsageRecorded`` event stores it
/// as its `priceEntry`, so an auditor can tell which prices made a cost even after the catalog
/// changed. A nil price means the catalog has no such price (see ``cost(of:)`` for fallbacks).
public struct CatalogEntry: Hashable, Sendable, CustomStringConvertible {
    /// The catalog's name for the model, as imported (`gpt-4o`, `gemini/gemini-2.5-pro`).
    public let model: String
    /// The provider that sells it (LiteLLM's `litellm_provider`), when known.
    public let vendor: String?
    /// From this instant on (inclusive) these prices apply, until the model's next entry.
    public let effectiveFrom: LedgerTime
    /// Per uncached input token.
    public let input: Price?
    /// Per output token.
    public let output: Price?
    /// Per cache-read input token; falls back to ``input``.
    public let cacheRead: Price?
    /// Per cache-write input token; falls back to ``input``.
    public let cacheWrite: Price?
    /// Per reasoning token; falls back to ``output``.
    public let reasoning: Price?
    /// Per call (request), charged once per usage record.
    public let perCall: Price?
    /// Per tool call the model made.
    public let perToolCall: Price?
    /// `"<model>@<effective-from RFC 3339>"`.
    public let key: String

    public init(_ priceSet: PriceSet) {
        let effectiveFrom = LedgerTime(nanosecondsSinceEpoch: priceSet.effectiveFrom)
        self.model = priceSet.model
        self.vendor = priceSet.vendor
        self.effectiveFrom = effectiveFrom
        self.input = priceSet.input
        self.output = priceSet.output
        self.cacheRead = priceSet.cacheRead
        self.cacheWrite = priceSet.cacheWrite
        self.reasoning = priceSet.reasoning
        self.perCall = priceSet.perCall
        self.perToolCall = priceSet.perToolCall
        self.key = Self.key(model: priceSet.model, effectiveFrom: effectiveFrom)
    }

    /// The key of a model's entry from an instant: `"<model>@<effective-from RFC 3339>"`.
    public static func key(model: String, effectiveFrom: LedgerTime) -> String {
        model + "@" + effectiveFrom.rfc3339
    }

    /// The `price.set` event that (re)creates this entry.
    public var priceSet: PriceSet {
        PriceSet(
            model: model, vendor: vendor, effectiveFrom: effectiveFrom, input: input, output: output,
            cacheRead: cacheRead, cacheWrite: cacheWrite, reasoning: reasoning, perCall: perCall,
            perToolCall: perToolCall)
    }

    /// Whether the entry has at least one per-token price.
    public var hasTokenPrice: Bool {
        input != nil || output != nil || cacheRead != nil || cacheWrite != nil || reasoning != nil
    }

    public var description: String { key }

    /// The exact cost of `usage` at these prices, in atto-dollars, before the one rounding:
    ///
    ///     input × input + cached × (cacheRead ?? input) + cacheWrite × (cacheWrite ?? input)
    ///     + output × output + reasoning × (reasoning ?? output) + perCall + toolCalls × perToolCall
    ///
    /// A missing per-call or per-tool-call price counts as zero. A non-zero token count whose
    /// price (after the fallback) is missing throws, naming the count's field: the ledger never
    /// guesses a price.
    ///
    /// - Throws: `LedgerError` with `field` set to the usage field (`output_tokens`, ...) when a
    ///   count is negative or has no price.
    public func cost(of usage: TokenCounts) throws(LedgerError) -> Int128 {
        var total = try part(usage.input, input, "input_tokens", "input")
        total += try part(usage.cached, cacheRead ?? input, "cached_tokens", "cache-read (or input)")
        total += try part(usage.cacheWrite, cacheWrite ?? input, "cache_write_tokens", "cache-write (or input)")
        total += try part(usage.output, output, "output_tokens", "output")
        total += try part(usage.reasoning, reasoning ?? output, "reasoning_tokens", "reasoning (or output)")
        guard usage.toolCalls >= 0 else {
            throw LedgerError(.invalidEvent, "tool_calls: must not be negative, got \(usage.toolCalls)", field: "tool_calls")
        }
        if let perCall { total += Int128(perCall.attodollars) }
        if let perToolCall { total += perToolCall.cost(of: usage.toolCalls) }
        return total
    }

    /// `count × price` in atto-dollars; zero for no tokens, an error for a missing price.
    @inline(__always)
    private func part(_ count: Int64, _ price: Price?, _ field: StaticString, _ what: StaticString) throws(LedgerError)
        -> Int128
    {
        if count == 0 { return 0 }
        guard count > 0 else {
            throw LedgerError(.invalidEvent, "\(field): must not be negative, got \(count)", field: "\(field)")
        }
        guard let price else {
            throw LedgerError(
                .invalidEvent,
                "\(field): catalog entry \(key) has no \(what) price for \(count) tokens; give cost_usd explicitly",
                field: "\(field)")
        }
        return Int128(price.attodollars) * Int128(count)
    }

    /// The charge for `usage`: ``cost(of:)`` rounded once, half-even, to nano-dollars.
    ///
    /// - Throws: what ``cost(of:)`` throws, or `limitExceeded` when the charge does not fit Money.
    public func charge(for usage: TokenCounts) throws(LedgerError) -> Money {
        let exact = try cost(of: usage)
        guard let money = Price.roundToMoney(exact) else {
            throw LedgerError(
                .limitExceeded, "record: the charge at \(key) is over the largest amount Money holds", field: "record")
        }
        return money
    }
}

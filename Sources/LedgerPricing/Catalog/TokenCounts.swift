/// What one call used, in the ledger's non-overlapping convention: the quantities a catalog
/// entry prices.
///
/// Guarantees: no token is in two fields. `input` counts prompt tokens that were neither read
/// from nor written to a cache, `cached` counts cache reads, `cacheWrite` counts cache writes,
/// `output` excludes reasoning tokens, and `reasoning` counts reasoning (thinking) tokens. This
/// is Anthropic's convention. OpenAI-style counts, where the prompt count includes the cached
/// tokens and the completion count includes the reasoning tokens, are converted by
/// ``init(promptTokens:completionTokens:cachedTokens:cacheWriteTokens:reasoningTokens:toolCalls:)``.
///
/// ```swift
/// // OpenAI usage: prompt_tokens 1200 (200 of them cached), completion_tokens 300.
/// let usage = TokenCounts(promptTokens: 1200, completionTokens: 300, cachedTokens: 200)!
/// // usage.input == 1000, usage.cached == 200, usage.output == 300
/// ```
///
/// Every count must be non-negative; pricing a negative count throws.
public struct TokenCounts: Hashable, Sendable {
    /// Uncached prompt tokens.
    public var input: Int64
    /// Completion tokens, reasoning tokens excluded.
    public var output: Int64
    /// Prompt tokens read from a cache.
    public var cached: Int64
    /// Prompt tokens written to a cache.
    public var cacheWrite: Int64
    /// Reasoning tokens (priced at the reasoning rate, else the output rate).
    public var reasoning: Int64
    /// Tool calls the call made (priced at the per-tool-call rate when the catalog has one).
    public var toolCalls: Int64

    public init(
        input: Int64 = 0, output: Int64 = 0, cached: Int64 = 0, cacheWrite: Int64 = 0, reasoning: Int64 = 0,
        toolCalls: Int64 = 0
    ) {
        self.input = input
        self.output = output
        self.cached = cached
        self.cacheWrite = cacheWrite
        self.reasoning = reasoning
        self.toolCalls = toolCalls
    }

    /// Converts OpenAI-style counts: `promptTokens` includes the cache reads and the cache writes,
    /// `completionTokens` includes the reasoning tokens. Nil when a total is smaller than the part
    /// it is said to include, or a count is negative.
    public init?(
        promptTokens: Int64, completionTokens: Int64, cachedTokens: Int64 = 0, cacheWriteTokens: Int64 = 0,
        reasoningTokens: Int64 = 0, toolCalls: Int64 = 0
    ) {
        guard promptTokens >= 0, completionTokens >= 0, cachedTokens >= 0, cacheWriteTokens >= 0,
            reasoningTokens >= 0, toolCalls >= 0
        else { return nil }
        let (cacheTotal, overflow) = cachedTokens.addingReportingOverflow(cacheWriteTokens)
        guard !overflow, promptTokens >= cacheTotal, completionTokens >= reasoningTokens else { return nil }
        self.init(
            input: promptTokens - cacheTotal, output: completionTokens - reasoningTokens, cached: cachedTokens,
            cacheWrite: cacheWriteTokens, reasoning: reasoningTokens, toolCalls: toolCalls)
    }

    public static let zero = TokenCounts()

    /// All prompt tokens: uncached, cache reads and cache writes (OpenAI's `prompt_tokens`).
    public var promptTokens: Int64 { input + cached + cacheWrite }
    /// All completion tokens, reasoning included (OpenAI's `completion_tokens`).
    public var completionTokens: Int64 { output + reasoning }
}

import Foundation
import LedgerCore
import LedgerDomain
import Testing

@testable import LedgerPricing

/// The pricing rule on hand-computed examples: every expected figure is worked out in the comment
/// above it from the per-token prices in Fixtures/price-catalog.json (copied from LiteLLM).
@Suite struct PricingGoldenTests {
    let catalog: PriceCatalog
    let noon = time("2026-11-20T12:00:00Z")

    init() throws { catalog = try fixtureCatalog() }

    @Test func openAIStyleUsage_whosePromptCountIncludesCachedTokens_isPricedWithoutCountingTheCachedTokensTwice() throws {
        // gpt-4o: input 2.5e-06, cache read 1.25e-06, output 1e-05.
        // prompt_tokens 1200 includes 200 cached: 1000 × 2.5e-06 + 200 × 1.25e-06 + 300 × 1e-05
        //   = 0.0025 + 0.00025 + 0.003 = 0.00575 dollars = 5,750,000 nanos.
        let record = try UsageRecordParser().parse(
            #"{"time":"2026-11-20T12:00:00Z","agent":"a","model":"gpt-4o","prompt_tokens":1200,"cached_tokens":200,"completion_tokens":300}"#,
            lineNumber: 1)
        #expect(record.tokens == TokenCounts(input: 1000, output: 300, cached: 200))
        let priced = try UsagePricer(catalog: catalog).charge(for: record)
        #expect(priced.cost == Money(nanos: 5_750_000))
        #expect(priced.entry?.key == "gpt-4o@1970-01-01T00:00:00Z")
        // The classic bug, pricing all 1200 prompt tokens as uncached and the 200 again as cached:
        // 1200 × 2.5e-06 + 0.00025 + 0.003 = 0.00625. The ledger must not produce it.
        #expect(priced.cost != Money(nanos: 6_250_000))
        // The same call in the ledger's own convention costs the same.
        let direct = try catalog.price(TokenCounts(input: 1000, output: 300, cached: 200), model: "gpt-4o", at: noon)
        #expect(direct.cost == priced.cost)
    }

    @Test func anthropicCacheReadsAndWrites_arePricedApartFromInput_atTheirOwnRates() throws {
        // claude-sonnet-4-5: input 3e-06, cache write 3.75e-06, cache read 3e-07, output 1.5e-05.
        // 1000 × 3e-06 + 2000 × 3.75e-06 + 5000 × 3e-07 + 500 × 1.5e-05
        //   = 0.003 + 0.0075 + 0.0015 + 0.0075 = 0.0195 dollars = 19,500,000 nanos.
        let record = try UsageRecordParser().parse(
            #"{"time":"2026-11-20T12:00:00Z","agent":"a","model":"claude-sonnet-4-5","input_tokens":1000,"cache_write_tokens":2000,"cached_tokens":5000,"output_tokens":500}"#)
        let priced = try UsagePricer(catalog: catalog).charge(for: record)
        #expect(priced.cost == Money(nanos: 19_500_000))
        #expect(priced.entry?.key == "claude-sonnet-4-5@1970-01-01T00:00:00Z")
    }

    @Test func reasoningTokens_arePricedAtTheReasoningRate_whereTheCatalogHasOne() throws {
        // dashscope/qwen-turbo: input 5e-08, output 2e-07, reasoning 5e-07.
        // completion_tokens 1100 includes 1000 reasoning: 1000 × 5e-08 + 100 × 2e-07 + 1000 × 5e-07
        //   = 0.00005 + 0.00002 + 0.0005 = 0.00057 dollars = 570,000 nanos.
        let record = try UsageRecordParser().parse(
            #"{"time":"2026-11-20T12:00:00Z","agent":"a","model":"dashscope/qwen-turbo","input_tokens":1000,"completion_tokens":1100,"reasoning_tokens":1000}"#)
        #expect(record.tokens.output == 100)
        #expect(try UsagePricer(catalog: catalog).charge(for: record).cost == Money(nanos: 570_000))
    }

    @Test func reasoningTokens_arePricedAtTheOutputRate_whereTheCatalogHasNoReasoningRate() throws {
        // o3-mini: input 1.1e-06, output 4.4e-06, no reasoning price.
        // 100 × 1.1e-06 + 500 × 4.4e-06 + 1000 × 4.4e-06 = 0.00011 + 0.0022 + 0.0044 = 0.00671 dollars.
        let cost = try catalog.price(TokenCounts(input: 100, output: 500, reasoning: 1000), model: "o3-mini", at: noon).cost
        #expect(cost == Money(nanos: 6_710_000))
        #expect(try catalog.requireEntry(for: "o3-mini", at: noon).reasoning == nil)
    }

    @Test func aModelMissingFromTheCatalog_isAClearErrorNamingTheModel() throws {
        #expect {
            _ = try catalog.price(TokenCounts(input: 10), model: "gpt-9-ultra", at: noon)
        } throws: { error in
            let error = try #require(error as? LedgerError)
            return error.field == "model" && error.description == #"model: "gpt-9-ultra" is not in the price catalog"#
        }
        let record = try UsageRecordParser().parse(
            #"{"time":"2026-11-20T12:00:00Z","agent":"a","model":"gpt-9-ultra","input_tokens":10}"#, lineNumber: 17)
        #expect {
            _ = try UsagePricer(catalog: catalog).proposedEvent(for: record, line: 17)
        } throws: { error in
            (error as? UsageRecordError)?.description
                == #"line 17: model: "gpt-9-ultra" is not in the price catalog; give cost_usd or add the model to the catalog"#
        }
    }

    @Test func aPriceChangeDuringTheDay_pricesCallsBeforeAndAfterItDifferently_andNamesTheEntryUsed() throws {
        var catalog = PriceCatalog()
        catalog.apply(
            PriceSet(
                model: "gpt-4o", vendor: "openai", effectiveFrom: time("2026-11-20T00:00:00Z"),
                input: price("2.5e-06"), output: price("1e-05")))
        catalog.apply(
            PriceSet(
                model: "gpt-4o", vendor: "openai", effectiveFrom: time("2026-11-20T12:00:00Z"),
                input: price("2e-06"), output: price("8e-06")))
        let usage = TokenCounts(input: 1000, output: 100)
        // Before: 1000 × 2.5e-06 + 100 × 1e-05 = 0.0035. After: 1000 × 2e-06 + 100 × 8e-06 = 0.0028.
        let before = try catalog.price(usage, model: "gpt-4o", at: time("2026-11-20T11:59:59.999999999Z"))
        let atChange = try catalog.price(usage, model: "gpt-4o", at: time("2026-11-20T12:00:00Z"))
        let later = try catalog.price(usage, model: "openai/gpt-4o", at: time("2026-11-20T23:00:00Z"))
        #expect(before.cost == Money(nanos: 3_500_000))
        #expect(before.entryKey == "gpt-4o@2026-11-20T00:00:00Z")
        #expect(atChange.cost == Money(nanos: 2_800_000))
        #expect(atChange.entryKey == "gpt-4o@2026-11-20T12:00:00Z")
        #expect(later == atChange)
        // Before the first price there is none, and the error says from when there is.
        #expect {
            _ = try catalog.price(usage, model: "gpt-4o", at: time("2026-11-19T23:00:00Z"))
        } throws: { error in
            (error as? LedgerError)?.description
                == #"model: "gpt-4o" has no price in effect at 2026-11-19T23:00:00Z (catalog key "gpt-4o" is priced from 2026-11-20T00:00:00Z on)"#
        }
        // The usage events of the two calls name different entries.
        let pricer = UsagePricer(catalog: catalog)
        for (at, key) in [("2026-11-20T06:00:00Z", "gpt-4o@2026-11-20T00:00:00Z"), ("2026-11-20T18:00:00Z", "gpt-4o@2026-11-20T12:00:00Z")] {
            let record = UsageRecord(time: time(at), agent: "a", model: "gpt-4o", tokens: usage)
            #expect(try pricer.usageRecorded(for: record).priceEntry == key)
        }
    }

    @Test func aPriceSetAtTheSameInstant_correctsTheEntryInsteadOfAddingOne() throws {
        var catalog = PriceCatalog()
        let from = time("2026-11-20T00:00:00Z")
        catalog.apply(PriceSet(model: "m", effectiveFrom: from, input: price("1e-06")))
        catalog.apply(PriceSet(model: "m", effectiveFrom: from, input: price("2e-06")))
        #expect(catalog.entries(forModel: "m").count == 1)
        #expect(try catalog.price(TokenCounts(input: 1000), model: "m", at: from).cost == Money(nanos: 2_000_000))
    }

    @Test func aToolCharge_withAnExplicitCost_isRecordedAtThatCost_withNoCatalogEntry() throws {
        let record = try UsageRecordParser().parse(
            #"{"time":"2026-11-20T12:00:00Z","agent":"agent-7","run":"run-42","kind":"tool","tool_calls":1,"cost_usd":"0.0125","tool":"web_search"}"#,
            lineNumber: 3)
        let event = try UsagePricer(catalog: PriceCatalog()).proposedEvent(for: record, line: 3)
        let usage = try UsageRecorded(payload: event.payload, schema: event.schema)
        #expect(usage.kind == .tool)
        #expect(usage.cost == Money(nanos: 12_500_000))
        #expect(usage.priceEntry == nil)
        #expect(usage.toolCalls == 1)
        #expect(event.stream == "run:run-42")
        #expect(event.metadata == ["tool": "web_search"])
    }

    @Test func anExplicitCost_winsOverTheCatalog_evenForAKnownModel() throws {
        let record = try UsageRecordParser().parse(
            #"{"time":"2026-11-20T12:00:00Z","agent":"a","model":"gpt-4o","input_tokens":1000,"cost_usd":0.5}"#)
        let priced = try UsagePricer(catalog: catalog).charge(for: record)
        #expect(priced.cost == Money(nanos: 500_000_000))
        #expect(priced.entry == nil)
    }

    @Test func aCharge_isRoundedOnce_onTheExactSum_notOncePerComponent() throws {
        var catalog = PriceCatalog()
        // 0.4 nano per input token and 0.4 nano per output token: one of each is 0.8 nano -> 1.
        // Rounding each part first would give 0 + 0 = 0.
        catalog.apply(PriceSet(model: "tiny", effectiveFrom: .epoch, input: price("4e-10"), output: price("4e-10")))
        #expect(try catalog.price(TokenCounts(input: 1, output: 1), model: "tiny", at: noon).cost == Money(nanos: 1))
        // Half-even at exactly half a nano: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
        catalog.apply(PriceSet(model: "half", effectiveFrom: .epoch, input: price("5e-10")))
        for (tokens, nanos) in [(1, 0), (3, 2), (5, 2), (7, 4)] as [(Int64, Int64)] {
            #expect(try catalog.price(TokenCounts(input: tokens), model: "half", at: noon).cost == Money(nanos: nanos))
        }
    }

    @Test func perCallAndPerToolCallPrices_areAddedToTheTokenCost() throws {
        var catalog = PriceCatalog()
        catalog.apply(
            PriceSet(
                model: "search-llm", effectiveFrom: .epoch, input: price("1e-06"), output: price("2e-06"),
                perCall: price("0.005"), perToolCall: price("0.01")))
        // 100 × 1e-06 + 10 × 2e-06 + 0.005 + 3 × 0.01 = 0.0001 + 0.00002 + 0.005 + 0.03 = 0.03512.
        let cost = try catalog.price(TokenCounts(input: 100, output: 10, toolCalls: 3), model: "search-llm", at: noon).cost
        #expect(cost == Money(nanos: 35_120_000))
    }

    @Test func aTokenCountWhosePriceTheEntryLacks_isAnErrorNamingThatField_neverAFreeCall() throws {
        var catalog = PriceCatalog()
        catalog.apply(PriceSet(model: "input-only", effectiveFrom: .epoch, input: price("1e-06")))
        #expect(try catalog.price(TokenCounts(input: 5, cached: 5), model: "input-only", at: noon).cost == Money(nanos: 10_000))
        #expect {
            _ = try catalog.price(TokenCounts(input: 5, output: 1), model: "input-only", at: noon)
        } throws: { error in
            let error = try #require(error as? LedgerError)
            return error.field == "output_tokens"
                && error.description
                    == "output_tokens: catalog entry input-only@1970-01-01T00:00:00Z has no output price for 1 tokens; give cost_usd explicitly"
        }
    }

    @Test func theSampleUsageFixture_repricedFromTheDefaultCatalog_matchesEveryRecordedCostExactly() throws {
        let data = try #require(FileManager.default.contents(atPath: Paths.sampleUsage))
        let parser = UsageRecordParser()
        let pricer = UsagePricer(catalog: catalog)
        var checked = 0
        try Array(data).withUnsafeBytes { buffer in
            try UsageRecordParser.forEachLine(in: buffer) { (line, bytes) throws in
                var record = try parser.parse(bytes, lineNumber: line)
                let given = try #require(record.cost)
                record.cost = nil
                let priced = try pricer.charge(for: record, line: line)
                #expect(priced.cost == given, "line \(line): \(record.model ?? "")")
                checked += 1
            }
        }
        #expect(checked == 240)
    }
}

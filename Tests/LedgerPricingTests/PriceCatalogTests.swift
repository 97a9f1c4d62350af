import LedgerCore
import LedgerDomain
import Testing

@testable import LedgerPricing

@Suite struct PriceCatalogTests {
    let noon = time("2026-11-20T12:00:00Z")

    func catalog(_ models: [String]) -> PriceCatalog {
        PriceCatalog(models.enumerated().map { offset, model in
            PriceSet(model: model, effectiveFrom: .epoch, input: Price(attodollars: Int64(offset + 1)))
        })
    }

    @Test func lookup_prefersTheExactKey_overAnyPrefixedOrStrippedName() {
        let catalog = catalog(["gpt-4o", "azure/gpt-4o", "openai/gpt-4o"])
        #expect(catalog.entry(for: "gpt-4o", at: noon)?.model == "gpt-4o")
        #expect(catalog.entry(for: "azure/gpt-4o", at: noon)?.model == "azure/gpt-4o")
        #expect(catalog.entry(for: "openai/gpt-4o", at: noon)?.model == "openai/gpt-4o")
    }

    @Test(arguments: [
        ("openai/gpt-4o", "gpt-4o"),
        ("azure/gpt-4o", "gpt-4o"),
        ("openrouter/openai/gpt-4o", "gpt-4o"),
        ("us.anthropic.claude-x", "anthropic.claude-x"),
        ("bedrock/eu.anthropic.claude-x", "anthropic.claude-x"),
        ("apac.anthropic.claude-x", "anthropic.claude-x"),
        ("vertex_ai/gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro"),
    ])
    func lookup_stripsProviderSegmentsAndRegionPrefixes_progressively(query: String, expected: String) {
        let catalog = catalog(["gpt-4o", "anthropic.claude-x", "gemini/gemini-2.5-pro"])
        #expect(catalog.entry(for: query, at: noon)?.model == expected)
    }

    @Test func lookup_stopsAtTheFirstStrippedNameThatExists() {
        let catalog = catalog(["gpt-4o", "openai/gpt-4o"])
        #expect(catalog.entry(for: "openrouter/openai/gpt-4o", at: noon)?.model == "openai/gpt-4o")
    }

    @Test func aBareName_matchesASinglePrefixedKey_butNotSeveral() {
        let catalog = catalog(["gemini/gemini-2.5-pro", "azure/gpt-4o", "azure/eu/gpt-4o", "us.anthropic.claude-y"])
        #expect(catalog.entry(for: "gemini-2.5-pro", at: noon)?.model == "gemini/gemini-2.5-pro")
        #expect(catalog.entry(for: "anthropic.claude-y", at: noon)?.model == "us.anthropic.claude-y")
        #expect(catalog.entry(for: "gpt-4o", at: noon) == nil, "azure/gpt-4o and azure/eu/gpt-4o: ambiguous")
        #expect {
            _ = try catalog.price(TokenCounts(input: 1), model: "gpt-4o", at: noon)
        } throws: { error in
            (error as? LedgerError)?.description
                == #"model: "gpt-4o" is ambiguous in the price catalog (it matches 2 keys: "azure/eu/gpt-4o", "azure/gpt-4o"); name one of them"#
        }
    }

    @Test func aPrefixedName_isNeverPricedAtADifferentlyPrefixedEntry() {
        let catalog = catalog(["azure/gpt-4o", "eu.anthropic.claude-z"])
        #expect(catalog.entry(for: "bedrock/gpt-4o", at: noon) == nil)
        #expect(catalog.entry(for: "us.anthropic.claude-z", at: noon) == nil)
    }

    @Test func lookup_isCaseSensitive_andDoesNotMatchPartsOfNames() {
        let catalog = catalog(["gpt-4o"])
        #expect(catalog.entry(for: "GPT-4o", at: noon) == nil)
        #expect(catalog.entry(for: "gpt-4o-mini", at: noon) == nil)
        #expect(catalog.entry(for: "gpt-4", at: noon) == nil)
        #expect(catalog.entry(for: "", at: noon) == nil)
        #expect(catalog.entry(for: "openai/", at: noon) == nil)
    }

    @Test func entryInEffect_isTheLatestEffectiveFromAtOrBeforeTheTime() {
        var catalog = PriceCatalog()
        let times = ["2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-03-01T00:00:00Z"].map(time)
        for (offset, from) in times.enumerated() {
            catalog.apply(PriceSet(model: "m", effectiveFrom: from, input: Price(attodollars: Int64(offset + 1))))
        }
        #expect(catalog.entries(forModel: "m").map(\.effectiveFrom) == times.sorted())
        #expect(catalog.entry(for: "m", at: time("2025-12-31T23:59:59Z")) == nil)
        #expect(catalog.entry(for: "m", at: time("2026-01-01T00:00:00Z"))?.input == Price(attodollars: 1))
        #expect(catalog.entry(for: "m", at: time("2026-02-28T00:00:00Z"))?.input == Price(attodollars: 1))
        #expect(catalog.entry(for: "m", at: time("2026-03-01T00:00:00Z"))?.input == Price(attodollars: 3))
        #expect(catalog.entry(for: "m", at: time("2026-05-31T23:59:59.999999999Z"))?.input == Price(attodollars: 3))
        #expect(catalog.entry(for: "m", at: .distantFuture)?.input == Price(attodollars: 2))
    }

    @Test func aStrippedNameIsUsed_whenTheExactKeyHasNoPriceYetAtThatTime() {
        var catalog = PriceCatalog()
        catalog.apply(PriceSet(model: "gpt-4o", effectiveFrom: .epoch, input: Price(attodollars: 1)))
        catalog.apply(PriceSet(model: "azure/gpt-4o", effectiveFrom: time("2027-01-01T00:00:00Z"), input: Price(attodollars: 2)))
        #expect(catalog.entry(for: "azure/gpt-4o", at: noon)?.model == "gpt-4o")
        #expect(catalog.entry(for: "azure/gpt-4o", at: time("2027-02-01T00:00:00Z"))?.model == "azure/gpt-4o")
    }

    @Test func entryKeys_nameTheModelAndTheInstant_andFindTheEntryBack() throws {
        var catalog = PriceCatalog()
        catalog.apply(PriceSet(model: "vertex_ai/claude@2025", effectiveFrom: time("2026-11-20T12:30:00.5Z"), input: Price(attodollars: 7)))
        let entry = try #require(catalog.entry(for: "vertex_ai/claude@2025", at: .distantFuture))
        #expect(entry.key == "vertex_ai/claude@2025@2026-11-20T12:30:00.500Z")
        #expect(catalog.entry(forKey: entry.key) == entry)
        #expect(catalog.entry(forKey: "vertex_ai/claude@2025@2026-11-20T12:30:00Z") == nil)
    }

    @Test func theCatalog_foldsFromStoredPriceEvents_andIgnoresOtherEvents() throws {
        let priceSet = PriceSet(model: "gpt-4o", vendor: "openai", effectiveFrom: .epoch, input: price("2.5e-06"))
        let proposed = ProposedEvent(priceSet, stream: SpendStreams.priceCatalog, occurredAt: .epoch)
        func recorded(_ event: ProposedEvent, seq: UInt64) -> RecordedEvent {
            RecordedEvent(
                seq: seq, stream: event.stream, version: seq, id: event.id, recordedAt: .epoch, occurredAt: event.occurredAt,
                type: event.type, schema: event.schema, dimensions: event.dimensions, metadata: event.metadata,
                payloadEncoding: event.payloadEncoding, payload: event.payload, hash: .genesis)
        }
        var catalog = PriceCatalog()
        #expect(try catalog.apply(recorded(proposed, seq: 1)))
        let other = ProposedEvent(WalletFunded(amount: Money(nanos: 5)), stream: "wallet:a", occurredAt: .epoch)
        #expect(try catalog.apply(recorded(other, seq: 2)) == false)
        #expect(catalog.allEntries.map(\.priceSet) == [priceSet])
        #expect(PriceCatalog(catalog.allEntries.map(\.priceSet)) == catalog)
    }

    @Test func catalogsWithTheSameEntries_areEqual_whateverOrderTheyWereBuiltIn() {
        let sets = ["azure/gpt-4o", "azure/eu/gpt-4o", "gpt-4o", "openai/gpt-4o"].flatMap { model in
            ["2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z"].map { from in
                PriceSet(model: model, effectiveFrom: time(from), input: Price(attodollars: Int64(model.utf8.count)))
            }
        }
        #expect(PriceCatalog(sets) == PriceCatalog(sets.reversed()))
        #expect(PriceCatalog(sets).entryCount == 8)
        #expect(PriceCatalog(sets).allEntries.map(\.key).first == "azure/eu/gpt-4o@2026-01-01T00:00:00Z")
    }

    @Test func pricingANegativeCount_throwsInsteadOfTrapping() {
        let catalog = catalog(["m"])
        #expect(throws: LedgerError.self) { _ = try catalog.price(TokenCounts(input: -1), model: "m", at: noon) }
        #expect(throws: LedgerError.self) { _ = try catalog.price(TokenCounts(toolCalls: -1), model: "m", at: noon) }
    }

    @Test func aChargeTooLargeForMoney_isALimitError() {
        var catalog = PriceCatalog()
        catalog.apply(PriceSet(model: "m", effectiveFrom: .epoch, input: Price(attodollars: .max)))
        #expect {
            _ = try catalog.price(TokenCounts(input: .max), model: "m", at: noon)
        } throws: { error in (error as? LedgerError)?.code == .limitExceeded }
    }

    @Test func openAIStyleCounts_convertToNonOverlappingCounts_orAreRejectedWhenInconsistent() {
        #expect(
            TokenCounts(promptTokens: 1200, completionTokens: 300, cachedTokens: 200, cacheWriteTokens: 100, reasoningTokens: 50)
                == TokenCounts(input: 900, output: 250, cached: 200, cacheWrite: 100, reasoning: 50))
        #expect(TokenCounts(promptTokens: 100, completionTokens: 0, cachedTokens: 101) == nil)
        #expect(TokenCounts(promptTokens: 100, completionTokens: 10, reasoningTokens: 11) == nil)
        #expect(TokenCounts(promptTokens: -1, completionTokens: 0) == nil)
        let counts = TokenCounts(input: 900, output: 250, cached: 200, cacheWrite: 100, reasoning: 50)
        #expect(counts.promptTokens == 1200)
        #expect(counts.completionTokens == 300)
    }
}

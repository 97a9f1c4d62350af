import Foundation
import LedgerCore
import LedgerDomain
import Testing

@testable import LedgerPricing

@Suite struct LiteLLMImportTests {
    @Test func theDefaultCatalogFixture_importsEveryModelWithItsExactPrices() throws {
        let result = try LiteLLMImporter.parseFile(atPath: Paths.fixtureCatalog, effectiveFrom: .epoch)
        #expect(result.report.entriesRead == 11)
        #expect(result.report.imported == 11)
        #expect(result.report.roundedPrices.isEmpty)
        let catalog = result.catalog
        #expect(
            catalog.models == [
                "claude-haiku-4-5", "claude-sonnet-4-5", "dashscope/qwen-turbo", "gemini/gemini-2.5-flash",
                "gemini/gemini-2.5-pro", "gpt-3.5-turbo", "gpt-4", "gpt-4o", "gpt-4o-mini", "o3-mini",
                "text-embedding-3-small",
            ])
        let sonnet = try #require(catalog.entry(for: "claude-sonnet-4-5", at: .epoch))
        #expect(sonnet.input == Price(attodollars: 3_000_000_000_000))
        #expect(sonnet.cacheWrite == Price(attodollars: 3_750_000_000_000))
        #expect(sonnet.cacheRead == Price(attodollars: 300_000_000_000))
        #expect(sonnet.output == Price(attodollars: 15_000_000_000_000))
        #expect(sonnet.vendor == "anthropic")
        #expect(sonnet.reasoning == nil)
        let mini = try #require(catalog.entry(for: "gpt-4o-mini", at: .epoch))
        #expect(mini.cacheRead == price("7.5e-08"))
        #expect(mini.cacheRead?.attodollars == 75_000_000_000)
        #expect(catalog.entry(for: "dashscope/qwen-turbo", at: .epoch)?.reasoning == price("5e-07"))
        #expect(catalog.entry(for: "text-embedding-3-small", at: .epoch)?.output == Price.zero)
        #expect(catalog.entry(for: "gemini-2.5-pro", at: .epoch)?.model == "gemini/gemini-2.5-pro")
    }

    @Test func numbers_areReadFromTheirText_soValuesInexactInBinaryStayExact() throws {
        // 1.25e-06 and 0.1 + 0.2-style values are not exact as Double; here they are.
        let json = #"{"m": {"input_cost_per_token": 1.25e-06, "output_cost_per_token": 0.0000003, "cache_read_input_token_cost": 1E-7, "litellm_provider": "p"}}"#
        let sets = try PriceCatalog.importLiteLLM(Array(json.utf8), effectiveFrom: .epoch)
        #expect(sets.count == 1)
        #expect(sets[0].input?.attodollars == 1_250_000_000_000)
        #expect(sets[0].output?.attodollars == 300_000_000_000)
        #expect(sets[0].cacheRead?.attodollars == 100_000_000_000)
        #expect(sets[0].vendor == "p")
    }

    @Test func theImporter_skipsSampleSpecAndUnpricedEntries_andReportsWhatItLeftOut() throws {
        let json = """
            {
              "sample_spec": {"input_cost_per_token": 0.0, "litellm_provider": "one of ..."},
              "dall-e": {"output_cost_per_image": 0.04, "litellm_provider": "openai", "mode": "image_generation"},
              "bad": {"input_cost_per_token": -1e-06},
              "worse": {"input_cost_per_token": "cheap"},
              "not-an-object": 7,
              "long": {"input_cost_per_token": 1e-06, "input_cost_per_token_above_200k_tokens": 2e-06,
                       "search_context_cost_per_query": {"search_context_size_low": 0.01}, "tiered_pricing": [{"a": 1}]},
              "float-artefact": {"input_cost_per_token": 2.0000000000000002E-7, "output_cost_per_token": 1.1428571428571428e-06},
              "per-request": {"input_cost_per_token": 0, "output_cost_per_token": 2.8e-06, "input_cost_per_request": 0.005},
              "dup": {"input_cost_per_token": 1e-06},
              "dup": {"input_cost_per_token": 3e-06}
            }
            """
        let result = try LiteLLMImporter.parse(Array(json.utf8), effectiveFrom: .epoch)
        let report = result.report
        #expect(report.skippedSampleSpec)
        #expect(report.entriesRead == 8)
        #expect(report.imported == 4)
        #expect(report.skippedWithoutTokenPrice == ["dall-e"])
        #expect(report.invalid.map(\.key) == ["bad", "worse", "not-an-object"])
        #expect(report.invalid[0].reason == "input_cost_per_token: must not be negative, got -1e-06")
        #expect(report.invalid[1].reason == #"input_cost_per_token: must be a number, got "cheap""#)
        #expect(report.roundedPrices == ["float-artefact.input_cost_per_token", "float-artefact.output_cost_per_token"])
        #expect(report.duplicateKeys == ["dup"])
        #expect(report.entriesWithIgnoredPrices == 1)
        #expect(result.priceSets.map(\.model) == ["long", "float-artefact", "per-request", "dup"])
        let catalog = result.catalog
        // Rounded half-even at the 18th decimal place.
        #expect(catalog.entry(for: "float-artefact", at: .epoch)?.input?.attodollars == 200_000_000_000)
        #expect(catalog.entry(for: "float-artefact", at: .epoch)?.output?.attodollars == 1_142_857_142_857)
        #expect(catalog.entry(for: "per-request", at: .epoch)?.perCall == price("0.005"))
        #expect(catalog.entry(for: "dup", at: .epoch)?.input == price("3e-06"), "the last occurrence wins")
        #expect(report.entriesRead == report.imported + report.skippedWithoutTokenPrice.count + report.invalid.count)
    }

    @Test(arguments: [
        (#"[1, 2]"#, "line 1, column 1: expected '{' (a price map is a JSON object), found '['"),
        (#"{"a": {"input_cost_per_token": 1e-06}"#, "line 1, column 38: expected ',' or '}', found the end of the text"),
        ("{\n  \"a\": {\"x\": 01}\n}", "line 2, column 15: unexpected '1' after a number"),
        (#"{"a": {}} x"#, "line 1, column 11: expected the end of the text, found 'x'"),
    ])
    func aMalformedPriceMap_throwsWithTheLineAndColumn_andImportsNothing(json: String, message: String) {
        #expect {
            _ = try PriceCatalog.importLiteLLM(Array(json.utf8), effectiveFrom: .epoch)
        } throws: { error in
            (error as? LedgerError)?.description == "price_map: " + message
        }
    }

    @Test func loadingAMissingFile_isANotFoundError() {
        #expect {
            _ = try PriceCatalog.load(contentsOf: "/nonexistent/prices.json", effectiveFrom: .epoch)
        } throws: { error in (error as? LedgerError)?.code == .notFound }
    }
}

/// The real LiteLLM price map (../shared/data/litellm_model_prices.json): every entry priced
/// exactly as its per-token prices say, checked against an independent reading of the file.
@Suite(.enabled(if: RealPriceMap.isPresent, Comment(rawValue: RealPriceMap.absentReason)))
struct RealPriceMapTests {
    /// The price fields of each entry as text, read line by line from the 4-space-indented file:
    /// an independent reading that shares no code with the importer.
    static func priceTexts(_ bytes: [UInt8]) -> [String: [String: String]] {
        let fields: Set = [
            "input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
            "cache_creation_input_token_cost", "output_cost_per_reasoning_token", "input_cost_per_request",
        ]
        var result: [String: [String: String]] = [:]
        var current: String?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            // A model's key line is indented by four spaces (one, `claude-haiku-5-5`, by none).
            let key = line.hasPrefix("    \"") ? line.dropFirst(4) : line
            if key.hasPrefix("\""), line.hasSuffix("\": {") {
                current = String(key.dropFirst().dropLast(4))
                result[current!] = [:]
            } else if let model = current, line.hasPrefix("        \""), !line.hasPrefix("         ") {
                let body = line.dropFirst(9)
                guard let quote = body.firstIndex(of: "\"") else { continue }
                let name = String(body[..<quote])
                guard fields.contains(name) else { continue }
                var value = body[body.index(quote, offsetBy: 3)...]
                if value.hasSuffix(",") { value = value.dropLast() }
                result[model]![name] = String(value)
            }
        }
        return result
    }

    /// The expected charge for `usage`, by the documented rule, from the text prices; nil when a
    /// needed price is missing (the ledger must then refuse to price).
    static func expectedNanos(_ prices: [String: String], _ usage: TokenCounts) -> Int128?? {
        func atto(_ name: String) -> Int128?? {
            guard let text = prices[name] else { return .some(nil) }
            guard let value = independentAtto(text) else { return nil }  // needs rounding: not comparable
            return .some(value)
        }
        guard let input = atto("input_cost_per_token"), let output = atto("output_cost_per_token"),
            let cacheRead = atto("cache_read_input_token_cost"), let cacheWrite = atto("cache_creation_input_token_cost"),
            let reasoning = atto("output_cost_per_reasoning_token"), let perCall = atto("input_cost_per_request")
        else { return nil }
        var sum: Int128 = 0
        for (count, price) in [
            (usage.input, input), (usage.cached, cacheRead ?? input), (usage.cacheWrite, cacheWrite ?? input),
            (usage.output, output), (usage.reasoning, reasoning ?? output),
        ] where count != 0 {
            guard let price else { return .some(nil) }
            sum += Int128(count) * price
        }
        sum += perCall ?? 0
        return .some(independentRoundHalfEven(atto: sum))
    }

    /// Read once for all the tests of the suite.
    static let bytes: [UInt8] = (try? RealPriceMap.bytes()) ?? []
    static let imported: LiteLLMImport? = try? LiteLLMImporter.parse(bytes, effectiveFrom: .epoch)
    static let texts = priceTexts(bytes)

    static let catalog: PriceCatalog? = imported?.catalog

    func realCatalog() throws -> PriceCatalog { try #require(Self.catalog) }

    let usage = TokenCounts(input: 123_457, output: 6_789, cached: 54_321, cacheWrite: 4_321, reasoning: 987)
    let at = time("2026-11-20T12:00:00Z")

    @Test func theCopyIsTheOneSourcesMdDescribes() throws {
        #expect(SHA256Digest.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let bytes = try RealPriceMap.bytes()
        #expect(bytes.count == 3_176_369)
        #expect(SHA256Digest.hex(bytes) == RealPriceMap.sha256, "the price map differs from the copy in SOURCES.md")
    }

    @Test func importingTheRealMap_accountsForEveryEntry() throws {
        let report = try #require(Self.imported).report
        #expect(report.skippedSampleSpec)
        #expect(report.entriesRead == 4_552)
        #expect(report.entriesRead == report.imported + report.skippedWithoutTokenPrice.count + report.invalid.count)
        #expect(report.invalid.isEmpty, "\(report.invalid.prefix(3))")
        #expect(report.duplicateKeys.isEmpty)
        #expect(report.imported > 3_700)
        #expect(report.roundedPrices.contains("bigmodel/glm-5.3.input_cost_per_token"))
        #expect(report.roundedPrices.count == 53)
    }

    @Test(arguments: [
        "gpt-4o", "gpt-4o-mini", "gpt-4", "gpt-3.5-turbo", "claude-sonnet-4-5", "claude-haiku-4-5", "o3-mini",
        "text-embedding-3-small", "gemini/gemini-2.5-pro", "gemini/gemini-2.5-flash", "dashscope/qwen-turbo",
        "azure/gpt-4o", "azure/eu/gpt-4o", "claude-sonnet-4-5-20250929", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "vertex_ai/claude-sonnet-4-5", "perplexity/sonar-deep-research", "perplexity/sonar-medium-online",
        "qwen_ai_platform/qwen-plus-2025-04-28", "gemini-2.5-flash", "gpt-4o-2024-05-13",
        "replicate/openai/o1", "vertex_ai/gemini-3.5-flash", "mistral/mistral-large-latest", "deepseek/deepseek-chat",
        "gpt-4.1",
    ])
    func namedModels_arePricedExactlyAsTheirPerTokenPricesSay(model: String) throws {
        let prices = try #require(Self.texts[model], "\(model) is in the map")
        let catalog = try realCatalog()
        let expected = try #require(Self.expectedNanos(prices, usage), "\(model) has exact prices")
        let nanos = try #require(expected, "\(model) has every price this usage needs")
        let priced = try catalog.price(usage, model: model, at: at)
        #expect(Int128(priced.cost.nanos) == nanos)
        #expect(priced.entryKey == model + "@1970-01-01T00:00:00Z")
    }

    /// Figures computed outside Swift (Python's `decimal`, ROUND_HALF_EVEN) for the same usage.
    @Test(arguments: [
        ("gpt-4o", 465_106_250), ("gpt-4o-mini", 27_906_375), ("gpt-4", 5_929_530_000), ("claude-sonnet-4-5", 519_511_050),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", 571_462_155), ("azure/eu/gpt-4o", 505_697_105),
        ("gemini/gemini-2.5-pro", 244_272_625), ("deepseek/deepseek-chat", 39_354_868),
        ("perplexity/sonar-medium-online", 18_996_800), ("dashscope/qwen-turbo", 10_956_250),
    ] as [(String, Int64)])
    func realModels_matchFiguresComputedOutsideSwift(model: String, nanos: Int64) throws {
        #expect(try realCatalog().price(usage, model: model, at: at).cost == Money(nanos: nanos))
    }

    @Test func everyEntryOfTheRealMap_isPricedExactly_orRefusedWhenAPriceItNeedsIsMissing() throws {
        let texts = Self.texts
        let result = try #require(Self.imported)
        let catalog = try realCatalog()
        let rounded = Set(result.report.roundedPrices.map { $0[..<$0.lastIndex(of: ".")!] }.map(String.init))
        var priced = 0
        var refused = 0
        for model in catalog.models {
            let prices = try #require(texts[model], "\(model) found by the independent reader")
            // An exact key; the same usage with and without reasoning and cache writes.
            for usage in [usage, TokenCounts(input: 1_000_003, output: 77_777)] {
                guard let expected = Self.expectedNanos(prices, usage) else {
                    #expect(rounded.contains(model), "\(model) has a price with more than 18 places")
                    continue
                }
                if let nanos = expected {
                    let cost = try catalog.price(usage, model: model, at: at).cost
                    #expect(Int128(cost.nanos) == nanos, "\(model)")
                    priced += 1
                } else {
                    #expect(throws: LedgerError.self, "\(model) lacks a price") { _ = try catalog.price(usage, model: model, at: at) }
                    refused += 1
                }
            }
        }
        #expect(priced > 7_000)
        #expect(priced + refused + rounded.count * 2 >= catalog.models.count * 2)
    }
}

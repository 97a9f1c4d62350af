import Foundation
public import LedgerCore
public import LedgerDomain

/// What an import of a LiteLLM price map produced and what it left out.
///
/// Guarantees: every model entry of the map is accounted for exactly once: it was imported, or
/// it is listed (or counted) with the reason it was not.
public struct LiteLLMImportReport: Hashable, Sendable {
    /// An entry that was not imported because one of its values is unusable.
    public struct InvalidEntry: Hashable, Sendable {
        public var key: String
        public var reason: String
    }

    /// Model entries in the map (`sample_spec` not counted).
    public var entriesRead = 0
    /// Entries turned into a ``PriceSet``.
    public var imported = 0
    /// Whether the map had LiteLLM's `sample_spec` documentation entry (always skipped).
    public var skippedSampleSpec = false
    /// Keys of entries with no per-token price (image, audio, video, per-second, rerank-only
    /// entries ...): skipped. Calls on those models need an explicit cost.
    public var skippedWithoutTokenPrice: [String] = []
    /// Entries skipped because a price the importer reads is not a non-negative number, or the
    /// entry is not an object.
    public var invalid: [InvalidEntry] = []
    /// `key.field` of each price that has more than 18 decimal places in the map (a
    /// floating-point artefact such as `2.0000000000000002E-7`, or a repeating fraction such as
    /// `1.1428571428571428e-06`), rounded half-even to the atto-dollar on import.
    public var roundedPrices: [String] = []
    /// Keys that appear more than once at the top level; the last occurrence wins.
    public var duplicateKeys: [String] = []
    /// Imported entries that also carry prices this importer does not use (long-context tiers,
    /// batch / priority / flex prices, audio, image, video, per-second, search ...).
    public var entriesWithIgnoredPrices = 0

    public init() {}
}

/// The price events read from a LiteLLM price map, with the report of what was left out.
public struct LiteLLMImport: Hashable, Sendable {
    /// One `price.set` per imported entry, in the map's order, all at the same `effectiveFrom`.
    public var priceSets: [PriceSet]
    public var report: LiteLLMImportReport

    /// The catalog of these prices.
    public var catalog: PriceCatalog { PriceCatalog(priceSets) }
}

/// Reads LiteLLM's `model_prices_and_context_window.json` format into price events.
///
/// Guarantees: numbers are read from their JSON **text** and parsed exactly
/// (``Price/init(dollars:)`` semantics); they never pass through `Double`. The map is checked
/// against the JSON grammar; a malformed map throws and imports nothing.
///
/// Mapping (per token unless said otherwise): `input_cost_per_token` -> input,
/// `output_cost_per_token` -> output, `cache_read_input_token_cost` -> cache read,
/// `cache_creation_input_token_cost` -> cache write (the 5-minute write price),
/// `output_cost_per_reasoning_token` -> reasoning, `input_cost_per_request` -> per call,
/// `litellm_provider` -> vendor. Every other field is ignored; see `Docs/Pricing.md` for what that
/// leaves unsupported (long-context tiers, batch/priority/flex, audio, image, ...).
public enum LiteLLMImporter {
    /// The price fields read (the LiteLLM names, in the order of ``PriceSet``'s fields).
    static let priceFieldNames = [
        "input_cost_per_token", "output_cost_per_token", "cache_read_input_token_cost",
        "cache_creation_input_token_cost", "output_cost_per_reasoning_token", "input_cost_per_request",
    ]

    /// Sets the ``PriceSet`` field a LiteLLM price field fills; false when `name` is not one.
    static func set(_ name: String, _ price: Price, in priceSet: inout PriceSet) -> Bool {
        switch name {
        case "input_cost_per_token": priceSet.input = price
        case "output_cost_per_token": priceSet.output = price
        case "cache_read_input_token_cost": priceSet.cacheRead = price
        case "cache_creation_input_token_cost": priceSet.cacheWrite = price
        case "output_cost_per_reasoning_token": priceSet.reasoning = price
        case "input_cost_per_request": priceSet.perCall = price
        default: return false
        }
        return true
    }

    /// Parses a price map.
    ///
    /// - Parameters:
    ///   - json: the map's bytes (UTF-8 JSON).
    ///   - effectiveFrom: the instant from which the imported prices apply.
    /// - Throws: `LedgerError` (`invalidEvent`, field `price_map`) naming the line and column of
    ///   the first syntax error, or when the top level is not an object.
    public static func parse(_ json: [UInt8], effectiveFrom: LedgerTime) throws(LedgerError) -> LiteLLMImport {
        let result: Result<LiteLLMImport, LedgerError> = json.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            do throws(JSONSyntaxError) {
                return .success(try parse(&scanner, effectiveFrom: effectiveFrom))
            } catch {
                let (line, column) = position(of: error.offset, in: buffer)
                return .failure(
                    LedgerError(
                        .invalidEvent, "price_map: line \(line), column \(column): \(error.reason)", field: "price_map"))
            }
        }
        return try result.get()
    }

    /// Reads and parses the price map at `path`.
    ///
    /// - Throws: `LedgerError` (`notFound`, field `path`) when the file cannot be read, or what
    ///   ``parse(_:effectiveFrom:)`` throws.
    public static func parseFile(atPath path: String, effectiveFrom: LedgerTime) throws(LedgerError) -> LiteLLMImport {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LedgerError(.notFound, "path: cannot read the price map \(path)", field: "path")
        }
        return try parse(Array(data), effectiveFrom: effectiveFrom)
    }

    /// What became of one entry of the map.
    private enum Outcome {
        case imported(PriceSet, rounded: [String], ignoredPrices: Bool)
        case withoutTokenPrice
        case invalid(String)
    }

    private static func parse(_ scanner: inout JSONScanner, effectiveFrom: LedgerTime) throws(JSONSyntaxError)
        -> LiteLLMImport
    {
        var report = LiteLLMImportReport()
        var order: [String] = []
        var outcomes: [String: Outcome] = [:]
        try scanner.expect(0x7B, "'{' (a price map is a JSON object)")
        if !scanner.consume(0x7D) {
            repeat {
                scanner.skipWhitespace()
                let keyToken = try scanner.scanString()
                guard let key = scanner.decodeString(keyToken) else {
                    throw JSONSyntaxError(offset: keyToken.range.lowerBound, reason: "a key is not valid UTF-8")
                }
                try scanner.expect(0x3A, "':'")
                let value = try scanner.scanValue()
                if key == "sample_spec" {
                    report.skippedSampleSpec = true
                    continue
                }
                let outcome = entry(key, value, in: scanner, effectiveFrom: effectiveFrom)
                if outcomes.updateValue(outcome, forKey: key) == nil {
                    order.append(key)
                } else {
                    // The last occurrence wins, at the place of the first.
                    report.duplicateKeys.append(key)
                }
            } while scanner.consume(0x2C)
            try scanner.expect(0x7D, "',' or '}'")
        }
        scanner.skipWhitespace()
        guard scanner.isAtEnd else { throw scanner.error(expected: "the end of the text") }
        var priceSets: [PriceSet] = []
        priceSets.reserveCapacity(order.count)
        for key in order {
            switch outcomes[key]! {
            case .imported(let priceSet, let rounded, let ignoredPrices):
                priceSets.append(priceSet)
                report.roundedPrices += rounded
                if ignoredPrices { report.entriesWithIgnoredPrices += 1 }
            case .withoutTokenPrice:
                report.skippedWithoutTokenPrice.append(key)
            case .invalid(let reason):
                report.invalid.append(.init(key: key, reason: reason))
            }
        }
        report.entriesRead = order.count
        report.imported = priceSets.count
        return LiteLLMImport(priceSets: priceSets, report: report)
    }

    /// One model entry as a price event, or why it is skipped.
    private static func entry(_ key: String, _ value: JSONValue, in scanner: JSONScanner, effectiveFrom: LedgerTime)
        -> Outcome
    {
        guard value.kind == .object else { return .invalid("the entry is not a JSON object") }
        var priceSet = PriceSet(model: key, effectiveFrom: effectiveFrom)
        var ignoredPrices = false
        var rounded: [String] = []
        // The scanner has already checked this text; walk the entry's members.
        var inner = JSONScanner(scanner.bytes, index: value.range.lowerBound)
        do throws(JSONSyntaxError) {
            try inner.expect(0x7B, "'{'")
            if !inner.consume(0x7D) {
                repeat {
                    inner.skipWhitespace()
                    let nameToken = try inner.scanString()
                    let name = inner.decodeString(nameToken) ?? ""
                    try inner.expect(0x3A, "':'")
                    let member = try inner.scanValue(depth: 1)
                    if priceFieldNames.contains(name) {
                        switch member.kind {
                        case .null:
                            continue
                        case .number:
                            let text = inner.excerpt(member.range, limit: 64)
                            switch price(text) {
                            case .exact(let price): _ = set(name, price, in: &priceSet)
                            case .rounded(let price):
                                _ = set(name, price, in: &priceSet)
                                rounded.append(key + "." + name)
                            case .invalid(let why): return .invalid("\(name): \(why), got \(text)")
                            }
                        default:
                            return .invalid("\(name): must be a number, got \(inner.display(member))")
                        }
                    } else if name == "litellm_provider" {
                        if member.kind == .string, let vendor = inner.decodeString(member), !vendor.isEmpty {
                            priceSet.vendor = vendor
                        }
                    } else if name.contains("cost") || name.contains("price") {
                        ignoredPrices = true
                    }
                } while inner.consume(0x2C)
            }
        } catch {
            return .invalid(error.reason)  // unreachable: the text was accepted once already
        }
        guard CatalogEntry(priceSet).hasTokenPrice else { return .withoutTokenPrice }
        return .imported(priceSet, rounded: rounded, ignoredPrices: ignoredPrices)
    }

    enum ParsedPrice: Equatable {
        case exact(Price)
        case rounded(Price)
        case invalid(String)
    }

    /// A price from its decimal text: exact when it has at most 18 decimal places, else rounded
    /// half-even to the atto-dollar.
    static func price(_ text: String) -> ParsedPrice {
        guard let decimal = ExactDecimal(text) else { return .invalid("is not a decimal number") }
        guard !decimal.isNegative else { return .invalid("must not be negative") }
        if let atto = decimal.scaledExactly(toDecimalPlaces: 18) { return .exact(Price(attodollars: atto)) }
        if decimal.exponent + 18 < 0, let atto = decimal.scaled(toDecimalPlaces: 18) {
            return .rounded(Price(attodollars: atto))
        }
        return .invalid("is over the largest price per unit (\(Price(attodollars: .max).dollars) dollars)")
    }

    /// 1-based line and column (in bytes) of a byte offset.
    static func position(of offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (line: Int, column: Int) {
        var line = 1
        var lineStart = 0
        for index in 0..<min(offset, bytes.count) where bytes[index] == 0x0A {
            line += 1
            lineStart = index + 1
        }
        return (line, offset - lineStart + 1)
    }
}

extension PriceCatalog {
    /// The `price.set` events for every priced entry of a LiteLLM price map (see
    /// ``LiteLLMImporter``), all effective from `effectiveFrom`. Append them to
    /// `catalog:prices` to make the prices part of the record.
    ///
    /// - Throws: `LedgerError` when the map is not valid JSON or not an object.
    public static func importLiteLLM(_ json: [UInt8], effectiveFrom: LedgerTime) throws(LedgerError) -> [PriceSet] {
        try LiteLLMImporter.parse(json, effectiveFrom: effectiveFrom).priceSets
    }

    /// The catalog of a LiteLLM price map, every price effective from `effectiveFrom`.
    public init(liteLLM json: [UInt8], effectiveFrom: LedgerTime) throws(LedgerError) {
        self.init(try Self.importLiteLLM(json, effectiveFrom: effectiveFrom))
    }

    /// Reads a LiteLLM-format price map from a file (such as `Fixtures/price-catalog.json`).
    ///
    /// - Throws: `LedgerError` when the file cannot be read or is not a valid price map.
    public static func load(contentsOf path: String, effectiveFrom: LedgerTime) throws(LedgerError) -> PriceCatalog {
        try LiteLLMImporter.parseFile(atPath: path, effectiveFrom: effectiveFrom).catalog
    }
}

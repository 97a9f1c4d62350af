public import LedgerCore
public import LedgerDomain

/// Prices per model over time: the catalog that turns token counts into exact charges.
///
/// Guarantees:
/// - **Prices are events.** The catalog is a fold of ``PriceSet`` events (``apply(_:)-(PriceSet)``),
///   so it can be rebuilt from the `catalog:prices` stream at any point of the log. A later
///   `PriceSet` for the same model and the same effective-from instant replaces the earlier one
///   (a correction); one with a new instant adds a version.
/// - **A call is priced at the price of its time.** ``entry(for:at:)`` returns the model's entry
///   with the latest `effectiveFrom` at or before the call's time.
/// - **Exact money.** ``price(_:model:at:)`` sums in atto-dollars and rounds once, half-even, to
///   nano-dollars (``Price/roundToMoney(_:)``). No floating point anywhere.
/// - **Tolerant but never guessing lookup.** Model names are matched exactly (case-sensitive)
///   first, then with provider and region prefixes stripped, then (for a bare name only) against a
///   single prefixed key; an ambiguous bare name is not priced. See ``entry(for:at:)``.
///
/// A `PriceCatalog` is a value: copy it freely between tasks.
///
/// ```swift
/// var catalog = PriceCatalog()
/// catalog.apply(PriceSet(model: "gpt-4o", effectiveFrom: .epoch,
///                        input: Price(dollars: "2.5e-06"), output: Price(dollars: "1e-05")))
/// let (cost, entry) = try catalog.price(TokenCounts(input: 1000, output: 300), model: "openai/gpt-4o", at: now)
/// // cost == $0.0055, entry == "gpt-4o@1970-01-01T00:00:00Z"
/// ```
public struct PriceCatalog: Equatable, Sendable {
    /// Each model's entries, sorted by `effectiveFrom`, no two at the same instant.
    private var entriesByModel: [String: [CatalogEntry]] = [:]
    /// Bare name (every provider and region prefix removed) -> the prefixed keys that have it.
    private var keysByBareName: [String: [String]] = [:]

    /// Region prefixes stripped by lookup (`us.anthropic.claude-…` -> `anthropic.claude-…`).
    public static let regionPrefixes = ["us.", "eu.", "apac.", "global.", "au.", "jp.", "us-gov."]

    /// An empty catalog: it prices nothing.
    public init() {}

    /// The catalog folded from these price events, in order.
    public init(_ priceSets: some Sequence<PriceSet>) {
        for priceSet in priceSets { apply(priceSet) }
    }

    // MARK: Building

    /// Folds one price event in: adds a version of the model's prices from `effectiveFrom` on, or
    /// replaces the version at exactly that instant.
    public mutating func apply(_ priceSet: PriceSet) {
        let entry = CatalogEntry(priceSet)
        if entriesByModel[entry.model] == nil {
            let bare = Self.bareName(entry.model)
            if bare != entry.model {
                // Kept sorted, so that equal catalogs compare equal whatever order they were built in.
                keysByBareName[bare, default: []].append(entry.model)
                keysByBareName[bare]!.sort()
            }
        }
        Self.insert(entry, into: &entriesByModel[entry.model, default: []])
    }

    /// Puts `entry` in a model's sorted history, replacing the version at the same instant.
    private static func insert(_ entry: CatalogEntry, into list: inout [CatalogEntry]) {
        let position = insertionIndex(in: list, for: entry.effectiveFrom)
        if position < list.count, list[position].effectiveFrom == entry.effectiveFrom {
            list[position] = entry
        } else {
            list.insert(entry, at: position)
        }
    }

    /// Folds a stored event in if it is a `price.set`; returns whether it was one.
    ///
    /// - Throws: when a `price.set` payload does not decode.
    @discardableResult
    public mutating func apply(_ event: RecordedEvent) throws(LedgerError) -> Bool {
        guard event.type == PriceSet.type else { return false }
        apply(try event.decode(as: PriceSet.self))
        return true
    }

    // MARK: Reading

    /// The catalog's model names (exact keys), sorted.
    public var models: [String] { entriesByModel.keys.sorted() }

    /// How many entries (model versions) the catalog holds.
    public var entryCount: Int { entriesByModel.values.reduce(0) { $0 + $1.count } }

    /// Every entry, model by model (sorted by name) and oldest first: the `PriceSet` events that
    /// rebuild this catalog are `allEntries.map(\.priceSet)`.
    public var allEntries: [CatalogEntry] { models.flatMap { entriesByModel[$0]! } }

    /// The versions of one exact model key, oldest first (no prefix tolerance).
    public func entries(forModel model: String) -> [CatalogEntry] { entriesByModel[model] ?? [] }

    /// The entry with this key (`"<model>@<effective-from RFC 3339>"`), as a usage event names it.
    public func entry(forKey key: String) -> CatalogEntry? {
        guard let at = key.lastIndex(of: "@") else { return nil }
        return entriesByModel[String(key[..<at])]?.first { $0.key == key }
    }

    /// The entry in effect for `model` at `time`: the latest `effectiveFrom <= time`.
    ///
    /// Lookup order, first hit wins (a name whose entries all start after `time` is no hit):
    /// 1. the exact key (`gpt-4o`);
    /// 2. the name with leading `provider/` segments stripped one by one, and at each step a
    ///    region prefix (``regionPrefixes``) stripped (`openrouter/openai/gpt-4o` -> `openai/gpt-4o`
    ///    -> `gpt-4o`; `bedrock/us.anthropic.x` -> `us.anthropic.x` -> `anthropic.x`);
    /// 3. only for a bare name (no `/`, no region prefix): the one prefixed key whose bare form it
    ///    is (`gemini-2.5-pro` -> `gemini/gemini-2.5-pro`). When several prefixed keys share that
    ///    bare form, the name is ambiguous and nothing is returned.
    ///
    /// A prefixed name is never priced at a differently prefixed entry (`azure/x` never falls
    /// back to `bedrock/x`). Returns nil when nothing matches.
    public func entry(for model: String, at time: LedgerTime) -> CatalogEntry? {
        if case .found(let entry) = resolve(model, at: time) { return entry }
        return nil
    }

    /// The charge for `usage` on `model` at `time`, and the key of the entry that priced it.
    ///
    /// The exact atto-dollar sum of ``CatalogEntry/cost(of:)`` is rounded once, half-even, to
    /// nano-dollars.
    ///
    /// - Throws: `LedgerError` with `field` `model` when the model is not in the catalog, is
    ///   ambiguous, or has no price yet at `time`; with the usage field when a count is negative
    ///   or needs a price the entry lacks. Each message starts with `"<field>: "`.
    public func price(_ usage: TokenCounts, model: String, at time: LedgerTime) throws(LedgerError) -> (
        cost: Money, entryKey: String
    ) {
        let entry = try requireEntry(for: model, at: time)
        return (try entry.charge(for: usage), entry.key)
    }

    /// ``entry(for:at:)``, or an error that says why there is none.
    ///
    /// - Throws: `LedgerError` (`notFound`, `field` `model`).
    public func requireEntry(for model: String, at time: LedgerTime) throws(LedgerError) -> CatalogEntry {
        switch resolve(model, at: time) {
        case .found(let entry):
            return entry
        case .notFound:
            throw LedgerError(.notFound, "model: \"\(model)\" is not in the price catalog", field: "model")
        case .ambiguous(let keys):
            let shown = keys.prefix(5).map { "\"\($0)\"" }.joined(separator: ", ") + (keys.count > 5 ? ", …" : "")
            throw LedgerError(
                .notFound,
                "model: \"\(model)\" is ambiguous in the price catalog (it matches \(keys.count) keys: \(shown)); name one of them",
                field: "model")
        case .notYetPriced(let key, let first):
            throw LedgerError(
                .notFound,
                "model: \"\(model)\" has no price in effect at \(time.rfc3339) (catalog key \"\(key)\" is priced from \(first.rfc3339) on)",
                field: "model")
        }
    }

    // MARK: Lookup

    enum Resolution: Equatable {
        case found(CatalogEntry)
        case notFound
        case ambiguous([String])
        /// The name matched a key whose first entry starts after the time asked about.
        case notYetPriced(key: String, first: LedgerTime)
    }

    func resolve(_ model: String, at time: LedgerTime) -> Resolution {
        // The hot path: the exact key, one dictionary lookup and a search of a short array.
        if let list = entriesByModel[model], let entry = Self.latest(in: list, at: time) { return .found(entry) }
        return resolveTolerantly(model, at: time)
    }

    private func resolveTolerantly(_ model: String, at time: LedgerTime) -> Resolution {
        var notYet: Resolution?
        func hit(_ key: String) -> CatalogEntry? {
            guard let list = entriesByModel[key] else { return nil }
            if let entry = Self.latest(in: list, at: time) { return entry }
            if notYet == nil { notYet = .notYetPriced(key: key, first: list[0].effectiveFrom) }
            return nil
        }
        // 1. Exact (only to note a key that has no price yet at this time).
        if let entry = hit(model) { return .found(entry) }
        // 2. Strip provider segments, and a region prefix at each step.
        var rest = Substring(model)
        var first = true
        while true {
            if !first, let entry = hit(String(rest)) { return .found(entry) }
            first = false
            if let region = Self.regionPrefix(of: rest) {
                if let entry = hit(String(Self.dropUTF8(rest, region.utf8.count))) { return .found(entry) }
            }
            guard let slash = rest.utf8.firstIndex(of: 0x2F) else { break }
            rest = rest[rest.utf8.index(after: slash)...]
            if rest.isEmpty { break }
        }
        // 3. A bare name against the prefixed keys that reduce to it.
        if !model.utf8.contains(0x2F), Self.regionPrefix(of: Substring(model)) == nil, let keys = keysByBareName[model] {
            var matches: [(key: String, entry: CatalogEntry)] = []
            for key in keys {
                if let entry = hit(key) { matches.append((key, entry)) }
            }
            if matches.count == 1 { return .found(matches[0].entry) }
            if matches.count > 1 { return .ambiguous(matches.map(\.key).sorted()) }
        }
        return notYet ?? .notFound
    }

    /// The name with every `provider/` segment and then a region prefix removed.
    static func bareName(_ model: String) -> String {
        var rest = Substring(model)
        if let slash = rest.utf8.lastIndex(of: 0x2F), rest.utf8.index(after: slash) < rest.endIndex {
            rest = rest[rest.utf8.index(after: slash)...]
        }
        if let region = regionPrefix(of: rest) { rest = dropUTF8(rest, region.utf8.count) }
        return String(rest)
    }

    /// `text` without its first `count` UTF-8 bytes (an ASCII prefix, so a scalar boundary).
    static func dropUTF8(_ text: Substring, _ count: Int) -> Substring {
        text[text.utf8.index(text.startIndex, offsetBy: count)...]
    }

    static func regionPrefix(of name: Substring) -> String? {
        for prefix in regionPrefixes where name.utf8.starts(with: prefix.utf8) && name.utf8.count > prefix.utf8.count {
            return prefix
        }
        return nil
    }

    /// The entry with the latest `effectiveFrom <= time` in a sorted list.
    static func latest(in list: [CatalogEntry], at time: LedgerTime) -> CatalogEntry? {
        let position = insertionIndex(in: list, for: time, after: true)
        return position == 0 ? nil : list[position - 1]
    }

    /// The first index whose `effectiveFrom` is `>= time` (or `> time` when `after`).
    static func insertionIndex(in list: [CatalogEntry], for time: LedgerTime, after: Bool = false) -> Int {
        var low = 0
        var high = list.count
        while low < high {
            let middle = (low + high) / 2
            let from = list[middle].effectiveFrom
            if from < time || (after && from == time) { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

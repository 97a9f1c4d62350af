public import LedgerCore

/// What a charge was for.
public enum ChargeKind: UInt8, Sendable, Hashable, Codable, CaseIterable {
    case llm = 0, tool, embedding, retrieval, compute, other

    public var name: String {
        switch self {
        case .llm: "llm"
        case .tool: "tool"
        case .embedding: "embedding"
        case .retrieval: "retrieval"
        case .compute: "compute"
        case .other: "other"
        }
    }

    public init?(name: String) {
        guard let kind = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = kind
    }
}

/// A charge that happened: a model call, a tool call, an embedding, a retrieval, compute.
///
/// Token fields never overlap (see `Docs/Pricing.md`): `inputTokens` excludes cache reads and
/// writes, `outputTokens` excludes reasoning tokens. `cost` is exact; `priceEntry` names the
/// catalog entry that priced it (nil when the producer gave the cost), so the cost stays what it
/// was after the catalog changes. Stored on the run's stream (`run:<id>`); its dimensions (agent,
/// client, model, ...) are in the envelope.
public struct UsageRecorded: SpendEvent {
    public static let type = "usage.recorded"
    public static let schema: UInt16 = 1

    public var kind: ChargeKind
    public var cost: Money
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var cachedTokens: Int64
    public var cacheWriteTokens: Int64
    public var reasoningTokens: Int64
    public var toolCalls: Int32
    public var retry: Int32
    public var latencyMs: Int32
    /// The catalog entry that priced the charge (`model@effective-from`), nil for a given cost.
    public var priceEntry: String?
    /// The authorization this charge settles, if it came through `authorize`.
    public var reservation: EventID?

    public init(
        kind: ChargeKind = .llm, cost: Money, inputTokens: Int64 = 0, outputTokens: Int64 = 0,
        cachedTokens: Int64 = 0, cacheWriteTokens: Int64 = 0, reasoningTokens: Int64 = 0, toolCalls: Int32 = 0,
        retry: Int32 = 0, latencyMs: Int32 = 0, priceEntry: String? = nil, reservation: EventID? = nil
    ) {
        self.kind = kind
        self.cost = cost
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedTokens = cachedTokens
        self.cacheWriteTokens = cacheWriteTokens
        self.reasoningTokens = reasoningTokens
        self.toolCalls = toolCalls
        self.retry = retry
        self.latencyMs = latencyMs
        self.priceEntry = priceEntry
        self.reservation = reservation
    }

    // The layout is documented, and read, by ``UsageFigures``.
    static let fixedBytes = UsageFigures.fixedBytes

    public func encodePayload() -> (encoding: PayloadEncoding, bytes: [UInt8]) {
        // One allocation, fields stored in place (this runs once per ingested record).
        let entry = priceEntry.map { $0.utf8.prefix(Int(UInt16.max)) }
        let count = Self.fixedBytes + (reservation == nil ? 0 : 16) + (entry.map { 2 + $0.count } ?? 0)
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var offset = 0
            func put<T: FixedWidthInteger>(_ value: T) {
                raw.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
                offset += MemoryLayout<T>.size
            }
            var flags: UInt8 = 0
            if reservation != nil { flags |= 1 }
            if priceEntry != nil { flags |= 2 }
            put(kind.rawValue)
            put(flags)
            put(UInt16(0))
            put(toolCalls)
            put(retry)
            put(latencyMs)
            put(cost.nanos)
            put(inputTokens)
            put(outputTokens)
            put(cachedTokens)
            put(cacheWriteTokens)
            put(reasoningTokens)
            if let reservation {
                put(reservation.high)
                put(reservation.low)
            }
            if let entry {
                put(UInt16(entry.count))
                for byte in entry {
                    raw[offset] = byte
                    offset += 1
                }
            }
            precondition(offset == count, "the usage payload's size")
            initialized = count
        }
        return (.binary, bytes)
    }

    public init(payload: [UInt8], schema: UInt16) throws(LedgerError) {
        guard schema == Self.schema else {
            throw LedgerError(.unsupportedFormat, "usage.recorded schema \(schema) is not known to this build", field: "schema")
        }
        let parsed: UsageRecorded? = payload.withUnsafeBytes { Self.decode($0) }
        guard let parsed else { throw LedgerError(.corrupted, "a usage.recorded payload is damaged", field: "payload") }
        self = parsed
    }

    /// Decodes in place (no allocation unless a price entry is present); nil when damaged.
    public static func decode(_ raw: UnsafeRawBufferPointer) -> UsageRecorded? {
        guard let figures = UsageFigures(binaryPayload: raw) else { return nil }
        var usage = UsageRecorded(
            kind: figures.kind, cost: Money(nanos: figures.costNanos), inputTokens: figures.inputTokens,
            outputTokens: figures.outputTokens, cachedTokens: figures.cachedTokens,
            cacheWriteTokens: figures.cacheWriteTokens, reasoningTokens: figures.reasoningTokens,
            toolCalls: figures.toolCalls, retry: figures.retry, latencyMs: figures.latencyMs)
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        var offset = fixedBytes
        if figures.flags & 1 != 0 {
            usage.reservation = EventID(high: load(offset, UInt64.self), low: load(offset + 8, UInt64.self))
            offset += 16
        }
        if figures.flags & 2 != 0 {
            let count = Int(load(offset, UInt16.self))
            usage.priceEntry = String(decoding: UnsafeRawBufferPointer(rebasing: raw[(offset + 2)..<(offset + 2 + count)]), as: UTF8.self)
        }
        return usage
    }
}

extension UsageRecorded {
    /// The payload as a JSON object, for `spend export` and reports (keys sorted as written here).
    public var jsonObject: String {
        var json = JSONObjectWriter()
        json.add("kind", kind.name)
        json.add("cost_nanos", cost.nanos)
        json.add("cost_usd", cost.dollars)
        json.add("input_tokens", inputTokens)
        json.add("output_tokens", outputTokens)
        json.add("cached_tokens", cachedTokens)
        json.add("cache_write_tokens", cacheWriteTokens)
        json.add("reasoning_tokens", reasoningTokens)
        json.add("tool_calls", toolCalls)
        json.add("retry", retry)
        json.add("latency_ms", latencyMs)
        if let priceEntry { json.add("price_entry", priceEntry) }
        if let reservation { json.add("reservation", reservation.description) }
        return json.finish()
    }

    /// Renders a stored `usage.recorded` payload for ``EventJSON``; nil for other events.
    public static func renderPayload(_ event: RecordedEvent) -> String? {
        guard event.type == type, let usage = try? UsageRecorded(payload: event.payload, schema: event.schema) else { return nil }
        return usage.jsonObject
    }
}

/// The fixed figures of a `usage.recorded` payload (schema 1, binary), read in place: the one
/// reader of that layout, for the full decoder and for the folds that must not allocate per event
/// (projections, detectors).
///
/// Layout (little-endian): u8 kind, u8 flags (bit 0 reservation, bit 1 price entry), u16 0,
/// i32 tool calls, i32 retry, i32 latency ms, i64 cost nanos, i64 × 5 tokens (input, output,
/// cached, cache write, reasoning), [16 bytes reservation], [u16 length + price entry UTF-8].
///
/// Guarantees: a payload is accepted only when the kind is known, no unknown flag is set, and its
/// length is exactly what the flags announce; anything else is damaged and gives nil.
public struct UsageFigures: Sendable, Hashable {
    public var kind: ChargeKind
    public var toolCalls: Int32
    public var retry: Int32
    public var latencyMs: Int32
    public var costNanos: Int64
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var cachedTokens: Int64
    public var cacheWriteTokens: Int64
    public var reasoningTokens: Int64
    /// Which optional parts follow the fixed bytes: bit 0 a reservation id, bit 1 a price entry.
    public var flags: UInt8

    /// Bytes before the optional parts: the reservation id (16 bytes) when flag bit 0 is set, then
    /// the price entry (u16 length + UTF-8) when bit 1 is.
    public static let fixedBytes = 64

    /// Nil when `raw` is not a well-formed schema-1 payload.
    @inlinable @inline(__always)
    public init?(binaryPayload raw: UnsafeRawBufferPointer) {
        guard raw.count >= Self.fixedBytes, let kind = ChargeKind(rawValue: raw[0]) else { return nil }
        let flags = raw[1]
        guard flags & ~3 == 0 else { return nil }
        var end = Self.fixedBytes
        if flags & 1 != 0 { end += 16 }
        if flags & 2 != 0 {
            guard raw.count >= end + 2 else { return nil }
            end += 2 + Int(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: end, as: UInt16.self)))
        }
        guard raw.count == end else { return nil }
        @inline(__always) func load64(_ offset: Int) -> Int64 {
            Int64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int64.self))
        }
        @inline(__always) func load32(_ offset: Int) -> Int32 {
            Int32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: Int32.self))
        }
        self.kind = kind
        self.flags = flags
        toolCalls = load32(4)
        retry = load32(8)
        latencyMs = load32(12)
        costNanos = load64(16)
        inputTokens = load64(24)
        outputTokens = load64(32)
        cachedTokens = load64(40)
        cacheWriteTokens = load64(48)
        reasoningTokens = load64(56)
    }
}

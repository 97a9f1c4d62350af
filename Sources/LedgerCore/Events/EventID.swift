/// The 128-bit id a producer gives an event: its idempotency key.
///
/// Appending an event whose id is already stored writes nothing and returns the stored event's
/// position. The text form is a UUID (`0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e`). ``generate(at:)``
/// makes time-ordered ids (UUID version 7), which keep the id index append-mostly.
public struct EventID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static let zero = EventID(high: 0, low: 0)

    public static func < (lhs: EventID, rhs: EventID) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }

    /// A new UUID version 7: 48 bits of Unix milliseconds, then 74 random bits.
    public static func generate(at time: LedgerTime = SystemClock().now()) -> EventID {
        var random = SystemRandomNumberGenerator()
        return generate(at: time, using: &random)
    }

    /// A UUID version 7 drawn from the given generator (deterministic with a seeded one).
    public static func generate(at time: LedgerTime, using random: inout some RandomNumberGenerator) -> EventID {
        let millis = UInt64(max(0, time.nanosecondsSinceEpoch / 1_000_000)) & 0xFFFF_FFFF_FFFF
        let high = (millis << 16) | 0x7000 | (random.next() & 0x0FFF)
        let low = (random.next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        return EventID(high: high, low: low)
    }

    /// Parses the 36-character UUID form, or 32 hex digits without dashes; any case.
    public init?(_ text: String) {
        var text = text
        guard let id = text.withUTF8({ Self.parse($0) }) else { return nil }
        self = id
    }

    public init?(_ text: Substring) { self.init(String(text)) }

    /// Parses a UUID from UTF-8 bytes without building a String.
    public static func parse(_ utf8: UnsafeBufferPointer<UInt8>) -> EventID? {
        guard utf8.count == 36 || utf8.count == 32 else { return nil }
        let dashed = utf8.count == 36
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digits = 0
        for offset in 0..<utf8.count {
            let byte = utf8[offset]
            if dashed, offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == 45 else { return nil }
                continue
            }
            guard let value = hexValue(byte) else { return nil }
            if digits < 16 { high = high << 4 | UInt64(value) } else { low = low << 4 | UInt64(value) }
            digits += 1
        }
        return digits == 32 ? EventID(high: high, low: low) : nil
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 97...102: return byte - 87
        case 65...70: return byte - 55
        default: return nil
        }
    }

    /// The lowercase UUID form.
    public var description: String {
        let hex = Hex.encode(high) + Hex.encode(low)
        var text = ""
        text.reserveCapacity(36)
        for (offset, character) in hex.enumerated() {
            if [8, 12, 16, 20].contains(offset) { text.append("-") }
            text.append(character)
        }
        return text
    }
}

/// Lowercase hexadecimal text.
package enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    package static func encode(_ value: UInt64) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<16 { bytes[index] = digits[Int((value >> UInt64(60 - index * 4)) & 0xF)] }
        return String(decoding: bytes, as: UTF8.self)
    }

    package static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out = [UInt8]()
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    package static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let hi = nibble(utf8[index]), let lo = nibble(utf8[index + 1]) else { return nil }
            out.append(hi << 4 | lo)
            index += 2
        }
        return out
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 48...57: return byte - 48
        case 97...102: return byte - 87
        case 65...70: return byte - 55
        default: return nil
        }
    }
}

import LedgerCore
import LedgerDomain

/// The figures of one charge, read in place from a `usage.recorded` event.
///
/// The binary payload (``LedgerDomain/UsageRecorded`` schema 1) is read in place by
/// ``LedgerDomain/UsageFigures``, the same reader `UsageRecorded.decode` uses, allocating nothing. A JSON payload (the usage-record
/// format of the design, as the demo stores it) is read field by field: `cost_nanos`, else
/// `cost_usd` (exact decimal), and the token counts; a record without a readable cost is
/// unreadable, never counted as zero.
struct UsageFields {
    var cost: Int64 = 0
    var inputTokens: Int64 = 0
    var outputTokens: Int64 = 0
    var cachedTokens: Int64 = 0
    var reasoningTokens: Int64 = 0
    var toolCalls: Int64 = 0
    var retry: Int64 = 0

    /// The charge, or nil when the payload cannot be read.
    @inline(__always)
    static func read(_ event: EventView) -> UsageFields? {
        let raw = event.payload
        if event.payloadEncoding == .binary {
            guard event.schema == UsageRecorded.schema, let figures = UsageFigures(binaryPayload: raw) else { return nil }
            return UsageFields(
                cost: figures.costNanos, inputTokens: figures.inputTokens, outputTokens: figures.outputTokens,
                cachedTokens: figures.cachedTokens, reasoningTokens: figures.reasoningTokens,
                toolCalls: Int64(figures.toolCalls), retry: Int64(figures.retry))
        }
        if let compact = readCompactJSON(raw) { return compact }
        return readJSON(raw)
    }

    /// The usual JSON usage payload — one object of integer members with no whitespace, such as
    /// `{"input_tokens":1200,"output_tokens":300,"cost_nanos":372}` — read in one pass with no
    /// closure and no number re-parsing. `.some(figures)` (or `.some(nil)`: no cost, unreadable)
    /// when the payload has that shape; `.none` for any other shape (a string, `null`, a fraction,
    /// whitespace, an escape, an overflow, ...), which the general reader then decides. On every
    /// payload it decides, it gives what ``readJSON(_:)`` gives (the tests compare the two).
    @inline(__always)
    static func readCompactJSON(_ raw: UnsafeRawBufferPointer) -> UsageFields?? {
        let count = raw.count
        guard count >= 2, let base = raw.baseAddress else { return .none }
        let p = base.assumingMemoryBound(to: UInt8.self)
        guard p[0] == 0x7B, p[count - 1] == 0x7D else { return .none }
        if count == 2 { return .some(nil) }
        var usage = UsageFields()
        var costNanos: Int64?
        var i = 1
        /// Which member a key names.
        enum Member { case cost, usd, input, output, cached, reasoning, toolCalls, retry, other }
        while true {
            // "key": first the keys of a usage record, compared a word at a time with their quote
            // and colon; any other key byte by byte.
            guard i < count, p[i] == 0x22 else { return .none }
            var member = Member.other
            var matched = false
            let rest = count - i
            @inline(__always) func literal(_ text: StaticString) -> Bool {
                let length = text.utf8CodeUnitCount
                guard rest > length else { return false }
                return Self.bytesEqual(UnsafeRawPointer(p + i), UnsafeRawPointer(text.utf8Start), length)
            }
            switch p[i + 1] {
            case 0x69: if literal(#""input_tokens":"#) { member = .input; matched = true; i += 15 }
            case 0x6F: if literal(#""output_tokens":"#) { member = .output; matched = true; i += 16 }
            case 0x63:
                if literal(#""cost_nanos":"#) {
                    member = .cost; matched = true; i += 13
                } else if literal(#""cached_tokens":"#) {
                    member = .cached; matched = true; i += 16
                }
            case 0x72:
                if literal(#""reasoning_tokens":"#) {
                    member = .reasoning; matched = true; i += 19
                } else if literal(#""retry":"#) {
                    member = .retry; matched = true; i += 8
                }
            case 0x74: if literal(#""tool_calls":"#) { member = .toolCalls; matched = true; i += 13 }
            default: break
            }
            if !matched {
                let keyStart = i + 1
                var j = keyStart
                while j < count {
                    let byte = p[j]
                    if byte == 0x22 { break }
                    if byte == 0x5C || byte < 0x20 { return .none }
                    j += 1
                }
                guard j + 1 < count, p[j + 1] == 0x3A else { return .none }
                if j - keyStart == 8, memcmp(p + keyStart, "cost_usd", 8) == 0 { member = .usd }
                i = j + 2
            }
            if member == .usd { return .none }
            // An integer value of at most 18 digits (so no overflow check per digit; longer ones
            // are left to the general reader).
            var negative = false
            if i < count, p[i] == 0x2D {
                negative = true
                i += 1
            }
            var magnitude: Int64 = 0
            let digitsStart = i
            while i < count {
                let digit = p[i] &- 0x30
                if digit >= 10 { break }
                magnitude = magnitude &* 10 &+ Int64(digit)
                i += 1
            }
            guard i > digitsStart, i - digitsStart <= 18, i < count else { return .none }
            let value = negative ? -magnitude : magnitude
            switch member {
            case .cost: costNanos = value
            case .input: usage.inputTokens = value
            case .output: usage.outputTokens = value
            case .cached: usage.cachedTokens = value
            case .reasoning: usage.reasoningTokens = value
            case .toolCalls: usage.toolCalls = value
            case .retry: usage.retry = value
            case .usd, .other: break
            }
            // `,` then the next member, or the closing brace at the very end.
            if p[i] == 0x2C {
                i += 1
                continue
            }
            guard p[i] == 0x7D, i == count - 1 else { return .none }
            break
        }
        guard let costNanos else { return .some(nil) }
        usage.cost = costNanos
        return .some(usage)
    }

    /// `count` (at least 4) bytes at `a` and `b` are equal: words, the last one overlapping.
    @inline(__always)
    static func bytesEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
        if count < 8 {
            return a.loadUnaligned(as: UInt32.self) == b.loadUnaligned(as: UInt32.self)
                && a.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self) == b.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        }
        var offset = 0
        while offset + 8 < count {
            if a.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != b.loadUnaligned(fromByteOffset: offset, as: UInt64.self) {
                return false
            }
            offset += 8
        }
        return a.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == b.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    }

    /// What ``read(_:)`` answers for a JSON payload (for tests).
    static func readPayloadForTests(_ raw: UnsafeRawBufferPointer) -> UsageFields? {
        if let compact = readCompactJSON(raw) { return compact }
        return readJSON(raw)
    }

    @inline(never)
    static func readJSON(_ raw: UnsafeRawBufferPointer) -> UsageFields? {
        var usage = UsageFields()
        var costNanos: Int64?
        var costUSD: Int64?
        var bad = false
        let isObject = FlatJSON.forEachMember(raw) { key, value in
            func integer() -> Int64 {
                guard let number = FlatJSON.integer(value) else {
                    if case .null = value { return 0 }
                    bad = true
                    return 0
                }
                return number
            }
            if FlatJSON.key(key, is: "cost_nanos") {
                costNanos = integer()
            } else if FlatJSON.key(key, is: "cost_usd") {
                guard let text = FlatJSON.text(value), let money = Money(dollars: text) else {
                    if case .null = value { return }
                    bad = true
                    return
                }
                costUSD = money.nanos
            } else if FlatJSON.key(key, is: "input_tokens") {
                usage.inputTokens = integer()
            } else if FlatJSON.key(key, is: "output_tokens") {
                usage.outputTokens = integer()
            } else if FlatJSON.key(key, is: "cached_tokens") {
                usage.cachedTokens = integer()
            } else if FlatJSON.key(key, is: "reasoning_tokens") {
                usage.reasoningTokens = integer()
            } else if FlatJSON.key(key, is: "tool_calls") {
                usage.toolCalls = integer()
            } else if FlatJSON.key(key, is: "retry") {
                usage.retry = integer()
            }
        }
        guard isObject, !bad, let cost = costNanos ?? costUSD else { return nil }
        usage.cost = cost
        return usage
    }
}

/// The amount of a `correction.recorded` event (``LedgerDomain/CorrectionRecorded``), read in place.
enum CorrectionFields {
    static func delta(_ event: EventView) -> Int64? {
        var delta: Int64?
        let isObject = FlatJSON.forEachMember(event.payload) { key, value in
            if FlatJSON.key(key, is: "delta_nanos") { delta = FlatJSON.integer(value) }
        }
        return isObject ? delta : nil
    }
}

/// A small reader of the top level of a JSON object, in place: enough for the fixed, flat
/// payloads the built-in views read (usage records, reservations, outcomes), without Foundation's
/// decoder on the hot path. Nested values are skipped, not interpreted.
enum FlatJSON {
    enum Value {
        /// A string's raw bytes between the quotes (escapes not yet decoded).
        case string(UnsafeRawBufferPointer, escaped: Bool)
        /// A number's text.
        case number(UnsafeRawBufferPointer)
        case bool(Bool)
        case null
        /// An object or array (skipped).
        case nested
    }

    /// Calls `body` with each top-level member; false when `json` is not one well-formed object.
    static func forEachMember(_ json: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Value) -> Void) -> Bool {
        var index = 0
        let count = json.count
        func skipSpace() {
            while index < count, json[index] == 0x20 || json[index] == 0x0A || json[index] == 0x0D || json[index] == 0x09 {
                index += 1
            }
        }
        /// After an opening quote: the string's raw bytes; index ends past the closing quote.
        func string() -> (UnsafeRawBufferPointer, Bool)? {
            let start = index
            var escaped = false
            while index < count {
                let byte = json[index]
                if byte == 0x5C {
                    escaped = true
                    index += 2
                    continue
                }
                if byte == 0x22 {
                    defer { index += 1 }
                    return (UnsafeRawBufferPointer(rebasing: json[start..<index]), escaped)
                }
                if byte < 0x20 { return nil }
                index += 1
            }
            return nil
        }
        func skipNested() -> Bool {
            var depth = 0
            while index < count {
                let byte = json[index]
                index += 1
                switch byte {
                case 0x7B, 0x5B: depth += 1
                case 0x7D, 0x5D:
                    depth -= 1
                    if depth == 0 { return true }
                case 0x22: if string() == nil { return false }
                default: break
                }
            }
            return false
        }
        skipSpace()
        guard index < count, json[index] == 0x7B else { return false }
        index += 1
        skipSpace()
        if index < count, json[index] == 0x7D {
            index += 1
            skipSpace()
            return index == count
        }
        while true {
            skipSpace()
            guard index < count, json[index] == 0x22 else { return false }
            index += 1
            guard let (key, _) = string() else { return false }
            skipSpace()
            guard index < count, json[index] == 0x3A else { return false }
            index += 1
            skipSpace()
            guard index < count else { return false }
            let value: Value
            switch json[index] {
            case 0x22:
                index += 1
                guard let (text, escaped) = string() else { return false }
                value = .string(text, escaped: escaped)
            case 0x7B, 0x5B:
                guard skipNested() else { return false }
                value = .nested
            case 0x74, 0x66, 0x6E:
                let rest = UnsafeRawBufferPointer(rebasing: json[index...])
                if Self.starts(rest, with: "true") {
                    index += 4
                    value = .bool(true)
                } else if Self.starts(rest, with: "false") {
                    index += 5
                    value = .bool(false)
                } else if Self.starts(rest, with: "null") {
                    index += 4
                    value = .null
                } else {
                    return false
                }
            default:
                let start = index
                while index < count, Self.isNumberByte(json[index]) { index += 1 }
                guard index > start else { return false }
                value = .number(UnsafeRawBufferPointer(rebasing: json[start..<index]))
            }
            body(key, value)
            skipSpace()
            guard index < count else { return false }
            if json[index] == 0x2C {
                index += 1
                continue
            }
            guard json[index] == 0x7D else { return false }
            index += 1
            skipSpace()
            return index == count
        }
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || byte == 0x2D || byte == 0x2B || byte == 0x2E || byte == 0x65 || byte == 0x45
    }

    /// True when `key` (a member name's raw bytes) is exactly `name`.
    @inline(__always)
    static func key(_ key: UnsafeRawBufferPointer, is name: StaticString) -> Bool {
        key.count == name.utf8CodeUnitCount && (key.count == 0 || memcmp(key.baseAddress!, name.utf8Start, key.count) == 0)
    }

    private static func starts(_ bytes: UnsafeRawBufferPointer, with literal: StaticString) -> Bool {
        bytes.count >= literal.utf8CodeUnitCount && memcmp(bytes.baseAddress!, literal.utf8Start, literal.utf8CodeUnitCount) == 0
    }

    /// An integer number (no fraction, no exponent) that fits Int64.
    static func integer(_ value: Value) -> Int64? {
        guard case .number(let text) = value, !text.isEmpty else { return nil }
        var index = 0
        let negative = text[0] == 0x2D
        if negative { index = 1 }
        guard index < text.count else { return nil }
        var magnitude: UInt64 = 0
        while index < text.count {
            let byte = text[index]
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            let (times, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(UInt64(byte - 0x30))
            guard !overflow1, !overflow2 else { return nil }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// A string holding a UUID (`0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e`, any case), read in place.
    static func uuid(_ value: Value) -> EventID? {
        guard case .string(let raw, false) = value else { return nil }
        return uuid(raw)
    }

    /// The 36 bytes of a UUID's text form, read in place.
    @inline(__always)
    static func uuid(_ raw: UnsafeRawBufferPointer) -> EventID? {
        guard raw.count == 36, raw[8] == 0x2D, raw[13] == 0x2D, raw[18] == 0x2D, raw[23] == 0x2D else { return nil }
        return hexValues.withUnsafeBufferPointer { table -> EventID? in
            var high: UInt64 = 0
            var low: UInt64 = 0
            var bad: UInt8 = 0
            @inline(__always) func nibbles(_ from: Int, _ count: Int, into word: inout UInt64) {
                for offset in from..<(from + count) {
                    let value = table[Int(raw[offset])]
                    bad |= value
                    word = word << 4 | UInt64(value & 0x0F)
                }
            }
            nibbles(0, 8, into: &high)
            nibbles(9, 4, into: &high)
            nibbles(14, 4, into: &high)
            nibbles(19, 4, into: &low)
            nibbles(24, 12, into: &low)
            return bad & 0xF0 == 0 ? EventID(high: high, low: low) : nil
        }
    }

    /// Hex digit values (0-15) by byte; 0xF0 marks a byte that is not a hex digit.
    private static let hexValues: [UInt8] = (0..<256).map { byte in
        switch byte {
        case 0x30...0x39: UInt8(byte - 0x30)
        case 0x61...0x66: UInt8(byte - 0x57)
        case 0x41...0x46: UInt8(byte - 0x37)
        default: 0xF0
        }
    }

    /// The canonical payloads of `spend.reserved` and `spend.released` (sorted-key JSON written by
    /// `LedgerDomain`): `{"amount_nanos":N,` then, for a reservation, `"expires_at_ns":N,` or, for
    /// a release, `"reason":"…",`, then `"reservation":"UUID"`. Read without the general parser;
    /// nil when the payload has any other shape (the caller then uses ``forEachMember(_:_:)``).
    static func reservationFast(_ json: UnsafeRawBufferPointer) -> (amount: Int64, reservation: EventID)? {
        var cursor = ByteCursor(json)
        guard cursor.expect(#"{"amount_nanos":"#), let amount = cursor.integer(), cursor.expect(",") else { return nil }
        if cursor.expect(#""expires_at_ns":"#) {
            guard cursor.integer() != nil, cursor.expect(",") else { return nil }
        } else if cursor.expect(#""reason":""#) {
            guard cursor.skipPlainString(), cursor.expect(",") else { return nil }
        } else {
            return nil
        }
        guard cursor.expect(#""reservation":""#), let text = cursor.take(36), let reservation = uuid(text), cursor.expect("\"")
        else { return nil }
        // A reservation ends with `"run":"…"`; both end with the closing brace.
        if cursor.expect(#","run":""#) {
            guard cursor.skipPlainString() else { return nil }
        }
        guard cursor.expect("}"), cursor.atEnd else { return nil }
        return (amount, reservation)
    }

    /// Forward reading of a byte string with no allocation, for the fixed-shape fast paths.
    struct ByteCursor {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var atEnd: Bool { index == bytes.count }

        @inline(__always)
        mutating func expect(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count, memcmp(bytes.baseAddress! + index, literal.utf8Start, count) == 0 else {
                return false
            }
            index += count
            return true
        }

        /// An optional minus and digits that fit Int64 (nil on overflow: the caller falls back).
        @inline(__always)
        mutating func integer() -> Int64? {
            var negative = false
            if index < bytes.count, bytes[index] == 0x2D {
                negative = true
                index += 1
            }
            var value: Int64 = 0
            var digits = 0
            while index < bytes.count {
                let digit = bytes[index] &- 0x30
                guard digit < 10 else { break }
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(Int64(digit))
                guard !overflow1, !overflow2 else { return nil }
                value = sum
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            return negative ? -value : value
        }

        /// The rest of a string without escapes, then its closing quote.
        @inline(__always)
        mutating func skipPlainString() -> Bool {
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                if byte == 0x22 { return true }
                if byte == 0x5C || byte < 0x20 { return false }
            }
            return false
        }

        @inline(__always)
        mutating func take(_ count: Int) -> UnsafeRawBufferPointer? {
            guard index + count <= bytes.count else { return nil }
            defer { index += count }
            return UnsafeRawBufferPointer(rebasing: bytes[index..<(index + count)])
        }
    }

    /// The text of a string (escapes decoded) or of a number; nil for anything else.
    static func text(_ value: Value) -> String? {
        switch value {
        case .number(let raw): return String(decoding: raw, as: UTF8.self)
        case .string(let raw, let escaped):
            guard escaped else { return String(decoding: raw, as: UTF8.self) }
            return unescape(raw)
        default: return nil
        }
    }

    private static func unescape(_ raw: UnsafeRawBufferPointer) -> String? {
        var out: [UInt8] = []
        var scalars = String.UnicodeScalarView()
        var index = 0
        func flush() {
            if !out.isEmpty {
                scalars.append(contentsOf: String(decoding: out, as: UTF8.self).unicodeScalars)
                out.removeAll()
            }
        }
        while index < raw.count {
            let byte = raw[index]
            guard byte == 0x5C else {
                out.append(byte)
                index += 1
                continue
            }
            guard index + 1 < raw.count else { return nil }
            let code = raw[index + 1]
            index += 2
            switch code {
            case 0x22, 0x5C, 0x2F: out.append(code)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard index + 4 <= raw.count, let value = UInt32(String(decoding: raw[index..<(index + 4)], as: UTF8.self), radix: 16)
                else { return nil }
                index += 4
                flush()
                scalars.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            default: return nil
            }
        }
        flush()
        return String(scalars)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

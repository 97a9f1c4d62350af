/// A JSON syntax error at a byte offset of the scanned text.
struct JSONSyntaxError: Error, Sendable {
    var offset: Int
    var reason: String
}

/// What a scanned JSON value is.
enum JSONValueKind: UInt8, Sendable {
    case string, number, `true`, `false`, null, object, array
}

/// One scanned JSON value: its kind and where it is.
///
/// For a string, `range` is the text between the quotes (escapes not yet decoded) and
/// `hasEscapes` says whether decoding is needed. For every other kind, `range` is the value's raw
/// JSON text. A number is kept as its text, never converted to binary floating point;
/// `isPlainInteger` is true when the text is digits only (no sign, fraction or exponent).
struct JSONValue: Sendable {
    var kind: JSONValueKind
    var range: Range<Int>
    var hasEscapes = false
    var isPlainInteger = false
    /// For a string: every byte between the quotes is ASCII (so it is valid UTF-8 as it is).
    var isASCII = true
}

/// A forward-only JSON scanner over UTF-8 bytes (RFC 8259 grammar).
///
/// It checks the grammar as it goes, keeps numbers as text, and hands strings back undecoded so
/// that the common case (no escapes) costs one pass and no copy. Nesting is bounded by
/// ``depthMax``. It does not own the bytes: the caller keeps them alive while scanning.
struct JSONScanner {
    /// Nesting deeper than this is rejected (it bounds the recursion of ``skipComposite``).
    static let depthMax = 64

    let bytes: UnsafeBufferPointer<UInt8>
    var index: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, index: Int = 0) {
        self.bytes = bytes
        self.index = index
    }

    var isAtEnd: Bool { index >= bytes.count }

    @inline(__always)
    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            let byte = bytes[index]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            index += 1
        }
    }

    /// Consumes `byte` (after whitespace) if it is next.
    @inline(__always)
    mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONSyntaxError) {
        guard consume(byte) else { throw error(expected: what) }
    }

    func error(expected what: String) -> JSONSyntaxError {
        guard index < bytes.count else { return JSONSyntaxError(offset: index, reason: "expected \(what), found the end of the text") }
        return JSONSyntaxError(offset: index, reason: "expected \(what), found \(Self.describe(bytes[index]))")
    }

    static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21, byte < 0x7F { return "'" + String(UnicodeScalar(byte)) + "'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    // MARK: Values

    /// Scans the value that starts here (after whitespace).
    mutating func scanValue(depth: Int = 0) throws(JSONSyntaxError) -> JSONValue {
        skipWhitespace()
        guard index < bytes.count else { throw error(expected: "a value") }
        switch bytes[index] {
        case 0x22: return try scanString()
        case 0x2D, 0x30...0x39: return try scanNumber()
        case 0x74: return try scanLiteral("true", .true)
        case 0x66: return try scanLiteral("false", .false)
        case 0x6E: return try scanLiteral("null", .null)
        case 0x7B, 0x5B:
            let start = index
            let kind: JSONValueKind = bytes[index] == 0x7B ? .object : .array
            try skipComposite(depth: depth + 1)
            return JSONValue(kind: kind, range: start..<index)
        default: throw error(expected: "a value")
        }
    }

    /// Scans a string starting at its opening quote; checks escapes and control characters.
    ///
    /// Runs of ordinary ASCII are skipped eight bytes at a time.
    mutating func scanString() throws(JSONSyntaxError) -> JSONValue {
        guard index < bytes.count, bytes[index] == 0x22 else { throw error(expected: "'\"'") }
        index += 1
        let start = index
        var escapes = false
        var ascii = true
        let count = bytes.count
        let base = bytes.baseAddress!
        while true {
            // Fast path: skip ordinary ASCII eight bytes at a time, then jump to the first byte that
            // needs a look (a quote, a backslash, a control character or a non-ASCII byte).
            while index + 8 <= count {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                let flags = Self.attentionFlags(word)
                if flags != 0 {
                    index += flags.trailingZeroBitCount >> 3
                    break
                }
                index += 8
            }
            guard index < count else { break }
            let byte = base[index]
            if byte == 0x22 {
                let value = JSONValue(kind: .string, range: start..<index, hasEscapes: escapes, isASCII: ascii)
                index += 1
                return value
            }
            if byte == 0x5C {
                escapes = true
                index += 1
                guard index < count else { break }
                switch base[index] {
                case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: index += 1
                case 0x75:
                    index += 1
                    for _ in 0..<4 {
                        guard index < count, Self.hexValue(base[index]) != nil else {
                            throw JSONSyntaxError(offset: index, reason: "a \\u escape needs four hex digits")
                        }
                        index += 1
                    }
                default:
                    throw JSONSyntaxError(offset: index, reason: "invalid escape \\\(Self.describe(base[index]))")
                }
                continue
            }
            if byte < 0x20 {
                throw JSONSyntaxError(offset: index, reason: "a control character (\(Self.describe(byte))) must be escaped in a string")
            }
            if byte >= 0x80 { ascii = false }
            index += 1
        }
        throw JSONSyntaxError(offset: index, reason: "a string is not closed")
    }

    /// The high bit of each byte of `word` (first byte lowest) that is a quote, a backslash, a
    /// control character (below 0x20) or non-ASCII; exact, with no false positives.
    @inline(__always)
    static func attentionFlags(_ word: UInt64) -> UInt64 {
        let lows: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func zeroBytes(_ value: UInt64) -> UInt64 { ~(((value & lows) &+ lows) | value | lows) }
        let quote = zeroBytes(word ^ 0x2222_2222_2222_2222)
        let backslash = zeroBytes(word ^ 0x5C5C_5C5C_5C5C_5C5C)
        // Adding 0x60 to the low seven bits carries into bit 7 exactly when the byte is 0x20 or more.
        let control = ~(((word & lows) &+ 0x6060_6060_6060_6060) | word) & highs
        return quote | backslash | control | (word & highs)
    }

    /// Whether any of the eight bytes needs a look (see ``attentionFlags(_:)``).
    static func needsAttention(_ word: UInt64) -> Bool { attentionFlags(word) != 0 }

    /// Scans a number by the JSON grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    mutating func scanNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = index
        var plain = true
        if index < bytes.count, bytes[index] == 0x2D {
            plain = false
            index += 1
        }
        guard index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 else {
            throw JSONSyntaxError(offset: index, reason: "a number needs a digit here")
        }
        if bytes[index] == 0x30 {
            index += 1
        } else {
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
        }
        if index < bytes.count, bytes[index] == 0x2E {
            plain = false
            index += 1
            let digits = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            guard index > digits else { throw JSONSyntaxError(offset: index, reason: "a number needs digits after '.'") }
        }
        if index < bytes.count, bytes[index] == 0x65 || bytes[index] == 0x45 {
            plain = false
            index += 1
            if index < bytes.count, bytes[index] == 0x2B || bytes[index] == 0x2D { index += 1 }
            let digits = index
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            guard index > digits else { throw JSONSyntaxError(offset: index, reason: "a number needs digits in its exponent") }
        }
        // A number must end at a delimiter, not run into letters ("12abc", "01").
        if index < bytes.count {
            let next = bytes[index]
            if !(next == 0x2C || next == 0x7D || next == 0x5D || next == 0x20 || next == 0x0A || next == 0x0D || next == 0x09) {
                throw JSONSyntaxError(offset: index, reason: "unexpected \(Self.describe(next)) after a number")
            }
        }
        return JSONValue(kind: .number, range: start..<index, isPlainInteger: plain)
    }

    private mutating func scanLiteral(_ word: StaticString, _ kind: JSONValueKind) throws(JSONSyntaxError) -> JSONValue {
        let start = index
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error(expected: "a value") }
        let text = word.utf8Start
        for offset in 0..<count where bytes[index + offset] != text[offset] {
            throw error(expected: "a value")
        }
        index += count
        return JSONValue(kind: kind, range: start..<index)
    }

    /// Skips an object or array starting here, checking its grammar.
    private mutating func skipComposite(depth: Int) throws(JSONSyntaxError) {
        guard depth <= Self.depthMax else {
            throw JSONSyntaxError(offset: index, reason: "nesting is deeper than \(Self.depthMax) levels")
        }
        if bytes[index] == 0x7B {
            index += 1
            if consume(0x7D) { return }
            repeat {
                skipWhitespace()
                _ = try scanString()
                try expect(0x3A, "':'")
                _ = try scanValue(depth: depth)
            } while consume(0x2C)
            try expect(0x7D, "',' or '}'")
        } else {
            index += 1
            if consume(0x5D) { return }
            repeat {
                _ = try scanValue(depth: depth)
            } while consume(0x2C)
            try expect(0x5D, "',' or ']'")
        }
    }

    // MARK: Decoding

    /// The raw bytes of a range.
    @inline(__always)
    func slice(_ range: Range<Int>) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: bytes[range])
    }

    /// A scanned string's value, escapes decoded. Nil when the text is not valid UTF-8 or an
    /// escape encodes an unpaired UTF-16 surrogate.
    func decodeString(_ value: JSONValue) -> String? {
        guard value.hasEscapes else {
            if value.isASCII { return String(decoding: slice(value.range), as: UTF8.self) }
            return UTF8Validation.string(slice(value.range))
        }
        var out = [UInt8]()
        out.reserveCapacity(value.range.count)
        var position = value.range.lowerBound
        let end = value.range.upperBound
        while position < end {
            let byte = bytes[position]
            guard byte == 0x5C else {
                out.append(byte)
                position += 1
                continue
            }
            let code = bytes[position + 1]
            position += 2
            switch code {
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                var scalar = hex4(at: position)
                position += 4
                if scalar >= 0xD800, scalar <= 0xDBFF {
                    // A high surrogate must be followed by an escaped low surrogate.
                    guard position + 6 <= end, bytes[position] == 0x5C, bytes[position + 1] == 0x75 else { return nil }
                    let low = hex4(at: position + 2)
                    guard low >= 0xDC00, low <= 0xDFFF else { return nil }
                    position += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00, scalar <= 0xDFFF {
                    return nil
                }
                guard let unicode = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: UTF8.encode(unicode)!)
            default: out.append(code)  // \" \\ \/
            }
        }
        return out.withUnsafeBufferPointer { UTF8Validation.string($0) }
    }

    private func hex4(at position: Int) -> UInt32 {
        var value: UInt32 = 0
        for offset in 0..<4 { value = value << 4 | UInt32(Self.hexValue(bytes[position + offset])!) }
        return value
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x61...0x66: byte - 0x61 + 10
        case 0x41...0x46: byte - 0x41 + 10
        default: nil
        }
    }

    /// A value as it is written, for messages (`-3`, `"abc"`, `[1,2]`), cut when long.
    func display(_ value: JSONValue) -> String {
        value.kind == .string ? "\"" + excerpt(value.range) + "\"" : excerpt(value.range)
    }

    /// A UUID in its 36-character form (or 32 hex digits), any case, parsed from raw bytes.
    func uuid(_ range: Range<Int>) -> (high: UInt64, low: UInt64)? {
        let count = range.count
        let start = range.lowerBound
        var high: UInt64 = 0
        var low: UInt64 = 0
        @inline(__always) func hex(_ from: Int, _ to: Int, into value: inout UInt64) -> Bool {
            for position in (start + from)..<(start + to) {
                guard let digit = Self.hexValue(bytes[position]) else { return false }
                value = value << 4 | UInt64(digit)
            }
            return true
        }
        if count == 36 {
            guard bytes[start + 8] == 0x2D, bytes[start + 13] == 0x2D, bytes[start + 18] == 0x2D,
                bytes[start + 23] == 0x2D,
                hex(0, 8, into: &high), hex(9, 13, into: &high), hex(14, 18, into: &high),
                hex(19, 23, into: &low), hex(24, 36, into: &low)
            else { return nil }
        } else if count == 32 {
            guard hex(0, 16, into: &high), hex(16, 32, into: &low) else { return nil }
        } else {
            return nil
        }
        return (high, low)
    }

    /// The text of a range, for messages: invalid UTF-8 is repaired, and long text is cut at
    /// `limit` bytes with an ellipsis.
    func excerpt(_ range: Range<Int>, limit: Int = 48) -> String {
        if range.count <= limit { return String(decoding: slice(range), as: UTF8.self) }
        var cut = range.lowerBound + limit
        // Do not cut inside a UTF-8 sequence.
        while cut > range.lowerBound, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
        return String(decoding: slice(range.lowerBound..<cut), as: UTF8.self) + "…"
    }
}

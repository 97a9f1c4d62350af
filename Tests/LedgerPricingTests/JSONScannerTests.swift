import LedgerCore
import LedgerDomain
import Testing

@testable import LedgerPricing

@Suite struct JSONScannerTests {
    func scan(_ text: String) throws(JSONSyntaxError) -> (JSONValue, String?) {
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(JSONSyntaxError) in
            var scanner = JSONScanner(buffer)
            let value = try scanner.scanValue()
            return (value, value.kind == .string ? scanner.decodeString(value) : scanner.excerpt(value.range, limit: 1_000))
        }
    }

    @Test(arguments: [
        (#""plain""#, "plain"), (#""a\"b""#, "a\"b"), (#""\\\/\b\f\n\r\t""#, "\\/\u{08}\u{0C}\n\r\t"),
        (#""\u00e9\u00C9""#, "éÉ"), (#""\ud83d\ude00""#, "😀"), (#""\uD834\uDD1E""#, "𝄞"), (#""\u0000""#, "\u{0}"),
        (#""long string of more than eight bytes, with ünïcode""#, "long string of more than eight bytes, with ünïcode"),
        (#""exactly8""#, "exactly8"), (#""""#, ""),
    ])
    func strings_decodeEscapesAndSurrogatePairs(json: String, expected: String) throws {
        let (value, decoded) = try scan(json)
        #expect(value.kind == .string)
        #expect(decoded == expected)
    }

    @Test func asciiStrings_areMarkedSo_andOthersAreNot() throws {
        #expect(try scan(#""abcdefghijklmnop""#).0.isASCII)
        #expect(try scan(#""abcdefghijklmnoé""#).0.isASCII == false)
        #expect(try scan(#""é""#).0.isASCII == false)
    }

    @Test(arguments: ["0", "-0", "12", "1.5", "-1.25e-06", "1E+9", "0.0", "123456789012345678901234567890"])
    func numbers_areKeptAsTheirText(json: String) throws {
        let (value, text) = try scan(json)
        #expect(value.kind == .number)
        #expect(text == json)
        #expect(value.isPlainInteger == json.allSatisfy(\.isNumber))
    }

    @Test(arguments: ["01", "1.", ".5", "-", "1e", "1e+", "+1", "1.5.2", "0x10", "NaN", "Infinity", "tru", "nul", "\"abc", "\"\\x\"", "\"\\u12\"", "[1,]", "{\"a\"}", "{\"a\":1,}", "[1 2]"])
    func malformedValues_areSyntaxErrors(json: String) {
        #expect(throws: JSONSyntaxError.self) { _ = try scan(json) }
    }

    @Test func loneSurrogates_doNotDecode() throws {
        #expect(try scan(#""\ud800""#).1 == nil)
        #expect(try scan(#""\udc00""#).1 == nil)
        #expect(try scan(#""\ud800\u0041""#).1 == nil)
    }

    @Test func nestedValues_areSkippedAsOneRawValue() throws {
        let (value, text) = try scan(#"{"a": [1, {"b": null}], "c": "d"}"#)
        #expect(value.kind == .object)
        #expect(text == #"{"a": [1, {"b": null}], "c": "d"}"#)
    }

    @Test func theQuickStringTest_flagsEveryByteThatNeedsAttention() {
        // Each special byte at each of the eight positions of a word.
        for special: UInt8 in [0x22, 0x5C, 0x00, 0x01, 0x1F, 0x80, 0xC3, 0xFF] {
            for position in 0..<8 {
                var bytes = [UInt8](repeating: 0x61, count: 8)
                bytes[position] = special
                let word = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
                #expect(JSONScanner.attentionFlags(word) == 0x80 << UInt64(8 * position), "byte \(special) at \(position)")
            }
        }
        // Every ordinary printable ASCII byte, in every position: no flag (the flags are exact).
        for byte in UInt8(0x20)...0x7E where byte != 0x22 && byte != 0x5C {
            let word = UInt64(byte) * 0x0101_0101_0101_0101
            #expect(JSONScanner.attentionFlags(word) == 0, "byte \(byte)")
        }
        let mixed = Array("a\u{01}b\"c\\dé".utf8.prefix(8)).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        #expect(JSONScanner.attentionFlags(mixed).nonzeroBitCount == 4, "0x01, the quote, the backslash and the first byte of é")
    }

    @Test func utf8Validation_acceptsValidTextAndRejectsEveryKindOfMalformedSequence() {
        func valid(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBufferPointer { UTF8Validation.isValid($0) } }
        #expect(valid(Array("plain ascii, longer than eight bytes".utf8)))
        #expect(valid(Array("é€😀 mixed ünïcode 𝄞".utf8)))
        #expect(valid([0xF4, 0x8F, 0xBF, 0xBF]), "U+10FFFF")
        #expect(valid([0xED, 0x9F, 0xBF]), "U+D7FF")
        for bad: [UInt8] in [
            [0x80], [0xBF], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF0, 0x80, 0x80, 0xAF],
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xE2, 0x82], [0xC3], [0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0xC3],
        ] {
            #expect(!valid(bad), "\(bad)")
        }
    }
}

@Suite struct FastPathEquivalenceTests {
    /// The byte-level RFC 3339 reader must accept and reject exactly what `LedgerTime` does.
    @Test func chargeKinds_fromBytes_agreeWithTheirNames() {
        for kind in ChargeKind.allCases {
            let parsed = try? UsageRecordParser().parse(#"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":1,"kind":"\#(kind.name)"}"#)
            #expect(parsed?.kind == kind)
        }
        #expect(throws: UsageRecordError.self) {
            _ = try UsageRecordParser().parse(#"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":1,"kind":"LLM"}"#)
        }
    }

    @Test func ids_fromBytes_agreeWithEventID() throws {
        for text in ["0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e", "0B6F2C1E-4D0A-4E58-9D1C-6A3F1B2C3D4E", "0b6f2c1e4d0a4e589d1c6a3f1b2c3d4e"] {
            let record = try UsageRecordParser().parse(#"{"id":"\#(text)","time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":1}"#)
            #expect(record.id == EventID(text))
        }
        for bad in ["0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4", "0b6f2c1e_4d0a-4e58-9d1c-6a3f1b2c3d4e", "0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4g"] {
            #expect(throws: UsageRecordError.self) {
                _ = try UsageRecordParser().parse(#"{"id":"\#(bad)","time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":1}"#)
            }
        }
    }
}

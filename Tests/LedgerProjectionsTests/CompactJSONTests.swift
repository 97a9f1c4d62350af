import Foundation
import LedgerCore
@testable import LedgerProjections
import Testing

/// The one-pass reader of compact JSON usage payloads decides exactly what the general reader
/// decides, and leaves every other shape to it.
@Suite struct CompactJSONTests {
    private func figures(_ usage: UsageFields?) -> [Int64]? {
        usage.map { [$0.cost, $0.inputTokens, $0.outputTokens, $0.cachedTokens, $0.reasoningTokens, $0.toolCalls, $0.retry] }
    }

    private func check(_ text: String, compact expected: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        let bytes = Array(text.utf8)
        bytes.withUnsafeBytes { raw in
            let compact = UsageFields.readCompactJSON(raw)
            let general = UsageFields.readJSON(raw)
            #expect((compact != nil) == expected, "\(text)", sourceLocation: sourceLocation)
            if let compact {
                #expect(figures(compact) == figures(general), "\(text)", sourceLocation: sourceLocation)
            }
            // What `read` answers is always the general reader's answer.
            #expect(figures(UsageFields.readPayloadForTests(raw)) == figures(general), "\(text)", sourceLocation: sourceLocation)
        }
    }

    @Test func compactPayloads_areReadInOnePass_andAgreeWithTheGeneralReader() {
        check(#"{"input_tokens":1200,"output_tokens":300,"cost_nanos":372000}"#, compact: true)
        check(#"{"cost_nanos":-5,"retry":2,"tool_calls":3,"cached_tokens":4,"reasoning_tokens":5}"#, compact: true)
        check(#"{"cost_nanos":1,"cost_nanos":2}"#, compact: true)  // the last one wins, as in the general reader
        check(#"{"input_tokens":3}"#, compact: true)  // no cost: unreadable
        check(#"{}"#, compact: true)
        check(#"{"unknown":7,"cost_nanos":9}"#, compact: true)
        check(#"{"cost_nanos":999999999999999999,"input_tokens":-999999999999999999}"#, compact: true)
        check(#"{"retry":1,"reasoning_tokens":2,"cost_nanos":3,"input_tokens_x":4,"cost":5,"c":6,"r":7}"#, compact: true)
        check(#"{"cost_nanos":0,"input_tokens":-0}"#, compact: true)
    }

    @Test func everyOtherShape_isLeftToTheGeneralReader() {
        for text in [
            #"{"cost_usd":"0.000372","input_tokens":1200}"#,
            #"{"cost_usd":1}"#,
            #"{ "cost_nanos":5}"#,
            #"{"cost_nanos": 5}"#,
            #"{"cost_nanos":5 }"#,
            #"{"cost_nanos":1.5}"#,
            #"{"cost_nanos":1e3}"#,
            #"{"cost_nanos":+1}"#,
            #"{"cost_nanos":-}"#,
            #"{"cost_nanos":null}"#,
            #"{"cost_nanos":5,"meta":{"a":1}}"#,
            #"{"cost_nanos":5,"agent":"x"}"#,
            #"{"cost_\u006eanos":5}"#,
            #"{"cost_nanos":99999999999999999999}"#,
            #"{"cost_nanos":9223372036854775807}"#,
            #"{"input_tokens":1,"cost_usd":1}"#,
            #"{"cost_nanos"5}"#,
            #"{"cost_nanos":}"#,
            #"{"cost_nanos":5,}"#,
            #"{"cost_nanos":5}}"#,
            #"{"cost_nanos":5"#,
            "{\"cost_nanos\":5}\n",
            "not json",
            "{",
            "",
        ] {
            check(text, compact: false)
        }
    }

    @Test func keyTableHashAndEquality_holdForEveryLength() {
        var table = KeyTable()
        var keys: [[UInt8]] = [[]]
        for length in 1...40 {
            keys.append((0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ length) })
            // Keys that differ only in their first, middle or last byte.
            for position in Set([0, length / 2, length - 1]) {
                var other = keys.last!
                other[position] ^= 0x40
                keys.append(other)
            }
        }
        for (index, key) in keys.enumerated() {
            #expect(key.withUnsafeBytes { table.index(of: $0) } == index)
        }
        for (index, key) in keys.enumerated() {
            #expect(key.withUnsafeBytes { table.index(of: $0) } == index)
            #expect(Array(table.key(at: index)) == key)
        }
        #expect(table.count == keys.count)
    }
}

import Foundation
import LedgerCore
import LedgerDomain
import Testing

@testable import LedgerPricing

@Suite struct UsageRecordParserTests {
    let parser = UsageRecordParser()

    @Test func theDesignsExampleRecord_parsesIntoEveryField() throws {
        let line = #"""
            {"id":"0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e","time":"2026-11-20T01:02:03.123Z","agent":"agent-7","run":"run-42",
             "client":"acme","project":"site-redesign","task":"summarize-17","model":"gpt-4o-mini",
             "vendor":"openai","kind":"llm","input_tokens":1200,"output_tokens":300,"cached_tokens":0,
             "reasoning_tokens":0,"tool_calls":1,"retry":0,"latency_ms":840,"cost_usd":"0.000372",
             "environment":"prod","owner":"team-search","cache_write_tokens":5}
            """#
        let record = try parser.parse(line, lineNumber: 1)
        #expect(record.id == EventID("0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e"))
        #expect(record.time == time("2026-11-20T01:02:03.123Z"))
        #expect(record.agent == "agent-7")
        #expect(record.run == "run-42")
        #expect(record.client == "acme")
        #expect(record.project == "site-redesign")
        #expect(record.task == "summarize-17")
        #expect(record.model == "gpt-4o-mini")
        #expect(record.vendor == "openai")
        #expect(record.environment == "prod")
        #expect(record.owner == "team-search")
        #expect(record.kind == .llm)
        #expect(record.tokens == TokenCounts(input: 1200, output: 300, cached: 0, cacheWrite: 5, reasoning: 0, toolCalls: 1))
        #expect(record.retry == 0)
        #expect(record.latencyMs == 840)
        #expect(record.cost == Money(nanos: 372_000))
        #expect(record.metadata.isEmpty)
    }

    @Test func aMinimalRecord_defaultsKindToLLM_andEverythingElseToAbsentOrZero() throws {
        let record = try parser.parse(#"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":0}"#)
        #expect(record == UsageRecord(time: time("2026-11-20T01:02:03Z"), agent: "a", cost: .zero))
        #expect(record.kind == .llm)
    }

    @Test func nullOptionalFieldsAndEmptyOptionalDimensions_areTheSameAsAbsentOnes() throws {
        let record = try parser.parse(
            #"{"time":"2026-11-20T01:02:03Z","agent":"a","model":"m","id":null,"run":null,"client":"","kind":null,"input_tokens":null,"cost_usd":null}"#)
        #expect(record == UsageRecord(time: time("2026-11-20T01:02:03Z"), agent: "a", model: "m"))
    }

    @Test func completionTokens_includeReasoning_andPromptTokens_includeCacheReadsAndWrites() throws {
        let record = try parser.parse(
            #"{"time":"2026-11-20T01:02:03Z","agent":"a","model":"m","prompt_tokens":1500,"cached_tokens":300,"cache_write_tokens":200,"completion_tokens":900,"reasoning_tokens":600}"#)
        #expect(record.tokens == TokenCounts(input: 1000, output: 300, cached: 300, cacheWrite: 200, reasoning: 600))
    }

    @Test func bothConventionsTogether_areAcceptedOnlyWhenTheyAgree() throws {
        let record = try parser.parse(
            #"{"time":"2026-11-20T01:02:03Z","agent":"a","model":"m","prompt_tokens":1200,"input_tokens":1000,"cached_tokens":200,"completion_tokens":300,"output_tokens":250,"reasoning_tokens":50}"#)
        #expect(record.tokens == TokenCounts(input: 1000, output: 250, cached: 200, reasoning: 50))
    }

    @Test func countsWrittenAsIntegralDecimals_areAccepted_exactly() throws {
        let record = try parser.parse(
            #"{"time":"2026-11-20T01:02:03Z","agent":"a","model":"m","input_tokens":1200.0,"output_tokens":1.2e3,"cached_tokens":0.0e5,"retry":-0}"#)
        #expect(record.tokens == TokenCounts(input: 1200, output: 1200))
    }

    @Test func costs_parseFromNumbersOrStrings_exactly_roundingOnceToTheNano() throws {
        for (text, nanos) in [
            (#""0.000372""#, 372_000), ("0.000372", 372_000), ("3.75e-06", 3_750), (#""1E-9""#, 1),
            ("0.0000000005", 0), ("0.0000000015", 2), (#""12""#, 12_000_000_000), ("0", 0), ("-0", 0),
            ("9223372036.854775807", Int64.max),
        ] as [(String, Int64)] {
            let record = try parser.parse(#"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":\#(text)}"#)
            #expect(record.cost == Money(nanos: nanos), "\(text)")
        }
    }

    @Test func stringEscapes_areDecoded_includingSurrogatePairs() throws {
        let record = try parser.parse(
            #"{"time":"2026-11-20T01:02:03Z","agent":"caf\u00e9 \ud83d\ude00","client":"a\"b\\c\/d\n\t","cost_usd":"1","note":"\u0041\u00DF"}"#)
        #expect(record.agent == "café 😀")
        #expect(record.client == "a\"b\\c/d\n\t")
        #expect(record.metadata == ["note": "Aß"])
    }

    @Test func rawUTF8_isKeptAsIs() throws {
        let record = try parser.parse(#"{"time":"2026-11-20T01:02:03Z","agent":"агент-7","project":"项目","cost_usd":"1"}"#)
        #expect(record.agent == "агент-7")
        #expect(record.project == "项目")
    }

    @Test func escapedKnownKeys_areStillKnownFields() throws {
        let record = try parser.parse(#"{"time":"2026-11-20T01:02:03Z","\u0061gent":"a","cost_usd":"1"}"#)
        #expect(record.agent == "a")
        #expect(record.metadata.isEmpty)
    }

    @Test func unknownFields_becomeMetadata_stringsAsValuesAndEverythingElseAsItsJSONText() throws {
        let record = try parser.parse(
            #"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":"1","region":"eu-west-1","score":1.50,"ok":true,"gone":null,"details":{"cached_tokens": 5, "list": [1, {"x": "y"}]},"tags":["a","b"]}"#)
        #expect(
            record.metadata == [
                "region": "eu-west-1", "score": "1.50", "ok": "true", "gone": "null",
                "details": #"{"cached_tokens": 5, "list": [1, {"x": "y"}]}"#, "tags": #"["a","b"]"#,
            ])
    }

    @Test func metadataAtItsLimits_isAccepted() throws {
        var fields = (0..<Limits.metadataEntriesMax).map { #""k\#($0)":"v""# }
        fields[0] = "\"" + String(repeating: "k", count: Limits.metadataKeyBytesMax) + "\":\""
            + String(repeating: "v", count: Limits.metadataValueBytesMax) + "\""
        let line = #"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":"1","# + fields.joined(separator: ",") + "}"
        let record = try parser.parse(line)
        #expect(record.metadata.count == Limits.metadataEntriesMax)
    }

    @Test func whitespaceAroundTokens_isAllowed() throws {
        let record = try parser.parse(" \t{ \"time\" : \"2026-11-20T01:02:03Z\" ,\n\"agent\":\"a\" , \"cost_usd\" : 1 } \r")
        #expect(record.agent == "a")
    }

    @Test func jsonLines_areSplitOnLFAndCRLF_skippingBlankLinesButCountingThem() throws {
        let text = "\u{FEFF}{\"a\":1}\r\n\r\n   \n{\"b\":2}\n{\"c\":3}"
        var seen: [(Int, String)] = []
        Array(text.utf8).withUnsafeBytes { buffer in
            UsageRecordParser.forEachLine(in: buffer) { line, bytes in
                seen.append((line, String(decoding: bytes, as: UTF8.self)))
            }
        }
        #expect(seen.map(\.0) == [1, 4, 5])
        #expect(seen.map(\.1) == [#"{"a":1}"#, #"{"b":2}"#, #"{"c":3}"#])
    }

    // MARK: Bad input: every error names the line and the field

    static let valid = #""time":"2026-11-20T01:02:03Z","agent":"a","model":"m""#

    /// (what is wrong, the line, the expected description after `line 17: `).
    static let badRecords: [(String, String, String)] = [
        ("negative count", #"{\#(valid),"input_tokens":-3}"#, "input_tokens: must be a non-negative integer, got -3"),
        ("fractional count", #"{\#(valid),"output_tokens":1.5}"#, "output_tokens: must be a non-negative integer, got 1.5"),
        ("count as a string", #"{\#(valid),"cached_tokens":"12"}"#, #"cached_tokens: must be a non-negative integer, got "12""#),
        ("count as a bool", #"{\#(valid),"reasoning_tokens":true}"#, "reasoning_tokens: must be a non-negative integer, got true"),
        ("negative count in exponent form", #"{\#(valid),"cache_write_tokens":-1e2}"#, "cache_write_tokens: must be a non-negative integer, got -1e2"),
        ("count over Int64", #"{\#(valid),"input_tokens":9223372036854775808}"#,
         "input_tokens: must be a non-negative integer up to 9223372036854775807, got 9223372036854775808"),
        ("huge count in exponent form", #"{\#(valid),"input_tokens":1e30}"#,
         "input_tokens: must be a non-negative integer up to 9223372036854775807, got 1e30"),
        ("tool calls over Int32", #"{\#(valid),"tool_calls":2147483648}"#,
         "tool_calls: must be a non-negative integer up to 2147483647, got 2147483648"),
        ("negative retry", #"{\#(valid),"retry":-1}"#, "retry: must be a non-negative integer, got -1"),
        ("fractional latency", #"{\#(valid),"latency_ms":8.5}"#, "latency_ms: must be a non-negative integer, got 8.5"),
        ("negative cost", #"{\#(valid),"cost_usd":"-0.01"}"#, #"cost_usd: must not be negative, got "-0.01""#),
        ("negative cost number", #"{\#(valid),"cost_usd":-1}"#, "cost_usd: must not be negative, got -1"),
        ("NaN cost", #"{\#(valid),"cost_usd":"NaN"}"#,
         #"cost_usd: must be a finite decimal number of dollars such as "0.000372", got "NaN""#),
        ("infinite cost", #"{\#(valid),"cost_usd":"Infinity"}"#,
         #"cost_usd: must be a finite decimal number of dollars such as "0.000372", got "Infinity""#),
        ("cost too large", #"{\#(valid),"cost_usd":1e999}"#,
         "cost_usd: is too large (the most is 9223372036.854775807 dollars), got 1e999"),
        ("cost unparseable", #"{\#(valid),"cost_usd":"12 USD"}"#,
         #"cost_usd: must be a finite decimal number of dollars such as "0.000372", got "12 USD""#),
        ("cost of the wrong type", #"{\#(valid),"cost_usd":[1]}"#,
         "cost_usd: must be a decimal number of dollars (a number or a string), got [1]"),
        ("unparseable time", #"{"time":"yesterday","agent":"a","cost_usd":1}"#,
         #"time: must be an RFC 3339 date-time such as 2026-11-20T01:02:03.123Z, got "yesterday""#),
        ("impossible date", #"{"time":"2026-02-30T00:00:00Z","agent":"a","cost_usd":1}"#,
         #"time: must be an RFC 3339 date-time such as 2026-11-20T01:02:03.123Z, got "2026-02-30T00:00:00Z""#),
        ("time without a zone", #"{"time":"2026-11-20T01:02:03","agent":"a","cost_usd":1}"#,
         #"time: must be an RFC 3339 date-time such as 2026-11-20T01:02:03.123Z, got "2026-11-20T01:02:03""#),
        ("time as a number", #"{"time":1763600000,"agent":"a","cost_usd":1}"#, "time: must be a string, got 1763600000"),
        ("missing time", #"{"agent":"a","cost_usd":1}"#, "time: is required (an RFC 3339 date-time)"),
        ("null time", #"{"time":null,"agent":"a","cost_usd":1}"#, "time: is required (an RFC 3339 date-time), got null"),
        ("missing agent", #"{"time":"2026-11-20T01:02:03Z","cost_usd":1}"#, "agent: is required"),
        ("null agent", #"{"time":"2026-11-20T01:02:03Z","agent":null,"cost_usd":1}"#, "agent: is required (a non-empty string), got null"),
        ("empty agent", #"{"time":"2026-11-20T01:02:03Z","agent":"","cost_usd":1}"#, "agent: must not be empty"),
        ("agent as a number", #"{"time":"2026-11-20T01:02:03Z","agent":7,"cost_usd":1}"#, "agent: must be a string, got 7"),
        ("model as a number", #"{"time":"2026-11-20T01:02:03Z","agent":"a","model":4}"#, "model: must be a string, got 4"),
        ("unknown kind", #"{\#(valid),"kind":"gpu"}"#,
         #"kind: must be one of llm, tool, embedding, retrieval, compute, other, got "gpu""#),
        ("id that is not a UUID", #"{\#(valid),"id":"abc"}"#,
         #"id: must be a UUID such as 0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e, got "abc""#),
        ("neither cost nor model", #"{"time":"2026-11-20T01:02:03Z","agent":"a","input_tokens":5}"#,
         "model: is required when cost_usd is absent (the catalog prices a record by its model)"),
        ("prompt tokens fewer than cached", #"{\#(valid),"prompt_tokens":100,"cached_tokens":200}"#,
         "prompt_tokens: must be at least cached_tokens + cache_write_tokens (200 + 0), got 100"),
        ("prompt tokens fewer than cache reads and writes", #"{\#(valid),"prompt_tokens":250,"cached_tokens":200,"cache_write_tokens":100}"#,
         "prompt_tokens: must be at least cached_tokens + cache_write_tokens (200 + 100), got 250"),
        ("prompt and input tokens disagree", #"{\#(valid),"prompt_tokens":1200,"cached_tokens":200,"input_tokens":1200}"#,
         "prompt_tokens: conflicts with input_tokens: prompt_tokens 1200 - cached_tokens 200 - cache_write_tokens 0 = 1000, but input_tokens is 1200; send one of the two"),
        ("completion tokens fewer than reasoning", #"{\#(valid),"completion_tokens":10,"reasoning_tokens":11}"#,
         "completion_tokens: must be at least reasoning_tokens (11), got 10"),
        ("completion and output tokens disagree", #"{\#(valid),"completion_tokens":300,"reasoning_tokens":100,"output_tokens":300}"#,
         "completion_tokens: conflicts with output_tokens: completion_tokens 300 - reasoning_tokens 100 = 200, but output_tokens is 300; send one of the two"),
        ("duplicate known key", #"{\#(valid),"agent":"b"}"#, "agent: appears twice in the record"),
        ("duplicate known key, once escaped", #"{\#(valid),"\u0061gent":"b"}"#, "agent: appears twice in the record"),
        ("duplicate unknown key", #"{\#(valid),"region":"eu","region":"us"}"#, "region: appears twice in the record"),
        ("not an object", #"[1,2]"#, "record: must be a JSON object, got [1,2]"),
        ("a bare string", #""hello""#, #"record: must be a JSON object, got "hello""#),
        ("empty line", "   ", "record: is empty; a record is a JSON object"),
        ("missing value", #"{"time":"2026-11-20T01:02:03Z","agent": }"#, "agent: invalid JSON at byte 41: expected a value, found '}'"),
        ("unclosed object", #"{"time":"2026-11-20T01:02:03Z""#, "record: invalid JSON at byte 31: expected ',' or '}', found the end of the text"),
        ("text after the object", #"{\#(valid)} x"#, "record: invalid JSON at byte 57: expected the end of the record after its closing '}', found 'x'"),
        ("unquoted key", #"{time:"x"}"#, "record: invalid JSON at byte 2: expected a key in double quotes, found 't'"),
        ("trailing comma", #"{\#(valid),}"#, "record: invalid JSON at byte 56: expected a key in double quotes, found '}'"),
        ("invalid escape", #"{\#(valid),"client":"a\x"}"#, #"client: invalid JSON at byte 68: invalid escape \'x'"#),
        ("short unicode escape", #"{\#(valid),"client":"\u12"}"#, "client: invalid JSON at byte 70: a \\u escape needs four hex digits"),
        ("raw control character", "{\(valid),\"client\":\"a\u{01}b\"}", "client: invalid JSON at byte 67: a control character (byte 0x1) must be escaped in a string"),
        ("leading zero", #"{\#(valid),"retry":01}"#, "retry: invalid JSON at byte 65: unexpected '1' after a number"),
        ("unpaired high surrogate", #"{\#(valid),"client":"\ud800x"}"#, #"client: is not valid UTF-8 (or holds an unpaired \u surrogate escape)"#),
        ("unpaired low surrogate", #"{\#(valid),"client":"\udc00"}"#, #"client: is not valid UTF-8 (or holds an unpaired \u surrogate escape)"#),
        ("decomposed agent name", #"{"time":"2026-11-20T01:02:03Z","agent":"cafe\u0301","cost_usd":1}"#,
         "agent: must be in Unicode normalization form C (it names a stream)"),
        ("NUL in a run name", #"{\#(valid),"run":"r\u0000"}"#, "run: must not contain a NUL character"),
        ("agent too long", #"{"time":"2026-11-20T01:02:03Z","agent":"\#(String(repeating: "a", count: 251))","cost_usd":1}"#,
         "agent: is 251 bytes, over the limit of 250"),
        ("run too long", #"{\#(valid),"run":"\#(String(repeating: "r", count: 253))"}"#, "run: is 253 bytes, over the limit of 252"),
        ("client too long", #"{\#(valid),"client":"\#(String(repeating: "c", count: 257))"}"#, "client: is 257 bytes, over the limit of 256"),
        ("metadata value too long", #"{\#(valid),"note":"\#(String(repeating: "n", count: 1_025))"}"#,
         "note: is an unknown field kept as metadata, and its value is 1025 bytes, over the limit of 1024"),
        ("metadata key too long", #"{\#(valid),"\#(String(repeating: "k", count: 129))":"v"}"#,
         "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…: is an unknown field kept as metadata, and its key is 129 bytes, over the limit of 128"),
        ("empty metadata key", #"{\#(valid),"":"v"}"#, "record: a key must not be empty"),
        ("too many unknown fields", "{\(valid)," + (0...Limits.metadataEntriesMax).map { "\"k\($0)\":1" }.joined(separator: ",") + "}",
         "record: has more than 64 unknown fields (each is kept as a metadata entry)"),
        ("nesting too deep", "{\(valid),\"deep\":" + String(repeating: "[", count: 65) + String(repeating: "]", count: 65) + "}",
         "deep: invalid JSON at byte 127: nesting is deeper than 64 levels"),
    ]

    @Test(arguments: badRecords)
    func aBadRecord_isRejected_namingTheLineAndTheField(what: String, line: String, expected: String) {
        #expect(throws: UsageRecordError.self, "\(what)") {
            _ = try parser.parse(line, lineNumber: 17)
        }
        do {
            _ = try parser.parse(line, lineNumber: 17)
        } catch {
            #expect(error.description == "line 17: " + expected, "\(what)")
            #expect(error.line == 17)
            #expect(expected.hasPrefix(error.field + ": "), "\(what)")
        }
    }

    @Test func aRecordOverTheSizeLimit_isRejectedBeforeItIsRead() {
        let padding = String(repeating: "x", count: UsageRecordParser.recordBytesMax)
        let line = #"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":1,"pad":"\#(padding)"}"#
        #expect {
            _ = try parser.parse(line, lineNumber: 9)
        } throws: { error in
            (error as? UsageRecordError)?.description == "line 9: record: is \(line.utf8.count) bytes, over the limit of 65536"
        }
    }

    @Test(arguments: [
        ("an invalid byte in a known field", [UInt8](#"{"time":"2026-11-20T01:02:03Z","agent":"a"#.utf8) + [0xFF] + Array(#"","cost_usd":1}"#.utf8), "agent"),
        ("an overlong encoding in metadata", [UInt8](#"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":1,"note":""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8), "note"),
        ("a truncated sequence in nested metadata", [UInt8](#"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":1,"n":{"x":""#.utf8) + [0xE2, 0x82] + Array(#""}}"#.utf8), "n"),
        ("an invalid byte in a key", [UInt8](#"{"time":"2026-11-20T01:02:03Z","agent":"a","cost_usd":1,""#.utf8) + [0xFE] + Array(#"":1}"#.utf8), "record"),
    ])
    func invalidUTF8_isRejected_namingTheField(what: String, bytes: [UInt8], field: String) {
        #expect {
            _ = try parser.parse(bytes, lineNumber: 4)
        } throws: { error in
            guard let error = error as? UsageRecordError else { return false }
            return error.code == .invalidUTF8 && error.field == field && error.description.hasPrefix("line 4: \(field): ")
        }
    }

    @Test func anErrorWithoutALineNumber_namesOnlyTheField_andConvertsToALedgerError() {
        do {
            _ = try parser.parse(#"{"time":"x","agent":"a"}"#)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.hasPrefix("time: must be an RFC 3339"))
            #expect(error.ledgerError.field == "time")
            #expect(error.ledgerError.code == .invalidEvent)
            #expect(error.at(line: 3).description.hasPrefix("line 3: time: "))
        }
    }
}

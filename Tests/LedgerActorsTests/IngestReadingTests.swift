import Foundation
import LedgerCore
import LedgerPricing
@testable import SpendLedger
import SpendLedgerTestKit
import Testing

/// `spend ingest` reads its input a block (about 4 MiB) of whole lines at a time and parses blocks
/// on several threads. Whatever the blocks and threads, the outcome must be the one a single pass
/// over the whole input gives: the same events in the same order, the same rejections with the
/// same line numbers, the same record kept of two with one id. (Blocks of 16 KiB here, so that
/// a small input spans many.)
@Suite struct IngestReadingTests {
    static let blockBytes = 16 << 10

    /// About 450 KiB (some 28 blocks): a byte order mark, CRLF and blank lines, invalid records in
    /// the first, a middle and the last block (the last without a line break), a line of 100 KiB
    /// (longer than a block and than a record may be), and ids repeated within a block and across
    /// blocks.
    static func input() -> (bytes: [UInt8], invalidLines: [Int]) {
        var text = "\u{FEFF}"
        var invalid: [Int] = []
        var line = 0
        func add(_ record: String, crlf: Bool = false) {
            line += 1
            text += record + (crlf ? "\r\n" : "\n")
        }
        func id(_ n: Int) -> String {
            let hex = String(n, radix: 16)
            return "00000000-0000-4000-8000-" + String(repeating: "0", count: 12 - hex.count) + hex
        }
        func record(_ n: Int, idNumber: Int? = nil) -> String {
            #"{"id":"\#(id(idNumber ?? n + 1))","time":"2026-11-22T00:04:54.163Z","agent":"agent-\#(n % 7)","run":"run-\#(n % 13)","#
                + #""client":"acme","project":"project-1","task":"task-\#(n % 5)","model":"gpt-4o-mini","vendor":"openai","kind":"llm","#
                + #""input_tokens":\#(n % 9_000),"output_tokens":158,"cached_tokens":0,"reasoning_tokens":0,"tool_calls":0,"retry":0,"#
                + #""latency_ms":3529,"cost_usd":"0.000\#(n % 1_000)"}"#
        }
        for n in 0..<1_500 {
            switch n {
            case 4:
                add(#"{"id":"\#(id(999_999))","agent":"x","time":"not a time"}"#)
                invalid.append(line)
            case 100: add("   ")  // blank: counted, not a record
            case 101: add(record(n, idNumber: 3))  // repeats line 3's id, in the same block
            case 700:
                add(#"{"id":"\#(id(999_998))","time":"2026-11-22T00:00:00Z","agent":"a","model":"gpt-4o-mini","input_tokens":-1}"#)
                invalid.append(line)
            case 1_000:
                add(#"{"note":""# + String(repeating: "x", count: 100 << 10) + #""}"#)  // over the record limit
                invalid.append(line)
            case 1_300: add(record(n, idNumber: 20), crlf: true)  // repeats line 20's id, blocks later
            default: add(record(n), crlf: n % 97 == 0)
            }
        }
        text += #"{"id":"\#(id(999_997))","time":"2026-11-22T00:00:00Z"}"#  // the last line, no line break
        invalid.append(line + 1)
        return (Array(text.utf8), invalid)
    }

    struct Outcome: Equatable {
        var recordsRead: Int
        var ids: [EventID]
        var rejections: [String]
        var repeated: Int

        init(_ prepared: PreparedIngest) {
            recordsRead = prepared.recordsRead
            ids = prepared.events.map(\.id)
            rejections = prepared.rejections.map(\.description)
            repeated = prepared.repeatedInInput
        }
    }

    static let pricer = UsagePricer(catalog: PriceCatalog())

    @Test func readingInBlocksOnSeveralThreads_givesWhatOnePassOverTheWholeInputGives() throws {
        let (bytes, invalidLines) = Self.input()
        #expect(bytes.count > 20 * Self.blockBytes, "the input spans many blocks")
        var whole = PreparedIngest()
        whole.add(bytes, source: "input.jsonl", pricer: Self.pricer)
        let expected = Outcome(whole)
        #expect(whole.rejections.compactMap(\.error.line) == invalidLines)
        #expect(expected.repeated == 2)
        #expect(expected.recordsRead == 1_500 - 1 + 1, "every non-blank line is a record read")
        #expect(expected.ids.count == expected.recordsRead - invalidLines.count - 2)

        let directory = try TemporaryDirectory("ingest-read")
        defer { directory.remove() }
        let path = directory.child("input.jsonl")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        for threads in [1, 2, 4] {
            let descriptor = open(path, O_RDONLY)
            try #require(descriptor >= 0)
            defer { close(descriptor) }
            var read = PreparedIngest()
            try read.add(reading: descriptor, source: "input.jsonl", pricer: Self.pricer, threads: threads, blockBytes: Self.blockBytes)
            #expect(Outcome(read) == expected, "\(threads) thread(s)")
        }
    }

    /// A pipe hands the reader short pieces, cut anywhere (inside a line, inside a UTF-8 sequence).
    @Test func readingFromAPipeInSmallPieces_givesTheSameOutcome() throws {
        let (bytes, _) = Self.input()
        var whole = PreparedIngest()
        whole.add(bytes, source: "stdin", pricer: Self.pricer)
        let pipe = Pipe()
        let writer = pipe.fileHandleForWriting
        let feeding = Thread {
            var offset = 0
            var piece = 1
            while offset < bytes.count {
                let end = min(bytes.count, offset + piece)
                writer.write(Data(bytes[offset..<end]))
                offset = end
                piece = piece % 20_011 + 997
            }
            try? writer.close()
        }
        feeding.start()
        var read = PreparedIngest()
        try read.add(
            reading: pipe.fileHandleForReading.fileDescriptor, source: "stdin", pricer: Self.pricer, threads: 2,
            blockBytes: Self.blockBytes)
        #expect(Outcome(read) == Outcome(whole))
    }

    /// A second input continues the first: its ids are checked against the first's, and its lines
    /// are numbered from 1 again under its own name.
    @Test func aSecondInput_repeatsAgainstTheFirst_andNumbersItsOwnLines() throws {
        let first = Array(#"{"id":"00000000-0000-4000-8000-000000000001","time":"2026-11-22T00:00:00Z","agent":"a","model":"m","cost_usd":"1"}"#.utf8) + [0x0A]
        let second =
            Array(#"{"id":"00000000-0000-4000-8000-000000000001","time":"2026-11-22T00:00:00Z","agent":"a","model":"m","cost_usd":"1"}"#.utf8)
            + [0x0A] + Array(#"{"id":"bad"}"#.utf8)
        let directory = try TemporaryDirectory("ingest-read")
        defer { directory.remove() }
        var prepared = PreparedIngest()
        for (name, bytes) in [("one.jsonl", first), ("two.jsonl", second)] {
            let path = directory.child(name)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let descriptor = open(path, O_RDONLY)
            defer { close(descriptor) }
            try prepared.add(reading: descriptor, source: name, pricer: Self.pricer)
        }
        #expect(prepared.recordsRead == 3)
        #expect(prepared.eventCount == 1)
        #expect(prepared.repeatedInInput == 1)
        #expect(prepared.rejections.map(\.source) == ["two.jsonl"])
        #expect(prepared.rejections.first?.error.line == 2)
    }

    @Test func anUnreadableInput_isAReadErrorNamingIt() throws {
        var prepared = PreparedIngest()
        #expect(throws: PreparedIngest.ReadError.self) {
            try prepared.add(reading: -1, source: "gone.jsonl", pricer: Self.pricer)
        }
        do {
            try prepared.add(reading: -1, source: "gone.jsonl", pricer: Self.pricer)
        } catch {
            #expect(error.description.contains("gone.jsonl"))
        }
    }
}

import Foundation

/// Prompt and completion sizes of real requests, to shape the simulated calls.
///
/// With the shared data folder present, sizes come from the Azure LLM inference traces (a coding
/// service: long prompts, short completions; a conversation service) and the Mooncake
/// conversation trace (long-context requests). Without it, from the sample usage records in
/// `Fixtures/`. Either way each family is a list of (prompt, completion) pairs drawn uniformly.
struct CallSizes: Sendable {
    enum Family: String, Sendable, CaseIterable {
        case code, conversation, longContext = "long-context"
    }

    /// Where the sizes came from, for the demo's header.
    let source: String
    private let samples: [Family: [(input: Int64, output: Int64)]]

    func draw(_ family: Family, using random: inout DemoRandom) -> (input: Int64, output: Int64) {
        let list = samples[family]!
        return list[Int.random(in: 0..<list.count, using: &random)]
    }

    /// Loads the traces from `sharedData` when they are there, else the fixture sample.
    static func load(sharedData: String?, fixtureUsage: String) throws -> CallSizes {
        if let folder = sharedData,
            let code = try? azure(folder + "/AzureLLMInferenceTrace_code.csv"),
            let conversation = try? azure(folder + "/AzureLLMInferenceTrace_conv.csv"),
            let long = try? mooncake(folder + "/conversation_trace.jsonl"),
            !code.isEmpty, !conversation.isEmpty, !long.isEmpty
        {
            return CallSizes(
                source: "real request traces in \(folder) (Azure LLM inference 2023: \(code.count) code and "
                    + "\(conversation.count) conversation requests; Mooncake: \(long.count) long-context requests)",
                samples: [.code: code, .conversation: conversation, .longContext: long])
        }
        let sample = try fixture(fixtureUsage)
        guard !sample.isEmpty else { throw DemoError("no usable token counts in \(fixtureUsage)") }
        return CallSizes(
            source: "the \(sample.count) sample records in \(fixtureUsage) (the shared traces were not found)",
            samples: [.code: sample, .conversation: sample, .longContext: sample.map { ($0.input * 4, $0.output) }])
    }

    /// `TIMESTAMP,ContextTokens,GeneratedTokens`, CRLF lines, the last one without a newline.
    static func azure(_ path: String) throws -> [(input: Int64, output: Int64)] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var rows: [(Int64, Int64)] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }).dropFirst() {
            let fields = line.split(separator: ",")
            guard fields.count == 3, let input = Int64(fields[1]), let output = Int64(fields[2]), input > 0, output > 0
            else { continue }
            rows.append((input, output))
        }
        return rows
    }

    /// One JSON object per line with `input_length` and `output_length`.
    static func mooncake(_ path: String) throws -> [(input: Int64, output: Int64)] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var rows: [(Int64, Int64)] = []
        for line in text.split(separator: "\n") {
            guard let input = integer(after: "\"input_length\":", in: line),
                let output = integer(after: "\"output_length\":", in: line), input > 0, output > 0
            else { continue }
            rows.append((input, output))
        }
        return rows
    }

    /// The usage records in the ingest format: `input_tokens`/`prompt_tokens` and
    /// `output_tokens`/`completion_tokens`.
    static func fixture(_ path: String) throws -> [(input: Int64, output: Int64)] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var rows: [(Int64, Int64)] = []
        for line in text.split(separator: "\n") {
            let input = integer(after: "\"input_tokens\":", in: line) ?? integer(after: "\"prompt_tokens\":", in: line)
            let output = integer(after: "\"output_tokens\":", in: line) ?? integer(after: "\"completion_tokens\":", in: line)
            if let input, let output, input > 0, output > 0 { rows.append((input, output)) }
        }
        return rows
    }

    private static func integer(after key: String, in line: Substring) -> Int64? {
        guard let range = line.range(of: key) else { return nil }
        let digits = line[range.upperBound...].drop(while: { $0 == " " }).prefix(while: { $0.isNumber })
        return Int64(digits)
    }
}

/// A demo that cannot run: says what is missing.
public struct DemoError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

import Foundation
import LedgerCore
import LedgerDomain

/// Parses one line of the ingest format (a flat JSON object) into a ``UsageRecord``.
///
/// Guarantees: a record it returns satisfies every invariant listed on ``UsageRecord``; anything
/// else is a ``UsageRecordError`` naming the line and the field. It reads the bytes once with its
/// own JSON scanner: numbers stay text until they are parsed exactly (counts as integers, costs
/// with ``Money`` semantics), never through `Double`. It checks the full JSON grammar, UTF-8, and
/// duplicate keys. Known fields must be flat values; an unknown field may hold any JSON value
/// (nested objects and arrays included) and is kept as metadata: a string as its value, anything
/// else as its JSON text.
///
/// The format, every field and every error are described in `Docs/Pricing.md`. The parser is a
/// stateless value: share it between tasks.
public struct UsageRecordParser: Sendable {
    /// The largest record line, in bytes (64 KiB, without the line break).
    public static let recordBytesMax = 64 * 1_024

    public init() {}

    /// Parses one record. `lineNumber` is only used in errors.
    ///
    /// - Throws: ``UsageRecordError`` naming `lineNumber` and the field.
    public func parse(_ line: UnsafeRawBufferPointer, lineNumber: Int? = nil) throws(UsageRecordError) -> UsageRecord {
        let bytes = line.bindMemory(to: UInt8.self)
        guard bytes.count <= Self.recordBytesMax else {
            throw UsageRecordError(
                .limitExceeded, line: lineNumber, field: "record",
                reason: "is \(bytes.count) bytes, over the limit of \(Self.recordBytesMax)")
        }
        var parse = RecordParse(scanner: JSONScanner(bytes), line: lineNumber)
        return try parse.parseRecord()
    }

    /// Parses one record from its bytes.
    public func parse(_ line: [UInt8], lineNumber: Int? = nil) throws(UsageRecordError) -> UsageRecord {
        let result: Result<UsageRecord, UsageRecordError> = line.withUnsafeBytes { raw in
            do throws(UsageRecordError) { return .success(try parse(raw, lineNumber: lineNumber)) } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Parses one record from its text.
    public func parse(_ line: String, lineNumber: Int? = nil) throws(UsageRecordError) -> UsageRecord {
        try parse(Array(line.utf8), lineNumber: lineNumber)
    }

    /// Calls `body` with each record line of a JSON-lines buffer and its 1-based line number.
    ///
    /// Lines end with LF or CRLF; the last may have no line break. Blank lines (only spaces, tabs
    /// or CR) are skipped but counted, so numbers match what an editor shows. A UTF-8 byte order
    /// mark at the start of the buffer is skipped.
    public static func forEachLine<E: Error>(
        in buffer: UnsafeRawBufferPointer, firstLineNumber: Int = 1,
        _ body: (_ lineNumber: Int, _ line: UnsafeRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        let bytes = buffer.bindMemory(to: UInt8.self)
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        var start = 0
        if count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { start = 3 }
        var lineNumber = firstLineNumber
        while start < count {
            let end: Int
            if let newline = memchr(base + start, 0x0A, count - start) {
                end = base.distance(to: newline.assumingMemoryBound(to: UInt8.self))
            } else {
                end = count
            }
            var last = end
            if last > start, bytes[last - 1] == 0x0D { last -= 1 }
            var first = start
            while first < last, bytes[first] == 0x20 || bytes[first] == 0x09 || bytes[first] == 0x0D { first += 1 }
            if first < last { try body(lineNumber, UnsafeRawBufferPointer(rebasing: buffer[start..<last])) }
            lineNumber += 1
            start = end + 1
        }
    }
}

/// Reads values for one record: the read-only helpers, kept apart from the record's state so
/// that calling them never copies that state.
private struct FieldReader {
    let scanner: JSONScanner
    let line: Int?

    func fail(_ code: UsageRecordError.Code, _ field: String, _ reason: String) -> UsageRecordError {
        UsageRecordError(code, line: line, field: field, reason: reason)
    }

    func fail(_ code: UsageRecordError.Code, _ field: UsageField, _ reason: String) -> UsageRecordError {
        UsageRecordError(code, line: line, field: field.name, reason: reason)
    }

    func syntax(_ error: JSONSyntaxError, key: String?) -> UsageRecordError {
        fail(.invalidJSON, key ?? "record", "invalid JSON at byte \(error.offset + 1): \(error.reason)")
    }

    /// The value's JSON text for a message (`-3`, `"abc"`, `null`), cut when long.
    func got(_ value: JSONValue) -> String { scanner.display(value) }

    /// A string value (nil for null), escapes decoded and UTF-8 checked.
    func string(_ field: UsageField, _ value: JSONValue) throws(UsageRecordError) -> String? {
        switch value.kind {
        case .null: return nil
        case .string:
            guard let text = scanner.decodeString(value) else {
                throw fail(.invalidUTF8, field, "is not valid UTF-8 (or holds an unpaired \\u surrogate escape)")
            }
            return text
        default:
            throw fail(.invalidValue, field, "must be a string, got \(got(value))")
        }
    }

    /// Dimension bounds: the ledger's limit, and for `agent` and `run` the stream name they make.
    func checkDimension(_ field: UsageField, _ text: String, plainASCII: Bool) throws(UsageRecordError) {
        let bytes = text.utf8.count
        var limit = Limits.dimensionValueBytesMax
        if field == .run { limit = min(limit, Limits.streamNameBytesMax - UsagePricer.runStreamPrefixBytes) }
        if field == .agent { limit = min(limit, Limits.streamNameBytesMax - UsagePricer.agentStreamPrefixBytes) }
        guard bytes <= limit else {
            throw fail(.limitExceeded, field, "is \(bytes) bytes, over the limit of \(limit)")
        }
        // Raw ASCII without escapes holds no NUL (a raw control byte is a syntax error) and is NFC.
        guard field == .run || field == .agent, !plainASCII else { return }
        if text.utf8.contains(0) { throw fail(.invalidValue, field, "must not contain a NUL character") }
        if !text.utf8.allSatisfy({ $0 < 0x80 }), !text.utf8.elementsEqual(text.precomposedStringWithCanonicalMapping.utf8) {
            throw fail(.invalidValue, field, "must be in Unicode normalization form C (it names a stream)")
        }
    }

    /// A count: a JSON number whose exact value is a non-negative integer up to `max`.
    func count(_ field: UsageField, _ value: JSONValue, max: Int64) throws(UsageRecordError) -> Int64? {
        switch value.kind {
        case .null:
            return nil
        case .number where value.isPlainInteger:
            var total: Int64 = 0
            for index in value.range {
                let (shifted, overflow1) = total.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = shifted.addingReportingOverflow(Int64(scanner.bytes[index] &- 0x30))
                guard !overflow1, !overflow2, sum <= max else { throw tooLarge(field, value, max) }
                total = sum
            }
            return total
        case .number:
            let text = scanner.excerpt(value.range, limit: 400)
            guard let decimal = ExactDecimal(text), !decimal.isNegative, Self.isIntegral(decimal) else {
                throw notCount(field, value)
            }
            guard let integer = decimal.scaledExactly(toDecimalPlaces: 0), integer <= max else {
                throw tooLarge(field, value, max)
            }
            return integer
        default:
            throw notCount(field, value)
        }
    }

    static func isIntegral(_ decimal: ExactDecimal) -> Bool {
        guard decimal.exponent < 0 else { return true }
        var digits = decimal.digits
        for _ in 0..<(-decimal.exponent) {
            if digits == 0 { return true }
            guard digits % 10 == 0 else { return false }
            digits /= 10
        }
        return true
    }

    func notCount(_ field: UsageField, _ value: JSONValue) -> UsageRecordError {
        fail(.invalidValue, field, "must be a non-negative integer, got \(got(value))")
    }

    func tooLarge(_ field: UsageField, _ value: JSONValue, _ max: Int64) -> UsageRecordError {
        fail(.invalidValue, field, "must be a non-negative integer up to \(max), got \(got(value))")
    }

    /// A dollar amount: a JSON number or a decimal string, exact, finite and non-negative; more
    /// than nine decimal places round once, half-even, to the nano-dollar.
    func amount(_ field: UsageField, _ value: JSONValue) throws(UsageRecordError) -> Money? {
        let text: String
        switch value.kind {
        case .null: return nil
        case .number: text = scanner.excerpt(value.range, limit: 400)
        case .string:
            guard let decoded = scanner.decodeString(value) else {
                throw fail(.invalidUTF8, field, "is not valid UTF-8 (or holds an unpaired \\u surrogate escape)")
            }
            text = decoded
        default:
            throw fail(.invalidValue, field, "must be a decimal number of dollars (a number or a string), got \(got(value))")
        }
        guard let decimal = ExactDecimal(text) else {
            throw fail(.invalidValue, field, "must be a finite decimal number of dollars such as \"0.000372\", got \(got(value))")
        }
        guard !decimal.isNegative else { throw fail(.invalidValue, field, "must not be negative, got \(got(value))") }
        guard let nanos = decimal.scaled(toDecimalPlaces: 9) else {
            throw fail(
                .invalidValue, field,
                "is too large (the most is \(Money(nanos: .max).dollars) dollars), got \(got(value))")
        }
        return Money(nanos: nanos)
    }

    /// The time: straight from the bytes when the string has no escapes.
    func time(_ value: JSONValue) throws(UsageRecordError) -> LedgerTime {
        let parsed: LedgerTime?
        if value.kind == .string, !value.hasEscapes {
            parsed = LedgerTime.parseRFC3339(scanner.slice(value.range))
        } else {
            guard let text = try string(.time, value) else {
                throw fail(.missingField, UsageField.time, "is required (an RFC 3339 date-time), got null")
            }
            parsed = LedgerTime(rfc3339: text)
        }
        guard let parsed else {
            throw fail(
                .invalidValue, UsageField.time,
                "must be an RFC 3339 date-time such as 2026-11-20T01:02:03.123Z, got \(got(value))")
        }
        return parsed
    }
}

/// The state of parsing one record.
private struct RecordParse {
    var scanner: JSONScanner
    let line: Int?

    var seen: UInt32 = 0
    var id: EventID?
    var time: LedgerTime?
    var kind = ChargeKind.llm
    var agent, run, client, project, task, model, vendor, environment, owner: String?
    var input, output, cached, cacheWrite, reasoning, prompt, completion, toolCalls, retry, latencyMs: Int64?
    var cost: Money?
    var metadata: [String: String] = [:]
    /// The key whose value is being read, for syntax errors (its name is made only on error).
    var currentKey: JSONValue?

    init(scanner: JSONScanner, line: Int?) {
        self.scanner = scanner
        self.line = line
    }

    /// The read-only helpers, over the same bytes (a few words, cheap to make).
    var reader: FieldReader { FieldReader(scanner: scanner, line: line) }

    mutating func parseRecord() throws(UsageRecordError) -> UsageRecord {
        scanner.skipWhitespace()
        guard scanner.peek() == 0x7B else {
            if scanner.isAtEnd { throw reader.fail(.invalidJSON, "record", "is empty; a record is a JSON object") }
            let value = try json { (scanner: inout JSONScanner) throws(JSONSyntaxError) in try scanner.scanValue() }
            throw reader.fail(.invalidJSON, "record", "must be a JSON object, got \(reader.got(value))")
        }
        scanner.index += 1
        if !scanner.consume(0x7D) {
            repeat {
                currentKey = nil
                scanner.skipWhitespace()
                guard scanner.peek() == 0x22 else {
                    throw reader.syntax(scanner.error(expected: "a key in double quotes"), key: nil)
                }
                let keyToken = try json { (scanner: inout JSONScanner) throws(JSONSyntaxError) in
                    let key = try scanner.scanString()
                    try scanner.expect(0x3A, "':'")
                    return key
                }
                var field: UsageField?
                var unknownKey: String?
                if !keyToken.hasEscapes {
                    field = UsageField.match(scanner.slice(keyToken.range))
                }
                if field == nil {
                    guard let key = scanner.decodeString(keyToken) else {
                        throw reader.fail(
                            .invalidUTF8, "record", "the key at byte \(keyToken.range.lowerBound) is not valid UTF-8")
                    }
                    field = keyToken.hasEscapes ? UsageField.byName[key] : nil
                    if field == nil { unknownKey = key }
                }
                currentKey = keyToken
                let value = try json { (scanner: inout JSONScanner) throws(JSONSyntaxError) in try scanner.scanValue() }
                if let field {
                    try read(field, value)
                } else if let unknownKey {
                    try keep(unknownKey, value)
                }
            } while scanner.consume(0x2C)
            currentKey = nil
            guard scanner.consume(0x7D) else { throw reader.syntax(scanner.error(expected: "',' or '}'"), key: nil) }
        }
        scanner.skipWhitespace()
        guard scanner.isAtEnd else {
            throw reader.syntax(scanner.error(expected: "the end of the record after its closing '}'"), key: nil)
        }
        return try finish()
    }

    /// Runs a scanner step, turning a syntax error into a record error.
    @inline(__always)
    mutating func json<T>(_ step: (inout JSONScanner) throws(JSONSyntaxError) -> T) throws(UsageRecordError) -> T {
        do throws(JSONSyntaxError) {
            return try step(&scanner)
        } catch {
            throw reader.syntax(error, key: currentKey.map { scanner.decodeString($0) ?? scanner.excerpt($0.range) })
        }
    }

    // MARK: Known fields

    mutating func read(_ field: UsageField, _ value: JSONValue) throws(UsageRecordError) {
        let reader = self.reader
        let bit: UInt32 = 1 << UInt32(field.rawValue)
        guard seen & bit == 0 else { throw reader.fail(.duplicateField, field, "appears twice in the record") }
        seen |= bit
        switch field {
        case .id:
            if value.kind == .string, !value.hasEscapes, let (high, low) = scanner.uuid(value.range) {
                id = EventID(high: high, low: low)  // the fast path: no String
                return
            }
            guard let text = try reader.string(field, value) else { return }
            guard let parsed = EventID(text) else {
                throw reader.fail(
                    .invalidValue, field, "must be a UUID such as 0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e, got \(reader.got(value))")
            }
            id = parsed
        case .time:
            time = try reader.time(value)
        case .kind:
            if value.kind == .string, !value.hasEscapes, let parsed = Self.chargeKind(scanner.slice(value.range)) {
                kind = parsed  // the fast path: no String
                return
            }
            guard let text = try reader.string(field, value) else { return }
            guard let parsed = ChargeKind(name: text) else {
                throw reader.fail(
                    .invalidValue, field,
                    "must be one of \(ChargeKind.allCases.map(\.name).joined(separator: ", ")), got \(reader.got(value))")
            }
            kind = parsed
        case .agent, .run, .client, .project, .task, .model, .vendor, .environment, .owner:
            guard let text = try reader.string(field, value) else {
                if field == .agent { throw reader.fail(.missingField, field, "is required (a non-empty string), got null") }
                return
            }
            try reader.checkDimension(field, text, plainASCII: value.isASCII && !value.hasEscapes)
            if text.isEmpty {
                if field == .agent { throw reader.fail(.invalidValue, field, "must not be empty") }
                return  // an empty optional dimension is the same as an absent one
            }
            switch field {
            case .agent: agent = text
            case .run: run = text
            case .client: client = text
            case .project: project = text
            case .task: task = text
            case .model: model = text
            case .vendor: vendor = text
            case .environment: environment = text
            default: owner = text
            }
        case .inputTokens: input = try reader.count(field, value, max: .max)
        case .outputTokens: output = try reader.count(field, value, max: .max)
        case .cachedTokens: cached = try reader.count(field, value, max: .max)
        case .cacheWriteTokens: cacheWrite = try reader.count(field, value, max: .max)
        case .reasoningTokens: reasoning = try reader.count(field, value, max: .max)
        case .promptTokens: prompt = try reader.count(field, value, max: .max)
        case .completionTokens: completion = try reader.count(field, value, max: .max)
        case .toolCalls: toolCalls = try reader.count(field, value, max: Int64(Int32.max))
        case .retry: retry = try reader.count(field, value, max: Int64(Int32.max))
        case .latencyMs: latencyMs = try reader.count(field, value, max: Int64(Int32.max))
        case .costUSD: cost = try reader.amount(field, value)
        }
    }

    /// The charge kind a raw (unescaped) name spells, without building a String.
    static func chargeKind(_ name: UnsafeBufferPointer<UInt8>) -> ChargeKind? {
        @inline(__always) func equals(_ text: StaticString) -> Bool {
            guard name.count == text.utf8CodeUnitCount else { return false }
            for offset in 0..<name.count where name[offset] != text.utf8Start[offset] { return false }
            return true
        }
        if equals("llm") { return .llm }
        if equals("tool") { return .tool }
        if equals("embedding") { return .embedding }
        if equals("retrieval") { return .retrieval }
        if equals("compute") { return .compute }
        if equals("other") { return .other }
        return nil
    }

    // MARK: Unknown fields

    mutating func keep(_ key: String, _ value: JSONValue) throws(UsageRecordError) {
        let reader = self.reader
        guard !key.isEmpty else { throw reader.fail(.invalidValue, "record", "a key must not be empty") }
        guard key.utf8.count <= Limits.metadataKeyBytesMax else {
            throw reader.fail(
                .limitExceeded, String(key.prefix(32)) + "…",
                "is an unknown field kept as metadata, and its key is \(key.utf8.count) bytes, over the limit of \(Limits.metadataKeyBytesMax)")
        }
        let text: String?
        if value.kind == .string {
            text = scanner.decodeString(value)
        } else {
            text = UTF8Validation.string(scanner.slice(value.range))
        }
        guard let text else {
            throw reader.fail(.invalidUTF8, key, "is not valid UTF-8 (or holds an unpaired \\u surrogate escape)")
        }
        guard text.utf8.count <= Limits.metadataValueBytesMax else {
            throw reader.fail(
                .limitExceeded, key,
                "is an unknown field kept as metadata, and its value is \(text.utf8.count) bytes, over the limit of \(Limits.metadataValueBytesMax)")
        }
        guard metadata.updateValue(text, forKey: key) == nil else {
            throw reader.fail(.duplicateField, key, "appears twice in the record")
        }
        guard metadata.count <= Limits.metadataEntriesMax else {
            throw reader.fail(
                .limitExceeded, "record",
                "has more than \(Limits.metadataEntriesMax) unknown fields (each is kept as a metadata entry)")
        }
    }

    // MARK: The whole record

    mutating func finish() throws(UsageRecordError) -> UsageRecord {
        let reader = self.reader
        guard let time else { throw reader.fail(.missingField, UsageField.time, "is required (an RFC 3339 date-time)") }
        guard let agent else { throw reader.fail(.missingField, UsageField.agent, "is required") }
        let cached = cached ?? 0
        let cacheWrite = cacheWrite ?? 0
        let reasoning = reasoning ?? 0
        var input = input
        var output = output
        if let prompt {
            // prompt_tokens counts every prompt token: uncached, cache reads and cache writes.
            let (parts, overflow) = cached.addingReportingOverflow(cacheWrite)
            guard !overflow, prompt >= parts else {
                throw reader.fail(
                    .invalidValue, UsageField.promptTokens,
                    "must be at least cached_tokens + cache_write_tokens (\(cached) + \(cacheWrite)), got \(prompt)")
            }
            let derived = prompt - parts
            if let input, input != derived {
                throw reader.fail(
                    .invalidValue, UsageField.promptTokens,
                    "conflicts with input_tokens: prompt_tokens \(prompt) - cached_tokens \(cached) - cache_write_tokens \(cacheWrite) = \(derived), but input_tokens is \(input); send one of the two")
            }
            input = derived
        }
        if let completion {
            // completion_tokens counts every output token, reasoning included.
            guard completion >= reasoning else {
                throw reader.fail(
                    .invalidValue, UsageField.completionTokens,
                    "must be at least reasoning_tokens (\(reasoning)), got \(completion)")
            }
            let derived = completion - reasoning
            if let output, output != derived {
                throw reader.fail(
                    .invalidValue, UsageField.completionTokens,
                    "conflicts with output_tokens: completion_tokens \(completion) - reasoning_tokens \(reasoning) = \(derived), but output_tokens is \(output); send one of the two")
            }
            output = derived
        }
        if cost == nil, model == nil {
            throw reader.fail(
                .missingField, UsageField.model,
                "is required when cost_usd is absent (the catalog prices a record by its model)")
        }
        return UsageRecord(
            id: id, time: time, agent: agent, run: run, client: client, project: project, task: task, model: model,
            vendor: vendor, environment: environment, owner: owner, kind: kind,
            tokens: TokenCounts(
                input: input ?? 0, output: output ?? 0, cached: cached, cacheWrite: cacheWrite, reasoning: reasoning,
                toolCalls: toolCalls ?? 0),
            retry: Int32(retry ?? 0), latencyMs: Int32(latencyMs ?? 0), cost: cost,
            metadata: metadata)
    }
}

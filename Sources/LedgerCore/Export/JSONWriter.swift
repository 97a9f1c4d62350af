import Foundation

/// A minimal, deterministic JSON object writer: keys stay in the order written, strings are
/// escaped per RFC 8259, integers are exact. Used for `--json` output and `spend export`.
public struct JSONObjectWriter {
    private var text = "{"
    private var first = true

    public init() {}

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        JSONObjectWriter.appendString(name, to: &text)
        text += ":"
    }

    public mutating func add(_ name: String, _ value: String?) {
        key(name)
        if let value { JSONObjectWriter.appendString(value, to: &text) } else { text += "null" }
    }

    public mutating func add(_ name: String, _ value: some BinaryInteger) {
        key(name)
        text += String(value)
    }

    public mutating func add(_ name: String, _ value: Bool) {
        key(name)
        text += value ? "true" : "false"
    }

    /// Adds `value` as already-encoded JSON (an object, an array, a number).
    public mutating func addRaw(_ name: String, _ json: String) {
        key(name)
        text += json
    }

    /// Adds an array of already-encoded JSON values (objects, numbers).
    public mutating func addArray(_ name: String, _ elements: some Sequence<String>) {
        key(name)
        text += "["
        var first = true
        for element in elements {
            if !first { text += "," }
            first = false
            text += element
        }
        text += "]"
    }

    /// Adds an array of strings, each escaped.
    public mutating func addArray(_ name: String, strings: some Sequence<String>) {
        addArray(name, strings.lazy.map { value in
            var literal = ""
            JSONObjectWriter.appendString(value, to: &literal)
            return literal
        })
    }

    /// Adds an array of integers.
    public mutating func addArray(_ name: String, integers: some Sequence<some BinaryInteger>) {
        addArray(name, integers.lazy.map { String($0) })
    }

    public func finish() -> String { text + "}" }

    /// Appends `value` as a JSON string literal.
    public static func appendString(_ value: String, to text: inout String) {
        text += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

/// The JSON-lines form of a stored event, one whole envelope per line (`spend export`).
public enum EventJSON {
    /// One line of JSON, without the newline. A JSON payload that is a well-formed JSON document
    /// is embedded as is under `payload`; any other payload is under `payload_base64`.
    public static func line(for event: RecordedEvent) -> String { line(for: event, renderPayload: { _ in nil }) }

    /// One line of JSON; `renderPayload` may give a binary payload's readable JSON form, which is
    /// written under `payload` beside the exact bytes in `payload_base64`.
    public static func line(for event: RecordedEvent, renderPayload: (RecordedEvent) -> String?) -> String {
        var json = JSONObjectWriter()
        json.add("seq", event.seq)
        json.add("stream", event.stream)
        json.add("version", event.version)
        json.add("id", event.id.description)
        json.add("recorded_at", event.recordedAt.rfc3339)
        json.add("recorded_at_ns", event.recordedAt.nanosecondsSinceEpoch)
        json.add("occurred_at", event.occurredAt.rfc3339)
        json.add("occurred_at_ns", event.occurredAt.nanosecondsSinceEpoch)
        json.add("type", event.type)
        json.add("schema", event.schema)
        var dimensions = JSONObjectWriter()
        for (index, name) in Dimensions.stringFieldNames.enumerated() {
            if let value = event.dimensions[field: index] { dimensions.add(name, value) }
        }
        if let causation = event.dimensions.causation { dimensions.add("causation", causation.description) }
        if let correlation = event.dimensions.correlation { dimensions.add("correlation", correlation.description) }
        json.addRaw("dimensions", dimensions.finish())
        var metadata = JSONObjectWriter()
        for key in event.metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            metadata.add(key, event.metadata[key])
        }
        json.addRaw("metadata", metadata.finish())
        json.add("payload_encoding", event.payloadEncoding == .json ? "json" : "binary")
        let payload = Data(event.payload)
        if event.payloadEncoding == .json,
            (try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed])) != nil
        {
            json.addRaw("payload", String(decoding: event.payload, as: UTF8.self))
        } else {
            if let rendered = renderPayload(event) { json.addRaw("payload", rendered) }
            json.add("payload_base64", payload.base64EncodedString())
        }
        json.add("hash", event.hash.description)
        return json.finish()
    }
}


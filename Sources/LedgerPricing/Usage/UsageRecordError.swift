public import LedgerCore

/// Why a usage record was rejected, naming the line and the field.
///
/// Guarantees: ``description`` is one line of the form `line 17: input_tokens: must be a
/// non-negative integer, got -3` (without the `line N: ` part when no line is known). It is safe
/// to show to whoever sent the record: it quotes at most a short excerpt of the offending value.
/// The field is the JSON key (`input_tokens`, `time`, an unknown key kept as metadata), or
/// `record` for the record as a whole (size, JSON syntax outside a known field, not an object).
public struct UsageRecordError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem it is. Extensible: new codes may be added in minor releases.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The line is not valid JSON, or not a JSON object.
        public static let invalidJSON = Code("invalid_json")
        /// A string (or the raw text of an unknown field) is not valid UTF-8.
        public static let invalidUTF8 = Code("invalid_utf8")
        /// A key appears twice in one record.
        public static let duplicateField = Code("duplicate_field")
        /// A required field is absent.
        public static let missingField = Code("missing_field")
        /// A field has the wrong type or an invalid value (negative count, bad time, unknown kind, ...).
        public static let invalidValue = Code("invalid_value")
        /// The record, a value, or its metadata is over a bound (see `Docs/Pricing.md`).
        public static let limitExceeded = Code("limit_exceeded")
        /// The record has no cost and the catalog cannot price it (unknown model, missing price).
        public static let unpriced = Code("unpriced")
    }

    public var code: Code
    /// The 1-based line of the input, when known.
    public var line: Int?
    /// The JSON key the error is about, or `record`.
    public var field: String
    /// What is wrong, without the line and field.
    public var reason: String

    public init(_ code: Code, line: Int?, field: String, reason: String) {
        self.code = code
        self.line = line
        self.field = field
        self.reason = reason
    }

    public var description: String {
        guard let line else { return field + ": " + reason }
        return "line \(line): " + field + ": " + reason
    }

    /// The same error as a ``LedgerError`` (`limitExceeded` or `invalidEvent`), for callers that
    /// report one error type.
    public var ledgerError: LedgerError {
        LedgerError(code == .limitExceeded ? .limitExceeded : .invalidEvent, description, field: field)
    }

    /// This error at another line (for a caller that numbers lines itself).
    public func at(line: Int?) -> UsageRecordError {
        var copy = self
        copy.line = line
        return copy
    }
}

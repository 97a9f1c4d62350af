/// The one error type of the ledger's core and its backends.
///
/// `description` is safe to show to a client: it names what is wrong (the record, the field, the
/// stream, the limit) without internal detail. `debugDescription` adds the underlying cause.
public struct LedgerError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is. Extensible: new codes may be added in minor releases.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// An event in a batch is malformed (empty stream, NUL in a name, invalid field).
        public static let invalidEvent = Code("invalid_event")
        /// A value is over one of the bounds in ``Limits``.
        public static let limitExceeded = Code("limit_exceeded")
        /// A stream's version is not what the append expected.
        public static let wrongExpectedVersion = Code("wrong_expected_version")
        /// Two events in one batch carry the same id.
        public static let duplicateIDInBatch = Code("duplicate_id_in_batch")
        /// The directory exists but does not hold a SpendLedger ledger.
        public static let notALedger = Code("not_a_ledger")
        /// The ledger was written by a newer format version than this build reads.
        public static let unsupportedFormat = Code("unsupported_format")
        /// The storage map reached its maximum size and could not grow.
        public static let mapFull = Code("map_full")
        /// The file system has no space left.
        public static let diskFull = Code("disk_full")
        /// The directory or file is not writable.
        public static let readOnly = Code("read_only")
        /// Another process holds the ledger open for writing.
        public static let locked = Code("locked")
        /// Stored bytes do not decode, or an index disagrees with the log.
        public static let corrupted = Code("corrupted")
        /// The store was closed.
        public static let closed = Code("closed")
        /// A failure of the storage engine or the operating system.
        public static let storage = Code("storage")
        /// The requested ledger does not exist.
        public static let notFound = Code("not_found")
    }

    public var code: Code
    public var message: String
    /// The event position the error is about, when there is one.
    public var seq: UInt64?
    /// The zero-based index of the event in the batch the error is about, when there is one.
    public var batchIndex: Int?
    /// The field the error is about (`stream`, `payload`, `metadata.region`, ...).
    public var field: String?
    /// The lower-level error, for debugging.
    public var underlying: (any Error)?

    public init(
        _ code: Code, _ message: String, seq: UInt64? = nil, batchIndex: Int? = nil,
        field: String? = nil, underlying: (any Error)? = nil
    ) {
        self.code = code
        self.message = message
        self.seq = seq
        self.batchIndex = batchIndex
        self.field = field
        self.underlying = underlying
    }

    public var description: String {
        var text = message
        if let batchIndex { text = "event \(batchIndex) of the batch: " + text }
        return text
    }

    public var debugDescription: String {
        var text = "LedgerError(\(code)): \(description)"
        if let seq { text += " [seq \(seq)]" }
        if let field { text += " [field \(field)]" }
        if let underlying { text += " caused by: \(String(reflecting: underlying))" }
        return text
    }
}

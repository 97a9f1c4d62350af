/// The one error type of `LedgerProjections`: what went wrong with a projection, a query or a
/// report, named so that a user can act on it.
///
/// Guarantees: `description` is safe to show to a client (it names the projection, the time or
/// the option that is wrong); `debugDescription` adds the underlying cause. Errors of the store
/// (``LedgerCore/LedgerError``) pass through unchanged.
public struct ProjectionError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this is. Extensible: new codes may be added in minor releases.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// Two projections with one name were registered on one engine.
        public static let duplicateName = Code("duplicate_name")
        /// A handle or result does not belong to this engine or has another state type.
        public static let unknownProjection = Code("unknown_projection")
        /// The engine is already following the log.
        public static let alreadyFollowing = Code("already_following")
        /// A time or position is outside the log (in the future, beyond the head).
        public static let outOfRange = Code("out_of_range")
        /// A projection's state could not be encoded or decoded.
        public static let stateEncoding = Code("state_encoding")
        /// An input (a dimension, an audit statement) is not what it must be.
        public static let invalidInput = Code("invalid_input")
    }

    public var code: Code
    public var message: String
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { message }

    public var debugDescription: String {
        var text = "ProjectionError(\(code)): \(message)"
        if let underlying { text += " caused by: \(String(reflecting: underlying))" }
        return text
    }
}

public import LedgerCore
import Foundation

/// A typed SpendLedger event: the domain vocabulary on top of the log's envelope.
///
/// Each type has a stable `type` string and schema version, and encodes its own payload. The
/// hot events (usage, reservations) use fixed binary layouts that replay decodes without
/// allocation; the rare ones (a run started, a budget defined) use sorted-key JSON, readable in
/// `spend export`. Decoding an unknown schema throws; it never guesses.
public protocol SpendEvent: Sendable, Hashable {
    static var type: String { get }
    static var schema: UInt16 { get }
    func encodePayload() -> (encoding: PayloadEncoding, bytes: [UInt8])
    init(payload: [UInt8], schema: UInt16) throws(LedgerError)
}

/// JSON payloads for the rare, human-shaped events: sorted keys, so one value has one byte form.
public protocol JSONSpendEvent: SpendEvent, Codable {}

extension JSONSpendEvent {
    public static var schema: UInt16 { 1 }

    public func encodePayload() -> (encoding: PayloadEncoding, bytes: [UInt8]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding these value types cannot fail: they hold only strings, integers and nested values.
        return (.json, Array(try! encoder.encode(self)))
    }

    public init(payload: [UInt8], schema: UInt16) throws(LedgerError) {
        guard schema == Self.schema else {
            throw LedgerError(.unsupportedFormat, "\(Self.type) schema \(schema) is not known to this build", field: "schema")
        }
        do {
            self = try JSONDecoder().decode(Self.self, from: Data(payload))
        } catch {
            throw LedgerError(.corrupted, "a \(Self.type) payload does not decode: \(error)", field: "payload")
        }
    }
}

extension ProposedEvent {
    /// A proposal carrying a typed event.
    public init<Event: SpendEvent>(
        _ event: Event, stream: String, occurredAt: LedgerTime, dimensions: Dimensions = .none,
        metadata: [String: String] = [:], id: EventID = .generate()
    ) {
        let (encoding, bytes) = event.encodePayload()
        self.init(
            id: id, stream: stream, type: Event.type, schema: Event.schema,
            occurredAt: occurredAt, dimensions: dimensions, metadata: metadata, payloadEncoding: encoding, payload: bytes)
    }
}

extension RecordedEvent {
    /// The payload decoded as `T`; throws when the type does not match or the payload is damaged.
    public func decode<T: SpendEvent>(as _: T.Type) throws(LedgerError) -> T {
        guard type == T.type else {
            throw LedgerError(.invalidEvent, "event \(seq) is a \(type), not a \(T.type)", seq: seq, field: "type")
        }
        do {
            return try T(payload: payload, schema: schema)
        } catch {
            var located = error
            located.seq = seq
            located.message = "event \(seq) (\(stream) version \(version)): " + error.message
            throw located
        }
    }
}

/// The streams SpendLedger writes, by convention.
public enum SpendStreams {
    public static func run(_ id: String) -> String { "run:" + id }
    public static func wallet(_ agent: String) -> String { "wallet:" + agent }
    public static func budget(_ id: String) -> String { "budget:" + id }
    /// Charges of an agent recorded without a run.
    public static func usage(_ agent: String) -> String { "usage:" + agent }
    public static let priceCatalog = "catalog:prices"
    public static func detector(_ name: String) -> String { "detector:" + name }
}

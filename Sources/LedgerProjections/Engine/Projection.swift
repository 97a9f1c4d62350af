import Foundation
public import LedgerCore

/// A view of the log written as a pure fold: a name, a version, an initial state and
/// `apply(event, to: &state)`.
///
/// Guarantees the engine (``ProjectionEngine``) gives every projection, built-in or yours:
/// catch-up from its checkpoint, live following, rebuild from zero, snapshots every N events,
/// state as of any instant on both clocks (``AsOf``), and a deterministic state hash. In return a
/// projection must be **pure**: `apply` reads only the event and the state (no clock, no random
/// numbers, no I/O, no global variables), so that replaying the same log always gives the same
/// state, byte for byte (design rule 5).
///
/// ```swift
/// struct CallsPerAgent: Projection {
///     let name = "calls.per_agent"
///     let version: UInt32 = 1
///     var initialState: [String: Int] { [:] }
///     func apply(_ event: RecordedEvent, to state: inout [String: Int]) {
///         guard event.type == UsageRecorded.type else { return }
///         state[event.dimensions.agent ?? "", default: 0] += 1
///     }
/// }
/// ```
///
/// - Important: raise `version` whenever `apply` or the shape of `State` changes. Snapshots
///   written by another version are never used (they are reported and the events replayed).
/// - Warning: the default state encoding is JSON with sorted keys. Dictionaries keyed by
///   `String` encode deterministically; `Set`s and dictionaries keyed by anything else do not
///   (Swift randomises their order per process), so their state hash would differ between runs.
///   Use sorted arrays or `String` keys, integers (never `Double`) for amounts, or override
///   ``encodeState(_:)`` with a canonical encoding of your own.
public protocol Projection: Sendable {
    /// What the fold builds. `Codable` so it can be snapshotted and hashed.
    associatedtype State: Codable & Sendable

    /// The key of the projection's snapshots and checkpoint: stable, 1 to 128 bytes, no NUL.
    var name: String { get }
    /// Raise it whenever `apply` or `State` changes meaning; old snapshots are then ignored.
    var version: UInt32 { get }
    /// The state before any event.
    var initialState: State { get }

    /// Folds one event into the state. Events arrive in `seq` order, each exactly once.
    func apply(_ event: RecordedEvent, to state: inout State)

    /// The canonical bytes of `state`: what snapshots store and what the state hash covers.
    /// Equal states must give equal bytes. The default is JSON with sorted keys.
    func encodeState(_ state: State) throws -> [UInt8]

    /// The inverse of ``encodeState(_:)``.
    func decodeState(_ bytes: [UInt8]) throws -> State
}

/// A projection that also folds events read in place (``EventView``), with no allocation per
/// event: the fast path the engine takes when the store can hand out stored bytes (LMDB).
///
/// Guarantees: the engine calls ``apply(encoded:to:)`` for every event, whatever the store; its
/// default ``Projection/apply(_:to:)`` re-encodes a decoded event and calls the same code, so one
/// fold serves both paths and they cannot disagree.
public protocol EncodedProjection: Projection {
    /// Folds one event read in place. The view is valid only during the call.
    func apply(encoded event: EventView, to state: inout State)
}

extension Projection {
    public func encodeState(_ state: State) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(state))
    }

    public func decodeState(_ bytes: [UInt8]) throws -> State {
        try JSONDecoder().decode(State.self, from: Data(bytes))
    }

    /// The SHA-256 of the canonical encoding of `state`: equal for equal states on every run.
    public func stateHash(_ state: State) throws -> ContentHash {
        ContentHash(of: try encodeState(state))
    }

    /// Folds `events` into `state` in order: the reference fold, without the engine.
    public func fold(_ events: some Sequence<RecordedEvent>, into state: State? = nil) -> State {
        var state = state ?? initialState
        for event in events { apply(event, to: &state) }
        return state
    }
}

extension EncodedProjection {
    /// Re-encodes `event` in its canonical bytes and folds it through ``apply(encoded:to:)``.
    public func apply(_ event: RecordedEvent, to state: inout State) {
        EventBytes.withView(of: event) { view in apply(encoded: view, to: &state) }
    }
}

/// Canonical bytes for a decoded event, so that view-based folds can run on any store.
enum EventBytes {
    /// The stored bytes of `event` (its stored chain hash included), as a view for `body`.
    static func withView<R>(of event: RecordedEvent, _ body: (EventView) throws -> R) rethrows -> R {
        var (bytes, _) = EventCodec.encode(
            event.proposed, seq: max(event.seq, 1), version: max(event.version, 1), recordedAt: event.recordedAt,
            previous: .genesis)
        bytes.withUnsafeMutableBytes { raw in
            event.hash.store(to: raw.baseAddress! + raw.count - EventCodec.hashBytes)
        }
        return try bytes.withUnsafeBytes { raw in
            // The bytes were just encoded by the canonical encoder, so they always parse.
            let view = try! EventView(raw)
            return try body(view)
        }
    }
}

import LedgerCore

/// The decoded form of the event being folded, made at most once per event and only if a
/// projection that folds decoded events asks for it.
final class DecodeCache {
    private var seq: UInt64 = 0
    private var event: RecordedEvent?

    /// Seeds the cache with an event that is already decoded (the generic read path).
    func prime(_ event: RecordedEvent) {
        seq = event.seq
        self.event = event
    }

    func decoded(_ view: EventView) throws(LedgerError) -> RecordedEvent {
        if let event, seq == view.seq { return event }
        let decoded = try view.decoded()
        seq = decoded.seq
        event = decoded
        return decoded
    }
}

/// Owns one projection state at a stable address, so that the fold can mutate it in place
/// through a pointer (no copy-on-write, no dynamic exclusivity bookkeeping per event).
final class StateCell<State> {
    let pointer: UnsafeMutablePointer<State>

    init(_ state: State) {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: state)
    }

    deinit {
        pointer.deinitialize(count: 1)
        pointer.deallocate()
    }
}

/// A projection and its state, type-erased into closures so that one pass over the log can feed
/// any mix of projections. The closures are made in a generic function; for the built-in views it
/// is called with their concrete types, so their folds are specialised and inlined.
///
/// Not `Sendable`: a runner lives inside one engine call or inside the engine actor.
final class ProjectionRunner {
    typealias Apply = (EventView, DecodeCache) throws(LedgerError) -> Void

    let name: String
    let version: UInt32
    /// The last seq folded into the state (0: none).
    var seq: UInt64 = 0
    /// The seq and encoded size of the state's newest snapshot, written or restored (nil: none
    /// since the last reset). The engine spaces a large state's snapshots out by its size.
    var lastSnapshot: (seq: UInt64, bytes: Int)?
    let apply: Apply
    let encodedState: () throws -> [UInt8]
    let restoreState: ([UInt8]) throws -> Void
    let resetState: () -> Void
    let readState: () -> any Sendable
    let projection: any Projection
    /// Set for the built-in views: where their state lives, so a fold can update them together.
    private(set) var member: BuiltinMember?

    private init<P: Projection>(
        _ projection: P, member: ((UnsafeMutablePointer<P.State>) -> BuiltinMember)? = nil,
        apply: @escaping (P, UnsafeMutablePointer<P.State>) -> Apply
    ) {
        let cell = StateCell(projection.initialState)
        let pointer = cell.pointer
        name = projection.name
        version = projection.version
        self.projection = projection
        self.apply = withExtendedLifetime(cell) { apply(projection, pointer) }
        encodedState = { try projection.encodeState(cell.pointer.pointee) }
        restoreState = { bytes in cell.pointer.pointee = try projection.decodeState(bytes) }
        resetState = { cell.pointer.pointee = projection.initialState }
        readState = { cell.pointer.pointee }
        // `apply` captures only the pointer; keep the cell alive as long as the runner.
        keepAlive = cell
        self.member = member?(pointer)
    }

    private let keepAlive: AnyObject

    func reset() {
        resetState()
        seq = 0
        lastSnapshot = nil
    }

    func restore(_ bytes: [UInt8]) throws { try restoreState(bytes) }

    var anyState: any Sendable { readState() }

    static func make<P: Projection>(_ projection: P) -> ProjectionRunner {
        // The built-in views, with their concrete types: specialised folds.
        if let view = projection as? SpendByDimension {
            return encoded(view) { .spend(field: view.dimension.fieldIndex, $0) }
        }
        if let view = projection as? SpendPerHour { return encoded(view) { .hourly($0) } }
        if let view = projection as? BudgetStatusView { return encoded(view) { .budgets($0) } }
        if let view = projection as? OutcomeCosts { return encoded(view) { .outcomes($0) } }
        if let encodedProjection = projection as? any EncodedProjection { return encodedOnly(encodedProjection) }
        return ProjectionRunner(projection) { projection, state in
            { view, cache throws(LedgerError) in projection.apply(try cache.decoded(view), to: &state.pointee) }
        }
    }

    private static func encodedOnly<P: EncodedProjection>(_ projection: P) -> ProjectionRunner {
        encoded(projection, member: nil)
    }

    private static func encoded<P: EncodedProjection>(
        _ projection: P, member: ((UnsafeMutablePointer<P.State>) -> BuiltinMember)? = nil
    ) -> ProjectionRunner {
        ProjectionRunner(projection, member: member) { projection, state in
            { view, _ in projection.apply(encoded: view, to: &state.pointee) }
        }
    }
}

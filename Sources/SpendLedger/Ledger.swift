public import LedgerActors
public import LedgerCore
public import LedgerDomain
public import LedgerLMDB
public import LedgerPricing
import Synchronization

/// SpendLedger for a service: one object that opens a ledger on a backend and answers, before
/// each call, whether it may spend — and records what it spent, priced exactly.
///
/// It wires the event store, the run/budget/wallet actors (``SpendCoordinator``) and the price
/// catalog. The catalog is a base catalog (such as the LiteLLM price map) plus every `price.set`
/// event in the ledger, so a price change is part of the record and an old call keeps the price of
/// its day.
///
/// ```swift
/// let ledger = try await Ledger.open(at: "ledger", catalog: try PriceCatalog.load(contentsOf: "prices.json", effectiveFrom: .epoch))
/// try await ledger.startRun(RunSpec(id: "run-42", agent: "agent-7", client: "acme"))
/// let estimate = TokenCounts(input: 1_200, output: 500)
/// if case .granted(let grant) = try await ledger.authorize(run: "run-42", model: "gpt-4o-mini", estimate: estimate) {
///     // call the model, then:
///     try await ledger.settle(grant, model: "gpt-4o-mini", usage: TokenCounts(input: 1_180, output: 312))
/// }
/// try await ledger.completeRun("run-42", outcome: .accepted)
/// ```
public final class Ledger: Sendable {
    public let store: any EventStore
    /// The actors behind authorization; for budgets, wallets, pauses and halts.
    public let spend: SpendCoordinator
    private let clock: any LedgerClock
    private let catalogState: Mutex<PriceCatalog>
    private let ownsStore: Bool

    private init(store: any EventStore, spend: SpendCoordinator, clock: any LedgerClock, catalog: PriceCatalog, ownsStore: Bool) {
        self.store = store
        self.spend = spend
        self.clock = clock
        self.catalogState = Mutex(catalog)
        self.ownsStore = ownsStore
    }

    /// Opens (or creates) the embedded LMDB ledger in `path`.
    public static func open(
        at path: String, catalog: PriceCatalog = PriceCatalog(), options: LMDBOptions = LMDBOptions()
    ) async throws -> Ledger {
        let store = try LMDBEventStore.open(at: path, options: options)
        do {
            return try await open(store: store, catalog: catalog, clock: options.clock, ownsStore: true)
        } catch {
            store.close()
            throw error
        }
    }

    /// Opens a ledger over any event store (the in-memory one for tests and examples).
    public static func open(
        store: any EventStore, catalog: PriceCatalog = PriceCatalog(), clock: any LedgerClock = SystemClock()
    ) async throws -> Ledger {
        try await open(store: store, catalog: catalog, clock: clock, ownsStore: false)
    }

    private static func open(
        store: any EventStore, catalog: PriceCatalog, clock: any LedgerClock, ownsStore: Bool
    ) async throws -> Ledger {
        var catalog = catalog
        for event in try await store.readStream(SpendStreams.priceCatalog) { _ = try catalog.apply(event) }
        let spend = try await SpendCoordinator.open(store: store, clock: clock)
        return Ledger(store: store, spend: spend, clock: clock, catalog: catalog, ownsStore: ownsStore)
    }

    /// Closes the store if this ledger opened it.
    public func close() async throws {
        if ownsStore { try await store.close() }
    }

    /// The catalog in effect: the base catalog plus every `price.set` in the ledger.
    public var catalog: PriceCatalog { catalogState.withLock { $0 } }

    /// Sets a model's prices from an instant on: a `price.set` event, then the catalog prices
    /// calls at or after `effectiveFrom` with it.
    public func setPrice(_ priceSet: PriceSet) async throws {
        let event = ProposedEvent(priceSet, stream: SpendStreams.priceCatalog, occurredAt: clock.now())
        try await store.append(event)
        catalogState.withLock { $0.apply(priceSet) }
    }

    // MARK: Runs

    @discardableResult
    public func startRun(_ spec: RunSpec) async throws -> RunState { try await spend.startRun(spec) }

    public func completeRun(_ id: String, outcome: RunOutcome) async throws {
        try await spend.completeRun(id, outcome: outcome)
    }

    public func run(_ id: String) async throws -> RunState? { try await spend.run(id) }

    // MARK: Authorize and settle

    /// Reserves `estimate` against the run and every matching budget, or denies with the reason.
    public func authorize(run: String, estimate: Money, ttlSeconds: Int64? = nil) async throws -> AuthorizationResult {
        try await spend.authorize(run: run, estimate: estimate, ttl: ttlSeconds)
    }

    /// Prices the expected usage of a call with the catalog, then authorizes that amount.
    public func authorize(
        run: String, model: String, estimate usage: TokenCounts, ttlSeconds: Int64? = nil
    ) async throws -> AuthorizationResult {
        let (cost, _) = try catalog.price(usage, model: model, at: clock.now())
        return try await spend.authorize(run: run, estimate: cost, ttl: ttlSeconds)
    }

    /// Settles a grant with the call's actual usage, priced by the catalog at the call's time
    /// (`occurredAt`, when the call was made; now when nil).
    @discardableResult
    public func settle(
        _ grant: Grant, model: String, usage: TokenCounts, kind: ChargeKind = .llm, retry: Int32 = 0, latencyMs: Int32 = 0,
        vendor: String? = nil, occurredAt: LedgerTime? = nil
    ) async throws -> RecordResult {
        let now = occurredAt ?? clock.now()
        let entry = try catalog.requireEntry(for: model, at: now)
        let cost = try entry.charge(for: usage)
        let charge = UsageRecorded(
            kind: kind, cost: cost, inputTokens: usage.input, outputTokens: usage.output, cachedTokens: usage.cached,
            cacheWriteTokens: usage.cacheWrite, reasoningTokens: usage.reasoning, toolCalls: Int32(clamping: usage.toolCalls),
            retry: retry, latencyMs: latencyMs, priceEntry: entry.key)
        return try await spend.settle(grant, usage: charge, model: model, vendor: vendor ?? entry.vendor, occurredAt: now)
    }

    /// Settles a grant with an explicit cost (a tool call, a retrieval, anything the catalog does not
    /// price). A `.tool` charge counts as one tool call.
    @discardableResult
    public func settle(
        _ grant: Grant, cost: Money, kind: ChargeKind, model: String? = nil, occurredAt: LedgerTime? = nil
    ) async throws -> RecordResult {
        let usage = UsageRecorded(kind: kind, cost: cost, toolCalls: kind == .tool ? 1 : 0)
        return try await spend.settle(grant, usage: usage, model: model, occurredAt: occurredAt)
    }

    public func release(_ grant: Grant) async throws { try await spend.release(grant) }

    // MARK: Usage that already happened

    /// Prices and records usage records (the ingest format) without authorization; see
    /// ``SpendCoordinator/record(_:)``. Throws on the first record that cannot be priced.
    public func record(_ records: [UsageRecord]) async throws -> RecordResult {
        let pricer = UsagePricer(catalog: catalog)
        var events: [ProposedEvent] = []
        events.reserveCapacity(records.count)
        for (index, record) in records.enumerated() {
            do {
                events.append(try pricer.proposedEvent(for: record))
            } catch {
                var failure = error.ledgerError
                failure.batchIndex = index
                throw failure
            }
        }
        return try await spend.record(events)
    }

    // MARK: Budgets

    public func defineBudget(_ id: String, _ definition: BudgetDefinition) async throws {
        try await spend.defineBudget(id, definition)
    }

    public func budgets() async -> [BudgetState] { await spend.budgets() }
}

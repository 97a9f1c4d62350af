public import LedgerCore
import LedgerDomain

/// The detectors, live: follows the log from `seq` 1, records every alert as an event, and applies
/// its policy.
///
/// **Guarantees.**
/// - Each alert is appended as `anomaly.detected` on stream `detector:<kind>`, with the alert's
///   agent and run as dimensions, the triggering event as causation, and `occurredAt` = the
///   alert's `at`. Its id is derived from (kind, triggering event, agent, run), so a restart that
///   folds history again finds the same alerts and appends none of them twice.
/// - A policy (halt the run, pause the agent) is applied once, right after its alert is first
///   appended; an alert that was already in the log (a restart) does not apply it again.
/// - The service's own events (alerts, halts, pauses) pass through the detectors, which ignore
///   them: no feedback loops.
/// - ``caughtUp(through:)`` returns once every event up to a `seq` has been folded and the alerts
///   and policies it caused have been applied.
public actor DetectorService {
    private let store: any EventStore
    public nonisolated let configuration: DetectorConfiguration
    private let enforcer: (any PolicyEnforcer)?
    private var detectors: DetectorSet
    private var found: [Alert] = []
    private var failedPolicies: [String] = []
    private var processed: UInt64 = 0
    private var waiters: [(seq: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    private var follower: Task<Void, Never>?
    private var failure: (any Error)?
    private var ended = false

    public init(store: any EventStore, configuration: DetectorConfiguration = .default, enforcer: (any PolicyEnforcer)?) {
        self.store = store
        self.configuration = configuration
        self.enforcer = enforcer
        detectors = DetectorSet(configuration: configuration)
    }

    /// Folds the history from `seq` 1 (returning once it has reached the head as it was when
    /// called), then keeps following new events until ``stop()``. Starting twice does nothing.
    public func start() async throws {
        guard follower == nil else { return }
        ended = false
        follower = Task { await self.follow(self.store) }  // set before any suspension: one follower
        try await caughtUp(through: try await store.head().seq)
    }

    /// Waits until every event with `seq <= seq` has been processed and its alerts and policies
    /// applied. Throws when following failed (the store closed, an append failed) or stopped.
    public func caughtUp(through seq: UInt64) async throws {
        if let failure { throw failure }
        if processed >= seq { return }
        guard follower != nil, !ended else { throw CancellationError() }
        try await withCheckedThrowingContinuation { waiters.append((seq, $0)) }
    }

    /// Every alert found so far (those re-found in history included), in the order found.
    public func alerts() -> [Alert] { found }

    /// Policies that could not be applied (the enforcer threw), as `kind run/agent: error`.
    public func policyFailures() -> [String] { failedPolicies }

    /// The highest `seq` processed.
    public func processedSeq() -> UInt64 { processed }

    /// Stops following. Pending ``caughtUp(through:)`` calls throw `CancellationError`.
    public func stop() async {
        guard let follower else { return }
        follower.cancel()
        await follower.value
        self.follower = nil
        resumeWaiters(throwing: CancellationError())
    }

    // MARK: Following

    private func follow(_ store: some EventStore) async {
        do {
            for try await event in store.subscribe(after: processed) {
                try await handle(event)
            }
            ended = true
            resumeWaiters(throwing: CancellationError())  // cancelled, or the store closed
        } catch {
            ended = true
            if !(error is CancellationError) { failure = error }
            resumeWaiters(throwing: error)
        }
    }

    private func handle(_ event: RecordedEvent) async throws {
        for alert in detectors.observe(event) { try await record(alert) }
        processed = event.seq
        guard !waiters.isEmpty else { return }
        var pending: [(seq: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        for waiter in waiters {
            if waiter.seq <= processed { waiter.continuation.resume() } else { pending.append(waiter) }
        }
        waiters = pending
    }

    private func record(_ alert: Alert) async throws {
        found.append(alert)
        let anomaly = AnomalyDetected(
            kind: alert.kind.rawValue, scoreMilli: alert.scoreMilli, evidence: alert.evidence, action: alert.action.rawValue)
        let event = ProposedEvent(
            anomaly, stream: SpendStreams.detector(alert.kind.rawValue), occurredAt: alert.at,
            dimensions: Dimensions(agent: alert.agent.isEmpty ? nil : alert.agent, run: alert.run, causation: alert.triggeredBy),
            id: Self.eventID(for: alert))
        let result = try await store.append([event])
        guard result.positions.first?.isDuplicate == false, let enforcer else { return }
        do {
            switch alert.action {
            case .notify:
                break
            case .haltRun:
                if let run = alert.run {
                    try await enforcer.haltRun(run, cause: "detector:" + alert.kind.rawValue, reason: alert.evidence)
                }
            case .pauseAgent:
                if !alert.agent.isEmpty {
                    try await enforcer.pauseAgent(alert.agent, reason: "detector:\(alert.kind.rawValue): \(alert.evidence)")
                }
            }
        } catch {
            failedPolicies.append("\(alert.kind.rawValue) \(alert.run ?? alert.agent): \(error)")
        }
    }

    private func resumeWaiters(throwing error: any Error) {
        let pending = waiters
        waiters = []
        for waiter in pending { waiter.continuation.resume(throwing: error) }
    }

    /// The id of an alert's event: SHA-256 of (kind, triggering event, agent, run), as a UUID of
    /// version 8 (custom), so the same alert always has the same id.
    public static func eventID(for alert: Alert) -> EventID {
        var text = "anomaly.detected\u{0}" + alert.kind.rawValue + "\u{0}"
        text += (alert.triggeredBy?.description ?? "-") + "\u{0}" + alert.agent + "\u{0}" + (alert.run ?? "")
        let digest = ContentHash(of: Array(text.utf8)).bytes
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 { high = high << 8 | UInt64(digest[index]) }
        for index in 8..<16 { low = low << 8 | UInt64(digest[index]) }
        high = (high & ~0xF000) | 0x8000
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        return EventID(high: high, low: low)
    }
}

/// Who to tell and how to stop a runaway: implemented by the ledger's `SpendCoordinator`.
///
/// Implementations must make `haltRun` a no-op for a run that is not running.
public protocol PolicyEnforcer: Sendable {
    func haltRun(_ run: String, cause: String, reason: String) async throws
    func pauseAgent(_ agent: String, reason: String) async throws
}

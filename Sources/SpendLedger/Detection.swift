public import LedgerActors
public import LedgerDetectors

/// The coordinator stops runaways for the detectors: `haltRun` appends `run.halted` (a no-op for a
/// run that is not running), `pauseAgent` appends `agent.paused`; later authorizations are denied
/// with the detector's cause and evidence.
extension SpendCoordinator: PolicyEnforcer {}

extension Ledger {
    /// Starts the detectors on this ledger: folds the history from `seq` 1 (returning once it has
    /// reached the head), then follows every new event, records each alert as `anomaly.detected`
    /// and applies its policy through this ledger's coordinator. Call ``DetectorService/stop()``
    /// before closing the ledger.
    public func startDetectors(_ configuration: DetectorConfiguration = .default) async throws -> DetectorService {
        let service = DetectorService(store: store, configuration: configuration, enforcer: spend)
        try await service.start()
        return service
    }
}

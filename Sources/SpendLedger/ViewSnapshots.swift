public import LedgerLMDB
import LedgerProjections

/// Keeps the built-in views' snapshots current in an LMDB ledger, so `spend report --at T` and
/// `spend audit` answer from the newest snapshot plus a short tail instead of a replay.
///
/// A long-running service gets this from a ``ProjectionEngine`` it follows the log with; a tool
/// that only appends (`spend ingest`, the demo) calls ``refresh(_:)`` when it is done. The first
/// call folds the whole log once (about half a second per million events); later calls resume
/// from the views' checkpoints.
public enum ViewSnapshots {
    /// Folds what the views have not seen (writing the regular snapshots on the way), then
    /// checkpoints them at the head. Returns the seq they now stand at.
    @discardableResult
    public static func refresh(_ store: LMDBEventStore) async throws -> UInt64 {
        let engine = ProjectionEngine(store: store, snapshots: LMDBSnapshotStore(store))
        try await engine.register(BuiltinViews.all)
        let report = try await engine.catchUp()
        try await engine.checkpoint()
        return report.seq
    }
}

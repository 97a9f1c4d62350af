public import LedgerCore
import Synchronization

/// The demo's clock: simulated time that the fleet simulator moves forward, so a day of a fleet
/// runs in seconds and every event's `recordedAt` is the simulated instant it was appended.
public final class SimulatedClock: LedgerClock, Sendable {
    private let time: Mutex<LedgerTime>

    public init(start: LedgerTime) { time = Mutex(start) }

    public func now() -> LedgerTime { time.withLock { $0 } }

    /// Moves the clock to `instant`; never backwards.
    func move(to instant: LedgerTime) {
        time.withLock { $0 = max($0, instant) }
    }
}

public import LedgerCore
import Synchronization

/// A ``LedgerClock`` that only moves when a test moves it.
///
/// Give it to a store to control `recordedAt` exactly: ``advance(byNanoseconds:)`` moves it
/// forward, ``set(_:)`` moves it anywhere, including backwards, to check that the store never lets
/// `recordedAt` decrease along `seq`. Safe to share between tasks.
public final class ManualClock: LedgerClock, Sendable {
    private let time: Mutex<LedgerTime>

    /// A clock that reads `start` until it is moved. The default is 2026-01-01T00:00:00Z.
    public init(start: LedgerTime = LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000)) {
        time = Mutex(start)
    }

    public func now() -> LedgerTime {
        time.withLock { $0 }
    }

    /// Moves the clock by `nanoseconds` (negative moves it back) and returns the new time.
    @discardableResult
    public func advance(byNanoseconds nanoseconds: Int64) -> LedgerTime {
        time.withLock { time in
            time = LedgerTime(nanosecondsSinceEpoch: time.nanosecondsSinceEpoch + nanoseconds)
            return time
        }
    }

    /// Sets the clock to `newTime`, which may be earlier than the current time.
    public func set(_ newTime: LedgerTime) {
        time.withLock { $0 = newTime }
    }
}

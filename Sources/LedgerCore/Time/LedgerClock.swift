#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a ledger writer reads the time it stamps as `recordedAt`.
///
/// The writer never lets `recordedAt` decrease along `seq`, whatever the clock says: when the
/// clock steps back, events are stamped with the previous event's time.
public protocol LedgerClock: Sendable {
    func now() -> LedgerTime
}

/// The system's real-time clock (`CLOCK_REALTIME`), in nanoseconds.
public struct SystemClock: LedgerClock {
    public init() {}

    public func now() -> LedgerTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return LedgerTime(nanosecondsSinceEpoch: Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec))
    }
}

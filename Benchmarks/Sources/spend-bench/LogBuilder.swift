import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit

/// Builds the large logs the read benchmarks use, fast: batches of ``batch`` events with
/// `LMDBOptions(durability: .noSync)` (what is measured later is reading the log, not how durably
/// it was written; the bytes are the same either way).
///
/// `recordedAt` comes from a `ManualClock` that starts at 2026-01-01T00:00:00Z and moves 1 ms
/// before each batch, so batch `b` (from 0) is stamped `start + (b + 1) ms` and the seq for any
/// time is known in advance (see ``expectedSeq(recordedAtOrBefore:events:)``), which the lookup
/// benchmark checks every answer against.
enum LogBuilder {
    static let batch = 10_000
    static let tickNanos: Int64 = 1_000_000
    static let start = ManualClock().now()

    /// `recordedAt` of the last event of a log of `events` events.
    static func lastRecordedAt(events: Int) -> LedgerTime {
        let batches = (events + batch - 1) / batch
        return LedgerTime(nanosecondsSinceEpoch: start.nanosecondsSinceEpoch + Int64(batches) * tickNanos)
    }

    /// What `seq(recordedAtOrBefore: time)` must answer on a log of `events` events built here.
    static func expectedSeq(recordedAtOrBefore time: LedgerTime, events: Int) -> UInt64 {
        let elapsed = time.nanosecondsSinceEpoch - start.nanosecondsSinceEpoch
        guard elapsed >= tickNanos else { return 0 }
        let batchesAtOrBefore = Int(elapsed / tickNanos)
        return UInt64(min(batchesAtOrBefore * batch, events))
    }

    /// The path of a log of `events` events under the scratch root, built unless `reuse` is set
    /// and a complete one from an earlier run is there. Returns the build figure when it built.
    static func log(events: Int, name: String, scratch: Scratch, reuse: Bool) async throws -> (path: String, built: Figure?) {
        let path = scratch.root + "/" + name
        if reuse, isComplete(path: path, events: events) {
            print("  reusing the \(Format.count(events))-event log at \(path) (--keep-log)")
            return (path, nil)
        }
        _ = try scratch.fresh(name)
        return (path, try await build(path: path, events: events))
    }

    /// True when `path` holds a log this builder made with exactly `events` events.
    static func isComplete(path: String, events: Int) -> Bool {
        guard let store = try? LMDBEventStore.open(at: path, options: LMDBOptions(readOnly: true)) else { return false }
        defer { store.close() }
        guard let head = try? store.head() else { return false }
        return head.seq == UInt64(events) && head.recordedAt == lastRecordedAt(events: events)
    }

    /// Writes `events` events in batches of ``batch``, without fsync. The figure is wall time,
    /// event making included (it is informational, not a target).
    static func build(path: String, events: Int) async throws -> Figure {
        let clock = ManualClock(start: start)
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(durability: .noSync, clock: clock))
        let began = monotonicNanos()
        var written = 0
        while written < events {
            let count = min(batch, events - written)
            let proposed = Workload.batch(from: written, count: count)
            clock.advance(byNanoseconds: tickNanos)
            try await store.append(proposed)
            written += count
        }
        let seconds = Double(monotonicNanos() - began) / 1e9
        let head = try store.head()
        store.close()
        guard head.seq == UInt64(events), head.recordedAt == lastRecordedAt(events: events) else {
            throw BenchError("the built log's head is \(head.seq) at \(head.recordedAt)")
        }
        var figure = Figure(name: "build log, noSync, batch \(Format.count(batch))", events: events, seconds: seconds)
        figure.note = "wall time incl. making the events; data.mdb \(Format.count(Scratch(root: "/").dataBytes(path) >> 20)) MiB"
        print("  built    " + Format.line(figure))
        return figure
    }
}

import Foundation
import LedgerCore
import LedgerDomain
import LedgerLMDB
import LedgerProjections
import SpendLedgerTestKit

/// SpendLedger through its public API: `LMDBEventStore.open(at:options:)` and `append` for writes
/// (default options: `.fsync`, group commit), and for aggregates exactly what `spend report`
/// does: open the ledger read-only, `ProjectionEngine(store:snapshots: LMDBSnapshotStore(store))`,
/// `state(of: SpendByDimension(dim), asOf:)`, then `SpendReport` (rows sorted by cost).
enum LedgerPeer {
    static let dimensions: [(String, SpendDimension)] = [("agent", .agent), ("model", .model), ("client", .client)]

    // MARK: Writes

    static func writes(dir: String, sizes: WriteSizes, results: ResultsFile) async throws {
        // Single writer.
        do {
            let charges = Workload.charges(0..<sizes.single).map(\.proposed)
            let (store, path) = try fresh(dir, "ledger-w-single")
            var latencies: [UInt64] = []
            let start = monotonicNanos()
            for event in charges {
                let t0 = monotonicNanos()
                try await store.append(event)
                latencies.append(monotonicNanos() - t0)
            }
            let wall = monotonicNanos() - start
            try check(store, sizes.single)
            store.close()
            remove(path)
            let l = Latencies(latencies)
            results.write(Record(store: "ledger", bench: "w.single", events: sizes.single, seconds: Double(wall) / 1e9, p50: l.p50, p99: l.p99))
        }
        for (writers, perWriter) in [(8, sizes.perWriter8), (1_000, sizes.perWriter1000)] {
            let (store, path) = try fresh(dir, "ledger-w-c\(writers)")
            let perTask: [[ProposedEvent]] = (0..<writers).map { w in
                Workload.charges((w * perWriter)..<((w + 1) * perWriter)).map(\.proposed)
            }
            let start = monotonicNanos()
            let samples = try await withThrowingTaskGroup(of: [UInt64].self) { group in
                for events in perTask {
                    group.addTask {
                        var latencies: [UInt64] = []
                        latencies.reserveCapacity(events.count)
                        for event in events {
                            let t0 = monotonicNanos()
                            try await store.append(event)
                            latencies.append(monotonicNanos() - t0)
                        }
                        return latencies
                    }
                }
                var all: [UInt64] = []
                for try await latencies in group { all += latencies }
                return all
            }
            let wall = monotonicNanos() - start
            try check(store, writers * perWriter)
            store.close()
            remove(path)
            let l = Latencies(samples)
            results.write(
                Record(
                    store: "ledger", bench: "w.c\(writers)", events: writers * perWriter, seconds: Double(wall) / 1e9, p50: l.p50,
                    p99: l.p99, note: "\(writers) Swift tasks, one shared store (group commit)"))
        }
        do {
            let batches = sizes.batches
            let all = Workload.charges(0..<(batches * 1_000)).map(\.proposed)
            let (store, path) = try fresh(dir, "ledger-w-batch")
            var latencies: [UInt64] = []
            let start = monotonicNanos()
            for b in 0..<batches {
                let batch = Array(all[(b * 1_000)..<((b + 1) * 1_000)])
                let t0 = monotonicNanos()
                try await store.append(batch)
                latencies.append(monotonicNanos() - t0)
            }
            let wall = monotonicNanos() - start
            try check(store, batches * 1_000)
            store.close()
            remove(path)
            let l = Latencies(latencies)
            results.write(
                Record(
                    store: "ledger", bench: "w.batch1000", events: batches * 1_000, seconds: Double(wall) / 1e9, p50: l.p50,
                    p99: l.p99, note: "append([1,000 events]); latency per batch"))
        }
        let status = Memory.selfStatus()
        results.write(
            Record(
                store: "ledger", bench: "mem.write", events: 0, seconds: 0, value: Double(Memory.peakSinceReset()),
                note: "peak RSS of the harness process; at the end RssAnon \(Fmt.mib(Double(status.anon))), RssFile \(Fmt.mib(Double(status.file)))"))
    }

    static func fresh(_ dir: String, _ name: String) throws -> (LMDBEventStore, String) {
        let path = dir + "/" + name
        remove(path)
        return (try LMDBEventStore.open(at: path, options: LMDBOptions(durability: .fsync)), path)
    }

    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    static func check(_ store: LMDBEventStore, _ events: Int) throws {
        let head = try store.head()
        guard head.seq == UInt64(events) else { throw PeerError("ledger head is \(head.seq), expected \(events)") }
    }

    // MARK: The read log

    static func logPath(dir: String, events: Int) -> String { dir + "/ledger-\(events)" }

    /// Builds the log of `events` charges (noSync, batches of 10,000, a manual clock 1 ms per
    /// batch), then runs one projection catch-up with the three views registered, which writes
    /// their snapshots every 32,768 events as a running service's engine does. Skipped when a
    /// complete log is there (`--reuse`).
    static func prepare(dir: String, events: Int, reuse: Bool, results: ResultsFile) async throws {
        let path = logPath(dir: dir, events: events)
        let marker = path + "/peer-bench-complete"
        if reuse, FileManager.default.fileExists(atPath: marker) {
            print("  [ledger] reusing the \(Fmt.count(events))-event log at \(path)")
            return
        }
        remove(path)
        let clock = ManualClock(start: LedgerTime(nanosecondsSinceEpoch: Workload.recordedStart))
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(durability: .noSync, clock: clock))
        let start = monotonicNanos()
        var written = 0
        var bytes = 0
        while written < events {
            let count = min(Workload.loadBatch, events - written)
            let batch = Workload.charges(written..<(written + count)).map(\.proposed)
            clock.advance(byNanoseconds: 1_000_000)
            try await store.append(batch)
            written += count
        }
        let built = Double(monotonicNanos() - start) / 1e9
        try check(store, events)
        // Mean encoded size, from the first 1,000 events.
        try store.forEachEncodedEvent(from: 1, through: 1_000) { raw in
            bytes += raw.count
            return true
        }
        let engine = ProjectionEngine(store: store, snapshots: LMDBSnapshotStore(store))
        for (_, dimension) in dimensions { try await engine.register(SpendByDimension(dimension)) }
        let catchUpStart = monotonicNanos()
        let report = try await engine.catchUp()
        let caughtUp = Double(monotonicNanos() - catchUpStart) / 1e9
        store.close()
        _ = FileManager.default.createFile(atPath: marker, contents: nil)
        results.write(
            Record(
                store: "ledger", bench: "load.\(label(events))", events: events, seconds: built,
                value: Double(fileSize(path + "/data.mdb")),
                note: String(format: "built noSync in batches of 10,000 in %.1f s (mean event %.0f bytes encoded); then one catch-up of the 3 views: %.1f s, %d snapshots written; data.mdb %@",
                    built, Double(bytes) / 1_000, caughtUp, report.snapshotsSaved, Fmt.mib(Double(fileSize(path + "/data.mdb"))))))
    }

    // MARK: Reads

    static func reads(dir: String, events: Int, reps: Int, results: ResultsFile) async throws {
        let path = logPath(dir: dir, events: events)
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let middle = LedgerTime(nanosecondsSinceEpoch: Workload.middle(events: events))
        var queries: [(String, SpendDimension, AsOf)] = dimensions.map { ("r.\($0.0).\(label(events))", $0.1, AsOf.head) }
        queries.append(("r.asof.\(label(events))", .agent, .recorded(middle)))
        Memory.resetPeak()
        for useSnapshots in [true, false] {
            if !useSnapshots {
                let status = Memory.selfStatus()
                results.write(
                    Record(
                        store: "ledger", bench: "mem.read.\(label(events))", events: events, seconds: 0, value: Double(status.hwm),
                        note: "peak RSS (VmHWM) during the queries from snapshots; RssAnon \(Fmt.mib(Double(status.anon))), RssFile \(Fmt.mib(Double(status.file))) (RssFile: pages of the memory map touched, i.e. page cache)"))
                Memory.resetPeak()
            }
            for (bench, dimension, point) in queries {
                var samples: [UInt64] = []
                var rows: [(key: String, cost: Int64, calls: Int64)] = []
                var folded: UInt64 = 0
                for rep in 0...(useSnapshots ? reps : max(reps - 2, 1)) {
                    if overBudget(samples) { break }
                    let t0 = monotonicNanos()
                    // What `spend report --by <dim> [--at T]` runs, minus printing.
                    let engine = ProjectionEngine(store: store, snapshots: LMDBSnapshotStore(store))
                    let result = try await engine.state(of: SpendByDimension(dimension), asOf: point, useSnapshots: useSnapshots)
                    let report = SpendReport(dimension: dimension, result: result, asOf: middle)
                    let elapsed = monotonicNanos() - t0
                    if rep > 0 { samples.append(elapsed) }  // rep 0 warms the page cache
                    rows = report.rows.map { ($0.key, $0.row.costNanos, $0.row.calls) }
                    folded = result.eventsFolded
                    guard result.rejectedSnapshots.isEmpty else { throw PeerError("snapshots refused: \(result.rejectedSnapshots)") }
                }
                let m = medianOf(samples)
                results.write(
                    Record(
                        store: useSnapshots ? "ledger" : "ledger-replay", bench: bench, events: events, seconds: m.median / 1e9,
                        p50: m.min, p99: m.max,
                        note: "median of \(samples.count) after 1 warm-up; folded \(folded) events"
                            + (useSnapshots ? " after the newest snapshot" : " (no snapshots)"),
                        digest: digest(rows)))
            }
        }
        let status = Memory.selfStatus()
        results.write(
            Record(
                store: "ledger-replay", bench: "mem.read.\(label(events))", events: events, seconds: 0, value: Double(status.hwm),
                note: "peak RSS (VmHWM) during the replays from zero; RssAnon \(Fmt.mib(Double(status.anon))), RssFile \(Fmt.mib(Double(status.file))) (the whole log's pages: page cache)"))
    }
}

func label(_ events: Int) -> String {
    events % 1_000_000 == 0 ? "\(events / 1_000_000)M" : events % 1_000 == 0 ? "\(events / 1_000)k" : "\(events)"
}

func fileSize(_ path: String) -> Int {
    var info = stat()
    guard stat(path, &info) == 0 else { return 0 }
    return Int(info.st_size)
}

/// How many events each write benchmark makes.
struct WriteSizes {
    var single: Int
    var perWriter8: Int
    var perWriter1000: Int
    var batches: Int

    static let full = WriteSizes(single: 3_000, perWriter8: 500, perWriter1000: 20, batches: 100)
    static let quick = WriteSizes(single: 300, perWriter8: 50, perWriter1000: 3, batches: 10)
}

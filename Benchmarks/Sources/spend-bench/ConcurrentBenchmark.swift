import LedgerCore
import LedgerLMDB

/// Many concurrent appenders of one event per call: a TaskGroup of `tasks` tasks, each looping
/// `appendsPerTask` durable single-event appends to a stream of its own (task `t` writes stream
/// `t % streamCount`: with the default 1,000 streams, every appender is one agent's run). This is
/// what group commit is for: every append pending at a moment shares one transaction and one fsync.
///
/// Throughput is all events over the wall time from the first append to the last
/// acknowledgement; latency is per `append` call, as each task saw it (queueing, the commit, and
/// the cooperative pool resuming the task). Events are made before the clock starts, except their
/// id and `occurredAt`: each task stamps a fresh time-ordered UUIDv7 (`EventID.generate(at: now)`,
/// from a cheap generator) and `occurredAt = now` just before each append, as a producer that
/// makes its event when it sends it does. Values made in advance would reach the store in an
/// order unrelated to time and scatter every group commit's `ids` and `occurred` index inserts
/// over the whole index (measured: 6.4 KB written per event instead of about 0.5 KB with one
/// stream, several times slower); that is a different workload (a backfill).
///
/// The ceiling is raw LMDB committing, durably, batches of the size the group commit actually
/// formed (events ÷ write transactions, counted from LMDB's transaction id after the run).
enum ConcurrentBenchmark {
    static let target = Target(text: "≥ 200,000 events/s, p99 ≤ 5 ms") {
        $0.rate >= 200_000 && ($0.p99 ?? .max) <= 5_000_000
    }

    static func run(scratch: Scratch, quick: Bool, appendsPerTask chosen: Int? = nil, report: Report) async throws {
        let tasks = 1_000
        let appendsPerTask = chosen ?? (quick ? 10 : 200)
        let events = tasks * appendsPerTask
        print("\(Format.count(tasks)) concurrent appenders × \(appendsPerTask) single-event durable appends")
        let (figure, transactions) = try await concurrentAppend(
            tasks: tasks, appendsPerTask: appendsPerTask, scratch: scratch)
        let groupSize = max(1, Int((Double(events) / Double(max(transactions, 1))).rounded()))
        let ceiling = try Ceiling.durableAppend(
            batch: groupSize, events: events, scratch: scratch,
            name: "raw LMDB durable, batch \(Format.count(groupSize)) (the mean group)")
        report.ceiling(ceiling)
        let indexed = try Ceiling.durableAppend(
            batch: groupSize, events: events, scratch: scratch,
            name: "raw LMDB durable, batch \(Format.count(groupSize)) (the mean group)", indexed: true)
        report.ceiling(indexed)
        report.add(Row(figure: figure, ceiling: ceiling, indexedCeiling: indexed, target: target))
    }

    /// Returns the figure and the number of write transactions (group commits) the store made.
    static func concurrentAppend(
        tasks: Int, appendsPerTask: Int, scratch: Scratch
    ) async throws -> (Figure, transactions: Int) {
        let path = try scratch.fresh("concurrent")
        defer { scratch.remove(path) }
        // Open and close once so the transaction counter's starting point excludes creation.
        try LMDBEventStore.open(at: path).close()
        let baseline = try transactionCount(path)

        let perTask: [[ProposedEvent]] = (0..<tasks).map { task in
            (0..<appendsPerTask).map { Workload.event(task &* appendsPerTask &+ $0, stream: task) }
        }
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(durability: .fsync))
        let bytesBefore = writtenBytes()
        let threadsBefore = ThreadCPU.snapshot()
        let cpuStart = processCPUNanos()
        let start = monotonicNanos()
        let samples = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for events in perTask {
                group.addTask {
                    var latencies: [UInt64] = []
                    latencies.reserveCapacity(events.count)
                    // Seeded once per task from the system generator: SplitMix64 streams with
                    // related seeds overlap, and equal ids would be (correctly) deduplicated.
                    var random = SplitMix64(seed: UInt64.random(in: .min ... .max))
                    for var event in events {
                        let now = SystemClock().now()
                        event.id = EventID.generate(at: now, using: &random)
                        event.occurredAt = now
                        let t0 = monotonicNanos()
                        try await store.append(event)
                        latencies.append(monotonicNanos() - t0)
                    }
                    return latencies
                }
            }
            var all: [UInt64] = []
            all.reserveCapacity(tasks * appendsPerTask)
            for try await latencies in group { all.append(contentsOf: latencies) }
            return all
        }
        let wall = monotonicNanos() - start
        let cpu = processCPUNanos() - cpuStart
        let bytes = writtenBytes() - bytesBefore
        let threads = ThreadCPU.usage(from: threadsBefore, to: ThreadCPU.snapshot())
        let head = try store.head()
        store.close()
        let events = tasks * appendsPerTask
        guard head.seq == UInt64(events) else { throw BenchError("head is \(head.seq), expected \(events)") }
        let transactions = try transactionCount(path) - baseline
        var figure = Figure(
            name: "\(Format.count(tasks)) concurrent appenders, 1 event/call", events: events,
            seconds: Double(wall) / 1e9, latencies: Latencies(samples))
        figure.cpuNanos = cpu
        figure.writeBytes = bytes
        figure.threadCPU = threads
        figure.note = "\(Format.count(transactions)) group commits, mean \(Format.count(events / max(transactions, 1))) events each"
        return (figure, transactions)
    }

    /// LMDB's last committed transaction id of the (closed) ledger at `path`.
    private static func transactionCount(_ path: String) throws -> Int {
        let raw = try RawLMDB(path: path, readOnly: true)
        defer { raw.close() }
        return raw.lastTransactionID
    }
}

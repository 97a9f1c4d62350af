import LedgerCore
import LedgerLMDB

/// Durable appends from one caller, sequential, at batch sizes 1, 100, 1,000 and 10,000 events
/// per `append` call, each against the raw-LMDB ceiling at the same batch size.
///
/// Each call's events are made before its clock starts; the throughput is the events divided by
/// the sum of the timed `append` calls (the store's time, not the producer's).
enum AppendBenchmarks {
    /// One batch size and how many events to write with it.
    struct Case: Sendable {
        var batch: Int
        var events: Int
    }

    static func cases(quick: Bool) -> [Case] {
        quick
            ? [Case(batch: 1, events: 200), Case(batch: 100, events: 5_000),
               Case(batch: 1_000, events: 20_000), Case(batch: 10_000, events: 50_000)]
            : [Case(batch: 1, events: 3_000), Case(batch: 100, events: 100_000),
               Case(batch: 1_000, events: 1_000_000), Case(batch: 10_000, events: 1_000_000)]
    }

    /// The targets of the issue that apply to durable appends from one caller.
    static let batchTarget = Target(text: "≥ 700,000 events/s") { $0.rate >= 700_000 }
    static let singleTarget = Target(text: "p50 ≤ 0.5 ms") { ($0.p50 ?? .max) <= 500_000 }

    /// Runs every batch size (or only those in `batches`), printing and recording rows. Batch 1
    /// also gives the single-append latency row.
    static func run(scratch: Scratch, quick: Bool, report: Report, batches: Set<Int>? = nil) async throws {
        let chosen = cases(quick: quick).filter { batches?.contains($0.batch) ?? true }
        if chosen.isEmpty { throw BenchError("no batch size chosen; use 1, 100, 1000 or 10000") }
        for c in chosen {
            print("durable append, batch \(Format.count(c.batch)), \(Format.count(c.events)) events, one caller")
            let ceiling = try Ceiling.durableAppend(batch: c.batch, events: c.events, scratch: scratch)
            report.ceiling(ceiling)
            let indexed = try Ceiling.durableAppend(batch: c.batch, events: c.events, scratch: scratch, indexed: true)
            report.ceiling(indexed)
            let figure = try await durableAppend(batch: c.batch, events: c.events, scratch: scratch)
            report.add(
                Row(figure: figure, ceiling: ceiling, indexedCeiling: indexed, target: c.batch == 10_000 ? batchTarget : nil))
            if c.batch == 1 {
                var single = figure
                single.name = "single durable append (one caller, batch 1)"
                report.add(
                    Row(figure: single, ceiling: ceiling, indexedCeiling: indexed, metric: .p50Latency, target: singleTarget))
            }
        }
    }

    /// `events` events appended to a fresh durable (fsync) ledger in calls of `batch` events;
    /// latencies are per `append` call.
    static func durableAppend(batch: Int, events: Int, scratch: Scratch) async throws -> Figure {
        let path = try scratch.fresh("append-\(batch)")
        defer { scratch.remove(path) }
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(durability: .fsync))
        var latencies: [UInt64] = []
        latencies.reserveCapacity(events / batch + 1)
        var cpu: UInt64 = 0
        let bytesBefore = writtenBytes()
        let threadsBefore = ThreadCPU.snapshot()
        var written = 0
        while written < events {
            let count = min(batch, events - written)
            let proposed = Workload.batch(from: written, count: count)
            let cpuStart = processCPUNanos()
            let start = monotonicNanos()
            let result = try await store.append(proposed)
            latencies.append(monotonicNanos() - start)
            cpu += processCPUNanos() - cpuStart
            guard result.appendedCount == count else {
                throw BenchError("append wrote \(result.appendedCount) of \(count) events")
            }
            written += count
        }
        let bytes = writtenBytes() - bytesBefore
        // Before closing, while the store's threads are alive. The main thread's share includes
        // making the events (outside the timed calls); the indexer works between calls too.
        let threads = ThreadCPU.usage(from: threadsBefore, to: ThreadCPU.snapshot())
        let head = try store.head()
        store.close()
        guard head.seq == UInt64(events) else { throw BenchError("head is \(head.seq), expected \(events)") }
        let stats = Latencies(latencies)
        var figure = Figure(
            name: "durable append, batch \(Format.count(batch))", events: events,
            seconds: Double(stats.total) / 1e9, latencies: stats)
        figure.cpuNanos = cpu
        figure.writeBytes = bytes
        figure.threadCPU = threads
        return figure
    }
}

/// The raw-LMDB ceilings that are writes (see ``RawLMDB``).
enum Ceiling {
    /// `events` events written to a fresh raw environment, one durable transaction per `batch`
    /// events, the bytes encoded before each transaction's clock starts. Latencies are per commit.
    /// With `indexed`, every transaction also does the store's index and head work
    /// (``RawLMDB/appendBatchIndexed(_:firstSeq:)``).
    static func durableAppend(
        batch: Int, events: Int, scratch: Scratch, name: String? = nil, indexed: Bool = false
    ) throws -> Figure {
        let path = try scratch.fresh("raw-\(batch)", create: true)
        defer { scratch.remove(path) }
        let raw = try RawLMDB(path: path, readOnly: false, indexed: indexed)
        defer { raw.close() }
        var encoder = ChainEncoder()
        var latencies: [UInt64] = []
        latencies.reserveCapacity(events / batch + 1)
        var cpu: UInt64 = 0
        let bytesBefore = writtenBytes()
        var written = 0
        while written < events {
            let count = min(batch, events - written)
            let firstSeq = encoder.seq + 1
            let values = encoder.encode(Workload.batch(from: written, count: count), recordedAt: SystemClock().now())
            let cpuStart = processCPUNanos()
            latencies.append(
                try measure {
                    if indexed {
                        try raw.appendBatchIndexed(values, firstSeq: firstSeq)
                    } else {
                        try raw.appendBatch(values, firstSeq: firstSeq)
                    }
                })
            cpu += processCPUNanos() - cpuStart
            written += count
        }
        let bytes = writtenBytes() - bytesBefore
        guard try raw.lastSeq() == UInt64(events) else { throw BenchError("raw ceiling wrote the wrong count") }
        let stats = Latencies(latencies)
        var figure = Figure(
            name: (name ?? "raw LMDB durable, batch \(Format.count(batch))") + (indexed ? " + the store's indexes" : ""),
            events: events,
            seconds: Double(stats.total) / 1e9, latencies: stats)
        figure.cpuNanos = cpu
        figure.writeBytes = bytes
        return figure
    }
}

import LedgerCore
import LedgerLMDB

/// Full replay and recorded-time lookups, each against raw LMDB reading the same `events`
/// database of the same ledger (opened read-only by ``RawLMDB`` once the store is closed).
///
/// Reads run with the log in the page cache (it was just written, or warmed by one untimed pass):
/// they measure CPU cost, not the disk.
enum ReadBenchmarks {
    static let replayTarget = Target(text: "≥ 4,000,000 events/s") { $0.rate >= 4_000_000 }
    static let lookupTarget = Target(text: "≤ 50 µs (p99 and mean)") {
        ($0.p99 ?? .max) <= 50_000 && ($0.meanLatency ?? .infinity) <= 50_000
    }

    /// How many times each replay is timed; the median run is reported.
    static let replayRuns = 3

    // MARK: Replay

    /// Replay of a log built for the purpose (1M events, 100k with `--quick`).
    static func runReplay(scratch: Scratch, quick: Bool, report: Report) async throws {
        let events = quick ? 100_000 : 1_000_000
        print("full replay of a \(Format.count(events))-event log")
        let (path, _) = try await LogBuilder.log(events: events, name: "replay-\(events)", scratch: scratch, reuse: false)
        defer { scratch.remove(path) }
        try replay(path: path, events: events, report: report)
    }

    /// Times `forEachEvent` (decoding every event), `forEachEncodedEvent` (zero-copy) and the raw
    /// cursor scan over the log at `path`.
    static func replay(path: String, events: Int, report: Report) throws {
        let label = "\(Format.count(events)) events"
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(readOnly: true))
        // Warm the page cache and the code paths once, untimed.
        _ = try store.forEachEncodedEvent { _ in true }

        var decodeSum: UInt64 = 0
        let decoded = try medianRun(name: "replay decoding every event (forEachEvent), \(label)", events: events) {
            var seen = 0
            try store.forEachEvent { event in
                decodeSum &+= event.seq
                seen += 1
                return true
            }
            return seen
        }
        var readSum: UInt64 = 0
        let chunked = try medianRun(name: "replay through read(from:maxCount:), chunks of 4,096, \(label)", events: events) {
            var seen = 0
            var next: UInt64 = 1
            while true {
                let chunk = try store.read(from: next, maxCount: 4_096)
                guard let last = chunk.last else { break }
                for event in chunk { readSum &+= event.seq }
                seen += chunk.count
                next = last.seq + 1
            }
            return seen
        }
        var encodedSum: UInt64 = 0
        let encoded = try medianRun(name: "replay zero-copy (forEachEncodedEvent), \(label)", events: events) {
            var seen = 0
            try store.forEachEncodedEvent { bytes in
                encodedSum &+= UInt64(bitPattern: EventCodec.recordedAt(in: bytes).nanosecondsSinceEpoch)
                seen += 1
                return true
            }
            return seen
        }
        store.close()

        let raw = try RawLMDB(path: path, readOnly: true)
        defer { raw.close() }
        _ = try raw.scan()
        let ceiling = try medianRun(name: "raw LMDB cursor scan, \(label)", events: events) { try raw.scan().count }
        guard decodeSum != 0, encodedSum != 0, readSum != 0 else { throw BenchError("replay visited nothing") }

        report.ceiling(ceiling)
        report.add(Row(figure: decoded, ceiling: ceiling, target: replayTarget))
        report.add(Row(figure: chunked, ceiling: ceiling))
        report.add(Row(figure: encoded, ceiling: ceiling))
    }

    /// Runs `body` (which returns how many events it visited) ``replayRuns`` times; the median.
    private static func medianRun(name: String, events: Int, _ body: () throws -> Int) throws -> Figure {
        var runs: [UInt64] = []
        for _ in 0..<replayRuns {
            var visited = 0
            runs.append(try measure { visited = try body() })
            guard visited == events else { throw BenchError("\(name): visited \(visited) of \(events) events") }
        }
        runs.sort()
        var figure = Figure(name: name, events: events, seconds: Double(runs[runs.count / 2]) / 1e9)
        figure.note = "median of \(replayRuns) runs; all: " + runs.map { Format.seconds(Double($0) / 1e9) }.joined(separator: ", ") + " s"
        return figure
    }

    // MARK: The big log: lookups and replay

    /// Recorded-time lookups on a 10M-event log (200k with `--quick`), then a full replay of it.
    static func runLookup(
        scratch: Scratch, quick: Bool, keepLog: Bool, withReplay: Bool, report: Report
    ) async throws {
        let events = quick ? 200_000 : 10_000_000
        let lookups = quick ? 1_000 : 10_000
        print("recorded-time lookups on a \(Format.count(events))-event log")
        let name = "log-\(events)"
        let (path, _) = try await LogBuilder.log(events: events, name: name, scratch: scratch, reuse: keepLog)
        defer { if !keepLog { scratch.remove(path) } }
        try lookup(path: path, events: events, lookups: lookups, report: report)
        if withReplay {
            print("full replay of the \(Format.count(events))-event log")
            try replay(path: path, events: events, report: report)
        }
    }

    /// `lookups` calls of `seq(recordedAtOrBefore:)` at random times spanning the log (a little
    /// before the first event to a little after the last), each answer checked; then the same
    /// times on raw LMDB.
    static func lookup(path: String, events: Int, lookups: Int, report: Report) throws {
        var random = SplitMix64(seed: 0x5EED_1ED6_E4)
        let low = LogBuilder.start.nanosecondsSinceEpoch
        let high = LogBuilder.lastRecordedAt(events: events).nanosecondsSinceEpoch + LogBuilder.tickNanos
        let times = (0..<lookups).map { _ in
            LedgerTime(nanosecondsSinceEpoch: Int64.random(in: low...high, using: &random))
        }

        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(readOnly: true))
        // Warm-up: every lookup once, untimed, so both this and the raw pass below run with their
        // memory map's pages already faulted in (each opens a fresh map).
        var coldLatencies: [UInt64] = []
        coldLatencies.reserveCapacity(lookups)
        for time in times {
            let start = monotonicNanos()
            _ = try store.seq(recordedAtOrBefore: time)
            coldLatencies.append(monotonicNanos() - start)
        }
        let cold = Latencies(coldLatencies)
        var latencies: [UInt64] = []
        latencies.reserveCapacity(lookups)
        var answers: [UInt64] = []
        answers.reserveCapacity(lookups)
        for time in times {
            let start = monotonicNanos()
            let seq = try store.seq(recordedAtOrBefore: time)
            latencies.append(monotonicNanos() - start)
            answers.append(seq)
        }
        store.close()
        for (time, answer) in zip(times, answers) {
            let expected = LogBuilder.expectedSeq(recordedAtOrBefore: time, events: events)
            guard answer == expected else {
                throw BenchError("seq(recordedAtOrBefore: \(time)) answered \(answer), expected \(expected)")
            }
        }

        let raw = try RawLMDB(path: path, readOnly: true)
        defer { raw.close() }
        let head = UInt64(events)
        for time in times { _ = try raw.seq(recordedAtOrBefore: time, head: head) }
        var rawLatencies: [UInt64] = []
        rawLatencies.reserveCapacity(lookups)
        for (time, answer) in zip(times, answers) {
            let start = monotonicNanos()
            let seq = try raw.seq(recordedAtOrBefore: time, head: head)
            rawLatencies.append(monotonicNanos() - start)
            guard seq == answer else { throw BenchError("raw lookup disagrees at \(time): \(seq) vs \(answer)") }
        }

        let label = "\(Format.count(events)) events"
        let storeStats = Latencies(latencies)
        let rawStats = Latencies(rawLatencies)
        var figure = Figure(
            name: "recorded-time lookup, \(label)", events: lookups, seconds: Double(storeStats.total) / 1e9,
            latencies: storeStats, unit: "lookups")
        figure.note =
            "warm map; the first pass right after opening: mean \(Format.latency(cold.mean)), p99 \(Format.latency(cold.p99))"
        let ceiling = Figure(
            name: "raw LMDB binary search, \(label)", events: lookups, seconds: Double(rawStats.total) / 1e9,
            latencies: rawStats, unit: "lookups")
        report.ceiling(ceiling)
        report.add(Row(figure: figure, ceiling: ceiling, metric: .meanLatency, target: lookupTarget))
    }
}

/// A small seeded generator, so every run looks up the same times.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

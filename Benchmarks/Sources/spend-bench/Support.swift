import Foundation
import LedgerCore

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Time

/// Monotonic time in nanoseconds (`CLOCK_MONOTONIC`), for every measurement in the harness.
@inline(__always)
func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// CPU time this process has used so far, every thread (`CLOCK_PROCESS_CPUTIME_ID`), in
/// nanoseconds. Measured around a store call it counts the store's writer thread too.
@inline(__always)
func processCPUNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// Bytes this process has handed to `write`-family system calls so far (`wchar` in
/// `/proc/self/io`): what LMDB writes at commit, since it writes pages with `pwrite`/`writev`.
func writtenBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/io", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("wchar:") {
        return Int(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) ?? 0
    }
    return 0
}

/// Runs `body` and returns how long it took, in nanoseconds.
@inline(__always)
func measure(_ body: () throws -> Void) rethrows -> UInt64 {
    let start = monotonicNanos()
    try body()
    return monotonicNanos() &- start
}

// MARK: - Latency statistics

/// Percentiles of a set of latencies, by nearest rank over the sorted samples (exact, not
/// bucketed: every sample is kept).
struct Latencies: Sendable {
    /// Sorted ascending, nanoseconds.
    let sorted: [UInt64]

    init(_ samples: [UInt64]) {
        sorted = samples.sorted()
    }

    var count: Int { sorted.count }

    /// The nearest-rank percentile, `p` in 0...1 (0.5 is the median, 0.99 the 99th percentile).
    func percentile(_ p: Double) -> UInt64 {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((Double(sorted.count) * p).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }

    var p50: UInt64 { percentile(0.50) }
    var p99: UInt64 { percentile(0.99) }
    var max: UInt64 { sorted.last ?? 0 }
    var total: UInt64 { sorted.reduce(0, &+) }
    var mean: Double { sorted.isEmpty ? 0 : Double(total) / Double(sorted.count) }
}

// MARK: - Figures and the report

/// A target from the issue that a figure is judged against.
struct Target: Sendable {
    /// What the issue asks, as printed (`≥ 700,000 events/s`).
    var text: String
    /// Whether the figure meets it.
    var isMet: @Sendable (Figure) -> Bool
}

/// One measured figure: a SpendLedger benchmark, or the raw-LMDB ceiling it is compared with.
struct Figure: Sendable {
    var name: String
    /// Events written or read (for lookups: lookups done).
    var events: Int
    /// Seconds the measured work took.
    var seconds: Double
    /// Per-call (per-append, per-commit, per-lookup) latencies, when they were measured.
    var latencies: Latencies?
    /// What `events` counts, for the printed rate (`events/s`, `lookups/s`).
    var unit = "events"
    /// Free text printed after the figure (group sizes, how the log was built).
    var note: String?
    /// CPU time of the whole process (all threads) during the measured work, when measured.
    var cpuNanos: UInt64?
    /// Bytes written with `write`-family calls during the measured work, when measured.
    var writeBytes: Int?
    /// CPU time by thread name from the first append to the last (``ThreadCPU``), when measured.
    var threadCPU: ThreadCPU.Usage?

    /// CPU microseconds per event, when measured.
    var cpuMicrosPerEvent: Double? { cpuNanos.map { Double($0) / 1_000 / Double(Swift.max(events, 1)) } }
    /// Bytes written per event, when measured.
    var writeBytesPerEvent: Double? { writeBytes.map { Double($0) / Double(Swift.max(events, 1)) } }

    var rate: Double { seconds > 0 ? Double(events) / seconds : 0 }
    var p50: UInt64? { latencies?.p50 }
    var p99: UInt64? { latencies?.p99 }
    var meanLatency: Double? { latencies?.mean }
}

/// How a SpendLedger figure compares with its raw-LMDB ceiling.
enum CeilingMetric: Sendable {
    /// Throughput: SpendLedger events/s ÷ raw events/s.
    case throughput
    /// Median latency: raw p50 ÷ SpendLedger p50 (so, like throughput, 1.0 is "as fast as raw").
    case p50Latency
    /// Mean latency: raw mean ÷ SpendLedger mean.
    case meanLatency

    func ratio(_ figure: Figure, to ceiling: Figure) -> Double {
        switch self {
        case .throughput:
            return ceiling.rate > 0 ? figure.rate / ceiling.rate : 0
        case .p50Latency:
            guard let mine = figure.p50, let raw = ceiling.p50, mine > 0 else { return 0 }
            return Double(raw) / Double(mine)
        case .meanLatency:
            guard let mine = figure.meanLatency, let raw = ceiling.meanLatency, mine > 0 else { return 0 }
            return raw / mine
        }
    }
}

/// A SpendLedger figure with its ceiling and target, as one row of the final table.
struct Row: Sendable {
    var figure: Figure
    var ceiling: Figure?
    /// For appends: raw LMDB doing the store's index and head writes too (a diagnostic).
    var indexedCeiling: Figure?
    var metric: CeilingMetric = .throughput
    var target: Target?

    var ratio: Double? { ceiling.map { metric.ratio(figure, to: $0) } }
    var indexedRatio: Double? { indexedCeiling.map { metric.ratio(figure, to: $0) } }
}

/// Collects figures as the benchmarks run, prints each at once, and prints the table at the end.
final class Report {
    private(set) var rows: [Row] = []
    let markdown: Bool

    init(markdown: Bool) {
        self.markdown = markdown
    }

    /// Prints a raw-LMDB ceiling figure (it appears in the table through the row that uses it).
    func ceiling(_ figure: Figure) {
        print("  ceiling  " + Format.line(figure))
    }

    /// Records and prints a SpendLedger figure with its ceiling and target.
    func add(_ row: Row) {
        rows.append(row)
        var line = "  ledger   " + Format.line(row.figure)
        if let ratio = row.ratio { line += "  | \(Format.ratio(ratio)) of ceiling" }
        if let ratio = row.indexedRatio { line += ", \(Format.ratio(ratio)) of raw+indexes" }
        if let target = row.target {
            line += "  | target \(target.text): \(target.isMet(row.figure) ? "met" : "NOT MET")"
        }
        print(line)
        if let threads = row.figure.threadCPU, !threads.nanosByName.isEmpty {  // empty without /proc
            print("           cpu by thread: " + threads.describe(perEventOf: row.figure.events))
        }
    }

    /// The table of every row, then peak memory.
    func printSummary() {
        guard !rows.isEmpty else { return }
        print("")
        if markdown {
            print(
                "| benchmark | events | seconds | events/s | p50 | p99 | raw LMDB ceiling | vs ceiling | vs raw+indexes | target | met |")
            print("|---|---:|---:|---:|---:|---:|---|---:|---:|---|---|")
            for row in rows {
                let f = row.figure
                print(
                    "| \(f.name) | \(Format.count(f.events)) | \(Format.seconds(f.seconds)) | \(Format.rate(f.rate, f.unit)) "
                        + "| \(f.p50.map(Format.latency) ?? "–") | \(f.p99.map(Format.latency) ?? "–") "
                        + "| \(row.ceiling.map { Format.ceilingSummary($0, row.metric) } ?? "–") "
                        + "| \(row.ratio.map(Format.ratio) ?? "–") | \(row.indexedRatio.map(Format.ratio) ?? "–") "
                        + "| \(row.target?.text ?? "–") "
                        + "| \(row.target.map { $0.isMet(f) ? "met" : "**not met**" } ?? "–") |")
            }
        } else {
            print("SUMMARY")
            let header = [
                "benchmark".padding(toLength: 58, withPad: " ", startingAt: 0), "events".leftPad(11),
                "events/s".leftPad(13), "p50".leftPad(10), "p99".leftPad(10), "ceiling".leftPad(22),
                "ratio".leftPad(7), "+idx".leftPad(6), "  target",
            ]
            print(header.joined(separator: " "))
            for row in rows {
                let f = row.figure
                var cells = [
                    f.name.padding(toLength: 58, withPad: " ", startingAt: 0), Format.count(f.events).leftPad(11),
                    Format.rate(f.rate, "").leftPad(13), (f.p50.map(Format.latency) ?? "-").leftPad(10),
                    (f.p99.map(Format.latency) ?? "-").leftPad(10),
                    (row.ceiling.map { Format.ceilingSummary($0, row.metric) } ?? "-").leftPad(22),
                    (row.ratio.map(Format.ratio) ?? "-").leftPad(7),
                    (row.indexedRatio.map(Format.ratio) ?? "-").leftPad(6),
                ]
                if let target = row.target {
                    cells.append("  \(target.text): \(target.isMet(f) ? "met" : "NOT MET")")
                }
                print(cells.joined(separator: " "))
            }
        }
        print("")
        print(Memory.summary())
    }
}

// MARK: - Formatting

enum Format {
    /// 1234567 -> "1,234,567".
    static func count(_ value: Int) -> String {
        let digits = Array(String(value.magnitude))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (value < 0 ? "-" : "") + out
    }

    static func rate(_ value: Double, _ unit: String) -> String {
        count(Int(value.rounded())) + (unit.isEmpty ? "" : " \(unit)/s")
    }

    static func seconds(_ value: Double) -> String {
        String(format: "%.3f", value)
    }

    /// Nanoseconds as µs below 1 ms, else ms.
    static func latency(_ nanos: UInt64) -> String {
        latency(Double(nanos))
    }

    static func latency(_ nanos: Double) -> String {
        if nanos < 1_000_000 { return String(format: "%.1f µs", nanos / 1_000) }
        return String(format: "%.2f ms", nanos / 1_000_000)
    }

    static func ratio(_ value: Double) -> String {
        String(format: "%.2f", value)
    }

    /// The ceiling's figure in the unit the ratio uses.
    static func ceilingSummary(_ ceiling: Figure, _ metric: CeilingMetric) -> String {
        switch metric {
        case .throughput: rate(ceiling.rate, ceiling.unit == "events" ? "" : ceiling.unit) + (ceiling.unit == "events" ? " ev/s" : "")
        case .p50Latency: "p50 " + (ceiling.p50.map(latency) ?? "-")
        case .meanLatency: "mean " + (ceiling.meanLatency.map(latency) ?? "-")
        }
    }

    /// One printed line for a figure.
    static func line(_ f: Figure) -> String {
        var text = "\(f.name): \(count(f.events)) \(f.unit) in \(seconds(f.seconds)) s = \(rate(f.rate, f.unit))"
        if let latencies = f.latencies {
            text += ", p50 \(latency(latencies.p50)), p99 \(latency(latencies.p99)), mean \(latency(latencies.mean))"
        }
        if let cpu = f.cpuMicrosPerEvent { text += String(format: ", cpu %.2f µs/event", cpu) }
        if let bytes = f.writeBytesPerEvent { text += String(format: ", wrote %.0f B/event", bytes) }
        if let note = f.note { text += " (\(note))" }
        return text
    }
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

// MARK: - Memory

enum Memory {
    /// Peak resident set size in bytes (`getrusage` `ru_maxrss`, which Linux gives in KiB).
    static func peakRSSBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1_024
    }

    /// `RssAnon`, `RssFile` and `VmHWM` from `/proc/self/status`: heap vs memory-mapped pages.
    static func statusFields() -> [String: String] {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = String(parts[0])
            if ["RssAnon", "RssFile", "VmHWM"].contains(key) {
                fields[key] = parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return fields
    }

    static func summary() -> String {
        let fields = statusFields()
        let mib = Double(peakRSSBytes()) / 1_048_576
        return String(format: "peak RSS (getrusage ru_maxrss): %.0f MiB", mib)
            + "; now: RssAnon \(fields["RssAnon"] ?? "?"), RssFile \(fields["RssFile"] ?? "?")"
            + " (RssFile counts the LMDB memory map's pages this process touched)"
    }
}

// MARK: - Load

enum Load {
    /// `/proc/loadavg`'s first three fields: other work on the machine skews every figure.
    static func average() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}

// MARK: - Directories

/// Fresh ledger directories under the `--dir` root, removed after each benchmark.
struct Scratch: Sendable {
    let root: String

    /// A new, empty directory path `root/name` (removed first if left from an earlier run). The
    /// store creates the directory itself; raw LMDB needs it to exist, so `create` makes it.
    func fresh(_ name: String, create: Bool = false) throws -> String {
        let path = root + "/" + name
        remove(path)
        try FileManager.default.createDirectory(atPath: create ? path : root, withIntermediateDirectories: true)
        return path
    }

    func remove(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Bytes of `path/data.mdb`.
    func dataBytes(_ path: String) -> Int {
        var info = stat()
        guard stat(path + "/data.mdb", &info) == 0 else { return 0 }
        return Int(info.st_size)
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - The machine's speed

/// A fixed piece of CPU work timed at the start and end of a run, and between `all`'s groups:
/// validating, encoding and chain-hashing the same 20,000 events into one reused buffer (the
/// store's per-event CPU work without LMDB and without allocating), best of five after one warm-up
/// round. On a shared VM the same work takes noticeably longer when the host runs something
/// beside it, and the durable figures follow; two runs are comparable only when their probes are.
enum CPUProbe {
    private static let events = Workload.batch(from: 0, count: 20_000)

    /// Nanoseconds per event for the fixed work.
    static func nanosPerEvent() -> Double {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 8)
        defer { buffer.deallocate() }
        var best = UInt64.max
        var previous = ChainHash.genesis
        for round in 0..<6 {
            let start = monotonicNanos()
            for (index, event) in events.enumerated() {
                try! EventCodec.validate(event)
                let size = EventCodec.encodedSize(of: event)
                previous = EventCodec.encode(
                    event, seq: UInt64(index + 1), version: 1, recordedAt: LedgerTime(nanosecondsSinceEpoch: 1),
                    previous: previous, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size]))
            }
            let took = monotonicNanos() - start
            if round > 0 { best = min(best, took) }  // the first round warms the caches
        }
        precondition(previous != ChainHash.genesis, "the probe hashes every event")
        return Double(best) / Double(events.count)
    }

    /// Prints the probe, labelled `when`.
    static func print(_ when: String) {
        Swift.print(
            String(
                format: "cpu probe %@: %.0f ns/event (validate, encode and chain-hash 20,000 events; best of 5)", when,
                nanosPerEvent()))
    }
}

// MARK: - CPU by thread

/// CPU time of this process's threads, by name: the store's threads (`ledger-writer`,
/// `ledger-syncer`, `ledger-hasher`, `ledger-indexer`), Swift's task pool and the harness's main
/// thread. Read from `/proc/self/task/*/comm` and `schedstat` (nanoseconds on the CPU), so that a
/// figure says which thread its CPU went to without a profiler.
enum ThreadCPU {
    /// CPU nanoseconds by thread id, with each thread's name.
    struct Snapshot {
        var threads: [Int: (name: String, nanos: UInt64)] = [:]
    }

    /// CPU nanoseconds by thread name, between two snapshots.
    struct Usage: Sendable {
        var nanosByName: [(name: String, nanos: UInt64)]

        /// `name µs/event` for each thread that used at least 1 % of the total, busiest first.
        func describe(perEventOf events: Int) -> String {
            let total = nanosByName.reduce(0) { $0 + $1.nanos }
            return nanosByName.filter { $0.nanos * 100 >= total }
                .map { String(format: "%@ %.2f", $0.name as NSString, Double($0.nanos) / 1_000 / Double(Swift.max(events, 1))) }
                .joined(separator: ", ") + " µs/event"
        }
    }

    static func snapshot() -> Snapshot {
        var snapshot = Snapshot()
        guard let tids = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return snapshot }
        for tid in tids {
            guard let id = Int(tid),
                let name = try? String(contentsOfFile: "/proc/self/task/\(tid)/comm", encoding: .utf8),
                let schedstat = try? String(contentsOfFile: "/proc/self/task/\(tid)/schedstat", encoding: .utf8),
                let nanos = schedstat.split(separator: " ").first.flatMap({ UInt64($0) })
            else { continue }
            let label = id == Int(getpid()) ? "main" : Self.label(name.trimmingCharacters(in: .whitespacesAndNewlines))
            snapshot.threads[id] = (label, nanos)
        }
        return snapshot
    }

    /// What each named thread (threads of one name summed) used from `before` to `after`.
    static func usage(from before: Snapshot, to after: Snapshot) -> Usage {
        var byName: [String: UInt64] = [:]
        for (id, thread) in after.threads {
            let earlier = before.threads[id].map { $0.nanos } ?? 0
            byName[thread.name, default: 0] += thread.nanos - Swift.min(earlier, thread.nanos)
        }
        return Usage(nanosByName: byName.map { ($0.key, $0.value) }.sorted { $0.nanos > $1.nanos })
    }

    /// Swift's pool threads are named after their dispatch queue, cut to 15 bytes.
    private static func label(_ comm: String) -> String {
        comm.hasSuffix("default-qos") || comm.hasSuffix("qos.overcommit") ? "task pool" : comm
    }
}

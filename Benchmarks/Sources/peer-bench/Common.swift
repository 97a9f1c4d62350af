import Foundation

#if canImport(Glibc)
import Glibc
#endif

// MARK: - Time

/// Monotonic time in nanoseconds (`CLOCK_MONOTONIC`).
@inline(__always)
func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// Wall-clock time in nanoseconds since the Unix epoch (`CLOCK_REALTIME`).
@inline(__always)
func realtimeNanos() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec) &* 1_000_000_000 &+ Int64(spec.tv_nsec)
}

struct PeerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Latencies

/// Nearest-rank percentiles over every sample (nanoseconds).
struct Latencies {
    let sorted: [UInt64]
    init(_ samples: [UInt64]) { sorted = samples.sorted() }
    func percentile(_ p: Double) -> UInt64 {
        guard !sorted.isEmpty else { return 0 }
        let rank = Int((Double(sorted.count) * p).rounded(.up))
        return sorted[min(max(rank, 1), sorted.count) - 1]
    }
    var p50: Double { Double(percentile(0.5)) }
    var p99: Double { Double(percentile(0.99)) }
}

/// A thread-safe collector of latencies from many writers.
final class LatencySink: @unchecked Sendable {
    private let lock = NSLock()
    private var all: [UInt64] = []
    func add(_ samples: [UInt64]) {
        lock.lock()
        all.append(contentsOf: samples)
        lock.unlock()
    }
    var samples: [UInt64] {
        lock.lock()
        defer { lock.unlock() }
        return all
    }
}

/// Runs `writers` OS threads (each calls `prepare(writer)` first, untimed, then waits for the
/// others), then `body(writer, state)` once each, timed from the moment all are released to the
/// last one finishing. Returns the wall time in nanoseconds. Used for the peers whose clients block
/// (libpq, SQLite): one thread per concurrent writer, as a thread-per-request service has.
func runWriterThreads<State>(
    _ writers: Int, prepare: @escaping @Sendable (Int) throws -> State, body: @escaping @Sendable (Int, State) throws -> Void
) throws -> UInt64 {
    let ready = DispatchSemaphore(value: 0)
    let go = DispatchSemaphore(value: 0)
    let done = DispatchGroup()
    let errors = ErrorBox()
    for writer in 0..<writers {
        done.enter()
        let thread = Thread {
            defer { done.leave() }
            var state: State?
            do { state = try prepare(writer) } catch { errors.set(error) }
            ready.signal()
            go.wait()
            guard let state else { return }
            do { try body(writer, state) } catch { errors.set(error) }
        }
        thread.stackSize = 512 << 10
        thread.start()
    }
    for _ in 0..<writers { ready.wait() }
    if let error = errors.error {
        for _ in 0..<writers { go.signal() }
        done.wait()
        throw error
    }
    let start = monotonicNanos()
    for _ in 0..<writers { go.signal() }
    done.wait()
    let wall = monotonicNanos() - start
    if let error = errors.error { throw error }
    return wall
}

final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var first: (any Error)?
    func set(_ error: any Error) {
        lock.lock()
        if first == nil { first = error }
        lock.unlock()
    }
    var error: (any Error)? {
        lock.lock()
        defer { lock.unlock() }
        return first
    }
}

// MARK: - Memory

enum Memory {
    /// Peak RSS of this process (`ru_maxrss`, KiB on Linux) in bytes.
    static func peakRSS() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1_024
    }

    /// A `/proc/<pid>/status` or `smaps_rollup` field in bytes (the files give kB).
    static func field(_ name: String, in text: String) -> Int? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            let number = line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first
            return number.flatMap { Int($0) }.map { $0 * 1_024 }
        }
        return nil
    }

    /// Resets this process's peak RSS (`VmHWM`) to its current RSS (writing 5 to
    /// `/proc/self/clear_refs`, Linux 4.0+), so a phase's peak excludes what came before it
    /// (building a data set in the same process). `ru_maxrss` is not reset; use ``peakSinceReset()``.
    static func resetPeak() {
        if let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") {
            handle.write(Data("5".utf8))
            handle.closeFile()
        }
    }

    /// `VmHWM`: the peak RSS since the process started or since ``resetPeak()``.
    static func peakSinceReset() -> Int { selfStatus().hwm }

    static func selfStatus() -> (anon: Int, file: Int, hwm: Int) {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        return (field("RssAnon", in: text) ?? 0, field("RssFile", in: text) ?? 0, field("VmHWM", in: text) ?? 0)
    }

    /// The PostgreSQL server's footprint: the postmaster (pid from `postmaster.pid`) and every
    /// child (backends, checkpointer, WAL writer, ...). `pss` sums each process's proportional set
    /// size from `smaps_rollup` (shared memory such as shared_buffers is divided among the
    /// processes that touched it, so the sum counts it once); `anon` sums private anonymous
    /// memory; `shmem` is the largest single `RssShmem` (the touched part of shared memory).
    static func postgresServer(dataDirectory: String) -> (processes: Int, pss: Int, anon: Int, shmem: Int)? {
        guard let pidText = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
            let postmaster = pidText.split(separator: "\n").first.flatMap({ Int($0) })
        else { return nil }
        var pids = [postmaster]
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") {
            for entry in entries {
                guard let pid = Int(entry), pid != postmaster,
                    let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { continue }
                let fields = stat[stat.index(after: close)...].split(separator: " ")
                if fields.count > 2, Int(fields[1]) == postmaster { pids.append(pid) }
            }
        }
        var pss = 0
        var anon = 0
        var shmem = 0
        for pid in pids {
            if let text = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) {
                pss += field("Pss", in: text) ?? 0
            }
            if let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
                anon += field("RssAnon", in: text) ?? 0
                shmem = max(shmem, field("RssShmem", in: text) ?? 0)
            }
        }
        return (pids.count, pss, anon, shmem)
    }
}

enum Load {
    static func average() -> String {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
        return text.split(separator: " ").prefix(3).joined(separator: " ")
    }
}

// MARK: - Results

/// One line of the results file (JSON Lines): a measured figure of one store.
struct Record: Codable {
    /// `ledger`, `ledger-replay`, `raw`, `postgres`, `sqlite`, `postgres-server`.
    var store: String
    /// A stable key: `w.single`, `w.c8`, `w.c1000`, `w.batch1000`, `r.agent.1M`, `mem.write`, ...
    var bench: String
    /// Events written (writes), rows in the log (reads), or 0.
    var events: Int
    /// Wall seconds (writes), median seconds per query (reads).
    var seconds: Double
    var p50: Double?
    var p99: Double?
    /// Bytes (memory records), or another figure.
    var value: Double?
    var note: String?
    /// For aggregates: a digest of the rows (key, cost, calls), the same for every store when all
    /// computed the same figures.
    var digest: String?
    var load: String?
}

final class ResultsFile {
    let path: String?
    init(path: String?) { self.path = path }

    func write(_ record: Record) {
        var line = "  [\(record.store)] \(record.bench): "
        if record.bench.hasPrefix("w.") {
            line += "\(record.events) events in \(String(format: "%.3f", record.seconds)) s = "
                + "\(Int((Double(record.events) / max(record.seconds, 1e-9)).rounded())) ev/s"
            if let p50 = record.p50, let p99 = record.p99 { line += ", p50 \(Fmt.latency(p50)), p99 \(Fmt.latency(p99))" }
        } else if record.bench.hasPrefix("r.") {
            line += "\(Fmt.latency(record.seconds * 1e9)) per query over \(record.events) events"
            if let p50 = record.p50, let p99 = record.p99 { line += " (min \(Fmt.latency(p50)), max \(Fmt.latency(p99)))" }
        } else if let value = record.value {
            line += String(format: "%.1f MiB", value / 1_048_576)
        }
        if let note = record.note { line += " — \(note)" }
        if let digest = record.digest { line += " [digest \(digest)]" }
        print(line)
        fflush(nil)
        guard let path else { return }
        var record = record
        record.load = Load.average()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(record) else { return }
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        if let handle = FileHandle(forWritingAtPath: path) {
            handle.seekToEndOfFile()
            handle.write(data + Data("\n".utf8))
            handle.closeFile()
        }
    }
}

enum Fmt {
    static func count(_ value: Int) -> String {
        let digits = Array(String(value.magnitude))
        var out = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (value < 0 ? "-" : "") + out
    }

    static func latency(_ nanos: Double) -> String {
        if nanos < 1_000 { return String(format: "%.0f ns", nanos) }
        if nanos < 1_000_000 { return String(format: "%.1f µs", nanos / 1_000) }
        if nanos < 10_000_000_000 { return String(format: "%.2f ms", nanos / 1_000_000) }
        return String(format: "%.1f s", nanos / 1_000_000_000)
    }

    static func ratio(_ value: Double) -> String {
        if value >= 100 { return String(format: "%.0f×", value) }
        if value >= 10 { return String(format: "%.1f×", value) }
        return String(format: "%.2f×", value)
    }

    static func mib(_ bytes: Double) -> String { String(format: "%.0f MiB", bytes / 1_048_576) }
}

/// Digest of aggregate rows: FNV-1a over the rows sorted by key, `key=cost/calls;`.
func digest(_ rows: [(key: String, cost: Int64, calls: Int64)]) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    var total: Int64 = 0
    var calls: Int64 = 0
    for row in rows.sorted(by: { $0.key < $1.key }) {
        for byte in "\(row.key)=\(row.cost)/\(row.calls);".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        total &+= row.cost
        calls &+= row.calls
    }
    return String(format: "%016llx", hash) + " (\(rows.count) keys, \(calls) calls, \(total) n$)"
}

/// Median of a few timings (nanoseconds), and the min and max.
func medianOf(_ samples: [UInt64]) -> (median: Double, min: Double, max: Double) {
    let sorted = samples.sorted()
    guard !sorted.isEmpty else { return (0, 0, 0) }
    let middle = sorted.count / 2
    let median = sorted.count % 2 == 1 ? Double(sorted[middle]) : (Double(sorted[middle - 1]) + Double(sorted[middle])) / 2
    return (median, Double(sorted.first!), Double(sorted.last!))
}

/// True once the timed repetitions of one query have taken 30 s together: slow queries (SQLite
/// over 10M rows) are then timed fewer times (at least once, after the untimed warm-up).
func overBudget(_ samples: [UInt64]) -> Bool {
    samples.reduce(0, &+) > 30_000_000_000
}

import ArgumentParser
import Foundation
import LedgerCore
import LedgerLMDB
import LedgerProjections

#if canImport(Glibc)
import Glibc
#endif

// The projection benchmarks of issue 4: rebuilding every built-in view from an LMDB log, `report
// --at T` on a 10M-event ledger (library call and the `spend` process), and how soon live views
// reflect an acknowledged append. See the `## Projections` section of Docs/BENCHMARKS.md.

extension SpendBench {
    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild of every built-in view from an LMDB log (1M events by default), next to a raw cursor scan.")
        @OptionGroup var options: CommonOptions

        @Option(help: "Events in the log (LogBuilder's workload; reused from --dir with --keep-log).")
        var events = 1_000_000

        @Option(help: "Fold threads to measure (Options.foldThreads); repeat for several.")
        var threads: [Int] = [1, 2]

        @Option(help: "Snapshot interval for the rebuild (0: no snapshots).")
        var snapshotEvery: [UInt64] = [8_192, 0]

        @Option(help: "With 2 threads: split long folds by seq range (1, Options.foldRanges) or by view (0); repeat for both.")
        var foldRanges: [Int] = [1]

        @Option(help: "Timed runs per configuration; the median is reported.")
        var runs = 3

        @Option(help: "A diagnostic: rebuild only these views (comma-separated names; `noop` is a view that reads nothing).")
        var only: String?

        func run() async throws {
            try await options.run("rebuild") { report in
                try await ProjectionBenchmarks.rebuild(
                    scratch: options.scratch, events: options.quick ? 100_000 : events, keepLog: options.keepLog,
                    threads: threads, snapshotEvery: snapshotEvery, foldRanges: foldRanges.map { $0 != 0 },
                    runs: options.quick ? 1 : runs, only: only.map { Set($0.split(separator: ",").map(String.init)) }, report: report)
            }
        }
    }

    struct ReportAt: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report-at",
            abstract: "`report --by agent --at T` on a 10M-event ledger: library call, full replay, and the spend process.")
        @OptionGroup var options: CommonOptions

        @Option(help: "Events in the log.")
        var events = 10_000_000

        @Option(help: "Random instants asked for (library call).")
        var queries = 200

        @Option(help: "Path of a release `spend` binary: also time the end-to-end process with /usr/bin/time -v.")
        var spend: String?

        @Option(help: "Processes to run end to end (each at a different random T).")
        var processes = 10

        @Option(help: "Full replays (useSnapshots: false) to time for the speed-up.")
        var replays = 3

        @Option(help: "Snapshot interval used when the log has no snapshots yet and they are made.")
        var snapshotEvery: UInt64 = 8_192

        func run() async throws {
            try await options.run("report-at") { report in
                try await ProjectionBenchmarks.reportAt(
                    scratch: options.scratch, events: options.quick ? 200_000 : events, keepLog: options.keepLog,
                    queries: options.quick ? 20 : queries, spend: spend, processes: options.quick ? 2 : processes,
                    replays: options.quick ? 1 : replays, snapshotEvery: snapshotEvery, report: report)
            }
        }
    }

    struct Live: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Live views: time from an append being acknowledged to every built-in view reflecting it.")
        @OptionGroup var options: CommonOptions

        @Option(help: "Appends measured (one event each, one caller).")
        var appends = 2_000

        @Option(help: "Events in the ledger before following starts.")
        var prefill = 100_000

        @Option(help: "Snapshot interval of the following engine; repeat for several.")
        var snapshotEvery: [UInt64] = [8_192, 500]

        @Flag(help: "Append with durability .noSync (default: fsync, as acknowledged appends are).")
        var noSync = false

        func run() async throws {
            try await options.run("live") { report in
                for every in snapshotEvery {
                    try await ProjectionBenchmarks.live(
                        scratch: options.scratch, appends: options.quick ? 200 : appends,
                        prefill: options.quick ? 10_000 : prefill, snapshotEvery: every, noSync: noSync, report: report)
                }
            }
        }
    }
}

/// A view that reads nothing: the cost of the scan and the engine around a fold.
struct NoopView: EncodedProjection {
    var name: String { "noop" }
    var version: UInt32 { 1 }
    var initialState: Int { 0 }
    func apply(encoded event: EventView, to state: inout Int) { state &+= 1 }
    func encodeState(_ state: Int) throws -> [UInt8] { withUnsafeBytes(of: state) { Array($0) } }
    func decodeState(_ bytes: [UInt8]) throws -> Int { bytes.withUnsafeBytes { $0.loadUnaligned(as: Int.self) } }
}

enum ProjectionBenchmarks {
    static let rebuildTarget = Target(text: "≥ 4,000,000 events/s") { $0.rate >= 4_000_000 }
    static let reportTarget = Target(text: "≤ 20 ms (p99 and max)") { ($0.p99 ?? .max) <= 20_000_000 && ($0.latencies?.max ?? .max) <= 20_000_000 }
    static let processTarget = Target(text: "≤ 20 ms wall, ≤ 300 MB RSS") { figure in
        (figure.latencies?.max ?? .max) <= 20_000_000 && (figure.note?.contains("RSS over") == false)
    }
    static let liveTarget = Target(text: "≤ 1 ms (p99)") { ($0.p99 ?? .max) <= 1_000_000 }

    // MARK: Rebuild

    static func rebuild(
        scratch: Scratch, events: Int, keepLog: Bool, threads: [Int], snapshotEvery: [UInt64], foldRanges: [Bool] = [true], runs: Int,
        only: Set<String>? = nil, report: Report
    ) async throws {
        var views = BuiltinViews.all
        if let only { views = (views + [NoopView() as any Projection]).filter { only.contains($0.name) } }
        print("rebuild of every built-in view (\(BuiltinViews.all.count) views) from a \(Format.count(events))-event log")
        let (path, _) = try await LogBuilder.log(events: events, name: "log-\(events)\(Workload.binaryPayload ? "-binary" : "")", scratch: scratch, reuse: keepLog)
        defer { if !keepLog { scratch.remove(path) } }

        // The ceiling: a raw cursor scan of the same `events` database (warm, median).
        let raw = try RawLMDB(path: path, readOnly: true)
        _ = try raw.scan()
        var scans: [UInt64] = []
        var scanCPU: [UInt64] = []
        for _ in 0..<max(runs, 3) {
            var seen = 0
            let cpuBefore = processCPUNanos()
            scans.append(try measure { seen = try raw.scan().count })
            scanCPU.append(processCPUNanos() - cpuBefore)
            guard seen == events else { throw BenchError("raw scan saw \(seen) of \(events)") }
        }
        raw.close()
        var ceiling = medianFigure("raw LMDB cursor scan, \(Format.count(events)) events", events: events, scans)
        ceiling.cpuNanos = scanCPU.sorted()[scanCPU.count / 2]
        report.ceiling(ceiling)

        var hashes: [String: [String]] = [:]
        for every in snapshotEvery {
            for threadCount in threads {
                for ranges in threadCount == 1 ? [true] : foldRanges {
                    var times: [UInt64] = []
                    var cpu: [UInt64] = []
                    var saved = 0
                    for _ in 0..<runs {
                        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(durability: .noSync))
                        let engine = ProjectionEngine(
                            store: store, snapshots: LMDBSnapshotStore(store),
                            options: .init(snapshotEvery: every, foldThreads: threadCount, foldRanges: ranges))
                        var readers: [() async throws -> String] = []
                        for view in views { readers.append(try await hashReader(engine, view)) }
                        let cpuBefore = processCPUNanos()
                        let began = monotonicNanos()
                        let result = try await engine.rebuild()
                        times.append(monotonicNanos() - began)
                        cpu.append(processCPUNanos() - cpuBefore)
                        saved = result.snapshotsSaved
                        guard result.seq == UInt64(events), result.snapshotFailures.isEmpty else {
                            throw BenchError("rebuild reached \(result.seq), failures \(result.snapshotFailures)")
                        }
                        var digests: [String] = []
                        for reader in readers { digests.append(try await reader()) }
                        hashes["\(every)/\(threadCount)/\(ranges)"] = digests
                        store.close()
                    }
                    var figure = medianFigure(
                        (only == nil ? "rebuild all built-in views" : "rebuild \(views.map(\.name).joined(separator: "+"))") + ", \(threadCount) thread\(threadCount == 1 ? "" : "s"), "
                            + (threadCount == 1 ? "" : ranges ? "by range, " : "by view, ")
                            + (every == 0 ? "no snapshots" : "snapshot every \(Format.count(Int(every)))"),
                        events: events, times)
                    figure.cpuNanos = cpu.sorted()[cpu.count / 2]
                    figure.note = (figure.note ?? "") + "; \(saved) snapshots written"
                    report.add(Row(figure: figure, ceiling: ceiling, target: rebuildTarget))
                }
            }
        }
        // Every configuration must give the same states.
        let distinct = Set(hashes.values)
        guard distinct.count <= 1 else { throw BenchError("rebuild configurations disagree: \(hashes)") }
        print("  every configuration gave the same state hashes")
        // The log keeps the snapshots of the last configuration (report-at reuses a complete set).
    }

    /// Registers `view` on `engine`; the closure reads its current state hash.
    private static func hashReader<P: Projection>(_ engine: ProjectionEngine, _ view: P) async throws -> () async throws -> String {
        let handle = try await engine.register(view)
        return { try await engine.current(handle).stateHash.description }
    }

    // MARK: report --at T

    static func reportAt(
        scratch: Scratch, events: Int, keepLog: Bool, queries: Int, spend: String?, processes: Int, replays: Int,
        snapshotEvery: UInt64, report: Report
    ) async throws {
        print("report --by agent --at T on a \(Format.count(events))-event log")
        let (path, _) = try await LogBuilder.log(events: events, name: "log-\(events)\(Workload.binaryPayload ? "-binary" : "")", scratch: scratch, reuse: keepLog)
        defer { if !keepLog { scratch.remove(path) } }

        // Snapshots: made once by a rebuild of every built-in view (kept in the log with --keep-log).
        do {
            let store = try LMDBEventStore.open(at: path, options: LMDBOptions(durability: .noSync))
            let snapshots = LMDBSnapshotStore(store)
            let seqs = try snapshots.snapshotSeqs(named: "spend.by_agent")
            // A complete set ends within one interval of the head (snapshots fall on multiples of it).
            let complete = seqs.last.map { UInt64(events) - $0 < max(snapshotEvery, 1) } ?? false
            if !complete {
                print("  no snapshots yet: rebuilding every built-in view with a snapshot every \(Format.count(Int(snapshotEvery)))")
                let engine = ProjectionEngine(store: store, snapshots: snapshots, options: .init(snapshotEvery: snapshotEvery))
                try await engine.register(BuiltinViews.all)
                let began = monotonicNanos()
                let result = try await engine.rebuild()
                var figure = Figure(
                    name: "rebuild all built-in views (makes the snapshots), \(Format.count(events)) events", events: events,
                    seconds: Double(monotonicNanos() - began) / 1e9)
                figure.note = "\(result.snapshotsSaved) snapshots written, one run"
                report.add(Row(figure: figure, target: rebuildTarget))
            } else {
                print("  the log has \(seqs.count) snapshots of spend.by_agent (every \(Format.count(Int(seqs.first ?? 0))) events)")
            }
            store.close()
        }

        var random = SplitMix64(seed: 0xA7_7E5_7)
        let low = LogBuilder.start.nanosecondsSinceEpoch
        let high = LogBuilder.lastRecordedAt(events: events).nanosecondsSinceEpoch
        let times = (0..<queries).map { _ in LedgerTime(nanosecondsSinceEpoch: Int64.random(in: low...high, using: &random)) }

        // The library call, as `spend report` makes it: a read-only store, a fresh engine per query.
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let snapshots = LMDBSnapshotStore(store)
        let view = SpendByDimension(.agent)
        var first: UInt64 = 0
        var latencies: [UInt64] = []
        var folded: [UInt64] = []
        var fallbacks = 0
        for (index, time) in times.enumerated() {
            let began = monotonicNanos()
            let engine = ProjectionEngine(store: store, snapshots: snapshots)
            let result = try await engine.state(of: view, asOf: .recorded(time))
            let elapsed = monotonicNanos() - began
            if index == 0 { first = elapsed }
            latencies.append(elapsed)
            folded.append(result.eventsFolded)
            if result.fellBackToReplay || result.snapshotSeq == nil && result.seq > 0 { fallbacks += 1 }
            guard result.seq == LogBuilder.expectedSeq(recordedAtOrBefore: time, events: events) else {
                throw BenchError("report at \(time) answered seq \(result.seq)")
            }
        }
        // A second pass over the same instants: the memory map is warm now.
        var warm: [UInt64] = []
        for time in times {
            let began = monotonicNanos()
            let engine = ProjectionEngine(store: store, snapshots: snapshots)
            _ = try await engine.state(of: view, asOf: .recorded(time))
            warm.append(monotonicNanos() - began)
        }
        let firstPass = Latencies(latencies)
        let warmPass = Latencies(warm)
        let foldedSorted = folded.sorted()
        var cold = Figure(
            name: "report --at T (library), first pass after opening, \(Format.count(events)) events", events: queries,
            seconds: Double(firstPass.total) / 1e9, latencies: firstPass, unit: "queries")
        cold.note =
            "max \(Format.latency(firstPass.max)); very first query \(Format.latency(first)); events folded after the snapshot: median \(Format.count(Int(foldedSorted[foldedSorted.count / 2]))), max \(Format.count(Int(foldedSorted.last ?? 0))); \(fallbacks) without a snapshot"
        report.add(Row(figure: cold, target: reportTarget))
        var hot = Figure(
            name: "report --at T (library), warm, \(Format.count(events)) events", events: queries,
            seconds: Double(warmPass.total) / 1e9, latencies: warmPass, unit: "queries")
        hot.note = "max \(Format.latency(warmPass.max))"
        report.add(Row(figure: hot, target: reportTarget))

        // Full replays (no snapshots) at a few of the instants, each checked against the snapshot answer.
        var replayTimes: [UInt64] = []
        var replayEvents: [UInt64] = []
        for time in ([LogBuilder.lastRecordedAt(events: events)] + times).prefix(replays) {
            let engine = ProjectionEngine(store: store, snapshots: snapshots)
            let began = monotonicNanos()
            let replayed = try await engine.state(of: view, asOf: .recorded(time), useSnapshots: false)
            replayTimes.append(monotonicNanos() - began)
            replayEvents.append(replayed.seq)
            let fromSnapshot = try await engine.state(of: view, asOf: .recorded(time))
            guard fromSnapshot.stateHash == replayed.stateHash, fromSnapshot.state == replayed.state else {
                throw BenchError("at \(time) the snapshot answer differs from the full replay")
            }
        }
        let headReplay = replayTimes[0]
        var replay = Figure(
            name: "report --at head (library), full replay without snapshots, \(Format.count(events)) events",
            events: Int(replayEvents[0]), seconds: Double(headReplay) / 1e9)
        replay.note =
            "all replays: " + zip(replayTimes, replayEvents).map { "\(Format.count(Int($1))) ev in \(Format.seconds(Double($0) / 1e9)) s" }.joined(separator: ", ")
                + String(format: "; speed-up of the snapshot query (warm p99) over the full replay at the head: %.0f×, (cold p99) %.0f×",
                    Double(headReplay) / Double(max(warmPass.p99, 1)), Double(headReplay) / Double(max(firstPass.p99, 1)))
        report.add(Row(figure: replay))

        // The `spend` process end to end.
        if let spend {
            var walls: [UInt64] = []
            var timeWalls: [Double] = []
            var rss: [Int] = []
            for time in times.prefix(processes) {
                let (wall, output) = try runTimed(
                    "/usr/bin/time", ["-v", spend, "report", "--data", path, "--by", "agent", "--at", time.rfc3339, "--json"])
                walls.append(wall)
                if let kb = field(output, "Maximum resident set size (kbytes):").flatMap(Int.init) { rss.append(kb) }
                if let text = field(output, "Elapsed (wall clock) time (h:mm:ss or m:ss):") { timeWalls.append(parseClock(text)) }
                guard output.contains("\"total_cost_nanos\"") else { throw BenchError("spend report printed: \(output.prefix(400))") }
            }
            let stats = Latencies(walls)
            let maxRSS = rss.max() ?? 0
            var figure = Figure(
                name: "spend report --by agent --at T --json (process), \(Format.count(events)) events", events: walls.count,
                seconds: Double(stats.total) / 1e9, latencies: stats, unit: "processes")
            figure.note =
                "wall by /usr/bin/time -v: median \(String(format: "%.3f", timeWalls.sorted()[timeWalls.count / 2])) s, max \(String(format: "%.3f", timeWalls.max() ?? 0)) s; max RSS: median \(Format.count(rss.sorted()[rss.count / 2] / 1024)) MiB, max \(Format.count(maxRSS / 1024)) MiB"
                + (maxRSS > 300 * 1000 ? " (RSS over 300 MB)" : "")
            report.add(Row(figure: figure, target: processTarget))
        }
    }

    /// Runs `tool args`, returning its wall time (ns) and its standard output and error together.
    static func runTimed(_ tool: String, _ args: [String]) throws -> (UInt64, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = args
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let began = monotonicNanos()
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let wall = monotonicNanos() - began
        guard process.terminationStatus == 0 else {
            throw BenchError("\(tool) \(args.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: data, as: UTF8.self))")
        }
        return (wall, String(decoding: data, as: UTF8.self))
    }

    static func field(_ output: String, _ label: String) -> String? {
        for line in output.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix(label) { return trimmed.dropFirst(label.count).trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    /// `m:ss.cc` or `h:mm:ss` into seconds.
    static func parseClock(_ text: String) -> Double {
        text.split(separator: ":").reduce(0.0) { $0 * 60 + (Double($1) ?? 0) }
    }

    // MARK: Live

    static func live(scratch: Scratch, appends: Int, prefill: Int, snapshotEvery: UInt64, noSync: Bool, report: Report) async throws {
        print("live views: append acknowledged → every built-in view reflects it (snapshot every \(Format.count(Int(snapshotEvery))))")
        let path = try scratch.fresh("live")
        defer { scratch.remove(path) }
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(durability: noSync ? .noSync : .fsync))
        defer { store.close() }
        var written = 0
        while written < prefill {
            let count = min(10_000, prefill - written)
            try await store.append(Workload.batch(from: written, count: count))
            written += count
        }
        let engine = ProjectionEngine(
            store: store, snapshots: LMDBSnapshotStore(store), options: .init(snapshotEvery: snapshotEvery))
        try await engine.register(BuiltinViews.all)
        let following = Task { try await engine.follow() }
        await engine.waitUntilFolded(UInt64(prefill))
        var latencies: [UInt64] = []
        latencies.reserveCapacity(appends)
        var ackLatencies: [UInt64] = []
        ackLatencies.reserveCapacity(appends)
        let began = monotonicNanos()
        for index in 0..<appends {
            let event = Workload.event(prefill + index)
            let asked = monotonicNanos()
            let result = try await store.append([event])
            let acknowledged = monotonicNanos()
            await engine.waitUntilFolded(result.head.seq)
            let reflected = monotonicNanos()
            latencies.append(reflected - acknowledged)
            ackLatencies.append(acknowledged - asked)
        }
        let seconds = Double(monotonicNanos() - began) / 1e9
        following.cancel()
        // Wake the follower so it sees the cancellation.
        try await store.append([Workload.event(prefill + appends)])
        _ = try? await following.value
        let stats = Latencies(latencies)
        let acks = Latencies(ackLatencies)
        var figure = Figure(
            name: "live: append ack → all built-in views reflect it, snapshot every \(Format.count(Int(snapshotEvery)))"
                + (noSync ? ", noSync" : ", fsync"),
            events: appends, seconds: seconds, latencies: stats, unit: "appends")
        figure.note = "max \(Format.latency(stats.max)); the append itself: p50 \(Format.latency(acks.p50)), p99 \(Format.latency(acks.p99))"
        report.add(Row(figure: figure, target: liveTarget))
    }

    // MARK: Helpers

    static func medianFigure(_ name: String, events: Int, _ runs: [UInt64]) -> Figure {
        let sorted = runs.sorted()
        var figure = Figure(name: name, events: events, seconds: Double(sorted[sorted.count / 2]) / 1e9)
        figure.note = "median of \(runs.count); all: " + runs.map { Format.seconds(Double($0) / 1e9) }.joined(separator: ", ") + " s"
        return figure
    }
}

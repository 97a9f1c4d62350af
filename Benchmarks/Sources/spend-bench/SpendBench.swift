import ArgumentParser
import Foundation

/// `spend-bench`: SpendLedger's benchmark harness. Every SpendLedger figure is printed next to
/// the raw-LMDB ceiling for the same work and, where the issue sets one, its target.
///
///     swift run -c release spend-bench all            # everything, about 5-10 minutes
///     swift run -c release spend-bench all --quick    # smoke run, under 30 seconds
///     swift run -c release spend-bench concurrent     # one group
@main
struct SpendBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spend-bench",
        abstract: "Benchmarks SpendLedger's LMDB event store against raw LMDB.",
        subcommands: [
            All.self, Append.self, Single.self, Concurrent.self, Replay.self, Lookup.self, Rebuild.self, ReportAt.self,
            Live.self, Ingest.self,
        ],
        defaultSubcommand: All.self
    )
}

/// Options every subcommand takes.
struct CommonOptions: ParsableArguments {
    @Option(help: "Directory under which each benchmark makes (and then deletes) its ledgers.")
    var dir = "/tmp/spend-bench"

    @Flag(help: "Small counts: a smoke run (under 30 s) to check the harness works. Figures are not meaningful.")
    var quick = false

    @Flag(help: "Keep the large lookup log (10M events) under --dir after the run, and reuse it if it is there.")
    var keepLog = false

    @Flag(help: "Print the final table as Markdown (for Docs/BENCHMARKS.md).")
    var markdown = false

    @Option(help: "Streams the events are spread over, round robin (a diagnostic; the figures use 1000).")
    var streams = 1_000

    @Flag(help: "Usage events with the binary payload the Swift API and `spend ingest` write (default: the JSON sample payload).")
    var binaryPayload = false

    var scratch: Scratch { Scratch(root: dir) }

    /// Prints the header, runs `body` with a fresh report, then prints the summary.
    func run(_ what: String, _ body: (Report) async throws -> Void) async throws {
        print("spend-bench \(what)\(quick ? " --quick (smoke run: counts too small for meaningful figures)" : "")")
        Workload.streamCount = max(1, streams)
        Workload.binaryPayload = binaryPayload
        print("ledgers under \(dir); \(ProcessInfo.processInfo.activeProcessorCount) cores; events over \(Workload.streamCount) streams; \(binaryPayload ? "binary" : "JSON") usage payloads")
        print("load average at start: \(Load.average())")
        CPUProbe.print("at start")
        print("")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let report = Report(markdown: markdown)
        let began = monotonicNanos()
        try await body(report)
        report.printSummary()
        print("load average at end: \(Load.average())")
        CPUProbe.print("at end")
        print(String(format: "total time %.1f s", Double(monotonicNanos() - began) / 1e9))
    }
}

extension SpendBench {
    /// Every benchmark, in order: appends, concurrent appends, replay, lookups and replay of 10M.
    struct All: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run every benchmark.")
        @OptionGroup var options: CommonOptions

        func run() async throws {
            try await options.run("all") { report in
                try await AppendBenchmarks.run(scratch: options.scratch, quick: options.quick, report: report)
                CPUProbe.print("before the concurrent appenders")
                try await ConcurrentBenchmark.run(scratch: options.scratch, quick: options.quick, report: report)
                CPUProbe.print("before the replays")
                try await ReadBenchmarks.runReplay(scratch: options.scratch, quick: options.quick, report: report)
                try await ReadBenchmarks.runLookup(
                    scratch: options.scratch, quick: options.quick, keepLog: options.keepLog, withReplay: true,
                    report: report)
            }
        }
    }

    struct Append: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Durable appends from one caller at batch sizes 1, 100, 1,000 and 10,000.")
        @OptionGroup var options: CommonOptions

        @Option(help: "Run only this batch size (1, 100, 1000 or 10000); repeat for several.")
        var batch: [Int] = []

        func run() async throws {
            try await options.run("append") { report in
                try await AppendBenchmarks.run(
                    scratch: options.scratch, quick: options.quick, report: report,
                    batches: batch.isEmpty ? nil : Set(batch))
            }
        }
    }

    struct Single: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Single durable appends (one caller, batch 1): latency.")
        @OptionGroup var options: CommonOptions

        func run() async throws {
            try await options.run("single") { report in
                try await AppendBenchmarks.run(
                    scratch: options.scratch, quick: options.quick, report: report, batches: [1])
            }
        }
    }

    struct Concurrent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "1,000 concurrent appenders of one event per call (group commit).")
        @OptionGroup var options: CommonOptions

        @Option(help: "Appends each of the 1,000 appenders makes (default 200; more for a longer, steady-state run).")
        var appendsPerTask: Int?

        func run() async throws {
            try await options.run("concurrent") { report in
                try await ConcurrentBenchmark.run(
                    scratch: options.scratch, quick: options.quick, appendsPerTask: appendsPerTask, report: report)
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Full replay of a 1M-event log: decoding every event, and zero-copy.")
        @OptionGroup var options: CommonOptions

        func run() async throws {
            try await options.run("replay") { report in
                try await ReadBenchmarks.runReplay(scratch: options.scratch, quick: options.quick, report: report)
            }
        }
    }

    struct Lookup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recorded-time lookups on a 10M-event log, then a full replay of it.")
        @OptionGroup var options: CommonOptions

        @Flag(help: "Skip the full replay of the 10M-event log.")
        var noReplay = false

        func run() async throws {
            try await options.run("lookup") { report in
                try await ReadBenchmarks.runLookup(
                    scratch: options.scratch, quick: options.quick, keepLog: options.keepLog,
                    withReplay: !noReplay, report: report)
            }
        }
    }
}

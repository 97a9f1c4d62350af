import Foundation

// peer-bench: issue 6's comparison. One process per store and phase (so each store's peak memory
// is its own); peer-bench.sh runs them all, then `report` prints the table with the ratios.
//
//   peer-bench run --store ledger|raw|postgres|sqlite --phase write|read [--events N] [--quick]
//                  [--dir D] [--reuse] [--reps N] [--out results.jsonl] [--pg CONNINFO] [--pg-data DIR]
//   peer-bench report results.jsonl [more.jsonl ...] [--markdown] [--svg FILE]


let arguments = Array(CommandLine.arguments.dropFirst())

func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

func flag(_ name: String) -> Bool { arguments.contains(name) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("peer-bench: " + message + "\n").utf8))
    exit(2)
}

let command = arguments.first ?? "help"
do {
    switch command {
    case "run":
        guard let store = option("--store"), let phase = option("--phase") else { fail("run needs --store and --phase") }
        let quick = flag("--quick")
        let dir = option("--dir") ?? "/tmp/peer-bench"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let results = ResultsFile(path: option("--out"))
        let reps = Int(option("--reps") ?? "") ?? 5
        let reuse = flag("--reuse")
        let sizes = quick ? WriteSizes.quick : WriteSizes.full
        let events = Int(option("--events") ?? "") ?? (quick ? 100_000 : 1_000_000)
        let conninfo = option("--pg") ?? ""
        print("== \(store) \(phase)\(phase == "read" ? " \(Fmt.count(events)) events" : "") (load average \(Load.average()))")
        switch (store, phase) {
        case ("ledger", "write"): try await LedgerPeer.writes(dir: dir, sizes: sizes, results: results)
        case ("raw", "write"): try await RawPeer.writes(dir: dir, sizes: sizes, results: results)
        case ("postgres", "write"):
            try PostgresPeer.writes(conninfo: conninfo, dataDirectory: option("--pg-data"), sizes: sizes, results: results)
        case ("sqlite", "write"): try SQLitePeer.writes(dir: dir, sizes: sizes, results: results)
        case ("ledger", "read"):
            try await LedgerPeer.prepare(dir: dir, events: events, reuse: reuse, results: results)
            try await LedgerPeer.reads(dir: dir, events: events, reps: reps, results: results)
        case ("raw", "read"):
            try await LedgerPeer.prepare(dir: dir, events: events, reuse: true, results: results)
            try RawPeer.reads(dir: dir, events: events, reps: reps, results: results)
        case ("postgres", "read"):
            try PostgresPeer.prepare(conninfo: conninfo, events: events, reuse: reuse, results: results)
            try PostgresPeer.reads(conninfo: conninfo, dataDirectory: option("--pg-data"), events: events, reps: reps, results: results)
        case ("sqlite", "read"):
            try SQLitePeer.prepare(dir: dir, events: events, reuse: reuse, results: results)
            try SQLitePeer.reads(dir: dir, events: events, reps: reps, results: results)
        default: fail("unknown store/phase \(store) \(phase)")
        }
    case "report":
        guard arguments.count >= 2 else { fail("report needs the results file") }
        var paths: [String] = []
        var index = 1
        while index < arguments.count {
            if arguments[index] == "--svg" { index += 2; continue }
            if !arguments[index].hasPrefix("--") { paths.append(arguments[index]) }
            index += 1
        }
        try PeerReport(paths: paths).print(markdown: flag("--markdown"), svg: option("--svg"))
    default:
        print(
            """
            usage: peer-bench run --store ledger|raw|postgres|sqlite --phase write|read [--events N] [--quick]
                                  [--dir D] [--reuse] [--reps N] [--out results.jsonl] [--pg CONNINFO] [--pg-data DIR]
                   peer-bench report results.jsonl [more.jsonl ...] [--markdown] [--svg FILE]
            Run everything with Benchmarks/peer-bench.sh.
            """)
    }
} catch {
    fail("\(error)")
}

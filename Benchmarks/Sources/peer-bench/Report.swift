import Foundation

/// Reads the results file and prints the comparison: every figure with its ratios.
struct PeerReport {
    var records: [Record]
    /// The index of the file each record came from.
    var fileOf: [Int]

    init(paths: [String]) throws {
        records = []
        fileOf = []
        let decoder = JSONDecoder()
        for (index, path) in paths.enumerated() {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            for line in text.split(separator: "\n") {
                records.append(try decoder.decode(Record.self, from: Data(line.utf8)))
                fileOf.append(index)
            }
        }
    }

    /// Every record of `store` for `bench` from the last file that has one (a later file, such as
    /// a rerun of the appends on a quieter machine, replaces an earlier one).
    func all(_ store: String, _ bench: String) -> [Record] {
        let matching = records.indices.filter { records[$0].store == store && records[$0].bench == bench }
        guard let newest = matching.map({ fileOf[$0] }).max() else { return [] }
        return matching.filter { fileOf[$0] == newest }.map { records[$0] }
    }

    /// The figure of `store` for `bench`: with several rounds, the round with the median
    /// throughput (appends) or the median time (aggregates).
    func find(_ store: String, _ bench: String) -> Record? {
        let rounds = all(store, bench)
        guard !rounds.isEmpty else { return nil }
        let sorted = rounds.sorted { Self.rate($0) < Self.rate($1) }
        return sorted[(sorted.count - 1) / 2]
    }

    static let writeBenches: [(String, String)] = [
        ("w.single", "durable append, 1 writer"), ("w.c8", "durable append, 8 concurrent writers"),
        ("w.c1000", "durable append, 1,000 concurrent writers"), ("w.batch1000", "durable batched append, 1,000 per batch"),
    ]

    var sizes: [String] {
        var seen: [String] = []
        for record in records where record.bench.hasPrefix("r.") {
            let size = String(record.bench.split(separator: ".").last!)
            if !seen.contains(size) { seen.append(size) }
        }
        return seen.sorted { Self.sizeValue($0) < Self.sizeValue($1) }
    }

    static func sizeValue(_ label: String) -> Int {
        if label.hasSuffix("M") { return (Int(label.dropLast()) ?? 0) * 1_000_000 }
        if label.hasSuffix("k") { return (Int(label.dropLast()) ?? 0) * 1_000 }
        return Int(label) ?? 0
    }

    var readBenches: [(String, String)] {
        sizes.flatMap { size in
            [
                ("r.agent.\(size)", "current spend by agent, \(size) events"), ("r.model.\(size)", "current spend by model, \(size) events"),
                ("r.client.\(size)", "current spend by client, \(size) events"),
                ("r.asof.\(size)", "spend by agent as of T (middle), \(size) events"),
            ]
        }
    }

    static func rate(_ r: Record) -> Double { Double(r.events) / max(r.seconds, 1e-12) }

    /// How many times faster `mine` is than `other` (throughput for writes, time for reads).
    static func speedup(_ mine: Record?, _ other: Record?) -> Double? {
        guard let mine, let other else { return nil }
        if mine.bench.hasPrefix("w.") { return rate(mine) / max(rate(other), 1e-12) }
        return other.seconds / max(mine.seconds, 1e-12)
    }

    static func p99Ratio(_ mine: Record?, _ other: Record?) -> Double? {
        guard let a = mine?.p99, let b = other?.p99, a > 0 else { return nil }
        return b / a
    }

    static func cell(_ r: Record?) -> String {
        guard let r else { return "–" }
        if r.bench.hasPrefix("w.") {
            var text = Fmt.count(Int(rate(r).rounded())) + " ev/s"
            if let p50 = r.p50, let p99 = r.p99 { text += "; p50 \(Fmt.latency(p50)), p99 \(Fmt.latency(p99))" }
            return text
        }
        return Fmt.latency(r.seconds * 1e9)
    }

    static func ratioCell(_ mine: Record?, _ other: Record?, latency: Bool) -> String {
        guard let value = speedup(mine, other) else { return "–" }
        var text = Fmt.ratio(value)
        if latency, let p99 = p99Ratio(mine, other) { text += " (p99 \(Fmt.ratio(p99)))" }
        return text
    }

    func print(markdown: Bool, svg: String?) throws {
        let header = [
            "benchmark", "SpendLedger", "SpendLedger, replay from zero", "raw LMDB", "PostgreSQL", "SQLite",
            "SpendLedger vs raw LMDB", "SpendLedger vs PostgreSQL", "SpendLedger vs SQLite", "replay vs PostgreSQL", "replay vs SQLite",
            "PostgreSQL vs SQLite",
        ]
        var lines: [[String]] = []
        for (bench, title) in Self.writeBenches + readBenches {
            let ledger = find("ledger", bench)
            let replay = find("ledger-replay", bench)
            let raw = find("raw", bench)
            let pg = find("postgres", bench)
            let sqlite = find("sqlite", bench)
            let write = bench.hasPrefix("w.")
            lines.append([
                title, Self.cell(ledger), Self.cell(replay), Self.cell(raw), Self.cell(pg), Self.cell(sqlite),
                Self.speedup(ledger, raw).map(Fmt.ratio) ?? "–",
                Self.ratioCell(ledger, pg, latency: write), Self.ratioCell(ledger, sqlite, latency: write),
                Self.ratioCell(replay, pg, latency: false), Self.ratioCell(replay, sqlite, latency: false),
                Self.ratioCell(pg, sqlite, latency: write),
            ])
        }
        Swift.print("")
        Swift.print(
            "Ratios are \"times faster\": throughput ÷ throughput for appends, time ÷ time for aggregates; above 1 the first "
                + "store is faster. (p99 x) is the other store's p99 latency ÷ this one's. Raw LMDB is the ceiling for appends (no indexes); "
                + "for aggregates it is a one-thread cursor scan summing in place (no snapshots), not a ceiling.")
        if markdown {
            Swift.print("| " + header.joined(separator: " | ") + " |")
            Swift.print("|" + header.indices.map { $0 == 0 ? "---" : "---:" }.joined(separator: "|") + "|")
            for line in lines { Swift.print("| " + line.joined(separator: " | ") + " |") }
        } else {
            for line in lines {
                Swift.print("")
                Swift.print(line[0])
                for (name, value) in zip(header.dropFirst(), line.dropFirst()) where value != "–" {
                    Swift.print("    " + name.padding(toLength: 32, withPad: " ", startingAt: 0) + value)
                }
            }
        }

        // Rounds.
        var roundLines: [String] = []
        for (bench, title) in Self.writeBenches {
            for store in ["ledger", "raw", "postgres", "sqlite"] {
                let rounds = all(store, bench)
                guard rounds.count > 1 else { continue }
                let rates = rounds.map { Fmt.count(Int(Self.rate($0).rounded())) }
                let p99s = rounds.compactMap(\.p99).map { Fmt.latency($0) }
                roundLines.append("\(title), \(Self.storeName(store)): \(rounds.count) rounds, ev/s \(rates.joined(separator: ", ")); p99 \(p99s.joined(separator: ", "))")
            }
        }
        if !roundLines.isEmpty {
            Swift.print("")
            Swift.print(markdown ? "**Every round of the appends (the table shows the median round)**" : "ROUNDS (the table shows the median)")
            for line in roundLines { Swift.print((markdown ? "- " : "  ") + line) }
        }

        // Targets.
        Swift.print("")
        Swift.print(markdown ? "**Targets (issue 6)**" : "TARGETS (issue 6)")
        for bench in ["w.c8", "w.c1000"] {
            let value = Self.speedup(find("ledger", bench), find("postgres", bench))
            Swift.print(
                (markdown ? "- " : "  ") + "concurrent durable appends \(bench == "w.c8" ? "(8 writers)" : "(1,000 writers)") ≥ 25× PostgreSQL: "
                    + (value.map { "\(Fmt.ratio($0)) — \($0 >= 25 ? "met" : "NOT MET")" } ?? "not measured"))
        }
        let big = sizes.last ?? "10M"
        for (bench, title) in readBenches where bench.hasSuffix("." + big) {
            let value = Self.speedup(find("ledger", bench), find("postgres", bench))
            let replay = Self.speedup(find("ledger-replay", bench), find("postgres", bench))
            Swift.print(
                (markdown ? "- " : "  ") + "\(title) ≥ 100× PostgreSQL: "
                    + (value.map { "\(Fmt.ratio($0)) — \($0 >= 100 ? "met" : "NOT MET")" } ?? "not measured")
                    + (replay.map { " (replay from zero: \(Fmt.ratio($0)) — \($0 >= 100 ? "met" : "not met"))" } ?? ""))
        }

        // Agreement of the aggregates.
        Swift.print("")
        var disagreements = 0
        for (bench, _) in readBenches {
            let digests = ["ledger", "ledger-replay", "raw", "postgres", "sqlite"].compactMap { store in
                find(store, bench).flatMap { r in r.digest.map { (store, $0) } }
            }
            if Set(digests.map(\.1)).count > 1 {
                disagreements += 1
                Swift.print("  DIGESTS DIFFER for \(bench): " + digests.map { "\($0.0) \($0.1)" }.joined(separator: "; "))
            }
        }
        if disagreements == 0 {
            Swift.print(
                (markdown ? "" : "  ") + "Every store computed the same rows (key, exact cost, calls) for every aggregate: "
                    + (readBenches.first.flatMap { find("ledger", $0.0)?.digest } ?? "no aggregates"))
        }

        // Memory.
        Swift.print("")
        Swift.print(markdown ? "**Peak memory**" : "PEAK MEMORY")
        if markdown {
            Swift.print("| store | phase | peak | how measured |")
            Swift.print("|---|---|---:|---|")
        }
        for record in latest(prefix: "mem.") {
            let phase = record.bench == "mem.write" ? "appends" : "aggregates over \(record.bench.split(separator: ".").last!)"
            let name = Self.storeName(record.store)
            let value = record.value.map(Fmt.mib) ?? "–"
            if markdown {
                Swift.print("| \(name) | \(phase) | \(value) | \(record.note ?? "") |")
            } else {
                Swift.print("  \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(phase.padding(toLength: 26, withPad: " ", startingAt: 0)) \(value.leftPadded(9))  \(record.note ?? "")")
            }
        }

        // Loading.
        Swift.print("")
        Swift.print(markdown ? "**Building the read data sets (not timed as benchmarks)**" : "LOADING")
        for record in latest(prefix: "load.") {
            Swift.print((markdown ? "- " : "  ") + "\(Self.storeName(record.store)), \(Fmt.count(record.events)) events: \(record.note ?? "")")
        }
        let loads = records.compactMap(\.load)
        if let first = loads.first, let last = loads.last {
            Swift.print("")
            Swift.print((markdown ? "" : "  ") + "Load average (1, 5, 15 min) at the first figure: \(first); at the last: \(last).")
        }

        if let svg {
            try Chart(report: self).svg().write(toFile: svg, atomically: true, encoding: .utf8)
            Swift.print("")
            Swift.print("chart written to \(svg)")
        }
    }

    /// One record per (store, bench) whose bench starts with `prefix`: the newest file's.
    func latest(prefix: String) -> [Record] {
        var seen = Set<String>()
        var out: [Record] = []
        for record in records where record.bench.hasPrefix(prefix) {
            guard seen.insert(record.store + " " + record.bench).inserted, let found = all(record.store, record.bench).last else { continue }
            out.append(found)
        }
        return out
    }

    static func storeName(_ store: String) -> String {
        switch store {
        case "ledger": "SpendLedger"
        case "ledger-replay": "SpendLedger (replay)"
        case "raw": "raw LMDB"
        case "postgres": "PostgreSQL client"
        case "postgres-server": "PostgreSQL server"
        case "sqlite": "SQLite"
        default: store
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// An SVG bar chart of SpendLedger's speed-ups (log scale), written without external tools.
struct Chart {
    let report: PeerReport

    func svg() -> String {
        struct Bar {
            var label: String
            var value: Double
            var color: String
        }
        var groups: [(String, [Bar])] = []
        let series: [(String, String, String, String)] = [
            ("ledger", "postgres", "SpendLedger vs PostgreSQL", "#1f6feb"), ("ledger", "sqlite", "SpendLedger vs SQLite", "#2da44e"),
            ("ledger-replay", "postgres", "SpendLedger replaying from zero vs PostgreSQL", "#bf8700"),
            ("ledger", "raw", "SpendLedger vs raw LMDB", "#8c959f"),
        ]
        for (bench, title) in PeerReport.writeBenches + report.readBenches {
            var bars: [Bar] = []
            for (mine, other, name, color) in series {
                if let value = PeerReport.speedup(report.find(mine, bench), report.find(other, bench)), value > 0 {
                    bars.append(Bar(label: name, value: value, color: color))
                }
            }
            if !bars.isEmpty { groups.append((title, bars)) }
        }
        let values = groups.flatMap { $0.1.map(\.value) }
        let low = pow(10, floor(log10(min(values.min() ?? 0.1, 0.5))))
        let high = pow(10, ceil(log10(max(values.max() ?? 10, 200))))
        let left = 330.0
        let width = 1000.0
        let plot = width - left - 30
        let barHeight = 11.0
        let top = 70.0
        func x(_ value: Double) -> Double { left + plot * (log10(value) - log10(low)) / (log10(high) - log10(low)) }
        var y = top
        var body = ""
        for (title, bars) in groups {
            body += "<text x=\"\(left - 8)\" y=\"\(y + Double(bars.count) * barHeight / 2 + 4)\" text-anchor=\"end\" font-size=\"12\">\(escape(title))</text>\n"
            for bar in bars {
                let x0 = x(1)
                let x1 = x(bar.value)
                body += "<rect x=\"\(min(x0, x1))\" y=\"\(y)\" width=\"\(max(abs(x1 - x0), 1))\" height=\"\(barHeight - 2)\" fill=\"\(bar.color)\"><title>\(escape(bar.label)): \(Fmt.ratio(bar.value))</title></rect>\n"
                body += "<text x=\"\(max(x0, x1) + 3)\" y=\"\(y + barHeight - 3)\" font-size=\"9\">\(Fmt.ratio(bar.value))</text>\n"
                y += barHeight
            }
            y += 9
        }
        let height = y + 40
        var grid = ""
        var tick = low
        while tick <= high * 1.0001 {
            let gx = x(tick)
            grid += "<line x1=\"\(gx)\" y1=\"\(top - 6)\" x2=\"\(gx)\" y2=\"\(y)\" stroke=\"\(tick == 1 ? "#000" : "#d0d7de")\" stroke-width=\"\(tick == 1 ? 1.2 : 0.6)\"/>\n"
            grid += "<text x=\"\(gx)\" y=\"\(y + 14)\" text-anchor=\"middle\" font-size=\"10\">\(tick >= 1 ? String(Int(tick)) : String(tick))×</text>\n"
            tick *= 10
        }
        for (target, label) in [(25.0, "target 25×"), (100.0, "target 100×")] where target < high {
            let tx = x(target)
            grid += "<line x1=\"\(tx)\" y1=\"\(top - 6)\" x2=\"\(tx)\" y2=\"\(y)\" stroke=\"#cf222e\" stroke-dasharray=\"4 3\" stroke-width=\"0.8\"/>\n"
            grid += "<text x=\"\(tx)\" y=\"\(top - 10)\" text-anchor=\"middle\" font-size=\"9\" fill=\"#cf222e\">\(label)</text>\n"
        }
        var legend = ""
        var lx = 10.0
        for (_, _, name, color) in series {
            legend += "<rect x=\"\(lx)\" y=\"30\" width=\"10\" height=\"10\" fill=\"\(color)\"/><text x=\"\(lx + 14)\" y=\"39\" font-size=\"10\">\(escape(name))</text>\n"
            lx += Double(name.count) * 5.6 + 30
        }
        let load = report.records.compactMap(\.load)
        return """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif">
            <rect width="100%" height="100%" fill="#fff"/>
            <text x="10" y="18" font-size="14" font-weight="bold">SpendLedger against the designs people build instead — times faster (log scale; left of 1× is slower)</text>
            <text x="10" y="\(Int(height) - 8)" font-size="9" fill="#57606a">peer-bench, same run; appends: throughput ratio; aggregates: query-time ratio. Load average \(escape(load.first ?? "?")) → \(escape(load.last ?? "?")) on 2 shared cores.</text>
            \(legend)\(grid)\(body)</svg>

            """
    }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

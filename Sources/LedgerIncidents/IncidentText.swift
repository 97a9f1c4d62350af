import LedgerCore

extension IncidentReport {
    /// A summary for the terminal: the headline numbers, the timeline around the first anomaly
    /// (at most `maxTimelineRows` minutes), the alerts and actions, the most expensive models and
    /// tasks and the run trees (at most `maxListRows` each; the runs that alerts or actions name
    /// first). `json()` and `html()` hold everything.
    public func text(maxTimelineRows: Int = 40, maxListRows: Int = 10) -> String {
        var lines: [String] = []
        lines.append("Incident review of agent \(agent)" + (run.map { ", run \($0)" } ?? ""))
        lines.append("  window                  \(from.rfc3339) .. \(to.rfc3339) (\(windowPhrase), log read through seq \(seq))")
        if let first = firstAnomaly {
            let source = first.recorded ? "recorded live" : "found by review, not recorded live"
            lines.append(
                "  first anomaly           \(first.at.rfc3339) \(first.kind) (score \(Self.score(first.scoreMilli)), \(source))")
            lines.append("                          \(first.evidence)")
        } else {
            lines.append("  first anomaly           none in the window")
        }
        if let halt {
            lines.append("  halted                  \(halt.at.rfc3339) \(Self.describe(halt))")
        } else {
            lines.append("  halted                  not in the window")
        }
        lines.append(
            "  cost after first alert  $\(costAfterFirstAlert.dollars) (what stopping at the first alert would have saved)")
        lines.append("  total                   $\(totalCost.dollars) in \(calls) calls, \(retries) retries")

        lines.append("")
        lines.append("Timeline (per minute; velocity is spend against the agent's baseline)")
        var table = [["MINUTE", "CALLS", "RETRIES", "COST (USD)", "BASELINE (USD)", "VELOCITY", ""]]
        let (shown, skippedBefore, skippedAfter) = visibleTimeline(maxRows: maxTimelineRows)
        for row in shown {
            var marks: [String] = []
            if row.anomalous { marks.append("anomalous") }
            if let at = firstAnomalyAt, at.minuteStart == row.minute { marks.append("<- first alert") }
            if let at = haltedAt, at.minuteStart == row.minute { marks.append("<- halted") }
            table.append([
                row.minute.rfc3339, String(row.calls), String(row.retries), row.cost.dollars,
                row.baselineCost?.dollars ?? "-", row.velocityMilli.map { "x" + Self.score(Int($0)) } ?? "-",
                marks.joined(separator: " "),
            ])
        }
        if skippedBefore > 0 { lines.append("  (\(skippedBefore) earlier minutes not shown)") }
        lines += Self.align(table, rightAligned: [1, 2, 3, 4, 5]).map { "  " + $0 }
        if skippedAfter > 0 { lines.append("  (\(skippedAfter) later minutes not shown; --json or --html have every minute)") }

        lines.append("")
        lines.append("Alerts (\(alertSource == .log ? "recorded live" : "found by review, not recorded live")) and actions")
        var events: [(LedgerTime, UInt64, [String])] = alerts.map { alert in
            (
                alert.at, alert.seq ?? .max,
                [
                    alert.at.rfc3339, "alert " + alert.kind, alert.run ?? "-",
                    "score \(Self.score(alert.scoreMilli)), \(alert.action): \(alert.evidence)",
                ]
            )
        }
        events += actions.map { ($0.at, $0.seq, [$0.at.rfc3339, $0.kind.rawValue, $0.run ?? "-", Self.detail($0)]) }
        if events.isEmpty {
            lines.append("  none in the window")
        } else {
            let rows = events.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2)
            lines += Self.align([["TIME", "WHAT", "RUN", "DETAIL"]] + rows, rightAligned: []).map { "  " + $0 }
        }

        for (title, header, costLines) in [("Models", "MODEL", models), ("Tasks", "TASK", tasks)] {
            lines.append("")
            lines.append(title)
            let rows = costLines.prefix(maxListRows).map {
                [$0.name.isEmpty ? "(none)" : $0.name, String($0.calls), $0.cost.dollars]
            }
            lines += Self.align([[header, "CALLS", "COST (USD)"]] + rows, rightAligned: [1, 2]).map { "  " + $0 }
            if costLines.count > maxListRows { lines.append("  (\(costLines.count - maxListRows) more)") }
        }

        lines.append("")
        lines.append("Runs")
        if runs.isEmpty { lines.append("  none in the window") }
        func walk(_ node: RunNode, depth: Int) {
            let indent = String(repeating: "  ", count: depth + 1)
            var line = "\(indent)\(node.id) (agent \(node.agent ?? "?"), \(node.status.name)"
            if let halted = node.haltedAt { line += ", halted at \(halted.rfc3339)" }
            line += "): $\(node.cost.dollars) in \(node.calls) calls, \(node.retries) retries"
            if !node.children.isEmpty { line += "; with sub-runs $\(node.treeCost.dollars)" }
            lines.append(line)
            for child in node.children { walk(child, depth: depth + 1) }
        }
        // The runs that alerts or actions name come first, then the most expensive.
        let named = Set(alerts.compactMap(\.run) + actions.compactMap(\.run))
        let ordered = runs.enumerated().sorted { lhs, rhs in
            let (left, right) = (named.contains(lhs.element.id), named.contains(rhs.element.id))
            if left != right { return left }
            if lhs.element.treeCost != rhs.element.treeCost { return lhs.element.treeCost > rhs.element.treeCost }
            return lhs.offset < rhs.offset
        }
        for root in ordered.prefix(maxListRows) { walk(root.element, depth: 0) }
        if runs.count > maxListRows { lines.append("  (\(runs.count - maxListRows) more runs; --json or --html have every one)") }
        return lines.joined(separator: "\n")
    }

    var windowPhrase: String {
        switch window {
        case .given: "as given"
        case .aroundFirstAnomaly: "from an hour before the first anomaly to the last activity"
        case .wholeHistory: "the agent's whole activity"
        }
    }

    /// The rows to print: all when they fit, else a slice starting a little before the first anomaly.
    private func visibleTimeline(maxRows: Int) -> (rows: ArraySlice<IncidentMinute>, before: Int, after: Int) {
        guard timeline.count > maxRows, maxRows > 0 else { return (timeline[...], 0, 0) }
        let anchor = firstAnomalyAt.flatMap { at in timeline.firstIndex { $0.minute >= at.minuteStart } } ?? 0
        let start = max(0, min(anchor - maxRows / 4, timeline.count - maxRows))
        let end = start + maxRows
        return (timeline[start..<end], start, timeline.count - end)
    }

    static func describe(_ action: IncidentAction) -> String {
        switch action.kind {
        case .runHalted: "run \(action.run ?? "?") halted: \(detail(action))"
        case .agentPaused: "agent paused: \(action.reason)"
        case .agentResumed: "agent resumed: \(action.reason)"
        }
    }

    static func detail(_ action: IncidentAction) -> String {
        action.cause.map { "\($0): \(action.reason)" } ?? action.reason
    }

    /// Thousandths as a decimal (`930` is `0.93`, `5200` is `5.2`).
    static func score(_ milli: Int) -> String {
        let whole = milli / 1000
        var fraction = String(abs(milli % 1000))
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return fraction.isEmpty ? String(whole) : "\(whole).\(fraction)"
    }

    /// Pads the cells of `rows` into columns (two spaces apart); trailing spaces are dropped.
    static func align(_ rows: [[String]], rightAligned: Set<Int>) -> [String] {
        var widths: [Int] = []
        for row in rows {
            for (index, cell) in row.enumerated() {
                if index == widths.count { widths.append(0) }
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.map { row in
            var line = ""
            for (index, cell) in row.enumerated() {
                let pad = String(repeating: " ", count: widths[index] - cell.count)
                if index > 0 { line += "  " }
                line += rightAligned.contains(index) ? pad + cell : cell + pad
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }
}

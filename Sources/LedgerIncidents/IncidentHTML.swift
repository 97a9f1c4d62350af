import LedgerCore

extension IncidentReport {
    /// The report as one self-contained HTML page: inline CSS and an inline SVG chart of spend per
    /// minute against the baseline, with markers at the first alert and the halt; the summary, the
    /// alerts and actions, the run tree, the models, the tasks and every minute. It loads nothing
    /// (no script, font, style sheet or image from anywhere), and every name from the log is
    /// escaped, so a hostile agent, run or task name stays text.
    public func html() -> String {
        let title = "Incident review: agent \(agent)" + (run.map { ", run \($0)" } ?? "")
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escapeHTML(title))</title>
            <style>\(Self.styleSheet)</style>
            </head>
            <body>
            <h1>\(escapeHTML(title))</h1>
            <p class="window">\(escapeHTML(from.rfc3339)) to \(escapeHTML(to.rfc3339)) (\(escapeHTML(windowPhrase))), \
            from the ledger log through seq \(seq). Times are when the spending occurred, UTC.</p>

            """
        page += summaryHTML()
        page += "<h2>Spend per minute against the baseline</h2>\n"
        page += IncidentChart(report: self).svg()
        page += "<p class=\"legend\"><span class=\"key bar\"></span>spend in the minute "
        page += "<span class=\"key bar anomalous\"></span>minute the detector judged anomalous "
        page += "<span class=\"key baseline\"></span>the agent's baseline "
        page += "<span class=\"key alert\"></span>first alert <span class=\"key halt\"></span>halt</p>\n"
        page += alertsHTML()
        page += "<h2>Runs and sub-agent runs</h2>\n"
        page += runs.isEmpty ? "<p>No run in the window.</p>\n" : "<ul class=\"tree\">\n" + runs.map(runHTML).joined() + "</ul>\n"
        page += costTableHTML("Models", header: "Model", costLines: models)
        page += costTableHTML("Tasks", header: "Task", costLines: tasks)
        page += timelineHTML()
        page += "</body>\n</html>\n"
        return page
    }

    private func summaryHTML() -> String {
        var rows: [(String, String)] = []
        if let first = firstAnomaly {
            let source = first.recorded ? "recorded live" : "found by review, not recorded live"
            rows.append(
                (
                    "First anomaly",
                    "\(first.at.rfc3339): \(first.kind), score \(Self.score(first.scoreMilli)) (\(source)). \(first.evidence)"
                ))
        } else {
            rows.append(("First anomaly", "none in the window"))
        }
        rows.append(("Halted", halt.map { "\($0.at.rfc3339): \(Self.describe($0))" } ?? "not in the window"))
        rows.append(
            ("Cost after the first alert", "$\(costAfterFirstAlert.dollars), what stopping at the first alert would have saved"))
        rows.append(("Total cost", "$\(totalCost.dollars)"))
        rows.append(("Calls", "\(calls), of which \(retries) retries"))
        var html = "<dl class=\"summary\">\n"
        for (term, value) in rows { html += "<dt>\(escapeHTML(term))</dt><dd>\(escapeHTML(value))</dd>\n" }
        return html + "</dl>\n"
    }

    private func alertsHTML() -> String {
        let source = alertSource == .log ? "recorded live by the detectors" : "found by this review, not recorded live"
        var html = "<h2>Alerts and actions</h2>\n<p>Alerts \(escapeHTML(source)).</p>\n"
        var rows: [(LedgerTime, UInt64, String)] = alerts.map { alert in
            let cells = [
                alert.at.rfc3339, "alert: " + alert.kind, alert.run ?? "", Self.score(alert.scoreMilli), alert.action,
                alert.evidence,
            ]
            return (alert.at, alert.seq ?? .max, Self.row(cells, class: "alert"))
        }
        rows += actions.map { action in
            let cells = [action.at.rfc3339, action.kind.rawValue, action.run ?? "", "", action.cause ?? "", action.reason]
            return (action.at, action.seq, Self.row(cells, class: "action"))
        }
        guard !rows.isEmpty else { return html + "<p>None in the window.</p>\n" }
        html +=
            "<table>\n<thead>\(Self.row(["Time", "What", "Run", "Score", "Action or cause", "Detail"], cell: "th"))</thead>\n<tbody>\n"
        html += rows.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map(\.2).joined()
        return html + "</tbody>\n</table>\n"
    }

    private func runHTML(_ node: RunNode) -> String {
        var html = "<li><code>\(escapeHTML(node.id))</code> agent <code>\(escapeHTML(node.agent ?? "?"))</code>, "
        html += "<span class=\"status \(escapeHTML(node.status.name))\">\(escapeHTML(node.status.name))</span>"
        if let halted = node.haltedAt { html += " at \(escapeHTML(halted.rfc3339))" }
        html += ": $\(escapeHTML(node.cost.dollars)) in \(node.calls) calls, \(node.retries) retries"
        if !node.children.isEmpty {
            html +=
                "; with sub-runs $\(escapeHTML(node.treeCost.dollars))\n<ul>\n" + node.children.map(runHTML).joined() + "</ul>"
        }
        return html + "</li>\n"
    }

    private func costTableHTML(_ title: String, header: String, costLines: [CostLine]) -> String {
        var html = "<h2>\(escapeHTML(title))</h2>\n"
        guard !costLines.isEmpty else { return html + "<p>No charge in the window.</p>\n" }
        html += "<table>\n<thead>\(Self.row([header, "Calls", "Cost (USD)"], cell: "th"))</thead>\n<tbody>\n"
        for line in costLines {
            html += Self.row([line.name.isEmpty ? "(none)" : line.name, String(line.calls), line.cost.dollars])
        }
        return html + "</tbody>\n</table>\n"
    }

    private func timelineHTML() -> String {
        var html = "<details>\n<summary>Every minute (\(timeline.count))</summary>\n<table>\n<thead>"
        html += Self.row(["Minute", "Calls", "Retries", "Cost (USD)", "Baseline (USD)", "Velocity"], cell: "th")
        html += "</thead>\n<tbody>\n"
        for minute in timeline {
            let cells = [
                minute.minute.rfc3339, String(minute.calls), String(minute.retries), minute.cost.dollars,
                minute.baselineCost?.dollars ?? "", minute.velocityMilli.map { "x" + Self.score(Int($0)) } ?? "",
            ]
            html += Self.row(cells, class: minute.anomalous ? "anomalous" : nil)
        }
        return html + "</tbody>\n</table>\n</details>\n"
    }

    private static func row(_ cells: [String], cell: String = "td", class name: String? = nil) -> String {
        let open = name.map { "<tr class=\"\(escapeHTML($0))\">" } ?? "<tr>"
        return open + cells.map { "<\(cell)>\(escapeHTML($0))</\(cell)>" }.joined() + "</tr>\n"
    }

    private static let styleSheet = """
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1000px;\
        padding:0 1em;color:#1d232a;background:#fff}
        h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.8em}
        code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.95em}
        .window{color:#555}
        dl.summary{display:grid;grid-template-columns:max-content auto;gap:.3em 1.2em}
        dl.summary dt{font-weight:600}dl.summary dd{margin:0}
        table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #e3e6ea}
        tr.alert td{background:#fff4f2}tr.action td{background:#f2f5ff}tr.anomalous td{color:#b42318}
        svg{width:100%;height:auto;border:1px solid #e3e6ea;background:#fcfcfd}
        svg text{font:11px system-ui,sans-serif;fill:#444}
        .bar{fill:#5b8def}.bar.anomalous{fill:#e0533d}
        .baseline{fill:none;stroke:#2e7d32;stroke-width:2}
        .alert-marker{stroke:#e0533d;stroke-width:2;stroke-dasharray:5 3}
        .halt-marker{stroke:#111;stroke-width:2}
        .axis{stroke:#888;stroke-width:1}
        .legend .key{display:inline-block;width:14px;height:10px;margin:0 .35em 0 1em;vertical-align:middle}
        .key.bar{background:#5b8def}.key.bar.anomalous{background:#e0533d}.key.baseline{background:#2e7d32;height:3px}
        .key.alert{border-left:2px dashed #e0533d;width:0}.key.halt{border-left:2px solid #111;width:0}
        ul.tree{list-style:none;padding-left:0}ul.tree ul{list-style:none;padding-left:1.6em;border-left:1px solid #d0d4da}
        .status.halted{color:#b42318;font-weight:600}
        """
}

/// Escapes text for HTML content and quoted attribute values.
func escapeHTML(_ text: String) -> String {
    var escaped = ""
    escaped.reserveCapacity(text.utf8.count)
    for character in text.unicodeScalars {
        switch character {
        case "&": escaped += "&amp;"
        case "<": escaped += "&lt;"
        case ">": escaped += "&gt;"
        case "\"": escaped += "&quot;"
        case "'": escaped += "&#39;"
        default: escaped.unicodeScalars.append(character)
        }
    }
    return escaped
}

/// The SVG chart of an incident: one bar per minute of spend, the baseline as a step line, and
/// vertical markers at the first alert and the halt. Coordinates only are floating point; the
/// labels print exact amounts.
struct IncidentChart {
    let report: IncidentReport
    let width = 960.0
    let height = 320.0
    let left = 84.0
    let right = 16.0
    let top = 18.0
    let bottom = 44.0

    /// A little room before the first minute, so its bar does not hide under the y axis or a marker.
    private var start: Int64 {
        let from = report.from.minuteStart.nanosecondsSinceEpoch
        let span = Double(report.to.nanosecondsSinceEpoch) - Double(from)
        let minute: Int64 = 60_000_000_000
        let pad = max(1, Int64(min(max(span, 0) / 40, 86_400e9)) / minute) * minute
        let padded = from.subtractingReportingOverflow(pad)
        return padded.overflow ? from : padded.partialValue
    }
    private var end: Int64 {
        let last = report.to.minuteStart.nanosecondsSinceEpoch.addingReportingOverflow(60_000_000_000)
        return last.overflow ? .max : max(last.partialValue, start + 60_000_000_000)
    }
    private var plotWidth: Double { width - left - right }
    private var plotHeight: Double { height - top - bottom }
    /// The top of the y axis in nano-dollars: the largest minute or baseline, never 0.
    private var ceiling: Int64 {
        let largest = report.timeline.map { max($0.cost.nanos, $0.baselineCost?.nanos ?? 0) }.max() ?? 0
        return max(largest, 1)
    }

    private func x(_ time: LedgerTime) -> Double {
        let offset = Double(time.nanosecondsSinceEpoch) - Double(start)
        return left + min(max(offset / (Double(end) - Double(start)), 0), 1) * plotWidth
    }

    private func y(_ nanos: Int64) -> Double {
        top + plotHeight - min(Double(nanos) / Double(ceiling), 1) * plotHeight
    }

    func svg() -> String {
        let minutes = max(1.0, (Double(end) - Double(start)) / 60e9)
        let barWidth = max(1.0, plotWidth / minutes - (plotWidth / minutes >= 3 ? 1 : 0))
        var svg = "<svg viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\" role=\"img\" "
        svg += "aria-label=\"Spend per minute against the baseline\">\n"
        let axisBottom = Self.number(top + plotHeight)
        svg +=
            "<line class=\"axis\" x1=\"\(Self.number(left))\" y1=\"\(Self.number(top))\" x2=\"\(Self.number(left))\" y2=\"\(axisBottom)\"/>\n"
        svg +=
            "<line class=\"axis\" x1=\"\(Self.number(left))\" y1=\"\(axisBottom)\" x2=\"\(Self.number(width - right))\" y2=\"\(axisBottom)\"/>\n"
        for tick in [ceiling, ceiling / 2, 0] {
            svg +=
                "<text x=\"\(Self.number(left - 6))\" y=\"\(Self.number(y(tick) + 4))\" text-anchor=\"end\">$\(Self.dollars(tick))</text>\n"
        }
        let labelY = Self.number(top + plotHeight + 18)
        let startLabel = LedgerTime(nanosecondsSinceEpoch: start)
        let endLabel = LedgerTime(nanosecondsSinceEpoch: end)
        svg += "<text x=\"\(Self.number(left))\" y=\"\(labelY)\" text-anchor=\"start\">\(escapeHTML(startLabel.rfc3339))</text>\n"
        svg +=
            "<text x=\"\(Self.number(width - right))\" y=\"\(labelY)\" text-anchor=\"end\">\(escapeHTML(endLabel.rfc3339))</text>\n"
        for minute in report.timeline where minute.cost.nanos > 0 {
            let top = y(minute.cost.nanos)
            svg += "<rect class=\"bar\(minute.anomalous ? " anomalous" : "")\" x=\"\(Self.number(x(minute.minute)))\" "
            svg +=
                "y=\"\(Self.number(top))\" width=\"\(Self.number(barWidth))\" height=\"\(Self.number(self.top + plotHeight - top))\">"
            let tip = "\(minute.minute.rfc3339): $\(minute.cost.dollars) in \(minute.calls) calls, \(minute.retries) retries"
            svg += "<title>\(escapeHTML(tip))</title></rect>\n"
        }
        // The baseline holds from each closed minute until the next one: a step line.
        let baselines = report.timeline.compactMap { row in row.baselineCost.map { (row.minute, $0.nanos) } }
        var points: [String] = []
        for (index, (minute, baseline)) in baselines.enumerated() {
            let until = index + 1 < baselines.count ? baselines[index + 1].0 : minute.moved(by: 60_000_000_000)
            points.append("\(Self.number(x(minute))),\(Self.number(y(baseline)))")
            points.append("\(Self.number(x(until))),\(Self.number(y(baseline)))")
        }
        if !points.isEmpty { svg += "<polyline class=\"baseline\" points=\"\(points.joined(separator: " "))\"/>\n" }
        if let at = report.firstAnomalyAt { svg += marker(at: at, class: "alert-marker", label: "first alert", row: 0) }
        if let at = report.haltedAt { svg += marker(at: at, class: "halt-marker", label: "halted", row: 1) }
        return svg + "</svg>\n"
    }

    /// A vertical line at `time` with its label beside it (on the right, unless that would leave
    /// the chart); `row` moves the label down so that two markers close together stay readable.
    private func marker(at time: LedgerTime, class name: String, label: String, row: Int) -> String {
        let position = x(time)
        var svg = "<line class=\"\(name)\" x1=\"\(Self.number(position))\" y1=\"\(Self.number(top))\" "
        svg += "x2=\"\(Self.number(position))\" y2=\"\(Self.number(top + plotHeight))\">"
        svg += "<title>\(escapeHTML(label + " " + time.rfc3339))</title></line>\n"
        let onLeft = position > width - right - 90
        svg += "<text x=\"\(Self.number(position + (onLeft ? -4 : 4)))\" y=\"\(Self.number(top + 12 + 14 * Double(row)))\" "
        return svg + "text-anchor=\"\(onLeft ? "end" : "start")\">\(escapeHTML(label))</text>\n"
    }

    /// A coordinate with one decimal, independent of the locale.
    static func number(_ value: Double) -> String {
        let tenths = Int64((value * 10).rounded())
        let sign = tenths < 0 ? "-" : ""
        let magnitude = tenths.magnitude
        return magnitude % 10 == 0 ? "\(sign)\(magnitude / 10)" : "\(sign)\(magnitude / 10).\(magnitude % 10)"
    }

    /// An axis amount rounded to a ten-thousandth of a dollar when it is at least that.
    static func dollars(_ nanos: Int64) -> String {
        let unit: Int64 = 100_000
        guard nanos >= unit else { return Money(nanos: nanos).dollars }
        return Money(nanos: (nanos + unit / 2) / unit * unit).dollars
    }
}

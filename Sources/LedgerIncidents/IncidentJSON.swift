import LedgerCore

extension IncidentReport {
    /// The report as one JSON object (keys in a fixed order; times RFC 3339 UTC; amounts exact
    /// integers in nano-dollars, with `_usd` decimal strings beside the headline ones). The keys
    /// are described in `Docs/IncidentReview.md`.
    public func json() -> String {
        var json = JSONObjectWriter()
        json.add("agent", agent)
        json.add("run", run)
        json.add("from", from.rfc3339)
        json.add("to", to.rfc3339)
        json.add("window", window.rawValue)
        json.add("seq", seq)
        json.add("alerts_found_by", alertSource.rawValue)
        json.add("first_anomaly_at", firstAnomalyAt?.rfc3339)
        json.addRaw("first_anomaly", firstAnomaly.map(Self.json) ?? "null")
        json.add("halted_at", haltedAt?.rfc3339)
        json.addRaw("halt", halt.map(Self.json) ?? "null")
        json.add("cost_after_first_alert_nanos", costAfterFirstAlert.nanos)
        json.add("cost_after_first_alert_usd", costAfterFirstAlert.dollars)
        json.add("total_cost_nanos", totalCost.nanos)
        json.add("total_cost_usd", totalCost.dollars)
        json.add("calls", calls)
        json.add("retries", retries)
        json.addArray("timeline", timeline.map(Self.json))
        json.addArray("alerts", alerts.map(Self.json))
        json.addArray("actions", actions.map(Self.json))
        json.addArray("models", models.map(Self.json))
        json.addArray("tasks", tasks.map(Self.json))
        json.addArray("runs", runs.map(Self.json))
        return json.finish()
    }

    static func json(_ minute: IncidentMinute) -> String {
        var json = JSONObjectWriter()
        json.add("minute", minute.minute.rfc3339)
        json.add("calls", minute.calls)
        json.add("cost_nanos", minute.cost.nanos)
        json.add("retries", minute.retries)
        json.addRaw("baseline_cost_nanos", minute.baselineCost.map { String($0.nanos) } ?? "null")
        json.addRaw("baseline_calls", minute.baselineCalls.flatMap(Self.thousandths) ?? "null")
        json.addRaw("velocity_milli", minute.velocityMilli.map { String($0) } ?? "null")
        json.add("anomalous", minute.anomalous)
        return json.finish()
    }

    static func json(_ alert: IncidentAlert) -> String {
        var json = JSONObjectWriter()
        json.add("at", alert.at.rfc3339)
        json.add("kind", alert.kind)
        json.add("run", alert.run)
        json.add("score_milli", alert.scoreMilli)
        json.add("evidence", alert.evidence)
        json.add("action", alert.action)
        json.add("recorded", alert.recorded)
        json.addRaw("seq", alert.seq.map { String($0) } ?? "null")
        return json.finish()
    }

    static func json(_ action: IncidentAction) -> String {
        var json = JSONObjectWriter()
        json.add("at", action.at.rfc3339)
        json.add("kind", action.kind.rawValue)
        json.add("run", action.run)
        json.add("cause", action.cause)
        json.add("reason", action.reason)
        json.add("seq", action.seq)
        return json.finish()
    }

    static func json(_ line: CostLine) -> String {
        var json = JSONObjectWriter()
        json.add("name", line.name)
        json.add("calls", line.calls)
        json.add("cost_nanos", line.cost.nanos)
        json.add("cost_usd", line.cost.dollars)
        return json.finish()
    }

    static func json(_ run: RunNode) -> String {
        var json = JSONObjectWriter()
        json.add("id", run.id)
        json.add("agent", run.agent)
        json.add("parent", run.parent)
        json.add("started_at", run.startedAt?.rfc3339)
        json.add("status", run.status.name)
        json.add("halted_at", run.haltedAt?.rfc3339)
        json.add("calls", run.calls)
        json.add("retries", run.retries)
        json.add("cost_nanos", run.cost.nanos)
        json.add("tree_cost_nanos", run.treeCost.nanos)
        json.addArray("children", run.children.map(Self.json))
        return json.finish()
    }

    /// A non-negative finite number as JSON with at most three decimals (`2.5`, `0.333`); nil otherwise.
    static func thousandths(_ value: Double) -> String? {
        guard value.isFinite, value >= 0, value < 1e15 else { return nil }
        let milli = Int64((value * 1000).rounded())
        let fraction = milli % 1000
        guard fraction != 0 else { return String(milli / 1000) }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return String(milli / 1000) + "." + digits
    }
}

import Foundation
public import LedgerCore

/// `spend audit`: a statement of the ledger as recorded at an instant — every view's totals and
/// state hash, every budget's status, and the seq and chain hash at that instant — that anyone can
/// re-derive from the log later and compare.
///
/// Guarantees:
/// - **Reproducible.** The statement is canonical JSON (fixed key order, exact integers, decimal
///   dollar strings). Made again from the same log for the same instant — with or without
///   snapshots, today or in ten years — it is the same bytes.
/// - **Pinned.** `seq` and `chain_hash` name the exact prefix of the log it describes; the chain
///   hash covers every byte of every event up to `seq`.
/// - **Checkable.** ``check(_:engine:ledger:)`` re-derives the statement from zero (no snapshots)
///   while recomputing the hash chain over `1...seq`, and says whether it still holds and, if not,
///   which figure or which event differs.
public struct AuditStatement: Sendable {
    /// The canonical JSON of the statement (no trailing newline).
    public let json: String
    /// The human-readable form.
    public let text: String
    public let asOf: LedgerTime
    public let seq: UInt64
    public let chainHash: ChainHash

    static let marker = "spendledger.audit"
    static let format = 1

    /// Builds the statement of the ledger `engine` reads as recorded at `time`.
    ///
    /// - Parameters:
    ///   - ledger: the ledger's location, recorded in the statement for the reader (not compared).
    ///   - useSnapshots: false folds every view from zero.
    public static func make(
        engine: ProjectionEngine, at time: LedgerTime, ledger: String, useSnapshots: Bool = true
    ) async throws -> AuditStatement {
        try await make(engine: engine, at: time, ledger: ledger, useSnapshots: useSnapshots, visiting: nil)
    }

    static func make(
        engine: ProjectionEngine, at time: LedgerTime, ledger: String, useSnapshots: Bool,
        visiting visit: ((EventView) throws -> Void)?
    ) async throws -> AuditStatement {
        let results = try await engine.states(
            of: BuiltinViews.all, asOf: .recorded(time), useSnapshots: useSnapshots, visiting: visit)
        let first = results[0].result
        var object = JSONObjectWriter()
        object.add("statement", marker)
        object.add("format", format)
        object.add("ledger", ledger)
        object.add("as_of", time.rfc3339)
        object.add("as_of_ns", time.nanosecondsSinceEpoch)
        object.add("clock", ProjectionClock.recorded.rawValue)
        object.add("seq", first.seq)
        object.add("recorded_at", first.recordedAt?.rfc3339)
        object.add("chain_hash", first.chainHash.description)
        var views: [String] = []
        var lines: [String] = [
            "Audit statement: the ledger \(ledger) as recorded at \(time.rfc3339)",
            "seq          \(first.seq)",
            "recorded at  \(first.recordedAt?.rfc3339 ?? "-")",
            "chain hash   \(first.chainHash)",
            "",
            "views",
        ]
        var budgets: [BudgetStatus] = []
        for any in results {
            let result = any.result
            var view = JSONObjectWriter()
            view.add("name", result.name)
            view.add("version", result.version)
            view.add("state_hash", result.stateHash.description)
            let label = "\(result.name) v\(result.version)"
            var line = "  " + label + String(repeating: " ", count: max(0, 22 - label.count))
            if let table = result.state as? SpendTable {
                addTotals(table.total, rows: table.count, unreadable: table.unreadableEvents, overflowed: table.overflowed, to: &view)
                line += "  \(table.count) rows  total $\(table.total.cost.dollars)  \(table.total.calls) calls"
            } else if let hourly = result.state as? HourlySpend {
                addTotals(hourly.total, rows: hourly.entries.count, unreadable: hourly.unreadableEvents, overflowed: hourly.overflowed, to: &view)
                line += "  \(hourly.entries.count) hours  total $\(hourly.total.cost.dollars)"
            } else if let outcomes = result.state as? OutcomeBook {
                let total = outcomes.total
                view.add("tasks", outcomes.entries.count)
                view.add("runs", total.runs)
                view.add("accepted", total.accepted)
                view.add("rejected", total.rejected)
                view.add("abandoned", total.abandoned)
                view.add("open_runs", outcomes.openRunCount)
                view.add("total_cost_nanos", total.costNanos)
                if let per = total.costPerAcceptedOutcome { view.add("cost_per_accepted_outcome_nanos", per.nanos) } else {
                    view.add("cost_per_accepted_outcome_nanos", nil as String?)
                }
                view.add("unreadable_events", outcomes.unreadableEvents)
                view.add("overflowed", outcomes.overflowed)
                line += "  \(outcomes.entries.count) tasks  \(total.runs) runs  \(total.accepted) accepted"
                line += "  cost per accepted outcome " + (total.costPerAcceptedOutcome.map { "$" + $0.dollars } ?? "-")
            } else if let book = result.state as? BudgetBook {
                budgets = book.status(at: time)
                view.add("budgets", book.accounts.count)
                view.add("unreadable_events", book.unreadableEvents)
                line += "  \(book.accounts.count) budgets"
            }
            views.append(view.finish())
            lines.append(line + "  state \(result.stateHash)")
        }
        object.addArray("views", views)
        var budgetJSON: [String] = []
        if !budgets.isEmpty { lines += ["", "budgets"] }
        for status in budgets {
            var budget = JSONObjectWriter()
            budget.add("id", status.id)
            budget.add("scope", status.scopeText)
            budget.add("period", status.period.rawValue)
            budget.add("period_start", status.periodStart?.rfc3339)
            budget.add("period_end", status.periodEnd?.rfc3339)
            budget.add("hard", status.hard)
            budget.add("limit_nanos", status.limit.nanos)
            budget.add("spent_nanos", status.spent.nanos)
            budget.add("calls", status.calls)
            budget.add("reserved_nanos", status.reserved.nanos)
            budget.add("remaining_nanos", status.remaining.nanos)
            budget.add("percent", status.percentText)
            budget.addArray("thresholds_crossed", integers: status.thresholdsCrossed)
            budget.add("burn_rate_nanos_per_hour", status.burnRatePerHour.nanos)
            budget.add("runs_out_at", status.runsOutAt?.rfc3339)
            budget.add("runs_out_day", status.runsOutDay)
            budget.add("exhausted", status.exhausted)
            budget.add("overflowed", status.overflowed)
            budgetJSON.append(budget.finish())
            var line = "  \(status.id)  \(status.scopeText)  \(status.period.rawValue)"
            if let start = status.periodStart, let end = status.periodEnd { line += " \(start.rfc3339)..\(end.rfc3339)" }
            line += "  limit $\(status.limit.dollars)  spent $\(status.spent.dollars)  reserved $\(status.reserved.dollars)"
            line += "  remaining $\(status.remaining.dollars)  \(status.percentText ?? "-")%"
            if !status.thresholdsCrossed.isEmpty {
                line += "  crossed " + status.thresholdsCrossed.map { "\($0)%" }.joined(separator: ",")
            }
            line += "  burn $\(status.burnRatePerHour.dollars)/h"
            line += status.exhausted ? "  EXHAUSTED" : "  runs out " + (status.runsOutDay ?? "not this period")
            lines.append(line)
        }
        object.addArray("budgets", budgetJSON)
        let json = object.finish()
        lines += ["", "statement sha-256 \(ContentHash(of: Array(json.utf8)))"]
        return AuditStatement(
            json: json, text: lines.joined(separator: "\n"), asOf: time, seq: first.seq, chainHash: first.chainHash)
    }

    private static func addTotals(_ total: SpendRow, rows: Int, unreadable: Int64, overflowed: Bool, to view: inout JSONObjectWriter) {
        view.add("rows", rows)
        view.add("total_cost_nanos", total.costNanos)
        view.add("total_cost_usd", total.cost.dollars)
        view.add("calls", total.calls)
        view.add("input_tokens", total.inputTokens)
        view.add("output_tokens", total.outputTokens)
        view.add("cached_tokens", total.cachedTokens)
        view.add("reasoning_tokens", total.reasoningTokens)
        view.add("tool_calls", total.toolCalls)
        view.add("retries", total.retries)
        view.add("corrections", total.corrections)
        view.add("unreadable_events", unreadable)
        view.add("overflowed", overflowed)
    }

    // MARK: Checking

    /// What re-deriving a saved statement found.
    public struct Check: Sendable {
        /// True when every figure, the seq and the chain hash still match the log.
        public var holds: Bool
        /// What differs, one line each (empty when it holds).
        public var differences: [String]
        /// Events whose chain hash was recomputed (`1...seq`).
        public var eventsVerified: UInt64
        /// The first event whose stored bytes no longer match the chain, if any.
        public var firstBadSeq: UInt64?
        /// The statement re-derived from the log.
        public var derived: AuditStatement
    }

    /// Re-derives `statementJSON` from the log `engine` reads: every view folded from zero (no
    /// snapshots) and the hash chain recomputed over `1...seq` in the same pass.
    ///
    /// - Parameter ledger: the ledger location to put in the re-derived statement (the saved one's
    ///   when nil); it is not compared.
    /// - Throws: ``ProjectionError/Code/invalidInput`` when `statementJSON` is not an audit statement.
    public static func check(_ statementJSON: String, engine: ProjectionEngine, ledger: String? = nil) async throws -> Check {
        guard let saved = try? JSONSerialization.jsonObject(with: Data(statementJSON.utf8)) as? [String: Any],
            saved["statement"] as? String == marker
        else {
            throw ProjectionError(.invalidInput, "the file is not a SpendLedger audit statement")
        }
        guard (saved["format"] as? Int) == format else {
            throw ProjectionError(.invalidInput, "the statement has format \(saved["format"] ?? "none"); this build checks format \(format)")
        }
        guard let nanos = (saved["as_of_ns"] as? NSNumber)?.int64Value,
            let text = saved["as_of"] as? String, let time = LedgerTime(rfc3339: text), time.nanosecondsSinceEpoch == nanos
        else {
            throw ProjectionError(.invalidInput, "the statement's as_of is missing or damaged")
        }
        var previous = ChainHash.genesis
        var verified: UInt64 = 0
        var firstBad: UInt64?
        let derived = try await make(
            engine: engine, at: time, ledger: ledger ?? (saved["ledger"] as? String ?? ""), useSnapshots: false
        ) { view in
            let hash = previous.chained(with: EventCodec.canonicalBytes(in: view.bytes))
            if hash != view.hash, firstBad == nil { firstBad = view.seq }
            previous = hash
            verified += 1
        }
        var differences: [String] = []
        if let firstBad {
            differences.append("event seq \(firstBad) no longer matches its chain hash: the log was altered")
        }
        if firstBad == nil, previous != derived.chainHash {
            differences.append("the recomputed chain hash at seq \(derived.seq) is \(previous), the log says \(derived.chainHash)")
        }
        guard let fresh = try JSONSerialization.jsonObject(with: Data(derived.json.utf8)) as? [String: Any] else {
            throw ProjectionError(.invalidInput, "the re-derived statement does not parse")
        }
        var left = saved
        var right = fresh
        left["ledger"] = nil
        right["ledger"] = nil
        diff(left, right, path: "", into: &differences)
        return Check(holds: differences.isEmpty, differences: differences, eventsVerified: verified, firstBadSeq: firstBad, derived: derived)
    }

    /// Appends a line for every value that differs between `saved` and `derived`.
    static func diff(_ saved: Any, _ derived: Any, path: String, into lines: inout [String]) {
        guard lines.count < 100 else { return }
        switch (saved, derived) {
        case (let a as [String: Any], let b as [String: Any]):
            for key in Set(a.keys).union(b.keys).sorted() {
                let name = key
                let child = path.isEmpty ? name : path + "." + name
                switch (a[key], b[key]) {
                case (nil, let value?): lines.append("\(child): missing from the statement, the ledger says \(render(value))")
                case (let value?, nil): lines.append("\(child): the statement says \(render(value)), the ledger has no such figure")
                case (let x?, let y?): diff(x, y, path: child, into: &lines)
                default: break
                }
            }
        case (let a as [Any], let b as [Any]):
            if a.count != b.count {
                lines.append("\(path): the statement lists \(a.count), the ledger \(b.count)")
            }
            for index in 0..<min(a.count, b.count) {
                let label = ((a[index] as? [String: Any])?["name"] ?? (a[index] as? [String: Any])?["id"]).map { "\($0)" } ?? String(index)
                diff(a[index], b[index], path: "\(path)[\(label)]", into: &lines)
            }
        default:
            if render(saved) != render(derived) {
                lines.append("\(path): the statement says \(render(saved)), the ledger says \(render(derived))")
            }
        }
    }

    private static func render(_ value: Any) -> String {
        if let text = value as? String { return "\"\(text)\"" }
        guard let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]) else { return "\(value)" }
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}

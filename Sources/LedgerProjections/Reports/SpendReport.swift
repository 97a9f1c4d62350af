public import LedgerCore

/// `spend report`: spend grouped by one dimension at one instant, as JSON or an aligned table.
///
/// Guarantees: the rows are every key of the view with its exact figures, ordered by cost
/// (highest first) then by key bytes, so the same log and instant print the same bytes;
/// `total_cost_nanos` is the exact sum of the rows' `cost_nanos`. `seq` and `head_hash` pin the log
/// prefix the figures come from (for the occurred clock: the head known when it ran).
///
/// The JSON is one object with exactly the keys `as_of`, `clock`, `seq`, `head_hash`, `rows` (each
/// with `key`, `cost_nanos`, `cost_usd`, `calls`, `input_tokens`, `output_tokens`,
/// `cached_tokens`, `reasoning_tokens`, `tool_calls`, `retries`) and `total_cost_nanos`.
public struct SpendReport: Sendable {
    public var dimension: SpendDimension
    /// The instant the report is as of (the time asked, or the time it ran).
    public var asOf: LedgerTime
    public var clock: ProjectionClock
    public var seq: UInt64
    public var headHash: ChainHash
    public var rows: [SpendTable.Entry]
    public var total: SpendRow
    public var unreadableEvents: Int64
    public var overflowed: Bool

    public init(dimension: SpendDimension, result: ProjectionResult<SpendTable>, asOf: LedgerTime) {
        self.dimension = dimension
        self.asOf = asOf
        clock = result.clock
        seq = result.seq
        headHash = result.chainHash
        rows = result.state.entries.sorted { lhs, rhs in
            lhs.row.costNanos != rhs.row.costNanos
                ? lhs.row.costNanos > rhs.row.costNanos : lhs.key.utf8.lexicographicallyPrecedes(rhs.key.utf8)
        }
        total = result.state.total
        unreadableEvents = result.state.unreadableEvents
        overflowed = result.state.overflowed
    }

    /// The exact sum of the rows' costs.
    public var totalCostNanos: Int64 { total.costNanos }

    /// The report as one JSON object (no trailing newline).
    public var json: String {
        var json = JSONBytes(capacity: 256 + rows.count * 240)
        json.beginObject()
        json.key("as_of")
        json.string(asOf.rfc3339)
        json.key("clock")
        json.string(clock.rawValue)
        json.key("seq")
        json.integer(seq)
        json.key("head_hash")
        json.string(headHash.description)
        json.key("rows")
        json.beginArray()
        for entry in rows {
            let row = entry.row
            json.beginObject()
            json.key("key")
            json.string(entry.key)
            json.key("cost_nanos")
            json.integer(row.costNanos)
            json.key("cost_usd")
            json.string(row.cost.dollars)
            json.key("calls")
            json.integer(row.calls)
            json.key("input_tokens")
            json.integer(row.inputTokens)
            json.key("output_tokens")
            json.integer(row.outputTokens)
            json.key("cached_tokens")
            json.integer(row.cachedTokens)
            json.key("reasoning_tokens")
            json.integer(row.reasoningTokens)
            json.key("tool_calls")
            json.integer(row.toolCalls)
            json.key("retries")
            json.integer(row.retries)
            json.endObject()
        }
        json.endArray()
        json.key("total_cost_nanos")
        json.integer(totalCostNanos)
        json.endObject()
        return json.text
    }

    /// The report as an aligned table with a totals line.
    public var text: String {
        let clockText = clock == .recorded ? "as recorded at" : "as occurred by"
        var lines = [
            "spend by \(dimension) \(clockText) \(asOf.rfc3339)",
            "seq \(seq)  head hash \(headHash)",
            "",
        ]
        let header = [dimension.rawValue.uppercased(), "COST (USD)", "CALLS", "INPUT", "OUTPUT", "CACHED", "REASONING", "TOOL CALLS", "RETRIES"]
        let all = rows.map { ($0.key.isEmpty ? "(none)" : $0.key, $0.row) } + [("TOTAL", total)]
        let fraction = all.map { Self.fractionDigits($0.1.cost) }.max() ?? 0
        var table = [header]
        for (key, row) in all {
            table.append([
                key, Self.dollars(row.cost, fractionDigits: fraction), String(row.calls), String(row.inputTokens),
                String(row.outputTokens), String(row.cachedTokens), String(row.reasoningTokens), String(row.toolCalls),
                String(row.retries),
            ])
        }
        var widths = [Int](repeating: 0, count: header.count)
        for line in table { for (column, cell) in line.enumerated() { widths[column] = max(widths[column], cell.count) } }
        for (number, line) in table.enumerated() {
            if number == table.count - 1 {
                lines.append(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "))
            }
            let cells = line.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column == 0 ? cell + pad : pad + cell
            }
            var text = cells.joined(separator: "  ")
            while text.hasSuffix(" ") { text.removeLast() }
            lines.append(text)
        }
        return lines.joined(separator: "\n")
    }

    static func fractionDigits(_ money: Money) -> Int {
        let text = money.dollars
        guard let point = text.firstIndex(of: ".") else { return 0 }
        return text.distance(from: point, to: text.endIndex) - 1
    }

    /// Exact dollars padded with zeros to `fractionDigits` decimals, so a column aligns on the point.
    static func dollars(_ money: Money, fractionDigits wanted: Int) -> String {
        var text = money.dollars
        let have = fractionDigits(money)
        if wanted > 0 {
            if have == 0 { text += "." }
            text += String(repeating: "0", count: wanted - have)
        }
        return text
    }
}

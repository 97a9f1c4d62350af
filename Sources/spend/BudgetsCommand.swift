import ArgumentParser
import Foundation
import LedgerActors
import LedgerCore
import LedgerDomain
import LedgerLMDB

struct BudgetsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budgets", abstract: "Define budgets and show their state.",
        subcommands: [Set.self, List.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Define or redefine a budget (an event; nothing is ever reset).")

        @OptionGroup var location: LedgerLocation
        @Option(help: "The budget's id, such as acme-monthly.") var id: String
        @Option(help: "org, or client:ID, project:ID, agent:ID, model:ID, or tags:key=value[,key=value].")
        var scope: String
        @Option(help: "The limit in dollars, such as 250 or 0.50.") var limit: String
        @Option(help: "none, day, week or month.") var period: String = "none"
        @Option(help: "An IANA time zone for period boundaries (default UTC).") var timeZone: String?
        @Flag(help: "Report only: never deny an authorization.") var soft = false
        @Option(help: "Threshold percentages, comma-separated.") var thresholds = "50,75,90,100"
        @Option(help: "An action for a threshold, PERCENT=notify|pause_non_critical|pause_all (repeatable).")
        var action: [String] = []

        func run() async throws {
            let definition = try BudgetInput.definition(
                scope: scope, limit: limit, period: period, timeZone: timeZone, soft: soft, thresholds: thresholds,
                actions: action)
            let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(createIfMissing: true))
            defer { store.close() }
            let ledger = try await SpendCoordinator.open(store: store)
            try await ledger.defineBudget(id, definition)
            printLine("budget \(id): \(definition.hard ? "hard" : "soft") limit \(definition.limit) per \(definition.period.rawValue), scope \(scope)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every budget's state now.")

        @OptionGroup var location: LedgerLocation
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
            defer { store.close() }
            let budgets = try await SpendCoordinator.open(store: store).budgets()
            if json {
                let rows = budgets.map { budget -> String in
                    var row = JSONObjectWriter()
                    row.add("id", budget.id)
                    row.add("scope", budget.definition.map(BudgetInput.describe) ?? "")
                    row.add("period", budget.definition?.period.rawValue ?? "none")
                    row.add("hard", budget.definition?.hard ?? true)
                    row.add("limit_nanos", budget.definition?.limit.nanos ?? 0)
                    row.add("spent_nanos", budget.spent.nanos)
                    row.add("reserved_nanos", budget.reserved.nanos)
                    row.add("remaining_nanos", budget.remaining.nanos)
                    row.add("percent_milli", BudgetInput.percentMilli(budget))
                    row.addArray("thresholds_crossed", integers: budget.crossed.sorted())
                    row.add("period_start", budget.periodStart == .distantPast ? nil : budget.periodStart.rfc3339)
                    return row.finish()
                }
                printLine("{\"budgets\":[" + rows.joined(separator: ",") + "]}")
                return
            }
            if budgets.isEmpty { printLine("no budgets") }
            for budget in budgets {
                let definition = budget.definition
                let percent = Double(BudgetInput.percentMilli(budget)) / 1_000  // display only
                printLine(
                    "\(budget.id)  \(definition.map(BudgetInput.describe) ?? "-")  \(definition?.period.rawValue ?? "-")  "
                        + "limit \(definition?.limit ?? .zero)  spent \(budget.spent)  reserved \(budget.reserved)  "
                        + "remaining \(budget.remaining)  \(String(format: "%.1f", percent))%  crossed "
                        + "\(budget.crossed.sorted().map { "\($0)%" }.joined(separator: ","))")
            }
        }
    }
}

/// Parsing budget options into a definition, and describing one back.
enum BudgetInput {
    static func definition(
        scope: String, limit: String, period: String, timeZone: String?, soft: Bool, thresholds: String, actions: [String]
    ) throws -> BudgetDefinition {
        guard let money = Money(dollars: limit), money >= .zero else {
            throw ValidationError("--limit \(limit) is not a non-negative amount of dollars")
        }
        guard let periodValue = BudgetPeriod(rawValue: period) else {
            throw ValidationError("--period must be none, day, week or month, not \(period)")
        }
        var percents: [Int] = []
        for part in thresholds.split(separator: ",") {
            guard let value = Int(part.trimmingCharacters(in: .whitespaces)), (1...1_000).contains(value) else {
                throw ValidationError("--thresholds: \(part) is not a percentage")
            }
            percents.append(value)
        }
        var actionMap: [String: ThresholdAction] = [:]
        for entry in actions {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, Int(parts[0]) != nil, let action = ThresholdAction(rawValue: parts[1]) else {
                throw ValidationError("--action \(entry) must be PERCENT=notify|pause_non_critical|pause_all")
            }
            actionMap[parts[0]] = action
        }
        return BudgetDefinition(
            scope: try parseScope(scope), period: periodValue, timeZone: timeZone, limit: money, hard: !soft,
            thresholds: percents, actions: actionMap)
    }

    static func parseScope(_ text: String) throws -> BudgetScope {
        if text == "org" { return .org }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty, let kind = BudgetScope.Kind(rawValue: parts[0]), kind != .org else {
            throw ValidationError("--scope \(text) must be org, client:ID, project:ID, agent:ID, model:ID or tags:k=v,...")
        }
        if kind == .tags {
            var tags: [String: String] = [:]
            for pair in parts[1].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw ValidationError("--scope tags: \(pair) is not key=value") }
                tags[kv[0]] = kv[1]
            }
            return BudgetScope(kind: .tags, tags: tags)
        }
        return BudgetScope(kind: kind, value: parts[1])
    }

    static func describe(_ definition: BudgetDefinition) -> String {
        switch definition.scope.kind {
        case .org: "org"
        case .tags: "tags:" + definition.scope.tags.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        default: "\(definition.scope.kind.rawValue):\(definition.scope.value ?? "")"
        }
    }

    /// spent / limit in thousandths of a percent, exact (integer division).
    static func percentMilli(_ budget: BudgetState) -> Int64 {
        guard let limit = budget.definition?.limit, limit > .zero else { return 0 }
        return Int64(Int128(budget.spent.nanos) * 100_000 / Int128(limit.nanos))
    }
}

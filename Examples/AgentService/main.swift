// A service that runs an agent against a paid model, asking SpendLedger before every call.
//
//     swift run agent-service-example [LEDGER-DIR]
//
// It opens an embedded LMDB ledger, prices calls with the default catalog in Fixtures/, defines a
// hard budget, starts a run with a cost cap, then loops: authorize the next call, "call" the
// model, settle with the actual usage. The loop ends when the ledger says no — and says why.

import Foundation
import LedgerActors
import LedgerCore
import LedgerDomain
import LedgerPricing
import SpendLedger

let directory = CommandLine.arguments.dropFirst().first ?? NSTemporaryDirectory() + "agent-service-\(UUID().uuidString.prefix(8))"
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let catalog = try PriceCatalog.load(contentsOf: root.appendingPathComponent("Fixtures/price-catalog.json").path, effectiveFrom: .epoch)

let ledger = try await Ledger.open(at: directory, catalog: catalog)
try await ledger.defineBudget(
    "acme-daily", BudgetDefinition(scope: .client("acme"), period: .day, limit: Money(dollars: "0.05")!))
let runID = "run-\(UUID().uuidString.prefix(8))"
try await ledger.startRun(
    RunSpec(id: runID, agent: "summarizer", client: "acme", task: "summarize-17", caps: RunCaps(maxCost: Money(dollars: "0.03")!)))

var calls = 0
while true {
    // Before the call: price what it may use, and ask.
    let expected = TokenCounts(input: 4_000, output: 800)
    switch try await ledger.authorize(run: runID, model: "gpt-4o", estimate: expected) {
    case .denied(let denial):
        print("call \(calls + 1) denied by \(denial.deniedBy): \(denial.reason); \(denial.remaining) left")
        let run = try await ledger.run(runID)!
        print("run \(runID): \(calls) calls, spent \(run.spent)")
        for budget in await ledger.budgets() {
            print("budget \(budget.id): spent \(budget.spent) of \(budget.definition!.limit), thresholds crossed \(budget.crossed.sorted())")
        }
        try await ledger.completeRun(runID, outcome: .abandoned)
        try await ledger.close()
        print("ledger: \(directory)")
        exit(0)
    case .granted(let grant):
        // The model call would happen here; it used a little less than estimated.
        let actual = TokenCounts(input: 3_900, output: 640)
        try await ledger.settle(grant, model: "gpt-4o", usage: actual)
        calls += 1
    }
}

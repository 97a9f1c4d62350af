import ArgumentParser
import Foundation
import LedgerCore
import LedgerLMDB
import LedgerPricing
import SpendLedger

struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Append usage records (JSON lines) through the actors.",
        discussion: """
            The whole input is validated first. An invalid record means exit 1, an error naming the \
            line and the field, and nothing appended — unless --skip-invalid names a file for the \
            rejected records and their reasons. Records with an id are idempotent.
            """)

    @OptionGroup var location: LedgerLocation
    @Argument(help: "JSON-lines files; - reads standard input.") var files: [String]
    @Option(help: "A price map in LiteLLM's format (default: Fixtures/price-catalog.json).") var prices: String?
    @Option(name: .customLong("skip-invalid"), help: "Append the valid records; write the others, with reasons, here.")
    var rejects: String?
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one file, or - for standard input") }
    }

    func run() async throws {
        let catalog = try PriceCatalog.load(contentsOf: prices ?? FixtureLocator.path("price-catalog.json"), effectiveFrom: .epoch)
        let store = try LMDBEventStore.open(at: location.data)
        do {
            var prepared = PreparedIngest()
            let ledger = try await Ledger.open(store: store, catalog: catalog)
            let pricer = UsagePricer(catalog: ledger.catalog)
            for file in files {
                // Read a block at a time: the input is never held whole in memory, only its events.
                let descriptor = file == "-" ? STDIN_FILENO : open(file, O_RDONLY)
                guard descriptor >= 0 else { throw ValidationError("cannot read \(file)") }
                defer { if file != "-" { _ = close(descriptor) } }
                do {
                    try prepared.add(reading: descriptor, source: file == "-" ? "stdin" : file, pricer: pricer)
                } catch {
                    throw ValidationError(error.description)
                }
            }
            if !prepared.rejections.isEmpty {
                guard let rejects else {
                    for rejection in prepared.rejections.prefix(20) { printError("error: \(rejection)") }
                    if prepared.rejections.count > 20 { printError("... and \(prepared.rejections.count - 20) more") }
                    printError("nothing was appended: \(prepared.rejections.count) of \(prepared.recordsRead) records are invalid (use --skip-invalid FILE to append the others)")
                    store.close()
                    throw ExitCode(ExitStatus.failure)
                }
                try writeRejections(prepared.rejections, to: rejects)
            }
            let summary = try await ledger.ingest(consume prepared)
            if summary.eventsAppended > 0 { try await ViewSnapshots.refresh(store) }
            store.close()
            printSummary(summary)
        } catch {
            store.close()
            throw error
        }
    }

    private func writeRejections(_ rejections: [PreparedIngest.Rejection], to path: String) throws {
        var output = ""
        for rejection in rejections {
            var object = JSONObjectWriter()
            object.add("source", rejection.source)
            object.add("line", rejection.error.line ?? 0)
            object.add("field", rejection.error.field)
            object.add("error", rejection.error.description)
            object.add("record", rejection.text)
            output += object.finish() + "\n"
        }
        guard FileManager.default.createFile(atPath: path, contents: Data(output.utf8)) else {
            throw ValidationError("cannot write the rejects file \(path)")
        }
    }

    private func printSummary(_ summary: IngestSummary) {
        if json {
            var object = JSONObjectWriter()
            object.add("records_read", summary.recordsRead)
            object.add("records_appended", summary.recorded)
            object.add("events_appended", summary.eventsAppended)
            object.add("duplicates_skipped", summary.duplicatesSkipped)
            object.add("rejected", summary.rejected)
            object.add("total_cost_nanos", summary.totalCost.nanos)
            object.add("total_cost_usd", summary.totalCost.dollars)
            object.addArray("runs_halted", strings: summary.runsHalted)
            object.addArray("thresholds_crossed", strings: summary.thresholdsCrossed)
            printLine(object.finish())
        } else {
            printLine("records read        \(summary.recordsRead)")
            printLine("records appended    \(summary.recorded)")
            printLine("events appended     \(summary.eventsAppended)")
            printLine("duplicates skipped  \(summary.duplicatesSkipped)")
            if summary.rejected > 0 { printLine("rejected            \(summary.rejected) (written to \(rejects ?? "-"))") }
            printLine("total cost          \(summary.totalCost)")
            if !summary.runsHalted.isEmpty { printLine("runs halted         \(summary.runsHalted.joined(separator: ", "))") }
            if !summary.thresholdsCrossed.isEmpty {
                printLine("thresholds crossed  \(summary.thresholdsCrossed.joined(separator: ", "))")
            }
        }
    }
}

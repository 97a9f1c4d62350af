import ArgumentParser
import Foundation
import LedgerCore
import LedgerLMDB

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute the hash chain and check every index.",
        discussion: "Exits 0 when the ledger is intact, 1 with the first bad seq when it is not, 2 on a usage error.")

    @OptionGroup var location: LedgerLocation
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let report = try store.verify()
        if json {
            var object = JSONObjectWriter()
            object.add("intact", report.isIntact)
            object.add("events_checked", report.eventsChecked)
            object.add("head_seq", report.head.seq)
            object.add("head_hash", report.head.hash.description)
            if let failure = report.firstFailure {
                object.add("first_bad_seq", failure.seq)
                object.add("reason", failure.reason)
            }
            printLine(object.finish())
        } else if let failure = report.firstFailure {
            printLine("FAILED: first bad seq \(failure.seq): \(failure.reason)")
            printLine("checked \(report.eventsChecked) events before it")
        } else {
            printLine("OK: \(report.eventsChecked) events, chain and indexes intact")
            printLine("head seq \(report.head.seq) hash \(report.head.hash)")
        }
        if !report.isIntact { throw ExitCode(ExitStatus.failure) }
    }
}

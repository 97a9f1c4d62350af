import ArgumentParser
import Foundation
import LedgerCore
import LedgerLMDB
import LedgerPricing
import SpendLedger

/// The main job until the full demo lands: append the sample usage records in `Fixtures/` to an
/// LMDB ledger in a local folder, verify it, and print its stats. Running it again appends nothing
/// new: every record has an id, so every event is a duplicate the second time.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Append the sample usage records to a local LMDB ledger and print its stats.")

    @Option(help: "The ledger directory.") var data = "spend-demo-ledger"
    @Option(help: "The usage records to append (JSON lines).") var records: String?

    func run() async throws {
        let path = try records ?? FixtureLocator.path("sample-usage.jsonl")
        guard let bytes = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        let catalog = try PriceCatalog.load(contentsOf: FixtureLocator.path("price-catalog.json"), effectiveFrom: .epoch)
        let store = try LMDBEventStore.open(at: data)
        defer { store.close() }
        let ledger = try await Ledger.open(store: store, catalog: catalog)
        var prepared = PreparedIngest()
        prepared.add(Array(bytes), source: path, pricer: UsagePricer(catalog: ledger.catalog))
        if let rejection = prepared.rejections.first { throw ValidationError("the sample is invalid: \(rejection)") }
        let summary = try await ledger.ingest(prepared)
        printLine("read \(summary.recordsRead) usage records from \(path)")
        printLine("appended \(summary.recorded) events, \(summary.duplicatesSkipped) already in the ledger")
        let report = try store.verify()
        printLine(report.isIntact ? "verified: chain and indexes intact" : "VERIFY FAILED: \(report.firstFailure!)")
        printLine("")
        printLine("ledger \(data)")
        printStatistics(try store.statistics(), json: false)
    }
}

/// Finds a file in `Fixtures/`: beside the working directory, else beside the package the binary
/// was built in (`.build/<config>/spend` -> the package root).
enum FixtureLocator {
    static func path(_ name: String) throws -> String {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            FileManager.default.currentDirectoryPath + "/Fixtures/" + name,
            executable.deletingLastPathComponent().appendingPathComponent("../../../Fixtures/\(name)").standardized.path,
            executable.deletingLastPathComponent().appendingPathComponent("../../Fixtures/\(name)").standardized.path,
        ]
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw ValidationError("cannot find Fixtures/\(name); pass --records FILE")
        }
        return found
    }
}

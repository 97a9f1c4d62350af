import ArgumentParser
import Foundation
import LedgerCore
import SpendLedgerDemo

/// The main job: a realistic day of an agent fleet on an embedded LMDB ledger, a retry bug caught
/// and halted, and the views, alerts, incident and audit that show it.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a day of a 14-agent fleet, with a runaway agent, on a local LMDB ledger.",
        discussion: """
            Every call goes through the in-process API (start a run, authorize against caps and budgets, \
            settle, complete). Prices come from the LiteLLM price map and call sizes from real request \
            traces when ../shared/data (or --shared-data) holds them, else from Fixtures/. The --data \
            directory must be new, empty, or made by an earlier demo (which is replaced).
            """)

    @Option(help: "The ledger directory.") var data = "spend-demo-ledger"
    @Option(help: "The seed: the same seed tells the same story.") var seed: UInt64 = 42
    @Option(help: "The simulated day, YYYY-MM-DD (UTC). Default: yesterday.") var day: String?
    @Option(help: "Hours of the day to simulate (1-24).") var hours = 24
    @Option(help: "Where to write the HTML incident report.") var html = "spend-demo-incident.html"
    @Option(name: .customLong("shared-data"), help: "The folder with the real price map and traces.")
    var sharedData: String?

    func validate() throws {
        guard (1...24).contains(hours) else { throw ValidationError("--hours must be between 1 and 24, not \(hours)") }
        _ = try parsedDay()
    }

    private func parsedDay() throws -> LedgerTime? {
        guard let day else { return nil }
        guard let start = LedgerTime(rfc3339: day + "T00:00:00Z") else {
            throw ValidationError("--day '\(day)' is not a date such as 2026-11-22")
        }
        let today = FleetDemoOptions.yesterday().nanosecondsSinceEpoch + 86_400_000_000_000
        guard start.nanosecondsSinceEpoch < today else {
            throw ValidationError("--day \(day) is not in the past; the demo replays a finished day")
        }
        return start
    }

    func run() async throws {
        let options = FleetDemoOptions(
            dataDirectory: data, seed: seed, day: try parsedDay(), hours: hours,
            sharedData: sharedData ?? Self.findSharedData(), fixtures: try FixtureLocator.folder(), htmlPath: html)
        do {
            _ = try await FleetDemo.run(options, print: { printLine($0) })
        } catch let error as DemoError {
            throw ValidationError(error.description)
        }
    }

    /// `../shared/data` beside the working directory or the package, when it is there.
    static func findSharedData() -> String? {
        let candidates = [
            FileManager.default.currentDirectoryPath + "/../shared/data",
            FixtureLocator.packageRoot().map { $0 + "/../shared/data" },
        ]
        return candidates.compactMap { $0 }.map { URL(fileURLWithPath: $0).standardized.path }
            .first { FileManager.default.fileExists(atPath: $0 + "/litellm_model_prices.json") }
    }
}

/// Finds a file in `Fixtures/`: beside the working directory, else beside the package the binary
/// was built in (`.build/<config>/spend` -> the package root).
enum FixtureLocator {
    static func path(_ name: String) throws -> String {
        try folder() + "/" + name
    }

    static func folder() throws -> String {
        let candidates = [FileManager.default.currentDirectoryPath] + (packageRoot().map { [$0] } ?? [])
        guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0 + "/Fixtures/price-catalog.json") })
        else { throw ValidationError("cannot find the Fixtures/ folder; run spend from the SpendLedger package directory") }
        return found + "/Fixtures"
    }

    /// The package the binary was built in: `.build/<config>/spend` or `.build/<triple>/<config>/spend`.
    static func packageRoot() -> String? {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for up in ["../..", "../../.."] {
            let root = executable.deletingLastPathComponent().appendingPathComponent(up).standardized.path
            if FileManager.default.fileExists(atPath: root + "/Fixtures/price-catalog.json") { return root }
        }
        return nil
    }
}

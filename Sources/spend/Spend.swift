import ArgumentParser
import Foundation
import LedgerCore
import LedgerProjections

/// `spend`: the SpendLedger command-line tool. A thin shell over the library: every subcommand
/// opens a ledger, calls the library, and prints.
///
/// Exit codes: 0 success; 1 a failed check or rejected input; 2 a usage error (a bad option, or a
/// `--data` directory that is not a ledger).
@main
struct Spend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spend",
        abstract: "An exact, tamper-evident ledger of what AI agents spend.",
        subcommands: [
            DemoCommand.self, StatsCommand.self, VerifyCommand.self, ExportCommand.self, IngestCommand.self,
            BudgetsCommand.self, RunsCommand.self, ReportCommand.self, AuditCommand.self,
            IncidentCommand.self, DetectCommand.self,
        ]
    )

    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as LedgerError {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            Foundation.exit(usageCodes.contains(error.code) ? ExitStatus.usage : ExitStatus.failure)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)  // --help and --version
            }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(code == .validationFailure ? ExitStatus.usage : code.rawValue)
        }
    }

    /// Errors about what the user named (a directory that is no ledger) rather than what it holds.
    static let usageCodes: Set<LedgerError.Code> = [.notALedger, .notFound]
}

enum ExitStatus {
    static let failure: Int32 = 1
    static let usage: Int32 = 2
}

/// Options every command that reads a ledger shares.
struct LedgerLocation: ParsableArguments {
    @Option(name: .long, help: "The ledger directory.")
    var data: String
}

/// Prints one line to standard output without buffering surprises.
func printLine(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

/// Says on standard error which snapshots were refused (the figures came from a replay instead).
func reportNotes(_ rejections: [SnapshotRejection]) {
    for rejection in rejections.prefix(5) { printError("note: \(rejection); replayed the log instead") }
    if rejections.count > 5 { printError("note: \(rejections.count - 5) more snapshots refused") }
}

/// Prints one line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Instants given on the command line: RFC 3339, not in the future.
enum InstantArgument {
    static func parse(_ text: String, option: String, now: LedgerTime) throws -> LedgerTime {
        guard let time = LedgerTime(rfc3339: text) else {
            // Valid RFC 3339 beyond what 64-bit nanoseconds hold (after 2262) is still in the future.
            let formatter = ISO8601DateFormatter()
            if let date = formatter.date(from: text), date.timeIntervalSince1970 > Double(now.nanosecondsSinceEpoch) / 1e9 {
                throw ValidationError("\(option) \(text) is in the future (it is now \(now.rfc3339)); the ledger cannot know it yet")
            }
            throw ValidationError("\(option) '\(text)' is not an RFC 3339 date-time (such as 2026-11-20T01:02:03Z)")
        }
        guard time <= now else {
            throw ValidationError("\(option) \(time.rfc3339) is in the future (it is now \(now.rfc3339)); the ledger cannot know it yet")
        }
        return time
    }
}

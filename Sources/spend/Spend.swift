import ArgumentParser
import Foundation
import LedgerCore

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

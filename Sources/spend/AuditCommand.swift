import ArgumentParser
import Foundation
import LedgerCore
import LedgerLMDB
import LedgerProjections

/// `spend audit`: a reproducible statement of the ledger as recorded at an instant, and the check
/// of a saved one.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "State the ledger as recorded at an instant, or check a saved statement against the log.",
        discussion: """
            spend audit --data DIR --at T [--json] [--out FILE] states every view's totals and state hash, \
            every budget's status, and the seq and chain hash at T. Made again later it is identical. \
            spend audit --data DIR --check FILE re-derives a saved statement from the log (every view from \
            zero, the hash chain recomputed) and exits 0 when it holds, 1 when it does not.
            """)

    @OptionGroup var location: LedgerLocation
    @Option(help: "The instant, RFC 3339 (2026-11-20T01:02:03Z).") var at: String?
    @Flag(help: "Print the statement (or the check) as JSON.") var json = false
    @Option(help: "Also write the JSON statement to this file.") var out: String?
    @Option(help: "A saved statement (JSON) to check against the log.") var check: String?

    func validate() throws {
        switch (at, check) {
        case (nil, nil): throw ValidationError("give --at T to make a statement, or --check FILE to check one")
        case (.some, .some): throw ValidationError("--at and --check cannot be combined: a statement names its own instant")
        default: break
        }
        if check != nil, out != nil { throw ValidationError("--out only applies when making a statement with --at") }
        if let at { _ = try InstantArgument.parse(at, option: "--at", now: SystemClock().now()) }
    }

    func run() async throws {
        let ledger = URL(fileURLWithPath: location.data).standardizedFileURL.path
        if let check {
            try await runCheck(file: check, ledger: ledger)
            return
        }
        let time = try InstantArgument.parse(at ?? "", option: "--at", now: SystemClock().now())
        let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let engine = ProjectionEngine(store: store, snapshots: LMDBSnapshotStore(store))
        let statement = try await AuditStatement.make(engine: engine, at: time, ledger: ledger)
        if let out {
            do {
                try Data((statement.json + "\n").utf8).write(to: URL(fileURLWithPath: out))
            } catch {
                throw LedgerError(.storage, "cannot write the statement to \(out): \(error.localizedDescription)")
            }
        }
        printLine(json ? statement.json : statement.text)
    }

    private func runCheck(file: String, ledger: String) async throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("cannot read the statement file \(file)")
        }
        let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let engine = ProjectionEngine(store: store, snapshots: LMDBSnapshotStore(store))
        let result: AuditStatement.Check
        do {
            result = try await AuditStatement.check(String(decoding: data, as: UTF8.self), engine: engine, ledger: ledger)
        } catch let error as ProjectionError where error.code == .invalidInput {
            throw ValidationError("\(file): \(error.message)")
        }
        if json {
            var object = JSONObjectWriter()
            object.add("holds", result.holds)
            object.add("as_of", result.derived.asOf.rfc3339)
            object.add("seq", result.derived.seq)
            object.add("chain_hash", result.derived.chainHash.description)
            object.add("events_verified", result.eventsVerified)
            if let bad = result.firstBadSeq { object.add("first_bad_seq", bad) }
            object.addArray("differences", strings: result.differences)
            printLine(object.finish())
        } else if result.holds {
            printLine("HOLDS: the statement matches the ledger as recorded at \(result.derived.asOf.rfc3339)")
            printLine("seq \(result.derived.seq), chain hash \(result.derived.chainHash), recomputed over \(result.eventsVerified) events")
        } else {
            printLine("DOES NOT HOLD: \(result.differences.count) difference(s) with the ledger as recorded at \(result.derived.asOf.rfc3339)")
            for line in result.differences { printLine("  " + line) }
        }
        if !result.holds { throw ExitCode(ExitStatus.failure) }
    }
}

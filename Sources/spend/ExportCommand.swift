import ArgumentParser
import Foundation
import LedgerCore
import LedgerDomain
import LedgerLMDB

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write events as JSON lines, one whole envelope per line.")

    @OptionGroup var location: LedgerLocation
    @Option(help: "The first seq to export.") var from: UInt64 = 1
    @Option(help: "The last seq to export (default: the head).") var to: UInt64?

    func validate() throws {
        if let to, to < from { throw ValidationError("--to \(to) is below --from \(from)") }
    }

    func run() async throws {
        let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        var buffer = Data()
        buffer.reserveCapacity(1 << 20)
        try store.forEachEvent(from: from, through: to ?? .max) { event in
            buffer.append(contentsOf: EventJSON.line(for: event, renderPayload: UsageRecorded.renderPayload).utf8)
            buffer.append(0x0A)
            if buffer.count >= 1 << 20 {
                FileHandle.standardOutput.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
            return true
        }
        FileHandle.standardOutput.write(buffer)
    }
}

import ArgumentParser
import LedgerCore
import LedgerLMDB

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Events, head seq and hash, first and last recorded time, bytes on disk.")

    @OptionGroup var location: LedgerLocation
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
        defer { store.close() }
        printStatistics(try store.statistics(), json: json)
    }
}

func printStatistics(_ stats: LedgerStatistics, json: Bool) {
    if json {
        var object = JSONObjectWriter()
        object.add("events", stats.events)
        object.add("head_seq", stats.head.seq)
        object.add("head_hash", stats.head.hash.description)
        object.add("first_recorded_at", stats.firstRecordedAt?.rfc3339)
        object.add("last_recorded_at", stats.lastRecordedAt?.rfc3339)
        object.add("bytes", stats.bytesOnDisk)
        printLine(object.finish())
    } else {
        printLine("events            \(stats.events)")
        printLine("head seq          \(stats.head.seq)")
        printLine("head hash         \(stats.head.hash)")
        printLine("first recorded at \(stats.firstRecordedAt?.rfc3339 ?? "-")")
        printLine("last recorded at  \(stats.lastRecordedAt?.rfc3339 ?? "-")")
        printLine("bytes on disk     \(stats.bytesOnDisk)")
    }
}

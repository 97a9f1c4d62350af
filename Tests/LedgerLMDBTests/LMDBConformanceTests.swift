import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

/// Opens an ``LMDBEventStore`` in its own fresh directory; a later open reopens the same directory,
/// exactly as a restarted process would. Durable (`.fsync`), like production.
final class LMDBHarness: EventStoreHarness {
    let directory: TemporaryDirectory

    init() throws { directory = try TemporaryDirectory("conformance") }

    deinit { directory.remove() }

    func open(clock: any LedgerClock) async throws -> LMDBEventStore {
        try LMDBEventStore.open(at: directory.path, options: LMDBOptions(clock: clock))
    }
}

@Suite("LMDBEventStore conformance")
struct LMDBConformanceTests {
    @Test(arguments: EventStoreConformance.Case.allCases)
    func lmdbStore_passesConformanceCheck(_ check: EventStoreConformance.Case) async throws {
        try await EventStoreConformance.run(check) { try LMDBHarness() }
    }
}

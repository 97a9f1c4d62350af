import LedgerCore
import SpendLedgerTestKit
import Synchronization
import Testing

/// Opens an ``InMemoryEventStore``; a later open reopens a copy of the last store's events, the
/// way a durable backend reopens its storage.
final class InMemoryHarness: EventStoreHarness {
    private let current = Mutex<InMemoryEventStore?>(nil)

    func open(clock: any LedgerClock) async throws -> InMemoryEventStore {
        current.withLock { current in
            let store = current?.reopened(clock: clock) ?? InMemoryEventStore(clock: clock)
            current = store
            return store
        }
    }
}

@Suite("InMemoryEventStore conformance")
struct InMemoryConformanceTests {
    @Test(arguments: EventStoreConformance.Case.allCases)
    func inMemoryStore_passesConformanceCheck(_ check: EventStoreConformance.Case) async throws {
        try await EventStoreConformance.run(check) { InMemoryHarness() }
    }
}

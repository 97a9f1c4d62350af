import Foundation
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

/// The store's threads carry the names `Docs/Operating.md` lists, so that `top -H`, `perf` and
/// `/proc/PID/task/*/comm` tell them apart.
@Suite struct ThreadNameTests {
    /// The names of this process's threads (Linux: `/proc/self/task/*/comm`).
    static func threadNames() -> Set<String> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return Set(
            tasks.compactMap { task in
                (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            })
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/self/task")))
    func storeThreads_areNamedForWhatTheyDo() async throws {
        let directory = try TemporaryDirectory("thread-names")
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        defer { store.close() }
        // A large append starts the hasher too.
        let events = (0..<4_096).map { EventStoreConformance.sampleEvent(stream: "run:\($0 % 7)", index: $0) }
        let result = try await store.append(events)
        #expect(result.appendedCount == 4_096)
        let expected: Set = ["ledger-writer", "ledger-syncer", "ledger-hasher", "ledger-indexer"]
        // Each thread names itself as it starts: give a thread not yet run a moment.
        var names = Self.threadNames()
        for _ in 0..<200 where !expected.isSubset(of: names) {
            try await Task.sleep(for: .milliseconds(10))
            names = Self.threadNames()
        }
        #expect(expected.isSubset(of: names), "threads: \(names.sorted())")
    }
}

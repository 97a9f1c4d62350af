import Foundation
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Faults a user can cause: a full map, a full disk, a read-only file system, altered bytes,
/// over-limit input. Each gives a specific error and loses nothing already stored.
@Suite struct FaultTests {
    static func events(_ range: Range<Int>, streams: Int = 7) -> [ProposedEvent] {
        range.map { EventStoreConformance.sampleEvent(stream: "run:r\($0 % streams)", index: $0) }
    }

    /// Appends batches of `batch` events until one fails with a ``LedgerError`` or `upTo` events are
    /// stored: how many were stored, and the error.
    static func appendUntilFailure(
        _ store: LMDBEventStore, batch: Int, upTo limit: Int
    ) async throws -> (stored: Int, failure: LedgerError?) {
        var stored = 0
        while stored < limit {
            do {
                try await store.append(events(stored..<(stored + batch)))
                stored += batch
            } catch let error as LedgerError {
                return (stored, error)
            }
        }
        return (stored, nil)
    }

    @Test func mapFull_growsTheMapAndKeepsAppending_whileReadersRead() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = LMDBOptions(mapSizeBytes: 1 << 20, mapSizeBytesMax: 1 << 28)
        let store = try LMDBEventStore.open(at: directory.path, options: options)
        defer { store.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for start in stride(from: 0, to: 30_000, by: 1_000) {
                    try await store.append(Self.events(start..<(start + 1_000)))
                }
            }
            for reader in 0..<2 {
                group.addTask {
                    var reads = 0
                    while try store.head().seq < 30_000 {
                        let head = try store.head().seq
                        let events = try store.read(from: max(1, head / 2), maxCount: 64)
                        #expect(events.first.map { $0.seq == max(1, head / 2) } ?? (head == 0))
                        reads += 1
                        if reads % 50 == 0 { await Task.yield() }
                    }
                    _ = reader
                }
            }
            try await group.waitForAll()
        }
        #expect(try store.head().seq == 30_000)
        #expect(try store.verify().isIntact)
    }

    /// A large append is taken in ranges, hashed beside the writer. When the map fills in the
    /// middle of one, the writer abandons the transaction, grows the map and writes the append
    /// again, whole, with fresh hashes; at the map's maximum the append fails whole.
    @Test func mapFull_inTheMiddleOfALargeAppend_growsAndWritesItWhole_orFailsItWhole() async throws {
        let growing = try TemporaryDirectory()
        defer { growing.remove() }
        let store = try LMDBEventStore.open(
            at: growing.path, options: LMDBOptions(mapSizeBytes: 1 << 20, mapSizeBytesMax: 1 << 28))
        var appended: [ProposedEvent] = []
        for start in stride(from: 0, to: 24_000, by: 6_000) {
            let batch = Self.events(start..<(start + 6_000))
            let result = try await store.append(batch)
            #expect(result.positions.map(\.seq) == Array(UInt64(start + 1)...UInt64(start + 6_000)))
            appended += batch
        }
        #expect(try store.read(from: 1, maxCount: 30_000).map(\.proposed) == appended)
        #expect(try store.verify().isIntact)
        store.close()

        let capped = try TemporaryDirectory()
        defer { capped.remove() }
        let options = LMDBOptions(mapSizeBytes: 1 << 20, mapSizeBytesMax: 1 << 22)
        let full = try LMDBEventStore.open(at: capped.path, options: options)
        let (stored, failure) = try await Self.appendUntilFailure(full, batch: 6_000, upTo: 60_000)
        #expect(failure?.code == .mapFull)
        #expect(stored > 0, "large appends fit until the map is at its maximum")
        #expect(try full.head().seq == UInt64(stored), "no part of the failed append is stored")
        #expect(try full.verify().isIntact)
        full.close()
    }

    @Test func mapFull_atMaximum_throwsMapFullAndLosesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let options = LMDBOptions(mapSizeBytes: 1 << 20, mapSizeBytesMax: 1 << 20)
        let store = try LMDBEventStore.open(at: directory.path, options: options)
        let (stored, failure) = try await Self.appendUntilFailure(store, batch: 100, upTo: 100_000)
        let error = try #require(failure)
        #expect(error.code == .mapFull)
        #expect(error.description.contains("mapSizeBytesMax"))
        #expect(try store.head().seq == UInt64(stored))
        store.close()
        let reopened = try LMDBEventStore.open(at: directory.path, options: options)
        defer { reopened.close() }
        #expect(try reopened.head().seq == UInt64(stored))
        #expect(try reopened.verify().isIntact)
    }

    @Test(.enabled(if: TmpfsMount.isAvailable, "mounting a small tmpfs needs root"))
    func diskFull_throwsDiskFullAndLosesNothingAcknowledged() async throws {
        let mount = try TmpfsMount(sizeBytes: 1 << 20)
        defer { mount.unmount() }
        let path = mount.path + "/ledger"
        var acknowledged: [AppendResult] = []
        var failure: LedgerError?
        do {
            let store = try LMDBEventStore.open(at: path, options: LMDBOptions(mapSizeBytes: 1 << 26))
            defer { store.close() }
            var next = 0
            while failure == nil, next < 200_000 {
                do {
                    acknowledged.append(try await store.append(Self.events(next..<(next + 200))))
                    next += 200
                } catch let error as LedgerError {
                    failure = error
                }
            }
        }
        let error = try #require(failure)
        #expect(error.code == .diskFull, "got \(error.debugDescription)")
        #expect(!acknowledged.isEmpty)
        let reopened = try LMDBEventStore.open(at: path, options: LMDBOptions(readOnly: true))
        defer { reopened.close() }
        let lastAcknowledged = acknowledged.last!.head.seq
        #expect(try reopened.head().seq == lastAcknowledged)
        #expect(try reopened.verify().isIntact)
    }

    /// Many single-event appenders at once fill the disk, so group commits fail while others are
    /// queued behind them: every failure is a clear `diskFull`, every acknowledged event is stored
    /// at the seq it was given and nothing else is, stream versions stay gap-free, and once there is
    /// room again the same store appends again from the head it really has.
    @Test(.enabled(if: TmpfsMount.isAvailable, "mounting a small tmpfs needs root"))
    func diskFull_underConcurrentSingleAppends_storesExactlyTheAcknowledged_andAppendsAgainOnceThereIsRoom() async throws {
        let mount = try TmpfsMount(sizeBytes: 1 << 20)
        defer { mount.unmount() }
        let path = mount.path + "/ledger"
        let store = try LMDBEventStore.open(at: path, options: LMDBOptions(mapSizeBytes: 1 << 26))
        defer { store.close() }
        let appenders = 64
        let outcomes = await withTaskGroup(of: [(ProposedEvent, Result<AppendResult, LedgerError>)].self) { group in
            for appender in 0..<appenders {
                group.addTask {
                    var outcomes: [(ProposedEvent, Result<AppendResult, LedgerError>)] = []
                    var failures = 0
                    for index in 0..<2_000 {
                        let event = EventStoreConformance.sampleEvent(stream: "run:r\(appender)", index: appender * 100_000 + index)
                        do {
                            outcomes.append((event, .success(try await store.append(event))))
                        } catch let error as LedgerError {
                            outcomes.append((event, .failure(error)))
                            failures += 1
                            if failures == 3 { break }
                        } catch {
                            Issue.record("an append failed with \(error), not a LedgerError")
                        }
                    }
                    return outcomes
                }
            }
            var all: [(ProposedEvent, Result<AppendResult, LedgerError>)] = []
            for await outcomes in group { all += outcomes }
            return all
        }
        var acknowledged: [EventID: UInt64] = [:]
        var failures: [LedgerError] = []
        for (event, outcome) in outcomes {
            switch outcome {
            case .success(let result): acknowledged[event.id] = result.positions[0].seq
            case .failure(let error): failures.append(error)
            }
        }
        #expect(!acknowledged.isEmpty)
        #expect(!failures.isEmpty)
        for error in failures {
            #expect(error.code == .diskFull, "got \(error.debugDescription)")
        }
        // Exactly the acknowledged events are stored, each at its seq; the chain holds.
        var stored: [EventID: UInt64] = [:]
        try store.forEachEvent { event in
            stored[event.id] = event.seq
            return true
        }
        #expect(stored == acknowledged)
        #expect(try store.head().seq == UInt64(acknowledged.count))
        #expect(try store.verify().isIntact)

        // Room again: single events and a batch are appended on the head the log really has.
        try mount.resize(to: 64 << 20)
        let head = try store.head().seq
        let single = EventStoreConformance.sampleEvent(stream: "run:r0", index: 900_000)
        let appended = try await store.append(single)
        #expect(appended.positions[0].seq == head + 1)
        let batch = (1..<4).map { EventStoreConformance.sampleEvent(stream: "run:r1", index: 900_000 + $0) }
        let batchResult = try await store.append(batch)
        #expect(batchResult.positions.map(\.seq) == [head + 2, head + 3, head + 4])
        let again = try await withThrowingTaskGroup(of: AppendResult.self) { group in
            for index in 0..<50 {
                group.addTask {
                    try await store.append(EventStoreConformance.sampleEvent(stream: "run:r\(index % 5)", index: 910_000 + index))
                }
            }
            var results: [AppendResult] = []
            for try await result in group { results.append(result) }
            return results
        }
        #expect(Set(again.map { $0.positions[0].seq }) == Set((head + 5)...(head + 54)))
        #expect(try store.head().seq == head + 54)
        #expect(try store.verify().isIntact)
        // Versions stayed exact across the failure: each stream's versions run 1, 2, 3, … with no gap.
        var versions: [String: UInt64] = [:]
        try store.forEachEvent { event in
            #expect(event.version == (versions[event.stream] ?? 0) + 1, "stream \(event.stream) at seq \(event.seq)")
            versions[event.stream] = event.version
            return true
        }
    }

    @Test(.enabled(if: TmpfsMount.isAvailable, "mounting a small tmpfs needs root"))
    func readOnlyFileSystem_refusesWritersClearly_andServesReaders() async throws {
        let mount = try TmpfsMount(sizeBytes: 8 << 20)
        defer { mount.unmount() }
        let path = mount.path + "/ledger"
        let store = try LMDBEventStore.open(at: path)
        try await store.append(Self.events(0..<10))
        store.close()
        try mount.remountReadOnly()
        let error = try #require(throws: LedgerError.self) { try LMDBEventStore.open(at: path) }
        #expect(error.code == .readOnly, "got \(error.debugDescription)")
        let reader = try LMDBEventStore.open(at: path, options: LMDBOptions(readOnly: true))
        defer { reader.close() }
        #expect(try reader.head().seq == 10)
        #expect(try reader.verify().isIntact)
    }

    @Test func alteredEventBytes_areFoundByVerify_atTheirSeq() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        try await store.append(Self.events(0..<40))
        var marked = EventStoreConformance.sampleEvent(stream: "run:r1", index: 40)
        marked.payload = Array("{\"note\":\"TAMPER-ME-4711\"}".utf8)
        try await store.append(marked)
        try await store.append(Self.events(41..<80))
        store.close()

        let altered = try LedgerFile.replaceEverywhere(in: directory.child("data.mdb"), "TAMPER-ME-4711", with: "TAMPER-ME-4712")
        #expect(altered >= 1)
        let reopened = try LMDBEventStore.open(at: directory.path)
        defer { reopened.close() }
        let report = try reopened.verify()
        #expect(report.firstFailure?.seq == 41)
        #expect(report.eventsChecked == 40)
    }

    @Test func overLimitStreamName_rejectsTheBatch_andWritesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        defer { store.close() }
        var batch = Self.events(0..<3)
        batch[2].stream = String(repeating: "s", count: Limits.streamNameBytesMax + 1)
        let error = await #expect(throws: LedgerError.self) { try await store.append(batch) }
        #expect(error?.code == .limitExceeded)
        #expect(error?.batchIndex == 2)
        #expect(error?.field == "stream")
        #expect(try store.head().seq == 0)
    }

    @Test func noSyncDurability_appendsAndReadsBack() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(durability: .noSync))
        try await store.append(Self.events(0..<100))
        store.close()
        let reopened = try LMDBEventStore.open(at: directory.path)
        defer { reopened.close() }
        #expect(try reopened.head().seq == 100)
        #expect(try reopened.verify().isIntact)
    }
}

/// Byte-level surgery on a closed ledger's file, for tamper tests.
enum LedgerFile {
    /// Replaces every occurrence of `text` (same length) and returns how many there were. Every
    /// copy is changed, since LMDB may keep stale copies of a page in its free space.
    static func replaceEverywhere(in path: String, _ text: String, with replacement: String) throws -> Int {
        precondition(text.utf8.count == replacement.utf8.count)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let needle = Array(text.utf8)
        let patch = Array(replacement.utf8)
        var count = 0
        var index = 0
        while index + needle.count <= bytes.count {
            if bytes[index] == needle[0], Array(bytes[index..<(index + needle.count)]) == needle {
                bytes.replaceSubrange(index..<(index + needle.count), with: patch)
                count += 1
                index += needle.count
            } else {
                index += 1
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return count
    }
}

/// A small tmpfs, for full-disk and read-only file-system tests (needs root).
struct TmpfsMount {
    let path: String

    static let isAvailable: Bool = {
        guard getuid() == 0, let probe = try? TmpfsMount(sizeBytes: 1 << 16) else { return false }
        probe.unmount()
        return true
    }()

    init(sizeBytes: Int) throws {
        let directory = try TemporaryDirectory("tmpfs")
        try self.init(sizeBytes: sizeBytes, at: directory.path)
    }

    /// A tmpfs mounted on `path`, an existing directory (removed again by ``unmount()``).
    init(sizeBytes: Int, at path: String) throws {
        self.path = path
        let result = try Shell.run("mount", "-t", "tmpfs", "-o", "size=\(sizeBytes)", "tmpfs", path)
        guard result.status == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw LedgerError(.storage, "mount failed: \(result.error)")
        }
    }

    /// Gives the mounted file system a new size (room again after it filled up).
    func resize(to sizeBytes: Int) throws {
        let result = try Shell.run("mount", "-o", "remount,size=\(sizeBytes)", path)
        guard result.status == 0 else { throw LedgerError(.storage, "remount failed: \(result.error)") }
    }

    func remountReadOnly() throws {
        let result = try Shell.run("mount", "-o", "remount,ro", path)
        guard result.status == 0 else { throw LedgerError(.storage, "remount failed: \(result.error)") }
    }

    func unmount() {
        _ = try? Shell.run("umount", path)
        try? FileManager.default.removeItem(atPath: path)
    }
}

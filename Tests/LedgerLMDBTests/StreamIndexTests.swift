import CLMDB
import Foundation
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import InMemoryLogging
import Logging
import Testing

/// The stream index is written behind the log (`index/`, its own LMDB environment). Stream reads
/// must be exact whichever part of a stream is indexed, still in the writer's tail, or only in
/// the log; and an index that is missing, behind, ahead or from another log must be rebuilt.
@Suite struct StreamIndexTests {
    static func events(_ range: Range<Int>, streams: Int) -> [ProposedEvent] {
        range.map { EventStoreConformance.sampleEvent(stream: "run:r\($0 % streams)", index: $0) }
    }

    /// Every stream read a test makes, checked against the log itself.
    static func expectStreamsMatchLog(_ store: LMDBEventStore, streams: Int, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var expected: [String: [UInt64]] = [:]
        try store.forEachEvent { event in
            expected[event.stream, default: []].append(event.seq)
            return true
        }
        for index in 0..<streams {
            let stream = "run:r\(index)"
            let seqs = expected[stream] ?? []
            #expect(try store.streamVersion(stream) == UInt64(seqs.count), sourceLocation: sourceLocation)
            let read = try store.readStream(stream, fromVersion: 1, toVersion: .max, maxCount: .max)
            #expect(read.map(\.seq) == seqs, sourceLocation: sourceLocation)
            #expect(read.map(\.version) == Array(1...UInt64(max(seqs.count, 1))).prefix(seqs.count).map { $0 }, sourceLocation: sourceLocation)
            if seqs.count >= 4 {
                let middle = try store.readStream(stream, fromVersion: 2, toVersion: 3, maxCount: 10)
                #expect(middle.map(\.seq) == Array(seqs[1...2]), sourceLocation: sourceLocation)
            }
        }
    }

    @Test func readsAreExact_fromTheTail_theIndex_andALogScan() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        try await store.append(Self.events(0..<300, streams: 7))
        // Just appended: in the writer's tail (the indexer waits for a batch or 100 ms).
        try Self.expectStreamsMatchLog(store, streams: 8)
        store.close()
        // Closed cleanly: everything is in the index, nothing left to scan.
        let older = directory.child("index-at-300")
        try FileManager.default.copyItem(atPath: directory.child("index"), toPath: older)
        let reopened = try LMDBEventStore.open(at: directory.path)
        try Self.expectStreamsMatchLog(reopened, streams: 8)
        try await reopened.append(Self.events(300..<350, streams: 7))
        try Self.expectStreamsMatchLog(reopened, streams: 8)
        #expect(try reopened.verify().isIntact)
        reopened.close()
        // An index behind the log (as another process sees it while the writer's tail is
        // unindexed): a reader combines it with a scan of the log above its watermark.
        try FileManager.default.removeItem(atPath: directory.child("index"))
        try FileManager.default.moveItem(atPath: older, toPath: directory.child("index"))
        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        try Self.expectStreamsMatchLog(reader, streams: 8)
        #expect(try reader.verify().isIntact)
        reader.close()
        // The writer catches the index up at open.
        let writer = try LMDBEventStore.open(at: directory.path)
        defer { writer.close() }
        try Self.expectStreamsMatchLog(writer, streams: 8)
    }

    @Test func aReaderInTheWritersProcess_sharesItsEnvironments_andOutlivesIt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let writer = try LMDBEventStore.open(at: directory.path)
        try await writer.append(Self.events(0..<200, streams: 5))
        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        try Self.expectStreamsMatchLog(reader, streams: 6)  // the writer's unindexed tail included
        // Appends keep working while the reader holds the shared environments, and it sees them.
        for round in 0..<20 {
            try await writer.append(Self.events(200 + round * 50..<250 + round * 50, streams: 5))
            #expect(try reader.head().seq == UInt64(250 + round * 50))
        }
        try Self.expectStreamsMatchLog(reader, streams: 6)
        writer.close()
        // The reader keeps reading after the writer closed (the environments close with the last store).
        try Self.expectStreamsMatchLog(reader, streams: 6)
        #expect(try reader.verify().isIntact)
        // And a new writer can open while the reader is still open.
        let second = try LMDBEventStore.open(at: directory.path)
        try await second.append(Self.events(1_200..<1_300, streams: 5))
        try Self.expectStreamsMatchLog(reader, streams: 6)
        reader.close()
        try Self.expectStreamsMatchLog(second, streams: 6)
        second.close()
    }

    @Test func expectedVersions_holdAcrossTheIndexAndTheTail() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await makeLedger(at: directory.path, Self.events(0..<10, streams: 1))
        let store = try LMDBEventStore.open(at: directory.path)
        defer { store.close() }
        // Version 10 is in the index only.
        await #expect(throws: LedgerError.self) {
            try await store.append([EventStoreConformance.sampleEvent(stream: "run:r0", index: 99)], expecting: ["run:r0": .exactly(9)])
        }
        _ = try await store.append([EventStoreConformance.sampleEvent(stream: "run:r0", index: 10)], expecting: ["run:r0": .exactly(10)])
        // Version 11 is in the tail only.
        await #expect(throws: LedgerError.self) {
            try await store.append([EventStoreConformance.sampleEvent(stream: "run:r0", index: 98)], expecting: ["run:r0": .noStream])
        }
        _ = try await store.append([EventStoreConformance.sampleEvent(stream: "run:r0", index: 11)], expecting: ["run:r0": .exactly(11)])
        #expect(try store.streamVersion("run:r0") == 12)
    }

    @Test func aLargeBacklog_isIndexedInBatches_andReadsStayExactMeanwhile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(durability: .noSync))
        for chunk in 0..<10 {
            try await store.append(Self.events(chunk * 10_000..<(chunk + 1) * 10_000, streams: 997))
        }
        try Self.expectStreamsMatchLog(store, streams: 20)
        #expect(try store.verify().isIntact)
        store.close()
        let reopened = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        defer { reopened.close() }
        try Self.expectStreamsMatchLog(reopened, streams: 20)
        #expect(try reopened.verify().isIntact)
    }

    @Test func aDeletedIndex_isRebuiltFromTheLog() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await makeLedger(at: directory.path, Self.events(0..<500, streams: 13))
        try FileManager.default.removeItem(atPath: directory.child("index"))
        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        try Self.expectStreamsMatchLog(reader, streams: 13)  // no index at all: a scan, still exact
        reader.close()
        let reopened = try LMDBEventStore.open(at: directory.path)
        defer { reopened.close() }
        try Self.expectStreamsMatchLog(reopened, streams: 13)
        #expect(try reopened.verify().isIntact)
    }

    /// The writer commits the index without fsync, behind a marker of the boot it writes in. A
    /// clean close syncs the index and removes the marker. A marker from another boot means the
    /// machine went down while the index was unsynced, so its pages may be torn: readers must not
    /// read it (they scan the log) and the next writer rebuilds it.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/proc/sys/kernel/random/boot_id")))
    func anIndexLeftUnsyncedByAnotherBoot_isNeverRead_andIsRebuilt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let marker = directory.child("index/unsynced")
        let bootID = try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let store = try LMDBEventStore.open(at: directory.path)
        try await store.append(Self.events(0..<300, streams: 11))
        let marked = try String(contentsOfFile: marker, encoding: .utf8)
        #expect(marked.trimmingCharacters(in: .whitespacesAndNewlines) == bootID, "written before the first unsynced commit")
        store.close()
        #expect(!FileManager.default.fileExists(atPath: marker), "a clean close syncs the index and removes the marker")

        // The machine went down under an unsynced index: a foreign marker, and an index that
        // lies (a torn page could say anything; this one points run:r0 version 1 at run:r1's seq 2).
        var key = Array("run:r0".utf8) + [0]
        withUnsafeBytes(of: UInt64(1).bigEndian) { key.append(contentsOf: $0) }
        try RawLMDB.write(directory.child("index"), database: "streams", key: key, value: withUnsafeBytes(of: UInt64(2).littleEndian) { Array($0) })
        try "00000000-0000-4000-8000-000000000000\n".write(toFile: marker, atomically: false, encoding: .utf8)

        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        try Self.expectStreamsMatchLog(reader, streams: 11)  // from the log, not the torn index
        try IDIndexTests.expectIDsMatchLog(reader)
        reader.close()
        #expect(FileManager.default.fileExists(atPath: marker), "a reader changes nothing")

        let writer = try LMDBEventStore.open(at: directory.path)
        try Self.expectStreamsMatchLog(writer, streams: 11)
        try IDIndexTests.expectIDsMatchLog(writer)
        #expect(try writer.verify().isIntact, "the index was rebuilt from the log")
        #expect(try String(contentsOfFile: marker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == bootID)
        try await writer.append(Self.events(300..<350, streams: 11))
        writer.close()
        #expect(!FileManager.default.fileExists(atPath: marker))
        let stat = try await offPool { try Shell.run("mdb_stat", "-a", directory.child("index")) }
        #expect(stat.output.contains("Entries: 350"), "every event is in the rebuilt index")
    }

    @Test func anIndexFromAnotherLedger_isDetectedAndRebuilt() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = directory.child("first")
        let second = directory.child("second")
        for (path, streams) in [(first, 3), (second, 5)] {
            try await makeLedger(at: path, Self.events(0..<200, streams: streams))
        }
        // Same length, different events: the watermark's chain hash tells them apart.
        try FileManager.default.removeItem(atPath: first + "/index")
        try FileManager.default.copyItem(atPath: second + "/index", toPath: first + "/index")
        let store = try LMDBEventStore.open(at: first)
        defer { store.close() }
        try Self.expectStreamsMatchLog(store, streams: 5)
        #expect(try store.verify().isIntact)
    }

    @Test func anIndexAheadOfTheLog_failsVerification_andIsRebuiltByTheWriter() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let short = directory.child("short")
        let long = directory.child("long")
        for (path, count) in [(short, 100), (long, 300)] {
            try await makeLedger(at: path, Self.events(0..<count, streams: 4))
        }
        try FileManager.default.removeItem(atPath: short + "/index")
        try FileManager.default.copyItem(atPath: long + "/index", toPath: short + "/index")
        let reader = try LMDBEventStore.open(at: short, options: LMDBOptions(readOnly: true))
        let report = try reader.verify()
        #expect(!report.isIntact)
        #expect(report.firstFailure?.reason.contains("past the log's head") == true)
        reader.close()
        let store = try LMDBEventStore.open(at: short)
        defer { store.close() }
        try Self.expectStreamsMatchLog(store, streams: 4)
        #expect(try store.verify().isIntact)
    }

    @Test func aDamagedIndexEntry_failsVerification() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await makeLedger(at: directory.path, Self.events(0..<20, streams: 2))
        // Point run:r0 version 1 at seq 2 (which is run:r1's).
        var key = Array("run:r0".utf8) + [0]
        withUnsafeBytes(of: UInt64(1).bigEndian) { key.append(contentsOf: $0) }
        try RawLMDB.write(directory.child("index"), database: "streams", key: key, value: withUnsafeBytes(of: UInt64(2).littleEndian) { Array($0) })
        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        defer { reader.close() }
        let report = try reader.verify()
        #expect(report.firstFailure?.seq == 1)
        #expect(report.firstFailure?.reason.contains("stream index") == true)
    }

    @Test func aFormat1Ledger_isUpgradedWhenOpenedForWriting() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await makeLedger(at: directory.path, Self.events(0..<100, streams: 6))
        // Make it look like format 1: the marker, an old in-environment stream index, no index/.
        try RawLMDB.write(directory.path, database: "meta", key: "format", value: withUnsafeBytes(of: UInt32(1).littleEndian) { Array($0) })
        try RawLMDB.write(directory.path, database: "streams", key: Array("run:r0".utf8), value: [1, 2, 3])
        try FileManager.default.removeItem(atPath: directory.child("index"))
        let upgraded = try LMDBEventStore.open(at: directory.path)
        try Self.expectStreamsMatchLog(upgraded, streams: 6)
        #expect(try upgraded.verify().isIntact)
        upgraded.close()
        let stat = try await offPool { [path = directory.path] in try Shell.run("mdb_stat", "-a", path) }
        #expect(!stat.output.contains("Status of streams"))
    }

    /// The disk under `index/` fills up while the log's does not: the indexer cannot write, but
    /// appends are still acknowledged durably (the tail holds what the index lacks, up to
    /// `Limits.streamIndexLagEventCountMax`), reads stay exact, and the operator is warned through
    /// the ledger's logger. Once there is room again the indexer catches up by itself (and says
    /// so); an index lost altogether is rebuilt from the log by the next writer.
    @Test(.enabled(if: TmpfsMount.isAvailable, "mounting a small tmpfs needs root"))
    func aFullDiskUnderTheIndex_losesNothing_warnsOnce_andTheIndexCatchesUpOnceThereIsRoom() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let indexPath = directory.child("index")
        try FileManager.default.createDirectory(atPath: indexPath, withIntermediateDirectories: false)
        let mount = try TmpfsMount(sizeBytes: 256 << 10, at: indexPath)
        var mounted = true
        defer { if mounted { mount.unmount() } }
        let log = InMemoryLogHandler()
        let store = try LMDBEventStore.open(
            at: directory.path, options: LMDBOptions(logger: Logger(label: "test", factory: { _ in log })))
        var appended = 0
        for batch in 0..<40 {
            try await store.append(Self.events(batch * 500..<(batch + 1) * 500, streams: 97))
            appended += 500
        }
        // 20,000 index entries of each kind do not fit in 256 KiB: the index stops short. The
        // indexer tries once the first pending event has waited a second.
        for _ in 0..<200 where !log.entries.contains(where: { $0.level == .warning }) {
            try await Task.sleep(for: .milliseconds(50))
        }
        let stat = try await offPool { try Shell.run("mdb_stat", "-a", indexPath) }
        #expect(!stat.output.contains("Entries: \(appended)"), "the index cannot hold every event")
        #expect(try store.head().seq == UInt64(appended))
        try Self.expectStreamsMatchLog(store, streams: 98)
        try IDIndexTests.expectIDsMatchLog(store)
        let warnings = log.entries.filter { $0.level == .warning }
        #expect(warnings.count == 1, "one warning, not one per retry: \(log.entries)")
        #expect(warnings.first?.message.description.contains("the stream and id index cannot be written") == true)
        #expect(warnings.first?.metadata["index"] == "\(indexPath)")

        // Room again: the indexer's next retry writes everything pending, and it says so.
        try mount.resize(to: 64 << 20)
        var caughtUp = false
        for _ in 0..<100 where !caughtUp {
            try await Task.sleep(for: .milliseconds(50))
            caughtUp = log.entries.contains { $0.level == .notice && $0.message.description.contains("written again") }
        }
        #expect(caughtUp, "the indexer resumes once there is room: \(log.entries)")
        let indexed = try await offPool { try Shell.run("mdb_stat", "-a", indexPath) }
        #expect(indexed.output.contains("Entries: \(appended)"), "every event is indexed once there is room")
        try Self.expectStreamsMatchLog(store, streams: 98)
        try IDIndexTests.expectIDsMatchLog(store)
        try await store.append(Self.events(appended..<(appended + 10), streams: 97))
        appended += 10
        store.close()
        mount.unmount()
        mounted = false
        try FileManager.default.createDirectory(atPath: indexPath, withIntermediateDirectories: false)
        let reopened = try LMDBEventStore.open(at: directory.path)
        defer { reopened.close() }
        #expect(try reopened.head().seq == UInt64(appended))
        try Self.expectStreamsMatchLog(reopened, streams: 98)
        try IDIndexTests.expectIDsMatchLog(reopened)
        #expect(try reopened.verify().isIntact)
    }
}

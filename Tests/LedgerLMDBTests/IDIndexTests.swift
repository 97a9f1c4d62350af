import CLMDB
import Foundation
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

/// Event ids are indexed behind the log (`index/`, database `ids`), like stream positions. An id
/// look-up — idempotent appends, `event(id:)`, `containsEvents` — must be exact whether the id is
/// indexed, still in the writer's tail, or only in the log; and a ledger from format 2, whose ids
/// were indexed in the log's own environment, is read correctly and upgraded when opened to write.
@Suite struct IDIndexTests {
    static func events(_ range: Range<Int>) -> [ProposedEvent] {
        range.map { EventStoreConformance.sampleEvent(stream: "run:r\($0 % 7)", index: $0) }
    }

    /// Every stored id is found at its seq, and ids never stored are not.
    static func expectIDsMatchLog(_ store: LMDBEventStore, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var stored: [(EventID, UInt64)] = []
        try store.forEachEvent { event in
            stored.append((event.id, event.seq))
            return true
        }
        let unknown = (0..<20).map { EventID(high: 0xFFFF_0000 + UInt64($0), low: 42) }
        let found = try store.containsEvents(ids: stored.map(\.0) + unknown)
        #expect(found == Array(repeating: true, count: stored.count) + Array(repeating: false, count: unknown.count), sourceLocation: sourceLocation)
        for (id, seq) in stored where seq % 13 == 1 || seq == UInt64(stored.count) {
            #expect(try store.event(id: id)?.seq == seq, sourceLocation: sourceLocation)
        }
        #expect(try store.event(id: unknown[0]) == nil, sourceLocation: sourceLocation)
    }

    /// Appending stored events again writes nothing and answers with their stored positions.
    static func expectReappendIsIdempotent(_ store: LMDBEventStore, _ events: [ProposedEvent]) async throws {
        let head = try store.head().seq
        let again = try await store.append(events)
        #expect(again.positions.allSatisfy { $0.isDuplicate })
        #expect(try store.head().seq == head)
    }

    /// The writer skips the index search for ids above the highest indexed one: ids below it, equal
    /// to it and above it must all be told apart exactly, new or stored.
    @Test func reappendingIndexedIDs_isExact_belowAtAndAboveTheHighestIndexedID() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        func event(_ high: UInt64) -> ProposedEvent {
            var event = EventStoreConformance.sampleEvent(stream: "run:edge", index: Int(high))
            event.id = EventID(high: high, low: 7)
            return event
        }
        let store = try LMDBEventStore.open(at: directory.path)
        try await store.append([event(1), event(5), event(9)])
        store.close()  // closed cleanly: the ids are in the index, none in the tail
        let reopened = try LMDBEventStore.open(at: directory.path)
        defer { reopened.close() }
        let result = try await reopened.append([event(1), event(10), event(9), event(3), event(5)])
        #expect(result.positions.map(\.isDuplicate) == [true, false, true, false, true])
        #expect(result.positions.map(\.seq) == [1, 4, 3, 5, 2])
        #expect(try reopened.head().seq == 5)
        try Self.expectIDsMatchLog(reopened)
    }

    /// The tail looks a time-ordered id up in the few last commits whose ids reach as high (each
    /// searched by its own sorted ids), and any other id in its table of every commit. Ids in
    /// overlapping commits, in the gaps between a commit's ids, far below, and after one commit's
    /// id jumped above every later one: repeats are all found at their seqs, and new ids never are.
    @Test func tailLookUps_ofRecentAndOldIDs_areExact_whicheverWayTheyAreSearched() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        defer { store.close() }
        func event(_ high: UInt64, _ low: UInt64 = 1) -> ProposedEvent {
            var event = EventStoreConformance.sampleEvent(stream: "run:r\(high % 5)", index: Int(high &* 31 &+ low))
            event.id = EventID(high: high, low: low)
            return event
        }
        // Commit c holds ids c*10, c*10+3, …, c*10+12: each overlaps the next one's.
        var seqOf: [EventID: UInt64] = [:]
        func commit(_ events: [ProposedEvent]) async throws {
            let result = try await store.append(events)
            #expect(result.positions.allSatisfy { !$0.isDuplicate })
            for (event, position) in zip(events, result.positions) { seqOf[event.id] = position.seq }
        }
        for c in 1...30 { try await commit((0..<5).map { event(UInt64(c * 10 + $0 * 3)) }) }

        func expectExact(_ probes: [ProposedEvent], sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let head = try store.head().seq
            let result = try await store.append(probes)
            var next = head
            for (probe, position) in zip(probes, result.positions) {
                if let stored = seqOf[probe.id] {
                    #expect(position.isDuplicate && position.seq == stored, "\(probe.id)", sourceLocation: sourceLocation)
                } else {
                    next += 1
                    #expect(!position.isDuplicate && position.seq == next, "\(probe.id)", sourceLocation: sourceLocation)
                    seqOf[probe.id] = position.seq
                }
            }
        }
        // Recent ids (the last commits: sorted search), gaps between them, old ids (the table).
        try await expectExact([event(300), event(312), event(301), event(290), event(302, 9), event(299), event(306)])
        try await expectExact([event(30), event(11), event(10), event(5), event(151), event(150), event(312), event(2)])
        // One id far above the rest: every later commit's ids now lie below the highest so far.
        try await commit([event(10_000)])
        for c in 31...34 { try await commit((0..<5).map { event(UInt64(c * 10 + $0 * 3)) }) }
        try await expectExact([event(340), event(341), event(10_000), event(9_999), event(352), event(333), event(20), event(21)])
        try Self.expectIDsMatchLog(store)
        #expect(try store.verify().isIntact)
    }

    /// The writer's tail builds its look-up tables (by id, by stream) on first use and extends them
    /// with the commits that arrive after: ids, stream versions and stream reads from commits
    /// before and after each look-up are all exact, and repeats of either are recognised.
    @Test func tailLookUps_interleavedWithCommits_stayExact() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        defer { store.close() }
        var appended: [ProposedEvent] = []
        for round in 0..<6 {
            let batch = Self.events(round * 40..<(round + 1) * 40)
            let result = try await store.append(batch)
            #expect(result.positions.allSatisfy { !$0.isDuplicate })
            appended += batch
            try Self.expectIDsMatchLog(store)
            for stream in 0..<7 {
                let name = "run:r\(stream)"
                let expected = appended.filter { $0.stream == name }
                #expect(try store.streamVersion(name) == UInt64(expected.count))
                let read = try store.readStream(name, fromVersion: 1, toVersion: .max, maxCount: 1_000)
                #expect(read.map(\.id) == expected.map(\.id))
                #expect(read.map(\.version) == Array(1...UInt64(expected.count)))
            }
            try await Self.expectReappendIsIdempotent(store, Array(batch[0..<5]) + (round > 0 ? Array(appended[0..<3]) : []))
        }
        #expect(try store.verify().isIntact)
    }

    @Test func idLookups_areExact_fromTheTail_theIndex_andALogScan() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = Self.events(0..<300)
        let store = try LMDBEventStore.open(at: directory.path)
        try await store.append(first)
        // Just appended: the ids are in the writer's tail.
        try Self.expectIDsMatchLog(store)
        try await Self.expectReappendIsIdempotent(store, Array(first[10..<20]))
        store.close()
        // Closed cleanly: everything is in the index.
        let older = directory.child("index-at-300")
        try FileManager.default.copyItem(atPath: directory.child("index"), toPath: older)
        let reopened = try LMDBEventStore.open(at: directory.path)
        try Self.expectIDsMatchLog(reopened)
        try await Self.expectReappendIsIdempotent(reopened, Array(first[0..<5]) + Array(first[295..<300]))
        let second = Self.events(300..<350)
        try await reopened.append(second)
        try Self.expectIDsMatchLog(reopened)
        #expect(try reopened.verify().isIntact)
        reopened.close()
        // An index behind the log (what another process sees while the writer's tail is not yet
        // indexed): the ids above its watermark come from a scan of the log.
        try FileManager.default.removeItem(atPath: directory.child("index"))
        try FileManager.default.moveItem(atPath: older, toPath: directory.child("index"))
        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        try Self.expectIDsMatchLog(reader)
        #expect(try reader.verify().isIntact)
        reader.close()
        // The writer catches the index up at open, and a repeated id above the old watermark is
        // still recognised.
        let writer = try LMDBEventStore.open(at: directory.path)
        defer { writer.close() }
        try await Self.expectReappendIsIdempotent(writer, Array(second[40..<50]))
        try Self.expectIDsMatchLog(writer)
    }

    /// One id appended by many callers at once, several landing in one group commit: stored once,
    /// and every caller is told where. Half of them append it alone and half as a batch of one,
    /// which reach the writer by different paths.
    @Test func oneIdAppendedConcurrently_isStoredOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        defer { store.close() }
        try await store.append(Self.events(0..<10))
        for round in 0..<5 {
            let event = EventStoreConformance.sampleEvent(stream: "run:shared", index: 1_000 + round)
            let seqs = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for caller in 0..<50 {
                    group.addTask {
                        let result = caller.isMultiple(of: 2) ? try await store.append(event) : try await store.append([event])
                        return result.positions[0].seq
                    }
                }
                return try await group.reduce(into: Set<UInt64>()) { $0.insert($1) }
            }
            #expect(seqs.count == 1, "every caller gets the one stored seq")
            #expect(try store.head().seq == UInt64(11 + round))
        }
        #expect(try store.streamVersion("run:shared") == 5)
        #expect(try store.verify().isIntact)
    }

    /// A format-2 ledger: its ids are indexed in the log's environment (database `ids`) and its
    /// `index/` has no ids. Read as it is, then upgraded by the first writable open.
    @Test func aFormat2Ledger_isReadAsItIs_andUpgradedWhenOpenedForWriting() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let events = Self.events(0..<120)
        try await makeLedger(at: directory.path, events)
        try RawLMDB.write(directory.path, database: "meta", key: "format", value: withUnsafeBytes(of: UInt32(2).littleEndian) { Array($0) })
        try RawLMDB.write(directory.path, database: "ids", key: [UInt8](repeating: 7, count: 16), value: [1, 0, 0, 0, 0, 0, 0, 0])
        try RawLMDB.drop(directory.child("index"), database: "ids")

        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        try Self.expectIDsMatchLog(reader)  // from the log: the index has no ids
        #expect(try reader.verify().isIntact)
        reader.close()

        let upgraded = try LMDBEventStore.open(at: directory.path)
        try Self.expectIDsMatchLog(upgraded)
        try await Self.expectReappendIsIdempotent(upgraded, Array(events[50..<60]))
        try await upgraded.append(Self.events(120..<130))
        #expect(try upgraded.verify().isIntact)
        upgraded.close()
        let path = directory.path
        let log = try await offPool { try Shell.run("mdb_stat", "-a", path) }
        #expect(!log.output.contains("Status of ids"), "the old id index is dropped")
        let index = try await offPool { try Shell.run("mdb_stat", "-a", path + "/index") }
        #expect(index.output.contains("Status of ids"))
        #expect(index.output.components(separatedBy: "Entries: 130").count == 4, "130 stream, id and occurredAt entries each")
    }

    /// An id index entry pointing at the wrong event is reported by verify.
    @Test func aDamagedIdEntry_isReportedByVerify() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let events = Self.events(0..<40)
        try await makeLedger(at: directory.path, events)
        let id = events[4].id
        let key = withUnsafeBytes(of: (id.high.bigEndian, id.low.bigEndian)) { Array($0) }
        try RawLMDB.write(directory.child("index"), database: "ids", key: key, value: withUnsafeBytes(of: UInt64(9).littleEndian) { Array($0) })
        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        defer { reader.close() }
        let report = try reader.verify()
        #expect(report.firstFailure?.seq == 5)
        #expect(report.firstFailure?.reason.contains("id index") == true)
    }
}

import Foundation
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

/// The occurredAt index lives in `index/` and is written behind the log (format 4): occurred-time
/// scans must be exact whether the events they need are indexed, still only in the log, or both,
/// and a format-3 ledger (whose log kept the index) is read as it is, then upgraded.
@Suite struct OccurredIndexTests {
    /// Events whose occurredAt goes back and forth (late and early reports), so that the index's
    /// key order is not the log's.
    static func events(_ range: Range<Int>) -> [ProposedEvent] {
        range.map { index in
            let minutes = Int64((index &* 7_919) % 1_000)
            return EventStoreConformance.sampleEvent(
                stream: "run:r\(index % 5)", index: index,
                occurredAt: LedgerTime(nanosecondsSinceEpoch: 1_800_000_000_000_000_000 + minutes * 60_000_000_000))
        }
    }

    /// Each scan visits exactly the events that occurred by then, in seq order, for times that
    /// take the index path (few events) and the scan path (most of them).
    static func expectScansExact(_ store: LMDBEventStore, sourceLocation: SourceLocation = #_sourceLocation) throws {
        var all: [(seq: UInt64, occurredAt: LedgerTime)] = []
        try store.forEachEvent { event in
            all.append((event.seq, event.occurredAt))
            return true
        }
        let times = all.map(\.occurredAt).sorted()
        for time in [times[0], times[2], times[times.count / 10], times[times.count / 2], times[times.count - 1], .distantPast] {
            for through in [UInt64.max, UInt64(all.count / 3)] {
                var seen: [UInt64] = []
                try store.scanEncodedEvents(occurredAtOrBefore: time, through: through) { bytes in
                    seen.append(EventCodec.seq(in: bytes))
                    return true
                }
                let expected = all.filter { $0.occurredAt <= time && $0.seq <= through }.map(\.seq)
                #expect(seen == expected, "occurred by \(time), through \(through)", sourceLocation: sourceLocation)
            }
        }
    }

    /// As `mdb_stat` sees the closed ledger at `path`: no occurredAt index in the log's
    /// environment, and `events` stream, id and occurredAt entries each in `index/`.
    static func expectIndexedInIndexOnly(
        _ path: String, events: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let log = try await offPool { try Shell.run("mdb_stat", "-a", path) }
        #expect(!log.output.contains("Status of occurred"), "no occurredAt index in the log's environment", sourceLocation: sourceLocation)
        let index = try await offPool { try Shell.run("mdb_stat", "-a", path + "/index") }
        #expect(
            index.output.components(separatedBy: "Entries: \(events)").count == 4, "\(events) stream, id and occurredAt entries each",
            sourceLocation: sourceLocation)
    }

    @Test func occurredScans_areExact_fromTheLog_fromTheIndex_andFromBoth() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        try await store.append(Self.events(0..<400))
        try Self.expectScansExact(store)  // just written: the indexer has not caught up (log)
        store.close()

        let reopened = try LMDBEventStore.open(at: directory.path)  // all indexed at close (index)
        try Self.expectScansExact(reopened)
        try await reopened.append(Self.events(400..<600))
        try Self.expectScansExact(reopened)  // indexed below the watermark, the rest from the log
        #expect(try reopened.verify().isIntact)
        reopened.close()
        try await Self.expectIndexedInIndexOnly(directory.path, events: 600)
    }

    /// A format-3 ledger: its occurredAt index is in the log's environment and its `index/` has
    /// none. Read as it is (by scanning the log), then upgraded by the first writable open.
    @Test func aFormat3Ledger_isReadAsItIs_andUpgradedWhenOpenedForWriting() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await makeLedger(at: directory.path, Self.events(0..<120))
        try RawLMDB.write(directory.path, database: "meta", key: "format", value: withUnsafeBytes(of: UInt32(3).littleEndian) { Array($0) })
        try RawLMDB.write(directory.path, database: "occurred", key: [UInt8](repeating: 0, count: 16), value: [])
        try RawLMDB.drop(directory.child("index"), database: "occurred")

        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        try Self.expectScansExact(reader)
        #expect(try reader.verify().isIntact)
        reader.close()

        let upgraded = try LMDBEventStore.open(at: directory.path)
        try Self.expectScansExact(upgraded)
        try await upgraded.append(Self.events(120..<130))
        try Self.expectScansExact(upgraded)
        #expect(try upgraded.verify().isIntact)
        upgraded.close()
        try await Self.expectIndexedInIndexOnly(directory.path, events: 130)  // the old index dropped
    }

    /// An occurredAt entry missing from the index is reported by verify.
    @Test func aMissingOccurredEntry_isReportedByVerify() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let events = Self.events(0..<40)
        try await makeLedger(at: directory.path, events)
        let flipped = UInt64(bitPattern: events[6].occurredAt.nanosecondsSinceEpoch) ^ (1 << 63)
        let key = withUnsafeBytes(of: (flipped.bigEndian, UInt64(7).bigEndian)) { Array($0) }
        try RawLMDB.delete(directory.child("index"), database: "occurred", key: key)
        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        defer { reader.close() }
        let report = try reader.verify()
        #expect(report.firstFailure?.seq == 7)
        #expect(report.firstFailure?.reason.contains("occurredAt index") == true)
    }
}

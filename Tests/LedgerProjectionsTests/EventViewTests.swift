import LedgerCore
import LedgerLMDB
@testable import LedgerProjections
import SpendLedgerTestKit
import Testing

/// The zero-copy view reads exactly what the decoder reads, and refuses what it refuses.
@Suite struct EventViewTests {
    static func sample(_ index: Int) -> ProposedEvent {
        var random = WorkloadRandom(seed: UInt64(index))
        func maybe(_ text: String) -> String? { random.next() % 3 == 0 ? nil : text + String(random.next() % 100) }
        return ProposedEvent(
            stream: "run:r\(index)", type: index % 2 == 0 ? "usage.recorded" : "run.started",
            schema: UInt16(index % 3), occurredAt: LedgerTime(nanosecondsSinceEpoch: Int64(index) * 1_000 - 500),
            dimensions: Dimensions(
                agent: maybe("agent"), client: maybe("client"), project: maybe("p"), task: maybe("t"), run: maybe("r"),
                model: maybe("m"), vendor: maybe("v"), environment: maybe("env"), owner: maybe("o"),
                causation: random.next() % 2 == 0 ? EventID(high: random.next(), low: random.next()) : nil,
                correlation: random.next() % 2 == 0 ? EventID(high: random.next(), low: random.next()) : nil),
            metadata: random.next() % 2 == 0 ? ["b": "2", "a": "1", "ü": "x"] : [:],
            payloadEncoding: index % 2 == 0 ? .binary : .json, payload: Array(repeating: UInt8(index & 0xFF), count: index % 70))
    }

    @Test func everyFieldReadInPlace_equalsTheDecodedEvent() throws {
        for index in 0..<200 {
            let (bytes, hash) = EventCodec.encode(
                Self.sample(index), seq: UInt64(index + 1), version: 3, recordedAt: LedgerTime(nanosecondsSinceEpoch: 99), previous: .genesis)
            try bytes.withUnsafeBytes { raw in
                let view = try EventView(raw)
                let event = try view.decoded()
                #expect(view.seq == event.seq && view.version == event.version && view.id == event.id)
                #expect(view.recordedAt == event.recordedAt && view.occurredAt == event.occurredAt)
                #expect(view.schema == event.schema && view.payloadEncoding == event.payloadEncoding)
                #expect(view.hash == hash && view.streamName == event.stream && view.typeName == event.type)
                #expect(Array(view.payload) == event.payload)
                #expect(view.causation == event.dimensions.causation && view.correlation == event.dimensions.correlation)
                for field in 0..<9 {
                    #expect(view.dimension(field).map(EventView.string) == event.dimensions[field: field])
                }
                for (key, value) in event.metadata { #expect(view.metadataValue(forKey: key) == value) }
                #expect(view.metadataValue(forKey: "missing") == nil)
                #expect(view.hasType("usage.recorded") == (event.type == "usage.recorded"))
                #expect(view.streamHasPrefix("run:"))
            }
        }
    }

    @Test func truncatedOrAlteredLengths_areRefused_neverReadOutOfBounds() throws {
        let (bytes, _) = EventCodec.encode(Self.sample(10), seq: 1, version: 1, recordedAt: .epoch, previous: .genesis)
        for cut in [0, 10, 60, bytes.count / 2, bytes.count - 1] {
            let prefix = Array(bytes.prefix(cut))
            #expect(throws: LedgerError.self) { try prefix.withUnsafeBytes { _ = try EventView($0) } }
        }
        var longer = bytes
        longer.insert(0, at: bytes.count - 32)
        #expect(throws: LedgerError.self) { try longer.withUnsafeBytes { _ = try EventView($0) } }
        var badFormat = bytes
        badFormat[0] = 9
        let error = #expect(throws: LedgerError.self) { try badFormat.withUnsafeBytes { _ = try EventView($0) } }
        #expect(error?.code == .unsupportedFormat)
    }

    @Test func theLMDBOccurredScan_visitsExactlyTheEventsThatOccurredByThen_inSeqOrder() async throws {
        let ledger = try TestLedger(.lmdb)
        var workload = ProjectionWorkload()
        try await ledger.append(workload.next(600))
        let events = try await ledger.all()
        let store = try #require(ledger.lmdb)
        let sorted = events.map(\.occurredAt).sorted()
        // A few events (index path) and most of them (scan path).
        for time in [sorted[3], sorted[40], sorted[300], sorted[590], LedgerTime.distantFuture, LedgerTime.distantPast] {
            var seen: [UInt64] = []
            try store.scanEncodedEvents(occurredAtOrBefore: time, through: .max) { bytes in
                seen.append(EventCodec.seq(in: bytes))
                return true
            }
            #expect(seen == events.filter { $0.occurredAt <= time }.map(\.seq), "\(time)")
            var bounded: [UInt64] = []
            try store.scanEncodedEvents(occurredAtOrBefore: time, through: 100) { bytes in
                bounded.append(EventCodec.seq(in: bytes))
                return true
            }
            #expect(bounded == events.filter { $0.occurredAt <= time && $0.seq <= 100 }.map(\.seq))
        }
    }
}

import LedgerCore
import SpendLedgerTestKit
import Testing

/// The write path's own tables and its one-call chain hash, each held against the obvious
/// implementation it replaces (`Dictionary`, `Set`, `Crypto.SHA256`).
@Suite("Write-path tables")
struct WritePathTablesTests {
    /// Deterministic ids: random ones, and ones a producer might number by hand.
    static func ids(_ count: Int, seed: UInt64) -> [EventID] {
        var random = WorkloadRandom(seed: seed)
        return (0..<count).map { index in
            index % 3 == 0 ? EventID(high: 0, low: UInt64(index)) : EventID.generate(at: LedgerTime(nanosecondsSinceEpoch: 1_700_000_000_000_000_000), using: &random)
        }
    }

    @Test func theOneCallChainHash_equalsCryptosSHA256_atEveryLength() {
        var random = WorkloadRandom(seed: 7)
        var previous = ChainHash.genesis
        for length in Array(0...300) + [1_000, 4_095, 4_096, 65_537] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            let fast = bytes.withUnsafeBytes { previous.chained(with: $0) }
            let reference = bytes.withUnsafeBytes { previous.chainedUsingCrypto(with: $0) }
            #expect(fast == reference, "length \(length)")
            previous = fast
        }
    }

    /// A range hashed on one thread and sealed on another gets the bytes and the chain that sealing
    /// each event in place gives: the template itself is not written to while it is hashed.
    @Test func hashingATemplateApart_thenSealingWithThatHash_equalsSealingInPlace() {
        let events = (0..<40).map { EventStoreConformance.sampleEvent(stream: "run:r\($0 % 3)", index: $0) }
        let recordedAt = LedgerTime(nanosecondsSinceEpoch: 1_700_000_000_123_456_789)
        var inPlace = ChainHash.genesis
        var apart = ChainHash.genesis
        for (index, event) in events.enumerated() {
            var template = [UInt8](repeating: 0, count: EventCodec.encodedSize(of: event))
            template.withUnsafeMutableBytes { EventCodec.encodeTemplate(event, into: $0) }
            let untouched = template
            let (seq, version) = (UInt64(index + 1_000), UInt64(index / 3 + 1))
            apart = template.withUnsafeBytes {
                EventCodec.chainHash(ofTemplate: $0, seq: seq, version: version, recordedAt: recordedAt, previous: apart)
            }
            #expect(template == untouched, "hashing leaves the template as it was")
            var sealedApart = template
            sealedApart.withUnsafeMutableBytes {
                EventCodec.seal($0, seq: seq, version: version, recordedAt: recordedAt, hash: apart)
            }
            var sealedInPlace = template
            inPlace = sealedInPlace.withUnsafeMutableBytes {
                EventCodec.seal($0, seq: seq, version: version, recordedAt: recordedAt, previous: inPlace)
            }
            #expect(apart == inPlace, "event \(index)")
            #expect(sealedApart == sealedInPlace, "event \(index)")
            let decoded = sealedApart.withUnsafeBytes { try? EventCodec.decode($0) }
            #expect(decoded?.seq == seq && decoded?.version == version && decoded?.recordedAt == recordedAt)
        }
    }

    @Test func eventIDTable_findsWhatADictionaryFinds_throughGrowth() {
        let ids = Self.ids(50_000, seed: 1)
        var table = EventIDTable()
        var reference: [EventID: UInt64] = [:]
        for (index, id) in ids.enumerated() {
            let value = UInt64(index) * 7 + 1
            #expect(table.insert(id, value: value) == nil)
            reference[id] = value
        }
        #expect(table.count == ids.count)
        for id in ids { #expect(table[id] == reference[id]) }
        // A second insert keeps the first value and says what it was.
        #expect(table.insert(ids[123], value: 99) == reference[ids[123]])
        #expect(table[ids[123]] == reference[ids[123]])
        #expect(table.count == ids.count)
        for id in Self.ids(1_000, seed: 2) where reference[id] == nil { #expect(table[id] == nil) }
        #expect(EventIDTable()[ids[0]] == nil)
    }

    @Test func batchIDSet_namesTheEarlierPositionOfEveryRepeat() {
        var ids = Self.ids(20_000, seed: 3)
        let repeats = [(of: 0, at: 1), (of: 17, at: 9_999), (of: 5_000, at: 19_999), (of: 19_000, at: 19_001)]
        for (of, at) in repeats { ids[at] = ids[of] }
        var set = BatchIDSet(count: ids.count)
        var firstSeen: [EventID: Int] = [:]
        for (position, id) in ids.enumerated() {
            let earlier = set.insert(id)
            #expect(earlier == firstSeen[id], "position \(position)")
            if firstSeen[id] == nil { firstSeen[id] = position }
        }
        #expect(repeats.allSatisfy { firstSeen[ids[$0.at]] == $0.of })
    }

    @Test func batchStreams_giveEachEventItsStreamsPlaceInFirstAppearanceOrder() {
        var single = BatchStreams()
        for _ in 0..<5 { single.add("run:a", batchCount: 5) }
        #expect(single.count == 1)
        #expect(single.slots.isEmpty)

        // Three events of one stream before a second appears, then 700 streams round robin.
        let names = ["run:first", "run:first", "run:first"] + (0..<5_000).map { "run:r\($0 % 700)-\(String(repeating: "x", count: $0 % 23))" }
        var streams = BatchStreams()
        for name in names { streams.add(name, batchCount: names.count) }
        var order: [String: UInt32] = [:]
        var expected: [UInt32] = []
        for name in names {
            if order[name] == nil { order[name] = UInt32(order.count) }
            expected.append(order[name]!)
        }
        #expect(streams.count == order.count)
        #expect(streams.slots == expected)
    }

    @Test func planningWithTheCallersStreams_isPlanningWithout() throws {
        var events: [ProposedEvent] = []
        for index in 0..<3_000 {
            events.append(EventStoreConformance.sampleEvent(stream: "run:r\((index * 7) % 40)", index: index))
        }
        let templates = try AppendPlanner.validatedTemplates(of: events)
        #expect(templates.streams.count == 40)
        var stored: [EventID: (seq: UInt64, version: UInt64)] = [:]
        for index in stride(from: 5, to: 3_000, by: 97) { stored[events[index].id] = (UInt64(index) + 1, 1) }
        var versions: [String: UInt64] = [:]
        for stream in 0..<40 where stream % 3 == 0 { versions["run:r\(stream)"] = UInt64(stream) * 10 }
        var withStreams = PlanningContext(versions: versions, stored: stored)
        var without = PlanningContext(versions: versions, stored: stored)
        let fast = try AppendPlanner.plan(events, streams: templates.streams, expecting: [:], in: &withStreams)
        let reference = try AppendPlanner.plan(events, expecting: [:], in: &without)
        #expect(fast.positions == reference.positions)
        #expect(fast.newEventCount == reference.newEventCount)
        #expect(fast.lastVersions.map(\.stream) == reference.lastVersions.map(\.stream))
        #expect(fast.lastVersions.map(\.version) == reference.lastVersions.map(\.version))
        #expect(fast.positions.filter(\.isDuplicate).count == stored.count)
        let newInR3 = events.filter { $0.stream == "run:r3" && stored[$0.id] == nil }.count
        #expect(fast.lastVersions.first { $0.stream == "run:r3" }?.version == 30 + UInt64(newInR3))
    }

    @Test func validatedTemplates_areTheCodecsTemplates_andNameTheRepeatedID() throws {
        var events = (0..<50).map { EventStoreConformance.sampleEvent(stream: "run:r\($0 % 4)", index: $0) }
        let templates = try AppendPlanner.validatedTemplates(of: events)
        #expect(templates.starts.count == events.count + 1)
        for (index, event) in events.enumerated() {
            let size = EventCodec.encodedSize(of: event)
            var expected = [UInt8](repeating: 0, count: size)
            expected.withUnsafeMutableBytes { EventCodec.encodeTemplate(event, into: $0) }
            let range = templates.starts[index]..<templates.starts[index + 1]
            #expect(Array(templates.bytes[range].prefix(size - 32)) == Array(expected.prefix(size - 32)))
            #expect(range.count == size)
        }
        events[31].id = events[12].id
        #expect(throws: LedgerError.self) { try AppendPlanner.validatedTemplates(of: events) }
        do {
            _ = try AppendPlanner.validatedTemplates(of: events)
        } catch {
            #expect(error.code == .duplicateIDInBatch)
            #expect(error.batchIndex == 31)
        }
    }
}

/// A planning context over plain dictionaries.
private struct PlanningContext: AppendPlanningContext {
    var versions: [String: UInt64]
    var stored: [EventID: (seq: UInt64, version: UInt64)]

    mutating func currentVersion(of stream: String) throws -> UInt64 { versions[stream] ?? 0 }

    mutating func storedPositions(of ids: [EventID]) throws -> [(seq: UInt64, version: UInt64)?] {
        ids.map { stored[$0] }
    }
}

@testable import LedgerCore
import Testing

/// A scan decodes its events with a table of the short strings it has seen (``DecodedStrings``):
/// the events must be exactly those decoded one by one, whatever the strings' lengths, bytes and
/// collisions in the table.
@Suite struct DecodedStringsTests {
    static let recordedAt = LedgerTime(rfc3339: "2026-11-20T01:02:03Z")!

    /// Strings of every length from 1 to 24 bytes (short ones are kept, longer ones are not),
    /// ASCII and not, differing only in their last byte or only in their length.
    static func name(_ index: Int) -> String {
        let length = 1 + index % 24
        let base = index % 3 == 0 ? "é-\(index)-" : "s\(index)-"
        return String(decoding: String(repeating: base, count: 24).utf8.prefix(length), as: UTF8.self)
    }

    static func event(_ index: Int) -> ProposedEvent {
        ProposedEvent(
            id: EventID(high: 1, low: UInt64(index + 1)), stream: "run:r\(index % 5_000)", type: name(index),
            occurredAt: LedgerTime(nanosecondsSinceEpoch: Int64(index)),
            dimensions: Dimensions(
                agent: name(index * 7), client: index % 2 == 0 ? "acme" : "acme-corporation", run: name(index / 3),
                model: name(index % 40)),
            metadata: index % 5 == 0 ? [name(index): name(index + 1)] : [:],
            payloadEncoding: .json, payload: Array("{}".utf8))
    }

    static func encoded(_ events: [ProposedEvent]) -> [[UInt8]] {
        events.enumerated().map { index, event in
            EventCodec.encode(event, seq: UInt64(index + 1), version: 1, recordedAt: recordedAt, previous: .genesis).bytes
        }
    }

    @Test func aScan_decodesExactlyWhatDecodingEachEventAloneDoes_throughManyCollisions() throws {
        // 20,000 events with over 5,000 distinct streams and thousands of other names: far more
        // than the table's slots, so slots are taken over again and again.
        let stored = Self.encoded((0..<20_000).map(Self.event))
        var strings = DecodedStrings()
        for bytes in stored {
            let alone = try bytes.withUnsafeBytes { try EventCodec.decode($0) }
            let scanned = try bytes.withUnsafeBytes { try EventCodec.decode($0, strings: &strings) }
            #expect(scanned == alone)
            #expect(scanned.stream.utf8.count == alone.stream.utf8.count)
        }
        #expect(strings.isEnabled)
        // A second pass over the same events decodes them from the table alike.
        for (index, bytes) in stored.enumerated() {
            let scanned = try bytes.withUnsafeBytes { try EventCodec.decode($0, strings: &strings) }
            #expect(scanned.proposed == Self.event(index))
        }
    }

    @Test func alteredStringBytes_areRepairedAlike_andNotMistakenForTheStringTheyWere() throws {
        let original = Self.event(1)
        var bytes = Self.encoded([original])[0]
        // Put an invalid UTF-8 byte into the stream name ("run:r1").
        let name = Array(original.stream.utf8)
        let at = try #require(bytes.indices.first { Array(bytes[$0..<($0 + name.count)]) == name })
        var strings = DecodedStrings()
        for _ in 0..<(DecodedStrings.eventsBeforeKeeping + 2) {
            _ = try bytes.withUnsafeBytes { try EventCodec.decode($0, strings: &strings) }
        }
        #expect(strings.isEnabled)
        bytes[at + 1] = 0xFF
        let alone = try bytes.withUnsafeBytes { try EventCodec.decode($0) }
        let scanned = try bytes.withUnsafeBytes { try EventCodec.decode($0, strings: &strings) }
        #expect(alone.stream == "r\u{FFFD}n:r1")
        #expect(scanned.stream == alone.stream)
        let again = try bytes.withUnsafeBytes { try EventCodec.decode($0, strings: &strings) }
        #expect(again.stream == alone.stream)
    }

    @Test func theDisabledTable_neverKeepsStrings() throws {
        var strings = DecodedStrings.disabled
        for bytes in Self.encoded((0..<200).map(Self.event)) {
            _ = try bytes.withUnsafeBytes { try EventCodec.decode($0, strings: &strings) }
        }
        #expect(!strings.isEnabled)
    }
}

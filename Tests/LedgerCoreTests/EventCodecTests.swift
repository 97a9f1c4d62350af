import LedgerCore
import SpendLedgerTestKit
import Testing

@Suite("EventCodec")
struct EventCodecTests {
    static let recordedAt = LedgerTime(rfc3339: "2026-11-20T01:02:03.123456789Z")!

    static let everything = ProposedEvent(
        id: EventID("0b6f2c1e-4d0a-7e58-9d1c-6a3f1b2c3d4e")!, stream: "wallet:agent-7", type: "usage.recorded", schema: 3,
        occurredAt: LedgerTime(rfc3339: "2026-11-20T01:02:00Z")!,
        dimensions: Dimensions(
            agent: "agent-7", client: "acme", project: "site-redesign", task: "summarize-17", run: "run-42",
            model: "gpt-4o-mini", vendor: "openai", environment: "production", owner: "ops",
            causation: EventID(high: 1, low: 2), correlation: EventID(high: 3, low: 4)),
        metadata: ["region": "eu-west-1", "ticket": "INC-42", "note": "ünïcødé ✓"],
        payloadEncoding: .json, payload: Array(#"{"input_tokens":1200,"output_tokens":300,"cost_nanos":372000}"#.utf8))

    static let nothing = ProposedEvent(
        id: EventID(high: 9, low: 9), stream: "s", type: "t", schema: 0, occurredAt: LedgerTime(nanosecondsSinceEpoch: -1),
        payloadEncoding: .binary)

    func roundTrip(
        _ event: ProposedEvent, seq: UInt64 = 7, version: UInt64 = 3, previous: ChainHash = .genesis
    ) throws -> RecordedEvent {
        let (bytes, hash) = EventCodec.encode(event, seq: seq, version: version, recordedAt: Self.recordedAt, previous: previous)
        #expect(bytes.count == EventCodec.encodedSize(of: event))
        let decoded = try bytes.withUnsafeBytes { try EventCodec.decode($0) }
        #expect(decoded.hash == hash)
        return decoded
    }

    @Test func anEventWithEveryDimensionMetadataAndAJSONPayload_decodesToWhatWasEncoded() throws {
        let decoded = try roundTrip(Self.everything)
        #expect(decoded.proposed == Self.everything)
        #expect(decoded.seq == 7)
        #expect(decoded.version == 3)
        #expect(decoded.recordedAt == Self.recordedAt)
    }

    @Test func anEventWithNoDimensionsNoMetadataAndNoPayload_decodesToWhatWasEncoded() throws {
        let decoded = try roundTrip(Self.nothing, seq: 1, version: 1)
        #expect(decoded.proposed == Self.nothing)
        #expect(decoded.dimensions == .none)
        #expect(decoded.metadata.isEmpty)
        #expect(decoded.payload.isEmpty)
    }

    @Test func theSmallestValidEvent_decodes() throws {
        // A one-byte stream and type and no payload: 56 + 3 + 3 + 4 + 32 bytes.
        #expect(EventCodec.encodedSize(of: Self.nothing) == 98)
        #expect(try roundTrip(Self.nothing).proposed == Self.nothing)
    }

    @Test func eachDimensionAlone_decodesIntoItsOwnField() throws {
        for (index, name) in Dimensions.stringFieldNames.enumerated() {
            var event = Self.nothing
            event.dimensions[field: index] = "value-of-\(name)"
            let decoded = try roundTrip(event)
            #expect(decoded.dimensions[named: name] == "value-of-\(name)")
            #expect(decoded.dimensions == event.dimensions, "dimension \(name)")
        }
        var causal = Self.nothing
        causal.dimensions.correlation = EventID(high: 5, low: 6)
        #expect(try roundTrip(causal).dimensions == causal.dimensions)
        causal.dimensions.causation = .zero
        #expect(try roundTrip(causal).dimensions == causal.dimensions)
    }

    @Test func aBinaryPayloadOfEveryByteValue_decodesUnchanged() throws {
        var event = Self.everything
        event.payloadEncoding = .binary
        event.payload = (0..<1_024).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let decoded = try roundTrip(event)
        #expect(decoded.payloadEncoding == .binary)
        #expect(decoded.payload == event.payload)
    }

    @Test func metadataWithTheSameContent_encodesIdenticallyWhateverTheInsertionOrder() {
        let keys = (0..<40).map { "key-\($0)" } + ["B", "a", "é", "Z", "ä", "a-"]
        var forward: [String: String] = [:]
        for key in keys { forward[key] = "value of \(key)" }
        var backward: [String: String] = [:]
        backward.reserveCapacity(1_000)
        for key in keys.reversed() { backward[key] = "value of \(key)" }
        var first = Self.everything
        first.metadata = forward
        var second = Self.everything
        second.metadata = backward
        let a = EventCodec.encode(first, seq: 1, version: 1, recordedAt: Self.recordedAt, previous: .genesis)
        let b = EventCodec.encode(second, seq: 1, version: 1, recordedAt: Self.recordedAt, previous: .genesis)
        #expect(a.bytes == b.bytes)
        #expect(a.hash == b.hash)
    }

    @Test func metadataKeys_areStoredInUTF8ByteOrder() throws {
        var event = Self.nothing
        event.metadata = ["b": "1", "a": "2", "é": "3", "B": "4", "ab": "5"]
        let bytes = EventCodec.encode(event, seq: 1, version: 1, recordedAt: Self.recordedAt, previous: .genesis).bytes
        // After the fixed header, the stream and the type come the key/value pairs.
        var offset = EventCodec.fixedHeaderBytes + 3 + 3
        var keys = [String]()
        for _ in 0..<event.metadata.count {
            for isKey in [true, false] {
                let count = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8
                let text = String(decoding: bytes[(offset + 2)..<(offset + 2 + count)], as: UTF8.self)
                if isKey { keys.append(text) }
                offset += 2 + count
            }
        }
        #expect(keys == ["B", "a", "ab", "b", "é"])
    }

    @Test func theFixedFields_areAtTheirDocumentedOffsets() {
        let (bytes, hash) = EventCodec.encode(
            Self.everything, seq: 42, version: 3, recordedAt: Self.recordedAt, previous: .genesis)
        bytes.withUnsafeBytes { raw in
            #expect(raw[0] == EventCodec.formatVersion)
            #expect(raw[1] == PayloadEncoding.json.rawValue)
            #expect(EventCodec.seq(in: raw) == 42)
            #expect(EventCodec.recordedAt(in: raw) == Self.recordedAt)
            #expect(EventCodec.occurredAt(in: raw) == Self.everything.occurredAt)
            #expect(EventCodec.storedHash(in: raw) == hash)
            #expect(EventCodec.canonicalBytes(in: raw).count == bytes.count - EventCodec.hashBytes)
            #expect(ChainHash.genesis.chained(with: EventCodec.canonicalBytes(in: raw)) == hash)
        }
    }

    @Test func theHash_dependsOnThePreviousHashButTheCanonicalBytesDoNot() {
        let previous = ChainHash.genesis.chained(with: UnsafeRawBufferPointer(start: nil, count: 0))
        let a = EventCodec.encode(Self.everything, seq: 2, version: 1, recordedAt: Self.recordedAt, previous: .genesis)
        let b = EventCodec.encode(Self.everything, seq: 2, version: 1, recordedAt: Self.recordedAt, previous: previous)
        #expect(a.hash != b.hash)
        #expect(a.bytes.dropLast(EventCodec.hashBytes) == b.bytes.dropLast(EventCodec.hashBytes))
    }

    @Test func encodingIntoABuffer_writesTheSameBytesAsEncodingToAnArray() {
        let (bytes, hash) = EventCodec.encode(
            Self.everything, seq: 5, version: 2, recordedAt: Self.recordedAt, previous: .genesis)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: EventCodec.encodedSize(of: Self.everything), alignment: 1)
        defer { buffer.deallocate() }
        let written = EventCodec.encode(
            Self.everything, seq: 5, version: 2, recordedAt: Self.recordedAt, previous: .genesis, into: buffer)
        #expect(written == hash)
        #expect(Array(buffer) == bytes)
    }

    // MARK: Damaged bytes

    func decodeError(_ bytes: [UInt8]) -> LedgerError? {
        do {
            _ = try bytes.withUnsafeBytes { try EventCodec.decode($0) }
            return nil
        } catch let error as LedgerError {
            return error
        } catch {
            Issue.record("decode threw \(error), not a LedgerError")
            return nil
        }
    }

    @Test func everyTruncation_throwsCorrupted() {
        for event in [Self.everything, Self.nothing] {
            let bytes = EventCodec.encode(event, seq: 1, version: 1, recordedAt: Self.recordedAt, previous: .genesis).bytes
            for length in 0..<bytes.count {
                #expect(decodeError(Array(bytes.prefix(length)))?.code == .corrupted, "\(length) of \(bytes.count) bytes")
            }
        }
    }

    @Test func aStrayTrailingByte_throwsCorrupted() {
        let bytes = EventCodec.encode(Self.everything, seq: 1, version: 1, recordedAt: Self.recordedAt, previous: .genesis).bytes
        #expect(decodeError(bytes + [0])?.code == .corrupted)
    }

    @Test func alteredLengthFields_throwCorrupted() {
        // Self.nothing: no causation/correlation, so the stream length is right after the header.
        let bytes = EventCodec.encode(Self.nothing, seq: 1, version: 1, recordedAt: Self.recordedAt, previous: .genesis).bytes
        let streamLength = EventCodec.fixedHeaderBytes
        let typeLength = streamLength + 3
        let payloadLength = typeLength + 3
        for (offset, value) in [
            (streamLength, UInt16(0)), (streamLength, 2), (streamLength, 0xFFFF), (typeLength, 0), (typeLength, 40),
            (typeLength, 0xFFFF),
        ] as [(Int, UInt16)] {
            var altered = bytes
            altered[offset] = UInt8(value & 0xFF)
            altered[offset + 1] = UInt8(value >> 8)
            #expect(decodeError(altered)?.code == .corrupted, "length \(value) at offset \(offset)")
        }
        for value: UInt32 in [1, 31, 32, 1_000, .max] {
            var altered = bytes
            withUnsafeBytes(of: value.littleEndian) { altered.replaceSubrange(payloadLength..<(payloadLength + 4), with: $0) }
            #expect(decodeError(altered)?.code == .corrupted, "payload length \(value)")
        }
        var moreMetadata = bytes
        moreMetadata[6] = 1  // metadata count 1, with no pair stored
        #expect(decodeError(moreMetadata)?.code == .corrupted)
        var causation = bytes
        causation[5] |= 0x02  // the causation bit, with no id stored
        #expect(decodeError(causation)?.code == .corrupted)
    }

    @Test func anUnknownFormatOrPayloadEncoding_isRejected() {
        var bytes = EventCodec.encode(Self.everything, seq: 1, version: 1, recordedAt: Self.recordedAt, previous: .genesis).bytes
        bytes[1] = 9
        #expect(decodeError(bytes)?.code == .corrupted)
        bytes[0] = 2
        #expect(decodeError(bytes)?.code == .unsupportedFormat)
    }

    @Test func anyByteOverwritten_neverCrashesTheDecoder() {
        let bytes = EventCodec.encode(Self.everything, seq: 1, version: 1, recordedAt: Self.recordedAt, previous: .genesis).bytes
        for offset in bytes.indices {
            for value: UInt8 in [0x00, 0xFF, bytes[offset] ^ 0x01, bytes[offset] ^ 0x80] {
                var altered = bytes
                altered[offset] = value
                // Either it decodes (a changed value, caught by the hash chain) or it throws; never a trap.
                if let error = decodeError(altered) {
                    #expect([.corrupted, .unsupportedFormat].contains(error.code))
                }
            }
        }
    }

    // MARK: Sample events

    @Test func sampleEvents_areAbout200BytesWithTheirDimensionsFilled() throws {
        for index in [0, 1, 17, 999, 123_456] {
            let event = EventStoreConformance.sampleEvent(stream: "run:run-\(index % 97)", index: index)
            try EventCodec.validate(event)
            let size = EventCodec.encodedSize(of: event)
            #expect((170...240).contains(size), "sample event \(index) is \(size) bytes")
            #expect(event.dimensions.agent != nil && event.dimensions.client != nil)
            #expect(event.dimensions.model != nil && event.dimensions.run != nil)
            #expect(event.payloadEncoding == .json)
            #expect(String(decoding: event.payload, as: UTF8.self).hasPrefix("{\"input_tokens\":"))
        }
        let a = EventStoreConformance.sampleEvent(stream: "s", index: 1)
        let b = EventStoreConformance.sampleEvent(stream: "s", index: 1)
        #expect(a.id != b.id)
        #expect(a.payload == b.payload)
    }
}

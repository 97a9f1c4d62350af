import Foundation

/// The canonical, versioned binary form of a stored event (format 1), and its decoder.
///
/// The bytes are what the hash chain covers and what every backend stores, so one event has one
/// byte form everywhere. All integers are little-endian. The layout is documented in
/// `Docs/EventFormat.md`; in short:
///
/// ```
/// 0  u8  format (1)        1  u8  payload encoding   2  u16 schema
/// 4  u16 presence bits     6  u16 metadata count      8  u64 seq
/// 16 u64 version           24 i64 recordedAt (ns)     32 i64 occurredAt (ns)
/// 40 16 bytes id           56 [causation 16] [correlation 16]
/// then u16-length strings: stream, type, each present dimension, metadata key/value pairs
/// sorted by key; then u32 payload length and payload; then the 32-byte chain hash.
/// ```
///
/// The canonical bytes are everything before the hash.
public enum EventCodec {
    /// The format version this build writes and the newest it reads.
    public static let formatVersion: UInt8 = 1
    /// Bytes of the fixed header, before the optional causation and correlation ids.
    public static let fixedHeaderBytes = 56
    public static let hashBytes = 32
    /// Byte offset of `recordedAt` in an encoded event, for binary search without decoding.
    public static let recordedAtOffset = 24
    public static let seqOffset = 8
    /// The version's offset (little-endian UInt64). Seq, version and recordedAt are the fields
    /// ``seal(_:seq:version:recordedAt:previous:)`` fills in; everything else is the proposal's.
    public static let versionOffset = 16
    public static let occurredAtOffset = 32

    static let dimensionCount = 9
    static let causationBit: UInt16 = 1 << 9
    static let correlationBit: UInt16 = 1 << 10

    // MARK: Validation

    /// Checks a proposal against the format and ``Limits``; the error names the field.
    public static func validate(_ event: ProposedEvent, batchIndex: Int? = nil) throws(LedgerError) {
        func fail(_ code: LedgerError.Code, _ field: String, _ why: String) -> LedgerError {
            LedgerError(code, "\(field): \(why)", batchIndex: batchIndex, field: field)
        }
        let streamBytes = event.stream.utf8.count
        if streamBytes == 0 { throw fail(.invalidEvent, "stream", "must not be empty") }
        if streamBytes > Limits.streamNameBytesMax {
            throw fail(.limitExceeded, "stream", "is \(streamBytes) bytes, over the limit of \(Limits.streamNameBytesMax)")
        }
        let (hasNUL, isASCII) = scanForNULAndASCII(event.stream)
        if hasNUL { throw fail(.invalidEvent, "stream", "must not contain a NUL byte") }
        if !isASCII, !isNFC(event.stream) {
            throw fail(
                .invalidEvent, "stream",
                "must be in Unicode normalization form C (two spellings of one name would be two streams on disk)")
        }
        let typeBytes = event.type.utf8.count
        if typeBytes == 0 { throw fail(.invalidEvent, "type", "must not be empty") }
        if typeBytes > Limits.eventTypeBytesMax {
            throw fail(.limitExceeded, "type", "is \(typeBytes) bytes, over the limit of \(Limits.eventTypeBytesMax)")
        }
        for (index, name) in Dimensions.stringFieldNames.enumerated() {
            if let value = event.dimensions[field: index], value.utf8.count > Limits.dimensionValueBytesMax {
                throw fail(
                    .limitExceeded, name,
                    "is \(value.utf8.count) bytes, over the limit of \(Limits.dimensionValueBytesMax)")
            }
        }
        if event.metadata.count > Limits.metadataEntriesMax {
            throw fail(
                .limitExceeded, "metadata", "has \(event.metadata.count) entries, over the limit of \(Limits.metadataEntriesMax)")
        }
        for (key, value) in event.metadata {
            if key.isEmpty { throw fail(.invalidEvent, "metadata", "has an empty key") }
            if key.utf8.count > Limits.metadataKeyBytesMax {
                throw fail(.limitExceeded, "metadata.\(key.prefix(32))", "key is over \(Limits.metadataKeyBytesMax) bytes")
            }
            if value.utf8.count > Limits.metadataValueBytesMax {
                throw fail(.limitExceeded, "metadata.\(key)", "value is over \(Limits.metadataValueBytesMax) bytes")
            }
        }
        if event.payload.count > Limits.eventPayloadBytesMax {
            throw fail(
                .limitExceeded, "payload", "is \(event.payload.count) bytes, over the limit of \(Limits.eventPayloadBytesMax)")
        }
    }

    /// Whether `text` has a NUL byte, and whether it is all ASCII, in one pass over its UTF-8
    /// in place (a stream name is checked for both on every append).
    static func scanForNULAndASCII(_ text: String) -> (hasNUL: Bool, isASCII: Bool) {
        var text = text
        return text.withUTF8 { bytes in
            var hasNUL = false
            var high: UInt8 = 0
            for byte in bytes {
                hasNUL = hasNUL || byte == 0
                high |= byte
            }
            return (hasNUL, high < 0x80)
        }
    }

    /// Stream names are compared by their bytes on disk but by canonical equivalence in Swift; only
    /// NFC names make the two agree. ASCII (the usual case) is NFC without further work.
    static func isNFC(_ text: String) -> Bool {
        if text.utf8.allSatisfy({ $0 < 0x80 }) { return true }
        return text.utf8.elementsEqual(text.precomposedStringWithCanonicalMapping.utf8)
    }

    // MARK: Encoding

    /// Bytes the encoded event takes, hash included. The proposal must have passed ``validate(_:batchIndex:)``.
    public static func encodedSize(of event: ProposedEvent) -> Int {
        var size = fixedHeaderBytes + 4 + hashBytes
        if event.dimensions.causation != nil { size += 16 }
        if event.dimensions.correlation != nil { size += 16 }
        size += 2 + event.stream.utf8.count + 2 + event.type.utf8.count
        for index in 0..<dimensionCount {
            if let value = event.dimensions[field: index] { size += 2 + value.utf8.count }
        }
        for (key, value) in event.metadata { size += 4 + key.utf8.count + value.utf8.count }
        return size + event.payload.count
    }

    /// Writes the canonical bytes of `event` at position (`seq`, `version`, `recordedAt`) into
    /// `buffer`, which must be exactly ``encodedSize(of:)`` bytes, then the chain hash that links it
    /// to `previous`. Returns that hash.
    @discardableResult
    public static func encode(
        _ event: ProposedEvent, seq: UInt64, version: UInt64, recordedAt: LedgerTime,
        previous: ChainHash, into buffer: UnsafeMutableRawBufferPointer
    ) -> ChainHash {
        encodeTemplate(event, into: buffer)
        return seal(buffer, seq: seq, version: version, recordedAt: recordedAt, previous: previous)
    }

    /// Writes `event`'s canonical bytes with its position fields (seq, version, recordedAt) zero
    /// and no hash, into `buffer` of exactly ``encodedSize(of:)`` bytes: what can be encoded before
    /// the writer knows where the event goes. ``seal(_:seq:version:recordedAt:previous:)`` completes it.
    public static func encodeTemplate(_ event: ProposedEvent, into buffer: UnsafeMutableRawBufferPointer) {
        var writer = ByteWriter(buffer)
        var presence: UInt16 = 0
        for index in 0..<dimensionCount where event.dimensions[field: index] != nil {
            presence |= 1 << UInt16(index)
        }
        if event.dimensions.causation != nil { presence |= causationBit }
        if event.dimensions.correlation != nil { presence |= correlationBit }
        writer.write(formatVersion)
        writer.write(event.payloadEncoding.rawValue)
        writer.write(event.schema)
        writer.write(presence)
        writer.write(UInt16(event.metadata.count))
        precondition(writer.offset == seqOffset, "the position fields follow the fixed header")
        writer.write(UInt64(0))  // seq
        writer.write(UInt64(0))  // version
        writer.write(Int64(0))  // recordedAt
        writer.write(event.occurredAt.nanosecondsSinceEpoch)
        writer.write(event.id)
        if let causation = event.dimensions.causation { writer.write(causation) }
        if let correlation = event.dimensions.correlation { writer.write(correlation) }
        writer.writeString(event.stream)
        writer.writeString(event.type)
        for index in 0..<dimensionCount {
            if let value = event.dimensions[field: index] { writer.writeString(value) }
        }
        if !event.metadata.isEmpty {
            for key in event.metadata.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                writer.writeString(key)
                writer.writeString(event.metadata[key]!)
            }
        }
        writer.write(UInt32(event.payload.count))
        writer.writeBytes(event.payload)
        precondition(writer.offset + hashBytes == buffer.count, "encodedSize and encode disagree")
    }

    /// Completes a template (``encodeTemplate(_:into:)``, copied as is) at position (`seq`,
    /// `version`, `recordedAt`): fills in those fields, then the chain hash that links it to
    /// `previous`. Returns that hash.
    @discardableResult
    public static func seal(
        _ buffer: UnsafeMutableRawBufferPointer, seq: UInt64, version: UInt64, recordedAt: LedgerTime, previous: ChainHash
    ) -> ChainHash {
        precondition(seq > 0 && version > 0, "seq and version start at 1")
        buffer.storeBytes(of: seq.littleEndian, toByteOffset: seqOffset, as: UInt64.self)
        buffer.storeBytes(of: version.littleEndian, toByteOffset: versionOffset, as: UInt64.self)
        buffer.storeBytes(of: recordedAt.nanosecondsSinceEpoch.littleEndian, toByteOffset: recordedAtOffset, as: Int64.self)
        let canonicalCount = buffer.count - hashBytes
        let hash = previous.chained(with: UnsafeRawBufferPointer(rebasing: buffer[0..<canonicalCount]))
        hash.store(to: buffer.baseAddress! + canonicalCount)
        return hash
    }

    /// The hash ``seal(_:seq:version:recordedAt:previous:)`` would give `template` at this
    /// position, computed without writing to it: so that one thread can hash a range of events while
    /// another stores the range before it (``seal(_:seq:version:recordedAt:hash:)``).
    public static func chainHash(
        ofTemplate template: UnsafeRawBufferPointer, seq: UInt64, version: UInt64, recordedAt: LedgerTime, previous: ChainHash
    ) -> ChainHash {
        precondition(seq > 0 && version > 0, "seq and version start at 1")
        precondition(template.count >= fixedHeaderBytes + hashBytes, "a template holds at least the fixed header and the hash")
        let canonicalCount = template.count - hashBytes
        return previous.chained(with: UnsafeRawBufferPointer(rebasing: template[0..<canonicalCount])) { canonical in
            canonical.storeBytes(of: seq.littleEndian, toByteOffset: seqOffset, as: UInt64.self)
            canonical.storeBytes(of: version.littleEndian, toByteOffset: versionOffset, as: UInt64.self)
            canonical.storeBytes(of: recordedAt.nanosecondsSinceEpoch.littleEndian, toByteOffset: recordedAtOffset, as: Int64.self)
        }
    }

    /// Completes a template at position (`seq`, `version`, `recordedAt`) with a `hash` that
    /// ``chainHash(ofTemplate:seq:version:recordedAt:previous:)`` computed for that same template
    /// and position: what ``seal(_:seq:version:recordedAt:previous:)`` does, minus the hashing.
    public static func seal(
        _ buffer: UnsafeMutableRawBufferPointer, seq: UInt64, version: UInt64, recordedAt: LedgerTime, hash: ChainHash
    ) {
        precondition(seq > 0 && version > 0, "seq and version start at 1")
        buffer.storeBytes(of: seq.littleEndian, toByteOffset: seqOffset, as: UInt64.self)
        buffer.storeBytes(of: version.littleEndian, toByteOffset: versionOffset, as: UInt64.self)
        buffer.storeBytes(of: recordedAt.nanosecondsSinceEpoch.littleEndian, toByteOffset: recordedAtOffset, as: Int64.self)
        hash.store(to: buffer.baseAddress! + buffer.count - hashBytes)
    }

    /// The encoded bytes of `event` at the given position, as a new array.
    public static func encode(
        _ event: ProposedEvent, seq: UInt64, version: UInt64, recordedAt: LedgerTime, previous: ChainHash
    ) -> (bytes: [UInt8], hash: ChainHash) {
        var hash = ChainHash.genesis
        let bytes = [UInt8](unsafeUninitializedCapacity: encodedSize(of: event)) { buffer, count in
            hash = encode(
                event, seq: seq, version: version, recordedAt: recordedAt, previous: previous,
                into: UnsafeMutableRawBufferPointer(buffer))
            count = buffer.count
        }
        return (bytes, hash)
    }

    // MARK: Decoding

    /// Decodes a whole stored event. Throws ``LedgerError/Code/corrupted`` (or
    /// ``LedgerError/Code/unsupportedFormat``) when the bytes are not a valid encoding.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(LedgerError) -> RecordedEvent {
        var strings = DecodedStrings.disabled
        return try decode(bytes, strings: &strings)
    }

    /// ``decode(_:)`` for one of many events of a scan: the short strings the scan has decoded
    /// already are taken from `strings` rather than made again (``DecodedStrings``).
    package static func decode(_ bytes: UnsafeRawBufferPointer, strings: inout DecodedStrings) throws(LedgerError) -> RecordedEvent {
        defer { strings.eventDecoded() }
        var reader = ByteReader(bytes)
        // The smallest valid event: one-byte stream and type (each after its u16 length), an
        // empty payload (its u32 length) and the hash.
        guard bytes.count >= fixedHeaderBytes + 3 + 3 + 4 + hashBytes else {
            throw LedgerError(.corrupted, "a stored event is \(bytes.count) bytes, shorter than any valid event")
        }
        let format = reader.readByte()
        guard format == formatVersion else {
            throw LedgerError(
                .unsupportedFormat, "a stored event has format \(format); this build reads format \(formatVersion)")
        }
        guard let encoding = PayloadEncoding(rawValue: reader.readByte()) else {
            throw LedgerError(.corrupted, "a stored event has an unknown payload encoding")
        }
        let schema: UInt16 = reader.read()
        let presence: UInt16 = reader.read()
        let metadataCount: UInt16 = reader.read()
        let seq: UInt64 = reader.read()
        let version: UInt64 = reader.read()
        let recordedAt: Int64 = reader.read()
        let occurredAt: Int64 = reader.read()
        let id = reader.readID()
        // The hash sits at a fixed place from the end: reading it now, ahead of the chain of
        // length fields (each read depends on the one before), lets the memory system fetch the
        // end of the event in parallel. On a cold log that is about 5% of the decoding time.
        let hash = ChainHash(bytes: UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - hashBytes)...]))
        do throws(LedgerError) {
            // Each field is read into a local, in stored order, and the event is built in one
            // expression at the end: filling a `Dimensions` or `RecordedEvent` variable step by
            // step makes the compiler copy the whole value (a retain and a release of every
            // string in it) when it is returned.
            let causation = try reader.readID(ifPresent: presence & causationBit)
            let correlation = try reader.readID(ifPresent: presence & correlationBit)
            let stream = try reader.readString(&strings)
            let type = try reader.readString(&strings)
            let agent = try reader.readString(ifPresent: presence & (1 << 0), &strings)
            let client = try reader.readString(ifPresent: presence & (1 << 1), &strings)
            let project = try reader.readString(ifPresent: presence & (1 << 2), &strings)
            let task = try reader.readString(ifPresent: presence & (1 << 3), &strings)
            let run = try reader.readString(ifPresent: presence & (1 << 4), &strings)
            let model = try reader.readString(ifPresent: presence & (1 << 5), &strings)
            let vendor = try reader.readString(ifPresent: presence & (1 << 6), &strings)
            let environment = try reader.readString(ifPresent: presence & (1 << 7), &strings)
            let owner = try reader.readString(ifPresent: presence & (1 << 8), &strings)
            let metadata = try reader.readMetadata(count: Int(metadataCount), &strings)
            let payload = try reader.readPayload()
            guard reader.offset + hashBytes == bytes.count else {
                throw LedgerError(.corrupted, "event \(seq) has \(bytes.count - reader.offset - hashBytes) stray bytes")
            }
            return RecordedEvent(
                seq: seq, stream: stream, version: version, id: id,
                recordedAt: LedgerTime(nanosecondsSinceEpoch: recordedAt),
                occurredAt: LedgerTime(nanosecondsSinceEpoch: occurredAt), type: type, schema: schema,
                dimensions: Dimensions(
                    agent: agent, client: client, project: project, task: task, run: run, model: model, vendor: vendor,
                    environment: environment, owner: owner, causation: causation, correlation: correlation),
                metadata: metadata, payloadEncoding: encoding, payload: payload, hash: hash)
        } catch {
            throw LedgerError(.corrupted, "event \(seq) does not decode: \(error.message)", seq: seq)
        }
    }

    /// `seq` of an encoded event, read in place.
    @inlinable
    public static func seq(in bytes: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: seqOffset, as: UInt64.self))
    }

    /// `recordedAt` of an encoded event, read in place.
    @inlinable
    public static func recordedAt(in bytes: UnsafeRawBufferPointer) -> LedgerTime {
        LedgerTime(nanosecondsSinceEpoch: Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: recordedAtOffset, as: Int64.self)))
    }

    /// `occurredAt` of an encoded event, read in place.
    @inlinable
    public static func occurredAt(in bytes: UnsafeRawBufferPointer) -> LedgerTime {
        LedgerTime(nanosecondsSinceEpoch: Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: occurredAtOffset, as: Int64.self)))
    }

    /// The stored chain hash of an encoded event (its last 32 bytes).
    public static func storedHash(in bytes: UnsafeRawBufferPointer) -> ChainHash {
        ChainHash(bytes: UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - hashBytes)...]))
    }

    /// The canonical bytes of an encoded event: everything but the trailing hash.
    public static func canonicalBytes(in bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count - hashBytes)])
    }
}

/// Sequential little-endian writes into a buffer whose size was computed beforehand.
struct ByteWriter {
    let buffer: UnsafeMutableRawBufferPointer
    var offset = 0

    init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        precondition(offset + MemoryLayout<T>.size <= buffer.count, "event buffer overrun")
        buffer.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
    }

    mutating func write(_ id: EventID) {
        write(id.high)
        write(id.low)
    }

    mutating func writeBytes(_ bytes: [UInt8]) {
        precondition(offset + bytes.count <= buffer.count, "event buffer overrun")
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress { (buffer.baseAddress! + offset).copyMemory(from: base, byteCount: source.count) }
        }
        offset += bytes.count
    }

    mutating func writeString(_ string: String) {
        var string = string
        string.withUTF8 { utf8 in
            write(UInt16(utf8.count))
            precondition(offset + utf8.count <= buffer.count, "event buffer overrun")
            if let base = utf8.baseAddress { (buffer.baseAddress! + offset).copyMemory(from: base, byteCount: utf8.count) }
            offset += utf8.count
        }
    }
}

/// Sequential little-endian reads, bounds-checked where the length comes from the data.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Unchecked read inside the fixed header (the caller checked the minimum size).
    @inline(__always)
    mutating func read<T: FixedWidthInteger>() -> T {
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    mutating func readByte() -> UInt8 {
        defer { offset += 1 }
        return bytes[offset]
    }

    @inline(__always)
    mutating func readID() -> EventID {
        let high: UInt64 = read()
        let low: UInt64 = read()
        return EventID(high: high, low: low)
    }

    @inline(__always)
    mutating func checkedRead<T: FixedWidthInteger>() throws(LedgerError) -> T {
        guard offset + MemoryLayout<T>.size <= bytes.count else { throw truncated() }
        return read()
    }

    /// The next 16-byte id if `present` is non-zero (a presence bit), else nil.
    @inline(__always)
    mutating func readID(ifPresent present: UInt16) throws(LedgerError) -> EventID? {
        guard present != 0 else { return nil }
        guard offset + 16 <= bytes.count else { throw truncated() }
        return readID()
    }

    /// A `u16`-length-prefixed UTF-8 string. Invalid UTF-8 is repaired (U+FFFD) as
    /// `String(decoding:as:)` does. A short one comes from `strings` when it has it (see
    /// ``DecodedStrings``).
    @inline(__always)
    mutating func readString(_ strings: inout DecodedStrings) throws(LedgerError) -> String {
        let count = Int(try checkedRead() as UInt16)
        guard offset + count <= bytes.count else { throw truncated() }
        guard count > 0 else { return "" }
        let source = bytes.baseAddress! + offset
        defer { offset += count }
        if count <= DecodedStrings.byteCountMax, strings.isEnabled, offset + 16 <= bytes.count {
            return strings.string(at: source, count: count)
        }
        return Self.makeString(source, count: count)
    }

    /// The string of `count` stored bytes, copied straight into the new string, which holds up to
    /// 15 bytes inline, without allocating.
    @inline(__always)
    static func makeString(_ source: UnsafeRawPointer, count: Int) -> String {
        String(unsafeUninitializedCapacity: count) { utf8 in
            UnsafeMutableRawPointer(utf8.baseAddress!).copyMemory(from: source, byteCount: count)
            return count
        }
    }

    /// The next string if `present` is non-zero (a presence bit), else nil.
    @inline(__always)
    mutating func readString(ifPresent present: UInt16, _ strings: inout DecodedStrings) throws(LedgerError) -> String? {
        present != 0 ? try readString(&strings) : nil
    }

    /// `count` metadata key/value pairs; a repeated key keeps its last value. No allocation
    /// when `count` is 0.
    @inline(__always)
    mutating func readMetadata(count: Int, _ strings: inout DecodedStrings) throws(LedgerError) -> [String: String] {
        guard count > 0 else { return [String: String]() }
        var metadata = [String: String](minimumCapacity: count)
        for _ in 0..<count {
            let key = try readString(&strings)
            metadata[key] = try readString(&strings)
        }
        return metadata
    }

    /// The `u32`-length-prefixed payload, as a new array (no allocation when it is empty).
    @inline(__always)
    mutating func readPayload() throws(LedgerError) -> [UInt8] {
        let count = Int(try checkedRead() as UInt32)
        guard offset + count <= bytes.count else { throw truncated() }
        guard count > 0 else { return [] }
        defer { offset += count }
        return Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
    }

    func truncated() -> LedgerError {
        LedgerError(.corrupted, "a length field points past the end of the event")
    }
}

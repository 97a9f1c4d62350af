/// Little-endian binary writing for the built-in views' canonical state encodings.
struct StateWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func write(_ raw: UnsafeRawBufferPointer) {
        precondition(raw.count <= Int(UInt32.max), "a state string is bounded")
        write(UInt32(raw.count))
        bytes.append(contentsOf: raw)
    }

    mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    mutating func write(_ flag: Bool) { bytes.append(flag ? 1 : 0) }
}

/// Bounds-checked reading of what ``StateWriter`` wrote; any overrun throws.
struct StateReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    struct Truncated: Error, CustomStringConvertible {
        var description: String { "the state bytes end early or hold an impossible length" }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset + size <= bytes.count else { throw Truncated() }
        defer { offset += size }
        return bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }

    mutating func readBytes() throws -> ArraySlice<UInt8> {
        let count = Int(try read(UInt32.self))
        guard offset + count <= bytes.count else { throw Truncated() }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func readString() throws -> String { String(decoding: try readBytes(), as: UTF8.self) }

    mutating func readBool() throws -> Bool { try read(UInt8.self) != 0 }

    /// A count that must fit the remaining bytes at `minimumBytesEach` per element.
    mutating func readCount(minimumBytesEach: Int) throws -> Int {
        let count = Int(try read(UInt32.self))
        guard count * max(minimumBytesEach, 1) <= bytes.count - offset else { throw Truncated() }
        return count
    }

    func finish() throws {
        guard offset == bytes.count else { throw Truncated() }
    }
}

/// Little-endian binary writing for the built-in views' canonical state encodings: plain stores
/// into a growing buffer (a snapshot of a large view writes tens of thousands of integers).
struct StateWriter: ~Copyable {
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    private var count = 0

    init(capacity: Int = 256) {
        self.capacity = max(capacity, 64)
        buffer = .allocate(byteCount: self.capacity, alignment: 8)
    }

    deinit { buffer.deallocate() }

    /// The bytes written.
    var bytes: [UInt8] { Array(UnsafeRawBufferPointer(start: buffer, count: count)) }

    @inline(__always)
    private mutating func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        var grown = capacity * 2
        while grown < count + extra { grown *= 2 }
        let next = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 8)
        next.copyMemory(from: buffer, byteCount: count)
        buffer.deallocate()
        buffer = next
        capacity = grown
    }

    @inline(__always)
    mutating func write<T: FixedWidthInteger>(_ value: T) {
        reserve(MemoryLayout<T>.size)
        buffer.storeBytes(of: value.littleEndian, toByteOffset: count, as: T.self)
        count += MemoryLayout<T>.size
    }

    mutating func write(_ raw: UnsafeRawBufferPointer) {
        precondition(raw.count <= Int(UInt32.max), "a state string is bounded")
        write(UInt32(raw.count))
        reserve(raw.count)
        if let base = raw.baseAddress { (buffer + count).copyMemory(from: base, byteCount: raw.count) }
        count += raw.count
    }

    mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { write(UnsafeRawBufferPointer($0)) }
    }

    mutating func write(_ flag: Bool) { write(UInt8(flag ? 1 : 0)) }

    /// The opening the spend, hourly and outcome states share: layout 1, the count of unreadable
    /// events, the overflow flag.
    mutating func writeHeader(unreadableEvents: Int64, overflowed: Bool) {
        write(UInt8(1))
        write(unreadableEvents)
        write(overflowed)
    }
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

    /// Reads what ``StateWriter/writeHeader(unreadableEvents:overflowed:)`` wrote; throws for
    /// another layout.
    mutating func readHeader() throws -> (unreadableEvents: Int64, overflowed: Bool) {
        guard try read(UInt8.self) == 1 else { throw Truncated() }
        return (try read(Int64.self), try readBool())
    }

    func finish() throws {
        guard offset == bytes.count else { throw Truncated() }
    }
}

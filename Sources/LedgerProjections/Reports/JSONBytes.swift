/// Builds JSON text as UTF-8 bytes, fast enough for reports of many thousand rows: keys in the
/// order written, strings escaped per RFC 8259 byte by byte, integers exact. The same output as
/// `LedgerCore.JSONObjectWriter`, without a `String` append per character.
struct JSONBytes {
    private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = []

    init(capacity: Int = 1_024) { bytes.reserveCapacity(capacity) }

    mutating func beginObject() { open(0x7B) }
    mutating func endObject() { close(0x7D) }
    mutating func beginArray() { open(0x5B) }
    mutating func endArray() { close(0x5D) }

    /// Starts a member of the current object: `"name":`.
    mutating func key(_ name: StaticString) {
        comma()
        bytes.append(0x22)
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(0x22)
        bytes.append(0x3A)
        needsComma[needsComma.count - 1] = false
    }

    mutating func string(_ value: String) {
        comma()
        bytes.append(0x22)
        var value = value
        value.withUTF8 { utf8 in
            for byte in utf8 {
                switch byte {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, 0x6E])
                case 0x0D: bytes.append(contentsOf: [0x5C, 0x72])
                case 0x09: bytes.append(contentsOf: [0x5C, 0x74])
                case 0..<0x20:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                default: bytes.append(byte)
                }
            }
        }
        bytes.append(0x22)
    }

    mutating func integer(_ value: some BinaryInteger) {
        comma()
        if value == 0 {
            bytes.append(0x30)
            return
        }
        var magnitude = value.magnitude
        if value < 0 { bytes.append(0x2D) }
        var digits: [UInt8] = []
        digits.reserveCapacity(20)
        while magnitude > 0 {
            digits.append(UInt8(truncatingIfNeeded: magnitude % 10) + 0x30)
            magnitude /= 10
        }
        bytes.append(contentsOf: digits.reversed())
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    private mutating func open(_ byte: UInt8) {
        comma()
        bytes.append(byte)
        needsComma.append(false)
    }

    private mutating func close(_ byte: UInt8) {
        needsComma.removeLast()
        bytes.append(byte)
    }

    private mutating func comma() {
        guard let last = needsComma.last else { return }
        if last { bytes.append(0x2C) } else { needsComma[needsComma.count - 1] = true }
    }
}

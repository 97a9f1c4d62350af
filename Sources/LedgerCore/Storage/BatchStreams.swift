/// Which of a batch's distinct streams each event writes, found by the appending caller while it
/// checks and encodes the batch, so that the single writer plans a batch over many streams with no
/// hashing of stream names (a batch of 10,000 events over 1,000 streams hashed 10,000 names on the
/// writer's thread).
///
/// A batch of one stream, the usual case and every single-event append, holds no arrays.
package struct BatchStreams: Sendable {
    /// Event `i` writes stream `slots[i]`, an index into the batch's distinct streams in the order
    /// they first appear; empty when the batch writes one stream (or none).
    package private(set) var slots: [UInt32] = []
    /// How many distinct streams the batch writes.
    package private(set) var count = 0

    /// Open addressing over the distinct streams: a hash's high 32 bits << 32 | slot + 1; 0 is empty.
    private var table: [UInt64] = []
    private var names: [String] = []
    private var first: String?

    package init() {}

    /// Notes the stream of the next event of the batch (of `batchCount` events).
    package mutating func add(_ stream: String, batchCount: Int) {
        defer { added += 1 }
        guard let first else {
            self.first = stream
            count = 1
            return
        }
        if slots.isEmpty {
            if stream == first { return }
            // The second distinct stream: from now on every event has its slot.
            slots.reserveCapacity(batchCount)
            slots.append(contentsOf: repeatElement(0, count: added))
            var size = 64
            while size < batchCount + batchCount / 2 { size <<= 1 }
            table = Array(repeating: 0, count: size)
            _ = slot(of: first)
        }
        slots.append(slot(of: stream))
    }

    /// Events noted so far.
    private var added = 0

    private mutating func slot(of stream: String) -> UInt32 {
        let hash = Self.hash(stream)
        let mask = table.count - 1
        let fingerprint = hash >> 32
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = table[index]
            if entry == 0 {
                let slot = UInt32(names.count)
                table[index] = fingerprint << 32 | UInt64(slot + 1)
                names.append(stream)
                count = names.count
                return slot
            }
            if entry >> 32 == fingerprint, names[Int(entry & 0xFFFF_FFFF) - 1] == stream { return UInt32(entry & 0xFFFF_FFFF) - 1 }
            index = (index + 1) & mask
        }
    }

    /// A stream name's bytes, eight at a time, mixed with the process's seed.
    private static func hash(_ stream: String) -> UInt64 {
        var text = stream
        return text.withUTF8 { bytes in
            var h = EventIDTable.processSeed ^ UInt64(bytes.count)
            var offset = 0
            let raw = UnsafeRawBufferPointer(bytes)
            while offset + 8 <= raw.count {
                h = (h ^ raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0x9E37_79B9_7F4A_7C15
                h ^= h >> 29
                offset += 8
            }
            var last: UInt64 = 0
            var shift: UInt64 = 0
            while offset < raw.count {
                last |= UInt64(raw[offset]) << shift
                shift += 8
                offset += 1
            }
            h = (h ^ last) &* 0xBF58_476D_1CE4_E5B9
            return h ^ (h >> 32)
        }
    }
}

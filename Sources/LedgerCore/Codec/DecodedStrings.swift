/// The short strings a scan has decoded, so that a string the log repeats (a stream, an event type,
/// an agent, a model: most of an event's strings) is made once per scan, not once per event.
///
/// Making a `String` from stored bytes validates them as UTF-8; on a replay that was a fifth of
/// the decoding time. Here a string of up to 15 bytes (which Swift holds inline, without
/// allocating) is keyed by its bytes and its length, packed into two words, in a direct-mapped
/// table: a hit copies the string made earlier from the same bytes; a miss makes it and keeps it
/// in its slot. The same bytes always give the same string, so the decoded events are exactly
/// those decoded without it.
///
/// One per scan, on one thread. Its table (4,096 slots, 128 KiB) is made only once its scan has
/// decoded ``eventsBeforeKeeping`` events, so that a short read does not pay for making and freeing
/// it. ``disabled`` never makes it.
package struct DecodedStrings {
    /// Strings up to this many bytes are kept (Swift's inline small-string capacity).
    package static let byteCountMax = 15
    /// Events a scan decodes before its table is made.
    package static let eventsBeforeKeeping = 512

    private var table: Table?
    /// Events still to decode before the table is made; 0 when it is made, or never will be.
    private var eventsToWait: Int

    /// A table for one scan.
    package init() { eventsToWait = Self.eventsBeforeKeeping }

    private init(disabled: ()) { eventsToWait = 0 }

    /// Keeps nothing: every string is made anew.
    package static var disabled: DecodedStrings { DecodedStrings(disabled: ()) }

    var isEnabled: Bool { table != nil }

    /// Counts a decoded event; makes the table once the scan is long enough to gain from it.
    @inline(__always)
    mutating func eventDecoded() {
        guard eventsToWait > 0 else { return }
        eventsToWait -= 1
        if eventsToWait == 0 { table = Table() }
    }

    /// The string of the `count` bytes at `source` (1 through ``byteCountMax``); the 16 bytes from
    /// `source` must be readable, and the table made (``isEnabled``).
    @inline(__always)
    func string(at source: UnsafeRawPointer, count: Int) -> String {
        var low = UInt64(littleEndian: source.loadUnaligned(as: UInt64.self))
        var high = UInt64(littleEndian: (source + 8).loadUnaligned(as: UInt64.self))
        if count <= 8 {
            if count < 8 { low &= (1 &<< UInt64(8 &* count)) &- 1 }
            high = 0
        } else {
            high &= (1 &<< UInt64(8 &* (count &- 8))) &- 1
        }
        high |= UInt64(truncatingIfNeeded: count) &<< 56
        let mixed = (low &* 0x9E37_79B9_7F4A_7C15) ^ (high &* 0xC2B2_AE3D_27D4_EB4F)
        let entry = table.unsafelyUnwrapped.entries + Int(truncatingIfNeeded: mixed &>> UInt64(64 - Table.slotBits))
        if entry.pointee.low == low, entry.pointee.high == high { return entry.pointee.string }
        let made = ByteReader.makeString(source, count: count)
        entry.pointee = Table.Entry(low: low, high: high, string: made)
        return made
    }

    /// A direct-mapped table of strings by their packed bytes, in one allocation.
    private final class Table {
        static let slotBits = 12

        struct Entry {
            var low: UInt64
            /// The bytes after the first eight, with the length in the top byte: never 0 in a used
            /// slot.
            var high: UInt64
            var string: String
        }

        let entries: UnsafeMutablePointer<Entry>

        init() {
            let count = 1 << Self.slotBits
            entries = .allocate(capacity: count)
            entries.initialize(repeating: Entry(low: 0, high: 0, string: ""), count: count)
        }

        deinit {
            entries.deinitialize(count: 1 << Self.slotBits)
            entries.deallocate()
        }
    }
}

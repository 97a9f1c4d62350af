/// A hash map from ``EventID`` to a non-zero `UInt64` (a seq, or a batch position plus one), for
/// the write path's per-event id look-ups: a batch's duplicate check, the writer's tail of ids not
/// yet indexed, the ids a transaction wrote.
///
/// Why not `Dictionary`: its SipHash of each 16-byte id, and its rehash on every growth, were a
/// quarter of the writer thread's time at batch 10,000. Here an id is mixed with a multiply and
/// shifts (ids are mostly random bits already), salted with a per-process seed so that ids chosen
/// to collide cannot be precomputed, and kept by linear probing in one flat array that doubles
/// at 1/2 load.
///
/// Value semantics (copy on write, through the array). Values must not be 0: 0 marks an empty slot.
package struct EventIDTable {
    private struct Slot {
        var id: EventID
        var value: UInt64
    }

    /// Chosen once per process, so that which ids collide differs from run to run.
    private static let seed = UInt64.random(in: 1...UInt64.max)

    private var slots: [Slot]
    private var mask: Int
    private var seed: UInt64
    package private(set) var count = 0

    /// An empty table; nothing is allocated until the first insert.
    package init() {
        seed = Self.seed
        slots = []
        mask = 0
    }

    /// An empty table with room for `count` ids before it grows.
    package init(capacity count: Int) {
        seed = Self.seed
        var size = 16
        while size < count * 2 { size <<= 1 }
        slots = Array(repeating: Slot(id: .zero, value: 0), count: size)
        mask = size - 1
    }

    @inline(__always)
    private func home(of id: EventID) -> Int { Int(truncatingIfNeeded: id.mixed(seed)) & mask }

    /// The per-process seed of ``EventID/mixed(_:)`` for tables of ids.
    package static var processSeed: UInt64 { seed }

    /// The value stored for `id`, or nil.
    package subscript(id: EventID) -> UInt64? {
        if count == 0 { return nil }
        var index = home(of: id)
        while true {
            let slot = slots[index]
            if slot.value == 0 { return nil }
            if slot.id == id { return slot.value }
            index = (index + 1) & mask
        }
    }

    /// Stores `value` for `id` unless the table has it already; returns the value it had (nil when
    /// `value` was stored).
    @discardableResult
    package mutating func insert(_ id: EventID, value: UInt64) -> UInt64? {
        precondition(value != 0, "0 marks an empty slot")
        if (count + 1) * 2 > slots.count { grow() }
        var index = home(of: id)
        return slots.withUnsafeMutableBufferPointer { slots in
            while true {
                if slots[index].value == 0 {
                    slots[index] = Slot(id: id, value: value)
                    count += 1
                    return nil
                }
                if slots[index].id == id { return slots[index].value }
                index = (index + 1) & mask
            }
        }
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(id: .zero, value: 0), count: max(16, old.count * 2))
        mask = slots.count - 1
        count = 0
        for slot in old where slot.value != 0 { insert(slot.id, value: slot.value) }
    }

}

extension EventID {
    /// 64 well-mixed bits of the id, salted with `seed`, for hash tables of ids.
    @inline(__always)
    package func mixed(_ seed: UInt64) -> UInt64 {
        var h = (high ^ seed) &* 0x9E37_79B9_7F4A_7C15
        h ^= low
        h = (h ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
        return h ^ (h >> 32)
    }
}

/// The ids of one batch seen so far, for its duplicate check.
///
/// A slot is 8 bytes, 32 bits of the id's hash and the event's position in the batch, so the table
/// of a 10,000-event batch (16,384 slots, 128 KiB) stays in a core's cache: with whole ids in the
/// slots (``EventIDTable``) it did not, and each insert waited for memory. Whole ids are compared
/// only when the 32 bits match.
package struct BatchIDSet {
    private var slots: [UInt64]
    private var ids: [EventID] = []
    private let mask: Int
    private let seed = EventIDTable.processSeed

    /// A set for a batch of `count` events (nothing is allocated for one event: it has no repeat).
    package init(count: Int) {
        guard count > 1 else {
            slots = []
            mask = 0
            return
        }
        var size = 16
        while size < count + count / 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
        ids.reserveCapacity(count)
    }

    /// Adds the id of the next event of the batch; returns the position of an earlier event with
    /// the same id instead, if there is one.
    package mutating func insert(_ id: EventID) -> Int? {
        precondition(ids.count < slots.count / 2 + slots.count / 4, "more ids than the batch was sized for")  // and none for one
        let hash = id.mixed(seed)
        let fingerprint = hash >> 32
        var index = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = slots[index]
            if slot == 0 {
                slots[index] = fingerprint << 32 | UInt64(ids.count + 1)
                ids.append(id)
                return nil
            }
            if slot >> 32 == fingerprint, ids[Int(slot & 0xFFFF_FFFF) - 1] == id {
                ids.append(id)  // `ids[i]` stays the id of the batch's event `i`
                return Int(slot & 0xFFFF_FFFF) - 1
            }
            index = (index + 1) & mask
        }
    }
}

/// Interns byte strings (dimension values) to dense indexes 0, 1, 2, ... without allocating per
/// lookup: the keys live in one byte arena and an open-addressing table maps their hashes.
///
/// Lookups hash the bytes read in place (for instance from an ``EventView``), so folding a charge
/// into the row of its agent allocates nothing once the agent has been seen. The hash is fixed
/// (unseeded) but never persisted: encodings sort keys by their bytes.
struct KeyTable: Sendable {
    private(set) var arena: [UInt8] = []
    /// Key `i` is `arena[starts[i] ..< starts[i + 1]]`.
    private(set) var starts: [Int] = [0]
    private var hashes: [UInt64] = []
    /// Each slot: the hash's high 32 bits, then index + 1 in the low 32; 0 = empty. A power of two.
    private var slots: [UInt64] = Array(repeating: 0, count: 16)
    /// The key order of the last ``sortedIndexes()``. Replaced (never changed) on insert, so a
    /// cache is only ever shared by copies that hold the same keys.
    private var sortCache = SortCache()

    var count: Int { hashes.count }

    /// The index of `key`, inserting it when new.
    @inline(__always)
    mutating func index(of key: UnsafeRawBufferPointer) -> Int {
        let hash = Self.hash(key)
        if let found = find(key, hash: hash) { return found }
        return insert(key, hash: hash)
    }

    /// The index of `key`, or nil.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Int? {
        let tag = hash & 0xFFFF_FFFF_0000_0000
        return slots.withUnsafeBufferPointer { slots in
            starts.withUnsafeBufferPointer { starts in
                arena.withUnsafeBytes { arena in
                    let mask = slots.count - 1
                    var slot = Int(truncatingIfNeeded: hash) & mask
                    while true {
                        let entry = slots[slot]
                        if entry == 0 { return nil }
                        if entry & 0xFFFF_FFFF_0000_0000 == tag {
                            let index = Int(entry & 0xFFFF_FFFF) - 1
                            let start = starts[index]
                            if starts[index + 1] - start == key.count, Self.equal(arena.baseAddress, start, key) {
                                return index
                            }
                        }
                        slot = (slot + 1) & mask
                    }
                }
            }
        }
    }

    func find(_ key: String) -> Int? {
        var key = key
        return key.withUTF8 { utf8 in
            let raw = UnsafeRawBufferPointer(utf8)
            return find(raw, hash: Self.hash(raw))
        }
    }

    /// `arena[start ..< start + key.count] == key`, eight bytes at a time (the last word overlapping
    /// the one before it, so no byte loop).
    @inline(__always)
    private static func equal(_ arena: UnsafeRawPointer?, _ start: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let count = key.count
        if count == 0 { return true }
        let mine = arena! + start
        let other = key.baseAddress!
        if count < 8 { return partialWord(mine, count) == partialWord(other, count) }
        var offset = 0
        while offset + 8 < count {
            if mine.loadUnaligned(fromByteOffset: offset, as: UInt64.self) != other.loadUnaligned(fromByteOffset: offset, as: UInt64.self) {
                return false
            }
            offset += 8
        }
        return mine.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            == other.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    }

    /// The `count` (1 to 7) bytes at `bytes` as one word, with two overlapping loads: equal words
    /// for equal bytes of the same count.
    @inline(__always)
    private static func partialWord(_ bytes: UnsafeRawPointer, _ count: Int) -> UInt64 {
        if count >= 4 {
            let low = UInt64(bytes.loadUnaligned(as: UInt32.self))
            let high = UInt64(bytes.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self))
            return high << 32 | low
        }
        let first = UInt64(bytes.load(as: UInt8.self))
        let middle = UInt64(bytes.load(fromByteOffset: count >> 1, as: UInt8.self))
        let last = UInt64(bytes.load(fromByteOffset: count - 1, as: UInt8.self))
        return last << 16 | middle << 8 | first
    }

    @inline(never)
    private mutating func insert(_ key: UnsafeRawBufferPointer, hash: UInt64) -> Int {
        precondition(count < Int(Int32.max) - 1, "a key table holds at most 2^31 keys")
        let index = count
        sortCache = SortCache()
        arena.append(contentsOf: key)
        starts.append(arena.count)
        hashes.append(hash)
        if (count + 1) * 2 > slots.count {
            slots = Array(repeating: 0, count: slots.count * 2)
            for existing in 0..<count { place(existing, hash: hashes[existing]) }
        } else {
            place(index, hash: hash)
        }
        return index
    }

    private mutating func place(_ index: Int, hash: UInt64) {
        let mask = slots.count - 1
        var slot = Int(truncatingIfNeeded: hash) & mask
        while slots[slot] != 0 { slot = (slot + 1) & mask }
        slots[slot] = (hash & 0xFFFF_FFFF_0000_0000) | UInt64(index + 1)
    }

    /// The bytes of key `index`.
    func key(at index: Int) -> ArraySlice<UInt8> { arena[starts[index]..<starts[index + 1]] }

    /// Key `index` as a `String`.
    func string(at index: Int) -> String { String(decoding: key(at: index), as: UTF8.self) }

    /// Indexes ordered by their keys' bytes: the canonical order of every encoding. Sorted once
    /// per set of keys (snapshots of a table whose keys did not change reuse the order).
    func sortedIndexes() -> [Int] {
        if let cached = sortCache.order.withLock({ $0 }), cached.count == count { return cached }
        let order = sortKeys()
        sortCache.order.withLock { $0 = order }
        return order
    }

    private func sortKeys() -> [Int] {
        arena.withUnsafeBytes { arena in
            (0..<count).sorted { lhs, rhs in
                let a = UnsafeRawBufferPointer(rebasing: arena[starts[lhs]..<starts[lhs + 1]])
                let b = UnsafeRawBufferPointer(rebasing: arena[starts[rhs]..<starts[rhs + 1]])
                let common = min(a.count, b.count)
                if common > 0 {
                    let order = memcmp(a.baseAddress!, b.baseAddress!, common)
                    if order != 0 { return order < 0 }
                }
                return a.count < b.count
            }
        }
    }

    @inline(__always)
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        let count = key.count
        var hash: UInt64 = 0x243F_6A88_85A3_08D3 ^ (UInt64(truncatingIfNeeded: count) &* 0x9E37_79B9_7F4A_7C15)
        guard count > 0, let base = key.baseAddress else { return mix(hash) }
        if count < 8 { return mix(hash ^ partialWord(base, count)) }
        var offset = 0
        while offset + 8 < count {
            hash = mix(hash ^ base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        // The last eight bytes, overlapping the previous word when the count is not a multiple of 8.
        return mix(hash ^ base.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
    }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &* 0xBF58_476D_1CE4_E5B9
        z ^= z >> 31
        z = z &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 29)
    }
}

/// The cached key order of a ``KeyTable``.
final class SortCache: Sendable {
    let order = Mutex<[Int]?>(nil)
}

import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

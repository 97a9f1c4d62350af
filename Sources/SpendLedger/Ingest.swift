import LedgerActors
public import LedgerCore
import LedgerDomain
public import LedgerPricing

import Dispatch

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Usage records read, validated and priced, ready to append — or the reasons they are not.
///
/// Ingest validates the whole input before it appends anything: with any invalid record and no
/// permission to skip, nothing is written.
///
/// Memory: the priced events are held until they are appended (some 450 bytes a record: the
/// event, its payload and its id in the set that finds repeated records), in the blocks of input
/// they were parsed from; ``Ledger/ingest(_:chunkSize:)`` gives each block back once it is
/// appended. The input itself is not held when it is read with
/// ``add(reading:source:pricer:threads:)``, which parses it a block (about 4 MiB) at a time.
public struct PreparedIngest: Sendable {
    /// One record that could not be used, with where it came from.
    public struct Rejection: Sendable, Hashable, CustomStringConvertible {
        public var source: String
        public var error: UsageRecordError
        /// The line as read (bounded), for a rejects file.
        public var text: String

        public var description: String { "\(source): \(error.description)" }
    }

    /// An input that could not be read.
    public struct ReadError: Error, Sendable, CustomStringConvertible {
        public var source: String
        public var reason: String
        public var description: String { "cannot read \(source): \(reason)" }
    }

    public var recordsRead = 0
    /// The priced events, in input order. They are kept in the blocks they were parsed in
    /// (``blocks``), so that taking a block in costs no copy and appending gives each block's
    /// memory back as soon as it is appended; reading this property joins them.
    public var events: [ProposedEvent] {
        get { blocks.count == 1 ? blocks[0] : Array(blocks.joined()) }
        _modify {
            var joined = blocks.count == 1 ? blocks.removeLast() : Array(blocks.joined())
            blocks = []
            defer { if !joined.isEmpty { blocks = [joined] } }
            yield &joined
        }
    }
    /// How many events there are (without joining the blocks).
    public var eventCount: Int { blocks.reduce(0) { $0 + $1.count } }
    /// `events`, block by block.
    var blocks: [[ProposedEvent]] = []
    public var rejections: [Rejection] = []
    /// Records whose id appeared earlier in the same input (kept once).
    public var repeatedInInput = 0
    /// The ids of `events`, to keep a record repeated in the input once.
    private var seen = IDSet()

    public init() {}

    /// Parses and prices every line of `bytes` (JSON lines); `source` names the input in errors.
    public mutating func add(_ bytes: [UInt8], source: String, pricer: UsagePricer) {
        bytes.withUnsafeBytes { buffer in
            reserve(forBytes: buffer.count)
            merge(Self.parse(buffer, firstLineNumber: 1, source: source, pricer: pricer), lineOffset: 0)
        }
    }

    /// Parses and prices every line read from `descriptor` (a file, a pipe, standard input) until
    /// its end, a block at a time: lines are numbered as in the whole input, and the input is
    /// never held whole in memory. `source` names the input in errors.
    ///
    /// Blocks are parsed on up to `threads` threads at once (default: one per core, at most 4) and
    /// taken in input order, so the result — events, rejections, which of two records with one id
    /// is kept — is the same as with one thread.
    ///
    /// - Throws: ``ReadError`` when reading fails (the records before it stay added).
    public mutating func add(
        reading descriptor: Int32, source: String, pricer: UsagePricer, threads: Int = PreparedIngest.defaultThreads
    ) throws(ReadError) {
        try add(reading: descriptor, source: source, pricer: pricer, threads: threads, blockBytes: Self.blockBytes)
    }

    /// About 4 MiB: enough lines to keep a thread busy for a while, few enough to hold one per thread.
    static let blockBytes = 1 << 22

    /// ``add(reading:source:pricer:threads:)`` with blocks of `blockBytes` (tests use small ones).
    mutating func add(
        reading descriptor: Int32, source: String, pricer: UsagePricer, threads: Int, blockBytes: Int
    ) throws(ReadError) {
        var info = stat()
        if fstat(descriptor, &info) == 0, (info.st_mode & 0o170000) == 0o100000 { reserve(forBytes: Int(info.st_size)) }
        var reader = BlockReader(descriptor: descriptor, source: source, blockBytes: blockBytes)
        var nextLine = 1
        var first = true
        while true {
            // Up to `threads` blocks, each of whole lines, then parse them side by side.
            var blocks: [[UInt8]] = []
            while blocks.count < max(1, threads), let block = try reader.next() { blocks.append(block) }
            if blocks.isEmpty { return }
            var parts = [Part](repeating: Part(), count: blocks.count)
            // Every block but the input's first starts with a line break (see BlockReader), so that
            // it never starts a line the way a whole input does (a byte order mark is skipped only at
            // the very start of the input); its lines are numbered from 0, the others from 1.
            let firstIsStart = first
            let blocksRead = blocks
            parts.withUnsafeMutableBufferPointer { parts in
                let slots = Slots(base: parts.baseAddress!)  // each thread writes only its own slot
                let parse: @Sendable (Int) -> Void = { index in
                    blocksRead[index].withUnsafeBytes { raw in
                        let atStart = firstIsStart && index == 0
                        var part = Self.parse(
                            UnsafeRawBufferPointer(rebasing: raw[(atStart ? 1 : 0)...]), firstLineNumber: atStart ? 1 : 0,
                            source: source, pricer: pricer)
                        part.lineBreaks = Self.lineBreaks(in: UnsafeRawBufferPointer(rebasing: raw[1...]))
                        slots.base[index] = part
                    }
                }
                if parts.count == 1 { parse(0) } else { DispatchQueue.concurrentPerform(iterations: parts.count, execute: parse) }
            }
            first = false
            for part in parts {
                merge(part, lineOffset: nextLine - 1)
                nextLine += part.lineBreaks
            }
        }
    }

    /// One core each, at most 4: parsing is CPU-bound and the blocks are independent.
    public static var defaultThreads: Int { min(4, max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }

    /// Reads an input a block (about 4 MiB) of whole lines at a time. Every block starts with a
    /// line break (a marker, not input) and ends with one, except the input's last block, which
    /// ends where the input does; a line longer than a block makes its block longer.
    ///
    /// Each block is one array, zeroed once and filled by `read` in place however short the
    /// reads are (a pipe gives at most its buffer's worth at a time).
    struct BlockReader {
        let descriptor: Int32
        let source: String
        let blockBytes: Int
        /// Read and not yet handed out: the start of a line.
        private var carry: [UInt8] = []
        private var atEnd = false

        init(descriptor: Int32, source: String, blockBytes: Int) {
            precondition(blockBytes > 0, "a block holds at least a byte")
            self.descriptor = descriptor
            self.source = source
            self.blockBytes = blockBytes
        }

        mutating func next() throws(ReadError) -> [UInt8]? {
            guard !atEnd || !carry.isEmpty else { return nil }
            var block = [UInt8](repeating: 0, count: 1 + carry.count + blockBytes)
            block[0] = 0x0A
            block.replaceSubrange(1..<(1 + carry.count), with: carry)
            var filled = 1 + carry.count
            carry.removeAll(keepingCapacity: true)
            var scanned = 1  // bytes already searched for a line break
            while !atEnd {
                if filled == block.count { block.append(contentsOf: repeatElement(0, count: blockBytes)) }  // one long line
                let start = filled
                let got = block.withUnsafeMutableBytes { raw in read(descriptor, raw.baseAddress! + start, raw.count - start) }
                if got < 0 {
                    if errno == EINTR { continue }
                    throw ReadError(source: source, reason: String(cString: strerror(errno)))
                }
                if got == 0 {
                    atEnd = true  // keep everything
                    break
                }
                filled += got
                if filled == block.count {
                    // Full: cut after the last line break, and read on if there is none yet.
                    if let last = block[scanned..<filled].lastIndex(of: 0x0A) {
                        carry.append(contentsOf: block[(last + 1)..<filled])
                        filled = last + 1
                        break
                    }
                    scanned = filled
                }
            }
            block.removeSubrange(filled...)
            return filled > 1 ? block : nil
        }
    }

    /// The parts being filled, one slot per thread: no two threads touch one slot, and the
    /// caller reads them only once every thread is done (`concurrentPerform` returns).
    private struct Slots: @unchecked Sendable {
        let base: UnsafeMutablePointer<Part>
    }

    /// One block of the input, parsed on its own; its rejections' lines are counted from the block.
    private struct Part: Sendable {
        var recordsRead = 0
        var events: [ProposedEvent] = []
        var rejections: [Rejection] = []
        var lineBreaks = 0
    }

    private static func lineBreaks(in buffer: UnsafeRawBufferPointer) -> Int {
        guard var at = buffer.baseAddress else { return 0 }
        let stop = at + buffer.count
        var count = 0
        while at < stop, let found = memchr(at, 0x0A, at.distance(to: stop)) {
            count += 1
            at = UnsafeRawPointer(found) + 1
        }
        return count
    }

    /// Room for the ids of about the records `bytes` of input hold (a record line is some 200-400 bytes).
    private mutating func reserve(forBytes bytes: Int) {
        seen.reserve(eventCount + bytes / 256)
    }

    private static func parse(
        _ buffer: UnsafeRawBufferPointer, firstLineNumber: Int, source: String, pricer: UsagePricer
    ) -> Part {
        let parser = UsageRecordParser()
        var part = Part()
        part.events.reserveCapacity(buffer.count / 256)
        UsageRecordParser.forEachLine(in: buffer, firstLineNumber: firstLineNumber) {
            (lineNumber: Int, line: UnsafeRawBufferPointer) in
            part.recordsRead += 1
            do throws(UsageRecordError) {
                let record = try parser.parse(line, lineNumber: lineNumber)
                part.events.append(try pricer.proposedEvent(for: record, line: lineNumber))
            } catch {
                let text = String(decoding: line.prefix(4_096), as: UTF8.self)
                part.rejections.append(Rejection(source: source, error: error.at(line: lineNumber), text: text))
            }
        }
        return part
    }

    /// Takes a parsed block in, in input order: a record whose id came earlier is counted, not kept.
    private mutating func merge(_ part: consuming Part, lineOffset: Int) {
        recordsRead += part.recordsRead
        var repeated: [Int] = []
        part.events.withUnsafeBufferPointer { events in
            for index in events.indices where !seen.insert(events[index].id) { repeated.append(index) }
        }
        repeatedInInput += repeated.count
        if repeated.isEmpty {
            if !part.events.isEmpty { blocks.append(part.events) }  // the block's own array, not a copy
        } else {
            var kept: [ProposedEvent] = []
            kept.reserveCapacity(part.events.count - repeated.count)
            var next = 0
            for (index, event) in part.events.enumerated() {
                if next < repeated.count, repeated[next] == index { next += 1 } else { kept.append(event) }
            }
            if !kept.isEmpty { blocks.append(kept) }
        }
        for var rejection in part.rejections {
            if lineOffset != 0 { rejection.error = rejection.error.at(line: rejection.error.line.map { $0 + lineOffset }) }
            rejections.append(rejection)
        }
    }
}

/// A set of event ids, for keeping the first of a repeated record: open addressing (linear
/// probing) over one array of words, two per slot, with a multiplicative hash of both halves of
/// the id — ids are producer-chosen UUIDs (random or time-ordered), which this spreads well. The
/// all-zero id marks an empty slot, so it is kept aside. Grows (doubling) at a load of 3/4.
struct IDSet: Sendable {
    private var words: [UInt64] = []  // slot i: words[2i] high, words[2i + 1] low
    private var slots = 0
    private var count = 0
    private var shift: UInt64 = 64
    private var hasZero = false

    mutating func reserve(_ capacity: Int) {
        var size = 16
        while size * 3 < capacity * 4 { size *= 2 }
        if size > slots { rehash(size) }
    }

    /// Adds `id`; false when it was there already.
    mutating func insert(_ id: EventID) -> Bool {
        if id.high == 0, id.low == 0 {
            defer { hasZero = true }
            return !hasZero
        }
        if (count + 1) * 4 > slots * 3 { rehash(max(16, slots * 2)) }
        let mask = slots - 1
        let mixed = (id.high ^ (id.low &* 0x9E37_79B9_7F4A_7C15)) &* 0xBF58_476D_1CE4_E5B9
        var slot = Int(truncatingIfNeeded: (mixed ^ (mixed >> 29)) >> shift)
        let added = words.withUnsafeMutableBufferPointer { words in
            while words[2 &* slot] != 0 || words[2 &* slot &+ 1] != 0 {
                if words[2 &* slot] == id.high, words[2 &* slot &+ 1] == id.low { return false }
                slot = (slot &+ 1) & mask
            }
            words[2 &* slot] = id.high
            words[2 &* slot &+ 1] = id.low
            return true
        }
        if added { count += 1 }
        return added
    }

    private mutating func rehash(_ size: Int) {
        let old = words
        words = [UInt64](repeating: 0, count: 2 * size)
        slots = size
        shift = UInt64(64 - size.trailingZeroBitCount)
        count = 0
        for slot in 0..<(old.count / 2) where old[2 * slot] != 0 || old[2 * slot + 1] != 0 {
            _ = insert(EventID(high: old[2 * slot], low: old[2 * slot + 1]))
        }
    }
}

/// What an ingest did.
public struct IngestSummary: Sendable, Hashable {
    public var recordsRead = 0
    public var eventsAppended = 0
    public var recorded = 0
    public var duplicatesSkipped = 0
    public var rejected = 0
    public var totalCost = Money.zero
    public var runsHalted: [String] = []
    public var thresholdsCrossed: [String] = []

    /// Adds what one chunk's append recorded.
    mutating func add(_ result: RecordResult) {
        eventsAppended += result.eventsAppended
        recorded += result.recorded
        duplicatesSkipped += result.duplicates
        totalCost += result.cost
        runsHalted += result.halted
        thresholdsCrossed += result.thresholds
    }
}

extension Ledger {
    /// Appends prepared usage through the actors, in atomic chunks of `chunkSize` events. A crash
    /// part-way leaves whole chunks; ingesting again skips every record already stored (by id).
    ///
    /// Each chunk costs one id look-up and one append in the store, and one step of each actor it
    /// touches (see ``SpendCoordinator/record(_:)``): a larger chunk spreads those over more records.
    /// The events are moved out of `prepared` chunk by chunk, not copied (pass it with `consume`
    /// when it is not used after), and each chunk's memory is given back once it is appended.
    public func ingest(_ prepared: consuming PreparedIngest, chunkSize: Int = 32_768) async throws -> IngestSummary {
        precondition(chunkSize > 0 && chunkSize <= Limits.batchEventCountMax, "an ingest chunk must fit one batch")
        var summary = IngestSummary()
        summary.recordsRead = prepared.recordsRead
        summary.rejected = prepared.rejections.count
        summary.duplicatesSkipped = prepared.repeatedInInput
        var source = ChunkSource(blocks: prepared.blocks)
        prepared.blocks = []  // now the only reference, unless the caller kept one (then the first move copies)
        // Two chunks in flight: while the store's writer commits one, the actors prepare the next
        // (its id look-up, claims and grouping), so the two halves of the work overlap. Chunks are
        // atomic and independent (their ids are distinct), so they may commit in either order;
        // results are summed in chunk order.
        let spend = self.spend
        try await withThrowingTaskGroup(of: (Int, RecordResult).self) { group in
            var finished: [Int: RecordResult] = [:]
            var submitted = 0
            var summed = 0
            func take(_ completed: (Int, RecordResult)) {
                finished[completed.0] = completed.1
                while let result = finished.removeValue(forKey: summed) {
                    summary.add(result)
                    summed += 1
                }
            }
            while let chunk = source.next(chunkSize) {
                if submitted - summed - finished.count >= Self.ingestChunksInFlight, let completed = try await group.next() {
                    take(completed)
                }
                let number = submitted
                group.addTask { (number, try await spend.record(chunk)) }
                submitted += 1
            }
            while let completed = try await group.next() { take(completed) }
        }
        return summary
    }

    /// How many chunks ``ingest(_:chunkSize:)`` records at once.
    static let ingestChunksInFlight = 2

    /// Hands out a prepared ingest's events in chunks, moved (not copied) out of their blocks, each
    /// block let go of once it is used up.
    private struct ChunkSource {
        var blocks: [[ProposedEvent]]
        var block = 0
        var offset = 0

        /// The next (up to) `count` events, in an array with room for the events an append adds
        /// (thresholds, period starts, halts); nil at the end.
        mutating func next(_ count: Int) -> [ProposedEvent]? {
            while block < blocks.count, offset == blocks[block].count { advance() }
            guard block < blocks.count else { return nil }
            var wanted = 0
            var at = block
            var atOffset = offset
            while wanted < count, at < blocks.count {
                wanted += min(count - wanted, blocks[at].count - atOffset)
                at += 1
                atOffset = 0
            }
            let placeholder = ProposedEvent(id: EventID(high: 0, low: 0), stream: "", type: "", occurredAt: .epoch)
            return [ProposedEvent](unsafeUninitializedCapacity: wanted + 256) { target, filled in
                filled = 0
                while filled < wanted {
                    let take = min(wanted - filled, blocks[block].count - offset)
                    let start = offset
                    blocks[block].withUnsafeMutableBufferPointer { events in
                        let from = events.baseAddress! + start
                        (target.baseAddress! + filled).moveInitialize(from: from, count: take)
                        from.initialize(repeating: placeholder, count: take)  // holds no memory of its own
                    }
                    filled += take
                    offset += take
                    if offset == blocks[block].count { advance() }
                }
            }
        }

        private mutating func advance() {
            blocks[block] = []  // its events are out: give its array back
            block += 1
            offset = 0
        }
    }
}

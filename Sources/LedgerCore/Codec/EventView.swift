/// A stored event read in place: every envelope field and the payload, straight from the encoded
/// bytes (``EventCodec`` format 1), with no allocation.
///
/// Guarantees: construction checks every length against the buffer once, so no accessor can read
/// out of bounds, and a malformed event is refused with ``LedgerError/Code/corrupted`` (naming its
/// seq) instead of being half-read. The view is the fast path of replay: projections that fold
/// millions of events read dimensions and payload fields from it without decoding a
/// ``RecordedEvent``. ``decoded()`` gives the full event when a projection needs it.
///
/// ```swift
/// try store.forEachEncodedEvent { bytes in
///     let event = try EventView(bytes)
///     if event.hasType("usage.recorded") { total += event.payload.count }
///     return true
/// }
/// ```
///
/// - Warning: the view borrows the bytes it was made from (for LMDB: the memory map, inside a
///   read transaction). Use it only during the call that handed you the bytes; never store it or
///   a buffer it returns. Copy what you keep (``string(_:)`` makes a `String`).
public struct EventView {
    /// The whole encoded event, hash included.
    public let bytes: UnsafeRawBufferPointer
    @usableFromInline let presence: UInt16
    @usableFromInline let metadataCount: UInt16
    @usableFromInline let typeOffset: Int32
    @usableFromInline let typeCount: Int32
    @usableFromInline let dimensionsOffset: Int32
    @usableFromInline let metadataOffset: Int32
    @usableFromInline let payloadOffset: Int32
    @usableFromInline let payloadCount: Int32

    /// Checks the layout of `bytes` and records where each variable field starts.
    ///
    /// - Throws: ``LedgerError/Code/unsupportedFormat`` for a format byte this build does not read,
    ///   ``LedgerError/Code/corrupted`` for any length that points past the end or stray bytes.
    @inlinable @inline(__always)
    public init(_ bytes: UnsafeRawBufferPointer) throws(LedgerError) {
        self.bytes = bytes
        let count = bytes.count
        guard count >= EventCodec.fixedHeaderBytes + 3 + 3 + 4 + EventCodec.hashBytes, count < Int(Int32.max),
            bytes[0] == EventCodec.formatVersion, bytes[1] <= 1
        else { throw EventView.malformed(bytes, "its header is damaged or of an unknown format") }
        @inline(__always) func load16(_ offset: Int) -> Int {
            Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        }
        let end = count - EventCodec.hashBytes
        let presence = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
        let metadataCount = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
        var offset = EventCodec.fixedHeaderBytes + Int((presence >> 9) & 1) * 16 + Int((presence >> 10) & 1) * 16
        // The stream, then the type.
        guard offset + 2 <= end else { throw EventView.malformed(bytes, "a length points past its end") }
        offset += 2 + load16(offset)
        guard offset + 2 <= end else { throw EventView.malformed(bytes, "a length points past its end") }
        let typeCount = load16(offset)
        let typeOffset = offset + 2
        offset = typeOffset + typeCount
        let dimensionsOffset = offset
        var present = presence & 0x1FF
        while present != 0 {
            guard offset + 2 <= end else { throw EventView.malformed(bytes, "a length points past its end") }
            offset += 2 + load16(offset)
            present &= present - 1
        }
        let metadataOffset = offset
        var strings = Int(metadataCount) * 2
        while strings > 0 {
            guard offset + 2 <= end else { throw EventView.malformed(bytes, "a length points past its end") }
            offset += 2 + load16(offset)
            strings -= 1
        }
        guard offset + 4 <= end else { throw EventView.malformed(bytes, "a length points past its end") }
        let payloadCount = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        guard offset + 4 + payloadCount == end else { throw EventView.malformed(bytes, "its lengths do not add up to its size") }
        self.presence = presence
        self.metadataCount = metadataCount
        self.typeOffset = Int32(typeOffset)
        self.typeCount = Int32(typeCount)
        self.dimensionsOffset = Int32(dimensionsOffset)
        self.metadataOffset = Int32(metadataOffset)
        self.payloadOffset = Int32(offset + 4)
        self.payloadCount = Int32(payloadCount)
    }

    @usableFromInline @inline(never)
    static func malformed(_ bytes: UnsafeRawBufferPointer, _ why: String) -> LedgerError {
        if bytes.count >= 1, bytes[0] != EventCodec.formatVersion {
            return LedgerError(
                .unsupportedFormat, "a stored event has format \(bytes[0]); this build reads format \(EventCodec.formatVersion)")
        }
        guard bytes.count >= 16 else { return LedgerError(.corrupted, "a stored event is \(bytes.count) bytes: \(why)") }
        let seq = EventCodec.seq(in: bytes)
        return LedgerError(.corrupted, "event \(seq) does not parse: \(why)", seq: seq)
    }

    // MARK: Fixed fields

    @inlinable public var seq: UInt64 { EventCodec.seq(in: bytes) }

    @inlinable public var version: UInt64 {
        UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
    }

    @inlinable public var recordedAt: LedgerTime { EventCodec.recordedAt(in: bytes) }

    @inlinable public var occurredAt: LedgerTime { EventCodec.occurredAt(in: bytes) }

    @inlinable public var schema: UInt16 {
        UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
    }

    @inlinable public var payloadEncoding: PayloadEncoding { bytes[1] == 0 ? .binary : .json }

    @inlinable public var id: EventID {
        EventID(
            high: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 40, as: UInt64.self)),
            low: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 48, as: UInt64.self)))
    }

    /// The chain hash stored with the event.
    @inlinable public var hash: ChainHash {
        ChainHash(bytes: UnsafeRawBufferPointer(rebasing: bytes[(bytes.count - EventCodec.hashBytes)...]))
    }

    // MARK: Variable fields, in place

    @inlinable var streamOffset: Int {
        EventCodec.fixedHeaderBytes + Int((presence >> 9) & 1) * 16 + Int((presence >> 10) & 1) * 16 + 2
    }

    /// The stream name's UTF-8 bytes.
    @inlinable public var stream: UnsafeRawBufferPointer {
        let start = streamOffset
        let count = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: start - 2, as: UInt16.self)))
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(start + count)])
    }

    /// The event type's UTF-8 bytes.
    @inlinable public var type: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(typeOffset)..<Int(typeOffset + typeCount)])
    }

    /// The payload bytes.
    @inlinable public var payload: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[Int(payloadOffset)..<Int(payloadOffset + payloadCount)])
    }

    /// True when the event's type is exactly `type` (compares bytes; no allocation).
    @inlinable
    public func hasType(_ type: StaticString) -> Bool {
        guard type.utf8CodeUnitCount == Int(typeCount) else { return false }
        return memoryEquals(Int(typeOffset), type.utf8Start, Int(typeCount))
    }

    /// True when the stream name starts with `prefix`.
    @inlinable
    public func streamHasPrefix(_ prefix: StaticString) -> Bool {
        guard prefix.utf8CodeUnitCount <= stream.count else { return false }
        return memoryEquals(streamOffset, prefix.utf8Start, prefix.utf8CodeUnitCount)
    }

    @inlinable
    func memoryEquals(_ offset: Int, _ other: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        let mine = bytes.baseAddress!.advanced(by: offset).assumingMemoryBound(to: UInt8.self)
        var index = 0
        while index + 8 <= count {
            let a = UnsafeRawPointer(mine + index).loadUnaligned(as: UInt64.self)
            let b = UnsafeRawPointer(other + index).loadUnaligned(as: UInt64.self)
            if a != b { return false }
            index += 8
        }
        while index < count {
            if mine[index] != other[index] { return false }
            index += 1
        }
        return true
    }

    /// The UTF-8 bytes of the string dimension at `index` (in ``Dimensions/stringFieldNames`` order:
    /// 0 agent, 1 client, 2 project, 3 task, 4 run, 5 model, 6 vendor, 7 environment, 8 owner),
    /// or nil when the event has no value for it.
    @inlinable
    public func dimension(_ index: Int) -> UnsafeRawBufferPointer? {
        precondition(index >= 0 && index < 9, "no dimension at \(index)")
        let bit = UInt16(1) << UInt16(index)
        guard presence & bit != 0 else { return nil }
        var offset = Int(dimensionsOffset)
        var before = presence & (bit &- 1)
        while before != 0 {
            offset += 2 + Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
            before &= before &- 1
        }
        let count = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        return UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + count)])
    }

    /// Every string dimension's place, found in one walk: for folds that read several dimensions
    /// of each event (each ``dimension(_:)`` call walks the dimensions before it).
    @inlinable
    public var dimensionTable: DimensionTable {
        var table = DimensionTable(bytes: bytes)
        var offset = Int(dimensionsOffset)
        var present = presence & 0x1FF
        withUnsafeMutableBytes(of: &table.slots) { slots in
            while present != 0 {
                let index = present.trailingZeroBitCount
                let count = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
                slots.storeBytes(of: UInt64(offset + 2) << 32 | UInt64(count), toByteOffset: index * 8, as: UInt64.self)
                offset += 2 + count
                present &= present &- 1
            }
        }
        return table
    }

    /// The causation id, if present.
    public var causation: EventID? {
        guard presence & (1 << 9) != 0 else { return nil }
        return loadID(at: EventCodec.fixedHeaderBytes)
    }

    /// The correlation id, if present.
    public var correlation: EventID? {
        guard presence & (1 << 10) != 0 else { return nil }
        return loadID(at: EventCodec.fixedHeaderBytes + (presence & (1 << 9) != 0 ? 16 : 0))
    }

    private func loadID(at offset: Int) -> EventID {
        EventID(
            high: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
            low: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
    }

    /// The number of metadata entries.
    public var metadataEntryCount: Int { Int(metadataCount) }

    /// The UTF-8 bytes of the metadata value for `key`, or nil. A linear scan of the (bounded)
    /// metadata entries; no allocation.
    public func metadataValue(forKey key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        var offset = Int(metadataOffset)
        for _ in 0..<metadataCount {
            let keyCount = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
            let keyStart = offset + 2
            let valueCount = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: keyStart + keyCount, as: UInt16.self)))
            let valueStart = keyStart + keyCount + 2
            if keyCount == key.count, UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(keyStart + keyCount)]).elementsEqual(key) {
                return UnsafeRawBufferPointer(rebasing: bytes[valueStart..<(valueStart + valueCount)])
            }
            offset = valueStart + valueCount
        }
        return nil
    }

    /// The metadata value for `key` as a string, or nil.
    public func metadataValue(forKey key: String) -> String? {
        var key = key
        return key.withUTF8 { utf8 in metadataValue(forKey: UnsafeRawBufferPointer(utf8)).map(EventView.string) }
    }

    // MARK: Copies

    /// The whole event, decoded (allocates).
    public func decoded() throws(LedgerError) -> RecordedEvent { try EventCodec.decode(bytes) }

    /// The event type as a `String` (allocates).
    public var typeName: String { EventView.string(type) }

    /// The stream as a `String` (allocates).
    public var streamName: String { EventView.string(stream) }

    /// A copy of `utf8` as a `String`.
    public static func string(_ utf8: UnsafeRawBufferPointer) -> String { String(decoding: utf8, as: UTF8.self) }
}

/// The places of an event's string dimensions (see ``EventView/dimensionTable``).
public struct DimensionTable {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    /// Per dimension: `start << 32 | count`; 0 when absent (no dimension starts at 0).
    @usableFromInline var slots: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0)

    @inlinable init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// The UTF-8 bytes of dimension `index` (``Dimensions/stringFieldNames`` order), or nil.
    @inlinable
    public subscript(index: Int) -> UnsafeRawBufferPointer? {
        precondition(index >= 0 && index < 9, "no dimension at \(index)")
        let slot = withUnsafeBytes(of: slots) { $0.load(fromByteOffset: index * 8, as: UInt64.self) }
        guard slot != 0 else { return nil }
        let start = Int(slot >> 32)
        return UnsafeRawBufferPointer(rebasing: bytes[start..<(start + Int(slot & 0xFFFF_FFFF))])
    }
}

/// An ``EventStore`` that can hand out its stored events' bytes in place, the fastest way to fold
/// a long log (``LMDBEventStore`` in `LedgerLMDB` is one).
///
/// Guarantees, beyond ``EventStore``'s: both scans visit events in ascending `seq` order, each at
/// most once, on the calling thread, and never an event above `through`. The buffers are valid
/// only during the call to `body`.
public protocol EncodedEventSource: EventStore {
    /// Hands `body` the stored bytes of every event in `from...through` in `seq` order; `body`
    /// returns false to stop. Returns the last seq visited (0 if none).
    @discardableResult
    func scanEncodedEvents(
        from: UInt64, through: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Bool
    ) throws -> UInt64

    /// Hands `body` the stored bytes of every event with `occurredAt <= time` and `seq <= through`,
    /// in `seq` order (not occurredAt order); `body` returns false to stop. Returns the number of
    /// events visited.
    @discardableResult
    func scanEncodedEvents(
        occurredAtOrBefore time: LedgerTime, through: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Bool
    ) throws -> UInt64

    /// Hands `body` the stored bytes of the events in `from...through` a batch at a time (at most
    /// `batchCountMax` each, in `seq` order, no gap between batches). The second argument,
    /// `closesWindow`, says how long the buffers stay valid: every buffer handed out since the
    /// previous batch that closed a window stays valid until the call that closes this window
    /// returns. So a batch can be shared with another thread past its own call, as long as that
    /// thread is done with it before a window-closing call returns. `body` returns false to stop.
    /// Returns the last seq visited (0 if none).
    @discardableResult
    func scanEncodedEventBatches(
        from: UInt64, through: UInt64, batchCountMax: Int,
        _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer>, _ closesWindow: Bool) throws -> Bool
    ) throws -> UInt64
}

extension EncodedEventSource {
    /// The default batch scan: batches of one event, each closing its window (the per-event scan
    /// promises nothing longer).
    @discardableResult
    public func scanEncodedEventBatches(
        from: UInt64, through: UInt64, batchCountMax: Int,
        _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer>, _ closesWindow: Bool) throws -> Bool
    ) throws -> UInt64 {
        try scanEncodedEvents(from: from, through: through) { bytes in
            try withUnsafePointer(to: bytes) { try body(UnsafeBufferPointer(start: $0, count: 1), true) }
        }
    }

    /// The default occurred-time scan: the whole prefix, filtered by the `occurredAt` read in place.
    @discardableResult
    public func scanEncodedEvents(
        occurredAtOrBefore time: LedgerTime, through: UInt64, _ body: (UnsafeRawBufferPointer) throws -> Bool
    ) throws -> UInt64 {
        var visited: UInt64 = 0
        try scanEncodedEvents(from: 1, through: through) { bytes in
            guard EventCodec.occurredAt(in: bytes) <= time else { return true }
            visited += 1
            return try body(bytes)
        }
        return visited
    }
}

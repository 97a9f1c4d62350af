import Synchronization

/// An event store held in memory, with the same semantics as the durable backends: the same
/// validation, idempotency, expected versions, canonical bytes and hash chain.
///
/// For unit tests and examples only: nothing survives the process. Every append is "durable" the
/// moment it returns, because there is nowhere else for it to be.
public final class InMemoryEventStore: EventStore {
    private struct State {
        var encoded: [[UInt8]] = []  // index seq - 1
        var streams: [String: [UInt64]] = [:]  // stream -> seq of each version
        var ids: [EventID: UInt64] = [:]
        var head = LogHead.empty
        var closed = false
    }

    private struct Context: AppendPlanningContext {
        var state: State
        func currentVersion(of stream: String) -> UInt64 { UInt64(state.streams[stream]?.count ?? 0) }
        func storedPositions(of ids: [EventID]) -> [(seq: UInt64, version: UInt64)?] {
            ids.map { id in
                guard let seq = state.ids[id] else { return nil }
                let version = state.encoded[Int(seq - 1)].withUnsafeBytes {
                    UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: EventCodec.versionOffset, as: UInt64.self))
                }
                return (seq, version)
            }
        }
    }

    private let state: Mutex<State>
    private let clock: any LedgerClock
    public let headNotifier: HeadNotifier

    public convenience init(clock: any LedgerClock = SystemClock()) {
        self.init(state: State(), clock: clock)
    }

    private init(state: State, clock: any LedgerClock) {
        self.state = Mutex(state)
        self.clock = clock
        self.headNotifier = HeadNotifier(head: state.head.seq)
    }

    /// A new, open store over a copy of this store's events, as a durable store reopened over the
    /// same storage would be: for test harnesses that check reopening (see `EventStoreHarness`).
    package func reopened(clock: any LedgerClock) -> InMemoryEventStore {
        var copy = state.withLock { $0 }
        copy.closed = false
        return InMemoryEventStore(state: copy, clock: clock)
    }

    public func append(_ events: [ProposedEvent], expecting expectations: [String: ExpectedVersion]) throws -> AppendResult {
        try AppendPlanner.validate(events)
        let result: AppendResult = try state.withLock { state in
            guard !state.closed else { throw LedgerError(.closed, "the in-memory store is closed") }
            var context = Context(state: state)
            let plan = try AppendPlanner.plan(events, expecting: expectations, in: &context)
            var positions = plan.positions
            guard plan.newEventCount > 0 else { return AppendResult(positions: positions, head: state.head) }
            let now = max(clock.now(), state.head.recordedAt)
            for index in events.indices where !positions[index].isDuplicate {
                let event = events[index]
                let seq = state.head.seq + 1
                let (bytes, hash) = EventCodec.encode(
                    event, seq: seq, version: positions[index].version, recordedAt: now, previous: state.head.hash)
                state.encoded.append(bytes)
                state.streams[event.stream, default: []].append(seq)
                state.ids[event.id] = seq
                state.head = LogHead(seq: seq, hash: hash, recordedAt: now)
                positions[index].seq = seq
            }
            return AppendResult(positions: positions, head: state.head)
        }
        headNotifier.publish(result.head.seq)
        return result
    }

    public func read(from seq: UInt64, maxCount: Int) throws -> [RecordedEvent] {
        let slice: ArraySlice<[UInt8]> = state.withLock { state in
            guard seq <= UInt64(state.encoded.count), maxCount > 0 else { return [] }
            let start = Int(max(seq, 1)) - 1
            let count = min(maxCount, Limits.readEventCountMax, state.encoded.count - start)
            return state.encoded[start..<(start + count)]
        }
        return try slice.map { bytes in try bytes.withUnsafeBytes { try EventCodec.decode($0) } }
    }

    public func readStream(_ stream: String, fromVersion: UInt64, toVersion: UInt64, maxCount: Int) throws -> [RecordedEvent] {
        let selected: [[UInt8]] = state.withLock { state in
            guard let seqs = state.streams[stream], maxCount > 0, fromVersion <= toVersion,
                fromVersion <= UInt64(seqs.count)
            else { return [] }
            let low = Int(max(fromVersion, 1)) - 1
            let high = Int(min(toVersion, UInt64(seqs.count))) - 1
            guard low <= high else { return [] }
            return seqs[low...high].prefix(maxCount).map { state.encoded[Int($0 - 1)] }
        }
        return try selected.map { bytes in try bytes.withUnsafeBytes { try EventCodec.decode($0) } }
    }

    public func streamVersion(_ stream: String) -> UInt64 {
        state.withLock { UInt64($0.streams[stream]?.count ?? 0) }
    }

    public func event(id: EventID) throws -> RecordedEvent? {
        let bytes: [UInt8]? = state.withLock { state in state.ids[id].map { state.encoded[Int($0 - 1)] } }
        return try bytes.map { bytes in try bytes.withUnsafeBytes { try EventCodec.decode($0) } }
    }

    public func containsEvents(ids: [EventID]) -> [Bool] {
        state.withLock { state in ids.map { state.ids[$0] != nil } }
    }

    public func seq(recordedAtOrBefore time: LedgerTime) -> UInt64 {
        state.withLock { state in
            var low = 0
            var high = state.encoded.count  // first index with recordedAt > time
            while low < high {
                let mid = (low + high) / 2
                let recorded = state.encoded[mid].withUnsafeBytes { EventCodec.recordedAt(in: $0) }
                if recorded <= time { low = mid + 1 } else { high = mid }
            }
            return UInt64(low)
        }
    }

    public func head() -> LogHead { state.withLock { $0.head } }

    public func verify() -> VerificationReport {
        let snapshot = state.withLock { $0 }
        var previous = ChainHash.genesis
        var checked: UInt64 = 0
        func report(_ failure: VerificationReport.Failure?) -> VerificationReport {
            VerificationReport(eventsChecked: checked, head: snapshot.head, firstFailure: failure)
        }
        for (index, bytes) in snapshot.encoded.enumerated() {
            let seq = UInt64(index + 1)
            let failure: String? = bytes.withUnsafeBytes { raw in
                let hash = previous.chained(with: EventCodec.canonicalBytes(in: raw))
                guard hash == EventCodec.storedHash(in: raw) else { return "the stored hash does not match the chain" }
                guard let event = try? EventCodec.decode(raw) else { return "the stored bytes do not decode" }
                guard event.seq == seq else { return "the event says seq \(event.seq)" }
                guard snapshot.ids[event.id] == seq else { return "the id index does not point at this event" }
                guard snapshot.streams[event.stream]?[Int(event.version) - 1] == seq else {
                    return "the stream index does not point at this event"
                }
                previous = hash
                return nil
            }
            if let failure { return report(.init(seq: seq, reason: failure)) }
            checked += 1
        }
        if previous != snapshot.head.hash {
            return report(.init(seq: snapshot.head.seq, reason: "the head hash does not match the last event"))
        }
        return report(nil)
    }

    public func close() {
        state.withLock { $0.closed = true }
        headNotifier.close()
    }

    /// Overwrites one stored byte, bypassing every rule: for tests of ``verify()`` only.
    package func corruptStoredByte(seq: UInt64, offset: Int) {
        state.withLock { $0.encoded[Int(seq - 1)][offset] ^= 0xFF }
    }
}

import CLMDB
import LedgerCore

/// Walks the whole log: recomputes the hash chain, decodes every event, and checks that every
/// index entry points at its event and that no index holds an entry the log does not. The stream,
/// id and occurredAt index is checked through its watermark (events above it are not indexed yet,
/// by design); an index without ids or occurredAt entries (format 2 or 3, before its rebuild) is
/// checked for what it has.
struct LedgerVerifier {
    let environment: LMDBEnvironment
    let index: StreamIndex?

    func run() throws(LedgerError) -> VerificationReport {
        let head = try environment.withReadTransaction { txn throws(LedgerError) in try environment.head(in: txn) }
        // A snapshot of the stream index taken once; a writer may move it on while we walk.
        let indexed = try environment.withReadTransaction { _ throws(LedgerError) in  // holds the store open
            try index.map { index throws(LedgerError) in
                try index.withReadTransaction { txn throws(LedgerError) in
                    (
                        watermark: try index.watermark(in: txn).seq, entries: try index.entryCount(in: txn),
                        ids: index.ids == nil ? nil : try index.idCount(in: txn),
                        occurred: index.occurred == nil ? nil : try index.occurredCount(in: txn)
                    )
                }
            }
        }
        if let indexed, indexed.watermark > head.seq {
            return VerificationReport(
                eventsChecked: 0, head: head,
                firstFailure: .init(seq: head.seq + 1, reason: "the stream index holds events through seq \(indexed.watermark), past the log's head"))
        }
        let indexedThrough = indexed?.watermark ?? 0
        var previous = ChainHash.genesis
        var expected: UInt64 = 1
        var failure: VerificationReport.Failure?
        let chunk: UInt64 = 65_536
        var scratch: [UInt8] = []
        // Walk in chunks so a long verification never holds one read transaction for long.
        while failure == nil {
            let chunkEnd = expected + chunk - 1
            let visited = try environment.withReadTransaction { txn throws(LedgerError) -> UInt64 in
                try withIndexTransaction { indexTxn throws(LedgerError) in
                    try environment.forEachEncoded(from: expected, through: chunkEnd, in: txn) { (key, bytes) throws(LedgerError) in
                        let streamIndex = key <= indexedThrough ? indexTxn : nil
                        if let reason = try check(
                            key: key, bytes: bytes, expected: expected, previous: &previous, indexTxn: streamIndex,
                            scratch: &scratch)
                        {
                            failure = .init(seq: expected, reason: reason)
                            return false
                        }
                        expected += 1
                        return true
                    }
                }
            }
            if visited < chunkEnd { break }
        }
        let checked = expected - 1
        if failure == nil {
            failure = checkTotals(checked: checked, head: head, lastHash: previous)
        }
        if failure == nil, let indexed, indexed.entries != indexed.watermark {
            failure = .init(
                seq: indexed.watermark,
                reason: "the stream index has \(indexed.entries) entries for the \(indexed.watermark) events it covers")
        }
        if failure == nil, let indexed, let ids = indexed.ids, ids != indexed.watermark {
            failure = .init(
                seq: indexed.watermark, reason: "the id index has \(ids) entries for the \(indexed.watermark) events it covers")
        }
        if failure == nil, let indexed, let occurred = indexed.occurred, occurred != indexed.watermark {
            failure = .init(
                seq: indexed.watermark,
                reason: "the occurredAt index has \(occurred) entries for the \(indexed.watermark) events it covers")
        }
        return VerificationReport(eventsChecked: checked, head: head, firstFailure: failure)
    }

    /// One event: nil when intact, else why not.
    private func check(
        key: UInt64, bytes: UnsafeRawBufferPointer, expected: UInt64, previous: inout ChainHash,
        indexTxn: OpaquePointer?, scratch: inout [UInt8]
    ) throws(LedgerError) -> String? {
        if key != expected { return "the log has a gap: the next stored event is seq \(key)" }
        guard bytes.count > EventCodec.fixedHeaderBytes + EventCodec.hashBytes else {
            return "the stored event is \(bytes.count) bytes, too short to be an event"
        }
        let hash = previous.chained(with: EventCodec.canonicalBytes(in: bytes))
        if hash != EventCodec.storedHash(in: bytes) {
            return "the event's bytes do not match its chain hash (altered or damaged)"
        }
        let event: RecordedEvent
        do { event = try EventCodec.decode(bytes) } catch { return "the event does not decode: \(error.message)" }
        if event.seq != key { return "the event says it is seq \(event.seq)" }
        if let index, let indexTxn, try index.seq(of: event.stream, version: event.version, in: indexTxn, scratch: &scratch) != key {
            return "the stream index does not point at this event (\(event.stream) version \(event.version))"
        }
        if let index, let indexTxn, index.ids != nil, try index.seq(forID: event.id, in: indexTxn) != key {
            return "the id index does not point at this event (id \(event.id))"
        }
        if let index, let indexTxn, index.occurred != nil, try !index.holdsOccurred(event.occurredAt, seq: key, in: indexTxn) {
            return "the occurredAt index has no entry for this event"
        }
        previous = hash
        return nil
    }

    /// After the walk: the head record must agree with the log (the index sizes are checked
    /// against its watermark by ``run()``).
    private func checkTotals(checked: UInt64, head: LogHead, lastHash: ChainHash) -> VerificationReport.Failure? {
        if head.seq != checked {
            return .init(seq: min(head.seq, checked) + 1, reason: "the head record says seq \(head.seq) but the log ends at \(checked)")
        }
        if head.hash != lastHash {
            return .init(seq: head.seq, reason: "the head record's hash does not match the last event's hash")
        }
        return nil
    }

    private func withIndexTransaction<T>(_ body: (OpaquePointer?) throws(LedgerError) -> T) throws(LedgerError) -> T {
        guard let index else { return try body(nil) }
        return try index.withReadTransaction { txn throws(LedgerError) in try body(txn) }
    }
}

import Foundation
import LedgerCore

/// The writer's second thread: computes the chain hashes of one range of a large append
/// (``TemplateFeed``) while the writer stores the range before it, so that SHA-256 — a third of the
/// writer's time on a batch of 10,000 events — runs on the other core.
///
/// Ranges are hashed in the order they are queued, each continuing the chain where the one queued
/// before it ended, or from the hash its job names. The writer stores a range only with the hashes
/// made for it (``hashes(of:)``), and checks that they continue its head: a hash is never stored
/// that does not link to the event before it.
///
/// `@unchecked Sendable`: `queue`, `finished`, `queued`, `last` and `stopping` are touched only
/// under `lock`; the thread alone touches the chain it is computing.
final class RangeHasher: @unchecked Sendable {
    /// One range to hash: the new events (`positions` not marked duplicate) of `templates`, at
    /// seqs `firstSeq`, `firstSeq + 1`, … and the versions in `positions`.
    struct Job: Sendable {
        var templates: EventTemplates
        var positions: [EventPosition]
        var firstSeq: UInt64
        var recordedAt: LedgerTime
        /// The hash the range's first event links to; nil: the last hash of the job queued before.
        var previous: ChainHash?
    }

    /// A queued job's place in line.
    struct Ticket: Hashable {
        fileprivate let number: Int
    }

    /// What a job made: one hash per new event, in order, and the position they were made for
    /// (the hash the first links to, its seq, the events' recordedAt).
    struct Hashes {
        var hashes: [ChainHash]
        var previous: ChainHash
        var firstSeq: UInt64
        var recordedAt: LedgerTime
    }

    private let lock = ConditionLock()
    private var queue: [(Ticket, Job)] = []
    private var finished: [Ticket: Hashes] = [:]
    private var queued = 0
    private var stopping = false
    private var stopped = false

    init() {
        LedgerThreads.start(named: "ledger-hasher") { [self] in run() }
    }

    /// Queues a range; its hashes come from ``hashes(of:)``.
    func submit(_ job: Job) -> Ticket {
        lock.withLock {
            precondition(!stopping, "ranges are hashed only while the writer runs")
            precondition(job.previous != nil || queued > 0, "the first range names the hash it continues")
            let ticket = Ticket(number: queued)
            queued += 1
            queue.append((ticket, job))
            lock.broadcast()
            return ticket
        }
    }

    /// Waits for a queued range's hashes. Every ticket is redeemed once, also when its range is
    /// then not written (the append failed): that is how the writer knows the thread has let go of
    /// the range.
    func hashes(of ticket: Ticket) -> Hashes {
        lock.withLock {
            while finished[ticket] == nil { lock.wait() }
            return finished.removeValue(forKey: ticket)!
        }
    }

    /// Ends the thread once the queue is empty.
    func stop() {
        lock.withLock {
            stopping = true
            lock.broadcast()
            while !stopped { lock.wait() }
        }
    }

    private func run() {
        var last = ChainHash.genesis
        while let (ticket, job) = nextJob() {
            let made = Self.hash(job, continuing: last)
            if let end = made.hashes.last { last = end } else { last = made.previous }
            lock.withLock {
                finished[ticket] = made
                lock.broadcast()
            }
        }
        lock.withLock {
            stopped = true
            lock.broadcast()
        }
    }

    private func nextJob() -> (Ticket, Job)? {
        lock.withLock {
            while queue.isEmpty {
                if stopping { return nil }
                lock.wait()
            }
            return queue.removeFirst()
        }
    }

    /// The chain over a job's new events, from its `previous` (or `last`).
    static func hash(_ job: Job, continuing last: ChainHash) -> Hashes {
        let start = job.previous ?? last
        var previous = start
        var hashes: [ChainHash] = []
        hashes.reserveCapacity(job.positions.count)
        var seq = job.firstSeq
        job.templates.bytes.withUnsafeBytes { bytes in
            for offset in job.positions.indices where !job.positions[offset].isDuplicate {
                let template = UnsafeRawBufferPointer(rebasing: bytes[job.templates.range(of: offset)])
                previous = EventCodec.chainHash(
                    ofTemplate: template, seq: seq, version: job.positions[offset].version, recordedAt: job.recordedAt,
                    previous: previous)
                hashes.append(previous)
                seq += 1
            }
        }
        return Hashes(hashes: hashes, previous: start, firstSeq: job.firstSeq, recordedAt: job.recordedAt)
    }
}

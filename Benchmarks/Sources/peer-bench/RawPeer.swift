import CLMDBBench
import Foundation
import LedgerCore

/// The ceiling: the LMDB C API with nothing around it (the idea of spend-bench's RawLMDB.swift).
/// Writes put SpendLedger's encoded event bytes (made and hash-chained before the clock starts)
/// into one `MDB_INTEGERKEY` database with `MDB_APPEND`: no indexes, no head record, no
/// validation; every commit is fsync'ed (`fdatasync`). Concurrent writers hand their event to one
/// writer thread that commits whatever is pending in one transaction (a bare group commit).
/// Reads scan the SpendLedger log's own `events` database with a cursor and sum the cost by one
/// dimension, read in place with `EventView`: the least work any aggregate over the log can do
/// without a precomputed answer.
final class RawEnv: @unchecked Sendable {
    let env: OpaquePointer
    var dbi: MDB_dbi = 0

    init(path: String, readOnly: Bool) throws {
        if !readOnly { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        var pointer: OpaquePointer?
        try Self.check(mdb_env_create(&pointer), "mdb_env_create")
        env = pointer!
        try Self.check(mdb_env_set_maxdbs(env, 16), "mdb_env_set_maxdbs")
        try Self.check(mdb_env_set_mapsize(env, 1 << 36), "mdb_env_set_mapsize")
        var flags = UInt32(MDB_NOTLS)
        if readOnly { flags |= UInt32(MDB_RDONLY) }
        try Self.check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open \(path)")
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, readOnly ? UInt32(MDB_RDONLY) : 0, &txn), "mdb_txn_begin")
        try Self.check(mdb_dbi_open(txn, "events", UInt32(MDB_INTEGERKEY) | (readOnly ? 0 : UInt32(MDB_CREATE)), &dbi), "mdb_dbi_open")
        try Self.check(mdb_txn_commit(txn), "mdb_txn_commit")
    }

    func close() { mdb_env_close(env) }

    static func check(_ rc: Int32, _ what: String) throws {
        guard rc == MDB_SUCCESS else { throw PeerError("\(what): \(String(cString: mdb_strerror(rc)))") }
    }

    /// One transaction putting `values` at `firstSeq...`, committed (fsync).
    func put(_ values: ArraySlice<[UInt8]>, firstSeq: UInt64) throws {
        var txn: OpaquePointer?
        try Self.check(mdb_txn_begin(env, nil, 0, &txn), "mdb_txn_begin")
        var seq = firstSeq
        for value in values {
            let rc = value.withUnsafeBytes { bytes in
                withUnsafeMutableBytes(of: &seq) { keyBytes in
                    var key = MDB_val(mv_size: 8, mv_data: keyBytes.baseAddress)
                    var data = MDB_val(mv_size: bytes.count, mv_data: UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                    return mdb_put(txn, dbi, &key, &data, UInt32(MDB_APPEND))
                }
            }
            if rc != MDB_SUCCESS {
                mdb_txn_abort(txn)
                try Self.check(rc, "mdb_put")
            }
            seq += 1
        }
        try Self.check(mdb_txn_commit(txn), "mdb_txn_commit")
    }
}

/// A bare group commit over raw LMDB: callers enqueue one value and wait; one writer thread takes
/// everything pending, writes it in one transaction, commits (fsync) and resumes them all.
final class RawGroupCommit: @unchecked Sendable {
    private let raw: RawEnv
    private let condition = NSCondition()
    private var pending: [([UInt8], CheckedContinuation<Void, Never>)] = []
    private var stopping = false
    private var nextSeq: UInt64 = 1
    private(set) var commits = 0
    private let finished = DispatchSemaphore(value: 0)

    init(raw: RawEnv) {
        self.raw = raw
        let thread = Thread { [self] in loop() }
        thread.start()
    }

    func append(_ value: [UInt8]) async {
        await withCheckedContinuation { continuation in
            condition.lock()
            pending.append((value, continuation))
            condition.signal()
            condition.unlock()
        }
    }

    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        finished.wait()
    }

    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty, !stopping { condition.wait() }
            if pending.isEmpty, stopping {
                condition.unlock()
                finished.signal()
                return
            }
            let group = pending
            pending.removeAll(keepingCapacity: true)
            condition.unlock()
            do {
                try raw.put(group.map(\.0)[...], firstSeq: nextSeq)
            } catch {
                fatalError("raw group commit: \(error)")
            }
            nextSeq += UInt64(group.count)
            commits += 1
            for (_, continuation) in group { continuation.resume() }
        }
    }
}

enum RawPeer {
    /// SpendLedger's bytes for `charges`, chained (version 1 each: a ceiling, not a ledger).
    static func encode(_ charges: [Charge]) -> [[UInt8]] {
        var previous = ChainHash.genesis
        let now = LedgerTime(nanosecondsSinceEpoch: realtimeNanos())
        return charges.enumerated().map { index, charge in
            let (bytes, hash) = EventCodec.encode(charge.proposed, seq: UInt64(index + 1), version: 1, recordedAt: now, previous: previous)
            previous = hash
            return bytes
        }
    }

    static func writes(dir: String, sizes: WriteSizes, results: ResultsFile) async throws {
        do {
            let values = encode(Workload.charges(0..<sizes.single))
            let path = dir + "/raw-w-single"
            LedgerPeer.remove(path)
            let raw = try RawEnv(path: path, readOnly: false)
            var latencies: [UInt64] = []
            let start = monotonicNanos()
            for (index, value) in values.enumerated() {
                let t0 = monotonicNanos()
                try raw.put([value][...], firstSeq: UInt64(index + 1))
                latencies.append(monotonicNanos() - t0)
            }
            let wall = monotonicNanos() - start
            raw.close()
            LedgerPeer.remove(path)
            let l = Latencies(latencies)
            results.write(Record(store: "raw", bench: "w.single", events: values.count, seconds: Double(wall) / 1e9, p50: l.p50, p99: l.p99))
        }
        for (writers, perWriter) in [(8, sizes.perWriter8), (1_000, sizes.perWriter1000)] {
            let path = dir + "/raw-w-c\(writers)"
            LedgerPeer.remove(path)
            let raw = try RawEnv(path: path, readOnly: false)
            let all = encode(Workload.charges(0..<(writers * perWriter)))
            let committer = RawGroupCommit(raw: raw)
            let start = monotonicNanos()
            let samples = await withTaskGroup(of: [UInt64].self) { group in
                for w in 0..<writers {
                    let mine = Array(all[(w * perWriter)..<((w + 1) * perWriter)])
                    group.addTask {
                        var latencies: [UInt64] = []
                        for value in mine {
                            let t0 = monotonicNanos()
                            await committer.append(value)
                            latencies.append(monotonicNanos() - t0)
                        }
                        return latencies
                    }
                }
                var out: [UInt64] = []
                for await latencies in group { out += latencies }
                return out
            }
            let wall = monotonicNanos() - start
            committer.stop()
            let commits = committer.commits
            raw.close()
            LedgerPeer.remove(path)
            let l = Latencies(samples)
            results.write(
                Record(
                    store: "raw", bench: "w.c\(writers)", events: all.count, seconds: Double(wall) / 1e9, p50: l.p50, p99: l.p99,
                    note: "bare group commit: \(commits) commits, mean \(all.count / max(commits, 1)) events each"))
        }
        do {
            let batches = sizes.batches
            let values = encode(Workload.charges(0..<(batches * 1_000)))
            let path = dir + "/raw-w-batch"
            LedgerPeer.remove(path)
            let raw = try RawEnv(path: path, readOnly: false)
            var latencies: [UInt64] = []
            let start = monotonicNanos()
            for b in 0..<batches {
                let t0 = monotonicNanos()
                try raw.put(values[(b * 1_000)..<((b + 1) * 1_000)], firstSeq: UInt64(b * 1_000 + 1))
                latencies.append(monotonicNanos() - t0)
            }
            let wall = monotonicNanos() - start
            raw.close()
            LedgerPeer.remove(path)
            let l = Latencies(latencies)
            results.write(Record(store: "raw", bench: "w.batch1000", events: values.count, seconds: Double(wall) / 1e9, p50: l.p50, p99: l.p99))
        }
        results.write(Record(store: "raw", bench: "mem.write", events: 0, seconds: 0, value: Double(Memory.peakSinceReset()), note: "peak RSS of the harness process"))
    }

    /// Sums cost and calls by dimension `field` over `events` of the ledger at `path`, stopping
    /// after the last event recorded at or before `through` (nil: all).
    static func aggregate(raw: RawEnv, field: Int, through: Int64?) throws -> [(key: String, cost: Int64, calls: Int64)] {
        var slots: [UInt64: Int] = [:]
        var keys: [String] = []
        var cost: [Int64] = []
        var calls: [Int64] = []
        var txn: OpaquePointer?
        try RawEnv.check(mdb_txn_begin(raw.env, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin")
        defer { mdb_txn_abort(txn) }
        var cursor: OpaquePointer?
        try RawEnv.check(mdb_cursor_open(txn, raw.dbi, &cursor), "mdb_cursor_open")
        defer { mdb_cursor_close(cursor) }
        var key = MDB_val()
        var data = MDB_val()
        var rc = mdb_cursor_get(cursor, &key, &data, MDB_FIRST)
        while rc == MDB_SUCCESS {
            let bytes = UnsafeRawBufferPointer(start: data.mv_data, count: data.mv_size)
            let view = try EventView(bytes)
            if let through, view.recordedAt.nanosecondsSinceEpoch > through { break }
            if view.hasType("usage.recorded"), let dim = view.dimension(field) {
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                for byte in dim { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
                let slot: Int
                if let found = slots[hash] {
                    slot = found
                } else {
                    slot = keys.count
                    slots[hash] = slot
                    keys.append(EventView.string(dim))
                    cost.append(0)
                    calls.append(0)
                }
                let payload = view.payload
                cost[slot] &+= Int64(littleEndian: payload.loadUnaligned(fromByteOffset: 16, as: Int64.self))
                calls[slot] &+= 1
            }
            rc = mdb_cursor_get(cursor, &key, &data, MDB_NEXT)
        }
        if rc != MDB_SUCCESS, rc != MDB_NOTFOUND { try RawEnv.check(rc, "mdb_cursor_get") }
        return keys.indices.map { (keys[$0], cost[$0], calls[$0]) }
    }

    static func reads(dir: String, events: Int, reps: Int, results: ResultsFile) throws {
        Memory.resetPeak()
        let raw = try RawEnv(path: LedgerPeer.logPath(dir: dir, events: events), readOnly: true)
        defer { raw.close() }
        let queries: [(String, Int, Int64?)] = [
            ("r.agent.\(label(events))", Field.agent, nil), ("r.model.\(label(events))", Field.model, nil),
            ("r.client.\(label(events))", Field.client, nil),
            ("r.asof.\(label(events))", Field.agent, Workload.middle(events: events)),
        ]
        for (bench, field, through) in queries {
            var samples: [UInt64] = []
            var rows: [(key: String, cost: Int64, calls: Int64)] = []
            for rep in 0...max(reps - 2, 1) {
                if overBudget(samples) { break }
                let t0 = monotonicNanos()
                rows = try aggregate(raw: raw, field: field, through: through)
                let elapsed = monotonicNanos() - t0
                if rep > 0 { samples.append(elapsed) }
            }
            let m = medianOf(samples)
            results.write(
                Record(
                    store: "raw", bench: bench, events: events, seconds: m.median / 1e9, p50: m.min, p99: m.max,
                    note: "cursor scan of the ledger's events, summing in place; median of \(samples.count)", digest: digest(rows)))
        }
        let status = Memory.selfStatus()
        results.write(
            Record(
                store: "raw", bench: "mem.read.\(label(events))", events: events, seconds: 0, value: Double(Memory.peakSinceReset()),
                note: "RssAnon \(Fmt.mib(Double(status.anon))), RssFile \(Fmt.mib(Double(status.file)))"))
    }
}

enum Field {
    // Indexes in LedgerCore's Dimensions.stringFieldNames (agent, client, project, task, run, model, vendor, ...).
    static let agent = 0
    static let client = 1
    static let model = 5
}

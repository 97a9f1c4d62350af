import CSQLite
import Foundation
import LedgerCore

private let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// One SQLite connection. SQLite lets one writer in at a time, so concurrent writers share this
/// connection behind a lock (what a Swift service does with one serialized writer connection, as
/// GRDB's DatabaseQueue/DatabasePool writer does); separate connections would only add
/// busy-retry sleeps on the same single write lock.
final class SQLiteDB: @unchecked Sendable {
    let db: OpaquePointer
    let lock = NSLock()

    init(path: String) throws {
        var pointer: OpaquePointer?
        let rc = sqlite3_open_v2(path, &pointer, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let pointer else { throw PeerError("sqlite3_open_v2 \(path): \(rc)") }
        db = pointer
        // Durable: WAL with synchronous=FULL fsyncs the WAL at every commit.
        try exec("PRAGMA journal_mode=WAL")
        try exec("PRAGMA synchronous=FULL")
        try exec("PRAGMA cache_size=-65536")  // 64 MiB page cache
        try exec("PRAGMA busy_timeout=60000")
    }

    deinit { sqlite3_close_v2(db) }

    var error: String { String(cString: sqlite3_errmsg(db)) }

    func exec(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, sql, nil, nil, &message) == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? error
            sqlite3_free(message)
            throw PeerError("SQLite \(sql.prefix(60)): \(text)")
        }
    }

    func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw PeerError("SQLite prepare \(sql.prefix(60)): \(error)")
        }
        return statement
    }

    func count(_ table: String) throws -> Int {
        let statement = try prepare("SELECT count(*) FROM \(table)")
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW else { throw PeerError("count: \(error)") }
        return Int(sqlite3_column_int64(statement, 0))
    }
}

/// The same table as PostgreSQL's: one row per charge, id as a 16-byte blob primary key, times as
/// integer nanoseconds, indexes on (agent, occurred_at), (client, occurred_at) and recorded_at.
enum SQLitePeer {
    static let columns = "id, agent, client, project, task, run, model, vendor, cost_nanos, input_tokens, output_tokens, cached_tokens, reasoning_tokens, tool_calls, retries, occurred_at, recorded_at"

    static func createTable(_ db: SQLiteDB, _ name: String, indexes: Bool) throws {
        try db.exec("DROP TABLE IF EXISTS \(name)")
        try db.exec(
            """
            CREATE TABLE \(name) (
              id BLOB PRIMARY KEY NOT NULL,
              agent TEXT NOT NULL, client TEXT NOT NULL, project TEXT, task TEXT, run TEXT,
              model TEXT NOT NULL, vendor TEXT,
              cost_nanos INTEGER NOT NULL,
              input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
              reasoning_tokens INTEGER NOT NULL, tool_calls INTEGER NOT NULL, retries INTEGER NOT NULL,
              occurred_at INTEGER NOT NULL, recorded_at INTEGER NOT NULL)
            """)
        if indexes { try createIndexes(db, name) }
    }

    static func createIndexes(_ db: SQLiteDB, _ name: String) throws {
        try db.exec("CREATE INDEX \(name)_agent_time ON \(name) (agent, occurred_at)")
        try db.exec("CREATE INDEX \(name)_client_time ON \(name) (client, occurred_at)")
        try db.exec("CREATE INDEX \(name)_recorded ON \(name) (recorded_at)")
    }

    static func insertSQL(_ table: String) -> String {
        "INSERT INTO \(table) (\(columns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    }

    /// Binds `c` (recorded now unless given) and steps the insert.
    static func insert(_ statement: OpaquePointer, _ c: Charge, recordedAt: Int64? = nil) throws {
        let id = c.idBytes
        id.withUnsafeBytes { _ = sqlite3_bind_blob(statement, 1, $0.baseAddress, 16, SQLITE_TRANSIENT) }
        for (index, text) in [c.agent, c.client, c.project, c.task, c.run, c.model, c.vendor].enumerated() {
            sqlite3_bind_text(statement, Int32(index + 2), text, -1, SQLITE_TRANSIENT)
        }
        sqlite3_bind_int64(statement, 9, c.cost)
        sqlite3_bind_int64(statement, 10, c.input)
        sqlite3_bind_int64(statement, 11, c.output)
        sqlite3_bind_int64(statement, 12, c.cached)
        sqlite3_bind_int64(statement, 13, c.reasoning)
        sqlite3_bind_int64(statement, 14, Int64(c.toolCalls))
        sqlite3_bind_int64(statement, 15, Int64(c.retries))
        sqlite3_bind_int64(statement, 16, c.occurredAt)
        sqlite3_bind_int64(statement, 17, recordedAt ?? realtimeNanos())
        let rc = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard rc == SQLITE_DONE else { throw PeerError("SQLite insert: \(rc)") }
    }

    static func freshDB(_ dir: String, _ name: String) throws -> (SQLiteDB, String) {
        let path = dir + "/" + name + ".sqlite"
        for suffix in ["", "-wal", "-shm"] { LedgerPeer.remove(path + suffix) }
        return (try SQLiteDB(path: path), path)
    }

    static func removeDB(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { LedgerPeer.remove(path + suffix) }
    }

    // MARK: Writes

    static func writes(dir: String, sizes: WriteSizes, results: ResultsFile) throws {
        do {
            let (db, path) = try freshDB(dir, "sqlite-w-single")
            try createTable(db, "usage", indexes: true)
            let statement = try db.prepare(insertSQL("usage"))
            let charges = Workload.charges(0..<sizes.single)
            var latencies: [UInt64] = []
            let start = monotonicNanos()
            for c in charges {
                let t0 = monotonicNanos()
                try insert(statement, c)
                latencies.append(monotonicNanos() - t0)
            }
            let wall = monotonicNanos() - start
            sqlite3_finalize(statement)
            guard try db.count("usage") == sizes.single else { throw PeerError("SQLite row count") }
            removeDB(path)
            let l = Latencies(latencies)
            results.write(
                Record(
                    store: "sqlite", bench: "w.single", events: sizes.single, seconds: Double(wall) / 1e9, p50: l.p50, p99: l.p99,
                    note: "prepared INSERT, autocommit, WAL, synchronous=FULL"))
        }
        for (writers, perWriter) in [(8, sizes.perWriter8), (1_000, sizes.perWriter1000)] {
            let (db, path) = try freshDB(dir, "sqlite-w-c\(writers)")
            try createTable(db, "usage", indexes: true)
            let statement = try db.prepare(insertSQL("usage"))
            let charges = Workload.charges(0..<(writers * perWriter))
            let sink = LatencySink()
            let shared = StatementBox(statement)
            let wall = try runWriterThreads(
                writers, prepare: { _ in () },
                body: { w, _ in
                    var latencies: [UInt64] = []
                    for index in (w * perWriter)..<((w + 1) * perWriter) {
                        let t0 = monotonicNanos()
                        db.lock.lock()
                        defer { db.lock.unlock() }
                        try insert(shared.statement, charges[index])
                        latencies.append(monotonicNanos() - t0)
                    }
                    sink.add(latencies)
                })
            sqlite3_finalize(statement)
            guard try db.count("usage") == writers * perWriter else { throw PeerError("SQLite row count") }
            removeDB(path)
            let l = Latencies(sink.samples)
            results.write(
                Record(
                    store: "sqlite", bench: "w.c\(writers)", events: writers * perWriter, seconds: Double(wall) / 1e9, p50: l.p50,
                    p99: l.p99, note: "\(writers) threads sharing one connection behind a lock, autocommit"))
        }
        do {
            let (db, path) = try freshDB(dir, "sqlite-w-batch")
            try createTable(db, "usage", indexes: true)
            let statement = try db.prepare(insertSQL("usage"))
            let batches = sizes.batches
            let charges = Workload.charges(0..<(batches * 1_000))
            var latencies: [UInt64] = []
            let start = monotonicNanos()
            for b in 0..<batches {
                let t0 = monotonicNanos()
                try db.exec("BEGIN IMMEDIATE")
                for c in charges[(b * 1_000)..<((b + 1) * 1_000)] { try insert(statement, c) }
                try db.exec("COMMIT")
                latencies.append(monotonicNanos() - t0)
            }
            let wall = monotonicNanos() - start
            sqlite3_finalize(statement)
            guard try db.count("usage") == batches * 1_000 else { throw PeerError("SQLite row count") }
            removeDB(path)
            let l = Latencies(latencies)
            results.write(
                Record(
                    store: "sqlite", bench: "w.batch1000", events: batches * 1_000, seconds: Double(wall) / 1e9, p50: l.p50, p99: l.p99,
                    note: "BEGIN IMMEDIATE; 1,000 prepared INSERTs; COMMIT; latency per batch"))
        }
        let status = Memory.selfStatus()
        results.write(
            Record(
                store: "sqlite", bench: "mem.write", events: 0, seconds: 0, value: Double(Memory.peakSinceReset()),
                note: "peak RSS of the harness process (SQLite runs in-process); at the end RssAnon \(Fmt.mib(Double(status.anon)))"))
    }

    // MARK: Reads

    static func path(dir: String, events: Int) -> String { dir + "/sqlite-\(events).sqlite" }

    static func prepare(dir: String, events: Int, reuse: Bool, results: ResultsFile) throws {
        let file = path(dir: dir, events: events)
        if reuse, FileManager.default.fileExists(atPath: file + ".complete") {
            print("  [sqlite] reusing \(file)")
            return
        }
        removeDB(file)
        LedgerPeer.remove(file + ".complete")
        let db = try SQLiteDB(path: file)
        try db.exec("PRAGMA synchronous=OFF")  // loading only; the measured work is the queries
        try createTable(db, "usage", indexes: false)
        let statement = try db.prepare(insertSQL("usage"))
        let start = monotonicNanos()
        var next = 0
        while next < events {
            let count = min(100_000, events - next)
            try db.exec("BEGIN")
            for index in next..<(next + count) { try insert(statement, Workload.charge(index), recordedAt: Workload.recordedAt(index)) }
            try db.exec("COMMIT")
            next += count
        }
        sqlite3_finalize(statement)
        let loaded = Double(monotonicNanos() - start) / 1e9
        let indexStart = monotonicNanos()
        try createIndexes(db, "usage")
        try db.exec("ANALYZE")
        try db.exec("PRAGMA wal_checkpoint(TRUNCATE)")
        let indexed = Double(monotonicNanos() - indexStart) / 1e9
        _ = FileManager.default.createFile(atPath: file + ".complete", contents: nil)
        let size = Double(fileSize(file))
        results.write(
            Record(
                store: "sqlite", bench: "load.\(label(events))", events: events, seconds: loaded, value: size,
                note: String(format: "inserted in transactions of 100,000 (synchronous=OFF while loading) %.1f s, 3 indexes + ANALYZE %.1f s; file %@", loaded, indexed, Fmt.mib(size))))
    }

    static func reads(dir: String, events: Int, reps: Int, results: ResultsFile) throws {
        Memory.resetPeak()
        let db = try SQLiteDB(path: path(dir: dir, events: events))
        let sums = "sum(cost_nanos), count(*), sum(input_tokens), sum(output_tokens), sum(cached_tokens), sum(reasoning_tokens), sum(tool_calls), sum(retries)"
        let queries: [(String, String, Int64?)] = [
            ("r.agent.\(label(events))", "SELECT agent, \(sums) FROM usage GROUP BY agent ORDER BY 2 DESC", nil),
            ("r.model.\(label(events))", "SELECT model, \(sums) FROM usage GROUP BY model ORDER BY 2 DESC", nil),
            ("r.client.\(label(events))", "SELECT client, \(sums) FROM usage GROUP BY client ORDER BY 2 DESC", nil),
            (
                "r.asof.\(label(events))", "SELECT agent, \(sums) FROM usage WHERE recorded_at <= ? GROUP BY agent ORDER BY 2 DESC",
                Workload.middle(events: events)
            ),
        ]
        for (bench, sql, parameter) in queries {
            let statement = try db.prepare(sql)
            defer { sqlite3_finalize(statement) }
            let planStatement = try db.prepare("EXPLAIN QUERY PLAN " + sql)
            if let parameter { sqlite3_bind_int64(planStatement, 1, parameter) }
            var plan: [String] = []
            while sqlite3_step(planStatement) == SQLITE_ROW { plan.append(String(cString: sqlite3_column_text(planStatement, 3))) }
            sqlite3_finalize(planStatement)
            var samples: [UInt64] = []
            var rows: [(key: String, cost: Int64, calls: Int64)] = []
            for rep in 0...max(reps - 2, 1) {
                if overBudget(samples) { break }
                let t0 = monotonicNanos()
                if let parameter { sqlite3_bind_int64(statement, 1, parameter) }
                var found: [(key: String, cost: Int64, calls: Int64)] = []
                while true {
                    let rc = sqlite3_step(statement)
                    if rc == SQLITE_DONE { break }
                    guard rc == SQLITE_ROW else { throw PeerError("SQLite query: \(db.error)") }
                    found.append((String(cString: sqlite3_column_text(statement, 0)), sqlite3_column_int64(statement, 1), sqlite3_column_int64(statement, 2)))
                }
                sqlite3_reset(statement)
                let elapsed = monotonicNanos() - t0
                if rep > 0 { samples.append(elapsed) }
                rows = found
            }
            let m = medianOf(samples)
            results.write(
                Record(
                    store: "sqlite", bench: bench, events: events, seconds: m.median / 1e9, p50: m.min, p99: m.max,
                    note: "median of \(samples.count); plan: " + plan.joined(separator: " / "), digest: digest(rows)))
        }
        let status = Memory.selfStatus()
        results.write(
            Record(
                store: "sqlite", bench: "mem.read.\(label(events))", events: events, seconds: 0, value: Double(Memory.peakSinceReset()),
                note: "peak RSS of the harness process; at the end RssAnon \(Fmt.mib(Double(status.anon)))"))
    }
}

final class StatementBox: @unchecked Sendable {
    let statement: OpaquePointer
    init(_ statement: OpaquePointer) { self.statement = statement }
}

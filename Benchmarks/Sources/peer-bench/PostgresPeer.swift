import CLibPQ
import Foundation
import LedgerCore

/// One libpq connection (blocking API). Not shared between threads.
final class PGConnection: @unchecked Sendable {
    let conn: OpaquePointer

    init(_ conninfo: String) throws {
        guard let conn = PQconnectdb(conninfo) else { throw PeerError("PQconnectdb returned nothing") }
        self.conn = conn
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn))
            PQfinish(conn)
            throw PeerError("PostgreSQL connection failed: \(message)")
        }
        PQclear(PQexec(conn, "SET client_min_messages = warning"))
    }

    deinit { PQfinish(conn) }

    var error: String { String(cString: PQerrorMessage(conn)) }

    /// Runs `sql` (no parameters), checks it succeeded, returns the rows as text.
    @discardableResult
    func exec(_ sql: String) throws -> [[String]] {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        return try rows(result, sql)
    }

    func prepare(_ name: String, _ sql: String, parameters: Int) throws {
        let result = PQprepare(conn, name, sql, Int32(parameters), nil)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw PeerError("PQprepare \(name): \(error)") }
    }

    /// Runs a prepared statement with text parameters.
    @discardableResult
    func execPrepared(_ name: String, _ parameters: [String]) throws -> [[String]] {
        let cStrings = parameters.map { strdup($0) }
        defer { for pointer in cStrings { free(pointer) } }
        let values: [UnsafePointer<CChar>?] = cStrings.map { UnsafePointer($0) }
        let result = values.withUnsafeBufferPointer { buffer in
            PQexecPrepared(conn, name, Int32(parameters.count), buffer.baseAddress, nil, nil, 0)
        }
        defer { PQclear(result) }
        return try rows(result, name)
    }

    private func rows(_ result: OpaquePointer?, _ what: String) throws -> [[String]] {
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else {
            throw PeerError("PostgreSQL \(what.prefix(80)): \(error)")
        }
        guard status == PGRES_TUPLES_OK else { return [] }
        let count = Int(PQntuples(result))
        let fields = Int(PQnfields(result))
        return (0..<count).map { row in
            (0..<fields).map { String(cString: PQgetvalue(result, Int32(row), Int32($0))) }
        }
    }

    /// `COPY <table> (<columns>) FROM STDIN` with the rows `text` (tab-separated, newline-ended),
    /// sent in pieces by `produce` (called until it returns nil). One statement: one transaction.
    func copy(_ statement: String, produce: () -> [UInt8]?) throws {
        let start = PQexec(conn, statement)
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            PQclear(start)
            throw PeerError("COPY did not start: \(error)")
        }
        PQclear(start)
        while let chunk = produce() {
            let rc = chunk.withUnsafeBytes { raw in
                PQputCopyData(conn, raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count))
            }
            guard rc == 1 else { throw PeerError("PQputCopyData: \(error)") }
        }
        guard PQputCopyEnd(conn, nil) == 1 else { throw PeerError("PQputCopyEnd: \(error)") }
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw PeerError("COPY: \(error)") }
        }
    }
}

/// The common design: one table, one row per charge, indexes on (agent, occurred_at),
/// (client, occurred_at) and recorded_at, a uuid primary key; `recorded_at` defaults to the
/// server's `now()`. Durable: the server runs with fsync=on, synchronous_commit=on (set by
/// peer-bench.sh), and every insert is its own transaction (autocommit) unless batched.
enum PostgresPeer {
    static let columns = "id, agent, client, project, task, run, model, vendor, cost_nanos, input_tokens, output_tokens, cached_tokens, reasoning_tokens, tool_calls, retries, occurred_at"

    static func createTable(_ pg: PGConnection, _ name: String, indexes: Bool) throws {
        try pg.exec("DROP TABLE IF EXISTS \(name)")
        try pg.exec(
            """
            CREATE TABLE \(name) (
              id uuid \(indexes ? "PRIMARY KEY" : "NOT NULL"),
              agent text NOT NULL, client text NOT NULL, project text, task text, run text,
              model text NOT NULL, vendor text,
              cost_nanos bigint NOT NULL,
              input_tokens bigint NOT NULL, output_tokens bigint NOT NULL, cached_tokens bigint NOT NULL,
              reasoning_tokens bigint NOT NULL, tool_calls integer NOT NULL, retries integer NOT NULL,
              occurred_at timestamptz NOT NULL,
              recorded_at timestamptz NOT NULL DEFAULT now())
            """)
        if indexes { try createIndexes(pg, name) }
    }

    static func createIndexes(_ pg: PGConnection, _ name: String) throws {
        try pg.exec("CREATE INDEX \(name)_agent_time ON \(name) (agent, occurred_at)")
        try pg.exec("CREATE INDEX \(name)_client_time ON \(name) (client, occurred_at)")
        try pg.exec("CREATE INDEX \(name)_recorded ON \(name) (recorded_at)")
    }

    static func insertSQL(_ table: String) -> String {
        "INSERT INTO \(table) (\(columns)) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    }

    static func parameters(_ c: Charge) -> [String] {
        [
            c.id.description, c.agent, c.client, c.project, c.task, c.run, c.model, c.vendor, String(c.cost), String(c.input),
            String(c.output), String(c.cached), String(c.reasoning), String(c.toolCalls), String(c.retries),
            Timestamp.iso(c.occurredAt),
        ]
    }

    /// One COPY text line; with `recordedAt`, the recorded_at column too.
    static func copyLine(_ c: Charge, recordedAt: Int64?, into out: inout [UInt8]) {
        func field(_ text: String) {
            out.append(contentsOf: text.utf8)
            out.append(9)
        }
        field(c.id.description)
        field(c.agent)
        field(c.client)
        field(c.project)
        field(c.task)
        field(c.run)
        field(c.model)
        field(c.vendor)
        field(String(c.cost))
        field(String(c.input))
        field(String(c.output))
        field(String(c.cached))
        field(String(c.reasoning))
        field(String(c.toolCalls))
        field(String(c.retries))
        Timestamp.append(c.occurredAt, to: &out)
        if let recordedAt {
            out.append(9)
            Timestamp.append(recordedAt, to: &out)
        }
        out.append(10)
    }

    // MARK: Writes

    static func writes(conninfo: String, dataDirectory: String?, sizes: WriteSizes, results: ResultsFile) throws {
        let admin = try PGConnection(conninfo)
        var serverPeak = 0
        var serverNote = ""
        func sampleServer(_ when: String) {
            guard let dataDirectory, let server = Memory.postgresServer(dataDirectory: dataDirectory) else { return }
            if server.pss > serverPeak {
                serverPeak = server.pss
                serverNote = "\(when): \(server.processes) processes, Pss sum \(Fmt.mib(Double(server.pss))), private anon \(Fmt.mib(Double(server.anon))), shared memory touched \(Fmt.mib(Double(server.shmem)))"
            }
        }
        do {
            let table = "usage_w_single"
            try createTable(admin, table, indexes: true)
            let charges = Workload.charges(0..<sizes.single)
            try admin.prepare("ins", insertSQL(table), parameters: 16)
            let params = charges.map(parameters)
            var latencies: [UInt64] = []
            let start = monotonicNanos()
            for p in params {
                let t0 = monotonicNanos()
                try admin.execPrepared("ins", p)
                latencies.append(monotonicNanos() - t0)
            }
            let wall = monotonicNanos() - start
            try verify(admin, table, sizes.single)
            sampleServer("single writer")
            let l = Latencies(latencies)
            results.write(
                Record(
                    store: "postgres", bench: "w.single", events: sizes.single, seconds: Double(wall) / 1e9, p50: l.p50, p99: l.p99,
                    note: "prepared INSERT, autocommit"))
        }
        for (writers, perWriter) in [(8, sizes.perWriter8), (1_000, sizes.perWriter1000)] {
            let table = "usage_w_c\(writers)"
            try createTable(admin, table, indexes: true)
            let params = Workload.charges(0..<(writers * perWriter)).map(parameters)
            let sink = LatencySink()
            let connections = ConnectionBox()
            let connectStart = monotonicNanos()
            let wall = try runWriterThreads(
                writers,
                prepare: { _ in
                    let pg = try PGConnection(conninfo)
                    try pg.prepare("ins", insertSQL(table), parameters: 16)
                    connections.add(pg)
                    return pg
                },
                body: { w, pg in
                    var latencies: [UInt64] = []
                    latencies.reserveCapacity(perWriter)
                    for index in (w * perWriter)..<((w + 1) * perWriter) {
                        let t0 = monotonicNanos()
                        try pg.execPrepared("ins", params[index])
                        latencies.append(monotonicNanos() - t0)
                    }
                    sink.add(latencies)
                })
            let setup = Double(monotonicNanos() - connectStart - wall) / 1e9
            sampleServer("\(writers) writers connected")
            connections.removeAll()
            try verify(admin, table, writers * perWriter)
            try admin.exec("DROP TABLE \(table)")
            let l = Latencies(sink.samples)
            results.write(
                Record(
                    store: "postgres", bench: "w.c\(writers)", events: writers * perWriter, seconds: Double(wall) / 1e9, p50: l.p50,
                    p99: l.p99,
                    note: String(format: "%d threads, one connection each (prepared INSERT, autocommit); connecting took %.1f s, untimed", writers, setup)))
        }
        do {
            let table = "usage_w_batch"
            try createTable(admin, table, indexes: true)
            let batches = sizes.batches
            let charges = Workload.charges(0..<(batches * 1_000))
            let payloads: [[UInt8]] = (0..<batches).map { b in
                var out: [UInt8] = []
                for c in charges[(b * 1_000)..<((b + 1) * 1_000)] { copyLine(c, recordedAt: nil, into: &out) }
                return out
            }
            var latencies: [UInt64] = []
            let start = monotonicNanos()
            for payload in payloads {
                let t0 = monotonicNanos()
                var sent = false
                try admin.copy("COPY \(table) (\(columns)) FROM STDIN") {
                    if sent { return nil }
                    sent = true
                    return payload
                }
                latencies.append(monotonicNanos() - t0)
            }
            let wall = monotonicNanos() - start
            try verify(admin, table, batches * 1_000)
            sampleServer("batches")
            try admin.exec("DROP TABLE \(table)")
            let l = Latencies(latencies)
            results.write(
                Record(
                    store: "postgres", bench: "w.batch1000", events: batches * 1_000, seconds: Double(wall) / 1e9, p50: l.p50,
                    p99: l.p99, note: "one COPY FROM STDIN of 1,000 rows per batch (one transaction each); latency per batch"))
        }
        try admin.exec("DROP TABLE IF EXISTS usage_w_single")
        results.write(Record(store: "postgres", bench: "mem.write", events: 0, seconds: 0, value: Double(Memory.peakSinceReset()), note: "peak RSS of the harness (the libpq client side)"))
        if serverPeak > 0 {
            results.write(Record(store: "postgres-server", bench: "mem.write", events: 0, seconds: 0, value: Double(serverPeak), note: "largest sample, " + serverNote))
        }
    }

    static func verify(_ pg: PGConnection, _ table: String, _ events: Int) throws {
        let count = try pg.exec("SELECT count(*) FROM \(table)")
        guard count.first?.first == String(events) else { throw PeerError("\(table) has \(count) rows, expected \(events)") }
    }

    // MARK: Reads

    static func prepare(conninfo: String, events: Int, reuse: Bool, results: ResultsFile) throws {
        let pg = try PGConnection(conninfo)
        let table = "usage_\(label(events).lowercased())"
        try pg.exec("CREATE TABLE IF NOT EXISTS peer_bench_loaded (name text PRIMARY KEY)")
        if reuse, try !pg.exec("SELECT 1 FROM peer_bench_loaded WHERE name = '\(table)'").isEmpty {
            print("  [postgres] reusing \(table)")
            return
        }
        try pg.exec("DELETE FROM peer_bench_loaded WHERE name = '\(table)'")
        try createTable(pg, table, indexes: false)
        let start = monotonicNanos()
        var next = 0
        try pg.copy("COPY \(table) (\(columns), recorded_at) FROM STDIN") {
            guard next < events else { return nil }
            let count = min(Workload.loadBatch, events - next)
            var out: [UInt8] = []
            out.reserveCapacity(count * 220)
            for index in next..<(next + count) {
                copyLine(Workload.charge(index), recordedAt: Workload.recordedAt(index), into: &out)
            }
            next += count
            return out
        }
        let copied = Double(monotonicNanos() - start) / 1e9
        let indexStart = monotonicNanos()
        try pg.exec("ALTER TABLE \(table) ADD PRIMARY KEY (id)")
        try createIndexes(pg, table)
        let indexed = Double(monotonicNanos() - indexStart) / 1e9
        let vacuumStart = monotonicNanos()
        try pg.exec("VACUUM ANALYZE \(table)")
        try pg.exec("CHECKPOINT")
        let vacuumed = Double(monotonicNanos() - vacuumStart) / 1e9
        try pg.exec("INSERT INTO peer_bench_loaded VALUES ('\(table)')")
        let size = Double(try pg.exec("SELECT pg_total_relation_size('\(table)')").first.flatMap { Double($0[0]) } ?? 0)
        results.write(
            Record(
                store: "postgres", bench: "load.\(label(events))", events: events, seconds: copied, value: size,
                note: String(format: "one COPY %.1f s, primary key + 3 indexes built after %.1f s, VACUUM ANALYZE + CHECKPOINT %.1f s; table + indexes %@", copied, indexed, vacuumed, Fmt.mib(size))))
    }

    static func reads(conninfo: String, dataDirectory: String?, events: Int, reps: Int, results: ResultsFile) throws {
        Memory.resetPeak()
        let pg = try PGConnection(conninfo)
        let table = "usage_\(label(events).lowercased())"
        let sums = "sum(cost_nanos)::bigint, count(*), sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(cached_tokens)::bigint, sum(reasoning_tokens)::bigint, sum(tool_calls)::bigint, sum(retries)::bigint"
        let queries: [(String, String, [String])] = [
            ("r.agent.\(label(events))", "SELECT agent, \(sums) FROM \(table) GROUP BY agent ORDER BY 2 DESC", []),
            ("r.model.\(label(events))", "SELECT model, \(sums) FROM \(table) GROUP BY model ORDER BY 2 DESC", []),
            ("r.client.\(label(events))", "SELECT client, \(sums) FROM \(table) GROUP BY client ORDER BY 2 DESC", []),
            (
                "r.asof.\(label(events))", "SELECT agent, \(sums) FROM \(table) WHERE recorded_at <= $1 GROUP BY agent ORDER BY 2 DESC",
                [Timestamp.iso(Workload.middle(events: events))]
            ),
        ]
        var serverPeak = 0
        var serverNote = ""
        for (number, (bench, sql, parameters)) in queries.enumerated() {
            try pg.prepare("q\(number)", sql, parameters: parameters.count)
            let plan = try pg.exec("EXPLAIN " + sql.replacingOccurrences(of: "$1", with: "'\(parameters.first ?? "")'"))
                .map { $0[0] }.filter { $0.contains("Scan") || $0.contains("Aggregate") || $0.contains("Workers") }
                .map { $0.trimmingCharacters(in: .whitespaces).components(separatedBy: "  (cost").first ?? "" }
            var samples: [UInt64] = []
            var rows: [[String]] = []
            for rep in 0...max(reps - 2, 1) {
                if overBudget(samples) { break }
                let t0 = monotonicNanos()
                rows = try pg.execPrepared("q\(number)", parameters)
                let elapsed = monotonicNanos() - t0
                if rep > 0 { samples.append(elapsed) }
            }
            if let dataDirectory, let server = Memory.postgresServer(dataDirectory: dataDirectory), server.pss > serverPeak {
                serverPeak = server.pss
                serverNote = "after \(bench): \(server.processes) processes, Pss sum \(Fmt.mib(Double(server.pss))), private anon \(Fmt.mib(Double(server.anon))), shared memory touched \(Fmt.mib(Double(server.shmem)))"
            }
            let m = medianOf(samples)
            results.write(
                Record(
                    store: "postgres", bench: bench, events: events, seconds: m.median / 1e9, p50: m.min, p99: m.max,
                    note: "median of \(samples.count); plan: " + plan.joined(separator: " / "),
                    digest: digest(rows.map { ($0[0], Int64($0[1]) ?? 0, Int64($0[2]) ?? 0) })))
        }
        results.write(
            Record(store: "postgres", bench: "mem.read.\(label(events))", events: events, seconds: 0, value: Double(Memory.peakSinceReset()), note: "peak RSS of the harness (libpq client)"))
        if serverPeak > 0 {
            results.write(
                Record(store: "postgres-server", bench: "mem.read.\(label(events))", events: events, seconds: 0, value: Double(serverPeak), note: serverNote))
        }
    }
}

final class ConnectionBox: @unchecked Sendable {
    private let lock = NSLock()
    private var connections: [PGConnection] = []
    func add(_ connection: PGConnection) {
        lock.lock()
        connections.append(connection)
        lock.unlock()
    }
    func removeAll() {
        lock.lock()
        connections.removeAll()
        lock.unlock()
    }
}

/// Nanoseconds since the epoch as RFC 3339 UTC with microseconds (`2026-01-01T00:00:00.123456Z`),
/// what PostgreSQL's `timestamptz` input reads exactly.
enum Timestamp {
    static func iso(_ nanos: Int64) -> String {
        var out: [UInt8] = []
        append(nanos, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the RFC 3339 text of `nanos` (microsecond precision) to `out`, without Foundation's
    /// formatter (10M rows are formatted when the big tables are loaded).
    static func append(_ nanos: Int64, to out: inout [UInt8]) {
        var seconds = time_t(nanos / 1_000_000_000)
        var micros = Int((nanos % 1_000_000_000) / 1_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var value = value
            while divisor > 0 {
                out.append(UInt8(48 + value / divisor))
                value %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        out.append(45)
        digits(Int(parts.tm_mon) + 1, 2)
        out.append(45)
        digits(Int(parts.tm_mday), 2)
        out.append(84)
        digits(Int(parts.tm_hour), 2)
        out.append(58)
        digits(Int(parts.tm_min), 2)
        out.append(58)
        digits(Int(parts.tm_sec), 2)
        out.append(46)
        digits(micros, 6)
        micros = 0
        out.append(90)
    }
}

import CLMDB
import Foundation
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

/// Opening a ledger: what is refused, and how clearly.
@Suite struct OpeningTests {
    @Test func open_whenDirectoryIsMissing_createsAnEmptyLedger() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.child("new/nested"))
        defer { store.close() }
        #expect(try store.head() == .empty)
        #expect(try store.verify().isIntact)
    }

    @Test func open_whenDirectoryHoldsOtherFiles_throwsNotALedger() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Data("hello".utf8).write(to: URL(fileURLWithPath: directory.child("notes.txt")))
        let error = try #require(throws: LedgerError.self) { try LMDBEventStore.open(at: directory.path) }
        #expect(error.code == .notALedger)
        #expect(error.description.contains("notes.txt"))
        #expect(!FileManager.default.fileExists(atPath: directory.child("data.mdb")), "nothing may be created")
    }

    @Test func open_whenPathIsAFile_throwsNotALedger() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Data("x".utf8).write(to: URL(fileURLWithPath: directory.child("file")))
        let error = try #require(throws: LedgerError.self) { try LMDBEventStore.open(at: directory.child("file")) }
        #expect(error.code == .notALedger)
    }

    @Test func open_whenDataFileIsGarbage_throwsNotALedger() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try Data(repeating: 0xAB, count: 16_384).write(to: URL(fileURLWithPath: directory.child("data.mdb")))
        let error = try #require(throws: LedgerError.self) { try LMDBEventStore.open(at: directory.path) }
        #expect(error.code == .notALedger)
    }

    @Test func open_whenEnvironmentIsSomeoneElsesLMDB_throwsNotALedger() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try RawLMDB.write(directory.path, database: "customers", key: "k", value: [1, 2, 3])
        let error = try #require(throws: LedgerError.self) { try LMDBEventStore.open(at: directory.path) }
        #expect(error.code == .notALedger)
    }

    @Test func open_whenFormatIsNewer_throwsUnsupportedFormatAndChangesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        try await store.append(EventStoreConformance.sampleEvent(stream: "run:a", index: 0))
        store.close()
        try RawLMDB.write(directory.path, database: "meta", key: "format", value: withUnsafeBytes(of: UInt32(5).littleEndian) { Array($0) })
        let error = try #require(throws: LedgerError.self) { try LMDBEventStore.open(at: directory.path) }
        #expect(error.code == .unsupportedFormat)
        #expect(error.description.contains("format version 5"))
    }

    @Test func openReadOnly_whenMissing_throwsNotFound() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let error = try #require(throws: LedgerError.self) {
            try LMDBEventStore.open(at: directory.child("absent"), options: LMDBOptions(readOnly: true))
        }
        #expect(error.code == .notFound)
        #expect(!FileManager.default.fileExists(atPath: directory.child("absent")))
    }

    @Test func appendOnReadOnlyStore_throwsReadOnly() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try LMDBEventStore.open(at: directory.path).close()
        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        defer { reader.close() }
        await #expect(throws: LedgerError.self) {
            try await reader.append(EventStoreConformance.sampleEvent(stream: "run:a", index: 0))
        }
    }

    @Test func secondWriter_isRefusedWithLocked_whileReadersAreWelcome() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let writer = try LMDBEventStore.open(at: directory.path)
        try await writer.append(EventStoreConformance.sampleEvent(stream: "run:a", index: 0))
        let error = try #require(throws: LedgerError.self) { try LMDBEventStore.open(at: directory.path) }
        #expect(error.code == .locked)
        #expect(error.description.contains("\(getpid())"))
        let reader = try LMDBEventStore.open(at: directory.path, options: LMDBOptions(readOnly: true))
        #expect(try reader.head().seq == 1)
        try await writer.append(EventStoreConformance.sampleEvent(stream: "run:a", index: 1))
        #expect(try reader.head().seq == 2, "a reader sees the writer's later commits")
        reader.close()
        writer.close()
        try LMDBEventStore.open(at: directory.path).close()  // the lock is released on close
    }

    @Test func ledgerDirectory_isAPlainLMDBEnvironment_thatMdbStatAndMdbDumpRead() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try LMDBEventStore.open(at: directory.path)
        try await store.append((0..<50).map { EventStoreConformance.sampleEvent(stream: "run:r\($0 % 3)", index: $0) })
        store.close()
        let path = directory.path
        let stat = try await offPool { try Shell.run("mdb_stat", "-a", path) }
        #expect(stat.status == 0)
        for name in ["events", "meta", "snapshots", "checkpoints"] {
            #expect(stat.output.contains("Status of \(name)"))
        }
        #expect(!stat.output.contains("Status of occurred"), "the occurredAt index is in index/ (format 4)")
        #expect(stat.output.contains("Entries: 50"))
        let index = try await offPool { try Shell.run("mdb_stat", "-a", path + "/index") }
        #expect(index.status == 0)
        #expect(index.output.contains("Status of streams"))
        #expect(index.output.contains("Status of ids"))
        #expect(index.output.contains("Status of occurred"))
        #expect(index.output.components(separatedBy: "Entries: 50").count == 4, "50 stream, id and occurredAt entries each")
        let dump = try await offPool { try Shell.run("mdb_dump", "-s", "events", path) }
        #expect(dump.status == 0)
        #expect(dump.output.contains("HEADER=END"))
    }
}

/// Writes with the raw LMDB API, to build environments SpendLedger did not write.
/// A ledger at `path` holding `events`, closed again.
func makeLedger(at path: String, _ events: [ProposedEvent]) async throws {
    let store = try LMDBEventStore.open(at: path)
    defer { store.close() }
    try await store.append(events)
}

enum RawLMDB {
    static func write(_ path: String, database: String, key: String, value: [UInt8]) throws {
        try write(path, database: database, key: Array(key.utf8), value: value)
    }

    static func write(_ path: String, database: String, key: [UInt8], value: [UInt8], flags: Int32 = 0) throws {
        try withDatabase(path, database, create: true, flags: flags) { txn, dbi in
            var keyBytes = key
            var valueBytes = value
            return keyBytes.withUnsafeMutableBytes { k in
                valueBytes.withUnsafeMutableBytes { v in
                    var kv = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
                    var vv = MDB_val(mv_size: v.count, mv_data: v.baseAddress)
                    return mdb_put(txn, dbi, &kv, &vv, 0)
                }
            }
        }
    }

    /// Deletes `key` from `database` of the environment at `path`.
    static func delete(_ path: String, database: String, key: [UInt8]) throws {
        try withDatabase(path, database, create: false) { txn, dbi in
            var keyBytes = key
            return keyBytes.withUnsafeMutableBytes { k in
                var kv = MDB_val(mv_size: k.count, mv_data: k.baseAddress)
                return mdb_del(txn, dbi, &kv, nil)
            }
        }
    }

    /// Deletes `database` from the environment at `path`.
    static func drop(_ path: String, database: String) throws {
        try withDatabase(path, database, create: false) { txn, dbi in mdb_drop(txn, dbi, 1) }
    }

    /// Runs `body` (an LMDB call; its return code is checked) in a write transaction on `database`,
    /// then commits.
    private static func withDatabase(
        _ path: String, _ database: String, create: Bool, flags: Int32 = 0, _ body: (OpaquePointer?, MDB_dbi) -> Int32
    ) throws {
        var env: OpaquePointer?
        try check(mdb_env_create(&env))
        defer { mdb_env_close(env) }
        mdb_env_set_maxdbs(env, 8)
        try check(mdb_env_open(env, path, 0, 0o644))
        var txn: OpaquePointer?
        try check(mdb_txn_begin(env, nil, 0, &txn))
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(txn, database, UInt32(flags) | (create ? UInt32(MDB_CREATE) : 0), &dbi))
        try check(body(txn, dbi))
        try check(mdb_txn_commit(txn))
    }

    static func check(_ rc: Int32) throws {
        struct Failure: Error { var code: Int32 }
        if rc != 0 { throw Failure(code: rc) }
    }
}

/// Runs a command and captures its output.
enum Shell {
    struct Result: Sendable {
        var status: Int32
        var output: String
        var error: String
    }

    @discardableResult
    static func run(_ arguments: String..., input: Data? = nil) throws -> Result {
        try run(arguments, input: input)
    }

    static func run(_ arguments: [String], input: Data? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = out.fileHandleForReading.readDataToEndOfFile()
        let error = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, output: String(decoding: output, as: UTF8.self),
            error: String(decoding: error, as: UTF8.self))
    }
}

import Foundation
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Two processes on one ledger directory: one writes, the other is refused as a second writer but
/// reads consistent snapshots while the first appends; nothing is ever corrupted.
@Suite struct MultiProcessTests {
    @Test func whileAnotherProcessWrites_aSecondWriterIsRefused_andReadersSeeConsistentPrefixes() async throws {
        let directory = try TemporaryDirectory("two-processes")
        defer { directory.remove() }
        let ledger = directory.child("ledger")
        let output = directory.child("writer.out")
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        let child = Process()
        child.executableURL = URL(fileURLWithPath: try CrashTests.crashWriterPath())
        child.arguments = [ledger, "0", "4"]
        child.standardOutput = handle
        try child.run()
        defer {
            if child.isRunning { kill(child.processIdentifier, SIGKILL) }
        }
        try await CrashTests.waitForReady(output)

        let error = try #require(throws: LedgerError.self) { try LMDBEventStore.open(at: ledger) }
        #expect(error.code == .locked)
        #expect(error.description.contains("\(child.processIdentifier)"))

        let reader = try LMDBEventStore.open(at: ledger, options: LMDBOptions(readOnly: true))
        var lastHead: UInt64 = 0
        for _ in 0..<40 {
            let head = try reader.head()
            #expect(head.seq >= lastHead, "a reader's view of the head never goes back")
            if head.seq > 0 {
                let last = try #require(try reader.read(from: head.seq, maxCount: 1).first)
                #expect(last.hash == head.hash, "the head a reader sees is a committed event")
            }
            lastHead = head.seq
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(lastHead > 0, "the writer process appended while we read")
        reader.close()

        kill(child.processIdentifier, SIGKILL)
        try await CrashTests.waitForExit(child)
        try handle.close()
        let reopened = try LMDBEventStore.open(at: ledger)  // the dead writer's lock is gone
        defer { reopened.close() }
        #expect(try reopened.verify().isIntact)
    }
}

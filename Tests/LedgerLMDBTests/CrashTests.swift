import Foundation
import LedgerCore
import LedgerLMDB
import SpendLedgerTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Crash safety, for real: a child process appends with group commit from 8 tasks and prints each
/// acknowledged batch; the test kills it with SIGKILL at a random moment, reopens the ledger and
/// checks that every acknowledged event is there and intact, that no batch is partly there, that
/// seq has no gap and that the chain verifies. The ledger grows across rounds.
@Suite struct CrashTests {
    static let rounds = 30

    @Test func sigkillAtRandomMoments_losesNoAcknowledgedEvent_andLeavesNoPartialBatch() async throws {
        let directory = try TemporaryDirectory("crash")
        defer { directory.remove() }
        let writer = try Self.crashWriterPath()
        var generator = SystemRandomNumberGenerator()
        var acknowledgedTotal = 0
        for round in 0..<Self.rounds {
            let output = directory.child("round-\(round).out")
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            let process = Process()
            process.executableURL = URL(fileURLWithPath: writer)
            process.arguments = [directory.child("ledger"), String(round * 1_000_000), "8"]
            process.standardOutput = handle
            try process.run()
            // Most rounds kill mid-append; some kill while the child is still opening the ledger.
            if round % 6 == 5 {
                try await Task.sleep(nanoseconds: UInt64.random(in: 0...20_000_000, using: &generator))
            } else {
                try await Self.waitForReady(output)
                try await Task.sleep(nanoseconds: UInt64.random(in: 5_000_000...150_000_000, using: &generator))
            }
            kill(process.processIdentifier, SIGKILL)
            try await Self.waitForExit(process)
            try handle.close()
            #expect(process.terminationReason == .uncaughtSignal)

            let acknowledged = try Self.parseAcknowledgements(output)
            acknowledgedTotal += acknowledged.count
            try Self.checkLedger(directory.child("ledger"), acknowledged: acknowledged, round: round)
        }
        #expect(acknowledgedTotal > Self.rounds * 10, "the child must have acknowledged batches to check")
    }

    struct Acknowledgement {
        var batch: UInt64
        var seqs: [UInt64]
    }

    static func checkLedger(_ path: String, acknowledged: [Acknowledgement], round: Int) throws {
        let store = try LMDBEventStore.open(at: path)
        defer { store.close() }
        // Every acknowledged event is present, at its acknowledged seq, byte for byte what was sent.
        for ack in acknowledged {
            let expected = CrashWorkload.batch(ack.batch)
            #expect(ack.seqs.count == expected.count, "round \(round): batch \(ack.batch) acknowledged \(ack.seqs.count) seqs")
            for (index, seq) in ack.seqs.enumerated() {
                let stored = try #require(try store.read(from: seq, maxCount: 1).first, "round \(round): seq \(seq) is missing")
                #expect(stored.seq == seq)
                #expect(stored.proposed == expected[index], "round \(round): seq \(seq) differs from what was acknowledged")
            }
        }
        // Gap-free seq, and every batch present is whole, in consecutive seqs.
        var next: UInt64 = 1
        var batches: [UInt64: [UInt64]] = [:]
        try store.forEachEvent { event in
            #expect(event.seq == next, "round \(round): a gap before seq \(event.seq)")
            next = event.seq + 1
            batches[UInt64(event.metadata["batch"]!)!, default: []].append(event.seq)
            return true
        }
        #expect(try store.head().seq == next - 1)
        for (batch, seqs) in batches {
            #expect(seqs.count == CrashWorkload.size(of: batch), "round \(round): batch \(batch) is partly present")
            #expect(seqs.last! - seqs.first! == UInt64(seqs.count - 1), "round \(round): batch \(batch) is not contiguous")
        }
        let report = try store.verify()
        #expect(report.isIntact, "round \(round): \(String(describing: report.firstFailure))")
    }

    static func parseAcknowledgements(_ path: String) throws -> [Acknowledgement] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        // The last line may have been cut by the kill only if write(2) was interrupted, which a
        // SIGKILL cannot do to a completed call: every complete line ends with "\n".
        return text.split(separator: "\n", omittingEmptySubsequences: true).compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.first == "ack", fields.count >= 3, let batch = UInt64(fields[1]) else { return nil }
            return Acknowledgement(batch: batch, seqs: fields.dropFirst(3).compactMap { UInt64($0) })
        }
    }

    /// Waits for the child's exit without blocking a cooperative thread.
    static func waitForExit(_ process: Process) async throws {
        while process.isRunning { try await Task.sleep(nanoseconds: 1_000_000) }
    }

    static func waitForReady(_ path: String) async throws {
        for _ in 0..<2_000 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasPrefix("ready") { return }
            try await Task.sleep(nanoseconds: 5_000_000)
        }
        throw LedgerError(.storage, "the crash writer never became ready")
    }

    /// `ledger-crash-writer` is built beside the test bundle.
    static func crashWriterPath() throws -> String {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("ledger-crash-writer").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        throw LedgerError(.notFound, "ledger-crash-writer is not built beside \(testBinary.path)")
    }
}

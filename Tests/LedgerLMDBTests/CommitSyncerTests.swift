import Foundation
import LedgerCore
@testable import LedgerLMDB
import SpendLedgerTestKit
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The writer's syncer resumes a group's callers only after syncing the file their commit wrote,
/// in commit order, and after one failed sync acknowledges nothing more.
@Suite struct CommitSyncerTests {
    static func head(_ seq: UInt64) -> LogHead {
        LogHead(seq: seq, hash: .genesis, recordedAt: LedgerTime(nanosecondsSinceEpoch: Int64(seq)))
    }

    /// Hands one group of one caller to `syncer` and waits for the caller to resume.
    static func commit(_ seq: UInt64, through syncer: CommitSyncer, here: Bool = false) async throws -> AppendResult {
        let result = AppendResult(positions: [EventPosition(seq: seq, version: seq, isDuplicate: false)], head: head(seq))
        return try await withUnsafeThrowingContinuation { continuation in
            syncer.submit(CommitSyncer.Group(continuations: [continuation], outcomes: [.success(result)], head: head(seq)), nothingToOverlap: here)
        }
    }

    @Test func aSyncedGroup_resumesWithItsOutcome_andAnnouncesItsHead() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let descriptor = open(directory.path + "/data", O_CREAT | O_RDWR, 0o644)
        #expect(descriptor >= 0)
        defer { close(descriptor) }
        let notifier = HeadNotifier(head: 0)
        let syncer = CommitSyncer(descriptor: descriptor, path: directory.path, notifier: notifier)
        for seq in 1...4 as ClosedRange<UInt64> {
            // On the syncer's thread, and (with nothing to overlap) on the one that hands it over.
            let result = try await Self.commit(seq, through: syncer, here: seq % 2 == 0)
            #expect(result.positions.map(\.seq) == [seq])
            #expect(notifier.head == seq, "the head is announced before its callers resume")
        }
        syncer.stop()
        #expect(syncer.failure == nil)
    }

    @Test func aFailedSync_failsItsGroup_andEveryLaterOne_andAnnouncesNothing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        // A pipe cannot be synced (EINVAL): the syncer meets it as it would a failing disk.
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { pipeEnds.forEach { close($0) } }
        let descriptor = pipeEnds[1]
        let notifier = HeadNotifier(head: 0)
        let syncer = CommitSyncer(descriptor: descriptor, path: directory.path, notifier: notifier)
        for seq in 1...3 as ClosedRange<UInt64> {
            do {
                _ = try await Self.commit(seq, through: syncer, here: seq == 2)
                Issue.record("group \(seq) was acknowledged without a sync")
            } catch let error as LedgerError {
                #expect(error.code == .storage)
                #expect(error.message.contains("could not make them durable"))
                #expect(error.message.contains("fdatasync"))
            }
        }
        #expect(notifier.head == 0, "no head is announced that is not durable")
        #expect(syncer.failure != nil, "the writer refuses later appends")
        syncer.stop()
    }
}

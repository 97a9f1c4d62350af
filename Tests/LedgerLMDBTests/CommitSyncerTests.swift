import Foundation
import LedgerCore
@testable import LedgerLMDB
import SpendLedgerTestKit
import Synchronization
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
            syncer.submit(
                CommitSyncer.Group(continuations: [continuation], outcomes: [.success(.batch(result))], head: head(seq)),
                nothingToOverlap: here)
        }.result
    }

    /// Hands `syncer` a group of one caller that committed nothing (its outcome answers from what
    /// is stored) and waits for the caller to resume.
    static func answer(
        _ outcome: Result<AppendResult, LedgerError>, through syncer: CommitSyncer, here: Bool
    ) async throws -> AppendResult {
        try await withUnsafeThrowingContinuation { continuation in
            syncer.submit(
                CommitSyncer.Group(continuations: [continuation], outcomes: [outcome.map { .batch($0) }], head: nil),
                nothingToOverlap: here)
        }.result
    }

    /// A syncer whose every sync fails, as on a failing disk: its descriptor is a pipe's, which
    /// cannot be synced (EINVAL). Stopped, and the pipe closed, after `body`.
    static func withFailingSyncer(
        notifier: HeadNotifier = HeadNotifier(head: 0), _ body: (CommitSyncer) async throws -> Void
    ) async throws {
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { pipeEnds.forEach { close($0) } }
        let syncer = CommitSyncer(descriptor: pipeEnds[1], path: "/nowhere", notifier: notifier)
        defer { syncer.stop() }
        try await body(syncer)
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
        let notifier = HeadNotifier(head: 0)
        try await Self.withFailingSyncer(notifier: notifier) { syncer in
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
        }
    }

    /// A group that wrote nothing but answers a repeated append with an event already stored is
    /// not acknowledged before the groups ahead of it are durable: here their sync fails, so
    /// neither is it, whether it is queued behind them or finished on the writer's thread.
    @Test func aGroupThatWroteNothing_isNotAcknowledgedAheadOfAFailedSync() async throws {
        try await Self.withFailingSyncer { syncer in
            // The group that wrote the event goes first, to the syncer's thread.
            let handedOver = Atomic<Bool>(false)
            let written = Task {
                try await withUnsafeThrowingContinuation { continuation in
                    let result = AppendResult(positions: [EventPosition(seq: 1, version: 1, isDuplicate: false)], head: Self.head(1))
                    syncer.submit(
                        CommitSyncer.Group(continuations: [continuation], outcomes: [.success(.batch(result))], head: Self.head(1)),
                        nothingToOverlap: false)
                    handedOver.store(true, ordering: .releasing)
                }
            }
            while !handedOver.load(ordering: .acquiring) { await Task.yield() }
            let stored = AppendResult(positions: [EventPosition(seq: 1, version: 1, isDuplicate: true)], head: Self.head(1))
            for here in [false, true] {
                do {
                    _ = try await Self.answer(.success(stored), through: syncer, here: here)
                    Issue.record("a repeated append was acknowledged before its event was durable")
                } catch let error as LedgerError {
                    #expect(error.message.contains("could not make them durable"))
                }
            }
            await #expect(throws: LedgerError.self) { try await written.value }
        }
    }

    /// With every earlier group durable, a group that wrote nothing is answered at once, without a
    /// sync (the failing syncer's sync would fail it).
    @Test func aGroupThatWroteNothing_afterDurableGroups_isAnsweredWithoutASync() async throws {
        try await Self.withFailingSyncer { syncer in
            let refused = LedgerError(.wrongExpectedVersion, "stream run:a is at version 3")
            let error = await #expect(throws: LedgerError.self) { try await Self.answer(.failure(refused), through: syncer, here: false) }
            #expect(error?.code == .wrongExpectedVersion, "answered with its own outcome")
            #expect(syncer.failure == nil, "no sync was attempted")
        }
    }
}

import Foundation
import LedgerCore
import LedgerDetectors
import LedgerLMDB
import LedgerProjections
import SpendLedgerDemo
import SpendLedgerTestKit
import Testing

/// The demo is the main job: these tests hold it to its story on a real LMDB ledger.
@Suite(.serialized) struct FleetDemoTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let day = LedgerTime(rfc3339: "2026-11-20T00:00:00Z")!
    static let minute: Int64 = 60_000_000_000

    static func options(_ directory: TemporaryDirectory, seed: UInt64, hours: Int, sharedData: String? = nil)
        -> FleetDemoOptions
    {
        FleetDemoOptions(
            dataDirectory: directory.child("ledger"), seed: seed, day: day, hours: hours, sharedData: sharedData,
            fixtures: packageRoot + "/Fixtures", htmlPath: directory.child("incident.html"))
    }

    @Test(arguments: [7, 42] as [UInt64])
    func theRunawayIsCaughtAndHaltedWithinMinutes_andNobodyElseIsFlagged(seed: UInt64) async throws {
        let directory = try TemporaryDirectory("demo")
        defer { directory.remove() }
        let lines = LineCollector()
        let summary = try await FleetDemo.run(Self.options(directory, seed: seed, hours: 3), print: { lines.add($0) })

        // Caught: a loop or velocity alert on the runaway within ten minutes of the bug starting.
        let runawayAlerts = summary.alerts.filter { $0.agent == summary.runawayAgent && [.velocity, .loop].contains($0.kind) }
        let first = try #require(runawayAlerts.map(\.at).min())
        #expect(first.nanosecondsSinceEpoch - summary.bugStart.nanosecondsSinceEpoch <= 10 * Self.minute)

        // Halted: the run's next call was refused because the run was halted.
        let stopped = try #require(summary.tally.runawayStoppedAt)
        #expect(stopped.nanosecondsSinceEpoch - summary.bugStart.nanosecondsSinceEpoch <= 10 * Self.minute)
        #expect(summary.tally.denials["run:halted", default: 0] >= 1)
        #expect(summary.tally.runawayAvoided > summary.tally.runawaySpent)

        // Nobody else: the ordinary fleet raises no velocity or loop alert.
        let others = summary.alerts.filter { $0.agent != summary.runawayAgent && [.velocity, .loop].contains($0.kind) }
        #expect(others.isEmpty, "\(others)")

        // The views add up, to the nano-dollar, to what the simulator was charged.
        let store = try LMDBEventStore.open(at: directory.child("ledger"), options: LMDBOptions(readOnly: true))
        defer { store.close() }
        let byAgent = try await ProjectionEngine(store: store).state(of: SpendByDimension(.agent), asOf: .head)
        #expect(byAgent.state.total.cost == summary.tally.spent)
        #expect(try store.verify().isIntact)
        #expect(try store.head() == summary.head)
        #expect(lines.text.contains("spend by agent"))
        let html = try String(contentsOfFile: directory.child("incident.html"), encoding: .utf8)
        #expect(html.contains("<svg"))
    }

    @Test func theSameSeedTellsTheSameStory() async throws {
        let directory = try TemporaryDirectory("demo-seed")
        defer { directory.remove() }
        let first = try await FleetDemo.run(Self.options(directory, seed: 11, hours: 2), print: { _ in })
        let second = try await FleetDemo.run(Self.options(directory, seed: 11, hours: 2), print: { _ in })
        #expect(first.tally.spent == second.tally.spent)
        #expect(first.tally.modelCalls == second.tally.modelCalls)
        #expect(first.head.seq == second.head.seq)
        #expect(first.alerts.map(\.kind) == second.alerts.map(\.kind))
        #expect(first.alerts.map(\.at) == second.alerts.map(\.at))
    }

    @Test func aDirectoryTheDemoDidNotMakeIsLeftAlone() async throws {
        let directory = try TemporaryDirectory("demo-refuse")
        defer { directory.remove() }
        try FileManager.default.createDirectory(atPath: directory.child("ledger"), withIntermediateDirectories: true)
        try Data("precious".utf8).write(to: URL(fileURLWithPath: directory.child("ledger") + "/notes.txt"))
        await #expect(throws: DemoError.self) {
            _ = try await FleetDemo.run(Self.options(directory, seed: 1, hours: 1), print: { _ in })
        }
        #expect(FileManager.default.contents(atPath: directory.child("ledger") + "/notes.txt") == Data("precious".utf8))
    }
}

/// Collects printed lines from any task.
final class LineCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ line: String) { lock.withLock { lines.append(line) } }
    var text: String { lock.withLock { lines.joined(separator: "\n") } }
}

import Foundation
import LedgerCore
import LedgerDomain
import SpendLedgerTestKit

/// One usage charge: the same fields go to every store. SpendLedger stores it as a
/// `usage.recorded` event (binary payload, dimensions in the envelope, on the run's stream); the
/// SQL tables store it as one row of the same fields.
struct Charge: Sendable {
    var id: EventID
    var agent: String
    var client: String
    var project: String
    var task: String
    var run: String
    var model: String
    var vendor: String
    var cost: Int64
    var input: Int64
    var output: Int64
    var cached: Int64
    var reasoning: Int64
    var toolCalls: Int32
    var retries: Int32
    /// Microsecond-granular, so PostgreSQL's `timestamptz` holds it exactly.
    var occurredAt: Int64

    var proposed: ProposedEvent {
        ProposedEvent(
            UsageRecorded(
                cost: Money(nanos: cost), inputTokens: input, outputTokens: output, cachedTokens: cached,
                reasoningTokens: reasoning, toolCalls: toolCalls, retry: retries),
            stream: "run:" + run, occurredAt: LedgerTime(nanosecondsSinceEpoch: occurredAt),
            dimensions: Dimensions(
                agent: agent, client: client, project: project, task: task, run: run, model: model, vendor: vendor),
            id: id)
    }

    /// The 16 bytes of the id, big-endian (the UUID's byte order).
    var idBytes: [UInt8] {
        var bytes = [UInt8]()
        bytes.reserveCapacity(16)
        withUnsafeBytes(of: id.high.bigEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: id.low.bigEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }
}

/// The workload: charge `i` is a pure function of `i` (and a seed), so every store gets exactly the
/// same charges, ids included. 100 agents, 40 clients, 12 models (4 vendors), 20 projects,
/// 500 tasks; runs of 8 consecutive charges (`run-<i/8>`, each SpendLedger run a stream).
enum Workload {
    static let agents = (0..<100).map { "agent-\($0)" }
    static let clients = (0..<40).map { "client-\($0)" }
    static let models = [
        "gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "claude-sonnet-4", "claude-haiku-3.5", "claude-opus-4",
        "gemini-2.5-pro", "gemini-2.5-flash", "llama-3.3-70b", "mistral-large", "deepseek-v3",
    ]
    static let vendors = ["openai", "openai", "openai", "openai", "anthropic", "anthropic", "anthropic", "google", "google",
        "together", "mistral", "deepseek"]
    static let projects = (0..<20).map { "project-\($0)" }
    static let tasks = (0..<500).map { "task-\($0)" }

    /// 2026-01-01T00:00:00Z: `occurredAt` of charge `i` is this + 5 ms × i + jitter (µs).
    static let start: Int64 = 1_767_225_600_000_000_000

    static func charge(_ index: Int, seed: UInt64 = 0) -> Charge {
        var random = WorkloadRandom(seed: UInt64(index) &* 0x9E37_79B9_7F4A_7C15 ^ seed)
        let r = random.next()
        let modelIndex = Int((r >> 8) % UInt64(models.count))
        let input = Int64(200 + (r >> 16) % 4_000)
        let output = Int64(50 + (r >> 28) % 900)
        let cached = Int64((r >> 40) % 300)
        let reasoning = Int64((r >> 50) % 200)
        let occurred = start + Int64(index) * 5_000_000 + Int64(r % 1_000) * 1_000
        let id = EventID.generate(at: LedgerTime(nanosecondsSinceEpoch: occurred), using: &random)
        let s = random.next()
        return Charge(
            id: id, agent: agents[Int(s % 100)], client: clients[Int((s >> 8) % 40)], project: projects[Int((s >> 16) % 20)],
            task: tasks[Int((s >> 24) % 500)], run: "run-\(index / 8)", model: models[modelIndex], vendor: vendors[modelIndex],
            cost: input * 150 + output * 600 + cached * 75 + reasoning * 600, input: input, output: output, cached: cached,
            reasoning: reasoning, toolCalls: Int32((s >> 40) % 3), retries: (s >> 44) % 10 == 0 ? Int32(1 + (s >> 48) % 3) : 0,
            occurredAt: occurred)
    }

    static func charges(_ range: Range<Int>, seed: UInt64 = 0) -> [Charge] {
        range.map { charge($0, seed: seed) }
    }

    // The log the read benchmarks use is stamped like spend-bench's: batches of 10,000, the
    // recorded clock 1 ms later for each batch, so charge `i` is recorded at
    // `recordedStart + (i / 10,000 + 1) ms` in every store.
    static let loadBatch = 10_000
    static let recordedStart: Int64 = 1_767_225_600_000_000_000 + 86_400_000_000_000

    static func recordedAt(_ index: Int) -> Int64 {
        recordedStart + Int64(index / loadBatch + 1) * 1_000_000
    }

    /// The "as of T" instant for a log of `events`: the recorded time of the middle charge, so the
    /// prefix is exactly the first half (events / 2 rounded to whole batches).
    static func middle(events: Int) -> Int64 {
        recordedAt(events / 2 - 1)
    }
}

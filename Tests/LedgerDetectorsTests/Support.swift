import Foundation
import LedgerCore
import LedgerDetectors
import LedgerDomain
import SpendLedgerTestKit

/// 2026-11-20T00:00:00Z: minute 0 of every test log.
let dayStart = LedgerTime(rfc3339: "2026-11-20T00:00:00Z")!

/// `dayStart` plus `minutes` (fractions allowed).
func minute(_ minutes: Double) -> LedgerTime {
    LedgerTime(nanosecondsSinceEpoch: dayStart.nanosecondsSinceEpoch + Int64((minutes * 60_000_000_000).rounded()))
}

func dollars(_ text: String) -> Money { Money(dollars: text)! }

/// A log built in memory, event by event, as a store would record it: `seq` from 1, per-stream
/// versions, `recordedAt` = `occurredAt` unless told otherwise.
struct EventLog {
    private(set) var events: [RecordedEvent] = []
    private var versions: [String: UInt64] = [:]
    private var startIDs: [String: EventID] = [:]
    private var nextID: UInt64 = 1

    @discardableResult
    mutating func append(_ proposed: ProposedEvent, recordedAt: LedgerTime? = nil) -> RecordedEvent {
        let version = versions[proposed.stream, default: 0] + 1
        versions[proposed.stream] = version
        let event = RecordedEvent(
            seq: UInt64(events.count + 1), stream: proposed.stream, version: version, id: proposed.id,
            recordedAt: recordedAt ?? proposed.occurredAt, occurredAt: proposed.occurredAt, type: proposed.type,
            schema: proposed.schema, dimensions: proposed.dimensions, metadata: proposed.metadata,
            payloadEncoding: proposed.payloadEncoding, payload: proposed.payload, hash: .genesis)
        events.append(event)
        return event
    }

    mutating func freshID() -> EventID {
        nextID += 1
        return EventID(high: 0x1000_0000_0000_0000 | nextID, low: 0x8000_0000_0000_0000 | nextID)
    }

    @discardableResult
    mutating func usage(
        agent: String, run: String?, at time: LedgerTime, cost: Int64, model: String? = "gpt-4o-mini",
        vendor: String? = "openai", input: Int64 = 1_000, output: Int64 = 200, retry: Int32 = 0, task: String? = nil,
        kind: ChargeKind = .llm, client: String? = "acme", recordedAt: LedgerTime? = nil
    ) -> RecordedEvent {
        let charge = UsageRecorded(
            kind: kind, cost: Money(nanos: cost), inputTokens: input, outputTokens: output, retry: retry,
            priceEntry: model.map { $0 + "@2026-01-01" })
        var dimensions = Dimensions(agent: agent, client: client, task: task, run: run, model: model, vendor: vendor)
        if let run, let root = startIDs[run] { dimensions.correlation = root }
        let stream = run.map(SpendStreams.run) ?? SpendStreams.usage(agent)
        return append(
            ProposedEvent(charge, stream: stream, occurredAt: time, dimensions: dimensions, id: freshID()), recordedAt: recordedAt
        )
    }

    @discardableResult
    mutating func startRun(_ run: String, agent: String, at time: LedgerTime, parent: String? = nil) -> RecordedEvent {
        var dimensions = Dimensions(agent: agent, client: "acme", run: run)
        if let parent {
            dimensions.causation = startIDs[parent]
            dimensions.correlation = startIDs[parent]
        }
        let id = freshID()
        startIDs[run] = id
        return append(
            ProposedEvent(
                RunStarted(parentRun: parent), stream: SpendStreams.run(run), occurredAt: time, dimensions: dimensions, id: id))
    }

    @discardableResult
    mutating func completeRun(_ run: String, agent: String, at time: LedgerTime, outcome: RunOutcome = .accepted) -> RecordedEvent
    {
        append(
            ProposedEvent(
                RunCompleted(outcome: outcome), stream: SpendStreams.run(run), occurredAt: time,
                dimensions: Dimensions(agent: agent, client: "acme", run: run), id: freshID()))
    }

    @discardableResult
    mutating func defineBudget(_ id: String, _ definition: BudgetDefinition, at time: LedgerTime) -> RecordedEvent {
        append(
            ProposedEvent(BudgetDefined(definition: definition), stream: SpendStreams.budget(id), occurredAt: time, id: freshID())
        )
    }

    @discardableResult
    mutating func periodStarted(_ id: String, start: LedgerTime, end: LedgerTime) -> RecordedEvent {
        append(
            ProposedEvent(
                BudgetPeriodStarted(start: start, end: end), stream: SpendStreams.budget(id), occurredAt: start, id: freshID()))
    }
}

/// Runs a fresh detector set over `events` (then finishes it) and returns every alert.
func detect(_ events: [RecordedEvent], _ configuration: DetectorConfiguration = .default) -> [Alert] {
    var detectors = DetectorSet(configuration: configuration)
    var alerts: [Alert] = []
    for event in events { alerts += detectors.observe(event) }
    return alerts + detectors.finish()
}

/// The test kit's seeded generator (SplitMix64), with the draws the synthetic fleets need.
struct SeededRandom: RandomNumberGenerator {
    private var generator: WorkloadRandom

    init(seed: UInt64) { generator = WorkloadRandom(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ 0x1234_5678) }

    mutating func next() -> UInt64 { generator.next() }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    mutating func uniform(_ range: ClosedRange<Double>) -> Double {
        range.lowerBound + unit() * (range.upperBound - range.lowerBound)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }

    mutating func chance(_ probability: Double) -> Bool { unit() < probability }

    /// Exponential with the given mean.
    mutating func exponential(mean: Double) -> Double { -mean * log(max(1e-12, 1 - unit())) }

    /// Standard normal (Box–Muller).
    mutating func normal() -> Double {
        let u1 = max(1e-12, unit())
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    /// Log-normal with the given median and log-space standard deviation, clamped.
    mutating func logNormal(median: Double, sigma: Double, range: ClosedRange<Double>) -> Double {
        min(range.upperBound, max(range.lowerBound, median * exp(sigma * normal())))
    }
}

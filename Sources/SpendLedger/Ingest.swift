import LedgerActors
public import LedgerCore
import LedgerDomain
public import LedgerPricing

/// Usage records read, validated and priced, ready to append — or the reasons they are not.
///
/// Ingest validates the whole input before it appends anything: with any invalid record and no
/// permission to skip, nothing is written.
public struct PreparedIngest: Sendable {
    /// One record that could not be used, with where it came from.
    public struct Rejection: Sendable, Hashable, CustomStringConvertible {
        public var source: String
        public var error: UsageRecordError
        /// The line as read (bounded), for a rejects file.
        public var text: String

        public var description: String { "\(source): \(error.description)" }
    }

    public var recordsRead = 0
    public var events: [ProposedEvent] = []
    public var rejections: [Rejection] = []
    /// Records whose id appeared earlier in the same input (kept once).
    public var repeatedInInput = 0

    public init() {}

    /// Parses and prices every line of `bytes` (JSON lines); `source` names the input in errors.
    public mutating func add(_ bytes: [UInt8], source: String, pricer: UsagePricer) {
        let parser = UsageRecordParser()
        var seen = Set(events.map(\.id))
        bytes.withUnsafeBytes { buffer in
            UsageRecordParser.forEachLine(in: buffer) { (lineNumber: Int, line: UnsafeRawBufferPointer) in
                recordsRead += 1
                do throws(UsageRecordError) {
                    let record = try parser.parse(line, lineNumber: lineNumber)
                    let event = try pricer.proposedEvent(for: record, line: lineNumber)
                    if seen.insert(event.id).inserted { events.append(event) } else { repeatedInInput += 1 }
                } catch {
                    let text = String(decoding: line.prefix(4_096), as: UTF8.self)
                    rejections.append(Rejection(source: source, error: error.at(line: lineNumber), text: text))
                }
            }
        }
    }
}

/// What an ingest did.
public struct IngestSummary: Sendable, Hashable {
    public var recordsRead = 0
    public var eventsAppended = 0
    public var recorded = 0
    public var duplicatesSkipped = 0
    public var rejected = 0
    public var totalCost = Money.zero
    public var runsHalted: [String] = []
    public var thresholdsCrossed: [String] = []
}

extension Ledger {
    /// Appends prepared usage through the actors, in atomic chunks of `chunkSize` events. A crash
    /// part-way leaves whole chunks; ingesting again skips every record already stored (by id).
    public func ingest(_ prepared: PreparedIngest, chunkSize: Int = 4_096) async throws -> IngestSummary {
        precondition(chunkSize > 0 && chunkSize <= Limits.batchEventCountMax, "an ingest chunk must fit one batch")
        var summary = IngestSummary()
        summary.recordsRead = prepared.recordsRead
        summary.rejected = prepared.rejections.count
        summary.duplicatesSkipped = prepared.repeatedInInput
        var start = 0
        while start < prepared.events.count {
            let end = min(start + chunkSize, prepared.events.count)
            let result = try await spend.record(Array(prepared.events[start..<end]))
            summary.eventsAppended += result.eventsAppended
            summary.recorded += result.recorded
            summary.duplicatesSkipped += result.duplicates
            summary.totalCost += result.cost
            summary.runsHalted += result.halted
            summary.thresholdsCrossed += result.thresholds
            start = end
        }
        return summary
    }
}

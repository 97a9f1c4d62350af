import LedgerCore
import LedgerDomain
import Testing

@testable import LedgerPricing

@Suite struct UsagePricerTests {
    let pricer: UsagePricer

    init() throws { pricer = UsagePricer(catalog: try fixtureCatalog()) }

    @Test func aPricedRecord_becomesAUsageEventOnItsRunsStream_withItsDimensionsMetadataAndID() throws {
        let record = try UsageRecordParser().parse(
            #"{"id":"0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e","time":"2026-11-20T01:02:03.123Z","agent":"agent-7","run":"run-42","client":"acme","project":"p","task":"t","model":"gpt-4o-mini","environment":"prod","owner":"o","input_tokens":1200,"output_tokens":300,"tool_calls":2,"retry":1,"latency_ms":840,"region":"eu"}"#,
            lineNumber: 5)
        let event = try pricer.proposedEvent(for: record, line: 5)
        #expect(event.id == EventID("0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4e"))
        #expect(event.stream == "run:run-42")
        #expect(event.type == UsageRecorded.type)
        #expect(event.occurredAt == time("2026-11-20T01:02:03.123Z"))
        #expect(
            event.dimensions
                == Dimensions(
                    agent: "agent-7", client: "acme", project: "p", task: "t", run: "run-42", model: "gpt-4o-mini",
                    vendor: "openai", environment: "prod", owner: "o"))
        #expect(event.metadata == ["region": "eu"])
        let usage = try UsageRecorded(payload: event.payload, schema: event.schema)
        // 1200 × 1.5e-07 + 300 × 6e-07 = 0.00018 + 0.00018 = 0.00036 dollars.
        #expect(
            usage
                == UsageRecorded(
                    kind: .llm, cost: Money(nanos: 360_000), inputTokens: 1200, outputTokens: 300, toolCalls: 2, retry: 1,
                    latencyMs: 840, priceEntry: "gpt-4o-mini@1970-01-01T00:00:00Z"))
        try EventCodec.validate(event)
    }

    @Test func aRecordWithoutARun_goesOnTheAgentsUsageStream_andGetsATimeOrderedID() throws {
        let record = UsageRecord(time: time("2026-11-20T01:02:03Z"), agent: "agent-7", vendor: "acme-tools", kind: .retrieval, cost: Money(nanos: 5))
        let event = try pricer.proposedEvent(for: record)
        #expect(event.stream == "usage:agent-7")
        #expect(event.dimensions.vendor == "acme-tools")
        // A UUIDv7 carrying the record's millisecond.
        #expect(event.id.high >> 16 == UInt64(time("2026-11-20T01:02:03Z").nanosecondsSinceEpoch / 1_000_000))
        #expect(event.id.high & 0xF000 == 0x7000)
        #expect(UsagePricer.stream(for: record) == "usage:agent-7")
    }

    @Test func theRecordsVendor_winsOverTheCatalogs() throws {
        let record = UsageRecord(time: .epoch, agent: "a", model: "gpt-4o", vendor: "azure", tokens: TokenCounts(input: 1))
        #expect(try pricer.proposedEvent(for: record).dimensions.vendor == "azure")
    }

    @Test func aReservation_isCarriedIntoTheUsageEvent() throws {
        let reservation = EventID(high: 1, low: 2)
        let record = UsageRecord(time: .epoch, agent: "a", model: "gpt-4o", tokens: TokenCounts(input: 1))
        #expect(try pricer.usageRecorded(for: record, reservation: reservation).reservation == reservation)
    }

    @Test func boundaryRecords_makeEventsTheStoreAccepts() throws {
        let record = try UsageRecordParser().parse(
            #"{"time":"2026-11-20T01:02:03Z","agent":"\#(String(repeating: "a", count: 250))","run":"\#(String(repeating: "r", count: 252))","client":"\#(String(repeating: "c", count: 256))","cost_usd":"1"}"#)
        try EventCodec.validate(try pricer.proposedEvent(for: record))
        let withoutRun = try UsageRecordParser().parse(
            #"{"time":"2026-11-20T01:02:03Z","agent":"\#(String(repeating: "é", count: 125))","cost_usd":"1"}"#)
        try EventCodec.validate(try pricer.proposedEvent(for: withoutRun))
    }

    @Test func pricingErrors_nameTheLineAndTheField() throws {
        var catalog = PriceCatalog()
        catalog.apply(PriceSet(model: "in-only", effectiveFrom: .epoch, input: price("1e-06")))
        let pricer = UsagePricer(catalog: catalog)
        let cases: [(UsageRecord, String)] = [
            (UsageRecord(time: .epoch, agent: "a", model: "nope", tokens: TokenCounts(input: 1)),
             #"line 8: model: "nope" is not in the price catalog; give cost_usd or add the model to the catalog"#),
            (UsageRecord(time: .epoch, agent: "a", model: "in-only", tokens: TokenCounts(output: 2)),
             "line 8: output_tokens: catalog entry in-only@1970-01-01T00:00:00Z has no output price for 2 tokens; give cost_usd explicitly"),
            (UsageRecord(time: .epoch, agent: "a", tokens: TokenCounts(input: 1)),
             "line 8: model: is required when cost_usd is absent (the catalog prices a record by its model)"),
            (UsageRecord(time: .epoch, agent: "a", model: "in-only", tokens: TokenCounts(input: -1)),
             "line 8: input_tokens: must not be negative, got -1"),
            (UsageRecord(time: .epoch, agent: "a", tokens: TokenCounts(toolCalls: Int64(Int32.max) + 1), cost: .zero),
             "line 8: tool_calls: must be a non-negative integer up to 2147483647, got 2147483648"),
            (UsageRecord(time: .epoch, agent: "a", cost: Money(nanos: -1)), "line 8: cost_usd: must not be negative, got -0.000000001"),
            (UsageRecord(time: .epoch, agent: "", cost: .zero), "line 8: agent: must not be empty"),
            (UsageRecord(time: .epoch, agent: "a", run: "", cost: .zero), "line 8: run: must not be empty (leave it nil for no run)"),
        ]
        for (record, expected) in cases {
            #expect {
                _ = try pricer.proposedEvent(for: record, line: 8)
            } throws: { error in
                (error as? UsageRecordError)?.description == expected
            }
        }
    }
}

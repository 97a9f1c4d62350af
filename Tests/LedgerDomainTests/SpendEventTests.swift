import LedgerCore
import LedgerDomain
import Testing

@Suite struct SpendEventTests {
    @Test func usageRecorded_roundTripsThroughItsBinaryPayload_withAndWithoutOptionalFields() throws {
        let full = UsageRecorded(
            kind: .embedding, cost: Money(nanos: 372_000), inputTokens: 1_200, outputTokens: 300, cachedTokens: 50,
            cacheWriteTokens: 7, reasoningTokens: 11, toolCalls: 2, retry: 3, latencyMs: 840,
            priceEntry: "gpt-4o-mini@2024-07-18T00:00:00Z", reservation: EventID(high: 9, low: 10))
        let minimal = UsageRecorded(kind: .tool, cost: Money(nanos: 1))
        for usage in [full, minimal] {
            let (encoding, bytes) = usage.encodePayload()
            #expect(encoding == .binary)
            #expect(try UsageRecorded(payload: bytes, schema: 1) == usage)
        }
    }

    @Test func usageRecorded_rejectsADamagedPayloadAndAnUnknownSchema() {
        var bytes = UsageRecorded(cost: Money(nanos: 5), priceEntry: "m").encodePayload().bytes
        bytes.removeLast()
        #expect(throws: LedgerError.self) { try UsageRecorded(payload: bytes, schema: 1) }
        #expect(throws: LedgerError.self) { try UsageRecorded(payload: UsageRecorded(cost: .zero).encodePayload().bytes, schema: 2) }
        #expect(throws: LedgerError.self) { try UsageRecorded(payload: [], schema: 1) }
    }

    @Test func usageFigures_readTheFixedFiguresInPlace_andRefuseWhatTheDecoderRefuses() throws {
        let usage = UsageRecorded(
            kind: .llm, cost: Money(nanos: 372_000), inputTokens: 1_200, outputTokens: 300, cachedTokens: 50,
            cacheWriteTokens: 7, reasoningTokens: 11, toolCalls: 2, retry: 3, latencyMs: 840,
            priceEntry: "gpt-4o@2024-05-13T00:00:00Z", reservation: EventID(high: 1, low: 2))
        let bytes = usage.encodePayload().bytes
        let figures = try #require(bytes.withUnsafeBytes { UsageFigures(binaryPayload: $0) })
        #expect(figures.kind == .llm && figures.costNanos == 372_000 && figures.toolCalls == 2 && figures.retry == 3)
        #expect(figures.latencyMs == 840)
        #expect([figures.inputTokens, figures.outputTokens, figures.cachedTokens, figures.cacheWriteTokens, figures.reasoningTokens] == [1_200, 300, 50, 7, 11])

        var unknownFlag = bytes
        unknownFlag[1] |= 4
        var unknownKind = bytes
        unknownKind[0] = 200
        var trailing = bytes
        trailing.append(0)
        for damaged in [unknownFlag, unknownKind, trailing, Array(bytes.dropLast()), Array(bytes.prefix(63))] {
            #expect(damaged.withUnsafeBytes { UsageFigures(binaryPayload: $0) } == nil)
            #expect(throws: LedgerError.self) { try UsageRecorded(payload: damaged, schema: 1) }
        }
    }

    @Test func jsonEvents_encodeWithSortedKeys_andDecodeBack() throws {
        let budget = BudgetDefined(
            definition: BudgetDefinition(
                scope: .client("acme"), period: .month, limit: Money(dollars: "250")!, actions: ["90": .pauseNonCritical]))
        let (encoding, bytes) = budget.encodePayload()
        #expect(encoding == .json)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""limit_nanos":250000000000"#))
        #expect(try BudgetDefined(payload: bytes, schema: 1) == budget)
        let event = ProposedEvent(budget, stream: SpendStreams.budget("acme-monthly"), occurredAt: .epoch)
        #expect(event.type == "budget.defined")
    }

    @Test func money_parsesAndPrintsDecimalDollarsExactly() {
        #expect(Money(dollars: "0.000372")?.nanos == 372_000)
        #expect(Money(dollars: "12")?.nanos == 12_000_000_000)
        #expect(Money(dollars: "-1.5")?.nanos == -1_500_000_000)
        #expect(Money(dollars: "3.75e-06")?.nanos == 3_750)
        #expect(Money(dollars: "0.0000000005")?.nanos == 0, "half-even: 0.5 nano rounds to the even 0")
        #expect(Money(dollars: "0.0000000015")?.nanos == 2, "half-even: 1.5 nanos round to the even 2")
        #expect(Money(dollars: "0.00000000151")?.nanos == 2)
        #expect(Money(dollars: "abc") == nil)
        #expect(Money(dollars: "1e30") == nil, "does not fit")
        #expect(Money(nanos: 372_000).dollars == "0.000372")
        #expect(Money(nanos: -1_500_000_000).dollars == "-1.5")
        #expect(Money(nanos: 0).dollars == "0")
    }

    @Test func price_isExactToEighteenPlaces_andRoundsEachChargeOnceHalfEven() {
        let price = Price(dollars: "7.5e-08")!
        #expect(price.attodollars == 75_000_000_000)
        #expect(Price(dollars: "1e-19") == nil, "needs more than 18 places")
        #expect(Price(dollars: "-1") == nil)
        // 3 tokens at 0.5 nano each = 1.5 nanos -> 2 (half-even); 1 token -> 0.5 -> 0.
        let half = Price(dollars: "0.0000000005")!
        #expect(Price.roundToMoney(half.cost(of: 3)) == Money(nanos: 2))
        #expect(Price.roundToMoney(half.cost(of: 1)) == Money(nanos: 0))
        #expect(Price.roundToMoney(half.cost(of: 5)) == Money(nanos: 2), "2.5 -> 2")
        #expect(price.dollars == "0.000000075")
    }
}

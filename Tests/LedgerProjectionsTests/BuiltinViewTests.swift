import Foundation
import LedgerCore
import LedgerDomain
@testable import LedgerProjections
import SpendLedgerTestKit
import Testing

/// What each built-in view counts, given events.
@Suite struct BuiltinViewTests {
    typealias F = ProjectionFixtures

    @Test func spendByAgent_sumsEveryFigure_andPutsChargesWithoutAnAgentUnderTheEmptyKey() async throws {
        let state = try await ProjectionScenario(SpendByDimension(.agent))
            .given(
                F.usage(cost: Money(nanos: 100), occurredAt: F.at(minutes: 5), agent: "a", inputTokens: 10, outputTokens: 3, cachedTokens: 2, reasoningTokens: 1, toolCalls: 1),
                F.usage(cost: Money(nanos: 50), occurredAt: F.at(minutes: 2), agent: "a", inputTokens: 5, retry: 1),
                F.usage(cost: Money(nanos: 7), agent: nil),
                F.usage(cost: Money(nanos: 3), agent: "b", retry: 2))
            .state()
        let a = try #require(state["a"])
        #expect(a.costNanos == 150 && a.calls == 2 && a.inputTokens == 15 && a.outputTokens == 3)
        #expect(a.cachedTokens == 2 && a.reasoningTokens == 1 && a.toolCalls == 1 && a.retries == 1)
        #expect(a.firstAt == F.at(minutes: 2) && a.lastAt == F.at(minutes: 5))
        #expect(state[""]?.costNanos == 7)
        #expect(state["b"]?.retries == 1)
        #expect(state.entries.map(\.key) == ["", "a", "b"])
        #expect(state.total.costNanos == 160)
    }

    @Test func aCorrection_adjustsTheCorrectedChargesRow_inEveryDimension() async throws {
        let store = InMemoryEventStore()
        let charge = F.usage(cost: Money(nanos: 1_000), occurredAt: F.at(minutes: 90), agent: "a", client: "acme", model: "m")
        try await store.append(charge)
        let recorded = try #require(try store.event(id: charge.id))
        let correction = ProposedEvent.correction(of: recorded, delta: Money(nanos: -250), reason: "price fix")
        #expect(correction.occurredAt == recorded.occurredAt && correction.dimensions.causation == recorded.id)
        try await store.append(correction)
        let engine = ProjectionEngine(store: store)
        let byAgent = try await engine.state(of: SpendByDimension(.agent), asOf: .head).state
        #expect(byAgent["a"]?.costNanos == 750 && byAgent["a"]?.calls == 1 && byAgent["a"]?.corrections == 1)
        #expect(try await engine.state(of: SpendByDimension(.client), asOf: .head).state["acme"]?.costNanos == 750)
        let hourly = try await engine.state(of: SpendPerHour(), asOf: .head).state
        #expect(hourly.entries.count == 1 && hourly.entries[0].row.costNanos == 750)
        #expect(hourly.entries[0].hourStart == F.at(minutes: 60))
    }

    @Test func jsonUsageRecords_areCountedExactly_andAnUnreadableOneIsNeverZero() async throws {
        func json(_ text: String, agent: String) -> ProposedEvent {
            ProposedEvent(
                stream: "run:j", type: "usage.recorded", occurredAt: F.epoch, dimensions: Dimensions(agent: agent),
                payload: Array(text.utf8))
        }
        let state = try await ProjectionScenario(SpendByDimension(.agent))
            .given(
                json(#"{"agent":"x","cost_usd":"0.000372","input_tokens":1200,"output_tokens":300,"retry":1,"meta":{"a":[1,"}"]}}"#, agent: "x"),
                json(#"{"cost_nanos":5,"input_tokens":1}"#, agent: "x"),
                json(#"{"cost_usd":0.1}"#, agent: "y"),
                json(#"{"input_tokens":3}"#, agent: "z"),
                json("not json", agent: "z"))
            .state()
        #expect(state["x"]?.costNanos == 372_005)
        #expect(state["x"]?.inputTokens == 1_201 && state["x"]?.retries == 1)
        #expect(state["y"]?.costNanos == 100_000_000)
        #expect(state["z"] == nil)
        #expect(state.unreadableEvents == 2)
    }

    @Test func aDamagedBinaryPayload_isUnreadable() async throws {
        let damaged = ProposedEvent(
            stream: "run:d", type: "usage.recorded", occurredAt: F.epoch, dimensions: Dimensions(agent: "a"),
            payloadEncoding: .binary, payload: [0, 0, 0])
        let state = try await ProjectionScenario(SpendByDimension(.agent)).given(damaged).state()
        #expect(state.count == 0 && state.unreadableEvents == 1)
    }

    @Test func spendPerHour_bucketsByTheHourTheChargeOccurredIn() async throws {
        let state = try await ProjectionScenario(SpendPerHour())
            .given(
                F.usage(cost: Money(nanos: 1), occurredAt: F.at(minutes: 59)),
                F.usage(cost: Money(nanos: 2), occurredAt: F.at(minutes: 60)),
                F.usage(cost: Money(nanos: 4), occurredAt: F.at(minutes: 0)),
                F.usage(cost: Money(nanos: 8), occurredAt: F.at(minutes: -1)))
            .state()
        #expect(state.entries.map(\.hourStart) == [F.at(minutes: -60), F.at(minutes: 0), F.at(minutes: 60)])
        #expect(state.entries.map(\.row.costNanos) == [8, 5, 2])
    }

    @Test func outcomes_costPerTaskAndPerAcceptedOutcome() async throws {
        let state = try await ProjectionScenario(OutcomeCosts())
            .given(
                F.runStarted("r1", task: "t"), F.usage(cost: Money(nanos: 10), run: "r1", task: "t"),
                F.runCompleted("r1", .rejected),
                F.runStarted("r2", task: "t"), F.usage(cost: Money(nanos: 15), run: "r2", task: "t"),
                F.runCompleted("r2", .accepted),
                F.runStarted("r3", task: "u"), F.usage(cost: Money(nanos: 4), run: "r3", task: "u"),
                F.runStarted("r4", task: "u"))
            .state()
        let t = try #require(state["t"])
        #expect(t.costNanos == 25 && t.runs == 2 && t.accepted == 1 && t.rejected == 1)
        #expect(t.costPerAcceptedOutcome == Money(nanos: 25))
        #expect(state["u"]?.costPerAcceptedOutcome == nil && state.openRunCount == 2)
        #expect(state.total.costPerAcceptedOutcome == Money(nanos: 29))
    }

    @Test func budgetStatus_countsTheScopesSpendInThePeriod_reservationsUntilReleased_andForecasts() async throws {
        let november = LedgerTime(rfc3339: "2026-11-01T00:00:00Z")!
        func day(_ day: Int, _ hour: Int = 0) -> LedgerTime {
            LedgerTime(nanosecondsSinceEpoch: november.nanosecondsSinceEpoch + Int64(day - 1) * 86_400_000_000_000 + Int64(hour) * 3_600_000_000_000)
        }
        let r1 = EventID(high: 1, low: 1)
        let r2 = EventID(high: 2, low: 2)
        let outcome = try await ProjectionScenario(BudgetStatusView())
            .given(
                F.budget("acme", scope: .client("acme"), limit: Money(dollars: "10")!, period: .month, occurredAt: day(1)),
                F.usage(cost: Money(dollars: "2")!, occurredAt: day(3), client: "acme"),
                F.usage(cost: Money(dollars: "1")!, occurredAt: day(5), client: "acme"),
                F.usage(cost: Money(dollars: "4")!, occurredAt: day(5), client: "globex"),
                // Late, from October: not this period.
                F.usage(cost: Money(dollars: "3")!, occurredAt: day(-2), client: "acme"),
                F.reserved(Money(dollars: "0.5")!, budget: "acme", reservation: r1),
                F.reserved(Money(dollars: "0.25")!, budget: "acme", reservation: r2),
                F.released(Money(dollars: "0.25")!, budget: "acme", reservation: r2),
                F.thresholdCrossed(50, budget: "acme", spent: Money(dollars: "5")!, limit: Money(dollars: "10")!, periodStart: day(-30)),
                F.thresholdCrossed(25, budget: "acme", spent: Money(dollars: "2.5")!, limit: Money(dollars: "10")!, periodStart: day(1)))
            .run()
        let statuses = outcome.state.status(at: day(7))
        let acme = try #require(statuses.first)
        #expect(acme.periodStart == november && acme.periodEnd == LedgerTime(rfc3339: "2026-12-01T00:00:00Z"))
        #expect(acme.spent == Money(dollars: "3")! && acme.calls == 2)
        #expect(acme.reserved == Money(dollars: "0.5")!)
        #expect(acme.remaining == Money(dollars: "6.5")!)
        #expect(acme.percentText == "30.00")
        #expect(acme.thresholdsCrossed == [25])
        // $3 over 6 days = $0.020833333/h; $6.5 left at that rate lasts 13 more days: Nov 20.
        #expect(acme.burnRatePerHour == Money(nanos: 20_833_333))
        #expect(acme.runsOutAt == day(20))
        #expect(acme.runsOutDay == "2026-11-20")
        #expect(!acme.exhausted)
        // In October the budget saw the late $3.
        let october = try #require(outcome.state.status(at: day(-1)).first)
        #expect(october.spent == Money(dollars: "3")! && october.thresholdsCrossed == [50])
    }

    @Test func budgetPeriods_tileTimeInUTCAndInATimeZone() {
        for zone in [nil, "Europe/Paris", "America/New_York", "Asia/Kolkata"] as [String?] {
            for period in [BudgetPeriod.day, .week, .month] {
                var time = LedgerTime(rfc3339: "2026-03-01T00:00:00Z")!.nanosecondsSinceEpoch
                var previous: PeriodWindow?
                for _ in 0..<30 {
                    let window = BudgetCalendar.window(containing: time, period: period, timeZone: zone)
                    #expect(window.contains(time))
                    #expect(BudgetCalendar.window(containing: window.end - 1, period: period, timeZone: zone) == window)
                    if let previous { #expect(previous.end == window.start, "\(period) \(zone ?? "UTC")") }
                    previous = window
                    time = window.end
                }
            }
        }
        let week = BudgetCalendar.window(containing: LedgerTime(rfc3339: "2026-11-20T12:00:00Z")!.nanosecondsSinceEpoch, period: .week, timeZone: nil)
        #expect(LedgerTime(nanosecondsSinceEpoch: week.start).rfc3339 == "2026-11-16T00:00:00Z")  // a Monday
    }

    @Test func theScopeMatcherOverBytes_agreesWithBudgetScopeMatches() throws {
        var random = WorkloadRandom(seed: 5)
        let values: [String?] = [nil, "", "a", "b", "a b"]
        func pick() -> String? { values[Int(random.next() % UInt64(values.count))] }
        for _ in 0..<400 {
            let kind = BudgetScope.Kind.allCases[Int(random.next() % UInt64(BudgetScope.Kind.allCases.count))]
            var tags: [String: String] = [:]
            if let key = pick(), !key.isEmpty { tags[key] = pick() ?? "" }
            let scope = BudgetScope(kind: kind, value: pick(), tags: tags)
            var metadata: [String: String] = [:]
            if let key = pick(), !key.isEmpty { metadata[key] = pick() ?? "" }
            let dimensions = Dimensions(agent: pick(), client: pick(), project: pick(), model: pick())
            let event = ProposedEvent(stream: "s", type: "usage.recorded", occurredAt: .epoch, dimensions: dimensions, metadata: metadata)
            let (bytes, _) = EventCodec.encode(event, seq: 1, version: 1, recordedAt: .epoch, previous: .genesis)
            let matched = try bytes.withUnsafeBytes { raw in
                let view = try EventView(raw)
                return ScopeMatcher(scope).matches(view, view.dimensionTable)
            }
            #expect(matched == scope.matches(dimensions, metadata: metadata), "\(scope) \(dimensions) \(metadata)")
        }
    }

    @Test func theTypeNamesTheViewsCompareBytesWith_areTheDomainsTypes() {
        #expect(UsageRecorded.type == "usage.recorded")
        #expect(CorrectionRecorded.type == "correction.recorded")
        #expect(RunStarted.type == "run.started" && RunCompleted.type == "run.completed")
        #expect(BudgetDefined.type == "budget.defined" && ThresholdCrossed.type == "budget.threshold_crossed")
        #expect(SpendReserved.type == "spend.reserved" && SpendReleased.type == "spend.released")
        #expect(SpendStreams.budget("x") == "budget:x" && SpendStreams.run("x") == "run:x")
    }

    @Test func builtInViews_haveDistinctNames() {
        let names = BuiltinViews.all.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.contains("spend.by_vendor"))
    }
}

/// The fixed-shape fast paths read exactly what the general JSON reader reads.
@Suite struct FastPathTests {
    @Test func reservationPayloads_takeTheFastPath_andAgreeWithTheGeneralReader() throws {
        let reservation = EventID.generate()
        let reserved = SpendReserved(
            reservation: reservation, run: "run-7", amount: Money(nanos: 1_234_567),
            expiresAt: LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000)).encodePayload().bytes
        let released = SpendReleased(reservation: reservation, amount: Money(nanos: -5), reason: .expired).encodePayload().bytes
        for (payload, amount) in [(reserved, Int64(1_234_567)), (released, Int64(-5))] {
            let fast = try #require(payload.withUnsafeBytes { FlatJSON.reservationFast($0) }, "\(String(decoding: payload, as: UTF8.self))")
            #expect(fast.amount == amount && fast.reservation == reservation)
            let general = try #require(payload.withUnsafeBytes { BudgetBook.reservation($0) })
            #expect(general.0 == amount && general.1 == reservation)
        }
        // Another shape falls back to the general reader, which still reads it.
        let reordered = Array(#"{"reservation":"\#(reservation)","amount_nanos":9}"#.utf8)
        #expect(reordered.withUnsafeBytes { FlatJSON.reservationFast($0) } == nil)
        #expect(reordered.withUnsafeBytes { BudgetBook.reservation($0) }?.0 == 9)
        #expect(Array(#"{"amount_nanos":1,"expires_at_ns":2,"reservation":"nope"}"#.utf8).withUnsafeBytes { BudgetBook.reservation($0) } == nil)
    }

    @Test func uuidText_parsesLikeEventID() {
        for _ in 0..<200 {
            let id = EventID.generate()
            let upper = id.description.uppercased()
            for text in [id.description, upper] {
                let bytes = Array(text.utf8)
                #expect(bytes.withUnsafeBytes { FlatJSON.uuid($0) } == EventID(text))
            }
        }
        for bad in ["0b6f2c1e-4d0a-4e58-9d1c-6a3f1b2c3d4g", "0b6f2c1e04d0a-4e58-9d1c-6a3f1b2c3d4e", "short"] {
            #expect(Array(bad.utf8).withUnsafeBytes { FlatJSON.uuid($0) } == nil)
        }
    }
}

// The incident review: a minute-by-minute story of what one agent (or run) did and cost.
import Foundation
import LedgerCore
import LedgerDetectors
import LedgerDomain
import LedgerIncidents
import SpendLedgerTestKit
import Testing

/// A scripted night: agent `looper` runs `r1` calmly for ten minutes (two $0.001 calls a minute),
/// starts a sub-agent run `r1-sub` (agent `helper`) at minute 5 which starts `r1-sub-sub` at minute
/// 6, then falls into a retry loop from minute 10 (thirty $0.01 retried calls a minute). A live
/// detector records a velocity alert at 12:30, a policy halts `r1` at 15:10 and the agent is
/// paused at 16:00. Resumed at 20:00, it runs `r3` (two $0.005 calls at 21:10 and 21:30). Agent
/// `other` spends all along and has an alert of its own.
struct IncidentScript {
    /// A charge the script made, to hand-compute what the report must say.
    struct Charge {
        var at: LedgerTime
        var agent: String
        var run: String
        var model: String
        var task: String
        var nanos: Int64
        var retry: Int32
    }

    static let start = LedgerTime(nanosecondsSinceEpoch: 1_767_225_600_000_000_000)  // 2026-01-01T00:00:00Z

    static func at(_ minute: Int64, _ second: Int64 = 0) -> LedgerTime {
        LedgerTime(nanosecondsSinceEpoch: start.nanosecondsSinceEpoch + minute * 60_000_000_000 + second * 1_000_000_000)
    }

    let store: InMemoryEventStore
    let clock = ManualClock(start: IncidentScript.start)
    private(set) var charges: [Charge] = []
    private var pending: [(LedgerTime, ProposedEvent)] = []

    init() { store = InMemoryEventStore(clock: clock) }

    /// Builds the whole night; `recordAlerts: false` leaves out the live detector's events.
    static func night(recordAlerts: Bool = true, agent: String = "looper", run: String = "r1") async throws -> IncidentScript {
        var script = IncidentScript()
        script.startRun(run, agent: agent, parent: nil, task: "t-main", at: at(0))
        script.startRun("o1", agent: "other", parent: nil, task: "t-other", at: at(0))
        for minute: Int64 in 0...16 {
            script.charge(agent: "other", run: "o1", model: "gpt-4o-mini", task: "t-other", nanos: 1_500_000, at: at(minute, 7))
        }
        for minute: Int64 in 0..<10 {
            for second: Int64 in [10, 40] {
                script.charge(
                    agent: agent, run: run, model: "gpt-4o-mini", task: "t-main", nanos: 1_000_000, at: at(minute, second))
            }
        }
        script.startRun("r1-sub", agent: "helper", parent: run, task: "t-sub", at: at(5, 1))
        script.charge(agent: "helper", run: "r1-sub", model: "claude-haiku", task: "t-sub", nanos: 3_000_000, at: at(5, 20))
        script.startRun("r1-sub-sub", agent: "helper", parent: "r1-sub", task: "t-sub", at: at(6, 1))
        script.charge(agent: "helper", run: "r1-sub", model: "claude-haiku", task: "t-sub", nanos: 3_000_000, at: at(6, 20))
        script.charge(agent: "helper", run: "r1-sub-sub", model: "claude-haiku", task: "t-sub", nanos: 2_000_000, at: at(6, 30))
        script.complete("r1-sub", agent: "helper", at: at(7, 0))
        var retry: Int32 = 0
        for minute: Int64 in 10...15 {
            for second in stride(from: Int64(0), through: minute == 15 ? 4 : 58, by: minute == 15 ? 1 : 2) {
                retry += 1
                script.charge(
                    agent: agent, run: run, model: "gpt-4o", task: "t-main", nanos: 10_000_000, retry: retry, sameCall: true,
                    at: at(minute, second))
            }
        }
        if recordAlerts {
            script.anomaly(agent: agent, run: run, kind: "velocity", at: at(12, 30))
            script.anomaly(agent: "other", run: "o1", kind: "spike", at: at(3, 0))
        }
        script.halt(run, agent: agent, at: at(15, 10))
        script.pause(agent, at: at(16, 0))
        script.resume(agent, at: at(20, 0))
        script.startRun("r3", agent: agent, parent: nil, task: "t-main", at: at(21, 0))
        for second: Int64 in [10, 30] {
            script.charge(agent: agent, run: "r3", model: "gpt-4o-mini", task: "t-main", nanos: 5_000_000, at: at(21, second))
        }
        try await script.flush()
        return script
    }

    mutating func startRun(_ id: String, agent: String, parent: String?, task: String, at time: LedgerTime) {
        let event = ProposedEvent(
            RunStarted(parentRun: parent), stream: SpendStreams.run(id), occurredAt: time,
            dimensions: Dimensions(agent: agent, client: "acme", task: task, run: id))
        pending.append((time, event))
    }

    mutating func charge(
        agent: String, run: String, model: String, task: String, nanos: Int64, retry: Int32 = 0, sameCall: Bool = false,
        at time: LedgerTime
    ) {
        // Ordinary calls differ in size (so no detector takes them for a loop); a retried call is the same call again.
        let varied = Int64(charges.count % 2) * 2_000 + Int64(charges.count) * 37
        charges.append(Charge(at: time, agent: agent, run: run, model: model, task: task, nanos: nanos, retry: retry))
        let usage = UsageRecorded(
            cost: Money(nanos: nanos), inputTokens: sameCall ? 1_000 : 400 + varied,
            outputTokens: sameCall ? 200 : 100 + varied / 4,
            retry: retry)
        let event = ProposedEvent(
            usage, stream: SpendStreams.run(run), occurredAt: time,
            dimensions: Dimensions(agent: agent, client: "acme", task: task, run: run, model: model, vendor: "v"))
        pending.append((time, event))
    }

    mutating func complete(_ run: String, agent: String, at time: LedgerTime) {
        pending.append(
            (
                time,
                ProposedEvent(
                    RunCompleted(outcome: .accepted), stream: SpendStreams.run(run), occurredAt: time,
                    dimensions: Dimensions(agent: agent, run: run))
            ))
    }

    mutating func anomaly(agent: String, run: String, kind: String, at time: LedgerTime) {
        let anomaly = AnomalyDetected(kind: kind, scoreMilli: 900, evidence: "\(kind) for \(agent)", action: "halt_run")
        pending.append(
            (
                time,
                ProposedEvent(
                    anomaly, stream: SpendStreams.detector(kind), occurredAt: time, dimensions: Dimensions(agent: agent, run: run)
                )
            ))
    }

    mutating func halt(_ run: String, agent: String, at time: LedgerTime) {
        let halted = RunHalted(cause: "detector:velocity", reason: "velocity policy")
        pending.append(
            (
                time,
                ProposedEvent(
                    halted, stream: SpendStreams.run(run), occurredAt: time, dimensions: Dimensions(agent: agent, run: run))
            ))
    }

    mutating func pause(_ agent: String, at time: LedgerTime) {
        pending.append(
            (
                time,
                ProposedEvent(
                    AgentPaused(reason: "detector policy"), stream: SpendStreams.wallet(agent), occurredAt: time,
                    dimensions: Dimensions(agent: agent))
            ))
    }

    mutating func resume(_ agent: String, at time: LedgerTime) {
        let resumed = ProposedEvent(
            AgentResumed(reason: "fixed"), stream: SpendStreams.wallet(agent), occurredAt: time,
            dimensions: Dimensions(agent: agent))
        pending.append((time, resumed))
    }

    /// Appends everything in time order, the clock at each event's time (recorded as it occurred).
    mutating func flush() async throws {
        for (time, event) in pending.enumerated().sorted(by: { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }).map(
            \.element)
        {
            clock.set(time)
            try await store.append(event)
        }
        pending = []
    }

    /// The charges of `agents` (or runs) the review must count, optionally after an instant.
    func sum(_ include: (Charge) -> Bool) -> (calls: Int, nanos: Int64, retries: Int) {
        let chosen = charges.filter(include)
        return (chosen.count, chosen.reduce(0) { $0 + $1.nanos }, chosen.filter { $0.retry > 0 }.count)
    }
}

@Suite struct IncidentReportTests {
    static let reviewed: Set<String> = ["r1", "r1-sub", "r1-sub-sub"]
    typealias S = IncidentScript

    @Test func recordedIncident_hasTheHandComputedNumbers() async throws {
        let script = try await S.night()
        let report = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "looper"))

        #expect(report.alertSource == .log)
        #expect(report.window == .aroundFirstAnomaly)
        #expect(report.from == S.at(0))  // an hour before 12:30 is before the first activity
        #expect(report.to == S.at(21, 30))  // the agent's last charge
        #expect(report.firstAnomalyAt == S.at(12, 30))
        #expect(report.firstAnomaly?.recorded == true && report.firstAnomaly?.kind == "velocity")
        #expect(report.alerts.count == 1)  // the other agent's spike is not ours
        #expect(report.haltedAt == S.at(15, 10))
        #expect(report.halt?.kind == .runHalted && report.halt?.run == "r1" && report.halt?.cause == "detector:velocity")
        #expect(report.actions.map(\.kind) == [.runHalted, .agentPaused, .agentResumed])
        #expect(report.actions.map(\.at) == [S.at(15, 10), S.at(16), S.at(20)])

        // Loop calls at 12:32, 12:34 ... 12:58 (14), all of minutes 13 and 14 (60), 15:00-15:04 (5);
        // not r3's calls after the halt of r1, which stopping r1 earlier would not have saved.
        #expect(report.costAfterFirstAlert.nanos == (14 + 60 + 5) * 10_000_000)
        let saved = script.sum { Self.reviewed.contains($0.run) && $0.at > S.at(12, 30) && $0.at <= S.at(15, 10) }
        #expect(report.costAfterFirstAlert == Money(nanos: saved.nanos))
        // 20 calm calls at $0.001, 3 sub-agent calls ($0.003, $0.003, $0.002), 155 loop calls at $0.01,
        // and r3's two calls at $0.005.
        #expect(report.totalCost.nanos == 20_000_000 + 8_000_000 + 1_550_000_000 + 10_000_000)
        #expect(report.calls == 180)
        #expect(report.retries == 155)

        let active = report.timeline.filter { $0.calls > 0 }
        #expect(active.map(\.minute) == (0...15).map { S.at($0) } + [S.at(21)])
        #expect(active[0].calls == 2 && active[0].cost.nanos == 2_000_000 && active[0].retries == 0)
        #expect(active[5].calls == 3 && active[5].cost.nanos == 5_000_000)
        #expect(active[6].calls == 4 && active[6].cost.nanos == 7_000_000)
        #expect(active[10].calls == 30 && active[10].cost.nanos == 300_000_000 && active[10].retries == 30)
        #expect(active[15].calls == 5 && active[15].cost.nanos == 50_000_000)
        #expect(report.timeline.reduce(Money.zero) { $0 + $1.cost } == report.totalCost)

        #expect(report.models.map(\.name) == ["gpt-4o", "gpt-4o-mini", "claude-haiku"])
        #expect(report.models.map(\.cost.nanos) == [1_550_000_000, 30_000_000, 8_000_000])
        #expect(report.models.map(\.calls) == [155, 22, 3])
        #expect(report.tasks.map(\.name) == ["t-main", "t-sub"])
        #expect(report.tasks.map(\.cost.nanos) == [1_580_000_000, 8_000_000])

        #expect(report.runs.map(\.id) == ["r1", "r3"])
        #expect(report.runs[1].status == .running && report.runs[1].cost.nanos == 10_000_000 && report.runs[1].children.isEmpty)
        let r1 = try #require(report.runs.first)
        #expect(r1.id == "r1" && r1.agent == "looper" && r1.status == .halted && r1.haltedAt == S.at(15, 10))
        #expect(r1.cost.nanos == 1_570_000_000 && r1.calls == 175 && r1.retries == 155)
        #expect(r1.children.map(\.id) == ["r1-sub"])
        let sub = r1.children[0]
        #expect(
            sub.agent == "helper" && sub.parent == "r1" && sub.status == .completed("accepted") && sub.cost.nanos == 6_000_000)
        #expect(sub.children.map(\.id) == ["r1-sub-sub"])
        #expect(sub.children[0].status == .running && sub.children[0].cost.nanos == 2_000_000 && sub.children[0].children.isEmpty)
        #expect(r1.treeCost + report.runs[1].treeCost == report.totalCost)
    }

    @Test func timelineBaseline_isWhatTheVelocityDetectorSaw() async throws {
        let script = try await S.night()
        let report = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "looper"))
        var detectors = DetectorSet(configuration: .default, recordMinutes: true)
        var samples: [LedgerTime: MinuteSample] = [:]
        for event in try script.store.read(from: 1, maxCount: 10_000) {
            _ = detectors.observe(event)
            for (agent, sample) in detectors.drainClosedMinutes() where agent == "looper" { samples[sample.minute] = sample }
        }
        _ = detectors.finish()
        for (agent, sample) in detectors.drainClosedMinutes() where agent == "looper" { samples[sample.minute] = sample }

        #expect(!samples.isEmpty)
        for row in report.timeline {
            let sample = samples[row.minute]
            #expect(row.baselineCost?.nanos == sample?.baselineCostNanos, "\(row.minute)")
            #expect(row.baselineCalls == sample?.baselineCalls, "\(row.minute)")
            #expect(row.anomalous == (sample?.anomalous ?? false), "\(row.minute)")
            if row.calls == 0 { #expect(sample != nil, "a row without calls comes from a detector minute") }
        }
        // The loop's minutes are anomalous against a calm baseline of two calls a minute.
        #expect(report.timeline.contains { $0.anomalous && $0.minute >= S.at(10) })
        #expect(!report.timeline.contains { $0.anomalous && $0.minute < S.at(10) })
    }

    @Test func givenWindow_countsOnlyWhatOccurredInIt() async throws {
        let script = try await S.night()
        let query = IncidentQuery(agent: "looper", from: S.at(13), to: S.at(14, 59))
        let report = try await IncidentReport.build(store: script.store, query: query)
        #expect(report.window == .given && report.from == S.at(13) && report.to == S.at(14, 59))
        #expect(report.calls == 60 && report.totalCost.nanos == 600_000_000)
        #expect(report.firstAnomalyAt == nil && report.haltedAt == nil && report.costAfterFirstAlert == .zero)
        #expect(report.timeline.filter { $0.calls > 0 }.map(\.minute) == [S.at(13), S.at(14)])
        #expect(report.runs.map(\.id) == ["r1"])  // the sub-agent runs had ended or gone quiet
        #expect(report.runs[0].status == .running)  // not yet halted at 14:59
    }

    @Test func oneRun_coversItAndItsSubAgentRuns() async throws {
        let script = try await S.night()
        let report = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "helper", run: "r1-sub"))
        #expect(report.totalCost.nanos == 8_000_000 && report.calls == 3)
        #expect(report.runs.map(\.id) == ["r1-sub"] && report.runs[0].children.map(\.id) == ["r1-sub-sub"])
        #expect(report.alerts.isEmpty && report.window == .wholeHistory)
        #expect(report.from == S.at(5) && report.to == S.at(7))
    }

    @Test func unknownAgentOrRun_isNotFound() async throws {
        let script = try await S.night()
        for query in [
            IncidentQuery(agent: "nobody"), IncidentQuery(agent: "looper", run: "r404"),
            IncidentQuery(agent: "looper", run: "r1-sub"),
        ] {
            let error = await #expect(throws: LedgerError.self) {
                _ = try await IncidentReport.build(store: script.store, query: query)
            }
            #expect(error?.code == .notFound, "\(query)")
        }
        await #expect(throws: LedgerError.self) {
            _ = try await IncidentReport.build(
                store: script.store, query: IncidentQuery(agent: "looper", from: S.at(5), to: S.at(4)))
        }
    }

    @Test func aLedgerWithoutLiveDetectors_isReviewedByRunningThem() async throws {
        let script = try await S.night(recordAlerts: false)
        let report = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "looper"))
        #expect(report.alertSource == .review)
        let first = try #require(report.firstAnomaly, "the detectors find the loop")
        #expect(!first.recorded && first.seq == nil)
        #expect(first.at >= S.at(10) && first.at < S.at(13), "caught within three minutes: \(report.alerts)")
        #expect(report.alerts.allSatisfy { !$0.recorded })
        let after = script.sum { Self.reviewed.contains($0.run) && $0.at > first.at && $0.at <= S.at(15, 10) }
        #expect(report.costAfterFirstAlert.nanos == after.nanos)
        #expect(report.haltedAt == S.at(15, 10))
        #expect(report.json().contains(#""alerts_found_by":"review""#))
        #expect(report.text().contains("found by review, not recorded live"))
    }

    @Test func json_parsesAndHasTheDocumentedKeys() async throws {
        let script = try await S.night()
        let report = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "looper"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        for key in [
            "agent", "run", "from", "to", "window", "seq", "alerts_found_by", "first_anomaly_at", "first_anomaly", "halted_at",
            "halt",
            "cost_after_first_alert_nanos", "cost_after_first_alert_usd", "total_cost_nanos", "total_cost_usd", "calls",
            "retries",
            "timeline", "alerts", "actions", "models", "tasks", "runs",
        ] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["agent"] as? String == "looper")
        #expect(object["run"] is NSNull)
        #expect(object["first_anomaly_at"] as? String == "2026-01-01T00:12:30Z")
        #expect(object["halted_at"] as? String == "2026-01-01T00:15:10Z")
        #expect(object["cost_after_first_alert_nanos"] as? Int == 790_000_000)
        #expect(object["cost_after_first_alert_usd"] as? String == "0.79")
        #expect(object["total_cost_nanos"] as? Int == 1_588_000_000)
        let timeline = try #require(object["timeline"] as? [[String: Any]])
        for key in ["minute", "calls", "cost_nanos", "retries", "baseline_cost_nanos", "baseline_calls", "anomalous"] {
            #expect(timeline.allSatisfy { $0[key] != nil }, "timeline rows lack \(key)")
        }
        let runs = try #require(object["runs"] as? [[String: Any]])
        let children = try #require(runs.first?["children"] as? [[String: Any]])
        #expect(children.first?["id"] as? String == "r1-sub")
        #expect((object["models"] as? [[String: Any]])?.first?["cost_nanos"] as? Int == 1_550_000_000)

        let quiet = try await IncidentReport.build(
            store: script.store, query: IncidentQuery(agent: "looper", from: S.at(1), to: S.at(2)))
        let quietObject = try #require(try JSONSerialization.jsonObject(with: Data(quiet.json().utf8)) as? [String: Any])
        #expect(quietObject["first_anomaly_at"] is NSNull && quietObject["halted_at"] is NSNull)
        #expect(quietObject["cost_after_first_alert_nanos"] as? Int == 0)
    }

    @Test func text_tellsTheStory() async throws {
        let script = try await S.night()
        let text = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "looper")).text()
        #expect(text.contains("first anomaly           2026-01-01T00:12:30Z velocity (score 0.9, recorded live)"))
        #expect(text.contains("halted                  2026-01-01T00:15:10Z run r1 halted: detector:velocity"))
        #expect(text.contains("cost after first alert  $0.79"))
        #expect(text.contains("total                   $1.588 in 180 calls, 155 retries"))
        #expect(text.contains("<- first alert") && text.contains("<- halted"))
        #expect(text.contains("    r1-sub (agent helper, accepted)"))
    }

    @Test func html_isSelfContained_andEscapesNamesFromTheLog() async throws {
        let hostile = "<script>alert('x')</script>&\"evil\""
        let script = try await S.night(agent: hostile, run: "run<b>1</b>")
        let report = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: hostile))
        #expect(report.totalCost.nanos == 1_588_000_000)
        let html = report.html()
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<svg") && html.contains("</svg>"))
        #expect(
            html.contains("class=\"alert-marker\"") && html.contains("class=\"halt-marker\"")
                && html.contains("class=\"baseline\""))
        for forbidden in ["http://", "https://", "<script", "<link", "src=", "@import", "url("] {
            #expect(!html.contains(forbidden), "the page must not contain \(forbidden)")
        }
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;evil&quot;"))
        #expect(html.contains("run&lt;b&gt;1&lt;/b&gt;") && !html.contains("<b>"))
        #expect(html.contains("$0.79"))
    }

    @Test func aChargeRecordedLate_landsInTheMinuteItOccurred() async throws {
        let script = try await S.night()
        script.clock.set(S.at(40))
        let late = ProposedEvent(
            UsageRecorded(cost: Money(nanos: 7_000_000), inputTokens: 5, outputTokens: 5), stream: SpendStreams.run("r1"),
            occurredAt: S.at(3, 50), dimensions: Dimensions(agent: "looper", task: "t-main", run: "r1", model: "gpt-4o-mini"))
        try await script.store.append(late)
        let report = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "looper"))
        let minute3 = try #require(report.timeline.first { $0.minute == S.at(3) })
        #expect(minute3.calls == 3 && minute3.cost.nanos == 9_000_000)
        #expect(report.totalCost.nanos == 1_595_000_000)
    }

    @Test func text_showsTheMinutesAroundTheFirstAnomaly_whenTheyDoNotAllFit() async throws {
        let script = try await S.night()
        let report = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "looper"))
        let text = report.text(maxTimelineRows: 4, maxListRows: 1)
        let timelineSection = try #require(text.components(separatedBy: "\n\n").first { $0.hasPrefix("Timeline") })
        let shown = timelineSection.split(separator: "\n").filter { $0.hasPrefix("  2026-") }
        #expect(shown.count == 4)
        #expect(shown.contains { $0.hasPrefix("  2026-01-01T00:12:00Z") && $0.contains("<- first alert") })
        #expect(text.contains("earlier minutes not shown") && text.contains("later minutes not shown"))
        #expect(text.contains("(1 more)") && text.contains("(1 more runs;"))
        let html = report.html()
        #expect(html.components(separatedBy: "<rect ").count - 1 == report.timeline.filter { $0.cost > .zero }.count)
        #expect(html.contains("Every minute (\(report.timeline.count))"))
    }

    @Test func review_isTheSameEachTime_andWritesNothing() async throws {
        let script = try await S.night()
        let head = script.store.head()
        let first = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "looper"))
        let second = try await IncidentReport.build(store: script.store, query: IncidentQuery(agent: "looper"))
        #expect(first == second && first.json() == second.json() && first.html() == second.html())
        #expect(script.store.head() == head && first.seq == head.seq)
    }
}

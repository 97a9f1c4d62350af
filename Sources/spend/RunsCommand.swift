import ArgumentParser
import Foundation
import LedgerActors
import LedgerCore
import LedgerDomain
import LedgerLMDB

struct RunsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs", abstract: "List agent runs and show one.", subcommands: [List.self, Show.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every run with its status and spend.")
        @OptionGroup var location: LedgerLocation
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
            defer { store.close() }
            let runs = try await SpendCoordinator.allRuns(in: store)
            if json {
                printLine("{\"runs\":[" + runs.map(RunJSON.summary).joined(separator: ",") + "]}")
                return
            }
            if runs.isEmpty { printLine("no runs") }
            for run in runs {
                printLine(
                    "\(run.id)  \(run.dimensions.agent ?? "-")  \(run.dimensions.client ?? "-")  \(RunJSON.status(run))  "
                        + "spent \(run.spent)  calls \(run.calls)  retries \(run.retries)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "One run: its caps, counters and events.")
        @OptionGroup var location: LedgerLocation
        @Argument(help: "The run id.") var id: String
        @Flag(help: "Print one JSON object.") var json = false

        func run() async throws {
            let store = try LMDBEventStore.open(at: location.data, options: LMDBOptions(readOnly: true))
            defer { store.close() }
            let events = try await store.readStream(SpendStreams.run(id))
            guard !events.isEmpty else { throw ValidationError("no run \(id) in \(location.data)") }
            var run = RunState(id: id)
            for event in events { try run.apply(event) }
            if json {
                var object = JSONObjectWriter()
                object.addRaw("run", RunJSON.summary(run))
                object.addArray("events", events.map(EventJSON.line))
                printLine(object.finish())
                return
            }
            printLine("run \(id): \(RunJSON.status(run))")
            printLine("agent \(run.dimensions.agent ?? "-")  client \(run.dimensions.client ?? "-")  project \(run.dimensions.project ?? "-")  task \(run.dimensions.task ?? "-")")
            if let parent = run.started?.parentRun { printLine("parent run \(parent)") }
            printLine("spent \(run.spent)  reserved \(run.reserved)  calls \(run.calls)  retries \(run.retries)  tool calls \(run.toolCalls)  denials \(run.denials)")
            printLine("")
            for event in events {
                printLine("  #\(event.seq)  \(event.occurredAt.rfc3339)  \(event.type)\(RunJSON.detail(event))")
            }
        }
    }
}

enum RunJSON {
    static func status(_ run: RunState) -> String {
        switch run.status {
        case .notStarted: run.calls > 0 ? "charges only (no run.started)" : "not started"
        case .running: "running"
        case .halted(let cause, _): "halted (\(cause))"
        case .completed(let outcome): "completed (\(outcome.rawValue))"
        }
    }

    static func summary(_ run: RunState) -> String {
        var object = JSONObjectWriter()
        object.add("id", run.id)
        object.add("agent", run.dimensions.agent)
        object.add("client", run.dimensions.client)
        object.add("project", run.dimensions.project)
        object.add("task", run.dimensions.task)
        object.add("parent_run", run.started?.parentRun)
        object.add("status", status(run))
        object.add("spent_nanos", run.spent.nanos)
        object.add("reserved_nanos", run.reserved.nanos)
        object.add("calls", run.calls)
        object.add("retries", run.retries)
        object.add("tool_calls", run.toolCalls)
        object.add("denials", run.denials)
        object.add("started_at", run.startedAt?.rfc3339)
        return object.finish()
    }

    static func detail(_ event: RecordedEvent) -> String {
        switch event.type {
        case UsageRecorded.type:
            guard let usage = try? event.decode(as: UsageRecorded.self) else { return "" }
            return "  \(event.dimensions.model ?? "-")  \(usage.cost)  in \(usage.inputTokens) out \(usage.outputTokens)"
                + (usage.retry > 0 ? "  retry \(usage.retry)" : "")
        case SpendAuthorized.type:
            return (try? event.decode(as: SpendAuthorized.self)).map { "  estimate \($0.estimate)" } ?? ""
        case SpendDenied.type:
            return (try? event.decode(as: SpendDenied.self)).map { "  \($0.deniedBy): \($0.reason)" } ?? ""
        case RunHalted.type:
            return (try? event.decode(as: RunHalted.self)).map { "  \($0.cause): \($0.reason)" } ?? ""
        case RunCompleted.type:
            return (try? event.decode(as: RunCompleted.self)).map { "  \($0.outcome.rawValue)" } ?? ""
        default:
            return ""
        }
    }
}

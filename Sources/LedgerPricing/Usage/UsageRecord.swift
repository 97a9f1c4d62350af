public import LedgerCore
public import LedgerDomain

/// One charge as a producer reports it: the ingest format's record, parsed and normalized.
///
/// Guarantees (for a record from ``UsageRecordParser``): `time` and `agent` are present; the
/// token counts are non-negative, non-overlapping (``TokenCounts``; OpenAI-style
/// `prompt_tokens` / `completion_tokens` already converted); `cost`, when present, is exact,
/// non-negative, and rounded at most once (half-even, to the nano-dollar); either `cost` or
/// `model` is present; every string fits the ledger's ``Limits``; and `metadata` holds the
/// unknown fields within those limits. A record built in code is checked when it is priced
/// (``UsagePricer``) and appended (the store validates every event).
///
/// ```swift
/// var record = UsageRecord(time: now, agent: "agent-7", model: "gpt-4o-mini",
///                          tokens: TokenCounts(input: 1200, output: 300))
/// record.run = "run-42"
/// let event = try UsagePricer(catalog: catalog).proposedEvent(for: record)
/// ```
public struct UsageRecord: Hashable, Sendable {
    /// The idempotency key; nil means the ledger generates one (the record is then not idempotent).
    public var id: EventID?
    /// When the charge happened (the event's `occurredAt`); the catalog prices it at this time.
    public var time: LedgerTime
    public var agent: String
    public var run: String?
    public var client: String?
    public var project: String?
    public var task: String?
    /// The model as the producer named it (a dimension); the catalog resolves prefixes.
    public var model: String?
    public var vendor: String?
    public var environment: String?
    public var owner: String?
    public var kind: ChargeKind
    /// The non-overlapping counts and the tool-call count.
    public var tokens: TokenCounts
    public var retry: Int32
    public var latencyMs: Int32
    /// The producer's cost (`cost_usd`); when present it wins over the catalog.
    public var cost: Money?
    /// Unknown fields: string values as they are, other values as their JSON text.
    public var metadata: [String: String]

    public init(
        id: EventID? = nil, time: LedgerTime, agent: String, run: String? = nil, client: String? = nil,
        project: String? = nil, task: String? = nil, model: String? = nil, vendor: String? = nil,
        environment: String? = nil, owner: String? = nil, kind: ChargeKind = .llm, tokens: TokenCounts = .zero,
        retry: Int32 = 0, latencyMs: Int32 = 0, cost: Money? = nil, metadata: [String: String] = [:]
    ) {
        self.id = id
        self.time = time
        self.agent = agent
        self.run = run
        self.client = client
        self.project = project
        self.task = task
        self.model = model
        self.vendor = vendor
        self.environment = environment
        self.owner = owner
        self.kind = kind
        self.tokens = tokens
        self.retry = retry
        self.latencyMs = latencyMs
        self.cost = cost
        self.metadata = metadata
    }

    /// The record's dimensions, as the event envelope carries them.
    public var dimensions: Dimensions {
        Dimensions(
            agent: agent, client: client, project: project, task: task, run: run, model: model, vendor: vendor,
            environment: environment, owner: owner)
    }

    /// The JSON keys the ingest format knows; any other key is kept as metadata.
    public static let fieldNames: [String] = UsageField.allCases.map(\.name)
}

/// The known keys of the ingest format.
enum UsageField: Int, CaseIterable, Sendable {
    case id, time, agent, run, client, project, task, model, vendor, environment, owner, kind
    case inputTokens, outputTokens, cachedTokens, cacheWriteTokens, reasoningTokens, promptTokens, completionTokens
    case toolCalls, retry, latencyMs, costUSD

    var name: String {
        switch self {
        case .id: "id"
        case .time: "time"
        case .agent: "agent"
        case .run: "run"
        case .client: "client"
        case .project: "project"
        case .task: "task"
        case .model: "model"
        case .vendor: "vendor"
        case .environment: "environment"
        case .owner: "owner"
        case .kind: "kind"
        case .inputTokens: "input_tokens"
        case .outputTokens: "output_tokens"
        case .cachedTokens: "cached_tokens"
        case .cacheWriteTokens: "cache_write_tokens"
        case .reasoningTokens: "reasoning_tokens"
        case .promptTokens: "prompt_tokens"
        case .completionTokens: "completion_tokens"
        case .toolCalls: "tool_calls"
        case .retry: "retry"
        case .latencyMs: "latency_ms"
        case .costUSD: "cost_usd"
        }
    }

    static let byName: [String: UsageField] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.name, $0) })

    /// The field a raw (unescaped) key names, without building a String.
    @inline(__always)
    static func match(_ key: UnsafeBufferPointer<UInt8>) -> UsageField? {
        @inline(__always) func equals(_ name: StaticString) -> Bool {
            let text = name.utf8Start
            for offset in 0..<key.count where key[offset] != text[offset] { return false }
            return true
        }
        switch key.count {
        case 2: return equals("id") ? .id : nil
        case 3: return equals("run") ? .run : nil
        case 4:
            switch key[0] {
            case 0x74: return equals("time") ? .time : equals("task") ? .task : nil
            case 0x6B: return equals("kind") ? .kind : nil
            default: return nil
            }
        case 5:
            switch key[0] {
            case 0x61: return equals("agent") ? .agent : nil
            case 0x6D: return equals("model") ? .model : nil
            case 0x6F: return equals("owner") ? .owner : nil
            case 0x72: return equals("retry") ? .retry : nil
            default: return nil
            }
        case 6: return equals("client") ? .client : equals("vendor") ? .vendor : nil
        case 7: return equals("project") ? .project : nil
        case 8: return equals("cost_usd") ? .costUSD : nil
        case 10: return equals("tool_calls") ? .toolCalls : equals("latency_ms") ? .latencyMs : nil
        case 11: return equals("environment") ? .environment : nil
        case 12: return equals("input_tokens") ? .inputTokens : nil
        case 13:
            switch key[0] {
            case 0x6F: return equals("output_tokens") ? .outputTokens : nil
            case 0x63: return equals("cached_tokens") ? .cachedTokens : nil
            case 0x70: return equals("prompt_tokens") ? .promptTokens : nil
            default: return nil
            }
        case 16: return equals("reasoning_tokens") ? .reasoningTokens : nil
        case 17: return equals("completion_tokens") ? .completionTokens : nil
        case 18: return equals("cache_write_tokens") ? .cacheWriteTokens : nil
        default: return nil
        }
    }
}

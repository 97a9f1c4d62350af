/// Who and what an event is about: the keys every spend view groups by.
///
/// Every field is optional. `causation` is the id of the event that caused this one (a sub-agent's
/// call points at its parent run's event); `correlation` ties every event of one piece of work
/// together. Values are bounded by ``Limits/dimensionValueBytesMax``.
public struct Dimensions: Hashable, Sendable {
    public var agent: String?
    public var client: String?
    public var project: String?
    public var task: String?
    public var run: String?
    public var model: String?
    public var vendor: String?
    public var environment: String?
    public var owner: String?
    public var causation: EventID?
    public var correlation: EventID?

    /// A field of zero bytes whose only job is performance: as the struct declares no initializer,
    /// the compiler writes a memberwise one (this label makes it differ from the public
    /// ``init(agent:client:project:task:run:model:vendor:environment:owner:causation:correlation:)``,
    /// which calls it). An initializer that assigns the eleven fields one by one gets compiled to
    /// a copy and a release of the whole value on return (a retain and a release of each string):
    /// about a third of the cost of decoding an event.
    private let memberwise: Memberwise
    private struct Memberwise: Hashable, Sendable {}
}

extension Dimensions {
    /// Every field is optional; leave out what an event is not about.
    public init(
        agent: String? = nil, client: String? = nil, project: String? = nil, task: String? = nil,
        run: String? = nil, model: String? = nil, vendor: String? = nil, environment: String? = nil,
        owner: String? = nil, causation: EventID? = nil, correlation: EventID? = nil
    ) {
        self.init(
            agent: agent, client: client, project: project, task: task, run: run, model: model, vendor: vendor,
            environment: environment, owner: owner, causation: causation, correlation: correlation,
            memberwise: Memberwise())
    }

    public static let none = Dimensions()

    /// Names of the string dimensions, in their canonical (encoding) order.
    public static let stringFieldNames = [
        "agent", "client", "project", "task", "run", "model", "vendor", "environment", "owner",
    ]

    /// The string dimension at `index` in ``stringFieldNames`` order.
    public subscript(field index: Int) -> String? {
        get {
            switch index {
            case 0: agent
            case 1: client
            case 2: project
            case 3: task
            case 4: run
            case 5: model
            case 6: vendor
            case 7: environment
            case 8: owner
            default: preconditionFailure("no dimension at \(index)")
            }
        }
        set {
            switch index {
            case 0: agent = newValue
            case 1: client = newValue
            case 2: project = newValue
            case 3: task = newValue
            case 4: run = newValue
            case 5: model = newValue
            case 6: vendor = newValue
            case 7: environment = newValue
            case 8: owner = newValue
            default: preconditionFailure("no dimension at \(index)")
            }
        }
    }

    /// The value of the named string dimension (`"agent"`, `"model"`, ...); nil for an unknown name.
    public subscript(named name: String) -> String? {
        guard let index = Self.stringFieldNames.firstIndex(of: name) else { return nil }
        return self[field: index]
    }
}

/// How an event's payload bytes are to be read.
public enum PayloadEncoding: UInt8, Sendable, Hashable {
    /// Opaque bytes whose layout the event type and schema define.
    case binary = 0
    /// A UTF-8 JSON document.
    case json = 1
}

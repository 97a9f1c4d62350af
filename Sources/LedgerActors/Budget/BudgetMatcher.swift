import LedgerCore
import LedgerDomain

/// Every defined budget's scope, indexed so that matching one charge costs a lookup per scope
/// kind in use, not a comparison per budget: with a budget per agent (or client, model, project),
/// a charge still finds its few budgets in a handful of hash lookups.
///
/// Matches exactly what ``BudgetScope/matches(_:metadata:)`` matches (the lookups compare
/// `String`s, as the scope does). Budgets are numbered in the order given (``slots``): by id for
/// the registry, the order in which holds are taken and budget events are appended.
struct BudgetMatcher: Sendable {
    /// The budgets' ids, and their actors when the registry made the matcher (else empty).
    let ids: [String]
    let actors: [BudgetActor]
    private var everything: [Int] = []
    private var byClient: [String?: [Int]] = [:]
    private var byProject: [String?: [Int]] = [:]
    private var byAgent: [String?: [Int]] = [:]
    private var byModel: [String?: [Int]] = [:]
    private var tagged: [(slot: Int, tags: [String: String])] = []

    init(_ budgets: [(BudgetActor, BudgetScope)]) {
        self.init(ids: budgets.map(\.0.id), scopes: budgets.map(\.1), actors: budgets.map(\.0))
    }

    init(ids: [String], scopes: [BudgetScope], actors: [BudgetActor] = []) {
        self.ids = ids
        self.actors = actors
        for (slot, scope) in scopes.enumerated() {
            switch scope.kind {
            case .org: everything.append(slot)
            case .client: byClient[scope.value, default: []].append(slot)
            case .project: byProject[scope.value, default: []].append(slot)
            case .agent: byAgent[scope.value, default: []].append(slot)
            case .model: byModel[scope.value, default: []].append(slot)
            case .tags: tagged.append((slot, scope.tags))
            }
        }
    }

    var isEmpty: Bool { ids.isEmpty }

    /// ``forEachMatch(_:metadata:_:)`` for a proposed event, read in place.
    @inline(__always)
    func forEachMatch(_ event: ProposedEvent, _ body: (Int) -> Void) {
        for slot in everything { body(slot) }
        if !byClient.isEmpty, let slots = byClient[event.dimensions.client] { for slot in slots { body(slot) } }
        if !byProject.isEmpty, let slots = byProject[event.dimensions.project] { for slot in slots { body(slot) } }
        if !byAgent.isEmpty, let slots = byAgent[event.dimensions.agent] { for slot in slots { body(slot) } }
        if !byModel.isEmpty, let slots = byModel[event.dimensions.model] { for slot in slots { body(slot) } }
        for (slot, tags) in tagged where tags.allSatisfy({ event.metadata[$0.key] == $0.value }) { body(slot) }
    }

    /// Calls `body` with the slot of every budget whose scope matches (in no particular order).
    @inline(__always)
    func forEachMatch(_ dimensions: Dimensions, metadata: [String: String], _ body: (Int) -> Void) {
        for slot in everything { body(slot) }
        if !byClient.isEmpty, let slots = byClient[dimensions.client] { for slot in slots { body(slot) } }
        if !byProject.isEmpty, let slots = byProject[dimensions.project] { for slot in slots { body(slot) } }
        if !byAgent.isEmpty, let slots = byAgent[dimensions.agent] { for slot in slots { body(slot) } }
        if !byModel.isEmpty, let slots = byModel[dimensions.model] { for slot in slots { body(slot) } }
        for (slot, tags) in tagged where tags.allSatisfy({ metadata[$0.key] == $0.value }) { body(slot) }
    }

    /// Whether some budget's scope is a tag filter (it reads the charge's metadata).
    var readsMetadata: Bool { !tagged.isEmpty }

    /// The same for a stored event read in place: only the dimensions some budget looks at are
    /// made into strings. Only when no budget reads metadata (``readsMetadata``): a tag filter
    /// compares keys as strings, which the decoded event's metadata gives.
    @inline(__always)
    func forEachMatch(_ event: EventView, _ body: (Int) -> Void) {
        precondition(tagged.isEmpty, "a tag filter matches against the decoded metadata")
        for slot in everything { body(slot) }
        @inline(__always) func text(_ index: Int) -> String? { event.dimension(index).map(EventView.string) }
        if !byClient.isEmpty, let slots = byClient[text(1)] { for slot in slots { body(slot) } }
        if !byProject.isEmpty, let slots = byProject[text(2)] { for slot in slots { body(slot) } }
        if !byAgent.isEmpty, let slots = byAgent[text(0)] { for slot in slots { body(slot) } }
        if !byModel.isEmpty, let slots = byModel[text(5)] { for slot in slots { body(slot) } }
    }
}

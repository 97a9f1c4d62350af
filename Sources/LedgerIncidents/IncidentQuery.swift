public import LedgerCore

/// What an incident review is about: one agent, optionally narrowed to one run and the sub-agent
/// runs it started, over a window of the occurred clock.
///
/// A nil bound is chosen by the review (see ``IncidentReport/WindowChoice``); given bounds are used
/// exactly and are inclusive.
public struct IncidentQuery: Sendable, Hashable {
    public var agent: String
    /// The run to review, with its descendants; nil for every run of the agent.
    public var run: String?
    public var from: LedgerTime?
    public var to: LedgerTime?

    public init(agent: String, run: String? = nil, from: LedgerTime? = nil, to: LedgerTime? = nil) {
        self.agent = agent
        self.run = run
        self.from = from
        self.to = to
    }
}

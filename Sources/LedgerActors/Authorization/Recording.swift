public import LedgerCore
import LedgerDomain

extension SpendCoordinator {
    // MARK: Recording usage

    /// Records charges that already happened (ingest, or usage reported without an authorization).
    /// A budget never refuses them, but they move budgets, fire thresholds and halt runs whose caps
    /// they cross, in the same atomic append. Events whose id is already stored are skipped.
    ///
    /// Cost: one look-up of the ids in the store, one append, and one step of each actor the batch
    /// touches (each run, each matching budget, each agent's wallet) — not one per charge. Matching
    /// a charge to budgets costs a hash look-up per scope kind in use, not a comparison per budget.
    ///
    /// - Parameter usage: `usage.recorded` proposals (see `UsagePricer` in LedgerPricing).
    public func record(_ usage: consuming [ProposedEvent]) async throws -> RecordResult {
        guard !usage.isEmpty else { return RecordResult() }
        for index in usage.indices where usage[index].type != UsageRecorded.type {
            throw LedgerError(
                .invalidEvent, "record takes usage.recorded events, got \(usage[index].type)", batchIndex: index, field: "type")
        }
        let stored = try await store.containsEvents(ids: usage.map(\.id))
        var duplicates = 0
        for isStored in stored where isStored { duplicates += 1 }
        var fresh: [ProposedEvent] = []
        if duplicates > 0 {
            fresh.reserveCapacity(usage.count - duplicates)
            for (event, isStored) in zip(usage, stored) where !isStored { fresh.append(event) }
        } else {
            fresh = consume usage  // handed on, not copied: the append can then add its own events in place
        }
        var result = try await recordCharges(consume fresh, releasing: nil, leasedRuns: [:], now: clock.now())
        result.duplicates += duplicates
        return result
    }

    /// The one path every charge takes: claims halts and thresholds, appends the charges with
    /// them (and the release of a settled reservation), then applies everything to the actors.
    /// `leasedRuns` are runs the caller holds leases on already.
    func recordCharges(
        _ usage: consuming [ProposedEvent], releasing reservation: Reservation?, leasedRuns: [String: RunActor],
        now: LedgerTime
    ) async throws -> RecordResult {
        guard !usage.isEmpty else { return RecordResult() }
        let batch = try ChargeBatch(usage)
        let toLease = batch.runs.lazy.map(\.id).filter { leasedRuns[$0] == nil }
        let leasing = Array(toLease)
        var actors: [RunActor] = []
        actors.reserveCapacity(batch.runs.count)
        if leasing.count == batch.runs.count {
            if !leasing.isEmpty { actors = try await registry.leaseRuns(leasing) }  // one step for the batch
        } else {
            let leased = leasing.isEmpty ? [] : try await registry.leaseRuns(leasing)
            var byID = leasedRuns
            for (id, actor) in zip(leasing, leased) { byID[id] = actor }
            actors = batch.runs.map { byID[$0.id]! }
        }
        do {
            let result = try await recordLeased(
                batch, consume usage, releasing: reservation, runs: actors, callerRuns: leasedRuns, now: now)
            if !leasing.isEmpty { await registry.returnRuns(leasing) }
            return result
        } catch {
            if !leasing.isEmpty { await registry.returnRuns(leasing) }
            throw error
        }
    }

    /// `charges` become the append's events: the charges first (`charges[0..<batch.count]`), then
    /// the events they bring about, added in place.
    private func recordLeased(
        _ batch: ChargeBatch, _ charges: consuming [ProposedEvent], releasing reservation: Reservation?, runs: [RunActor],
        callerRuns: [String: RunActor], now: LedgerTime
    ) async throws -> RecordResult {
        var usage = consume charges
        // Runs: the halt each run owes once its charges count, claimed so that one append carries it.
        var halts: [(slot: Int, halt: RunHalted)] = []
        var takesDimensions: [Int] = []
        var runClaims: [UInt64] = []
        runClaims.reserveCapacity(batch.runs.count)
        for slot in batch.runs.indices {
            let claim = await runs[slot].claimHalt(after: batch.charges(of: slot), now: now)
            runClaims.append(claim.token)
            if let halt = claim.halt { halts.append((slot, halt)) }
            if claim.takesDimensions { takesDimensions.append(slot) }
        }
        // Budgets: the charges each matches, the period it owes, the thresholds the charges cross.
        let matcher = await registry.budgetMatcher()  // one step for the whole batch
        var matched = [[Int]](repeating: [], count: matcher.actors.count)
        if !matcher.isEmpty {
            usage.withUnsafeBufferPointer { events in
                for index in events.indices { matcher.forEachMatch(events[index]) { matched[$0].append(index) } }
            }
        }
        var claims: [(slot: Int, claim: BudgetClaim)] = []
        func dropClaims() async {
            for (slot, token) in runClaims.enumerated() { await runs[slot].dropClaim(token) }
            for (slot, claim) in claims {
                await matcher.actors[slot].dropClaims(
                    period: claim.rollover != nil, thresholds: claim.thresholds.map(\.percent), charges: claim.claimed)
            }
        }
        do {
            for slot in matched.indices where !matched[slot].isEmpty {
                let charges = matched[slot].map { (batch.costs[$0], batch.times[$0]) }
                claims.append((slot, try await matcher.actors[slot].claim(charges: charges, at: now)))
            }
        } catch {
            await dropClaims()
            throw error
        }
        // One append: the charges, the release, the halts, then each budget's events.
        var extras: [ProposedEvent] = []
        if let reservation {
            let released = SpendReleased(reservation: reservation.id, amount: reservation.amount, reason: .settled)
            let dimensions = usage[0].dimensions
            extras.append(ProposedEvent(released, stream: SpendStreams.run(reservation.run), occurredAt: now, dimensions: dimensions))
            for budget in reservation.budgets {
                extras.append(ProposedEvent(released, stream: SpendStreams.budget(budget), occurredAt: now, dimensions: dimensions))
            }
        }
        for (slot, halt) in halts {
            let run = batch.runs[slot]
            let first = batch.indices[run.start]
            extras.append(ProposedEvent(halt, stream: run.stream, occurredAt: now, dimensions: usage[first].dimensions))
        }
        for (slot, claim) in claims {
            let stream = SpendStreams.budget(matcher.ids[slot])
            if let rollover = claim.rollover { extras.append(ProposedEvent(rollover, stream: stream, occurredAt: now)) }
            for threshold in claim.thresholds { extras.append(ProposedEvent(threshold, stream: stream, occurredAt: now)) }
        }
        let chargeCount = usage.count
        usage.append(contentsOf: extras)  // in place when the caller handed the array over with room
        let appended: AppendResult
        do {
            appended = try await store.append(usage)
        } catch {
            await dropClaims()
            throw error
        }
        let positions = appended.positions

        // What was stored, applied to the actors from what this append holds already (the charges
        // decoded, the other events as proposed plus their positions): nothing is read back.
        var others: [String: [RecordedEvent]] = [:]
        for (offset, event) in extras.enumerated() where !positions[chargeCount + offset].isDuplicate {
            others[event.stream, default: []].append(RecordedEvent(event, storedAt: positions[chargeCount + offset], head: appended.head))
        }
        // Runs. Charges that turned out to be duplicates after all (stored meanwhile by another
        // append) are not counted, here or below.
        var nextTaking = 0
        for (slot, run) in batch.runs.enumerated() {
            // A run known only from its charges takes its dimensions from them, until one names an agent.
            var carryDimensions = nextTaking < takesDimensions.count && takesDimensions[nextTaking] == slot
            if carryDimensions { nextTaking += 1 }
            var entries: [RunStreamEntry] = []
            entries.reserveCapacity(run.count)
            for offset in run.start..<(run.start + run.count) {
                let index = batch.indices[offset]
                guard !positions[index].isDuplicate else { continue }
                var charge = batch.runCharges[offset]
                charge.version = positions[index].version
                if carryDimensions {
                    entries.append(.chargeWithDimensions(charge, usage[index].dimensions))
                    carryDimensions = usage[index].dimensions.agent == nil
                } else {
                    entries.append(.charge(charge))
                }
            }
            if !others.isEmpty, let events = others.removeValue(forKey: run.stream) { entries += events.map { .event($0) } }
            try await runs[slot].commit(entries: entries, claim: runClaims[slot])
        }
        for (id, actor) in callerRuns {
            if let events = others.removeValue(forKey: SpendStreams.run(id)) { try await actor.commit(events) }
        }
        // Budgets: their own events and the charges they count.
        for (slot, claim) in claims {
            var charges: [(Money, LedgerTime)] = []
            charges.reserveCapacity(matched[slot].count)
            for index in matched[slot] where !positions[index].isDuplicate {
                charges.append((batch.costs[index], batch.times[index]))
            }
            let events = others.removeValue(forKey: SpendStreams.budget(matcher.ids[slot])) ?? []
            try await matcher.actors[slot].commit(events, charges: charges, claimed: claim.claimed)
        }
        // A settled reservation's release on a budget that no charge of the batch matched.
        for (stream, events) in others where stream.hasPrefix("budget:") {
            guard let budget = await registry.budget(String(stream.dropFirst("budget:".count))) else { continue }
            try await budget.commit(events, charges: [], claimed: .zero)
        }
        // Wallets: each agent's stored charges.
        var result = RecordResult()
        var agentCharges = [[Money]](repeating: [], count: batch.agents.count)
        for index in 0..<chargeCount where !positions[index].isDuplicate {
            let cost = batch.costs[index]
            agentCharges[batch.agentSlots[index]].append(cost)
            result.recorded += 1
            result.cost += cost
        }
        let charged = agentCharges.indices.filter { !agentCharges[$0].isEmpty }
        if !charged.isEmpty {
            let wallets = await registry.wallets(charged.map { batch.agents[$0] })  // one step for the batch
            let settled = reservation.map { [$0.id] } ?? []
            for (wallet, slot) in zip(wallets, charged) {
                try await wallet.commit([], charges: agentCharges[slot], settled: settled)
            }
        }
        result.duplicates = chargeCount - result.recorded
        result.eventsAppended = appended.appendedCount
        result.halted = halts.map { batch.runs[$0.slot].id }
        result.thresholds = claims.flatMap { slot, claim in claim.thresholds.map { "\(matcher.ids[slot]):\($0.percent)%" } }
        return result
    }
}

/// A charge of a run's stream as the run actor folds it: the figures it counts, held decoded, so
/// that applying a batch neither reads the events back from the store nor decodes them again.
struct RunCharge: StreamVersioned, Sendable {
    /// Its version in the run's stream; 0 until stored.
    var version: UInt64 = 0
    var cost: Money
    var kind: ChargeKind
    var toolCalls: Int32
    var retry: Int32
    /// The authorization the charge settles, if any.
    var reservation: EventID?
    /// The event's model dimension.
    var model: String?
}

/// One entry of a run's stream, as its actor applies it.
enum RunStreamEntry: StreamVersioned, Sendable {
    case charge(RunCharge)
    /// A charge with its event's dimensions, for a run that takes them from its charges.
    indirect case chargeWithDimensions(RunCharge, Dimensions)
    indirect case event(RecordedEvent)

    var version: UInt64 {
        switch self {
        case .charge(let charge): charge.version
        case .chargeWithDimensions(let charge, _): charge.version
        case .event(let event): event.version
        }
    }

    /// The charge, when the entry is one held decoded.
    var charge: RunCharge? {
        switch self {
        case .charge(let charge), .chargeWithDimensions(let charge, _): charge
        case .event: nil
        }
    }
}

/// A batch of `usage.recorded` proposals, decoded once and grouped: by run (in stream order, the
/// order in which runs are leased and their halts appended) and by agent.
///
/// Built in two passes over the batch, with no per-event allocation: the first decodes each
/// charge and finds its run and agent (a hash look-up of the stream; the agent is compared with
/// the run's previous one before it is looked up), the second lays the runs' charges out in one
/// array, run after run (a counting sort).
struct ChargeBatch {
    struct Run {
        var id: String
        var stream: String
        /// The run's charges: `runCharges[start..<start + count]`, in batch order.
        var start = 0
        var count = 0
    }

    /// The runs, in stream order.
    var runs: [Run] = []
    /// Every run's charges, run after run, and each one's index in the batch.
    var runCharges: [RunCharge] = []
    var indices: [Int] = []
    /// Per event: its cost, when it occurred, and its agent's slot in `agents`.
    var costs: [Money] = []
    var times: [LedgerTime] = []
    var agentSlots: [Int] = []
    var agents: [String] = []

    init(_ usage: borrowing [ProposedEvent]) throws(LedgerError) {
        let count = usage.count
        costs.reserveCapacity(count)
        times.reserveCapacity(count)
        agentSlots.reserveCapacity(count)
        var charges: [RunCharge] = []
        charges.reserveCapacity(count)
        var runOfEvent: [Int32] = []  // the run's slot in order of appearance, or -1
        runOfEvent.reserveCapacity(count)
        var found: [Run] = []
        var lastAgents: [(name: String, slot: Int)?] = []
        var streamSlots: [String: Int] = [:]  // a run's slot, or -1 for a stream that is not a run's
        var agentSlotsByName: [String: Int] = [:]
        func agentSlot(_ agent: String) -> Int {
            if let slot = agentSlotsByName[agent] { return slot }
            agentSlotsByName[agent] = agents.count
            agents.append(agent)
            return agents.count - 1
        }
        try usage.withUnsafeBufferPointer { events throws(LedgerError) in
            for index in events.indices {
                var charge = try Self.figures(payload: events[index].payload, schema: events[index].schema)
                costs.append(charge.cost)
                times.append(events[index].occurredAt)
                let slot: Int
                if let known = streamSlots[events[index].stream] {
                    slot = known
                } else {
                    let stream = events[index].stream
                    if stream.hasPrefix("run:") {
                        slot = found.count
                        found.append(Run(id: String(stream.dropFirst("run:".count)), stream: stream))
                        lastAgents.append(nil)
                    } else {
                        slot = -1
                    }
                    streamSlots[stream] = slot
                }
                runOfEvent.append(Int32(slot))
                let agent = events[index].dimensions.agent ?? ""
                if slot < 0 {
                    agentSlots.append(agentSlot(agent))
                } else if let last = lastAgents[slot], last.name == agent {
                    agentSlots.append(last.slot)
                } else {
                    let agentIndex = agentSlot(agent)
                    agentSlots.append(agentIndex)
                    lastAgents[slot] = (agent, agentIndex)
                }
                if slot >= 0 {
                    charge.model = events[index].dimensions.model
                    found[slot].count += 1
                }
                charges.append(charge)
            }
        }
        // Runs in stream order, each one's charges laid out together.
        let order = found.indices.sorted { found[$0].stream < found[$1].stream }
        var next = 0
        for slot in order {
            found[slot].start = next
            next += found[slot].count
        }
        var fill = found.map(\.start)
        indices = [Int](repeating: 0, count: next)
        runCharges = [RunCharge](repeating: RunCharge(cost: .zero, kind: .llm, toolCalls: 0, retry: 0), count: next)
        for index in 0..<count where runOfEvent[index] >= 0 {
            let slot = Int(runOfEvent[index])
            indices[fill[slot]] = index
            runCharges[fill[slot]] = charges[index]
            fill[slot] += 1
        }
        runs = order.map { found[$0] }
    }

    /// The charges of the run at `slot` (in `runs`), in batch order.
    func charges(of slot: Int) -> ArraySlice<RunCharge> {
        runCharges[runs[slot].start..<(runs[slot].start + runs[slot].count)]
    }

    /// The figures of a `usage.recorded` payload, read in place (its price entry, a string, is
    /// skipped: no fold of the actors reads it). Throws what `UsageRecorded(payload:schema:)` throws.
    static func figures(payload: [UInt8], schema: UInt16) throws(LedgerError) -> RunCharge {
        guard schema == UsageRecorded.schema else {
            throw LedgerError(.unsupportedFormat, "usage.recorded schema \(schema) is not known to this build", field: "schema")
        }
        let charge: RunCharge? = payload.withUnsafeBytes { raw in
            guard let figures = UsageFigures(binaryPayload: raw) else { return nil }
            var charge = RunCharge(
                cost: Money(nanos: figures.costNanos), kind: figures.kind, toolCalls: figures.toolCalls, retry: figures.retry)
            if figures.flags & 1 != 0 {
                let offset = UsageFigures.fixedBytes
                charge.reservation = EventID(
                    high: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)),
                    low: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)))
            }
            return charge
        }
        guard let charge else { throw LedgerError(.corrupted, "a usage.recorded payload is damaged", field: "payload") }
        return charge
    }
}

extension RecordedEvent {
    /// A proposed event as an append stored it, for the actors' folds: `seq` and `version` from its
    /// position; `recordedAt` and `hash` are the append's head's (no fold of the actors reads them).
    fileprivate init(_ event: ProposedEvent, storedAt position: EventPosition, head: LogHead) {
        self.init(
            seq: position.seq, stream: event.stream, version: position.version, id: event.id, recordedAt: head.recordedAt,
            occurredAt: event.occurredAt, type: event.type, schema: event.schema, dimensions: event.dimensions,
            metadata: event.metadata, payloadEncoding: event.payloadEncoding, payload: event.payload, hash: head.hash)
    }
}

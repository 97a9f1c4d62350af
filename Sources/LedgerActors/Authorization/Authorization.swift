public import LedgerCore
public import LedgerDomain

extension SpendCoordinator {
    /// Reserves `estimate` against the run and every budget whose scope matches it, atomically, or
    /// denies, naming the cap or budget and what is left. A denial is recorded (`spend.denied`).
    ///
    /// - Parameter ttl: seconds until an unsettled reservation expires (default: the coordinator's).
    public func authorize(run runID: String, estimate: Money, ttl: Int64? = nil) async throws -> AuthorizationResult {
        guard estimate >= .zero else {
            throw LedgerError(.invalidEvent, "an estimate cannot be negative (\(estimate))", field: "estimate")
        }
        try await expireReservations(ofRun: runID)
        let now = clock.now()
        let reservation = EventID.generate(at: now)
        let expiresAt = LedgerTime(
            nanosecondsSinceEpoch: now.nanosecondsSinceEpoch + (ttl.map { $0 * 1_000_000_000 } ?? reservationTTLNanoseconds))
        return try await withRun(runID) { run in
            if let denial = await run.hold(reservation, estimate: estimate, now: now) {
                return try await deny(run, estimate: estimate, denial)
            }
            let state = await run.current
            let tags = state.started?.tags ?? [:]
            let critical = tags["critical"] == "true"
            let budgets = await registry.budgets(matching: state.dimensions, metadata: tags)
            let agent = state.dimensions.agent ?? ""
            let wallet = await registry.wallet(agent)
            var held: [BudgetActor] = []
            var periods: [(BudgetActor, BudgetPeriodStarted)] = []
            var denial: Denial?
            for budget in budgets {
                if let started = try await budget.claimPeriod(at: now) { periods.append((budget, started)) }
                if let refused = await budget.hold(reservation, estimate: estimate, critical: critical) {
                    denial = refused
                    break
                }
                held.append(budget)
            }
            var walletHeld = false
            if denial == nil {
                denial = await wallet.hold(reservation, estimate: estimate)
                walletHeld = denial == nil
            }
            func dropAll() async {
                await run.dropHold(reservation)
                for budget in held { await budget.dropHold(reservation) }
                for (budget, _) in periods { await budget.dropClaims(period: true, thresholds: [], charges: .zero) }
                if walletHeld { await wallet.dropHold(reservation) }
            }
            if let denial {
                await dropAll()
                return try await deny(run, estimate: estimate, denial)
            }
            var events = [
                ProposedEvent(
                    SpendAuthorized(reservation: reservation, estimate: estimate, expiresAt: expiresAt, budgets: budgets.map(\.id)),
                    stream: SpendStreams.run(runID), occurredAt: now, dimensions: state.dimensions)
            ]
            for budget in budgets {
                if let started = periods.first(where: { $0.0 === budget })?.1 {
                    events.append(ProposedEvent(started, stream: SpendStreams.budget(budget.id), occurredAt: now))
                }
                events.append(
                    ProposedEvent(
                        SpendReserved(reservation: reservation, run: runID, amount: estimate, expiresAt: expiresAt),
                        stream: SpendStreams.budget(budget.id), occurredAt: now, dimensions: state.dimensions))
            }
            let recorded: [RecordedEvent]
            do {
                recorded = try await readBack(try await store.append(events))
            } catch {
                await dropAll()
                throw error
            }
            try await run.commit(recorded.filter { $0.stream == SpendStreams.run(runID) })
            for budget in budgets {
                try await budget.commit(recorded.filter { $0.stream == SpendStreams.budget(budget.id) }, charges: [], claimed: .zero)
            }
            return .granted(
                Grant(reservation: reservation, run: runID, estimate: estimate, expiresAt: expiresAt, budgets: budgets.map(\.id)))
        }
    }

    /// Records a denial on the run's stream and returns it.
    private func deny(_ run: RunActor, estimate: Money, _ denial: Denial) async throws -> AuthorizationResult {
        let state = await run.current
        if state.version > 0 {
            let event = ProposedEvent(
                SpendDenied(estimate: estimate, deniedBy: denial.deniedBy, reason: denial.reason, remaining: denial.remaining),
                stream: SpendStreams.run(run.id), occurredAt: clock.now(), dimensions: state.dimensions)
            try await run.commit(try await readBack(try await store.append([event])))
        }
        return .denied(denial)
    }

    /// Settles a reservation with the actual usage: the charge is recorded (and counted by every
    /// matching budget and the agent's wallet), the reservation is released, thresholds crossed by
    /// the charge are recorded, and a run whose cap the charge crosses is halted — one append.
    ///
    /// - Parameters:
    ///   - usage: the actual charge (its `reservation` is set from the grant).
    ///   - model: the model the call used (a dimension of the charge); the vendor likewise.
    @discardableResult
    public func settle(
        _ grant: Grant, usage: UsageRecorded, model: String? = nil, vendor: String? = nil, occurredAt: LedgerTime? = nil,
        id: EventID? = nil
    ) async throws -> RecordResult {
        try await withRun(grant.run) { run in
            let reservation = try await openReservation(grant, of: run)
            let state = await run.current
            // A reservation that expired before the call finished: the call still happened, so its
            // charge is recorded (there is no hold left to release). Settled twice, or cancelled: refused.
            guard reservation != nil || state.lapsedReservations.contains(grant.reservation) else {
                throw LedgerError(
                    .invalidEvent,
                    "reservation \(grant.reservation) is not open on run \(grant.run) (already settled or released)",
                    field: "reservation")
            }
            var dimensions = state.dimensions
            dimensions.model = model ?? dimensions.model
            dimensions.vendor = vendor ?? dimensions.vendor
            var usage = usage
            usage.reservation = grant.reservation
            let now = clock.now()
            let charge = ProposedEvent(
                usage, stream: SpendStreams.run(grant.run), occurredAt: occurredAt ?? now, dimensions: dimensions,
                metadata: [:], id: id ?? EventID.generate(at: now))
            return try await recordCharges([charge], releasing: reservation, leasedRuns: [grant.run: run], now: now)
        }
    }

    /// The grant's reservation as the run holds it. Appends complete in any order, so the run may
    /// not have applied the grant's own event yet (it waits behind an earlier version whose caller
    /// has not reported back): before calling a reservation unknown, the run catches up from the
    /// stored stream.
    func openReservation(_ grant: Grant, of run: RunActor) async throws -> Reservation? {
        if let reservation = await run.reservation(grant.reservation) { return reservation }
        let applied = await run.current.version
        let stored = try await store.readStream(
            SpendStreams.run(grant.run), fromVersion: applied + 1, toVersion: .max, maxCount: Limits.readEventCountMax)
        try await run.commit(stored)
        return await run.reservation(grant.reservation)
    }

    /// Cancels a reservation without a charge.
    public func release(_ grant: Grant) async throws {
        try await withRun(grant.run) { run in
            guard let reservation = try await openReservation(grant, of: run) else {
                throw LedgerError(
                    .invalidEvent, "reservation \(grant.reservation) is not open on run \(grant.run)", field: "reservation")
            }
            try await releaseReservations([reservation], reason: .cancelled, run: run)
        }
    }

    /// Releases every reservation of the run whose time is up.
    func expireReservations(ofRun runID: String) async throws {
        try await withRun(runID) { run in
            let expired = await run.current.expiredReservations(at: clock.now())
            if !expired.isEmpty { try await releaseReservations(expired, reason: .expired, run: run) }
        }
    }

    /// Releases every expired reservation the budgets hold (a sweep a service may run periodically).
    /// Returns how many were released.
    @discardableResult
    public func expireReservations() async throws -> Int {
        let now = clock.now()
        var runs = Set<String>()
        for (_, budget) in await registry.budgets {
            for (_, reservation) in await budget.expired(at: now) { runs.insert(reservation.run) }
        }
        var released = 0
        for runID in runs.sorted() {
            try await withRun(runID) { run in
                let expired = await run.current.expiredReservations(at: now)
                released += expired.count
                if !expired.isEmpty { try await releaseReservations(expired, reason: .expired, run: run) }
            }
        }
        return released
    }

    private func releaseReservations(_ reservations: [Reservation], reason: ReleaseReason, run: RunActor) async throws {
        let state = await run.current
        let now = clock.now()
        var events: [ProposedEvent] = []
        for reservation in reservations {
            let released = SpendReleased(reservation: reservation.id, amount: reservation.amount, reason: reason)
            events.append(ProposedEvent(released, stream: SpendStreams.run(run.id), occurredAt: now, dimensions: state.dimensions))
            for budget in reservation.budgets {
                events.append(ProposedEvent(released, stream: SpendStreams.budget(budget), occurredAt: now, dimensions: state.dimensions))
            }
        }
        let recorded = try await readBack(try await store.append(events))
        try await run.commit(recorded.filter { $0.stream == SpendStreams.run(run.id) })
        let wallet = await registry.wallet(state.dimensions.agent ?? "")
        try await wallet.commit([], charges: [], settled: reservations.map(\.id))
        for id in Set(reservations.flatMap(\.budgets)).sorted() {
            guard let budget = await registry.budget(id) else { continue }
            try await budget.commit(recorded.filter { $0.stream == SpendStreams.budget(id) }, charges: [], claimed: .zero)
        }
    }
}

/// A bounded-memory, forward read of a range of the log (see ``EventStore/events(from:through:)``).
public struct StoredEvents<Store: EventStore>: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent
    let store: Store
    let from: UInt64
    let through: UInt64

    public struct AsyncIterator: AsyncIteratorProtocol {
        let store: Store
        var next: UInt64
        let through: UInt64
        var buffer: [RecordedEvent] = []
        var index = 0
        var exhausted = false

        public mutating func next() async throws -> RecordedEvent? {
            if index < buffer.count {
                defer { index += 1 }
                return buffer[index]
            }
            guard !exhausted, next <= through else { return nil }
            let wanted = Int(Swift.min(UInt64(Limits.replayChunkEventCountMax), through - next + 1))
            buffer = try await store.read(from: next, maxCount: wanted)
            index = 0
            guard let last = buffer.last else {
                exhausted = true
                return nil
            }
            if buffer.count < wanted { exhausted = true }
            next = last.seq + 1
            index = 1
            return buffer[0]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(store: store, next: from, through: through)
    }
}

/// Catch-up then live: every event after a position, in `seq` order, each exactly once.
///
/// The subscription pulls from the store in chunks; when it has read everything it waits on the
/// store's ``HeadNotifier`` and reads again from where it stopped. It never buffers more than one
/// chunk, so a slow consumer applies back-pressure instead of growing memory. Iteration ends
/// (returns nil) when the task is cancelled or the store closes.
public struct EventSubscription<Store: EventStore>: AsyncSequence, Sendable {
    public typealias Element = RecordedEvent
    let store: Store
    let after: UInt64

    public struct AsyncIterator: AsyncIteratorProtocol {
        let store: Store
        var lastSeen: UInt64
        var buffer: [RecordedEvent] = []
        var index = 0

        public mutating func next() async throws -> RecordedEvent? {
            while true {
                if index < buffer.count {
                    let event = buffer[index]
                    index += 1
                    guard event.seq == lastSeen + 1 else {
                        throw LedgerError(
                            .corrupted, "the store returned seq \(event.seq) after \(lastSeen); a subscription never skips or repeats",
                            seq: event.seq)
                    }
                    lastSeen = event.seq
                    return event
                }
                if Task.isCancelled { return nil }
                buffer = try await store.read(from: lastSeen + 1, maxCount: Limits.replayChunkEventCountMax)
                index = 0
                if buffer.isEmpty {
                    let head = await store.headNotifier.wait(beyond: lastSeen)
                    if head <= lastSeen { return nil }  // cancelled or closed
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(store: store, lastSeen: after)
    }
}

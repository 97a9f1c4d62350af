import Synchronization

/// Publishes a store's durable head `seq` and wakes the tasks waiting for it to move.
///
/// A backend calls ``publish(_:)`` after each commit is durable; subscribers call
/// ``wait(beyond:)``. No wake-up is lost: a waiter registers and checks the head under one lock.
public final class HeadNotifier: Sendable {
    private struct Waiter {
        var id: UInt64
        var beyond: UInt64
        var continuation: CheckedContinuation<UInt64, Never>
    }

    private struct State {
        var head: UInt64 = 0
        var closed = false
        var nextWaiterID: UInt64 = 0
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())

    public init(head: UInt64 = 0) {
        state.withLock { $0.head = head }
    }

    /// The last published head.
    public var head: UInt64 { state.withLock { $0.head } }

    /// Records a new durable head and resumes every waiter it satisfies.
    public func publish(_ head: UInt64) {
        let ready: [Waiter] = state.withLock { state in
            guard head > state.head else { return [] }
            state.head = head
            let ready = state.waiters.filter { $0.beyond < head }
            state.waiters.removeAll { $0.beyond < head }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: head) }
    }

    /// Wakes every waiter for good: the store is closing.
    public func close() {
        let all: ([Waiter], UInt64) = state.withLock { state in
            state.closed = true
            defer { state.waiters = [] }
            return (state.waiters, state.head)
        }
        for waiter in all.0 { waiter.continuation.resume(returning: all.1) }
    }

    /// Returns once the head is above `seq`, the task is cancelled, or the store closes; returns
    /// the head at that moment (which is `<= seq` only on cancellation or close).
    public func wait(beyond seq: UInt64) async -> UInt64 {
        let id: UInt64 = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<UInt64, Never>) in
                let immediate: UInt64? = state.withLock { state in
                    if state.head > seq || state.closed || Task.isCancelled { return state.head }
                    state.waiters.append(Waiter(id: id, beyond: seq, continuation: continuation))
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let removed: (Waiter, UInt64)? = state.withLock { state in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return (state.waiters.remove(at: index), state.head)
            }
            if let (waiter, head) = removed { waiter.continuation.resume(returning: head) }
        }
    }
}

import Foundation

/// Runs blocking work (waiting for a child process, reading its pipes) on a dedicated thread, so
/// it never occupies one of the cooperative pool's few threads that every async test shares.
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
        }
        thread.start()
    }
}

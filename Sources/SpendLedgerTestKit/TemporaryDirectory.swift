import Foundation

/// A fresh, empty directory under the system's temporary directory, for one test's ledger.
/// Remove it with ``remove()`` (tests usually `defer` it).
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "ledger") throws {
        let base = FileManager.default.temporaryDirectory.path
        path = "\(base)/spendledger-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// A path inside this directory that does not exist yet.
    public func child(_ name: String) -> String { path + "/" + name }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

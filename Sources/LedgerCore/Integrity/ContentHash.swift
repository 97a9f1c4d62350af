import Crypto

/// The SHA-256 digest of a byte string: the fingerprint of a projection state, a snapshot or an
/// audit statement.
///
/// Guarantees: equal bytes give equal hashes on every machine and every run (no seed, no
/// platform dependence), so a hash printed today can be re-derived and compared years later.
/// Unlike ``ChainHash`` it links nothing: it covers exactly the bytes it was made from.
///
/// ```swift
/// let hash = ContentHash(of: Array("hello".utf8))
/// print(hash)  // 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
/// ```
public struct ContentHash: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    /// The SHA-256 of `bytes`.
    public init(of bytes: UnsafeRawBufferPointer) {
        self.bytes = Array(SHA256.hash(data: bytes))
    }

    /// The SHA-256 of `bytes`.
    public init(of bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { ContentHash(of: $0) }
    }

    /// Takes 32 digest bytes as they are (for reading a stored hash).
    public init?(digest: some Collection<UInt8>) {
        guard digest.count == 32 else { return nil }
        bytes = Array(digest)
    }

    /// Parses 64 hex digits.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 64, let bytes = Hex.decode(hex) else { return nil }
        self.bytes = bytes
    }

    /// 64 lowercase hex digits.
    public var description: String { Hex.encode(bytes) }
}

import CBoringSHA256
import Crypto

/// A SHA-256 link of the hash chain, held inline (four words, no heap allocation).
///
/// `hash(n) = SHA-256(hash(n-1) || canonicalBytes(n))`, with `hash(0)` = 32 zero bytes
/// (``genesis``). Changing any byte of any stored event changes its hash and every hash after it,
/// so a head hash printed in an audit report proves later that the log it came from is untouched.
public struct ChainHash: Hashable, Sendable, CustomStringConvertible {
    public var w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    public init(w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64) {
        (self.w0, self.w1, self.w2, self.w3) = (w0, w1, w2, w3)
    }

    /// The hash before the first event: 32 zero bytes.
    public static let genesis = ChainHash(w0: 0, w1: 0, w2: 0, w3: 0)

    /// Reads 32 bytes as they are stored.
    public init(bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= 32, "a chain hash is 32 bytes")
        w0 = bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)
        w1 = bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        w2 = bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        w3 = bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
    }

    /// Parses 64 hex digits.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 64, let bytes = Hex.decode(hex) else { return nil }
        self = bytes.withUnsafeBytes { ChainHash(bytes: $0) }
    }

    /// Writes the 32 bytes at `destination`.
    public func store(to destination: UnsafeMutableRawPointer) {
        destination.storeBytes(of: w0, toByteOffset: 0, as: UInt64.self)
        destination.storeBytes(of: w1, toByteOffset: 8, as: UInt64.self)
        destination.storeBytes(of: w2, toByteOffset: 16, as: UInt64.self)
        destination.storeBytes(of: w3, toByteOffset: 24, as: UInt64.self)
    }

    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { store(to: $0.baseAddress!) }
        return out
    }

    /// 64 lowercase hex digits, in stored byte order.
    public var description: String { Hex.encode(bytes) }

    /// The next link: SHA-256 over this hash and `canonicalBytes`.
    ///
    /// The two parts are copied into one buffer (on the stack for any usual event) and hashed in one
    /// call of BoringSSL's one-shot SHA-256: no context object is allocated, filled and zeroed per
    /// event, as `Crypto.SHA256` does. `chainedUsingCrypto(with:)` computes the same through
    /// `Crypto.SHA256`, and a test holds the two equal.
    public func chained(with canonicalBytes: UnsafeRawBufferPointer) -> ChainHash {
        chained(with: canonicalBytes) { _ in }
    }

    /// ``chained(with:)`` over `canonicalBytes` as `amend` changes them, in the copy that is hashed
    /// (the bytes themselves are not written to).
    func chained(
        with canonicalBytes: UnsafeRawBufferPointer, amendedBy amend: (UnsafeMutableRawBufferPointer) -> Void
    ) -> ChainHash {
        let count = 32 + canonicalBytes.count
        return withUnsafeTemporaryAllocation(byteCount: count, alignment: 8) { input in
            store(to: input.baseAddress!)
            if canonicalBytes.count > 0 {
                (input.baseAddress! + 32).copyMemory(from: canonicalBytes.baseAddress!, byteCount: canonicalBytes.count)
            }
            amend(UnsafeMutableRawBufferPointer(rebasing: input[32...]))
            var digest = ChainHash.genesis
            withUnsafeMutableBytes(of: &digest) { out in
                _ = CCryptoBoringSSL_SHA256(
                    input.baseAddress!.assumingMemoryBound(to: UInt8.self), count, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
            return digest
        }
    }

    /// The same link as ``chained(with:)``, through `Crypto.SHA256`.
    package func chainedUsingCrypto(with canonicalBytes: UnsafeRawBufferPointer) -> ChainHash {
        var hasher = SHA256()
        withUnsafeBytes(of: self) { hasher.update(bufferPointer: $0) }
        hasher.update(bufferPointer: canonicalBytes)
        return hasher.finalize().withUnsafeBytes { ChainHash(bytes: $0) }
    }
}

import LedgerCore
import Testing

@Suite("ChainHash")
struct ChainHashTests {
    static let abc = Array("abc".utf8)

    @Test func theGenesisHash_isThirtyTwoZeroBytes() {
        #expect(ChainHash.genesis.description == String(repeating: "0", count: 64))
        #expect(ChainHash.genesis.bytes == [UInt8](repeating: 0, count: 32))
    }

    @Test func chaining_isSHA256OfThePreviousHashThenTheBytes() {
        // sha256(32 zero bytes || "abc"), computed independently.
        let first = Self.abc.withUnsafeBytes { ChainHash.genesis.chained(with: $0) }
        #expect(first.description == "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370")
        let second = first.chained(with: UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(second.description == "e68b0c72b1aff9488294900ba6cc1e99075122a8d0c122eb42da506f9c2321a4")
    }

    @Test func hexText_parsesBackToTheSameHash() throws {
        let hash = Self.abc.withUnsafeBytes { ChainHash.genesis.chained(with: $0) }
        let text = hash.description
        #expect(text.count == 64)
        #expect(text == text.lowercased())
        #expect(ChainHash(hex: text) == hash)
        #expect(ChainHash(hex: text.uppercased()) == hash)
        #expect(ChainHash(hex: ChainHash.genesis.description) == .genesis)
    }

    @Test func storedBytes_readBackToTheSameHash() {
        let hash = Self.abc.withUnsafeBytes { ChainHash.genesis.chained(with: $0) }
        let bytes = hash.bytes
        #expect(bytes.count == 32)
        #expect(bytes.withUnsafeBytes { ChainHash(bytes: $0) } == hash)
        let hex = bytes.map { byte -> String in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }
        #expect(hex.joined() == hash.description)
    }

    @Test(arguments: [
        "", "00", String(repeating: "0", count: 63), String(repeating: "0", count: 65),
        String(repeating: "g", count: 64), String(repeating: "0", count: 62) + "0x", " " + String(repeating: "0", count: 63),
    ])
    func malformedHex_returnsNil(_ text: String) {
        #expect(ChainHash(hex: text) == nil)
    }

    @Test func changingOneByte_changesTheHash() {
        var bytes = [UInt8](repeating: 1, count: 100)
        let original = bytes.withUnsafeBytes { ChainHash.genesis.chained(with: $0) }
        for index in bytes.indices {
            bytes[index] ^= 0x01
            #expect(bytes.withUnsafeBytes { ChainHash.genesis.chained(with: $0) } != original)
            bytes[index] ^= 0x01
        }
    }
}

import Foundation
import LedgerCore
import LedgerDomain
@testable import LedgerPricing

/// Where the package's files are, found from this source file (Tests/LedgerPricingTests/...).
enum Paths {
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static let fixtureCatalog = packageRoot + "/Fixtures/price-catalog.json"
    static let sampleUsage = packageRoot + "/Fixtures/sample-usage.jsonl"
    static let realPriceMap = URL(fileURLWithPath: packageRoot + "/../shared/data/litellm_model_prices.json").standardized.path
}

/// The real LiteLLM price map described in ../shared/data/SOURCES.md, section 1.
enum RealPriceMap {
    static let sha256 = "8f8060d8ce7a40c91b995c74d6a27657543d49e3c1c53430dabd556f244392c6"
    static var isPresent: Bool { FileManager.default.fileExists(atPath: Paths.realPriceMap) }
    static let absentReason = "the real LiteLLM price map is not at ../shared/data/litellm_model_prices.json (see SOURCES.md)"

    static func bytes() throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: Paths.realPriceMap) else {
            throw CocoaError(.fileReadNoSuchFile)
        }
        return Array(data)
    }
}

func time(_ text: String) -> LedgerTime { LedgerTime(rfc3339: text)! }

func price(_ text: String) -> Price { Price(dollars: text)! }

func fixtureCatalog() throws -> PriceCatalog {
    try PriceCatalog.load(contentsOf: Paths.fixtureCatalog, effectiveFrom: .epoch)
}

// MARK: An independent model of the pricing rule, for golden tests

/// Decimal text to atto-dollars with plain string and integer work (no ExactDecimal, no
/// Double): nil when it needs more than 18 decimal places.
func independentAtto(_ text: String) -> Int128? {
    var mantissa = Substring(text)
    var exponent = 0
    if let e = mantissa.firstIndex(where: { $0 == "e" || $0 == "E" }) {
        exponent = Int(mantissa[mantissa.index(after: e)...])!
        mantissa = mantissa[..<e]
    }
    var digits = String(mantissa)
    if let point = digits.firstIndex(of: ".") {
        exponent -= digits.distance(from: point, to: digits.endIndex) - 1
        digits.remove(at: point)
    }
    var value = Int128(digits)!
    var shift = exponent + 18
    while shift < 0 {
        guard value % 10 == 0 else { return nil }
        value /= 10
        shift += 1
    }
    for _ in 0..<shift { value *= 10 }
    return value
}

/// Half-even division by 10^9, written independently of `Price.roundToMoney`.
func independentRoundHalfEven(atto: Int128) -> Int128 {
    precondition(atto >= 0)
    let quotient = atto / 1_000_000_000
    let remainder = atto - quotient * 1_000_000_000
    if remainder > 500_000_000 { return quotient + 1 }
    if remainder < 500_000_000 { return quotient }
    return quotient % 2 == 0 ? quotient : quotient + 1
}

// MARK: SHA-256 (FIPS 180-4), so the test can check the price map without another dependency

enum SHA256Digest {
    private static let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]

    static func hex(_ message: [UInt8]) -> String {
        var h: [UInt32] = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
        ]
        var padded = message
        padded.append(0x80)
        while padded.count % 64 != 56 { padded.append(0) }
        let bits = UInt64(message.count) * 8
        for shift in stride(from: 56, through: 0, by: -8) { padded.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 64)
        padded.withUnsafeBufferPointer { bytes in
            for block in stride(from: 0, to: bytes.count, by: 64) {
                for t in 0..<16 {
                    let i = block + t * 4
                    w[t] = UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
                }
                for t in 16..<64 {
                    let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                    let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                    w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                }
                var (a, b, c, d, e, f, g, hh) = (h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7])
                for t in 0..<64 {
                    let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                    let choice = (e & f) ^ (~e & g)
                    let temp1 = hh &+ s1 &+ choice &+ k[t] &+ w[t]
                    let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                    let majority = (a & b) ^ (a & c) ^ (b & c)
                    let temp2 = s0 &+ majority
                    (hh, g, f, e, d, c, b, a) = (g, f, e, d &+ temp1, c, b, a, temp1 &+ temp2)
                }
                h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d
                h[4] &+= e; h[5] &+= f; h[6] &+= g; h[7] &+= hh
            }
        }
        return h.map { word in
            let text = String(word, radix: 16)
            return String(repeating: "0", count: 8 - text.count) + text
        }.joined()
    }

    @inline(__always) private static func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { x >> n | x << (32 - n) }
}

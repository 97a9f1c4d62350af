/// SplitMix64: a small, fast generator whose whole sequence follows from the seed, so
/// `spend demo --seed N` tells the same story every time.
struct DemoRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }

    /// An exponentially distributed gap with the given mean (for Poisson arrivals).
    mutating func exponential(mean: Double) -> Double {
        -mean * log1p(-Double.random(in: 0..<1, using: &self))
    }

    /// A fresh generator for one named part of the plan, so adding an agent does not reshuffle
    /// every other agent's day.
    func derived(_ salt: String) -> DemoRandom {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in salt.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return DemoRandom(seed: state ^ hash)
    }
}

import Foundation

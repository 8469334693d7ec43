/// SplitMix64 (Steele, Lea and Flood 2014): the one seeded generator of the project: initial
/// weights, training's shuffles and augmentation, benchmark and test data.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in the open interval (0, 1): the top 53 bits, centred in their step.
    public mutating func openUnitInterval() -> Double {
        (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992
    }
}

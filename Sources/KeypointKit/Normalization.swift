/// The network input's per-channel normalisation: a sample v in 0...255 becomes
/// (v / 255 - mean[c]) / std[c], computed as v * scale[c] + offset[c] with scale = 1 / (255 std)
/// and offset = -mean / std, in double.
public struct Normalization: Equatable, Sendable {
    public let mean: [Float]
    public let std: [Float]
    private let scale: [Double]
    private let offset: [Double]

    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "one mean and one std per channel")
        self.mean = mean
        self.std = std
        scale = std.map { 1 / (255 * Double($0)) }
        offset = zip(mean, std).map { -Double($0) / Double($1) }
    }

    /// An 8-bit sample (or one interpolated between 8-bit samples) of channel `c`, normalised.
    @inline(__always)
    public func callAsFunction(_ sample: Double, channel c: Int) -> Float {
        Float(sample * scale[c] + offset[c])
    }

    /// `self(Double(v), channel: c)` for every 8-bit sample v, indexed by v: a whole-pixel copy
    /// looks its samples up instead of computing each.
    public func samples(channel c: Int) -> [Float] { (0..<256).map { self(Double($0), channel: c) } }

    /// A value already in 0...1 (training's augmented colours) of channel `c`, normalised.
    @inline(__always)
    public func callAsFunction(unit value: Float, channel c: Int) -> Float { (value - mean[c]) / std[c] }
}

import Foundation

/// Random changes applied to each training sample, drawn from the seed (so a run is reproducible).
public struct Augmentation: Codable, Equatable, Sendable {
    /// Zoom by a factor drawn log-uniformly from [minZoom, maxZoom]: below 1 the subject shows
    /// smaller in the input, with more of its surroundings (or the black border) around it.
    public var minZoom: Double = 0.8
    public var maxZoom: Double = 1.25
    /// Rotation in [-rotation, rotation] degrees, applied with `rotationProbability`.
    public var rotation: Double = 30
    public var rotationProbability: Double = 0.6
    /// Shift by up to this fraction of the region's size.
    public var translation: Double = 0.1
    /// Mirror half of the samples (left and right keypoints swapped).
    public var flip: Bool = true
    /// Brightness and contrast factors in [1 - colour, 1 + colour].
    public var colour: Double = 0.2
    /// With this probability, fill a random rectangle (up to a quarter of the input) with grey.
    public var occlusion: Double = 0
    /// Gamma: raise each value (0-1) to a power drawn log-uniformly from [e^-gamma, e^gamma]
    /// (exposure and camera curves that brightness and contrast do not mimic).
    public var gamma: Double = 0.25
    /// With this probability, blur with a Gaussian of sigma drawn from [0.5, `blurSigma`] input
    /// pixels (out-of-focus and motion-softened frames).
    public var blur: Double = 0.2
    public var blurSigma: Double = 1.5
    /// With this probability, add Gaussian noise, the same on each channel (sensor noise is in the
    /// brightness), of a standard deviation drawn from [0, `noiseLevel`] of the value range.
    public var noise: Double = 0.3
    public var noiseLevel: Double = 0.04
    /// With this probability, cut the sample off at one edge (`EdgeCut`): as if the photo ended
    /// inside the subject (portraits, half bodies), with the parts beyond trained as absent.
    public var cutoff: Double = 0

    public init() {}

    private enum CodingKeys: String, CodingKey {
        case minZoom, maxZoom, rotation, rotationProbability, translation, flip, colour, occlusion, gamma, blur,
            blurSigma, noise, noiseLevel, cutoff
    }

    /// Checkpoints written before the zoom range had one `scale`: zoom in [1 / (1 + scale), 1 + scale].
    private enum EarlierKeys: String, CodingKey { case scale }

    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let scale = try decoder.container(keyedBy: EarlierKeys.self).decodeIfPresent(Double.self, forKey: .scale) {
            (minZoom, maxZoom) = (1 / (1 + scale), 1 + scale)
        } else {
            minZoom = try container.decode(Double.self, forKey: .minZoom)
            maxZoom = try container.decode(Double.self, forKey: .maxZoom)
        }
        rotation = try container.decode(Double.self, forKey: .rotation)
        rotationProbability = try container.decode(Double.self, forKey: .rotationProbability)
        translation = try container.decode(Double.self, forKey: .translation)
        flip = try container.decode(Bool.self, forKey: .flip)
        colour = try container.decode(Double.self, forKey: .colour)
        occlusion = try container.decode(Double.self, forKey: .occlusion)
        // Checkpoints written before these existed trained without them.
        gamma = try container.decodeIfPresent(Double.self, forKey: .gamma) ?? 0
        blur = try container.decodeIfPresent(Double.self, forKey: .blur) ?? 0
        blurSigma = try container.decodeIfPresent(Double.self, forKey: .blurSigma) ?? 0
        noise = try container.decodeIfPresent(Double.self, forKey: .noise) ?? 0
        noiseLevel = try container.decodeIfPresent(Double.self, forKey: .noiseLevel) ?? 0
        cutoff = try container.decodeIfPresent(Double.self, forKey: .cutoff) ?? 0
    }

    public static let none: Augmentation = {
        var augmentation = Augmentation()
        augmentation.minZoom = 1
        augmentation.maxZoom = 1
        augmentation.rotation = 0
        augmentation.translation = 0
        augmentation.flip = false
        augmentation.colour = 0
        (augmentation.gamma, augmentation.blur, augmentation.noise) = (0, 0, 0)
        return augmentation
    }()
}

/// One edge of a sample cut off at `position` (input pixels, through the labeled points): the
/// image beyond it becomes padding (0, as the letterbox's), and the points beyond it get no peak
/// but still count in the loss, so the network learns to score a part outside the picture low
/// instead of guessing where it might be.
struct EdgeCut: Equatable {
    enum Side { case bottom, top, left, right }
    var side: Side
    var position: Double

    func removes(_ point: Point) -> Bool {
        switch side {
        case .bottom: point.y > position
        case .top: point.y < position
        case .left: point.x < position
        case .right: point.x > position
        }
    }

    /// The part of `image` (in its pixels) the cut keeps, as a picture of its own that ends at
    /// the cut, and where its origin lies in `image`; at least one row or column.
    func kept(of image: Image) -> (image: Image, x: Int, y: Int) {
        var (x0, y0, x1, y1) = (0, 0, image.width, image.height)  // kept: [x0, x1) x [y0, y1)
        switch side {
        case .bottom: y1 = min(max(Int(position.rounded(.down)) + 1, 1), image.height)
        case .top: y0 = max(min(Int(position.rounded(.up)), image.height - 1), 0)
        case .left: x0 = max(min(Int(position.rounded(.up)), image.width - 1), 0)
        case .right: x1 = min(max(Int(position.rounded(.down)) + 1, 1), image.width)
        }
        var pixels = [UInt8]()
        pixels.reserveCapacity((x1 - x0) * (y1 - y0) * 3)
        for y in y0..<y1 {
            let row = (y * image.width) * 3
            pixels += image.pixels[(row + x0 * 3)..<(row + x1 * 3)]
        }
        return (Image(width: x1 - x0, height: y1 - y0, pixels: pixels), x0, y0)
    }

    /// Sets the pixels (centres) beyond the cut to 0 in each of the three planes of `values`.
    func apply(to values: inout [Float], width: Int, height: Int) {
        let plane = width * height
        for y in 0..<height {
            for x in 0..<width where removes(Point(x: Double(x), y: Double(y))) {
                for c in 0..<3 { values[c * plane + y * width + x] = 0 }
            }
        }
    }
}

extension Augmentation {
    /// With probability `cutoff`, a cut through the extent of `points` (the labeled points in
    /// input pixels, at least two): the bottom edge half the time (legs out of frame), else the top,
    /// left or right, keeping 35-85% of the extent from the opposite side.
    func edgeCut(through points: [Point], random: inout SplitMix64) -> EdgeCut? {
        guard cutoff > 0, points.count >= 2, Double.random(in: 0..<1, using: &random) < cutoff else { return nil }
        let draw = Double.random(in: 0..<1, using: &random)
        let kept = Double.random(in: 0.35...0.85, using: &random)
        let xs = points.map(\.x), ys = points.map(\.y)
        let (left, right, top, bottom) = (xs.min()!, xs.max()!, ys.min()!, ys.max()!)
        switch draw {
        case ..<0.5: return EdgeCut(side: .bottom, position: top + kept * (bottom - top))
        case ..<0.6: return EdgeCut(side: .top, position: bottom - kept * (bottom - top))
        case ..<0.8: return EdgeCut(side: .left, position: right - kept * (right - left))
        default: return EdgeCut(side: .right, position: left + kept * (right - left))
        }
    }

    /// The changes to a sample's pixels, in place on planar RGB `values` in 0-1 (`width` x
    /// `height` per channel), in this order: an occluding grey rectangle, blur, brightness and
    /// contrast, gamma, noise; the values stay in 0-1.
    func changePixels(of values: inout [Float], width: Int, height: Int, random: inout SplitMix64) {
        let brightness = colour > 0 ? Float.random(in: Float(1 - colour)...Float(1 + colour), using: &random) : 1
        let contrast = colour > 0 ? Float.random(in: Float(1 - colour)...Float(1 + colour), using: &random) : 1
        let plane = width * height
        if occlusion > 0 && Double.random(in: 0..<1, using: &random) < occlusion {
            let w = Int.random(in: 1...(width / 2), using: &random)
            let h = Int.random(in: 1...(height / 2), using: &random)
            let x0 = Int.random(in: 0...(width - w), using: &random)
            let y0 = Int.random(in: 0...(height - h), using: &random)
            for c in 0..<3 {
                for y in y0..<(y0 + h) {
                    for x in x0..<(x0 + w) { values[c * plane + y * width + x] = 0.5 }
                }
            }
        }
        if blur > 0 && Double.random(in: 0..<1, using: &random) < blur {
            let sigma = Double.random(in: 0.5...max(0.5, blurSigma), using: &random)
            for c in 0..<3 { Self.blur(&values, plane: c, width: width, height: height, sigma: sigma) }
        }
        let power = gamma > 0 ? Float(exp(Double.random(in: -gamma...gamma, using: &random))) : 1
        let level =
            noise > 0 && Double.random(in: 0..<1, using: &random) < noise
            ? Float.random(in: 0...Float(noiseLevel), using: &random) : 0
        let added = level > 0 ? (0..<plane).map { _ in level * Self.gaussian(&random) } : []
        for index in values.indices {
            var value = min(max((values[index] * brightness - 0.5) * contrast + 0.5, 0), 1)
            if power != 1 { value = pow(value, power) }
            if !added.isEmpty { value = min(max(value + added[index % plane], 0), 1) }
            values[index] = value
        }
    }

    /// Blurs channel `plane` of planar `values` in place with a Gaussian of `sigma` pixels (taps to
    /// 3 sigma, edges clamped), rows then columns.
    static func blur(_ values: inout [Float], plane: Int, width: Int, height: Int, sigma: Double) {
        let radius = max(1, Int((3 * sigma).rounded(.up)))
        var taps = (-radius...radius).map { Float(exp(-Double($0 * $0) / (2 * sigma * sigma))) }
        let total = taps.reduce(0, +)
        taps = taps.map { $0 / total }
        let base = plane * width * height
        var line = [Float](repeating: 0, count: max(width, height))
        for y in 0..<height {
            for x in 0..<width {
                var sum: Float = 0
                for (t, tap) in taps.enumerated() {
                    sum += tap * values[base + y * width + min(max(x + t - radius, 0), width - 1)]
                }
                line[x] = sum
            }
            for x in 0..<width { values[base + y * width + x] = line[x] }
        }
        for x in 0..<width {
            for y in 0..<height {
                var sum: Float = 0
                for (t, tap) in taps.enumerated() {
                    sum += tap * values[base + min(max(y + t - radius, 0), height - 1) * width + x]
                }
                line[y] = sum
            }
            for y in 0..<height { values[base + y * width + x] = line[y] }
        }
    }

    /// A standard normal draw (Box-Muller).
    static func gaussian(_ random: inout SplitMix64) -> Float {
        let u = random.openUnitInterval(), v = random.openUnitInterval()
        return Float(sqrt(-2 * log(u)) * cos(2 * Double.pi * v))
    }

}

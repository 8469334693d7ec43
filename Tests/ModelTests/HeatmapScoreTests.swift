import Foundation
import Testing
import TestSupport

@testable import KeypointKit

struct HeatmapScoreTests {
    /// The score of `heatmap` (width x height) as `kind`, decoded with DARK.
    static func score(_ kind: HeatmapScore, _ heatmap: [Float], width: Int, height: Int, sigma: Double) -> Float {
        heatmap.withUnsafeBufferPointer {
            let peak = HeatmapDecoder.dark.decode($0, width: width, height: height, sigma: sigma)
            return kind.score($0, width: width, height: height, peak: peak, sigma: sigma)
        }
    }

    /// 120 seeded targets scaled by a height from 0.1 to 1, at subpixel positions (a third within
    /// two pixels of an edge, where the window is cut), sigmas 1.5, 2 and 3: the mass scores each
    /// its height within 0.002 (the decoded position's error moves the window's target), and the
    /// peak scores the argmax pixel's value, at most the height.
    @Test func bothScoreATargetShapedBlobByItsHeight() {
        let (width, height) = (48, 40)
        var random = SplitMix64(seed: 11)
        for index in 0..<120 {
            let sigma = [1.5, 2.0, 3.0][index % 3]
            let x =
                index % 3 == 1
                ? Double.random(in: 0...2, using: &random) : Double.random(in: 3...Double(width - 4), using: &random)
            let y = Double.random(in: 0...Double(height - 1), using: &random)
            let scale = Float.random(in: 0.1...1, using: &random)
            let heatmap = HeatmapEncoder.gaussian(centerX: x, centerY: y, sigma: sigma, width: width, height: height)
                .map { $0 * scale }
            let mass = Self.score(.mass, heatmap, width: width, height: height, sigma: sigma)
            #expect(abs(mass - scale) <= 0.002, "target at (\(x), \(y)), sigma \(sigma), height \(scale): mass \(mass)")
            let peak = Self.score(.peak, heatmap, width: width, height: height, sigma: sigma)
            #expect(peak == heatmap.max()! && peak <= scale)
        }
    }

    /// A blob twice as wide as the target (sigma) and half as high.
    func half(sigma: Double, width: Int, height: Int) -> [Float] {
        HeatmapEncoder.gaussian(centerX: 31.3, centerY: 30.6, sigma: 2 * sigma, width: width, height: height).map {
            $0 * 0.5
        }
    }

    /// A blob twice as wide as the target and half as high (a part the network sees but cannot
    /// place): the peak halves, the mass keeps most of it. Reference: the continuous integrals over
    /// the disc of radius 2 sigma, 0.5 (4 sigma^2 (1 - e^(-1/2))) / (sigma^2 (1 - e^(-2))) = 0.910;
    /// the pixel sums differ from it by at most 0.012 for sigmas 1.5 to 3. A blob of more mass
    /// than the target scores 1, uniform noise of 5% moves the
    /// score by less than 0.05, and values below zero count as zero.
    @Test func massKeepsASpreadBlobsPresence() {
        let (width, height) = (64, 64)
        let reference = 0.5 * 4 * (1 - exp(-0.5)) / (1 - exp(-2.0))
        for sigma in [1.5, 2.0, 3.0] {
            let half = half(sigma: sigma, width: width, height: height)
            let spread = half.map { $0 * 2 }
            #expect(abs(Double(Self.score(.mass, half, width: width, height: height, sigma: sigma)) - reference) <= 0.02)
            #expect(abs(Self.score(.peak, half, width: width, height: height, sigma: sigma) - 0.5) <= 0.01)
            #expect(Self.score(.mass, spread, width: width, height: height, sigma: sigma) == 1)
        }
        var random = SplitMix64(seed: 5)
        let target = HeatmapEncoder.gaussian(centerX: 20, centerY: 20, sigma: 2, width: width, height: height)
        let noisy = target.map { $0 * 0.6 + Float.random(in: -0.05...0.05, using: &random) }
        #expect(abs(Self.score(.mass, noisy, width: width, height: height, sigma: 2) - 0.6) <= 0.05)
        // Below zero counts as nothing: pixels of the window set to -0.5 score as if they were 0.
        let blob = half(sigma: 2, width: width, height: height)
        blob.withUnsafeBufferPointer { clean in
            let peak = HeatmapDecoder.dark.decode(clean, width: width, height: height, sigma: 2)
            var (negative, zero) = (blob, blob)
            for (x, y) in [(peak.column + 3, peak.row), (peak.column - 1, peak.row + 2), (peak.column, peak.row - 4)] {
                negative[y * width + x] = -0.5
                zero[y * width + x] = 0
            }
            let scores = [negative, zero].map {
                $0.withUnsafeBufferPointer { HeatmapScore.mass.score($0, width: width, height: height, peak: peak, sigma: 2) }
            }
            #expect(scores[0] == scores[1])
            #expect(scores[1] < HeatmapScore.mass.score(clean, width: width, height: height, peak: peak, sigma: 2))
        }
    }
}

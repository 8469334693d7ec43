import Foundation

/// What a keypoint's score measures on its heatmap (model metadata `heatmap_score`; a model
/// without it scores `peak`).
public enum HeatmapScore: String, CaseIterable, Sendable {
    /// The heatmap's value at its argmax, DeepLabCut's likelihood: it falls as the blob spreads,
    /// so it says how sure the network is of the position.
    case peak
    /// The heatmap's mass near its argmax over the target Gaussian's mass on the same window:
    ///
    ///     s = min(1, sum over W of max(h(p), 0) / sum over W of exp(-|p - c|^2 / (2 sigma^2)))
    ///
    /// W the heatmap pixels within `massRadius` sigma of the argmax, c the decoded position. A blob
    /// of the target's shape scores its height, as with `peak`; a spread blob (a part in the
    /// picture that the network cannot place exactly) keeps the mass its peak loses. Models trained
    /// to tell parts cut out of the picture (`--cutoff`) score so: docs/MODELS.md has how much
    /// better it tells them apart.
    case mass

    /// The window of `mass`, in target sigmas.
    public static let massRadius = 2.0

    /// The score of a `width` x `height` heatmap (row-major) decoded as `peak`; `sigma` is the
    /// target Gaussian's, in heatmap pixels.
    public func score(
        _ heatmap: UnsafeBufferPointer<Float>, width: Int, height: Int, peak: HeatmapPeak, sigma: Double
    ) -> Float {
        switch self {
        case .peak:
            return peak.score
        case .mass:
            let (peakX, peakY) = (peak.column, peak.row)
            let radius = Self.massRadius * sigma
            let reach = Int(radius.rounded(.down))
            let scale = -1 / (2 * sigma * sigma)
            var mass = 0.0
            var target = 0.0
            for row in max(peakY - reach, 0)...min(peakY + reach, height - 1) {
                let dy = Double(row - peakY)
                for column in max(peakX - reach, 0)...min(peakX + reach, width - 1) {
                    let dx = Double(column - peakX)
                    guard dx * dx + dy * dy <= radius * radius else { continue }
                    mass += Double(max(heatmap[row * width + column], 0))
                    let (tx, ty) = (Double(column) - peak.x, Double(row) - peak.y)
                    target += exp((tx * tx + ty * ty) * scale)
                }
            }
            return Float(min(mass / target, 1))
        }
    }
}

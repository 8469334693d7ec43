import Foundation

/// How a heatmap's peak becomes a subpixel position.
public enum HeatmapDecoder: String, CaseIterable, Sendable {
    /// DARK (Zhang et al., "Distribution-Aware Coordinate Representation for Human Pose
    /// Estimation", CVPR 2020): smooth the heatmap with a Gaussian, take its log, and move from the
    /// argmax by one Newton step on the second-order Taylor expansion there.
    case dark
    /// SimpleBaseline's quarter offset: a quarter pixel from the argmax towards the higher neighbour.
    case quarter
    /// The integer argmax.
    case argmax
}

/// A disc in heatmap pixel coordinates (pixel centres at integers) that a peak is looked for in.
public struct HeatmapDisc: Equatable, Sendable {
    public var centerX: Double
    public var centerY: Double
    public var radius: Double

    public init(centerX: Double, centerY: Double, radius: Double) {
        (self.centerX, self.centerY, self.radius) = (centerX, centerY, radius)
    }

    public func contains(x: Int, y: Int) -> Bool {
        let (dx, dy) = (Double(x) - centerX, Double(y) - centerY)
        return dx * dx + dy * dy <= radius * radius
    }
}

/// A decoded peak in heatmap pixel coordinates (pixel centres at integers, as everywhere).
public struct HeatmapPeak: Equatable, Sendable {
    public var x: Double
    public var y: Double
    /// The argmax pixel the position was refined from.
    public var column: Int
    public var row: Int
    /// The heatmap's value at its argmax (DARK's smoothing is rescaled to keep that maximum).
    public var score: Float
}

extension HeatmapDecoder {
    /// Decodes one `width` x `height` heatmap (row-major). `sigma` is the Gaussian the targets
    /// were drawn with; DARK smooths with it. With `disc`, the peak is the highest pixel whose
    /// centre lies in it (the whole map's when none does); the refinement around it still reads
    /// the map beyond the disc.
    public func decode(
        _ heatmap: UnsafeBufferPointer<Float>, width: Int, height: Int, sigma: Double = 2,
        within disc: HeatmapDisc? = nil
    ) -> HeatmapPeak {
        precondition(heatmap.count >= width * height && width > 0 && height > 0, "heatmap buffer too small")
        var best = 0
        for index in 1..<(width * height) where heatmap[index] > heatmap[best] { best = index }
        if let disc, !disc.contains(x: best % width, y: best / width) {
            var inside: Int?
            for index in 0..<(width * height) where disc.contains(x: index % width, y: index / width) {
                if inside == nil || heatmap[index] > heatmap[inside!] { inside = index }
            }
            best = inside ?? best
        }
        let px = best % width
        let py = best / width
        let score = heatmap[best]
        func value(_ x: Int, _ y: Int) -> Float {
            heatmap[min(max(y, 0), height - 1) * width + min(max(x, 0), width - 1)]
        }
        switch self {
        case .argmax:
            return HeatmapPeak(x: Double(px), y: Double(py), column: px, row: py, score: score)
        case .quarter:
            var x = Double(px)
            var y = Double(py)
            if px > 0 && px < width - 1 { x += 0.25 * sign(Double(value(px + 1, py) - value(px - 1, py))) }
            if py > 0 && py < height - 1 { y += 0.25 * sign(Double(value(px, py + 1) - value(px, py - 1))) }
            return HeatmapPeak(x: x, y: y, column: px, row: py, score: score)
        case .dark:
            let offset = Self.darkOffset(heatmap, width: width, height: height, peakX: px, peakY: py, sigma: sigma)
            return HeatmapPeak(x: Double(px) + offset.x, y: Double(py) + offset.y, column: px, row: py, score: score)
        }
    }

    private func sign(_ value: Double) -> Double { value > 0 ? 1 : value < 0 ? -1 : 0 }

    /// DARK's Newton step from the argmax (px, py), on a 5x5 window around it.
    ///
    /// 1. Modulation: the window's values are the heatmap smoothed with a Gaussian of `sigma`
    ///    (a (6 sigma + 1)-wide kernel), then clamped below at 1e-10 and logged:
    ///    L = log(max(G * h, 1e-10)). Smoothing a Gaussian target keeps it a Gaussian with the same
    ///    centre, but only where the kernel sees no border; for a peak whose smoothing would reach
    ///    past the edge the raw heatmap is used instead, as a cut-off kernel would pull the peak
    ///    inwards.
    /// 2. Taylor expansion at the peak with central differences (exact for a quadratic, i.e. for
    ///    the log of a Gaussian):
    ///      dx = (L(x+1) - L(x-1)) / 2                dxx = (L(x+2) - 2 L(x) + L(x-2)) / 4
    ///      dxy = (L(x+1,y+1) - L(x-1,y+1) - L(x+1,y-1) + L(x-1,y-1)) / 4
    ///    offset = -H^-1 g with H = [[dxx, dxy], [dxy, dyy]], g = (dx, dy).
    /// Borders: samples beyond the heatmap edge come from the quadratic through the three nearest
    /// samples inside (so a Gaussian's log is continued exactly). The step is kept only when H is
    /// negative definite (a maximum) and it stays within one pixel; otherwise the offset is 0.
    static func darkOffset(
        _ heatmap: UnsafeBufferPointer<Float>, width: Int, height: Int, peakX: Int, peakY: Int, sigma: Double
    ) -> (x: Double, y: Double) {
        let radius = max(Int((3 * sigma).rounded(.up)), 1)
        let weights = (-radius...radius).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let modulate =
            peakX - 2 - radius >= 0 && peakX + 2 + radius < width && peakY - 2 - radius >= 0
            && peakY + 2 + radius < height
        // Smoothed value at (x, y), or the raw one near the border.
        func smoothed(_ x: Int, _ y: Int) -> Double {
            guard modulate else { return Double(heatmap[y * width + x]) }
            var total = 0.0
            var weightTotal = 0.0
            for dy in -radius...radius {
                let row = y + dy
                guard row >= 0 && row < height else { continue }
                for dx in -radius...radius {
                    let column = x + dx
                    guard column >= 0 && column < width else { continue }
                    let weight = weights[dy + radius] * weights[dx + radius]
                    total += weight * Double(heatmap[row * width + column])
                    weightTotal += weight
                }
            }
            return total / weightTotal
        }
        // The 5x5 log window around the peak; outside samples extrapolated quadratically.
        var log = [[Double]](repeating: [Double](repeating: 0, count: 5), count: 5)
        var inside = [[Bool]](repeating: [Bool](repeating: false, count: 5), count: 5)
        for j in 0..<5 {
            for i in 0..<5 {
                let x = peakX + i - 2
                let y = peakY + j - 2
                if x >= 0 && x < width && y >= 0 && y < height {
                    log[j][i] = Foundation.log(max(smoothed(x, y), 1e-10))
                    inside[j][i] = true
                }
            }
        }
        // Rows first, then columns: fill a missing sample from the three nearest inside it.
        func extrapolate(_ values: inout [Double], _ known: [Bool]) {
            let indices = (0..<5).filter { known[$0] }
            guard indices.count >= 3 else { return }
            let (a, b, c) = (indices[0], indices[1], indices[2])
            let (la, lb, lc) = (indices[indices.count - 3], indices[indices.count - 2], indices[indices.count - 1])
            for k in 0..<5 where !known[k] {
                let (p, q, r) = k < a ? (a, b, c) : (la, lb, lc)
                // Lagrange quadratic through (p, v_p), (q, v_q), (r, v_r), evaluated at k.
                let t = Double(k)
                let (tp, tq, tr) = (Double(p), Double(q), Double(r))
                values[k] =
                    values[p] * (t - tq) * (t - tr) / ((tp - tq) * (tp - tr))
                    + values[q] * (t - tp) * (t - tr) / ((tq - tp) * (tq - tr))
                    + values[r] * (t - tp) * (t - tq) / ((tr - tp) * (tr - tq))
            }
        }
        for j in 0..<5 where inside[j].contains(true) { extrapolate(&log[j], inside[j]) }
        let filledRows = (0..<5).map { inside[$0].contains(true) }
        for i in 0..<5 {
            var column = (0..<5).map { log[$0][i] }
            extrapolate(&column, filledRows)
            for j in 0..<5 { log[j][i] = column[j] }
        }
        guard filledRows.filter({ $0 }).count >= 3, inside[2].filter({ $0 }).count >= 3 else { return (0, 0) }
        let dx = 0.5 * (log[2][3] - log[2][1])
        let dy = 0.5 * (log[3][2] - log[1][2])
        let dxx = 0.25 * (log[2][4] - 2 * log[2][2] + log[2][0])
        let dyy = 0.25 * (log[4][2] - 2 * log[2][2] + log[0][2])
        let dxy = 0.25 * (log[3][3] - log[3][1] - log[1][3] + log[1][1])
        let determinant = dxx * dyy - dxy * dxy
        guard dxx < 0, determinant > 0 else { return (0, 0) }
        let offsetX = -(dyy * dx - dxy * dy) / determinant
        let offsetY = -(dxx * dy - dxy * dx) / determinant
        guard abs(offsetX) <= 1, abs(offsetY) <= 1 else { return (0, 0) }
        return (offsetX, offsetY)
    }
}

/// Target heatmaps: a Gaussian around a keypoint, in heatmap pixel coordinates (pixel centres at
/// integers), h(x, y) = exp(-((x - cx)^2 + (y - cy)^2) / (2 sigma^2)). The decoders invert exactly
/// this, so a perfect prediction decodes back to the label.
public enum HeatmapEncoder {
    public static func gaussian(centerX: Double, centerY: Double, sigma: Double, width: Int, height: Int) -> [Float] {
        var heatmap = [Float](repeating: 0, count: width * height)
        let scale = -1 / (2 * sigma * sigma)
        for y in 0..<height {
            let dy = Double(y) - centerY
            for x in 0..<width {
                let dx = Double(x) - centerX
                heatmap[y * width + x] = Float(exp((dx * dx + dy * dy) * scale))
            }
        }
        return heatmap
    }
}

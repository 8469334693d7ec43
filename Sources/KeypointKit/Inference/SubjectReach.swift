import Foundation

/// How far a subject's parts lie from the subject, so that a part whose peak lies far outside it
/// is taken for what it is, a false peak (the arena corner a rarely labeled part fired on), and
/// the part is looked for within the subject's reach instead.
///
/// Measured on the training labels (`measure`): each frame's labeled parts, at least two, in
/// network input pixels of the frame as trained without augmentation; the subject's centre is the
/// coordinate-wise median of them; the reach is the farthest any part lies from its frame's
/// centre, times the largest zoom of the training augmentation. A model records it as
/// `subject_reach`.
///
/// Applied to a pass framed as in training (`disc`): the centre is the coordinate-wise median of
/// every part's peak, which a minority of false peaks does not move far; a part whose peak lies
/// farther from it than `margin` times the reach plus three target sigmas is decoded from the
/// highest pixel within that distance. Parts within it keep their peaks, so a subject whose parts
/// agree decodes exactly as without it.
public enum SubjectReach {
    /// Room beyond the farthest labeled part, for poses the labels did not show.
    public static let margin = 1.5
    /// Fewer parts leave no median a false peak cannot drag.
    public static let minimumParts = 3

    /// A model's `reach` and what it does, for `info` and the start of `train`.
    public static func describe(_ reach: Double) -> String {
        String(format: "%.0f input px: a part peaking beyond %.1fx that from the other parts", reach, margin)
            + " is looked for within it"
    }

    /// The reach of `frames` (each frame's labeled parts in input pixels) at zoom `maxZoom`; nil
    /// when no frame has two labeled parts.
    public static func measure(frames: [[Point]], maxZoom: Double) -> Double? {
        let distances = frames.filter { $0.count >= 2 }.map { parts -> Double in
            let centre = median(parts)
            return parts.map { hypot($0.x - centre.x, $0.y - centre.y) }.max()!
        }
        return distances.max().map { $0 * max(maxZoom, 1) }
    }

    /// The disc, in heatmap pixels, that parts of a subject whose peaks are `peaks` (heatmap
    /// pixels) lie in, for a model of `reach` input pixels, heatmap `stride` and target `sigma`
    /// (heatmap pixels); nil for fewer than `minimumParts` peaks.
    public static func disc(peaks: [Point], reach: Double, stride: Int, sigma: Double) -> HeatmapDisc? {
        guard peaks.count >= minimumParts else { return nil }
        let centre = median(peaks)
        return HeatmapDisc(centerX: centre.x, centerY: centre.y, radius: margin * reach / Double(stride) + 3 * sigma)
    }

    /// The coordinate-wise median (the mean of the middle two for an even count).
    static func median(_ points: [Point]) -> Point {
        func middle(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            let half = sorted.count / 2
            return sorted.count % 2 == 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2
        }
        return Point(x: middle(points.map(\.x)), y: middle(points.map(\.y)))
    }
}

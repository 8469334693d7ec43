/// Frames whose left/right labels are the mirror of a model's predictions: most of their
/// left/right parts are found only once each pair's labels are exchanged. One such clip among
/// the bees (video 612: PCK@0.2 0.28 as labeled, 0.95 exchanged, against 0.92-0.96 for the other
/// clips) costs a model that learned the labels' majority side those frames whatever it learns,
/// and teaches it the wrong side where such frames are trained on; the fix is to relabel them.
public struct MirroredLabels: Sendable {
    /// A frame, and how many of its paired points the predictions find (within the PCK
    /// threshold) as labeled and with each pair's labels exchanged, of `paired` points.
    public struct Frame: Equatable, Sendable {
        public var image: String
        public var paired: Int
        public var foundAsLabeled: Int
        public var foundExchanged: Int
    }

    /// The frames judged mirrored, in the labels' order.
    public var frames: [Frame]
    /// The frames with at least two paired points labeled and predicted: those judged at all.
    public var checked: Int

    /// A frame is judged mirrored when exchanging its pairs finds at least half of its paired
    /// points more than the labels as given (the bees' video 612: about 20 of 28 more): a part the
    /// model misses is missed in both readings, so only the sides swapped moves so many points.
    /// Points are paired parts labeled and predicted (both sides predicted); `threshold` is
    /// the PCK distance in units of `normalizer` (0.2 of the labels' box in `train`).
    public init(
        samples: [LabeledSample], predictions: [[PredictedPoint?]], pairs: [[Int]], normalizer: PCKNormalizer,
        threshold: Double = 0.2
    ) {
        let partner = FlipPairs.partners(pairs, count: samples.map(\.points.count).max() ?? 0)
        frames = []
        checked = 0
        for (sample, predicted) in zip(samples, predictions) {
            guard let scale = normalizer.scale(sample) else { continue }
            let reach = threshold * scale
            var frame = Frame(image: sample.image, paired: 0, foundAsLabeled: 0, foundExchanged: 0)
            for (k, other) in partner.enumerated()
            where other != k && k < sample.points.count && max(k, other) < predicted.count {
                guard let truth = sample.points[k], let same = predicted[k], let swapped = predicted[other] else {
                    continue
                }
                frame.paired += 1
                if same.distance(to: truth) <= reach { frame.foundAsLabeled += 1 }
                if swapped.distance(to: truth) <= reach { frame.foundExchanged += 1 }
            }
            guard frame.paired >= 2 else { continue }
            checked += 1
            if 2 * (frame.foundExchanged - frame.foundAsLabeled) >= frame.paired { frames.append(frame) }
        }
    }

    /// What to tell the user, or nil when no frame is judged mirrored. A few such frames are
    /// named for relabeling; when they are over half of those checked, the model (or the
    /// majority of the labels) is what confuses the sides, and the message says so instead.
    public var warning: String? {
        guard !frames.isEmpty else { return nil }
        if 2 * frames.count > checked {
            return
                "in \(frames.count) of \(checked) frames the model places most left/right parts on the other side: the labels may name the sides differently from one another (check which side each pair's first name is), or the sides cannot be told apart in these images"
        }
        let shown = 12
        let list = frames.prefix(shown).map {
            "\($0.image) (\($0.foundAsLabeled) of \($0.paired) left/right points found as labeled, \($0.foundExchanged) with left and right exchanged)"
        }
        let more = frames.count > shown ? "\n  and \(frames.count - shown) more" : ""
        return
            "\(frames.count) of \(checked) frames have labels that fit far better with left and right exchanged: check their left/right labels and relabel those that are swapped (a swapped frame teaches the wrong side and is scored as a miss):\n  "
            + list.joined(separator: "\n  ") + more
    }
}

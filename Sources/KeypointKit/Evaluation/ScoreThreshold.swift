/// The score that best tells a model's points from the rest, from predictions on labeled
/// samples: what a model records as `score_threshold` so that tables and overlays hide what is
/// probably wrong or not there.
///
/// Two questions, one rule. Found or not (`init(samples:predictions:normalizer:)`): a labeled
/// point predicted within `pck` times its sample's normaliser (PCK's test) against one predicted
/// farther off, and the prediction of a part the sample leaves unlabeled (in DeepLabCut's and
/// COCO's labels: not visible, often not in the picture), unless the samples label that part in
/// fewer than half of them: such a part is one the labels skip rather than mark absent (a tail
/// labeled in 6 of 44 frames is in the other 38 too), and its unlabeled predictions count in
/// neither class. In the picture or not
/// (`init(whole:cut:predictions:)`): on images cut at an edge, the labeled parts the cut kept
/// against those it cut away, wherever they were predicted. The threshold maximises the balanced
/// accuracy, the mean of the share of the first class at or above it and of the second below
/// it, over the midpoints between neighbouring scores (so each class counts alike however many
/// points it has); nil with fewer than `minimum` of either.
public struct ScoreThreshold: Equatable, Sendable {
    public var threshold: Double
    /// The balanced accuracy at `threshold`, and the counts it comes from: points to show
    /// (`found`: found, or in the picture) and to hide (`notFound`).
    public var balancedAccuracy: Double
    public var found: Int
    public var notFound: Int

    /// Found points against the rest.
    public init?(
        samples: [LabeledSample], predictions: [[PredictedPoint?]], normalizer: PCKNormalizer, pck: Double = 0.2,
        minimum: Int = 5
    ) {
        let parts = predictions.map(\.count).max() ?? 0
        let markedAbsent = (0..<parts).map { k in
            2 * samples.filter { k < $0.points.count && $0.points[k] != nil }.count >= samples.count
        }
        var scored: [(score: Double, shown: Bool)] = []
        for (sample, predicted) in zip(samples, predictions) {
            let scale = normalizer.scale(sample)
            for (k, point) in predicted.enumerated() {
                guard let point else { continue }
                guard k < sample.points.count, let truth = sample.points[k] else {
                    if markedAbsent[k] { scored.append((point.score, false)) }
                    continue
                }
                guard let scale else { continue }
                scored.append((point.score, point.distance(to: truth) <= pck * scale))
            }
        }
        self.init(scored, minimum: minimum)
    }

    /// Parts in the picture against parts cut out of it: `cut` holds `whole`'s samples with the
    /// parts beyond each image's cut unlabeled, `predictions` the predictions on the cut images.
    /// Parts `whole` leaves unlabeled count in neither class.
    public init?(whole: [LabeledSample], cut: [LabeledSample], predictions: [[PredictedPoint?]], minimum: Int = 5) {
        self.init(Self.partsInPicture(whole: whole, cut: cut, predictions: predictions), minimum: minimum)
    }

    /// Each part `whole` labels, scored on its cut image, and whether the cut kept it.
    static func partsInPicture(whole: [LabeledSample], cut: [LabeledSample], predictions: [[PredictedPoint?]])
        -> [(score: Double, shown: Bool)]
    {
        var scored: [(score: Double, shown: Bool)] = []
        for ((original, kept), predicted) in zip(zip(whole, cut), predictions) {
            for (k, point) in original.points.enumerated() where point != nil {
                scored.append((k < predicted.count ? predicted[k]?.score ?? 0 : 0, kept.points[k] != nil))
            }
        }
        return scored
    }

    /// The threshold over scored points, each to show or to hide.
    init?(_ scored: [(score: Double, shown: Bool)], minimum: Int = 5) {
        let found = scored.filter(\.shown).count, notFound = scored.count - found
        guard found >= minimum, notFound >= minimum else { return nil }
        // Sweep the scores from the lowest: below a candidate lie the points it hides.
        let sorted = scored.sorted { $0.score < $1.score }
        var (hiddenFound, hiddenRest) = (0, 0)
        var best = (accuracy: 0.5, threshold: sorted[0].score)  // hiding nothing
        for index in 0..<(sorted.count - 1) {
            if sorted[index].shown { hiddenFound += 1 } else { hiddenRest += 1 }
            guard sorted[index].score < sorted[index + 1].score else { continue }
            let accuracy =
                (Double(found - hiddenFound) / Double(found) + Double(hiddenRest) / Double(notFound)) / 2
            if accuracy > best.accuracy {
                best = (accuracy, (sorted[index].score + sorted[index + 1].score) / 2)
            }
        }
        (threshold, balancedAccuracy, self.found, self.notFound) = (best.threshold, best.accuracy, found, notFound)
    }
}

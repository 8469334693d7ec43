import Foundation

/// Validation figures: mean pixel error at the images' original resolution, and PCK@0.2, over
/// all points and per keypoint.
public struct ValidationResult: Sendable {
    public var meanError: Double?
    public var pck: Double?
    public var normalizer: String
    /// Per keypoint (model order): mean pixel error and PCK@0.2; nil where none is labeled.
    public var keypointErrors: [Double?] = []
    public var keypointPCK: [Double?] = []
    /// How many images the figures come from.
    public var images = 0
    /// The score threshold these predictions call for (nil: too few of either class): found
    /// points against the rest; with cut-off training, parts in the picture against parts cut
    /// out of it (`CutOffScores`).
    public var scoreThreshold: ScoreThreshold?
    /// With cut-off training, how the threshold splits the validation images cut at an edge.
    public var cutOff: CutOffScores?
}

/// How a score threshold splits the parts of images cut off at an edge through the subject
/// (`EdgeCut`, one deterministic cut per validation image): the parts cut away should score
/// below it, those kept above. Issue 16's measure of a model that knows what is not in the
/// picture.
public struct CutOffScores: Equatable, Sendable {
    /// Cut-away parts (labeled in the whole image) and the share of them scored below the threshold.
    public var outside: Int
    public var outsideBelow: Double
    /// Kept labeled parts and the share of them scored at or above it.
    public var inside: Int
    public var insideAbove: Double

    /// `parts`: `ScoreThreshold.partsInPicture`'s scores, each kept by the cut (shown) or not.
    init(threshold: Double, parts scored: [(score: Double, shown: Bool)]) {
        let inside = scored.filter(\.shown), outside = scored.filter { !$0.shown }
        self.outside = outside.count
        outsideBelow =
            outside.isEmpty ? 0 : Double(outside.filter { $0.score < threshold }.count) / Double(outside.count)
        self.inside = inside.count
        insideAbove = inside.isEmpty ? 0 : Double(inside.filter { $0.score >= threshold }.count) / Double(inside.count)
    }
}

extension Trainer {
    /// Mean error in original image pixels and PCK@0.2 on the validation samples (whole image or
    /// box, no augmentation, as `eval` runs it), of the averaged weights when the run keeps them.
    /// With cut-off training (`Augmentation.cutoff`), the score threshold is chosen on the
    /// validation images cut at an edge (`validationCut`): what a model trained so must tell is
    /// whether a part is in the picture, so the parts the cut kept are to show and those it cut
    /// away to hide. The error and PCK stay those of the whole images.
    public func validate(threads: Int) throws -> ValidationResult {
        guard settings.augmentation.cutoff > 0, !validation.isEmpty else {
            return try evaluate(validation, threads: threads)
        }
        let whole = try predict(validation, cut: false, threads: threads)
        let cut = try predict(validation, cut: true, threads: threads)
        var result = figures(whole.samples, whole.predictions)
        let parts = ScoreThreshold.partsInPicture(whole: whole.samples, cut: cut.samples, predictions: cut.predictions)
        result.scoreThreshold = ScoreThreshold(parts)
        result.cutOff = result.scoreThreshold.map { CutOffScores(threshold: $0.threshold, parts: parts) }
        return result
    }

    /// The same figures on up to `limit` training samples, evenly spaced over the training set
    /// (the same ones every epoch): the training error DeepLabCut users read beside validation's.
    public func trainingError(threads: Int, limit: Int = 20) throws -> ValidationResult {
        let step = max(1, (train.count + limit - 1) / limit)
        return try evaluate(
            Array(train.sorted().enumerated().filter { $0.offset % step == 0 }.map(\.element)), threads: threads)
    }

    /// `validate`'s figures on the samples at `indices`.
    public func evaluate(_ indices: [Int], threads: Int) throws -> ValidationResult {
        guard !indices.isEmpty else {
            return ValidationResult(
                meanError: nil, pck: nil, normalizer: PCKNormalizer.standard(for: model.keypointNames).description)
        }
        let (samples, predictions) = try predict(indices, cut: false, threads: threads)
        return figures(samples, predictions)
    }

    /// The labeled frames, training and validation, whose labels fit `model`'s predictions far
    /// better with left and right exchanged (`MirroredLabels`; `train` passes the model it wrote).
    public func mirroredLabels(of model: Model, threads: Int) throws -> MirroredLabels {
        let (samples, predictions) = try predict(
            (train + validation).sorted(), cut: false, threads: threads, model: model)
        return MirroredLabels(
            samples: samples, predictions: predictions, pairs: model.flipPairs,
            normalizer: PCKNormalizer.standard(for: model.keypointNames))
    }

    /// The figures of `predictions` on `samples`.
    private func figures(_ samples: [LabeledSample], _ predictions: [[PredictedPoint?]]) -> ValidationResult {
        let names = model.keypointNames
        let normalizer = PCKNormalizer.standard(for: names)
        let set = LabeledSet(
            format: data.labels.format, keypointNames: names, samples: samples, skeleton: [], images: [:])
        let report = EvaluationReport(
            labels: set, predictions: predictions, thresholds: [0.2], normalizer: normalizer,
            pcutoff: nil, sigmas: nil)
        return ValidationResult(
            meanError: report.meanError, pck: report.pck[0], normalizer: normalizer.description,
            keypointErrors: report.keypoints.map(\.meanError), keypointPCK: report.keypoints.map { $0.pck[0] },
            images: samples.count,
            scoreThreshold: ScoreThreshold(samples: samples, predictions: predictions, normalizer: normalizer))
    }

    /// The averaged model's (or `model`'s) predictions on the samples at `indices`, in original image pixels,
    /// and the samples they are scored against. With `cut`, each image (one without a box) is
    /// first cut at an edge through its labeled points (`validationCut`): the picture then ends
    /// there, and the parts beyond it are unlabeled in the sample returned.
    func predict(_ indices: [Int], cut: Bool, threads: Int, model: Model? = nil) throws -> (
        samples: [LabeledSample], predictions: [[PredictedPoint?]]
    ) {
        // Images in parallel, a one-thread predictor each: a small network on one image scales
        // poorly over threads, and a prediction does not depend on them.
        let validated = model ?? currentModel(averaged: true)
        let workers = max(1, min(threads, indices.count))
        let predictors = try (0..<workers).map { _ in try Predictor(model: validated, threads: 1) }
        let predicted = ResultSlots<(LabeledSample, [PredictedPoint?])>(count: indices.count)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for slot in stride(from: worker, to: indices.count, by: workers) {
                predicted.set(
                    slot,
                    Result {
                        let index = indices[slot]
                        let training = data.samples[index]
                        var sample = LabeledSample(
                            image: training.path, points: training.points, box: training.box, isCrowd: false)
                        var (image, scale) = try data.image(index)
                        var origin = (x: 0, y: 0)
                        if cut, training.box == nil, let edge = validationCut(index, scale: scale) {
                            (image, origin.x, origin.y) = edge.kept(of: image)
                            sample.points = sample.points.map { point in
                                point.flatMap {
                                    edge.removes(Point(x: ($0.x + 0.5) * scale - 0.5, y: ($0.y + 0.5) * scale - 0.5))
                                        ? nil : $0
                                }
                            }
                        }
                        let region = training.box.map { Region(instanceBox: $0, scale: scale) }
                        let points = predictors[worker].predict(image, box: region).map {
                            PredictedPoint(
                                x: ($0.x + Double(origin.x) + 0.5) / scale - 0.5,
                                y: ($0.y + Double(origin.y) + 0.5) / scale - 0.5, score: Double($0.score))
                        }
                        return (sample, points)
                    })
            }
        }
        let results = try predicted.results()
        return (results.map(\.0), results.map(\.1))
    }

    /// The validation cut of the sample at `index`: one edge cut (`Augmentation.edgeCut`, as
    /// training draws them) through its labeled points in the decoded image's pixels (`scale`
    /// times the original), drawn from the run's seed and the index, so every epoch and every
    /// resumed run cuts the same way.
    func validationCut(_ index: Int, scale: Double) -> EdgeCut? {
        var always = settings.augmentation
        always.cutoff = 1
        var random = SplitMix64(seed: settings.seed &* 0x9E37_79B9 &+ UInt64(index))
        let points = data.samples[index].points.compactMap { $0 }.map {
            Point(x: ($0.x + 0.5) * scale - 0.5, y: ($0.y + 0.5) * scale - 0.5)
        }
        return always.edgeCut(through: points, random: &random)
    }
}

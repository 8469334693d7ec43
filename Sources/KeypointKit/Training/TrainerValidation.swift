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
    /// The score threshold these predictions call for (nil: too few found or missed points).
    public var scoreThreshold: ScoreThreshold?
}

extension Trainer {
    /// Mean error in original image pixels and PCK@0.2 on the validation samples (whole image or
    /// box, no augmentation, as `eval` runs it), of the averaged weights when the run keeps them.
    public func validate(threads: Int) throws -> ValidationResult {
        try evaluate(validation, threads: threads)
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
        let validation = indices
        let names = model.keypointNames
        let normalizer = PCKNormalizer.standard(for: names)
        guard !validation.isEmpty else {
            return ValidationResult(meanError: nil, pck: nil, normalizer: normalizer.description)
        }
        // Images in parallel, a one-thread predictor each: a small network on one image scales
        // poorly over threads, and a prediction does not depend on them.
        let validated = currentModel(averaged: true)
        let workers = max(1, min(threads, validation.count))
        let predictors = try (0..<workers).map { _ in try Predictor(model: validated, threads: 1) }
        let predicted = ResultSlots<[PredictedPoint?]>(count: validation.count)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for slot in stride(from: worker, to: validation.count, by: workers) {
                predicted.set(
                    slot,
                    Result {
                        let index = validation[slot]
                        let (image, scale) = try data.image(index)
                        let region = data.samples[index].box.map { Region(instanceBox: $0, scale: scale) }
                        return predictors[worker].predict(image, box: region).map {
                            PredictedPoint(
                                x: ($0.x + 0.5) / scale - 0.5, y: ($0.y + 0.5) / scale - 0.5, score: Double($0.score))
                        }
                    })
            }
        }
        let predictions = try predicted.results()
        let samples = validation.map { index in
            let sample = data.samples[index]
            return LabeledSample(image: sample.path, points: sample.points, box: sample.box, isCrowd: false)
        }
        let set = LabeledSet(
            format: data.labels.format, keypointNames: names, samples: samples, skeleton: [], images: [:])
        let report = EvaluationReport(
            labels: set, predictions: predictions, thresholds: [0.2], normalizer: normalizer,
            pcutoff: nil, sigmas: nil)
        return ValidationResult(
            meanError: report.meanError, pck: report.pck[0], normalizer: normalizer.description,
            keypointErrors: report.keypoints.map(\.meanError), keypointPCK: report.keypoints.map { $0.pck[0] },
            images: validation.count,
            scoreThreshold: ScoreThreshold(samples: samples, predictions: predictions, normalizer: normalizer))
    }
}

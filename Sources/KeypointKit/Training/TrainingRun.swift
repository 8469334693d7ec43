import Foundation

/// A training run from where its checkpoint stands to its last epoch, as `keypoints train` runs
/// it: the steps of each epoch in the seeded order, validation at each epoch's end (or every
/// `validateEvery` epochs and at the last), the best
/// epoch's model (by `settings.bestBy`, with its provenance) written to `modelPath`, and the
/// checkpoint written to `checkpointPath` at each epoch's end, before each validation, every
/// `checkpointInterval` seconds within an epoch, and when the caller asks the run to stop.
/// Continuing from any of those checkpoints ends with the same model as an uninterrupted run.
/// A run with a time limit (`TrainingSettings.timeLimit`, the recipe's) times its first steps
/// on this machine and, if the planned epochs would not fit, ends sooner: the one exception,
/// as it depends on the machine's pace.
public final class TrainingRun {
    /// Where an epoch stands, after each step.
    public struct StepReport: Sendable {
        /// 1-based, as printed.
        public var epoch: Int
        public var step: Int
        /// The mean training loss of this epoch's steps so far (this session's).
        public var meanLoss: Float
        public var imagesPerSecond: Double
        public var secondsLeft: Double
    }

    /// An epoch's end.
    public struct EpochReport: Sendable {
        /// 1-based, as printed.
        public var epoch: Int
        /// The mean training loss of the epoch's steps run in this session (nil if none).
        public var meanLoss: Float?
        public var validation: ValidationResult
        /// The same figures on up to 20 training samples (the same every epoch).
        public var training: ValidationResult
        /// Whether this epoch's model was written as the best so far.
        public var isBest: Bool
    }

    public enum Progress: Sendable {
        case step(StepReport)
        case epoch(EpochReport)
        /// The run was cut from `from` to `to` epochs to end within its time limit of
        /// `limitSeconds`: the planned ones would have taken about `projectedSeconds` here.
        case shortened(from: Int, to: Int, projectedSeconds: Double, limitSeconds: Double)
    }

    public enum Outcome: Sendable {
        case finished
        /// Stopped on request; the checkpoint holds the step reached.
        case stopped
    }

    public private(set) var checkpoint: Checkpoint
    public let trainer: Trainer
    public let modelPath: String
    public var checkpointPath: String { modelPath + ".checkpoint" }
    /// Seconds between checkpoints within an epoch.
    public var checkpointInterval: Double = 600
    /// Steps timed before a time limit is checked, or a tenth of the run if more: the first
    /// steps and validations run slower than the rest (a check after 80 of 1860 steps projected
    /// 22 minutes for a run that then went at a pace of 20).
    public var stepsToTime = 50
    /// The time the run measures itself by (tests move it on to play a machine slowing down).
    public var clock: () -> Date = Date.init
    /// The threads training steps and validation run on.
    public let threads: Int

    /// - Throws: `InputError` when the settings cannot train on `data` (see `Trainer`).
    public init(checkpoint: Checkpoint, data: TrainingData, modelPath: String, threads: Int = ThreadPool.availableCores)
        throws
    {
        var checkpoint = checkpoint
        if checkpoint.model.skeleton.isEmpty {  // runs started before the standard skeletons existed
            let labeled = data.labels.skeleton
            checkpoint.model.skeleton = labeled.isEmpty ? Skeletons.standard(for: data.labels.keypointNames) : labeled
        }
        trainer = try Trainer(model: checkpoint.model, data: data, settings: checkpoint.settings, threads: threads)
        trainer.optimizer = checkpoint.optimizer
        trainer.average = checkpoint.average
        trainer.averageSteps = checkpoint.averageSteps
        self.checkpoint = checkpoint
        self.modelPath = modelPath
        self.threads = threads
    }

    /// Trains to the last epoch, or until `shouldStop` (asked before each step and each
    /// validation) returns true;
    /// `progress` hears of each step and each epoch's validation.
    public func run(shouldStop: () -> Bool = { false }, progress: (Progress) -> Void = { _ in }) throws -> Outcome {
        var settings = checkpoint.settings
        let stepsPerEpoch = trainer.stepsPerEpoch
        var totalSteps = settings.epochs * stepsPerEpoch
        let firstStep = checkpoint.epoch * stepsPerEpoch + checkpoint.stepInEpoch
        let start = clock()
        let previousSeconds = checkpoint.seconds
        var lastCheckpoint = start
        var imagesSeen = 0
        func seconds() -> Double { previousSeconds + clock().timeIntervalSince(start) }
        /// The run so far, to continue from step `step` of `epoch` (both 0-based).
        func writeCheckpoint(epoch: Int, step: Int) throws {
            checkpoint.model = trainer.currentModel(provenance: checkpoint.model.provenance)
            checkpoint.optimizer = trainer.optimizer
            checkpoint.average = trainer.average
            checkpoint.averageSteps = trainer.averageSteps
            checkpoint.epoch = epoch
            checkpoint.stepInEpoch = step
            checkpoint.seconds = seconds()
            try checkpoint.write(to: checkpointPath)
            lastCheckpoint = clock()
        }
        for epoch in checkpoint.epoch..<settings.epochs {
            guard epoch < settings.epochs else { break }  // shortened to fit the time limit
            let order = trainer.order(epoch: epoch)
            var (lossSum, steps): (Float, Int) = (0, 0)
            for step in checkpoint.stepInEpoch..<stepsPerEpoch {
                if shouldStop() {
                    try writeCheckpoint(epoch: epoch, step: step)
                    return .stopped
                }
                if clock().timeIntervalSince(lastCheckpoint) >= checkpointInterval {
                    try writeCheckpoint(epoch: epoch, step: step)
                }
                let indices = Array(order[(step * settings.batch)..<min((step + 1) * settings.batch, order.count)])
                let globalStep = epoch * stepsPerEpoch + step
                lossSum += try trainer.step(indices, epoch: epoch, globalStep: globalStep, totalSteps: totalSteps)
                steps += 1
                imagesSeen += indices.count
                let rate = Double(imagesSeen) / max(clock().timeIntervalSince(start), 1e-9)
                progress(
                    .step(
                        StepReport(
                            epoch: epoch + 1, step: step + 1, meanLoss: lossSum / Float(steps),
                            imagesPerSecond: rate,
                            secondsLeft: Double(totalSteps - globalStep - 1) * Double(settings.batch) / max(rate, 1e-9))
                    ))
            }
            checkpoint.stepInEpoch = 0
            guard (epoch + 1) % (settings.validateEvery ?? 1) == 0 || epoch + 1 == settings.epochs else {
                try writeCheckpoint(epoch: epoch + 1, step: 0)
                continue
            }
            // The epoch's steps are kept before its validation, which takes minutes on a large
            // set: a run stopped here, or killed during it, resumes with the validation.
            try writeCheckpoint(epoch: epoch, step: stepsPerEpoch)
            if shouldStop() { return .stopped }
            let result = try trainer.validate(threads: threads)
            let training = try trainer.trainingError(threads: threads)
            let improved: Bool
            switch settings.bestBy ?? .error {
            case .error:
                improved = checkpoint.bestError.map { (result.meanError ?? .infinity) < $0 } ?? true
            case .pck:
                improved = checkpoint.bestPCK.map { (result.pck ?? -1) > $0 } ?? true
            }
            let isBest =
                Self.keepsAsBest(epoch: epoch + 1, of: settings.epochs, improved: improved, bestEpoch: checkpoint.bestEpoch)
                || trainer.validation.isEmpty
            if isBest {
                try writeBest(epoch: epoch + 1, result: result, seconds: seconds())
            }
            progress(
                .epoch(
                    EpochReport(
                        epoch: epoch + 1, meanLoss: steps == 0 ? nil : lossSum / Float(steps),
                        validation: result, training: training, isBest: isBest)))
            try writeCheckpoint(epoch: epoch + 1, step: 0)
            if let cut = try fitTimeLimit(
                epochsDone: epoch + 1, stepsTimed: (epoch + 1) * stepsPerEpoch - firstStep,
                secondsTimed: clock().timeIntervalSince(start), secondsBefore: previousSeconds)
            {
                settings = checkpoint.settings
                totalSteps = settings.epochs * stepsPerEpoch
                progress(.shortened(from: cut.from, to: cut.to, projectedSeconds: cut.projected, limitSeconds: cut.limit))
            }
        }
        return .finished
    }

    /// After a validated epoch: once `stepsTimed` steps (this session's, validation included, in
    /// `secondsTimed`) are enough to time the machine, the epochs that fit the time limit at
    /// that pace, if fewer than planned (at least one more than done); the cut is applied and
    /// recorded in the checkpoint. The limit stays: every later validation times the pace again,
    /// so a machine that slows down after the first timing is cut again (a shared one: openfield
    /// seed 2 went from 29 to 20 images/s and took 1262 s where the limit planned 1020), and a
    /// resumed run counts its earlier sessions' seconds.
    private func fitTimeLimit(epochsDone: Int, stepsTimed: Int, secondsTimed: Double, secondsBefore: Double) throws
        -> (from: Int, to: Int, projected: Double, limit: Double)?
    {
        let settings = checkpoint.settings
        let stepsPerEpoch = trainer.stepsPerEpoch
        let total = settings.epochs * stepsPerEpoch
        guard let limit = settings.timeLimit, stepsTimed >= max(stepsToTime, total / 10, 1) else {
            return nil
        }
        let perStep = secondsTimed / Double(stepsTimed)
        let projected = secondsBefore + secondsTimed + perStep * Double(total - epochsDone * stepsPerEpoch)
        var epochs = settings.epochs
        if projected > limit {
            let affordable = Int((limit - secondsBefore - secondsTimed) / perStep) + epochsDone * stepsPerEpoch
            epochs = min(settings.epochs, max(epochsDone + 1, affordable / stepsPerEpoch))
        }
        guard epochs < settings.epochs else { return nil }
        try checkpoint.apply(.epochs(epochs))
        try checkpoint.write(to: checkpointPath)
        return (settings.epochs, epochs, projected, limit)
    }

    /// Writes the model after `epoch` epochs as the best, with its validation figures in the
    /// provenance, and remembers them in the checkpoint.
    private func writeBest(epoch: Int, result: ValidationResult, seconds: Double) throws {
        let settings = checkpoint.settings
        checkpoint.bestError = result.meanError
        checkpoint.bestPCK = result.pck
        checkpoint.bestEpoch = epoch
        var provenance = checkpoint.model.provenance
        provenance["epochs"] = "\(epoch) of \(settings.epochs) (best)"
        provenance["validation_mean_error_px"] = result.meanError.map { String(format: "%.3f", $0) } ?? "none"
        provenance["validation_pck_0.2"] = result.pck.map { String(format: "%.4f", $0) } ?? "none"
        provenance["pck_normalizer"] = result.normalizer
        provenance["wall_time_s"] = String(format: "%.0f", seconds)
        provenance["samples"] = "\(trainer.train.count) train, \(trainer.validation.count) validation"
        if let decay = settings.averageDecay {
            provenance["weights"] = "moving average over \(trainer.averageSteps) steps, decay \(decay)"
        }
        var best = trainer.currentModel(provenance: provenance, averaged: true)
        if let threshold = Self.recordedThreshold(result), let chosen = result.scoreThreshold {
            best.scoreThreshold = threshold
            best.provenance["score_threshold"] = Self.describe(chosen, result.cutOff)
        }
        try best.write(to: modelPath)
    }
}

extension TrainingRun {
    /// Whether validated epoch `epoch` (1-based) of `epochs` replaces the model kept so far (from
    /// `bestEpoch`): when its validation `improved` on it, or when it is the first epoch after the
    /// run's first quarter and the kept one lies in that quarter. Early epochs are kept only until
    /// a later one is validated: a network that has not yet fit its training frames scores best on
    /// validation frames only when those are unlike them (the bees from fresh weights, validated
    /// on other videos' bees: lowest at epoch 6 of 105, with 55.7 px of training error against 5.5
    /// at the end; that epoch's model missed the held-out frames by 84.9 px mean).
    public static func keepsAsBest(epoch: Int, of epochs: Int, improved: Bool, bestEpoch: Int?) -> Bool {
        let early = { (epoch: Int) in epoch <= epochs / 4 }
        return improved || (!early(epoch) && bestEpoch.map(early) ?? true)
    }

    /// The score threshold a model validated with `result` records, to 3 decimals in 0-1 (peaks
    /// may pass 1). None when it tells found from missed points little better than chance (a
    /// balanced accuracy below 0.6): it would only hide points at random.
    public static func recordedThreshold(_ result: ValidationResult) -> Double? {
        guard let chosen = result.scoreThreshold, chosen.balancedAccuracy >= 0.6 else { return nil }
        return min(max((chosen.threshold * 1000).rounded() / 1000, 0), 1)
    }

    /// Where a score threshold comes from, as the model's provenance and `train`'s last lines say it.
    public static func describe(_ threshold: ScoreThreshold, _ cutOff: CutOffScores?) -> String {
        guard let cutOff else {
            return String(
                format: "from validation: balanced accuracy %.3f over %d points found and %d not",
                threshold.balancedAccuracy, threshold.found, threshold.notFound)
        }
        return String(
            format:
                "from validation images cut at an edge: balanced accuracy %.3f; %.0f%% of %d parts cut away score below it, %.0f%% of %d kept above",
            threshold.balancedAccuracy, 100 * cutOff.outsideBelow, cutOff.outside, 100 * cutOff.insideAbove,
            cutOff.inside)
    }
}

extension LabeledSet {
    /// The labeled set a run trains on: `labels`, with `validation`'s samples appended and marked
    /// as the validation split (their image paths resolved against their own file) when given.
    public static func forTraining(labels: String, validation: String?, imagesRoot: String?) throws -> LabeledSet {
        var set = try LabeledSet.load(contentsOf: labels)
        guard let validation else { return set }
        let held = try LabeledSet.load(contentsOf: validation)
        guard held.keypointNames == set.keypointNames else {
            throw LabelError.malformed(
                path: validation, line: nil,
                reason:
                    "the validation set has keypoints \(held.keypointNames.joined(separator: ",")) but the labels have \(set.keypointNames.joined(separator: ","))"
            )
        }
        for index in set.samples.indices { set.samples[index].split = "train" }
        let here = FileManager.default.currentDirectoryPath
        for var sample in held.samples {
            let path = LabeledSet.imagePath(sample.image, labelsPath: validation, imagesRoot: imagesRoot)
            sample.image = path.hasPrefix("/") ? path : (here as NSString).appendingPathComponent(path)
            sample.split = "val"
            set.samples.append(sample)
        }
        return set
    }
}

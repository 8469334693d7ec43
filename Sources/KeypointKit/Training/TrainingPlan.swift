import Foundation

/// A new training run, built from a labeled set and what the user chose (nil: the plan decides):
/// the network of the default family, the settings, and the model's metadata and provenance.
///
/// Frames over four times the default input's area (a small animal in a large frame,
/// DeepLabCut's usual case) get the built-in mouse model's recipe, unless the input or the crop
/// is chosen: the network at full resolution (`fullResolutionInput`), trained on 192x192 windows,
/// width 16, one block per stage, batch 8, learning rate 5e-3, foreground weight 20, 150 epochs;
/// each of these still gives way to a choice.
public struct TrainingPlan: Sendable {
    public struct Choices: Sendable {
        /// The network input, [width, height], multiples of 32.
        public var input: [Int]?
        /// The training windows, [width, height], multiples of 32 no larger than the input.
        public var crop: [Int]?
        public var width: Int?
        public var depths: [Int]?
        public var heatmapStride = 4
        public var coordinates = true
        public var epochs: Int?
        public var batch: Int?
        public var learningRate: Double?
        public var foregroundWeight: Double?
        /// The validation fraction without a split in the labels; nil: 5%, at least 10 frames (at
        /// most a fifth of the set).
        public var validationFraction: Double?
        public var seed: UInt64 = 1
        public var sigma = 2.0
        public var occlusion = 0.0
        public var mirror = true
        /// [min, max] of the zoom augmentation.
        public var zoom: [Double]?
        /// Left/right pairs as keypoint indices; nil infers them from the names (`FlipPairs.infer`).
        public var flipPairs: [[Int]]?
        public var keypointWeights: [Double]?
        public var averageDecay: Double?
        public var bestBy: TrainingSettings.BestBy?
        public var secondPass: Double?
        public var flipTest: Bool?

        public init() {}
    }

    public var architecture: Architecture
    public var settings: TrainingSettings
    public var flipPairs: [[Int]]
    /// The frame size [width, height] when the large-frame recipe filled in what was not chosen.
    public var largeFrames: [Int]?

    /// - Parameter frame: the labeled frames' size [width, height] when they are whole frames (not
    ///   boxes) and known (`frameSize`); nil leaves the large-frame recipe out.
    /// - Throws: `InputError` for a crop that does not fit the input.
    public init(keypoints names: [String], frame: [Int]?, choices: Choices) throws {
        var choices = choices
        var (batch, learningRate, foregroundWeight, epochs) = (16, 2e-3, 0.0, 50)
        if choices.input == nil, choices.crop == nil, let frame, frame[0] * frame[1] > 4 * 256 * 256 {
            let input = Self.fullResolutionInput(frame: frame)
            choices.input = input
            choices.crop = [min(192, input[0]), min(192, input[1])]
            choices.width = choices.width ?? 16
            choices.depths = choices.depths ?? [1, 1, 1]
            (batch, learningRate, foregroundWeight, epochs) = (8, 5e-3, 20, 150)
            largeFrames = frame
        }
        let input = choices.input ?? [256, 256]
        architecture = Architecture.coordConvResNet(
            keypoints: names.count, width: choices.width ?? 32, depths: choices.depths ?? [2, 2, 2],
            inputWidth: input[0], inputHeight: input[1], heatmapStride: choices.heatmapStride,
            coordinates: choices.coordinates)
        if let crop = choices.crop, !(crop.count == 2 && crop[0] <= input[0] && crop[1] <= input[1]) {
            throw InputError.invalid(
                "the training windows \(crop.map(String.init).joined(separator: "x")) are larger than the network input \(input[0])x\(input[1])"
            )
        }
        settings = TrainingSettings(
            epochs: choices.epochs ?? epochs, batch: choices.batch ?? batch,
            learningRate: choices.learningRate ?? learningRate, validationFraction: choices.validationFraction ?? 0.05,
            seed: choices.seed, heatmapSigma: choices.sigma)
        settings.validationMinimum = choices.validationFraction == nil ? 10 : nil
        settings.augmentation.occlusion = choices.occlusion
        settings.augmentation.flip = choices.mirror
        if let zoom = choices.zoom {
            (settings.augmentation.minZoom, settings.augmentation.maxZoom) = (zoom[0], zoom[1])
        }
        settings.foregroundWeight = choices.foregroundWeight ?? foregroundWeight
        settings.averageDecay = choices.averageDecay
        settings.bestBy = choices.bestBy
        settings.crop = choices.crop
        settings.keypointWeights = choices.keypointWeights
        flipPairs = choices.flipPairs ?? FlipPairs.infer(names)
        self.choices = choices
    }

    private let choices: Choices

    /// The run's first checkpoint: a model with fresh seeded weights and its provenance (`data`:
    /// the labels, `split`: how validation was chosen, `settings`, `command`), at epoch 0.
    public func checkpoint(
        set: LabeledSet, labels: String, validation: String?, imagesRoot: String?, command: String
    ) throws -> Checkpoint {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let names = set.keypointNames
        let split =
            validation.map { "validation file \($0)" }
            ?? (set.samples.contains { $0.split != nil }
                ? "split column"
                : "fraction \(settings.validationFraction)\(settings.validationMinimum.map { ", at least \($0) frames (at most a fifth)" } ?? ""), seed \(settings.seed)")
        let model = Model(
            architecture: architecture, keypointNames: names,
            skeleton: set.skeleton.isEmpty ? Skeletons.standard(for: names) : set.skeleton, flipPairs: flipPairs,
            oksSigmas: names == OKSEvaluation.cocoNames ? OKSEvaluation.cocoSigmas : nil,
            heatmapSigma: settings.heatmapSigma, secondPassScale: choices.secondPass,
            flipTest: choices.flipTest ?? false,
            provenance: [
                "trained": "yes", "data": labels, "seed": "\(settings.seed)", "split": split,
                "settings": String(decoding: (try? encoder.encode(settings)) ?? Data(), as: UTF8.self),
                "command": command,
            ],
            weights: try architecture.initialWeights(seed: settings.seed))
        return Checkpoint(
            model: model, optimizer: AdamW<Float>(weightDecay: Float(settings.weightDecay)), settings: settings,
            labels: labels, imagesRoot: imagesRoot, validationLabels: validation, epoch: 0, stepInEpoch: 0,
            bestError: nil, bestEpoch: nil, seconds: 0)
    }

    /// The input for running on whole frames of `frame` pixels (width, height) at full resolution:
    /// each side rounded up to a multiple of 32, the frame scaled down first if its longer side
    /// passes 1280 (beyond that inference gets slow while crops would still train cheaply).
    public static func fullResolutionInput(frame: [Int]) -> [Int] {
        let scale = min(1, 1280 / Double(max(frame[0], frame[1])))
        return frame.map { (Int((Double($0) * scale).rounded()) + 31) / 32 * 32 }
    }

    /// The frame size [width, height] of the first labeled image, when the labels are whole
    /// frames (not boxes) and it can be read.
    public static func frameSize(of set: LabeledSet, labels: String, imagesRoot: String?) -> [Int]? {
        guard let first = set.samples.first(where: { $0.points.contains { $0 != nil } }), first.box == nil else {
            return nil
        }
        let path = LabeledSet.imagePath(first.image, labelsPath: labels, imagesRoot: imagesRoot)
        guard let image = try? ImageDecoder.decode(contentsOf: path).image else { return nil }
        return [image.width, image.height]
    }

    /// The size [width, height] of the first training image, when it is a whole frame over four
    /// times the network input's area: letterboxed whole, a small animal in a large frame keeps
    /// too few pixels to place its parts.
    public static func oversizedFrame(_ trainer: Trainer) throws -> [Int]? {
        guard let first = trainer.train.first, trainer.data.samples[first].box == nil else { return nil }
        let architecture = trainer.model.architecture
        let (image, scale) = try trainer.data.image(first)
        let width = Int((Double(image.width) / scale).rounded()), height = Int((Double(image.height) / scale).rounded())
        guard width * height > 4 * architecture.inputWidth * architecture.inputHeight else { return nil }
        return [width, height]
    }

    /// What mirroring does in a run, so a user sees the inferred pairs before hours of training.
    public static func mirroring(_ model: Model, _ augmentation: Augmentation) -> String {
        let names = model.keypointNames
        if !augmentation.flip { return "mirroring: off" }
        if model.flipPairs.isEmpty { return "mirroring: no left/right pairs among the keypoints" }
        return "mirroring swaps " + model.flipPairs.map { "\(names[$0[0]])/\(names[$0[1]])" }.joined(separator: ", ")
    }
}

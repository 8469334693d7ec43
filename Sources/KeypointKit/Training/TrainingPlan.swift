import Foundation

/// A new training run, built from a labeled set and what the user chose (nil: the plan decides):
/// the network of the default family, the settings, and the model's metadata and provenance.
///
/// A small project (`TrainingRecipe`: fewer than a thousand samples of known size) gets the
/// settings its labels call for; a large one, or labels whose size is unknown, the plain defaults:
/// 256x256 input, width 32, two blocks per stage, batch 16, learning rate 2e-3, 50 epochs. Each
/// setting still gives way to a choice; mirroring needs left/right pairs.
public struct TrainingPlan: Sendable {
    public struct Choices: Sendable {
        /// The network input, [width, height], multiples of 32.
        public var input: [Int]?
        /// The training windows, [width, height], multiples of 32 no larger than the input.
        public var crop: [Int]?
        public var width: Int?
        public var depths: [Int]?
        /// Heatmap stride (4 or 2) and CoordConv stem; nil: the start model's, else 4 and true.
        public var heatmapStride: Int?
        public var coordinates: Bool?
        public var epochs: Int?
        public var batch: Int?
        public var learningRate: Double?
        public var foregroundWeight: Double?
        /// The validation fraction without a split in the labels; nil: 5%, at least 10 frames (at
        /// most a fifth of the set).
        public var validationFraction: Double?
        public var seed: UInt64 = 1
        /// The target Gaussian's sigma in heatmap cells.
        public var sigma: Double?
        public var occlusion = 0.0
        /// Probability of blur, probability of noise, and the gamma range (`Augmentation`); nil:
        /// the augmentation's defaults.
        public var blur: Double?
        public var noise: Double?
        public var gamma: Double?
        /// Rotation range in degrees; nil: the augmentation's default.
        public var rotation: Double?
        /// Probability of cutting a sample off at an edge (`EdgeCut`); 0 by default.
        public var cutoff = 0.0
        /// Mirror samples when the keypoints have left/right pairs.
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
        /// A trained model whose feature layers (all but the heatmap head; the head too when
        /// it has the same keypoints) the new one starts from, and how to name it in the
        /// provenance; its width, heatmap stride and CoordConv channels are the new network's, and
        /// its depths unless deeper ones are chosen (`startingShape`).
        public var start: (model: Model, name: String)?
        /// Fresh weights even where the recipe would start from a trained model (`--init none`).
        public var fromScratch = false

        public init() {}
    }

    public var architecture: Architecture
    public var settings: TrainingSettings
    public var flipPairs: [[Int]]
    /// The labels' summary the plan was made from, and the small-project recipe it gave.
    public let summary: LabelSummary?
    public let recipe: TrainingRecipe?
    /// The run's planned training samples and optimizer steps per epoch (an estimate: images that
    /// cannot be decoded are left out later).
    public let trainingSamples: Int?
    public let stepsPerEpoch: Int
    /// The run's planned optimizer steps.
    public var steps: Int { settings.epochs * stepsPerEpoch }

    /// - Throws: `InputError` for a crop that does not fit the input.
    public init(keypoints names: [String], summary: LabelSummary?, choices chosen: Choices) throws {
        self.summary = summary
        let recipe = summary.flatMap { TrainingRecipe(summary: $0, keypoints: names.count, input: chosen.input) }
        self.recipe = recipe
        var choices = chosen
        if choices.start == nil, !choices.fromScratch, choices.width == nil, choices.depths == nil,
            let name = recipe?.start, let model = try Model.bundled(name),
            (choices.heatmapStride ?? 4) == model.architecture.heatmapStride, choices.coordinates ?? true
        {
            choices.start = (model, name)
        }
        let input = choices.input ?? recipe?.input ?? [256, 256]
        var (width, depths) = (choices.width ?? recipe?.width ?? 32, choices.depths ?? recipe?.depths ?? [2, 2, 2])
        var (heatmapStride, coordinates) = (choices.heatmapStride ?? 4, choices.coordinates ?? true)
        if let start = choices.start {
            (width, depths) = try Self.startingShape(start, choices: choices)
            heatmapStride = choices.heatmapStride ?? start.model.architecture.heatmapStride
            coordinates = choices.coordinates ?? start.model.architecture.layers.contains { $0.coordinates == true }
            // The head reads the last fusion layer, whose channels follow the heatmap stride.
            keepsStartHead =
                start.model.keypointNames == names && heatmapStride == start.model.architecture.heatmapStride
        }
        architecture = Architecture.coordConvResNet(
            keypoints: names.count, width: width, depths: depths, inputWidth: input[0], inputHeight: input[1],
            heatmapStride: heatmapStride, coordinates: coordinates)
        let crop = choices.crop ?? recipe?.crop
        if let crop, !(crop.count == 2 && crop[0] <= input[0] && crop[1] <= input[1]) {
            throw InputError.invalid(
                "the training windows \(crop.map(String.init).joined(separator: "x")) are larger than the network input \(input[0])x\(input[1])"
            )
        }
        let batch = choices.batch ?? recipe?.batch ?? 16
        trainingSamples = summary.map {
            $0.samples
                - ($0.heldOut
                    ?? TrainingData.validationCount(
                        samples: $0.samples, fraction: choices.validationFraction ?? 0.05,
                        minimum: choices.validationFraction == nil ? 10 : nil))
        }
        stepsPerEpoch = max(1, ((trainingSamples ?? batch) + batch - 1) / batch)
        var epochs = choices.epochs ?? 50
        let budgeted = choices.epochs == nil && recipe != nil  // the recipe's steps: a time limit
        if budgeted {
            var windowed = architecture
            (windowed.inputWidth, windowed.inputHeight) = (crop?[0] ?? input[0], crop?[1] ?? input[1])
            let steps = TrainingRecipe.steps(
                windowGFLOP: try LayerGraph(windowed).flops / 1e9, batch: batch, stepsPerEpoch: stepsPerEpoch)
            epochs = (steps + stepsPerEpoch - 1) / stepsPerEpoch
        }
        settings = TrainingSettings(
            epochs: epochs, batch: batch, learningRate: choices.learningRate ?? recipe?.learningRate ?? 2e-3,
            warmupEpochs: recipe == nil ? 1 : max(1, 0.05 * Double(epochs)),
            validationFraction: choices.validationFraction ?? 0.05, seed: choices.seed,
            heatmapSigma: choices.sigma ?? recipe?.sigma ?? 2)
        settings.validationMinimum = choices.validationFraction == nil ? 10 : nil
        settings.validateEvery = recipe == nil ? nil : max(1, (epochs + 39) / 40)  // at most 40 validations
        if budgeted { settings.timeLimit = TrainingRecipe.timeLimit }
        flipPairs = choices.flipPairs ?? FlipPairs.infer(names)
        settings.augmentation.occlusion = choices.occlusion
        settings.augmentation.blur = choices.blur ?? settings.augmentation.blur
        settings.augmentation.noise = choices.noise ?? settings.augmentation.noise
        settings.augmentation.gamma = choices.gamma ?? settings.augmentation.gamma
        settings.augmentation.rotation = choices.rotation ?? settings.augmentation.rotation
        settings.augmentation.cutoff = choices.cutoff
        settings.augmentation.flip =
            choices.mirror && !flipPairs.isEmpty && (choices.flipPairs != nil || recipe?.mirror ?? true)
        if let zoom = choices.zoom {
            (settings.augmentation.minZoom, settings.augmentation.maxZoom) = (zoom[0], zoom[1])
        }
        settings.foregroundWeight = choices.foregroundWeight ?? recipe?.foregroundWeight ?? 0
        settings.averageDecay = choices.averageDecay
        settings.bestBy = choices.bestBy
        settings.crop = crop
        settings.keypointWeights = choices.keypointWeights
        self.choices = choices
    }

    /// The plan in one paragraph, as `train` prints it and the model's provenance keeps it: what
    /// the labels are and every setting that follows from them (choices included).
    public var description: String {
        let a = architecture, s = settings
        var labels = "labels: \(summary.map { "\($0.samples) samples" } ?? "size unknown")"
        if let frame = summary?.frame { labels += " of \(frame[0])x\(frame[1])" }
        if let extent = summary?.extent { labels += String(format: ", subject %.0f px", extent) }
        let windows = s.crop.map { "windows \($0[0])x\($0[1])" } ?? "whole inputs"
        let plan = [
            "input \(a.inputWidth)x\(a.inputHeight)" + (recipe.map { String(format: " (scale %.3g)", $0.scale) } ?? ""),
            windows, "width \(a.family?.width ?? 0)",
            "depths \((a.family?.depths ?? []).map(String.init).joined(separator: ","))",
            String(format: "heatmap sigma %.2f", s.heatmapSigma), "batch \(s.batch)",
            "\(steps) steps (\(s.epochs) epochs of \(stepsPerEpoch))",
            String(
                format: "learning rate %g, warm-up %.0f steps", s.learningRate, s.warmupEpochs * Double(stepsPerEpoch)),
            String(format: "foreground weight %g", s.foregroundWeight ?? 0),
            "validation every \(s.validateEvery ?? 1) epoch(s)",
        ] + (flipTest ? ["flip test (each image averaged with its mirror, in validation and as the model runs)"] : [])
        let facing =
            recipe?.mirror == false && !flipPairs.isEmpty && choices.flipPairs == nil
            ? ", no mirroring (mirrored frames would not look like the labeled ones; --flip-pairs turns it on)" : ""
        let source = recipe == nil ? "defaults" : "recipe from the labels"
        let start = startDescription.map { "; starting from the \($0)" } ?? ""
        return "\(labels); \(source): " + plan.joined(separator: ", ") + facing + start
    }

    /// The choices the plan was made from, with the recipe's start filled in.
    public let choices: Choices
    /// Whether the model averages each image with its mirror (`Model.flipTest`): as chosen, else
    /// for a small project's model trained on mirrored samples (it knows mirrored images; the
    /// average lowered the error on held-out frames, docs/TRAINING.md), else not.
    public var flipTest: Bool { choices.flipTest ?? (recipe != nil && settings.augmentation.flip) }
    /// The parts the flip test leaves to the unmirrored pass (`Model.flipTestExcluded`, kept
    /// whether or not the model runs it by default, for `--flip-test` and a resumed run that
    /// turns it on): those labeled in too few of `frames` (`TrainingAdvice.sparseParts`) and
    /// their partners. On the
    /// 832x747 sparse-tailbase frames (tail in 4-6 of 36-44), ten models scored the tail at
    /// 14.76 px mean without the average and 19.06 with it (2.29 against 40.22 on one; the
    /// average helped a little on seven).
    func flipTestExcluded(_ frames: [[LabeledPoint?]], parts: Int) -> [Int] {
        let sparse = TrainingAdvice.sparseParts(TrainingAdvice.labeledCounts(frames, parts: parts))
        let partner = FlipPairs.partners(flipPairs, count: parts)
        return Array(Set(sparse + sparse.map { partner[$0] })).sorted()
    }

    /// Whether the start model's heatmap head carries over (it has the same keypoints).
    private var keepsStartHead = false

    /// What the run starts from, for the plan line and the provenance; nil for fresh weights.
    private var startDescription: String? {
        guard let start = choices.start else { return nil }
        let added = zip(architecture.family?.depths ?? [], start.model.architecture.family?.depths ?? [])
            .map { $0 - $1 }.reduce(0, +)
        let (width, startWidth) = (architecture.family?.width ?? 0, start.model.architecture.family?.width ?? 0)
        let (stride, startStride) = (architecture.heatmapStride, start.model.architecture.heatmapStride)
        return "feature layers\(keepsStartHead ? " and head" : "") of \(start.name)"
            + (stride < startStride
                ? ", heatmaps at stride \(stride) (its \(startStride)): the fusion at stride 2 fresh" : "")
            + (width > startWidth ? ", widened from \(startWidth) to \(width) as the same function" : "")
            + (added > 0 ? ", \(added) residual block\(added == 1 ? "" : "s") added as the identity" : "")
    }

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
                : "fraction \(settings.validationFraction)\(settings.validationMinimum.map { ", at least \($0) frames (at most a fifth)" } ?? ""), seed \(settings.seed), whole clips when the frames come from 5 or more")
        let model = Model(
            architecture: architecture, keypointNames: names,
            skeleton: set.skeleton.isEmpty ? Skeletons.standard(for: names) : set.skeleton, flipPairs: flipPairs,
            oksSigmas: names == OKSEvaluation.cocoNames ? OKSEvaluation.cocoSigmas : nil,
            heatmapSigma: settings.heatmapSigma, secondPassScale: choices.secondPass,
            flipTest: flipTest,
            flipTestExcluded: flipTestExcluded(set.samples.map(\.points), parts: names.count),
            provenance: [
                "trained": "yes", "data": labels, "seed": "\(settings.seed)", "split": split, "plan": description,
                "start": startDescription ?? "fresh weights (seed \(settings.seed))",
                "settings": String(decoding: (try? encoder.encode(settings)) ?? Data(), as: UTF8.self),
                "command": command,
            ],
            weights: try initialWeights())
        return Checkpoint(
            model: model, optimizer: AdamW<Float>(weightDecay: Float(settings.weightDecay)), settings: settings,
            labels: labels, imagesRoot: imagesRoot, validationLabels: validation, epoch: 0, stepInEpoch: 0,
            bestError: nil, bestEpoch: nil, seconds: 0)
    }

    /// The width and depths of a network that starts from `start`'s feature layers: its own, or
    /// wider or deeper when `choices` ask for it (a run continued at a larger size: the start
    /// widened to the same function, the blocks it lacks as the identity, see `initialWeights`).
    /// - Throws: `InputError` when it is not of the default family, or `choices` ask for a
    ///   smaller width or for fewer blocks in a stage.
    public static func startingShape(_ start: (model: Model, name: String), choices: Choices) throws -> (
        width: Int, depths: [Int]
    ) {
        guard let family = start.model.architecture.family else {
            throw InputError.invalid("the model to start from (\(start.name)) is not of the default network family")
        }
        let width = choices.width ?? family.width
        guard width >= family.width else {
            throw InputError.invalid(
                "the model to start from (\(start.name)) has width \(family.width); a run from it can widen it, not narrow it (asked for \(width))"
            )
        }
        let depths = choices.depths ?? family.depths
        guard zip(depths, family.depths).allSatisfy(>=) else {
            throw InputError.invalid(
                "the model to start from (\(start.name)) has depths \(family.depths.map(String.init).joined(separator: ",")); a run from it can add residual blocks to a stage, not remove them (asked for \(depths.map(String.init).joined(separator: ",")))"
            )
        }
        return (width, depths)
    }

    /// Fresh seeded weights, with the start model's in every layer but the heatmap head (the
    /// only one whose shape depends on the keypoints; kept too when the keypoints are the same),
    /// batch-norm statistics included. A start narrower than the plan is widened first
    /// (`Widening`: copies of its channels, the same function). A residual block the start lacks
    /// (chosen deeper) begins as the identity: its second batch norm's scale is 0, so the block
    /// adds 0 to its input, which a ReLU left non-negative, and the network computes what the
    /// start did.
    public func initialWeights() throws -> [String: Tensor] {
        var weights = try architecture.initialWeights(seed: settings.seed)
        guard let start = choices.start?.model else { return weights }
        var startWeights = start.weights
        if let family = start.architecture.family, let width = architecture.family?.width, width > family.width {
            let wider = Architecture.coordConvResNet(
                keypoints: start.keypointNames.count, width: width, depths: family.depths,
                inputWidth: start.architecture.inputWidth, inputHeight: start.architecture.inputHeight,
                heatmapStride: start.architecture.heatmapStride, coordinates: family.coordinates)
            startWeights = try Widening.weights(of: start, for: wider, seed: settings.seed)
        }
        let head = architecture.output + "."
        for (name, tensor) in startWeights
        where (keepsStartHead || !name.hasPrefix(head)) && weights[name]?.shape == tensor.shape {
            weights[name] = tensor
        }
        let startDepths = start.architecture.family?.depths ?? []
        for (stage, (depth, startDepth)) in zip(architecture.family?.depths ?? [], startDepths).enumerated() {
            for block in startDepth..<depth {
                let scale = "stage\(stage + 1).block\(block).conv2.bn.weight"
                weights[scale] = Tensor(zeros: weights[scale]!.shape)
            }
        }
        return weights
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

    /// The parts the model's flip test leaves out, or nil when it leaves none (or runs none).
    public static func flipTestExclusions(_ model: Model) -> String? {
        guard model.flipTest, !model.flipTestExcluded.isEmpty else { return nil }
        let names = model.flipTestExcluded.map { model.keypointNames[$0] }.joined(separator: ", ")
        return
            "flip test: \(names) from the unmirrored image alone (labeled in too few frames to be found in mirrored views too, or the partner of such a part)"
    }

    /// What mirroring does in a run, so a user sees the inferred pairs before hours of training.
    public static func mirroring(_ model: Model, _ augmentation: Augmentation) -> String {
        let names = model.keypointNames
        if model.flipPairs.isEmpty {
            return "mirroring: off, no left/right pairs among the keypoints (name them with --flip-pairs if some are)"
        }
        if !augmentation.flip { return "mirroring: off" }
        return "mirroring swaps " + model.flipPairs.map { "\(names[$0[0]])/\(names[$0[1]])" }.joined(separator: ", ")
    }
}

import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// A new run's plan from the labels and the choices: the defaults, the large-frame recipe, what
/// a choice overrides, and the first checkpoint's model and provenance.
struct TrainingPlanTests {
    static let names = ["snout", "leftear", "rightear", "tailbase"]

    static let openfield = LabelSummary(samples: 90, frame: [640, 480], extent: 124)

    /// Labels of unknown size, and large sets, get the plain defaults.
    @Test func largeOrUnknownSetsGetTheDefaults() throws {
        for summary in [nil, LabelSummary(samples: 5000, frame: [320, 240], extent: 100)] {
            let plan = try TrainingPlan(keypoints: Self.names, summary: summary, choices: .init())
            #expect(plan.recipe == nil)
            #expect(plan.architecture.inputWidth == 256 && plan.architecture.inputHeight == 256)
            #expect(plan.architecture.family?.width == 32 && plan.architecture.family?.depths == [2, 2, 2])
            let settings = plan.settings
            #expect(settings.epochs == 50 && settings.batch == 16 && settings.learningRate == 0.002)
            #expect(settings.foregroundWeight == 0 && settings.crop == nil && settings.heatmapSigma == 2)
            #expect(settings.validateEvery == nil && settings.warmupEpochs == 1 && settings.timeLimit == nil)
            #expect(plan.flipPairs == [[1, 2]] && settings.augmentation.flip, "leftear/rightear inferred")
        }
    }

    /// A small animal in a large frame: full resolution, windows of 1.5x the subject, the
    /// compute budget's steps, sigma a sixteenth of the subject.
    @Test func smallSubjectsTrainOnWindowsAtFullResolution() throws {
        let plan = try TrainingPlan(keypoints: Self.names, summary: Self.openfield, choices: .init())
        #expect(plan.recipe?.scale == 1)
        #expect(plan.architecture.inputWidth == 640 && plan.architecture.inputHeight == 480)
        // The recipe starts from the smaller human model's feature layers, and takes its network...
        #expect(plan.choices.start?.name == "human-lite")
        #expect(plan.architecture.family?.width == 24 && plan.architecture.family?.depths == [2, 2, 2])
        // ...unless asked for fresh weights or a network of its own.
        var fresh = TrainingPlan.Choices()
        fresh.fromScratch = true
        let scratch = try TrainingPlan(keypoints: Self.names, summary: Self.openfield, choices: fresh)
        #expect(scratch.choices.start == nil)
        #expect(scratch.architecture.family?.width == 16 && scratch.architecture.family?.depths == [1, 1, 1])
        var narrow = TrainingPlan.Choices()
        narrow.width = 16
        let chosen = try TrainingPlan(keypoints: Self.names, summary: Self.openfield, choices: narrow)
        #expect(chosen.choices.start == nil && chosen.architecture.family?.depths == [1, 1, 1])
        let settings = plan.settings
        #expect(settings.crop == [192, 192] && settings.batch == 8 && settings.learningRate == 0.005)
        #expect(settings.foregroundWeight == 20)
        #expect(settings.timeLimit == TrainingRecipe.timeLimit)  // the recipe's steps; none when given
        #expect(abs(settings.heatmapSigma - 124.0 / 64) < 1e-12)
        // 80 training frames (10 validate) at batch 8: 10 steps an epoch.
        #expect(plan.trainingSamples == 80 && plan.steps == settings.epochs * 10)
        var window = plan.architecture
        (window.inputWidth, window.inputHeight) = (192, 192)
        let perImage = TrainingRecipe.secondsPerImage(windowGFLOP: try LayerGraph(window).flops / 1e9)
        let affordable = min(Int(TrainingRecipe.trainingSeconds / (8 * perImage)), TrainingRecipe.maximumSteps)
        #expect(plan.steps >= affordable && plan.steps < affordable + 10)
        // At most 40 validations: every 9 of 339 epochs (38), not every 8 (42).
        #expect(settings.validateEvery == (settings.epochs + 39) / 40)
        let every = settings.validateEvery!
        #expect(settings.epochs / every <= 40 && (every == 1 || settings.epochs / (every - 1) > 40))
        #expect(abs(settings.warmupEpochs - 0.05 * Double(settings.epochs)) < 1e-9)
        #expect(plan.description.contains("windows 192x192") && plan.description.contains("\(plan.steps) steps"))
    }

    /// HD frames scale to 1280; a subject over 256 pixels scales to 256 and, filling the frame,
    /// trains on whole inputs; boxes are the box enlarged 1.25x; many parts get a wider network.
    @Test func theRecipeFollowsFrameAndSubjectSize() throws {
        let hd = try TrainingPlan(
            keypoints: Self.names, summary: LabelSummary(samples: 90, frame: [1920, 1080], extent: 150),
            choices: .init())
        #expect(hd.architecture.inputWidth == 1280 && hd.architecture.inputHeight == 736)
        #expect(hd.settings.crop == [160, 160], "1.5 x 100 pixels, rounded up to 32")
        let names = (0..<17).map { "part\($0)" }
        let large = try TrainingPlan(
            keypoints: names, summary: LabelSummary(samples: 90, frame: [396, 406], extent: 378), choices: .init())
        #expect(abs(large.recipe!.scale - 256.0 / 378) < 1e-12)
        #expect(large.architecture.inputWidth == 288 && large.architecture.inputHeight == 288)
        #expect(large.settings.crop == nil && large.settings.heatmapSigma == 3)
        #expect(large.architecture.family?.width == 24)
        #expect(large.flipPairs.isEmpty && !large.settings.augmentation.flip, "no pairs: no mirroring")
        let boxes = try TrainingPlan(
            keypoints: Self.names, summary: LabelSummary(samples: 150, extent: 200), choices: .init())
        #expect(boxes.architecture.inputWidth == 256 && boxes.settings.crop == nil)
    }

    /// Mirroring follows the labels: a subject that always faces one way is not mirrored (unless
    /// pairs are given), one seen facing both ways is; the order of two parts decides. With
    /// left/right parts, a subject turned to face up (an aligned insect) mirrors onto itself.
    @Test func mirroringFollowsWhatMirroredFramesLookLike() throws {
        func frames(flipped: Int, of count: Int) -> [[LabeledPoint?]] {
            (0..<count).map { index in
                let facing: Double = index < flipped ? -1 : 1
                return [
                    LabeledPoint(x: 100 + facing * 30, y: 50, visible: true),
                    LabeledPoint(x: 100 - facing * 30, y: 50, visible: true),
                    LabeledPoint(x: 100, y: 60, visible: true),
                ]
            }
        }
        #expect(LabelSummary.mirrorFits(frames(flipped: 0, of: 20), flipPairs: []) == false)
        #expect(LabelSummary.mirrorFits(frames(flipped: 1, of: 20), flipPairs: []) == false, "5% the other way")
        #expect(LabelSummary.mirrorFits(frames(flipped: 4, of: 20), flipPairs: []) == true, "20% the other way")
        #expect(LabelSummary.mirrorFits(frames(flipped: 2, of: 4), flipPairs: []) == nil, "too few frames to tell")
        // Left part, right part, head and tail of an animal seen from above, turned to face up
        // (the same every frame but for a pixel of jitter): its mirror image is itself.
        let aligned = (0..<20).map { index -> [LabeledPoint?] in
            let jitter = Double(index % 3) - 1
            return [
                LabeledPoint(x: 70 + jitter, y: 100, visible: true),
                LabeledPoint(x: 130 - jitter, y: 100, visible: true),
                LabeledPoint(x: 100 + jitter, y: 20, visible: true), LabeledPoint(x: 100, y: 180, visible: true),
            ]
        }
        #expect(LabelSummary.mirrorFits(aligned, flipPairs: [[0, 1]]) == true)
        #expect(LabelSummary.mirrorFits(aligned, flipPairs: []) == false, "not knowing left from right")
        // Left and right paws under a side view of an animal running right, one or the other in
        // front: mirrored it would run left, which no frame shows.
        let sideView = (0..<20).map { index -> [LabeledPoint?] in
            let step: Double = index % 2 == 0 ? 10 : -10
            return [
                LabeledPoint(x: 100 + step, y: 150, visible: true), LabeledPoint(x: 100 - step, y: 150, visible: true),
                LabeledPoint(x: 200, y: 80, visible: true), LabeledPoint(x: 0, y: 90, visible: true),
            ]
        }
        #expect(LabelSummary.mirrorFits(sideView, flipPairs: [[0, 1]]) == false)
        var oneWay = Self.openfield
        oneWay.mirrorFits = false
        let plan = try TrainingPlan(keypoints: Self.names, summary: oneWay, choices: .init())
        #expect(plan.flipPairs == [[1, 2]] && !plan.settings.augmentation.flip && !plan.flipTest)
        #expect(plan.description.contains("no mirroring (mirrored frames would not look like the labeled ones"))
        var given = TrainingPlan.Choices()
        given.flipPairs = [[1, 2]]
        #expect(try TrainingPlan(keypoints: Self.names, summary: oneWay, choices: given).settings.augmentation.flip)
        oneWay.mirrorFits = true
        // Trained on mirrored samples, a small project's model also runs with the flip test,
        // unless the user says otherwise; a large set's runs as chosen (off by default).
        let mirrored = try TrainingPlan(keypoints: Self.names, summary: oneWay, choices: .init())
        #expect(mirrored.settings.augmentation.flip && mirrored.flipTest)
        #expect(mirrored.description.contains("flip test (each image averaged with its mirror"))
        let model = try Self.firstModel(of: mirrored)
        #expect(model.flipTest)
        given = TrainingPlan.Choices()
        given.flipTest = false
        #expect(!(try TrainingPlan(keypoints: Self.names, summary: oneWay, choices: given)).flipTest)
        let large = LabelSummary(samples: 5000, frame: [320, 240], extent: 100)
        #expect(!(try TrainingPlan(keypoints: Self.names, summary: large, choices: .init())).flipTest)
    }

    /// A part labeled in under a quarter as many frames as the best-labeled one is left out of
    /// the flip test, with its partner when it has one; the model keeps the list without the
    /// flip test too, for `--flip-test`, and the run then does not mention it.
    @Test func theFlipTestLeavesOutSparselyLabeledParts() throws {
        func model(labeling sparse: Int?, flipTest: Bool? = nil) throws -> Model {
            let samples = (0..<12).map { index in
                LabeledSample(
                    image: "\(index).png",
                    points: (0..<4).map { k in
                        k == sparse && index >= 2 ? nil : LabeledPoint(x: Double(10 * k), y: 5, visible: true)
                    }, isCrowd: false)
            }
            var summary = Self.openfield
            summary.mirrorFits = true
            var choices = TrainingPlan.Choices()
            choices.flipTest = flipTest
            let plan = try TrainingPlan(keypoints: Self.names, summary: summary, choices: choices)
            let set = LabeledSet(
                format: .simpleCSV, keypointNames: Self.names, samples: samples, skeleton: [], images: [:])
            return try plan.checkpoint(set: set, labels: "labels.csv", validation: nil, imagesRoot: nil, command: "")
                .model
        }
        #expect(try model(labeling: 3).flipTestExcluded == [3])  // tailbase in 2 of 12 frames
        #expect(try model(labeling: 2).flipTestExcluded == [1, 2])  // rightear, and leftear its partner
        #expect(try model(labeling: nil).flipTestExcluded == [])
        let withoutFlipTest = try model(labeling: 3, flipTest: false)  // kept for --flip-test
        #expect(withoutFlipTest.flipTestExcluded == [3] && TrainingPlan.flipTestExclusions(withoutFlipTest) == nil)
        #expect(TrainingAdvice.sparseParts([12, 12, 3, 2]) == [3] && TrainingAdvice.sparseParts([]) == [])
        let excluding = try model(labeling: 3)
        #expect(
            TrainingPlan.flipTestExclusions(excluding)?.hasPrefix("flip test: tailbase from the unmirrored image alone")
                == true)
    }

    /// The schedule is in steps: a 40-frame project trains as long as a 200-frame one.
    @Test func smallProjectsGetTheSameSteps() throws {
        let few = try TrainingPlan(
            keypoints: Self.names, summary: LabelSummary(samples: 40, frame: [640, 480], extent: 124), choices: .init())
        let more = try TrainingPlan(
            keypoints: Self.names, summary: LabelSummary(samples: 200, frame: [640, 480], extent: 124), choices: .init()
        )
        #expect(few.settings.epochs > 4 * more.settings.epochs)
        #expect(abs(few.steps - more.steps) < 25 && few.steps >= TrainingRecipe.minimumSteps)
    }

    @Test func choicesWinOverTheRecipe() throws {
        var choices = TrainingPlan.Choices()
        (choices.batch, choices.epochs, choices.width, choices.sigma) = (4, 3, 8, 2.5)
        let plan = try TrainingPlan(keypoints: Self.names, summary: Self.openfield, choices: choices)
        #expect(plan.settings.batch == 4 && plan.settings.epochs == 3 && plan.architecture.family?.width == 8)
        #expect(plan.settings.heatmapSigma == 2.5)
        #expect(plan.settings.crop == [192, 192] && plan.settings.foregroundWeight == 20, "the rest of the recipe")
        choices.input = [320, 256]
        let sized = try TrainingPlan(keypoints: Self.names, summary: Self.openfield, choices: choices)
        #expect(sized.recipe?.scale == 0.5 && sized.settings.crop == [128, 128], "windows follow the input chosen")
        choices.mirror = false
        #expect(!(try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices)).settings.augmentation.flip)
    }

    /// A run started from a trained model takes its width and depths and every weight but the
    /// head's (batch-norm statistics included); a narrower width chosen is refused.
    @Test func startsFromAModelsFeatureLayers() throws {
        let trained = Architecture.coordConvResNet(
            keypoints: 7, width: 8, depths: [1, 2, 1], inputWidth: 96, inputHeight: 64)
        var weights = try trained.initialWeights(seed: 42)
        weights["stem.bn.running_mean"]!.data[0] = 0.25
        let start = Model(architecture: trained, keypointNames: (0..<7).map { "k\($0)" }, weights: weights)
        var choices = TrainingPlan.Choices()
        choices.start = (start, "trained.safetensors")
        let plan = try TrainingPlan(keypoints: Self.names, summary: Self.openfield, choices: choices)
        #expect(plan.architecture.family?.width == 8 && plan.architecture.family?.depths == [1, 2, 1])
        #expect(plan.architecture.inputWidth == 640, "the input still follows the labels")
        let fresh = try plan.architecture.initialWeights(seed: 1)
        let begun = try plan.initialWeights()
        #expect(begun["head.weight"] == fresh["head.weight"] && begun["head.weight"]!.shape[0] == 4)
        #expect(begun["head.bias"] == fresh["head.bias"])
        for (name, tensor) in begun where !name.hasPrefix("head.") { #expect(tensor == weights[name], "\(name)") }
        #expect(begun.count == fresh.count)
        let model = try Self.firstModel(of: plan)
        #expect(model.weights == begun)
        #expect(model.provenance["start"] == "feature layers of trained.safetensors")
        choices.width = 4
        #expect(throws: InputError.self) { try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices) }
    }

    /// A heatmap stride or stem chosen beside a start wins over the start's: the start's weights
    /// wherever the shapes agree, the layers that differ fresh (the fusion at stride 2 and the head,
    /// whose input channels follow the stride; the stem without coordinate channels).
    @Test func aChosenHeatmapStrideOrStemWinsOverTheStarts() throws {
        let start = try Self.trainedStart(width: 8)
        var choices = TrainingPlan.Choices()
        choices.start = (start, "trained.safetensors")
        let kept = try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices)
        #expect(kept.architecture.heatmapStride == 4 && kept.architecture.family == start.architecture.family)
        choices.heatmapStride = 2
        let finer = try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices)
        #expect(finer.architecture.heatmapStride == 2)
        let (fresh, begun) = (try finer.architecture.initialWeights(seed: 1), try finer.initialWeights())
        #expect(start.weights["fuse2.weight"] == nil)
        #expect(begun["head.weight"]!.shape != start.weights["head.weight"]!.shape)
        let changed = Set(begun.keys.filter { $0.hasPrefix("fuse2.") || $0.hasPrefix("head.") })
        #expect(changed.count == 7, "fuse2's weight and batch norm, the head's weight and bias")
        for (name, tensor) in begun {
            #expect(tensor == (changed.contains(name) ? fresh[name] : start.weights[name]), "\(name)")
        }
        #expect(
            try Self.firstModel(of: finer).provenance["start"]
                == "feature layers of trained.safetensors, heatmaps at stride 2 (its 4): the fusion at stride 2 fresh")
        (choices.heatmapStride, choices.coordinates) = (nil, false)
        let plain = try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices)
        #expect(!plain.architecture.layers.contains { $0.coordinates == true })
        let plainWeights = try plain.initialWeights()
        #expect(plainWeights["stem.weight"]!.shape[1] == 3)
        #expect(plainWeights["down1.weight"] == start.weights["down1.weight"])
    }

    /// The largest difference between two networks' heatmaps on the same input (Double), and the
    /// largest heatmap value of the first.
    private static func heatmapDifference(
        _ first: (Architecture, [String: Tensor]), _ second: (Architecture, [String: Tensor]), training: Bool
    ) throws -> (difference: Double, largest: Double) {
        let input = Grid<Double>(
            batch: 2, channels: 3, height: 64, width: 64,
            values: normalValues(2 * 3 * 64 * 64, seed: 44).map { Double($0) })
        let a = try TrainingGraph<Double>(architecture: first.0, weights: first.1).forward(input, training: training)
        let b = try TrainingGraph<Double>(architecture: second.0, weights: second.1).forward(input, training: training)
        return (zip(a.values, b.values).map { abs($0 - $1) }.max()!, a.values.map(abs).max()!)
    }

    /// The model of a plan's first checkpoint, for labels without samples.
    private static func firstModel(of plan: TrainingPlan) throws -> Model {
        let set = LabeledSet(format: .simpleCSV, keypointNames: names, samples: [], skeleton: [], images: [:])
        return try plan.checkpoint(set: set, labels: "labels.csv", validation: nil, imagesRoot: nil, command: "").model
    }

    /// A model to start from: one block per stage at 64x64, random weights (seeded).
    private static func trainedStart(width: Int) throws -> Model {
        let trained = Architecture.coordConvResNet(
            keypoints: names.count, width: width, depths: [1, 1, 1], inputWidth: 64, inputHeight: 64)
        var weights = try trained.initialWeights(seed: 42)
        TestModels.randomize(&weights, seed: 43)
        return Model(architecture: trained, keypointNames: names, weights: weights)
    }

    /// Deeper depths than the start's grow the network: the start's weights everywhere (its head
    /// too, same keypoints), each added block the identity, so the grown network's heatmaps equal
    /// the start's (Double, evaluation mode, to 1e-12 of their largest value) before any step.
    /// Fewer blocks than the start's are refused.
    @Test func startsDeeperAsTheSameFunction() throws {
        let start = try Self.trainedStart(width: 8)
        let (trained, weights) = (start.architecture, start.weights)
        var choices = TrainingPlan.Choices()
        (choices.start, choices.depths, choices.input) = ((start, "trained"), [2, 1, 3], [64, 64])
        let plan = try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices)
        #expect(plan.architecture.family?.depths == [2, 1, 3] && plan.architecture.family?.width == 8)
        #expect(
            plan.description.hasSuffix(
                "starting from the feature layers and head of trained, 3 residual blocks added as the identity"))
        let grown = try plan.initialWeights()
        #expect(
            grown["head.weight"] == weights["head.weight"]
                && grown["stage3.block2.conv2.bn.weight"]!.data.allSatisfy { $0 == 0 })
        let (difference, largest) = try Self.heatmapDifference(
            (trained, weights), (plan.architecture, grown), training: false)
        #expect(largest > 0.1 && difference <= 1e-12 * largest)
        choices.depths = [1, 0, 1]
        #expect(throws: InputError.self) { try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices) }
    }

    /// A wider width than the start's widens it (and deeper depths deepen it, together): the
    /// widened network's heatmaps equal the start's (Double, to 1e-5 of their largest value: the
    /// divided kernels and their noise are rounded to float) in evaluation mode and in training
    /// mode (batch norm of the batch: a copy of a channel has its statistics); a copied channel's kernels
    /// differ from the original's (the noise that lets them grow apart), the original keeps its
    /// place, and the same seed widens the same way. A narrower width is refused.
    @Test func startsWiderAsTheSameFunction() throws {
        let start = try Self.trainedStart(width: 4)
        let (trained, weights) = (start.architecture, start.weights)
        var choices = TrainingPlan.Choices()
        (choices.start, choices.width, choices.depths, choices.input) = ((start, "trained"), 6, [1, 2, 1], [64, 64])
        let plan = try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices)
        #expect(plan.architecture.family?.width == 6 && plan.architecture.family?.depths == [1, 2, 1])
        #expect(
            plan.description.hasSuffix(
                "starting from the feature layers and head of trained, widened from 4 to 6 as the same function, 1 residual block added as the identity"
            ))
        let wide = try plan.initialWeights()
        #expect(try plan.initialWeights() == wide)
        // stage1's 8 channels became 12: channel 8 on is a copy; stage1.block0.conv1 reads it.
        let kernel = wide["stage1.block0.conv1.weight"]!, original = weights["stage1.block0.conv1.weight"]!
        #expect(kernel.shape == [12, 12, 3, 3] && original.shape == [8, 8, 3, 3])
        let copied = Array(kernel.data[(8 * 12) * 9..<(8 * 12 + 12) * 9])
        #expect(!copied.isEmpty && copied != Array(kernel.data[0..<12 * 9]))
        for training in [false, true] {
            let (difference, largest) = try Self.heatmapDifference(
                (trained, weights), (plan.architecture, wide), training: training)
            #expect(largest > 0.1 && difference <= 1e-5 * largest, "training \(training): \(difference) of \(largest)")
        }
        choices.width = 3
        #expect(throws: InputError.self) { try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices) }
    }

    /// The summary of a labeled set: samples, frame size, the 90th percentile subject size.
    @Test func summarisesTheLabels() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 20)
        let set = try LabeledSet.load(contentsOf: labels)
        let summary = LabelSummary(set: set, labels: labels, imagesRoot: nil)
        #expect(summary.samples == 20 && summary.heldOut == nil && summary.frame == [64, 48])
        let sizes = set.samples.map { sample -> Double in
            let (a, b) = (sample.points[0]!, sample.points[1]!)
            return max(abs(a.x - b.x), abs(a.y - b.y))
        }.sorted()
        #expect(summary.extent == sizes[18])
    }

    @Test func refusesWindowsLargerThanTheInput() {
        var choices = TrainingPlan.Choices()
        (choices.input, choices.crop) = ([64, 64], [96, 32])
        #expect(throws: InputError.self) { try TrainingPlan(keypoints: Self.names, summary: nil, choices: choices) }
    }

    /// The first checkpoint: fresh weights of the seed, epoch 0, and provenance saying how
    /// validation was chosen.
    @Test func firstCheckpointRecordsTheRun() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 4)
        let set = try LabeledSet.load(contentsOf: labels)
        var choices = TrainingPlan.Choices()
        (choices.input, choices.width, choices.seed, choices.flipTest) = ([64, 64], 4, 9, true)
        let plan = try TrainingPlan(keypoints: set.keypointNames, summary: nil, choices: choices)
        let checkpoint = try plan.checkpoint(
            set: set, labels: labels, validation: nil, imagesRoot: nil, command: "keypoints train ...")
        #expect(checkpoint.epoch == 0 && checkpoint.stepInEpoch == 0 && checkpoint.bestEpoch == nil)
        let model = checkpoint.model
        #expect(model.weights == (try plan.architecture.initialWeights(seed: 9)))
        #expect(model.flipTest && model.flipPairs == [[1, 2]])
        #expect(
            model.provenance["split"]
                == "fraction 0.05, at least 10 frames (at most a fifth), seed 9, whole clips when the frames come from 5 or more"
                && model.provenance["data"] == labels)
        #expect(model.provenance["command"] == "keypoints train ...")
        let separate = try plan.checkpoint(
            set: set, labels: labels, validation: "val.csv", imagesRoot: nil, command: "")
        #expect(separate.model.provenance["split"] == "validation file val.csv")
    }

    /// Without a split: 5%, at least 10 frames but at most a fifth; a fraction given as it is.
    @Test func smallProjectsValidateOnEnoughFrames() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 55)
        let data = try TrainingData(
            labels: try LabeledSet.load(contentsOf: labels), labelsPath: labels, imagesRoot: nil, inputSize: 64)
        #expect(data.split(validationFraction: 0.05, minimum: 10, seed: 1).validation.count == 10)
        #expect(data.split(validationFraction: 0.05, seed: 1).validation.count == 3)
        #expect(data.split(validationFraction: 0.5, minimum: 10, seed: 1).validation.count == 28)
        let other = try TemporaryFolder()
        let small = try TrainingFixtures.dataset(other, count: 20)
        let few = try TrainingData(
            labels: try LabeledSet.load(contentsOf: small), labelsPath: small, imagesRoot: nil, inputSize: 64)
        #expect(few.split(validationFraction: 0.05, minimum: 10, seed: 1).validation.count == 4, "a fifth of 20")
        // Frames numbered within five or more clips: whole clips are held out.
        #expect(TrainingData.clip(of: "labeled-data/run1/img0042.png") == "labeled-data/run1/img.png")
        #expect(
            TrainingData.clip(of: "pose/video_103_T04-47_bee_id7_f0913.png") == "pose/video_103_T04-47_bee_id7_f.png")
        var clipped = try LabeledSet.load(contentsOf: labels)
        for index in clipped.samples.indices {  // 55 frames in 11 clips of 5: clipK_fN.png
            let image = "clip\(index / 5)_f\(index % 5).png"
            try FileManager.default.copyItem(atPath: folder.file("img\(index).png"), toPath: folder.file(image))
            clipped.samples[index].image = image
        }
        let clipData = try TrainingData(labels: clipped, labelsPath: labels, imagesRoot: nil, inputSize: 64)
        let byClip = clipData.split(validationFraction: 0.05, minimum: 10, seed: 1)
        #expect(byClip.validation.count == 10 && byClip.train.count == 45)
        let heldClips = Set(byClip.validation.map { $0 / 5 })
        #expect(heldClips.count == 2 && byClip.train.allSatisfy { !heldClips.contains($0 / 5) }, "whole clips")
        // Five clips of 11: one would pass a tenth of the set, so single frames are held out.
        for index in clipped.samples.indices {
            let image = "long\(index / 11)_f\(index % 11).png"
            try FileManager.default.copyItem(atPath: folder.file("img\(index).png"), toPath: folder.file(image))
            clipped.samples[index].image = image
        }
        let longData = try TrainingData(labels: clipped, labelsPath: labels, imagesRoot: nil, inputSize: 64)
        let byFrame = longData.split(validationFraction: 0.05, minimum: 10, seed: 1)
        #expect(byFrame.validation.count == 10 && Set(byFrame.validation.map { $0 / 11 }).count > 1)
        // A split column that holds nothing out is no split.
        var marked = try LabeledSet.load(contentsOf: small)
        for index in marked.samples.indices { marked.samples[index].split = "train" }
        let unsplit = try TrainingData(labels: marked, labelsPath: small, imagesRoot: nil, inputSize: 64)
        #expect(unsplit.split(validationFraction: 0.05, minimum: 10, seed: 1).validation.count == 4)
    }
}

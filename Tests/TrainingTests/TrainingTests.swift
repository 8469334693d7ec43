import CConvKernels
import Foundation
import Testing
import TestSupport

@testable import KeypointKit

struct GradientTests {
    /// Every layer type in one network: CoordConv stem with batch norm and ReLU, max pooling,
    /// a residual convolution with batch norm and ReLU6, one with bias and leaky ReLU, bilinear
    /// upsampling, average pooling, concatenation, and a 1x1 head.
    static let architecture = Architecture(
        inputHeight: 16, inputWidth: 16, heatmapStride: 2,
        layers: [
            .conv("stem", "input", out: 4, stride: 2, coordinates: true),
            Architecture.Layer(name: "pool", op: .maxPool, inputs: ["stem"], kernel: 2, stride: 2),
            .conv("c1", "pool", out: 4, activation: "relu6", residual: "pool"),
            .conv("c2", "c1", out: 4, batchNorm: false, activation: "leaky_relu", residual: "pool"),
            Architecture.Layer(name: "up", op: .upsample, inputs: ["c2"], factor: 2),
            Architecture.Layer(name: "avg", op: .avgPool, inputs: ["stem"], kernel: 3, stride: 1, padding: 1),
            Architecture.Layer(name: "cat", op: .concat, inputs: ["up", "avg"]),
            .conv("head", "cat", out: 2, kernel: 1, batchNorm: false, activation: "none"),
        ], output: "head")

    /// Analytic gradients of the masked MSE (plain, and foreground-weighted) against central
    /// differences (h = 1e-6) in Double, at eight seeded positions of every trainable tensor, batch
    /// of 2 (batch norm in training mode): |analytic - numeric| <= 1e-5 max(|analytic|, |numeric|)
    /// + 1e-8. Central differences are accurate to about 1e-6 relative here (measured worst
    /// 1.4e-6), hence the bound.
    @Test(arguments: [0.0, 3.0]) func gradientsMatchFiniteDifferences(foregroundWeight: Double) throws {
        var weights = try Self.architecture.initialWeights(seed: 4)
        TestModels.randomize(&weights, seed: 40)
        let graph = try TrainingGraph<Double>(architecture: Self.architecture, weights: weights)
        let input = Grid<Double>(
            batch: 2, channels: 3, height: 16, width: 16,
            values: normalValues(2 * 3 * 256, seed: 41).map { Double($0) })
        let targets = Grid<Double>(
            batch: 2, channels: 2, height: 8, width: 8,
            values: normalValues(2 * 2 * 64, seed: 42).map { Double(abs($0)) })
        let mask: [Double] = [1, 0.5, 0, 1]  // image 1's second keypoint missing
        func loss() -> Double {
            graph.lossAndGradients(input: input, targets: targets, weights: mask, foregroundWeight: foregroundWeight)
                .loss
        }
        let (_, gradients) = graph.lossAndGradients(
            input: input, targets: targets, weights: mask, foregroundWeight: foregroundWeight)
        var random = SplitMix64(seed: 43)
        var checked = 0
        for name in graph.trainableNames {
            let analytic = try #require(gradients[name], "no gradient for \(name)")
            for _ in 0..<8 {
                let index = Int.random(in: 0..<analytic.count, using: &random)
                let original = graph.parameters[name]![index]
                let h = 1e-6
                graph.parameters[name]![index] = original + h
                let plus = loss()
                graph.parameters[name]![index] = original - h
                let minus = loss()
                graph.parameters[name]![index] = original
                let numeric = (plus - minus) / (2 * h)
                let scale = max(abs(analytic[index]), abs(numeric))
                #expect(
                    abs(analytic[index] - numeric) <= 1e-5 * scale + 1e-8,
                    "\(name)[\(index)]: \(analytic[index]) vs \(numeric)")
                checked += 1
            }
        }
        #expect(checked == graph.trainableNames.count * 8)
    }
}

struct OptimizerTests {
    @Test func scheduleWarmsUpThenDecays() {
        let schedule = LearningRateSchedule(base: 1e-3, warmupSteps: 10, totalSteps: 110)
        #expect(abs(schedule.rate(at: 0) - 1e-4) < 1e-15 && abs(schedule.rate(at: 9) - 1e-3) < 1e-15)
        #expect(abs(schedule.rate(at: 60) - 5e-4) < 1e-12 && schedule.rate(at: 110) < 1e-12)
    }

    /// A tiny network fitted to one batch of two images with Gaussian targets: the loss falls to
    /// under 2% of where it started in 120 AdamW steps.
    @Test func overfitsATinyBatch() throws {
        let architecture = Architecture.coordConvResNet(
            keypoints: 2, width: 4, depths: [1, 1, 1], inputWidth: 32,
            inputHeight: 32, heatmapStride: 4)
        let graph = try TrainingGraph<Float>(architecture: architecture, weights: architecture.initialWeights(seed: 7))
        let input = Grid<Float>(
            batch: 2, channels: 3, height: 32, width: 32, values: normalValues(2 * 3 * 1024, seed: 8))
        var targets: [Float] = []
        for (x, y) in [(2.0, 3.0), (5.0, 1.5), (6.0, 6.0), (1.0, 4.5)] {
            targets += HeatmapEncoder.gaussian(centerX: x, centerY: y, sigma: 1, width: 8, height: 8)
        }
        let target = Grid<Float>(batch: 2, channels: 2, height: 8, width: 8, values: targets)
        var optimizer = AdamW<Float>(weightDecay: 0)
        let first = graph.lossAndGradients(input: input, targets: target, weights: [1, 1, 1, 1]).loss
        var last = first
        for _ in 0..<120 {
            let (loss, gradients) = graph.lossAndGradients(input: input, targets: target, weights: [1, 1, 1, 1])
            optimizer.update(&graph.parameters, gradients: gradients, learningRate: 1e-2, on: graph.compute.pool)
            last = loss
        }
        print("overfit: loss \(first) -> \(last)")
        #expect(last < 0.02 * first)
    }
}

/// What augmentation does to a sample's geometry and pixels, and how earlier checkpoints load.
struct AugmentationSettingsTests {
    /// A zoom of 0.5 (the range [0.5, 0.5], nothing else random) shows the sample at half the
    /// size about the input's centre: each labeled point's target peak lies half as far from it.
    @Test func zoomShrinksTheSampleAboutTheCentre() throws {
        let folder = try TemporaryFolder()
        let (model, data) = try TrainingFixtures.tinyModelAndData(folder, size: 128)
        var fixed = Augmentation.none
        (fixed.minZoom, fixed.maxZoom) = (0.5, 0.5)
        let plain = try Trainer(
            model: model, data: data, settings: TrainingSettings(epochs: 1, batch: 2, augmentation: .none))
        let zoomed = try Trainer(
            model: model, data: data, settings: TrainingSettings(epochs: 1, batch: 2, augmentation: fixed))
        /// Target peaks as heatmap-pixel centroids of the labeled channels (dot and left_mark).
        func peaks(_ targets: [Float]) -> [Point] {
            (0..<2).map { channel in
                var (x, y, total) = (0.0, 0.0, 0.0)
                for row in 0..<32 {
                    for column in 0..<32 {
                        let value = Double(targets[channel * 1024 + row * 32 + column])
                        (x, y, total) = (x + value * Double(column), y + value * Double(row), total + value)
                    }
                }
                return Point(x: x / total, y: y / total)
            }
        }
        let centre = 15.5  // the centre of the 32x32 heatmap, in its pixels
        for index in 0..<4 {
            let full = peaks(try plain.prepare(index, epoch: 0, augment: true).targets)
            let half = peaks(try zoomed.prepare(index, epoch: 0, augment: true).targets)
            for (a, b) in zip(full, half) {
                // Points near an edge have truncated Gaussians; the labels lie 8 px inside the image.
                #expect(abs((b.x - centre) - (a.x - centre) / 2) < 0.15, "sample \(index): \(a) -> \(b)")
                #expect(abs((b.y - centre) - (a.y - centre) / 2) < 0.15, "sample \(index): \(a) -> \(b)")
            }
        }
    }

    /// The tiny model and data of 64x64 inputs, and a trainer whose only augmentation cuts
    /// samples off with probability `cutoff`.
    static func cuttingTrainer(_ folder: TemporaryFolder, cutoff: Double) throws -> (Model, TrainingData, Trainer) {
        let (model, data) = try TrainingFixtures.tinyModelAndData(folder, size: 64)
        var augmentation = Augmentation.none
        augmentation.cutoff = cutoff
        let settings = TrainingSettings(epochs: 1, batch: 2, augmentation: augmentation)
        return (model, data, try Trainer(model: model, data: data, settings: settings))
    }

    /// A cut-off sample: of the two labeled points, the one beyond the cut has no peak but counts
    /// in the loss (mask 1) and lies in padding; the other keeps its peak and its pixels.
    @Test func cutoffTrainsTheCutPartsAsAbsent() throws {
        let folder = try TemporaryFolder()
        let (model, data, trainer) = try Self.cuttingTrainer(folder, cutoff: 1)
        let padding = (0..<3).map { model.normalization(unit: 0, channel: $0) }
        for index in 0..<4 {
            for epoch in 0..<3 {
                let sample = try trainer.prepare(index, epoch: epoch, augment: true)
                var (absent, present) = (0, 0)
                for channel in 0..<2 {
                    let heatmap = sample.targets[(channel * 256)..<((channel + 1) * 256)]
                    #expect(sample.mask[channel] == 1, "a labeled point counts, cut off or not")
                    // Where the label lies in the 64x64 input (no other augmentation: the image is
                    // letterboxed, 64x48 into 64x64, 8 rows of padding above).
                    let label = data.samples[index].points[channel]!
                    let (x, y) = (Int(label.x.rounded()), Int(label.y.rounded()) + 8)
                    let isPadding = (0..<3).allSatisfy { sample.input[$0 * 4096 + y * 64 + x] == padding[$0] }
                    if heatmap.allSatisfy({ $0 == 0 }) {
                        absent += 1
                        #expect(isPadding, "sample \(index) epoch \(epoch): a cut-off point lies in padding")
                    } else {
                        present += 1
                        #expect(!isPadding, "sample \(index) epoch \(epoch): a kept point keeps its pixels")
                    }
                }
                #expect(absent == 1 && present == 1, "sample \(index) epoch \(epoch)")
            }
        }
    }

    /// A cut kept as a picture of its own holds exactly the pixels whose centres the cut does not
    /// remove, where they were; a cut that removes everything still leaves one row or column.
    @Test func edgeCutKeepsThePictureUpToTheCut() {
        var random = SplitMix64(seed: 9)
        let image = Image(width: 7, height: 5, pixels: (0..<105).map { _ in UInt8.random(in: 0...255, using: &random) })
        let cuts: [(EdgeCut.Side, Double)] = [(.bottom, 2.4), (.top, 1.5), (.left, 3), (.right, 0.2), (.bottom, -3)]
        for (side, position) in cuts {
            let cut = EdgeCut(side: side, position: position)
            let (kept, x0, y0) = cut.kept(of: image)
            let remaining = (0..<5).flatMap { y in (0..<7).map { x in (x, y) } }.filter {
                !cut.removes(Point(x: Double($0.0), y: Double($0.1)))
            }
            guard !remaining.isEmpty else {
                #expect(kept.width * kept.height == 7, "\(side) at \(position): one row left")
                continue
            }
            #expect(kept.width * kept.height == remaining.count, "\(side) at \(position)")
            for (x, y) in remaining {
                #expect(kept[x - x0, y - y0] == image[x, y], "\(side) at \(position): (\(x), \(y))")
            }
        }
    }

    /// With cut-off training, validation also predicts on each image cut at an edge through its
    /// labeled points: the same cut every time (and at any thread count), the sample then without
    /// the points beyond it (of two labeled points, the cut keeps 35-85% of their extent: one).
    /// The model scores by heatmap mass (by the peak without cut-offs).
    @Test func validationCutsEachImageTheSameWayEveryTime() throws {
        let folder = try TemporaryFolder()
        let (_, data, trainer) = try Self.cuttingTrainer(folder, cutoff: 0.3)
        let indices = Array(0..<4)
        let cut = try trainer.predict(indices, cut: true, threads: 2)
        let again = try trainer.predict(indices, cut: true, threads: 1)
        let whole = try trainer.predict(indices, cut: false, threads: 1)
        #expect(cut.predictions == again.predictions && cut.samples == again.samples)
        #expect(trainer.currentModel().heatmapScore == .mass, "a model trained with cut-offs scores by mass")
        #expect(try Self.cuttingTrainer(folder, cutoff: 0).2.currentModel().heatmapScore == .peak)
        #expect(cut.predictions != whole.predictions, "the cut images are other pictures")
        for (slot, index) in indices.enumerated() {
            let labeled = data.samples[index].points
            #expect(whole.samples[slot].points == labeled)
            #expect(cut.samples[slot].points.compactMap { $0 }.count == 1, "sample \(index)")
            let edge = try #require(trainer.validationCut(index, scale: try data.image(index).scale))
            for (point, kept) in zip(labeled, cut.samples[slot].points) {
                guard let point else { continue }
                #expect((kept == nil) == edge.removes(Point(x: point.x, y: point.y)), "sample \(index): \(point)")
            }
        }
    }

    /// Of the parts a cut removed, the share scored below the threshold; of those it kept, the
    /// share at or above it.
    @Test func cutOffScoresCountThePartsOnEachSideOfTheThreshold() {
        let labeled = LabeledPoint(x: 1, y: 1, visible: true)
        let whole = [
            LabeledSample(image: "a", points: [labeled, labeled, nil, labeled], isCrowd: false),
            LabeledSample(image: "b", points: [labeled, labeled, labeled, nil], isCrowd: false),
        ]
        var cut = whole
        (cut[0].points[1], cut[0].points[3], cut[1].points[2]) = (nil, nil, nil)
        func scored(_ scores: [Double?]) -> [PredictedPoint?] {
            scores.map { $0.map { PredictedPoint(x: 0, y: 0, score: $0) } }
        }
        let predictions = [scored([0.9, 0.2, 0.8, 0.6]), scored([0.3, 0.7, 0.1, 0.9])]
        let parts = ScoreThreshold.partsInPicture(whole: whole, cut: cut, predictions: predictions)
        let scores = CutOffScores(threshold: 0.5, parts: parts)
        #expect(scores.outside == 3 && scores.outsideBelow == 2.0 / 3)  // 0.2 and 0.1 below, 0.6 not
        #expect(scores.inside == 3 && scores.insideAbove == 2.0 / 3)  // 0.9 and 0.7 above, 0.3 not
    }

    /// Checkpoints written before the zoom range stored one `scale`; they load as the range it
    /// meant, and without the gamma, blur and noise they did not have.
    @Test func earlierScaleLoadsAsAZoomRange() throws {
        let earlier =
            #"{"colour":0.2,"flip":true,"occlusion":0,"rotation":30,"rotationProbability":0.6,"scale":0.25,"translation":0.1}"#
        let augmentation = try JSONDecoder().decode(Augmentation.self, from: Data(earlier.utf8))
        var expected = Augmentation()
        (expected.gamma, expected.blur, expected.blurSigma, expected.noise, expected.noiseLevel) = (0, 0, 0, 0, 0)
        #expect(augmentation == expected)
        #expect(try JSONDecoder().decode(Augmentation.self, from: JSONEncoder().encode(augmentation)) == augmentation)
        #expect(
            try JSONDecoder().decode(Augmentation.self, from: JSONEncoder().encode(Augmentation())) == Augmentation())
    }

    /// The blur is a normalised Gaussian: an impulse spreads into exp(-d^2 / 2 sigma^2) weights
    /// (separable, so the 2-D weight is the product) summing to 1; a flat plane stays flat; the
    /// other channels are untouched.
    @Test func blurSpreadsAnImpulseAsAGaussian() {
        let (width, height, sigma) = (21, 17, 1.2)
        var values = [Float](repeating: 0, count: 2 * width * height)
        values[width * height + 8 * width + 10] = 1
        for index in 0..<(width * height) { values[index] = 0.5 }
        Augmentation.blur(&values, plane: 1, width: width, height: height, sigma: sigma)
        Augmentation.blur(&values, plane: 0, width: width, height: height, sigma: sigma)
        let radius = Int((3 * sigma).rounded(.up))
        func weight(_ d: Int) -> Double { abs(d) <= radius ? exp(-Double(d * d) / (2 * sigma * sigma)) : 0 }
        let norm: Double = (-radius...radius).map(weight).reduce(0, +)
        for y in 0..<height {
            for x in 0..<width {
                let expected: Double = weight(x - 10) * weight(y - 8) / (norm * norm)
                #expect(abs(Double(values[width * height + y * width + x]) - expected) < 1e-6, "(\(x), \(y))")
                #expect(abs(values[y * width + x] - 0.5) < 1e-6)
            }
        }
    }

    /// With every pixel change off the values pass unchanged; noise alone moves them by about its
    /// level, the same on each channel, and keeps them in 0-1; gamma alone is a power, the same for
    /// every value.
    @Test func pixelChangesDoWhatTheySay() {
        let (width, height) = (32, 32)
        let plane = width * height
        let original = (0..<(3 * plane)).map { Float(($0 * 37) % 101) / 100 }
        var random = SplitMix64(seed: 3)
        var unchanged = original
        Augmentation.none.changePixels(of: &unchanged, width: width, height: height, random: &random)
        let moved = zip(unchanged, original).map { abs($0 - $1) }.max()!
        #expect(moved < 1e-6, "brightness and contrast of 1 round only")

        var noisy = Augmentation.none
        (noisy.noise, noisy.noiseLevel) = (1, 0.04)
        var noised = original
        noisy.changePixels(of: &noised, width: width, height: height, random: &random)
        let inside = original.indices.filter { original[$0] > 0.2 && original[$0] < 0.8 }
        let added = inside.map { noised[$0] - original[$0] }
        let deviation = sqrt(added.map { Double($0 * $0) }.reduce(0, +) / Double(added.count))
        #expect(deviation > 0 && deviation <= 0.04 * 1.1, "\(deviation)")
        #expect(noised.allSatisfy { $0 >= 0 && $0 <= 1 })
        for index in inside where index < plane && inside.contains(index + plane) {
            #expect(abs((noised[index] - original[index]) - (noised[index + plane] - original[index + plane])) < 1e-6)
        }

        var curved = Augmentation.none
        curved.gamma = 0.5
        var powered = original
        curved.changePixels(of: &powered, width: width, height: height, random: &random)
        let exponent = log(Double(powered[150])) / log(Double(original[150]))
        #expect(exponent >= exp(-0.5) - 1e-4 && exponent <= exp(0.5) + 1e-4 && abs(exponent - 1) > 1e-3)
        for index in original.indices where original[index] > 0.05 && original[index] < 0.95 {
            #expect(abs(Double(powered[index]) - pow(Double(original[index]), exponent)) < 1e-4)
        }
    }
}

struct WeightAverageTests {
    @Test func averageFollowsTheWeights() throws {
        let folder = try TemporaryFolder()
        let (model, data) = try TrainingFixtures.tinyModelAndData(folder, size: 64)
        var settings = TrainingSettings(epochs: 1, batch: 2, validationFraction: 0)
        settings.averageDecay = 0.2
        let trainer = try Trainer(model: model, data: data, settings: settings)
        var expected: [String: [Float]]?
        for step in 0..<4 {
            _ = try trainer.step([step % 4, (step + 1) % 4], epoch: 0, globalStep: step, totalSteps: 4)
            let weights = trainer.graph.parameters
            if var average = expected {
                let n = step + 1
                let d = Float(min(0.2, Double(1 + n) / Double(10 + n)))
                for (name, values) in weights {
                    for i in values.indices { average[name]![i] = d * average[name]![i] + (1 - d) * values[i] }
                }
                expected = average
            } else {
                expected = weights
            }
            #expect(trainer.average == expected, "step \(step)")
        }
        #expect(trainer.averageSteps == 4)
        #expect(trainer.currentModel(averaged: true).weights != trainer.currentModel().weights)
    }
}

struct TrainingMatchesInferenceTests {
    @Test(arguments: [true, false]) func sameHeatmapsAsTheEngine(coordinates: Bool) throws {
        let architecture = Architecture.coordConvResNet(
            keypoints: 3, width: 8, depths: [1, 1, 1], inputWidth: 96, inputHeight: 64, heatmapStride: 4,
            coordinates: coordinates)
        var weights = try architecture.initialWeights(seed: 8)
        TestModels.randomize(&weights, seed: 80)
        let image = normalValues(3 * 64 * 96, seed: 81)
        let network = try Network(architecture: architecture, weights: weights, threads: 1)
        _ = network.input.initialize(from: image)
        let engine = Array(network.run())
        let graph = try TrainingGraph<Float>(architecture: architecture, weights: weights)
        let trained = graph.forward(Grid(batch: 1, channels: 3, height: 64, width: 96, values: image), training: false)
        let scale = engine.map(abs).max()!
        let worst = zip(engine, trained.values).map { abs($0 - $1) }.max()!
        #expect(trained.values.count == engine.count && worst <= 1e-4 * scale, "worst \(worst) of \(scale)")
    }
}

/// Training on crops: a crop placed by its window sees the coordinates, and so the activations,
/// the whole input has there; and the trainer's crop samples are windows of its whole samples.
struct CropTrainingTests {
    @Test func coordinatesOfAWindowAreThoseOfTheWholeMap() {
        let whole = CoordConv.channels(height: 12, width: 20)
        let window = CoordinateWindow(originX: 8, originY: 4, canvasWidth: 20, canvasHeight: 12)
        let part = CoordConv.channels(height: 6, width: 10, window: window)
        for channel in 0..<2 {
            for i in 0..<6 {
                for j in 0..<10 {
                    #expect(part[channel * 60 + i * 10 + j] == whole[channel * 240 + (i + 4) * 20 + j + 8])
                }
            }
        }
    }

    /// A CoordConv stem (3x3, stride 2, padding 1) on a 16x16 crop at (8, 8) of a 32x32 input:
    /// away from the crop's top and left edges (where the crop pads zeros and the whole input has
    /// pixels), its outputs equal the whole input's to 1e-6.
    @Test func cropForwardMatchesTheWholeInput() throws {
        let architecture = Architecture(
            inputHeight: 32, inputWidth: 32, heatmapStride: 2,
            layers: [.conv("stem", "input", out: 4, stride: 2, coordinates: true, batchNorm: false)], output: "stem")
        var weights = try architecture.initialWeights(seed: 3)
        TestModels.randomize(&weights, seed: 30)
        let graph = try TrainingGraph<Float>(architecture: architecture, weights: weights)
        let image = normalValues(3 * 32 * 32, seed: 31)
        let whole = graph.forward(Grid(batch: 1, channels: 3, height: 32, width: 32, values: image), training: false)
        var crop: [Float] = []
        for c in 0..<3 {
            for y in 8..<24 {
                let start = c * 1024 + y * 32 + 8
                crop += image[start..<(start + 16)]
            }
        }
        let window = CoordinateWindow(originX: 8, originY: 8, canvasWidth: 32, canvasHeight: 32)
        let part = graph.forward(
            Grid(batch: 1, channels: 3, height: 16, width: 16, values: crop), training: false, windows: [window])
        var worst: Float = 0
        for c in 0..<4 {
            for i in 1..<8 {
                for j in 1..<8 {
                    let inWhole = c * 256 + (i + 4) * 16 + j + 4
                    worst = max(worst, abs(part.values[c * 64 + i * 8 + j] - whole.values[inWhole]))
                }
            }
        }
        #expect(worst <= 1e-6, "worst difference \(worst)")
    }

    /// With a 64x64 crop of a 128x128 input, each sample is a 32-aligned window of the sample the
    /// whole input gives (image to 1e-5, targets exactly), and its labeled points all count.
    @Test func cropSamplesAreWindowsOfWholeSamples() throws {
        let folder = try TemporaryFolder()
        let (model, data) = try TrainingFixtures.tinyModelAndData(folder, size: 128)
        var settings = TrainingSettings(epochs: 1, batch: 2, validationFraction: 0)
        let whole = try Trainer(model: model, data: data, settings: settings)
        settings.crop = [64, 64]
        let cropped = try Trainer(model: model, data: data, settings: settings)
        for epoch in 0..<10 {
            for index in 0..<4 {
                let full = try whole.prepare(index, epoch: epoch, augment: false)
                let part = try cropped.prepare(index, epoch: epoch, augment: false)
                let window = part.window
                #expect(window.originX % 32 == 0 && window.originY % 32 == 0)
                #expect((0...64).contains(window.originX) && (0...64).contains(window.originY))
                #expect(part.mask == full.mask && part.mask == [1, 1, 0])
                var imageDifference: Float = 0
                var targetsMatch = true
                for c in 0..<3 {
                    for y in 0..<64 {
                        for x in 0..<64 {
                            let inWhole = c * 16384 + (y + window.originY) * 128 + x + window.originX
                            let difference = abs(part.input[c * 4096 + y * 64 + x] - full.input[inWhole])
                            imageDifference = max(imageDifference, difference)
                        }
                    }
                    for y in 0..<16 {
                        for x in 0..<16 {
                            let inWhole = c * 1024 + (y + window.originY / 4) * 32 + x + window.originX / 4
                            targetsMatch = targetsMatch && part.targets[c * 256 + y * 16 + x] == full.targets[inWhole]
                        }
                    }
                }
                #expect(imageDifference <= 1e-5 && targetsMatch, "sample \(index) epoch \(epoch)")
            }
        }
    }
}

/// The Float graph (GEMMs on kp_sgemm, blocked over large sizes) against the Double graph
/// (plain loops) on a realistic network: every parameter gradient within 1e-3 of its largest
/// magnitude (fp32 sums of thousands of products).
struct FloatGradientTests {
    @Test(arguments: [true, false]) func floatGradientsMatchDouble(coordinates: Bool) throws {
        let architecture = Architecture.coordConvResNet(
            keypoints: 3, width: 8, depths: [1, 1, 1], inputWidth: 96, inputHeight: 64, heatmapStride: 4,
            coordinates: coordinates)
        var weights = try architecture.initialWeights(seed: 9)
        TestModels.randomize(&weights, seed: 90)
        let image = normalValues(2 * 3 * 64 * 96, seed: 91)
        let targets = normalValues(2 * 3 * 16 * 24, seed: 92)
        let mask: [Float] = [1, 1, 0, 1, 0.5, 1]
        let single = try TrainingGraph<Float>(architecture: architecture, weights: weights)
        let double = try TrainingGraph<Double>(architecture: architecture, weights: weights)
        let (_, floatGradients) = single.lossAndGradients(
            input: Grid(batch: 2, channels: 3, height: 64, width: 96, values: image),
            targets: Grid(batch: 2, channels: 3, height: 16, width: 24, values: targets), weights: mask)
        let (_, doubleGradients) = double.lossAndGradients(
            input: Grid(batch: 2, channels: 3, height: 64, width: 96, values: image.map { Double($0) }),
            targets: Grid(batch: 2, channels: 3, height: 16, width: 24, values: targets.map { Double($0) }),
            weights: mask.map { Double($0) })
        for name in single.trainableNames {
            let expected = doubleGradients[name]!
            let scale = expected.map(abs).max()!
            let worst = zip(floatGradients[name]!, expected).map { abs(Double($0) - $1) }.max()!
            #expect(worst <= 1e-3 * scale, "\(name): worst \(worst) of \(scale)")
        }
    }
}

/// A run driven from Swift, as an app would.
struct TrainingRunTests {
    @Test func libraryRunStoppedAndContinuedEndsLikeAnUninterruptedOne() throws {
        let folder = try TemporaryFolder()
        let (model, data) = try TrainingFixtures.tinyModelAndData(folder, size: 64)
        let settings = TrainingSettings(epochs: 2, batch: 2, validationFraction: 0.25, seed: 3, heatmapSigma: 2)
        let start = Checkpoint(
            model: model, optimizer: AdamW<Float>(weightDecay: Float(settings.weightDecay)), settings: settings,
            labels: folder.file("labels.csv"), imagesRoot: nil, epoch: 0, stepInEpoch: 0, bestError: nil,
            bestEpoch: nil, seconds: 0)

        let straight = try TrainingRun(checkpoint: start, data: data, modelPath: folder.file("straight.safetensors"))
        var steps: [[Int]] = []
        var epochs: [TrainingRun.EpochReport] = []
        let finished = try straight.run(progress: { progress in
            switch progress {
            case .step(let report): steps.append([report.epoch, report.step])
            case .epoch(let report): epochs.append(report)
            case .shortened: Issue.record("a run without a time limit was shortened")
            }
        })
        #expect(finished == .finished)
        #expect(steps == [[1, 1], [1, 2], [2, 1], [2, 2]])  // 3 training samples in batches of 2
        #expect(epochs.map(\.epoch) == [1, 2] && epochs[0].isBest && epochs[0].validation.meanError != nil)
        let best = try Model.load(contentsOf: straight.modelPath)
        #expect(best.provenance["epochs"] == "\(straight.checkpoint.bestEpoch!) of 2 (best)")

        // Asked before each step and each validation: the 5th time is before epoch 2's second
        // step, the 3rd before epoch 1's validation (its steps done, its validation to come).
        for (stopAt, epoch, step) in [(5, 1, 1), (3, 0, 2)] {
            let stopping = try TrainingRun(
                checkpoint: start, data: data, modelPath: folder.file("stopped\(stopAt).safetensors"))
            var asked = 0
            let stopped = try stopping.run(shouldStop: {
                asked += 1
                return asked == stopAt
            })
            #expect(stopped == .stopped)
            let saved = try Checkpoint.load(contentsOf: stopping.checkpointPath)
            #expect(saved.epoch == epoch && saved.stepInEpoch == step)
            let continued = try TrainingRun(checkpoint: saved, data: data, modelPath: stopping.modelPath)
            var validated: [Int] = []
            #expect(
                try continued.run(progress: { if case .epoch(let report) = $0 { validated.append(report.epoch) } })
                    == .finished)
            #expect(validated == Array((epoch + 1)...2))
            #expect(continued.checkpoint.model.weights == straight.checkpoint.model.weights)
            #expect(continued.checkpoint.bestEpoch == straight.checkpoint.bestEpoch)
            #expect(
                try Checkpoint.load(contentsOf: continued.checkpointPath).model.weights
                    == straight.checkpoint.model.weights)
        }
    }

    /// The epoch kept: any that improves on the kept one's validation, and the first one after the
    /// run's first quarter in place of an earlier one, however they compare.
    @Test func epochsOfTheFirstQuarterAreKeptOnlyUntilALaterOne() {
        // 105 epochs: 1-26 are the first quarter.
        #expect(TrainingRun.keepsAsBest(epoch: 1, of: 105, improved: true, bestEpoch: nil))
        #expect(TrainingRun.keepsAsBest(epoch: 6, of: 105, improved: true, bestEpoch: 4))
        #expect(!TrainingRun.keepsAsBest(epoch: 8, of: 105, improved: false, bestEpoch: 6))
        #expect(!TrainingRun.keepsAsBest(epoch: 26, of: 105, improved: false, bestEpoch: 6))
        #expect(TrainingRun.keepsAsBest(epoch: 27, of: 105, improved: false, bestEpoch: 6))
        #expect(!TrainingRun.keepsAsBest(epoch: 28, of: 105, improved: false, bestEpoch: 27))
        #expect(TrainingRun.keepsAsBest(epoch: 40, of: 105, improved: true, bestEpoch: 27))
        // Fewer than four epochs have no first quarter; a best by a switched criterion starts afresh.
        #expect(!TrainingRun.keepsAsBest(epoch: 2, of: 3, improved: false, bestEpoch: 1))
        #expect(TrainingRun.keepsAsBest(epoch: 2, of: 3, improved: false, bestEpoch: nil))
    }

    /// A run with a time limit times its first steps (validation included) and, when the planned
    /// epochs would not fit, ends sooner: the cut said and recorded. A limit the run fits changes
    /// nothing; one it fits at first but not after the machine slows down cuts it then.
    @Test func timeLimitCutsARunThatWouldNotFit() throws {
        let folder = try TemporaryFolder()
        let (model, data) = try TrainingFixtures.tinyModelAndData(folder, size: 64)
        var settings = TrainingSettings(epochs: 20, batch: 2, validationFraction: 0.25, seed: 3, heatmapSigma: 2)
        settings.timeLimit = 1e-3  // 3 training samples: 2 steps an epoch, 40 planned
        let start = Checkpoint(
            model: model, optimizer: AdamW<Float>(weightDecay: Float(settings.weightDecay)), settings: settings,
            labels: folder.file("labels.csv"), imagesRoot: nil, epoch: 0, stepInEpoch: 0, bestError: nil,
            bestEpoch: nil, seconds: 0)
        let run = try TrainingRun(checkpoint: start, data: data, modelPath: folder.file("cut.safetensors"))
        run.stepsToTime = 4  // checked after epoch 2
        var validated: [Int] = []
        var cuts: [[Int]] = []
        let outcome = try run.run(progress: { progress in
            switch progress {
            case .step: break
            case .epoch(let report): validated.append(report.epoch)
            case .shortened(let from, let to, let projected, _):
                cuts.append([from, to])
                #expect(projected > 1e-3)
            }
        })
        #expect(outcome == .finished)
        #expect(cuts == [[20, 3]] && validated == [1, 2, 3])  // at least one epoch after the timing
        let saved = try Checkpoint.load(contentsOf: run.checkpointPath)
        #expect(saved.settings.epochs == 3 && saved.settings.timeLimit == 1e-3 && saved.epoch == 3)
        #expect(saved.model.provenance["schedule_changes"] == "20 -> 3 epochs at epoch 3 step 1")

        var roomy = start
        (roomy.settings.epochs, roomy.settings.timeLimit) = (3, 1e6)
        let fits = try TrainingRun(checkpoint: roomy, data: data, modelPath: folder.file("fits.safetensors"))
        fits.stepsToTime = 2
        var shortened = false
        #expect(try fits.run(progress: { if case .shortened = $0 { shortened = true } }) == .finished)
        let kept = try Checkpoint.load(contentsOf: fits.checkpointPath)
        #expect(!shortened && kept.settings.epochs == 3 && kept.settings.timeLimit == 1e6)
        #expect(kept.model.provenance["schedule_changes"] == nil)

        // 20 epochs fit 1000 s at the pace of the first two; after the third, 900 s pass at once.
        var slowing = start
        slowing.settings.timeLimit = 1000
        let slows = try TrainingRun(checkpoint: slowing, data: data, modelPath: folder.file("slows.safetensors"))
        slows.stepsToTime = 4
        final class Offset: @unchecked Sendable { var seconds = 0.0 }
        let offset = Offset()
        slows.clock = { Date().addingTimeInterval(offset.seconds) }
        var slowCuts: [[Int]] = []
        #expect(
            try slows.run(progress: { progress in
                switch progress {
                case .epoch(let report) where report.epoch == 3: offset.seconds = 900
                case .shortened(let from, let to, _, _): slowCuts.append([from, to])
                default: break
                }
            }) == .finished)
        // 900 s for 6 steps leaves no step in the 100 s left: one more epoch, then the end.
        #expect(slowCuts == [[20, 4]])
        #expect(try Checkpoint.load(contentsOf: slows.checkpointPath).settings.epochs == 4)
    }

    /// Settings changed on resuming apply only when they differ, each recorded with where the
    /// run stood; fewer epochs than reached is refused.
    @Test func scheduleChangesAreRecordedInOrder() throws {
        let folder = try TemporaryFolder()
        let (model, _) = try TrainingFixtures.tinyModelAndData(folder, size: 64)
        let settings = TrainingSettings(epochs: 4, batch: 2, heatmapSigma: 2)
        var checkpoint = Checkpoint(
            model: model, optimizer: AdamW<Float>(weightDecay: 0), settings: settings, labels: "labels.csv",
            imagesRoot: nil, epoch: 2, stepInEpoch: 5, bestError: 3, bestEpoch: 2, seconds: 0)
        try checkpoint.apply(.epochs(4))
        try checkpoint.apply(.zoom(min: settings.augmentation.minZoom, max: settings.augmentation.maxZoom))
        #expect(checkpoint.model.provenance["schedule_changes"] == nil)
        try checkpoint.apply(.zoom(min: 0.6, max: 1.3))
        try checkpoint.apply(.bestBy(.pck))
        try checkpoint.apply(.epochs(6))
        #expect(
            checkpoint.model.provenance["schedule_changes"]
                == "zoom 0.8-1.25 -> 0.6-1.3 from epoch 3 step 6; best by pck from epoch 3; 4 -> 6 epochs at epoch 3 step 6"
        )
        #expect(checkpoint.settings.augmentation.minZoom == 0.6 && checkpoint.settings.epochs == 6)
        #expect(checkpoint.bestError == nil && checkpoint.settings.bestBy == .pck)
        #expect(throws: InputError.invalid("2 epochs: the checkpoint has already reached epoch 3")) {
            try checkpoint.apply(.epochs(2))
        }
    }

    /// With --checkpoint-minutes 0 the checkpoint follows every step, so a run killed with
    /// SIGKILL part way through an epoch resumes from that step and ends with the same weights.
}

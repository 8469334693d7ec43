import CConvKernels
import Foundation
import Testing

@testable import KeypointKit

struct GradientTests {
    /// Every layer type in one network: CoordConv stem with batch norm and ReLU, max pooling,
    /// ReLU6, a residual convolution with bias and leaky ReLU, bilinear upsampling, average
    /// pooling, concatenation, and a 1x1 head.
    static let architecture = Architecture(
        inputHeight: 16, inputWidth: 16, heatmapStride: 2,
        layers: [
            .conv("stem", "input", out: 4, stride: 2, coordinates: true),
            Architecture.Layer(name: "pool", op: .maxPool, inputs: ["stem"], kernel: 2, stride: 2),
            .conv("c1", "pool", out: 4, activation: "relu6"),
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
        NetworkTests.randomize(&weights, seed: 40)
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
            optimizer.update(&graph.parameters, gradients: gradients, learningRate: 1e-2)
            last = loss
        }
        print("overfit: loss \(first) -> \(last)")
        #expect(last < 0.02 * first)
    }
}

/// What is trained is what runs: the training graph in inference mode and the inference engine
/// (batch norm folded, CoordConv as a spatial bias) give the same heatmaps.
/// The moving average of the weights: the weights themselves after the first step, then
/// d a + (1 - d) w with d = min(decay, (1 + n) / (10 + n)) on the n-th step, exactly.
struct AugmentationSettingsTests {
    /// A zoom of 0.5 (the range [0.5, 0.5], nothing else random) shows the sample at half the
    /// size about the input's centre: each labeled point's target peak lies half as far from it.
    @Test func zoomShrinksTheSampleAboutTheCentre() throws {
        let folder = try TemporaryFolder()
        let (model, data) = try TrainCommandTests.tinyModelAndData(folder, size: 128)
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

    /// Checkpoints written before the zoom range stored one `scale`; they load as the range it meant.
    @Test func earlierScaleLoadsAsAZoomRange() throws {
        let earlier =
            #"{"colour":0.2,"flip":true,"occlusion":0,"rotation":30,"rotationProbability":0.6,"scale":0.25,"translation":0.1}"#
        let augmentation = try JSONDecoder().decode(Augmentation.self, from: Data(earlier.utf8))
        #expect(augmentation == Augmentation())
        #expect(try JSONDecoder().decode(Augmentation.self, from: JSONEncoder().encode(augmentation)) == augmentation)
    }
}

struct WeightAverageTests {
    @Test func averageFollowsTheWeights() throws {
        let folder = try TemporaryFolder()
        let (model, data) = try TrainCommandTests.tinyModelAndData(folder, size: 64)
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
        NetworkTests.randomize(&weights, seed: 80)
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
        NetworkTests.randomize(&weights, seed: 30)
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
        let (model, data) = try TrainCommandTests.tinyModelAndData(folder, size: 128)
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
        NetworkTests.randomize(&weights, seed: 90)
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

struct TrainingGemmTests {
    /// kp_sgemm against the plain loops in Double, every transpose combination, with and without
    /// accumulation, odd sizes around the microkernel blocks and a tall narrow product (split
    /// into bands of rows), on every ISA: within 1e-5 of the largest magnitude (fp32 sums of up
    /// to 70 products), and bit-identical on 1, 2 and 3 threads.
    /// kp_im2col and kp_col2im (Float, threaded) against the plain loops (Double): exactly equal
    /// for im2col (copies); col2im's sums of at most k*k values within 1e-6 of the largest.
    @Test func unfoldMatchesPlainLoops() throws {
        for (kernel, stride, padding) in [(3, 1, 1), (3, 2, 1), (1, 1, 0), (1, 2, 0), (3, 1, 0)] {
            let g = ConvolutionShape(inChannels: 5, outChannels: 1, kernel: kernel, stride: stride, padding: padding)
            let (ho, wo) = g.outputSize(height: 11, width: 9)
            let compute = TrainingCompute()
            let x = normalValues(5 * 11 * 9, seed: 7)
            var floatColumns = [Float](repeating: .nan, count: 5 * kernel * kernel * ho * wo)
            var doubleColumns = [Double](repeating: .nan, count: floatColumns.count)
            Float.im2col(x, channels: 5, height: 11, width: 9, g, into: &floatColumns, on: compute)
            Double.im2col(x.map { Double($0) }, channels: 5, height: 11, width: 9, g, into: &doubleColumns, on: compute)
            #expect(floatColumns.map { Double($0) } == doubleColumns, "im2col k\(kernel) s\(stride) p\(padding)")

            let columns = normalValues(floatColumns.count, seed: 8)
            var floatImage = normalValues(5 * 11 * 9, seed: 9)  // col2im adds to what is there
            var doubleImage = floatImage.map { Double($0) }
            Float.col2im(columns, channels: 5, height: 11, width: 9, g, into: &floatImage, on: compute)
            Double.col2im(
                columns.map { Double($0) }, channels: 5, height: 11, width: 9, g, into: &doubleImage, on: compute)
            let worst = zip(floatImage, doubleImage).map { abs(Double($0) - $1) }.max()!
            #expect(worst <= 1e-6 * doubleImage.map(abs).max()!, "col2im k\(kernel) s\(stride) p\(padding)")
        }
    }

    /// kp_conv_weight_gradient against the sum written out in Double, over strides, paddings,
    /// kernels, a dilation, channel counts around the microkernel blocks and a batch of three, on
    /// every ISA, every algorithm: bit-identical on 1, 2 and 3 threads, and within 1e-5 of the
    /// largest magnitude for taps and patches (fp32 sums in another order), 1e-4 for Winograd
    /// F(3x3, 4x4) (the transforms' entries, up to 8 per dimension, cost bits as in the forward
    /// F(4x4, 3x3): measured 1.0e-6 to 9.3e-6, the largest on the 60x60 case whose sums run over
    /// 10800 pixels; taps 2.9e-6 there). The 60x60 cases take several chunks: of images for
    /// Winograd (128 tiles), of rows for patches (256 KiB of them); the stride-2 one is the stem's.
    @Test(arguments: InstructionSet.available)
    func weightGradientMatchesTheSum(isa: InstructionSet) throws {
        let pools = [1, 2, 3].map { ThreadPool(threads: $0) }
        let cases: [(ConvolutionShape, Int, Int)] = [
            (ConvolutionShape(inChannels: 5, outChannels: 13, kernel: 3, padding: 1), 9, 7),
            (ConvolutionShape(inChannels: 17, outChannels: 25, kernel: 3, stride: 2, padding: 1), 11, 8),
            (ConvolutionShape(inChannels: 40, outChannels: 12, kernel: 1), 5, 6),
            (ConvolutionShape(inChannels: 3, outChannels: 8, kernel: 5, padding: 2, dilation: 2), 9, 9),
            (ConvolutionShape(inChannels: 48, outChannels: 24, kernel: 3, padding: 0), 6, 10),
            (ConvolutionShape(inChannels: 5, outChannels: 13, kernel: 3, padding: 2), 5, 4),
            (ConvolutionShape(inChannels: 7, outChannels: 13, kernel: 3, padding: 1), 60, 60),
            (ConvolutionShape(inChannels: 5, outChannels: 24, kernel: 3, stride: 2, padding: 1), 60, 60),
        ]
        for (shape, height, width) in cases {
            let batch = 3
            let size = shape.outputSize(height: height, width: width)
            let x = normalValues(batch * shape.inChannels * height * width, seed: 11)
            let dy = normalValues(batch * shape.outChannels * size.height * size.width, seed: 12)
            let k = shape.kernelHeight
            var expected = [Double](repeating: 0, count: shape.outChannels * shape.inChannels * k * k)
            for n in 0..<batch {
                for o in 0..<shape.outChannels {
                    for c in 0..<shape.inChannels {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                var sum = 0.0
                                for oy in 0..<size.height {
                                    let y = oy * shape.strideY - shape.padY + ky * shape.dilationY
                                    guard y >= 0 && y < height else { continue }
                                    for ox in 0..<size.width {
                                        let xx = ox * shape.strideX - shape.padX + kx * shape.dilationX
                                        guard xx >= 0 && xx < width else { continue }
                                        sum +=
                                            Double(
                                                dy[((n * shape.outChannels + o) * size.height + oy) * size.width + ox])
                                            * Double(x[((n * shape.inChannels + c) * height + y) * width + xx])
                                    }
                                }
                                expected[((o * shape.inChannels + c) * k + ky) * k + kx] += sum
                            }
                        }
                    }
                }
            }
            var kpShape = shape.kp
            let winograd = k == 3 && shape.strideY == 1 && shape.strideX == 1 && shape.dilationY == 1
            var algorithms = [(KP_GRADIENT_TAPS, 1e-5), (KP_GRADIENT_PATCHES, 1e-5)]
            if winograd { algorithms.append((KP_GRADIENT_WINOGRAD_F4, 1e-4)) }
            for (algorithm, tolerance) in algorithms {
                var results: [[Float]] = []
                for pool in pools {
                    var dw = [Float](repeating: .nan, count: expected.count)
                    let status = kp_conv_weight_gradient(
                        isa.kp, &kpShape, Int32(batch), Int32(height), Int32(width), x, dy, &dw, algorithm, pool.pool)
                    #expect(status == 0)
                    results.append(dw)
                }
                let error = relativeError(results[0], expected.map { Float($0) })
                #expect(error <= tolerance, "\(isa) \(algorithm) \(shape): \(error)")
                #expect(
                    results.dropFirst().allSatisfy { $0 == results[0] },
                    "\(isa) \(algorithm) \(shape): thread counts differ")
            }
            var dw = [Float](repeating: 0, count: expected.count)
            #expect(
                (kp_conv_weight_gradient(
                    isa.kp, &kpShape, Int32(batch), Int32(height), Int32(width), x, dy, &dw, KP_GRADIENT_WINOGRAD_F4,
                    nil) == 0) == winograd, "Winograd runs exactly the 3x3 stride-1 shapes")
        }
    }

    @Test(arguments: InstructionSet.available)
    func sgemmMatchesPlainLoops(isa: InstructionSet) throws {
        let pools = [2, 3].map { ThreadPool(threads: $0) }
        for (m, n, k) in [(1, 1, 1), (13, 37, 9), (12, 32, 70), (25, 65, 3), (150, 20, 50)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    for accumulate in [false, true] {
                        let a = normalValues(m * k, seed: 1), b = normalValues(k * n, seed: 2)
                        var c = normalValues(m * n, seed: 3)
                        var expected = c.map { Double($0) }
                        let ad = a.map { Double($0) }, bd = b.map { Double($0) }
                        ad.withUnsafeBufferPointer { pa in
                            bd.withUnsafeBufferPointer { pb in
                                expected.withUnsafeMutableBufferPointer { pc in
                                    Double.multiply(
                                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                        a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!,
                                        accumulate: accumulate, on: TrainingCompute(threads: 1))
                                }
                            }
                        }
                        let initial = c
                        let status = kp_sgemm(
                            isa.kp, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, transposeA ? m : k,
                            b, transposeB ? k : n, &c, n, accumulate ? 1 : 0, nil)
                        #expect(status == 0)
                        for pool in pools {
                            var threaded = initial
                            _ = kp_sgemm(
                                isa.kp, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, transposeA ? m : k,
                                b, transposeB ? k : n, &threaded, n, accumulate ? 1 : 0, pool.pool)
                            #expect(threaded == c, "\(isa) \(m)x\(n)x\(k) on \(pool.threads) threads")
                        }
                        let error = relativeError(c, expected.map { Float($0) })
                        #expect(
                            error <= 1e-5,
                            "\(isa) \(m)x\(n)x\(k) tA \(transposeA) tB \(transposeB) acc \(accumulate): \(error)")
                    }
                }
            }
        }
    }
}

/// `keypoints train` end to end on a small generated set: images with two bright dots whose
/// positions are the labels.
struct TrainCommandTests {
    static func dataset(_ folder: TemporaryFolder, count: Int) throws -> String {
        var random = SplitMix64(seed: 5)
        var lines = ["image,dot_x,dot_y,left_mark_x,left_mark_y,right_mark_x,right_mark_y"]
        for index in 0..<count {
            var image = Image(width: 64, height: 48, fill: RGB(20, 20, 20))
            let dot = Point(x: Double.random(in: 8...56, using: &random), y: Double.random(in: 8...40, using: &random))
            let mark = Point(x: Double.random(in: 8...56, using: &random), y: Double.random(in: 8...40, using: &random))
            image.fillCircle(center: dot, radius: 3, color: .white)
            image.fillCircle(center: mark, radius: 3, color: RGB(255, 0, 0))
            try image.writePNG(to: folder.file("img\(index).png"))
            lines.append("img\(index).png,\(dot.x),\(dot.y),\(mark.x),\(mark.y),,")
        }
        return try folder.write(Array(lines.joined(separator: "\n").utf8), to: "labels.csv")
    }

    /// A width-4 model of the default family with a size x size input, and the training data of 4
    /// images generated in `folder` (dot, left_mark, right_mark; right_mark unlabeled).
    static func tinyModelAndData(_ folder: TemporaryFolder, size: Int) throws -> (Model, TrainingData) {
        let labels = try dataset(folder, count: 4)
        let set = try LabeledSet.load(contentsOf: labels)
        let architecture = Architecture.coordConvResNet(
            keypoints: 3, width: 4, depths: [1, 1, 1], inputWidth: size, inputHeight: size, heatmapStride: 4)
        let model = Model(
            architecture: architecture, keypointNames: set.keypointNames, flipPairs: [[1, 2]],
            weights: try architecture.initialWeights(seed: 1))
        return (model, try TrainingData(labels: set, labelsPath: labels, imagesRoot: nil, inputSize: size))
    }

    /// `keypoints train arguments` started in the background, returned once its progress on
    /// stderr has shown `marker` (or it has ended), with that stderr pipe.
    static func startTraining(_ arguments: [String], until marker: String) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLineTool.path)
        process.arguments = ["train"] + arguments
        let progress = Pipe()
        process.standardError = progress
        try process.run()
        var log = ""
        while !log.contains(marker) {
            let chunk = progress.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        return (process, progress)
    }

    static let arguments = arguments(epochs: 6)

    /// A tiny run's options: a width-4 network on 64x64 inputs, batch 4, 20% validation.
    static func arguments(epochs: Int) -> [String] {
        [
            "--epochs", "\(epochs)", "--batch", "4", "--input", "64x64", "--width", "4", "--depths", "1,1,1",
            "--val-fraction", "0.2", "--threads", "1",
        ]
    }

    @Test func trainsWritesProvenanceAndResumesExactly() throws {
        let folder = try TemporaryFolder()
        let labels = try Self.dataset(folder, count: 16)
        let straight = folder.file("straight.safetensors")
        let first = try CommandLineTool.run(["train", "--labels", labels, "--out", straight] + Self.arguments)
        #expect(first.status == 0, "\(first.errors)")
        #expect(first.errors.contains("training on 13 samples, validating on 3; 6 epochs of 4 steps"))
        let model = try Model.load(contentsOf: straight)
        #expect(model.keypointNames == ["dot", "left_mark", "right_mark"])
        #expect(model.flipPairs == [[1, 2]])
        #expect(model.provenance["data"] == labels && model.provenance["seed"] == "1")
        #expect(
            model.provenance["validation_mean_error_px"] != nil && model.provenance["split"] == "fraction 0.2, seed 1")
        let finalWeights = try Checkpoint.load(contentsOf: straight + ".checkpoint").model.weights

        // The same run, interrupted with SIGINT part way and resumed, ends with the same weights.
        let interrupted = folder.file("interrupted.safetensors")
        // Interrupt once the first epoch's validation line appears; three epochs remain then.
        let (process, progress) = try Self.startTraining(
            ["--labels", labels, "--out", interrupted] + Self.arguments, until: "epoch 1:")
        kill(process.processIdentifier, SIGINT)
        _ = progress.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 130 {
            let resumed = try CommandLineTool.run([
                "train", "--resume", interrupted + ".checkpoint", "--out", interrupted,
            ])
            #expect(resumed.status == 0, "\(resumed.errors)")
        } else {
            Issue.record("the run ended (status \(process.terminationStatus)) before it could be interrupted")
        }
        let resumedWeights = try Checkpoint.load(contentsOf: interrupted + ".checkpoint").model.weights
        #expect(resumedWeights == finalWeights)
    }

    /// The library's run loop, as an app would drive it: stopped part way through an epoch and
    /// continued by a new run from its checkpoint, it ends with the uninterrupted run's weights;
    /// it reports every step and each epoch's validation.
    @Test func libraryRunStoppedAndContinuedEndsLikeAnUninterruptedOne() throws {
        let folder = try TemporaryFolder()
        let (model, data) = try Self.tinyModelAndData(folder, size: 64)
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
            }
        })
        #expect(finished == .finished)
        #expect(steps == [[1, 1], [1, 2], [2, 1], [2, 2]])  // 3 training samples in batches of 2
        #expect(epochs.map(\.epoch) == [1, 2] && epochs[0].isBest && epochs[0].validation.meanError != nil)
        let best = try Model.load(contentsOf: straight.modelPath)
        #expect(best.provenance["epochs"] == "\(straight.checkpoint.bestEpoch!) of 2 (best)")

        let stopping = try TrainingRun(checkpoint: start, data: data, modelPath: folder.file("stopped.safetensors"))
        var asked = 0
        let stopped = try stopping.run(shouldStop: {
            asked += 1
            return asked == 4  // before the run's fourth step: epoch 2, step 2
        })
        #expect(stopped == .stopped)
        let saved = try Checkpoint.load(contentsOf: stopping.checkpointPath)
        #expect(saved.epoch == 1 && saved.stepInEpoch == 1)
        let continued = try TrainingRun(checkpoint: saved, data: data, modelPath: stopping.modelPath)
        #expect(try continued.run() == .finished)
        #expect(continued.checkpoint.model.weights == straight.checkpoint.model.weights)
        #expect(
            try Checkpoint.load(contentsOf: continued.checkpointPath).model.weights == straight.checkpoint.model.weights
        )
    }

    /// Settings changed on resuming apply only when they differ, each recorded with where the
    /// run stood; fewer epochs than reached is refused.
    @Test func scheduleChangesAreRecordedInOrder() throws {
        let folder = try TemporaryFolder()
        let (model, _) = try Self.tinyModelAndData(folder, size: 64)
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
        #expect(throws: EvaluationError.invalid("2 epochs: the checkpoint has already reached epoch 3")) {
            try checkpoint.apply(.epochs(2))
        }
    }

    /// With --checkpoint-minutes 0 the checkpoint follows every step, so a run killed with
    /// SIGKILL part way through an epoch resumes from that step and ends with the same weights.
    @Test func killedRunResumesFromItsLastStep() throws {
        let folder = try TemporaryFolder()
        let labels = try Self.dataset(folder, count: 16)
        let straight = folder.file("straight.safetensors")
        let arguments = Self.arguments + ["--checkpoint-minutes", "0"]
        let first = try CommandLineTool.run(["train", "--labels", labels, "--out", straight] + arguments)
        #expect(first.status == 0, "\(first.errors)")
        let killed = folder.file("killed.safetensors")
        let (process, _) = try Self.startTraining(
            ["--labels", labels, "--out", killed] + arguments, until: "epoch 2/6  step 3/4")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let saved = try Checkpoint.load(contentsOf: killed + ".checkpoint")
        // Killed at (epoch index 1, step index 2) or just after: the epoch-end checkpoint alone would
        // stand at step 4 of the run.
        let position = saved.epoch * 4 + saved.stepInEpoch
        #expect(position >= 6, "epoch \(saved.epoch) step \(saved.stepInEpoch)")
        let resumed = try CommandLineTool.run(["train", "--resume", killed + ".checkpoint", "--out", killed])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let finalWeights = try Checkpoint.load(contentsOf: straight + ".checkpoint").model.weights
        #expect(try Checkpoint.load(contentsOf: killed + ".checkpoint").model.weights == finalWeights)
    }

    /// A finished run of `epochs` epochs of `arguments` on 16 images generated in `folder`; the model's path.
    static func finishedRun(in folder: TemporaryFolder, epochs: Int) throws -> String {
        let labels = try Self.dataset(folder, count: 16)
        let out = folder.file("m.safetensors")
        let arguments = Self.arguments(epochs: epochs)
        let run = try CommandLineTool.run(["train", "--labels", labels, "--out", out] + arguments)
        #expect(run.status == 0, "\(run.errors)")
        return out
    }

    /// A finished run resumed with a larger --epochs trains on to it, its schedule stretched, and
    /// says so in the provenance; an --epochs below what was reached is refused.
    @Test func resumedRunExtendsToMoreEpochs() throws {
        let folder = try TemporaryFolder()
        let out = try Self.finishedRun(in: folder, epochs: 2)
        let twoEpochs = try Checkpoint.load(contentsOf: out + ".checkpoint").model.weights
        let extended = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "3",
        ])
        #expect(extended.status == 0, "\(extended.errors)")
        #expect(extended.errors.contains("3 epochs of 4 steps") && extended.errors.contains("epoch 3:"))
        #expect(!extended.errors.contains("epoch 2:"))
        let checkpoint = try Checkpoint.load(contentsOf: out + ".checkpoint")
        #expect(checkpoint.epoch == 3 && checkpoint.settings.epochs == 3)
        #expect(checkpoint.model.weights != twoEpochs)
        #expect(checkpoint.model.provenance["schedule_changes"] == "2 -> 3 epochs at epoch 3 step 1")
        let shortened = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "2",
        ])
        #expect(shortened.status != 0)
        #expect(shortened.errors.contains("already reached epoch 3"))
    }

    /// A run resumed with another --input carries on at that size with the same weights'
    /// shapes, and says so in the provenance.
    @Test func resumedRunChangesItsInputSize() throws {
        let folder = try TemporaryFolder()
        let out = try Self.finishedRun(in: folder, epochs: 1)
        let before = try Checkpoint.load(contentsOf: out + ".checkpoint").model
        let resized = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "2", "--input", "96x64",
        ])
        #expect(resized.status == 0, "\(resized.errors)")
        let after = try Checkpoint.load(contentsOf: out + ".checkpoint").model
        #expect(after.architecture.inputWidth == 96 && after.architecture.inputHeight == 64)
        #expect(after.weights.mapValues(\.shape) == before.weights.mapValues(\.shape))
        #expect(after.weights != before.weights)
        #expect(
            after.provenance["schedule_changes"]
                == "1 -> 2 epochs at epoch 2 step 1; input 64x64 -> 96x64 at epoch 2 step 1")
        let detected = try CommandLineTool.run(["detect", folder.file("img0.png"), "--model", out, "--json"])
        #expect(detected.status == 0, "\(detected.errors)")
        let bad = try CommandLineTool.run(["train", "--resume", out + ".checkpoint", "--out", out, "--input", "90x64"])
        #expect(bad.status != 0 && bad.errors.contains("multiples of 32"))
    }

    /// --average-decay: the checkpoint carries the weights' moving average over every step, the
    /// model written is the average (and says so), and a run resumed with it starts averaging
    /// there, recorded in the provenance; a decay outside (0, 1) is refused.
    @Test func keepsAMovingAverageOfTheWeights() throws {
        let folder = try TemporaryFolder()
        let labels = try Self.dataset(folder, count: 16)
        let out = folder.file("averaged.safetensors")
        var arguments = Self.arguments(epochs: 2)
        arguments[arguments.firstIndex(of: "--val-fraction")! + 1] = "0"  // no validation: every epoch is kept
        let run = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", out, "--average-decay", "0.9"] + arguments)
        #expect(run.status == 0, "\(run.errors)")
        let checkpoint = try Checkpoint.load(contentsOf: out + ".checkpoint")
        #expect(checkpoint.settings.averageDecay == 0.9 && checkpoint.averageSteps == 8)
        let average = try #require(checkpoint.average)
        #expect(Set(average.keys) == Set(checkpoint.model.weights.keys))
        #expect(average.contains { name, values in values != checkpoint.model.weights[name]!.data })
        let model = try Model.load(contentsOf: out)
        #expect(model.provenance["weights"] == "moving average over 8 steps, decay 0.9")
        #expect(model.weights.allSatisfy { name, tensor in tensor.data == average[name]! })

        let plain = try Self.finishedRun(in: folder, epochs: 1)
        let resumed = try CommandLineTool.run([
            "train", "--resume", plain + ".checkpoint", "--out", plain, "--epochs", "2", "--average-decay", "0.99",
        ])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let after = try Checkpoint.load(contentsOf: plain + ".checkpoint")
        #expect(after.averageSteps == 4 && after.average != nil)
        #expect(
            after.model.provenance["schedule_changes"]
                == "1 -> 2 epochs at epoch 2 step 1; weights averaged (decay 0.99) from epoch 2 step 1")
        let bad = try CommandLineTool.run(["train", "--labels", labels, "--out", out, "--average-decay", "1"])
        #expect(bad.status != 0 && bad.errors.contains("--average-decay must lie between 0 and 1"))
    }

    /// --flip-pairs replaces the pairs inferred from the names and training lists them; --zoom sets
    /// the zoom range, and changes it on --resume, recorded in the provenance; bad values are refused.
    @Test func takesFlipPairsAndAZoomRange() throws {
        let folder = try TemporaryFolder()
        let labels = try Self.dataset(folder, count: 16)
        let out = folder.file("paired.safetensors")
        let arguments = Self.arguments(epochs: 1)
        let inferred = try CommandLineTool.run(["train", "--labels", labels, "--out", out] + arguments)
        #expect(
            inferred.status == 0 && inferred.errors.contains("mirroring swaps left_mark/right_mark"),
            "\(inferred.errors)")
        let run = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", out, "--flip-pairs", "right_mark/left_mark", "--zoom", "0.5,1.5"]
                + arguments)
        #expect(run.status == 0 && run.errors.contains("mirroring swaps right_mark/left_mark"), "\(run.errors)")
        #expect(try Model.load(contentsOf: out).flipPairs == [[2, 1]])
        let augmentation = try Checkpoint.load(contentsOf: out + ".checkpoint").settings.augmentation
        #expect(augmentation.minZoom == 0.5 && augmentation.maxZoom == 1.5)

        let resumed = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "2", "--zoom", "0.6,1.5",
            "--second-pass", "2", "--flip-test",
        ])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let after = try Checkpoint.load(contentsOf: out + ".checkpoint")
        #expect(after.settings.augmentation.minZoom == 0.6 && after.model.secondPassScale == 2)
        #expect(
            after.model.provenance["schedule_changes"]
                == "1 -> 2 epochs at epoch 2 step 1; zoom 0.5-1.5 -> 0.6-1.5 from epoch 2 step 1; second pass 2.0x from epoch 2 step 1; flip test on from epoch 2"
        )
        let written = try Model.load(contentsOf: out)
        #expect(written.secondPassScale == 2 && written.flipTest)
        let info = try CommandLineTool.run(["info", out])
        #expect(info.output.contains("Second pass: on the box around the first pass's keypoints, 2.0x their extent"))
        #expect(info.output.contains("Flip test: on unless --no-flip-test"))
        func detect(_ options: [String]) throws -> String {
            let result = try CommandLineTool.run(
                ["detect", folder.file("img0.png"), "--model", out, "--json"] + options)
            #expect(result.status == 0, "\(result.errors)")
            return result.output
        }
        let asked = try detect([])
        #expect(try detect(["--single-pass"]) != asked)
        #expect(try detect(["--flip-test"]) == asked && detect(["--no-flip-test"]) != asked)

        let unmirrored = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", out, "--no-mirror"] + arguments)
        #expect(unmirrored.status == 0 && unmirrored.errors.contains("mirroring: off"), "\(unmirrored.errors)")
        #expect(try Checkpoint.load(contentsOf: out + ".checkpoint").settings.augmentation.flip == false)

        let unknown = try CommandLineTool.run(["train", "--labels", labels, "--out", out, "--flip-pairs", "dot/nose"])
        #expect(unknown.status != 0 && unknown.errors.contains("--flip-pairs: 'nose' is not a keypoint"))
        let backwards = try CommandLineTool.run(["train", "--labels", labels, "--out", out, "--zoom", "1.5,0.5"])
        #expect(backwards.status != 0 && backwards.errors.contains("--zoom must be MIN,MAX with 0 < MIN <= MAX"))
    }

    /// --best-by pck keeps the epoch with the highest validation PCK@0.2 (the first of equals), and
    /// the checkpoint remembers its figures; switching on --resume is recorded and starts afresh.
    @Test func keepsTheBestEpochByPCK() throws {
        let folder = try TemporaryFolder()
        let labels = try Self.dataset(folder, count: 16)
        let out = folder.file("best.safetensors")
        let arguments = Self.arguments(epochs: 5)
        let run = try CommandLineTool.run(["train", "--labels", labels, "--out", out, "--best-by", "pck"] + arguments)
        #expect(run.status == 0, "\(run.errors)")
        let figures = run.errors.split(separator: "\n").filter { $0.hasPrefix("epoch ") && $0.contains("PCK@0.2 ") }
            .map { line in Double(line.split(separator: "PCK@0.2 ")[1].prefix { $0 != " " })! }
        #expect(figures.count == 5, "\(run.errors)")
        let checkpoint = try Checkpoint.load(contentsOf: out + ".checkpoint")
        let best = try #require(checkpoint.bestEpoch)
        #expect(best == figures.firstIndex(of: figures.max()!)! + 1, "PCK by epoch: \(figures)")
        #expect(abs(checkpoint.bestPCK! - figures.max()!) <= 0.0005 && checkpoint.settings.bestBy == .pck)
        #expect(try Model.load(contentsOf: out).provenance["epochs"] == "\(best) of 5 (best)")

        let resumed = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "6", "--best-by", "error",
        ])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let after = try Checkpoint.load(contentsOf: out + ".checkpoint")
        #expect(after.bestEpoch == 6 && after.settings.bestBy == .error)
        #expect(
            after.model.provenance["schedule_changes"] == "5 -> 6 epochs at epoch 6 step 1; best by error from epoch 6")
    }

    @Test func validatesOnASeparateFile() throws {
        let trainFolder = try TemporaryFolder()
        let heldFolder = try TemporaryFolder()
        let labels = try Self.dataset(trainFolder, count: 8)
        let held = try Self.dataset(heldFolder, count: 3)
        let out = trainFolder.file("m.safetensors")
        let arguments = ["--epochs", "1", "--batch", "4", "--input", "64x64", "--width", "4", "--depths", "1,1,1"]
        let result = try CommandLineTool.run(
            ["train", "--labels", labels, "--validation", held, "--out", out] + arguments)
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.errors.contains("training on 8 samples, validating on 3; 1 epochs of 2 steps"))
        #expect(try Model.load(contentsOf: out).provenance["split"] == "validation file \(held)")

        let other = try heldFolder.write(Array("image,nose_x,nose_y\nimg0.png,1,2\n".utf8), to: "other.csv")
        let mismatch = try CommandLineTool.run(["train", "--labels", labels, "--validation", other, "--out", out])
        #expect(
            mismatch.status != 0 && mismatch.errors.contains("has keypoints nose but the labels have dot,left_mark"))
    }

    /// --keypoint-weights become the loss mask of labeled keypoints (missing ones stay 0).
    @Test func keypointWeightsWeighTheLoss() throws {
        let folder = try TemporaryFolder()
        let labels = try Self.dataset(folder, count: 4)
        let set = try LabeledSet.load(contentsOf: labels)
        let weights = try TrainingSettings.keypointWeights(parsing: "dot=2, right_mark=0.5", names: set.keypointNames)
        #expect(weights == [2, 1, 0.5])
        let architecture = Architecture.coordConvResNet(
            keypoints: 3, width: 4, depths: [1, 1, 1], inputWidth: 64, inputHeight: 64, heatmapStride: 4)
        let model = Model(
            architecture: architecture, keypointNames: set.keypointNames, flipPairs: [[1, 2]],
            weights: try architecture.initialWeights(seed: 1))
        var settings = TrainingSettings(epochs: 1, batch: 2, validationFraction: 0)
        settings.keypointWeights = [2, 1, 0.5]
        let trainer = try Trainer(
            model: model, data: TrainingData(labels: set, labelsPath: labels, imagesRoot: nil, inputSize: 64),
            settings: settings)
        #expect(try trainer.prepare(0, epoch: 0, augment: false).mask == [2, 1, 0])  // right_mark unlabeled

        let out = folder.file("m.safetensors")
        let unknown = try CommandLineTool.run([
            "train", "--labels", labels, "--out", out, "--keypoint-weights", "nose=2",
        ])
        #expect(
            unknown.status == 2 && unknown.errors.contains("'nose' is not a keypoint; the keypoints are dot,left_mark"))
    }

    /// --crop and --foreground-weight end to end: the run trains on windows, records both in its
    /// provenance, and a crop that is not a window of the input is a usage error.
    @Test func trainsOnCrops() throws {
        let folder = try TemporaryFolder()
        let labels = try Self.dataset(folder, count: 8)
        let out = folder.file("m.safetensors")
        let arguments = ["--epochs", "1", "--batch", "4", "--input", "64x64", "--width", "4", "--depths", "1,1,1"]
        let result = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", out, "--crop", "32x32", "--foreground-weight", "5"] + arguments)
        #expect(result.status == 0, "\(result.errors)")
        let settings = try #require(try Model.load(contentsOf: out).provenance["settings"])
        #expect(settings.contains("\"crop\":[32,32]") && settings.contains("\"foregroundWeight\":5"), "\(settings)")
        for crop in ["48x32", "96x32", "32"] {
            let wrong = try CommandLineTool.run(
                ["train", "--labels", labels, "--out", out, "--crop", crop] + arguments)
            #expect(wrong.status == 2 && wrong.errors.contains("--crop must be WIDTHxHEIGHT"), "\(crop)")
        }
    }

    /// 640x480 frames into a 64x64 input get a note pointing at full-resolution crop training;
    /// with --crop there is none.
    @Test func suggestsCropsForLargeFrames() throws {
        let folder = try TemporaryFolder()
        let labels = SharedData.path(
            "dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1/CollectedData_Pranav.csv")
        let arguments = [
            "--labels", labels, "--out", folder.file("m.safetensors"), "--epochs", "1", "--batch", "16",
            "--width", "4", "--depths", "1,1,1",
        ]
        let small = try CommandLineTool.run(["train", "--input", "64x64"] + arguments)
        #expect(small.status == 0, "\(small.errors)")
        #expect(small.errors.contains("note: the images (640x480) are letterboxed into a 64x64 input"))
        #expect(small.errors.contains("--input 640x480 --crop 192x192"))
        let cropped = try CommandLineTool.run(["train", "--input", "128x96", "--crop", "64x64"] + arguments)
        #expect(cropped.status == 0 && !cropped.errors.contains("note:"), "\(cropped.errors)")

        // Without --input or --crop, large frames get the mouse model's recipe where no option says otherwise.
        let recipe = try CommandLineTool.run(["train"] + arguments)
        #expect(recipe.status == 0 && !recipe.errors.contains("note:"), "\(recipe.errors)")
        #expect(
            recipe.errors.contains(
                "frames of 640x480: training at full resolution on windows, as the built-in mouse model was: --input 640x480 --crop 192x192 --width 4 --depths 1,1,1 --batch 16 --learning-rate 0.005 --foreground-weight 20.0 --epochs 1"
            ), "\(recipe.errors)")
        let checkpoint = try Checkpoint.load(contentsOf: folder.file("m.safetensors.checkpoint"))
        #expect(checkpoint.settings.crop == [192, 192] && checkpoint.settings.foregroundWeight == 20)
        #expect(checkpoint.settings.learningRate == 5e-3 && checkpoint.settings.batch == 16)
        #expect(checkpoint.model.architecture.inputWidth == 640 && checkpoint.model.architecture.inputHeight == 480)
        #expect(TrainingPlan.fullResolutionInput(frame: [1920, 1080]) == [1280, 736])
        #expect(TrainingPlan.fullResolutionInput(frame: [500, 300]) == [512, 320])
    }

    /// A simple CSV with LSP's 14 joint names (eight LSPet rows) gets LSP's skeleton and the six
    /// left/right pairs in its model.
    @Test func lspJointsGetTheirSkeleton() throws {
        let folder = try TemporaryFolder()
        let source = try String(
            contentsOfFile: SharedData.path("lspet/derived/lspet_joints_first7000.csv"), encoding: .utf8)
        let lines = source.split(whereSeparator: \.isNewline).prefix(9).enumerated().map { index, line in
            index == 0 ? String(line) : SharedData.path("lspet/") + line
        }
        let labels = try folder.write(Array(lines.joined(separator: "\n").utf8), to: "lsp.csv")
        let out = folder.file("body.safetensors")
        let result = try CommandLineTool.run([
            "train", "--labels", labels, "--out", out, "--epochs", "1", "--batch", "4", "--input", "64x64", "--width",
            "4", "--depths", "1,1,1", "--val-fraction", "0.25",
        ])
        #expect(result.status == 0, "\(result.errors)")
        let model = try Model.load(contentsOf: out)
        #expect(model.keypointNames == Skeletons.lspNames && model.skeleton == Skeletons.lsp)
        #expect(model.flipPairs.count == 6)
    }

    /// A multi-person COCO file: one cropped sample per annotated person (14 annotations, 12 with a
    /// labeled point); the model keeps COCO's names, skeleton, flip pairs and OKS sigmas.
    @Test func trainsOnMultiPersonCOCO() throws {
        let folder = try TemporaryFolder()
        let out = folder.file("person.safetensors")
        let result = try CommandLineTool.run([
            "train", "--labels", SharedData.path("mmpose-testdata/tests/data/coco/test_coco.json"), "--out", out,
            "--epochs", "1", "--batch", "4", "--input", "64x64", "--width", "4", "--depths", "1,1,1",
            "--val-fraction", "0.25",
        ])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.errors.contains("training on 9 samples, validating on 3; 1 epochs of 3 steps"))
        let model = try Model.load(contentsOf: out)
        #expect(model.keypointNames == OKSEvaluation.cocoNames && model.oksSigmas == OKSEvaluation.cocoSigmas)
        #expect(model.skeleton.count == 19 && model.flipPairs.count == 8)
    }

    /// Images are decoded before the first step; one that cannot be (garbage, truncated) is left
    /// out and listed, and the run trains on the rest instead of failing mid-epoch.
    @Test func leavesOutImagesThatCannotBeDecoded() throws {
        let folder = try TemporaryFolder()
        let labels = try Self.dataset(folder, count: 16)
        _ = try folder.write(Array("not a png at all".utf8), to: "img3.png")
        let whole = try Data(contentsOf: URL(fileURLWithPath: folder.file("img5.png")))
        _ = try folder.write(Array(whole.prefix(whole.count / 2)), to: "img5.png")
        let arguments = Self.arguments(epochs: 1)
        let run = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", folder.file("m.safetensors")] + arguments)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.errors.contains("left out 2 labeled image(s) that cannot be decoded:"))
        #expect(
            run.errors.contains(folder.file("img3.png") + ": ") && run.errors.contains(folder.file("img5.png") + ": "))
        #expect(run.errors.contains("training on 11 samples, validating on 3"), "\(run.errors)")

        // None decodable: one clear error, naming an image and why.
        let broken = try folder.write(Array("image,dot_x,dot_y\nimg3.png,1,2\nimg5.png,3,4\n".utf8), to: "broken.csv")
        let none = try CommandLineTool.run(["train", "--labels", broken, "--out", folder.file("n.safetensors")])
        #expect(none.status == 1, "\(none.errors)")
        #expect(none.errors.contains("none of the 2 labeled images can be decoded, e.g. \(folder.file("img3.png")): "))
    }

    @Test func explainsMissingImages() throws {
        let folder = try TemporaryFolder()
        let labels = try folder.write(Array("image,dot_x,dot_y\nnowhere.png,1,2\n".utf8), to: "labels.csv")
        let result = try CommandLineTool.run(["train", "--labels", labels, "--out", folder.file("m.safetensors")])
        #expect(result.status != 0 && result.errors.contains("image 'nowhere.png' not found"))
        let empty = try folder.write(Array("image,dot_x,dot_y\nnowhere.png,,\n".utf8), to: "empty.csv")
        let nothing = try CommandLineTool.run(["train", "--labels", empty, "--out", folder.file("m.safetensors")])
        #expect(nothing.status != 0 && nothing.errors.contains("no sample has a labeled keypoint: nothing to train on"))
    }
}

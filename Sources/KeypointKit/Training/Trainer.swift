import CConvKernels
import Foundation

/// Settings of a training run, stored in checkpoints and, summarised, in the model's provenance.
public struct TrainingSettings: Codable, Equatable, Sendable {
    public var epochs: Int
    public var batch: Int
    public var learningRate: Double
    public var weightDecay: Double
    public var warmupEpochs: Double
    public var validationFraction: Double
    /// Without a split in the labels: at least this many validation frames (at most a fifth of
    /// the set), so a small project validates on enough frames to choose its best epoch; nil:
    /// the fraction alone (at least one frame).
    public var validationMinimum: Int?
    public var seed: UInt64
    public var heatmapSigma: Double
    public var augmentation: Augmentation
    /// Loss weight per keypoint (model order); nil weighs every keypoint 1.
    public var keypointWeights: [Double]?
    /// Train on windows of this size ([width, height], multiples of 32) cut from the network input
    /// around the labeled keypoints, instead of the whole input; nil trains on the whole input.
    /// Steps get cheaper by the area ratio while the model still runs on (and CoordConv still
    /// counts positions in) the whole input; three windows in ten are placed at random.
    public var crop: [Int]?
    /// The loss weighs a target's peak pixels up to 1 + this times the background (0: plain MSE).
    public var foregroundWeight: Double?
    /// Validate, keep and ship an exponential moving average of the weights (and batch-norm
    /// statistics), with this decay per step, while the raw weights train on; nil: the raw weights.
    public var averageDecay: Double?
    /// The validation figure that picks the epoch written as the best model; nil: `.error`.
    public var bestBy: BestBy?
    /// Validate (and possibly keep the model) after every this many epochs and after the last;
    /// nil: every epoch. Short epochs (a small project's) need not each pay for a validation.
    public var validateEvery: Int?
    /// Seconds the run may take: once its first steps show this machine would need more for the
    /// planned epochs, the run is shortened to fit (recorded, then cleared); nil: no limit.
    public var timeLimit: Double?

    /// Lowest validation mean pixel error (DeepLabCut's figure), or highest PCK@0.2 (the human
    /// pose benchmarks' figure); the two can disagree, the mean being swayed by a few gross misses.
    public enum BestBy: String, Codable, Sendable, CaseIterable {
        case error, pck
    }

    public init(
        epochs: Int, batch: Int, learningRate: Double = 2e-3, weightDecay: Double = 1e-4, warmupEpochs: Double = 1,
        validationFraction: Double = 0.05, seed: UInt64 = 1, heatmapSigma: Double = 2,
        augmentation: Augmentation = Augmentation()
    ) {
        self.epochs = epochs
        self.batch = batch
        self.learningRate = learningRate
        self.weightDecay = weightDecay
        self.warmupEpochs = warmupEpochs
        self.validationFraction = validationFraction
        self.seed = seed
        self.heatmapSigma = heatmapSigma
        self.augmentation = augmentation
    }
}

extension TrainingSettings {
    /// "name=weight,..." (e.g. "snout=2,tailbase=0.5") as one weight per keypoint of `names`,
    /// 1 for those not named.
    /// - Throws: `InputError.invalid` for a malformed pair or a name not among `names`.
    public static func keypointWeights(parsing text: String, names: [String]) throws -> [Double] {
        var weights = [Double](repeating: 1, count: names.count)
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let weight = Double(parts[1]), weight >= 0, weight.isFinite else {
                throw InputError.invalid("expected name=weight pairs such as snout=2, got '\(item)'")
            }
            guard let index = names.firstIndex(of: parts[0]) else {
                throw InputError.invalid(
                    "'\(parts[0])' is not a keypoint; the keypoints are \(names.joined(separator: ","))")
            }
            weights[index] = weight
        }
        return weights
    }
}

/// Fits a model to a labeled set: seeded shuffles and augmentation, AdamW with warm-up and cosine
/// decay, validation each epoch. The same seed gives the same model (the GEMMs are bit-identical
/// for any thread count, and each sample's augmentation is drawn from (seed, epoch, sample)).
public final class Trainer: @unchecked Sendable {
    public let data: TrainingData
    public let settings: TrainingSettings
    public private(set) var model: Model
    public let graph: TrainingGraph<Float>
    public var optimizer: AdamW<Float>
    public let train: [Int]
    public let validation: [Int]
    /// With `settings.averageDecay`: the moving average of the graph's parameters (nil before the
    /// first step), and the steps it has averaged.
    public var average: [String: [Float]]?
    public var averageSteps = 0
    /// The subject's reach on the training frames (`SubjectReach`), recorded in the models this
    /// run writes; nil with fewer than three parts.
    public private(set) var subjectReach: Double?

    /// - Parameter threads: the threads a step computes on (the results do not depend on them).
    public init(model: Model, data: TrainingData, settings: TrainingSettings, threads: Int = ThreadPool.availableCores)
        throws
    {
        guard settings.batch >= 2 else {
            throw InputError.invalid(
                "a batch needs at least 2 images (batch normalisation needs batch statistics), got \(settings.batch)")
        }
        if let crop = settings.crop {
            guard crop.count == 2, crop.allSatisfy({ $0 > 0 && $0 % 32 == 0 }),
                crop[0] <= model.architecture.inputWidth, crop[1] <= model.architecture.inputHeight
            else {
                throw InputError.invalid(
                    "the crop size must be two multiples of 32 no larger than the network input, got \(crop)")
            }
        }
        self.model = model
        self.data = data
        self.settings = settings
        graph = try TrainingGraph<Float>(
            architecture: model.architecture, weights: model.weights, compute: TrainingCompute(threads: threads))
        optimizer = AdamW<Float>(weightDecay: Float(settings.weightDecay))
        (train, validation) = data.split(
            validationFraction: settings.validationFraction, minimum: settings.validationMinimum, seed: settings.seed)
        guard !train.isEmpty else {
            throw InputError.invalid("no training samples left after the validation split")
        }
        if model.keypointNames.count >= SubjectReach.minimumParts { subjectReach = try measureSubjectReach() }
    }

    /// `SubjectReach.measure` on up to `limit` training samples evenly spaced over the training
    /// set, each one's labels in input pixels of its frame (or box) as `prepare` fits it without
    /// augmentation.
    private func measureSubjectReach(limit: Int = 200) throws -> Double? {
        let step = max(1, (train.count + limit - 1) / limit)
        let frames = try train.enumerated().filter { $0.offset % step == 0 }.map { _, index -> [Point] in
            let (image, scale) = try data.image(index)
            let sample = data.samples[index]
            let toInput = scale * Double(model.architecture.inputWidth) / region(of: sample, image, scale: scale).width
            return sample.points.compactMap { $0 }.map { Point(x: $0.x * toInput, y: $0.y * toInput) }
        }
        return SubjectReach.measure(frames: frames, maxZoom: settings.augmentation.maxZoom)
    }

    /// What of `image` (the sample's, `scale` times its original pixels) fills the network input
    /// before augmentation: the whole image, or the sample's box, grown to the input's aspect.
    private func region(of sample: TrainingData.Sample, _ image: Image, scale: Double) -> Region {
        var region = Region(
            center: Point(x: Double(image.width - 1) / 2, y: Double(image.height - 1) / 2),
            width: Double(image.width), height: Double(image.height))
        if let box = sample.box, box.count == 4 { region = Region(instanceBox: box, scale: scale) }
        let architecture = model.architecture
        return region.grown(toAspect: Double(architecture.inputWidth) / Double(architecture.inputHeight))
    }

    public var stepsPerEpoch: Int { (train.count + settings.batch - 1) / settings.batch }

    /// Makes this process keep freed memory for reuse instead of returning large blocks to the
    /// kernel (kp_keep_freed_memory): training frees and allocates the same buffers every step,
    /// and mapping them again cost 12% of a step in page faults. Process-wide; for programs that
    /// train. The resident size then stays at its peak.
    public static func keepFreedMemory() { kp_keep_freed_memory() }

    /// The order of the training samples in `epoch`.
    public func order(epoch: Int) -> [Int] {
        var random = SplitMix64(seed: settings.seed &* 1_000_003 &+ UInt64(epoch))
        var order = train
        order.shuffle(using: &random)
        return order
    }

    /// One training sample, augmented: the normalised input, target heatmaps, keypoint mask and
    /// where the sample lies in the whole network input (a crop's window, or all of it).
    func prepare(_ index: Int, epoch: Int, augment: Bool) throws -> PreparedSample {
        let architecture = model.architecture
        let (image, scale) = try data.image(index)
        let sample = data.samples[index]
        var random = SplitMix64(seed: settings.seed ^ (UInt64(epoch) << 32) ^ UInt64(index) &* 0x2545_F491_4F6C_DD1D)
        let a = augment ? settings.augmentation : .none
        // The region in the (possibly reduced) image's pixels.
        func toImage(_ value: Double) -> Double { (value + 0.5) * scale - 0.5 }
        let region = self.region(of: sample, image, scale: scale)
        let (center, width, height) = (region.center, region.width, region.height)
        let zoom =
            a.minZoom < a.maxZoom ? exp(Double.random(in: log(a.minZoom)...log(a.maxZoom), using: &random)) : a.minZoom
        let rotation =
            Double.random(in: 0..<1, using: &random) < a.rotationProbability && a.rotation > 0
            ? Double.random(in: -a.rotation...a.rotation, using: &random) : 0
        let shift =
            a.translation > 0
            ? (
                Double.random(in: -a.translation...a.translation, using: &random) * width,
                Double.random(in: -a.translation...a.translation, using: &random) * height
            ) : (0, 0)
        let flip = a.flip && Bool.random(using: &random)
        let transform = AffineTransform.crop(
            center: Point(x: center.x + shift.0, y: center.y + shift.1), width: width / zoom, height: height / zoom,
            targetWidth: architecture.inputWidth, targetHeight: architecture.inputHeight, rotationDegrees: rotation,
            flip: flip)
        let window = cropWindow(
            around: sample.points.compactMap { $0 }.map { transform.apply(Point(x: toImage($0.x), y: toImage($0.y))) },
            random: &random)
        let inputWidth = settings.crop?[0] ?? architecture.inputWidth
        let inputHeight = settings.crop?[1] ?? architecture.inputHeight
        let placement = transform.followed(
            by: AffineTransform(a: 1, b: 0, tx: -Double(window.originX), c: 0, d: 1, ty: -Double(window.originY)))
        let cut = a.edgeCut(
            through: sample.points.compactMap { $0 }.map { placement.apply(Point(x: toImage($0.x), y: toImage($0.y))) },
            random: &random)
        var input = image.warpedTensor(by: placement, width: inputWidth, height: inputHeight).data
        cut?.apply(to: &input, width: inputWidth, height: inputHeight)
        a.changePixels(of: &input, width: inputWidth, height: inputHeight, random: &random)
        let normalize = model.normalization
        let plane = inputWidth * inputHeight
        for index in input.indices { input[index] = normalize(unit: input[index], channel: index / plane) }
        // Keypoints: into input pixels, then heatmap pixels (the decoder's convention); mirrored
        // samples swap left and right.
        let stride = Double(architecture.heatmapStride)
        let heatmapWidth = inputWidth / architecture.heatmapStride
        let heatmapHeight = inputHeight / architecture.heatmapStride
        let count = model.keypointNames.count
        let partner = FlipPairs.partners(flip ? model.flipPairs : [], count: count)
        var targets = [Float](repeating: 0, count: count * heatmapWidth * heatmapHeight)
        var mask = [Float](repeating: 0, count: count)
        for (k, point) in sample.points.enumerated() {
            guard let point else { continue }
            let inputPoint = placement.apply(Point(x: toImage(point.x), y: toImage(point.y)))
            if let cut, cut.removes(inputPoint) {  // cut off: trained as absent
                mask[partner[k]] = Float(settings.keypointWeights?[partner[k]] ?? 1)
                continue
            }
            let hx = (inputPoint.x - (stride - 1) / 2) / stride
            let hy = (inputPoint.y - (stride - 1) / 2) / stride
            // A point pushed out of the whole input is masked; one inside it but outside a crop's
            // window still counts: the window must show no peak for it (or only its tail).
            let wholeX = hx + Double(window.originX) / stride, wholeY = hy + Double(window.originY) / stride
            guard wholeX >= -0.5, wholeY >= -0.5, wholeX <= Double(window.canvasWidth) / stride - 0.5,
                wholeY <= Double(window.canvasHeight) / stride - 0.5
            else { continue }
            let channel = partner[k]
            mask[channel] = Float(settings.keypointWeights?[channel] ?? 1)
            let heatmap = HeatmapEncoder.gaussian(
                centerX: hx, centerY: hy, sigma: settings.heatmapSigma, width: heatmapWidth,
                height: heatmapHeight)
            targets.replaceSubrange((channel * heatmap.count)..<((channel + 1) * heatmap.count), with: heatmap)
        }
        return (input, targets, mask, window)
    }

    /// The window of the network input a sample is trained on: with a crop size, a 32-aligned
    /// window, for 70% of samples around the labeled points (its centre within a quarter window of
    /// theirs), for the rest at a uniformly drawn aligned position, so that every part of the input,
    /// corners included, is seen often (a model trained only near the animal fired on an arena
    /// corner it had hardly seen); without a crop size, the whole input.
    private func cropWindow(around points: [Point], random: inout SplitMix64) -> CoordinateWindow {
        let architecture = model.architecture
        let (width, height) = (architecture.inputWidth, architecture.inputHeight)
        guard let crop = settings.crop else {
            return CoordinateWindow(originX: 0, originY: 0, canvasWidth: width, canvasHeight: height)
        }
        let inside = points.filter { $0.x >= 0 && $0.y >= 0 && $0.x < Double(width) && $0.y < Double(height) }
        let positionsX = (width - crop[0]) / 32 + 1, positionsY = (height - crop[1]) / 32 + 1
        var originX = 32 * Int.random(in: 0..<positionsX, using: &random)
        var originY = 32 * Int.random(in: 0..<positionsY, using: &random)
        if !inside.isEmpty && Double.random(in: 0..<1, using: &random) < 0.7 {
            let centreX =
                inside.map(\.x).reduce(0, +) / Double(inside.count)
                + Double.random(in: -0.25...0.25, using: &random) * Double(crop[0])
            let centreY =
                inside.map(\.y).reduce(0, +) / Double(inside.count)
                + Double.random(in: -0.25...0.25, using: &random) * Double(crop[1])
            originX = min(max(Int(centreX) - crop[0] / 2, 0), width - crop[0]) / 32 * 32
            originY = min(max(Int(centreY) - crop[1] / 2, 0), height - crop[1]) / 32 * 32
        }
        return CoordinateWindow(originX: originX, originY: originY, canvasWidth: width, canvasHeight: height)
    }

    /// One optimisation step on the samples `indices` of `epoch`; returns the loss.
    public func step(_ indices: [Int], epoch: Int, globalStep: Int, totalSteps: Int) throws -> Float {
        let architecture = model.architecture
        let batch = ResultSlots<PreparedSample>(count: indices.count)
        DispatchQueue.concurrentPerform(iterations: indices.count) { slot in
            batch.set(slot, Result { try self.prepare(indices[slot], epoch: epoch, augment: true) })
        }
        let samples = try batch.results()
        let inputWidth = settings.crop?[0] ?? architecture.inputWidth
        let inputHeight = settings.crop?[1] ?? architecture.inputHeight
        let heatmapHeight = inputHeight / architecture.heatmapStride
        let heatmapWidth = inputWidth / architecture.heatmapStride
        let input = Grid<Float>(
            batch: samples.count, channels: architecture.inputChannels, height: inputHeight,
            width: inputWidth, values: samples.flatMap(\.input))
        let targets = Grid<Float>(
            batch: samples.count, channels: model.keypointNames.count, height: heatmapHeight,
            width: heatmapWidth, values: samples.flatMap(\.targets))
        let (loss, gradients) = graph.lossAndGradients(
            input: input, targets: targets, weights: samples.flatMap(\.mask),
            foregroundWeight: Float(settings.foregroundWeight ?? 0),
            windows: settings.crop == nil ? nil : samples.map(\.window))
        let schedule = LearningRateSchedule(
            base: settings.learningRate, warmupSteps: max(1, Int(settings.warmupEpochs * Double(stepsPerEpoch))),
            totalSteps: totalSteps)
        optimizer.update(
            &graph.parameters, gradients: gradients, learningRate: Float(schedule.rate(at: globalStep)),
            on: graph.compute.pool)
        if let decay = settings.averageDecay { updateAverage(decay: decay) }
        return loss
    }

    /// average = d average + (1 - d) parameters, with d = min(decay, (1 + n) / (10 + n)) on the
    /// n-th averaged step (Polyak averaging with the warm-up of YOLO's and timm's ModelEMA): the
    /// average starts as the weights and follows them closely at first, later it spans about
    /// 1 / (1 - decay) steps.
    private func updateAverage(decay: Double) {
        averageSteps += 1
        guard average != nil else {
            average = graph.parameters
            return
        }
        let d = Float(min(decay, Double(1 + averageSteps) / Double(10 + averageSteps)))
        for (name, values) in graph.parameters {
            values.withUnsafeBufferPointer { v in
                average![name]!.withUnsafeMutableBufferPointer { a in
                    for i in a.indices { a[i] = d * a[i] + (1 - d) * v[i] }
                }
            }
        }
    }

    /// The current weights as a model (batch norm running statistics included); `averaged`: their
    /// moving average instead, when the run keeps one. A model trained with cut-offs scores by
    /// heatmap mass, which tells the parts in the picture from those cut out of it better than
    /// the peak (`HeatmapScore.mass`); validation then chooses its threshold on that score.
    public func currentModel(provenance: [String: String] = [:], averaged: Bool = false) -> Model {
        var current = model
        current.weights = averaged && average != nil ? graph.weights(of: average!) : graph.weights()
        current.heatmapSigma = settings.heatmapSigma
        current.heatmapScore = settings.augmentation.cutoff > 0 ? .mass : .peak
        current.subjectReach = subjectReach
        current.provenance = provenance
        return current
    }
}

/// Results computed by several threads, one slot each; the first error (in slot order) is thrown.
final class ResultSlots<Value>: @unchecked Sendable {
    private var slots: [Result<Value, Error>?]
    private let lock = NSLock()

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func set(_ slot: Int, _ result: Result<Value, Error>) {
        lock.lock()
        slots[slot] = result
        lock.unlock()
    }

    func results() throws -> [Value] { try slots.map { try $0!.get() } }

    /// Every slot's result, failures included.
    func outcomes() -> [Result<Value, Error>] { slots.map { $0! } }
}

/// A prepared training sample: the normalised input, target heatmaps, keypoint mask and its window.
typealias PreparedSample = (input: [Float], targets: [Float], mask: [Float], window: CoordinateWindow)

import Foundation

/// A keypoint in original image pixels (pixel centres at integers), scored as its model says
/// (`HeatmapScore`).
public struct Keypoint: Equatable, Sendable {
    public var name: String
    public var x: Double
    public var y: Double
    public var score: Float
}

/// Image in, keypoints out: the image (or a box of it) is warped into the network input with the
/// letterbox / crop affine, normalised, run through the network, and each heatmap decoded and
/// mapped back through the inverse affine.
///
/// Coordinates from heatmap to image, in one place: heatmap pixel j covers input pixels
/// [s j - 0.5, s (j + 1) - 0.5] for heatmap stride s, so its centre is the input position
/// s j + (s - 1) / 2 (the same convention as the image, no half-pixel shift; UDP, Huang et al.
/// 2020); the inverse of the warp then gives original image pixels.
///
/// Allocates nothing per call after the first. Not thread-safe (it owns its network's buffers):
/// use one Predictor per thread.
public final class Predictor: @unchecked Sendable {
    public let model: Model
    public let network: Network
    /// Whole images run twice when set (from the model's `secondPassScale`; nil: once): the
    /// second pass on the box around the first pass's keypoints, each side this many times theirs.
    public var secondPassScale: Double?
    /// The (flip-averaged) heatmaps of the last call, reused from call to call.
    private var heatmaps: [Float] = []

    public init(
        model: Model, threads: Int = ThreadPool.availableCores,
        instructionSet: InstructionSet? = nil
    ) throws {
        try model.validate()
        self.model = model
        network = try Network(
            architecture: model.architecture, weights: model.weights, threads: threads, instructionSet: instructionSet)
        secondPassScale = model.secondPassScale
    }

    /// What the network saw and produced, for `--dump` and cross-checks.
    public struct Inference {
        public var keypoints: [Keypoint]
        /// The warped, normalised input: [1, C, H, W].
        public var input: Tensor
        /// The network's output for `input`, [1, K, H / s, W / s]: before any flip-test averaging,
        /// so that running the exported model on `input` reproduces it.
        public var heatmaps: Tensor
        /// Original image pixels -> network input pixels.
        public var transform: AffineTransform
    }

    /// The box of a second pass: centred on `keypoints`' extent, each side `scale` times it, and
    /// at least an eighth of the image's longer side (a first pass that found nothing must not
    /// zoom into a speck).
    public static func secondPassBox(
        around keypoints: [Keypoint], scale: Double, image: Image
    ) -> Region {
        let (xs, ys) = (keypoints.map(\.x), keypoints.map(\.y))
        let (left, right, top, bottom) = (xs.min()!, xs.max()!, ys.min()!, ys.max()!)
        let least = Double(max(image.width, image.height)) / 8
        return Region(
            center: Point(x: (left + right) / 2, y: (top + bottom) / 2),
            width: max((right - left) * scale, least), height: max((bottom - top) * scale, least))
    }

    /// Keypoints for the whole image, letterboxed (then, with `secondPassScale`, for the box
    /// around them), or for `box` (centre and size in image pixels); with the flip test if asked,
    /// else if the model asks for it.
    public func predict(
        _ image: Image, box: Region? = nil, flipTest: Bool? = nil,
        decoder: HeatmapDecoder = .dark
    ) -> [Keypoint] {
        run(image, box: box, flipTest: flipTest ?? model.flipTest, decoder: decoder, keepTensors: false).keypoints
    }

    /// As `predict`, also returning the input tensor and heatmaps.
    public func infer(
        _ image: Image, box: Region? = nil, flipTest: Bool? = nil,
        decoder: HeatmapDecoder = .dark
    ) -> Inference {
        run(image, box: box, flipTest: flipTest ?? model.flipTest, decoder: decoder, keepTensors: true)
    }

    /// With no box and a `secondPassScale`, a plain first pass over the whole image finds the
    /// subject, and the asked-for pass runs on the box around it: a model trained on
    /// subject-centred crops then sees the subject at the size it learned, wherever and however
    /// small it is in the frame. Passes framed as the model was trained (the whole image, or a
    /// box given) keep each part within the model's `subjectReach`; a second pass, framed by the
    /// first one's parts, does not.
    private func run(
        _ image: Image, box: Region?, flipTest: Bool, decoder: HeatmapDecoder,
        keepTensors: Bool
    ) -> Inference {
        guard box == nil, let scale = secondPassScale, !model.keypointNames.isEmpty else {
            return runOnce(
                image, box: box, flipTest: flipTest, decoder: decoder, keepTensors: keepTensors, withinReach: true)
        }
        let first = runOnce(
            image, box: nil, flipTest: false, decoder: decoder, keepTensors: false, withinReach: true
        ).keypoints
        let subject = Self.secondPassBox(around: first, scale: scale, image: image)
        return runOnce(
            image, box: subject, flipTest: flipTest, decoder: decoder, keepTensors: keepTensors, withinReach: false)
    }

    private func runOnce(
        _ image: Image, box: Region?, flipTest: Bool, decoder: HeatmapDecoder,
        keepTensors: Bool, withinReach: Bool
    ) -> Inference {
        let architecture = model.architecture
        let width = architecture.inputWidth
        let height = architecture.inputHeight
        let transform = Self.transform(for: image, box: box, width: width, height: height)
        let heatmapShape = network.graph.outputShape
        let plane = heatmapShape.height * heatmapShape.width
        let keypointCount = heatmapShape.channels

        fill(image, transform: transform)
        let input =
            keepTensors
            ? Tensor(shape: [1, architecture.inputChannels, height, width], data: Array(network.input)) : nil
        let output = network.run()
        if heatmaps.count != output.count { heatmaps = [Float](repeating: 0, count: output.count) }
        heatmaps.withUnsafeMutableBufferPointer { _ = $0.initialize(from: output) }
        let networkOutput = keepTensors ? heatmaps : nil
        if flipTest {
            // The mirrored image, its heatmaps mirrored back with left and right swapped, averaged in
            // (but for the parts the model excludes).
            let mirror = AffineTransform(a: -1, b: 0, tx: Double(width - 1), c: 0, d: 1, ty: 0)
            fill(image, transform: transform.followed(by: mirror))
            let mirrored = network.run()
            let partner = FlipPairs.partners(model.flipPairs, count: keypointCount)
            for channel in 0..<keypointCount where !model.flipTestExcluded.contains(channel) {
                let source = partner[channel] * plane
                for y in 0..<heatmapShape.height {
                    for x in 0..<heatmapShape.width {
                        let index = channel * plane + y * heatmapShape.width + x
                        let mirroredValue = mirrored[source + y * heatmapShape.width + (heatmapShape.width - 1 - x)]
                        heatmaps[index] = (heatmaps[index] + mirroredValue) / 2
                    }
                }
            }
        }
        let inverse = transform.inverse!
        let stride = Double(architecture.heatmapStride)
        let (mapWidth, mapHeight, sigma) = (heatmapShape.width, heatmapShape.height, model.heatmapSigma)
        let keypoints = heatmaps.withUnsafeBufferPointer { buffer in
            let maps = (0..<keypointCount).map {
                UnsafeBufferPointer(rebasing: buffer[($0 * plane)..<(($0 + 1) * plane)])
            }
            var peaks = maps.map { decoder.decode($0, width: mapWidth, height: mapHeight, sigma: sigma) }
            if withinReach, let reach = model.subjectReach,
                let disc = SubjectReach.disc(
                    peaks: peaks.map { Point(x: $0.x, y: $0.y) }, reach: reach, stride: architecture.heatmapStride,
                    sigma: sigma)
            {
                for channel in peaks.indices where !disc.contains(x: peaks[channel].column, y: peaks[channel].row) {
                    peaks[channel] = decoder.decode(
                        maps[channel], width: mapWidth, height: mapHeight, sigma: sigma, within: disc)
                }
            }
            return (0..<keypointCount).map { channel -> Keypoint in
                let heatmap = maps[channel]
                let peak = peaks[channel]
                let score = model.heatmapScore.score(
                    heatmap, width: mapWidth, height: mapHeight, peak: peak, sigma: sigma)
                let inputPoint = Point(x: stride * peak.x + (stride - 1) / 2, y: stride * peak.y + (stride - 1) / 2)
                let imagePoint = inverse.apply(inputPoint)
                return Keypoint(name: model.keypointNames[channel], x: imagePoint.x, y: imagePoint.y, score: score)
            }
        }
        return Inference(
            keypoints: keypoints, input: input ?? Tensor(zeros: [0]),
            heatmaps: networkOutput.map {
                Tensor(shape: [1, keypointCount, heatmapShape.height, heatmapShape.width], data: $0)
            } ?? Tensor(zeros: [0]),
            transform: transform)
    }

    /// The affine from image pixels to network input pixels: the whole image letterboxed, or `box`.
    public static func transform(
        for image: Image, box: Region?, width: Int, height: Int
    ) -> AffineTransform {
        guard let box else {
            return .letterbox(
                sourceWidth: image.width, sourceHeight: image.height, targetWidth: width, targetHeight: height)
        }
        let region = box.grown(toAspect: Double(width) / Double(height))
        return .crop(
            center: region.center, width: region.width, height: region.height, targetWidth: width,
            targetHeight: height)
    }

    /// Warps the image into the network's input buffer, normalised per channel.
    private func fill(_ image: Image, transform: AffineTransform) {
        let width = model.architecture.inputWidth
        let height = model.architecture.inputHeight
        let plane = width * height
        let normalize = model.normalization
        let input = network.input
        if transform.a == 1 && transform.d == 1 && transform.b == 0 && transform.c == 0
            && transform.tx == transform.tx.rounded() && transform.ty == transform.ty.rounded()
        {
            copy(image, shiftedBy: (Int(transform.tx), Int(transform.ty)), normalize)
            return
        }
        image.warpSamples(by: transform, width: width, height: height, fill: .black) { index, channel, value in
            input[channel * plane + index] = normalize(value, channel: channel)
        }
    }

    /// `fill` for a whole-pixel shift (an image already the input's size, or letterboxed without
    /// scaling): each input pixel is one image pixel or the black border, normalised as in `fill`.
    private func copy(_ image: Image, shiftedBy shift: (x: Int, y: Int), _ normalize: Normalization) {
        let width = model.architecture.inputWidth
        let height = model.architecture.inputHeight
        let plane = width * height
        let input = network.input.baseAddress!
        // The columns x with 0 <= x - shift.x < image.width; the rest are border.
        let firstColumn = min(max(shift.x, 0), width)
        let endColumn = max(min(shift.x + image.width, width), firstColumn)
        image.pixels.withUnsafeBufferPointer { pixels in
            for channel in 0..<3 {
                let samples = normalize.samples(channel: channel)
                let border = samples[0]
                samples.withUnsafeBufferPointer { samples in
                    for y in 0..<height {
                        let line = input + channel * plane + y * width
                        let sourceY = y - shift.y
                        guard sourceY >= 0 && sourceY < image.height else {
                            line.update(repeating: border, count: width)
                            continue
                        }
                        line.update(repeating: border, count: firstColumn)
                        (line + endColumn).update(repeating: border, count: width - endColumn)
                        let row = pixels.baseAddress! + sourceY * image.width * 3 + channel
                        for x in firstColumn..<endColumn { line[x] = samples[Int(row[(x - shift.x) * 3])] }
                    }
                }
            }
        }
    }
}

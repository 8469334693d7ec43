import Foundation

/// What a new run's recipe reads from the labels: how many frames, how large, how large the
/// subject is in them.
public struct LabelSummary: Equatable, Sendable {
    /// Samples with at least one labeled point.
    public var samples: Int
    /// Samples the labels' split holds out for validation; nil when the labels carry no split.
    public var heldOut: Int?
    /// The frames' size [width, height] when the labels are whole frames (not boxes): the first
    /// labeled image's.
    public var frame: [Int]?
    /// The subject's size in the labels' pixels: the 90th percentile, over the samples, of the
    /// longer side of the labeled points' bounding box (whole frames), or of the box (boxes).
    public var extent: Double?
    /// Whether mirrored frames look like the labeled ones: mirrored left to right, with left and
    /// right parts swapped, each pair of parts labeled apart (over 2 px horizontally) in at least
    /// 5 frames mostly shows one horizontal order; the median, over such pairs, of the share of
    /// labeled frames that show that order is at least 10%. Without left/right parts this asks
    /// whether the subject is seen facing both ways. A top view of an animal turning freely:
    /// 18-64%; an insect turned to face up (as tracking pipelines align them): 95%; a side view
    /// of one running one way: 3%. Nil without such pairs.
    public var mirrorFits: Bool?

    public init(
        samples: Int, heldOut: Int? = nil, frame: [Int]? = nil, extent: Double? = nil, mirrorFits: Bool? = nil
    ) {
        (self.samples, self.heldOut, self.frame, self.extent) = (samples, heldOut, frame, extent)
        self.mirrorFits = mirrorFits
    }

    /// The summary of `set`, its first labeled image decoded for the frame size.
    public init(set: LabeledSet, labels: String, imagesRoot: String?) {
        let labeled = set.samples.filter { $0.points.contains { $0 != nil } }
        samples = labeled.count
        heldOut =
            labeled.contains { $0.split != nil } ? labeled.filter { TrainingData.holdsOut($0.split) }.count : nil
        let boxes = labeled.contains { $0.box != nil }
        let sizes = labeled.compactMap { sample -> Double? in
            if let box = sample.box, box.count == 4 { return max(box[2], box[3]) }
            let points = sample.points.compactMap { $0 }
            guard points.count >= 2 else { return nil }
            let xs = points.map(\.x), ys = points.map(\.y)
            return max(xs.max()! - xs.min()!, ys.max()! - ys.min()!)
        }.sorted()
        extent = sizes.isEmpty ? nil : sizes[min(sizes.count - 1, Int(0.9 * Double(sizes.count)))]
        mirrorFits = Self.mirrorFits(labeled.map(\.points), flipPairs: FlipPairs.infer(set.keypointNames))
        frame = nil
        if !boxes, let first = labeled.first {
            let path = LabeledSet.imagePath(first.image, labelsPath: labels, imagesRoot: imagesRoot)
            if let image = try? ImageDecoder.decode(contentsOf: path).image { frame = [image.width, image.height] }
        }
    }
}

extension LabelSummary {
    /// See `mirrorFits`. Part i's mirrored position is part partner(i)'s, mirrored, so in mirrored
    /// frames i lies right of j as often as partner(i) lies left of partner(j) in the labels.
    static func mirrorFits(_ frames: [[LabeledPoint?]], flipPairs: [[Int]]) -> Bool? {
        let parts = frames.map(\.count).max() ?? 0
        let partner = FlipPairs.partners(flipPairs, count: parts)
        /// The share of frames, of those with i and j labeled apart, in which i lies right of j.
        func rightOf(_ i: Int, _ j: Int) -> Double? {
            let gaps = frames.compactMap { points -> Double? in
                guard points.count > max(i, j), let a = points[i], let b = points[j], abs(a.x - b.x) > 2 else {
                    return nil
                }
                return a.x - b.x
            }
            return gaps.count >= 5 ? Double(gaps.filter { $0 > 0 }.count) / Double(gaps.count) : nil
        }
        var shares: [Double] = []
        for i in 0..<parts {
            for j in (i + 1)..<max(i + 1, parts) {
                guard let labeled = rightOf(i, j), let partners = rightOf(partner[i], partner[j]) else { continue }
                let mirrored = 1 - partners
                shares.append(mirrored >= 0.5 ? labeled : 1 - labeled)
            }
        }
        guard !shares.isEmpty else { return nil }
        return shares.sorted()[shares.count / 2] >= 0.1
    }
}

/// The settings a small project trains with when the command line leaves them open, each derived
/// from the labels (`LabelSummary`) by a stated rule rather than tuned to one project:
///
/// - **Scale**: full resolution, unless the frame's longer side passes 1280 (inference on every
///   frame of a video gets slow) or the subject spans over 256 pixels (its parts keep enough
///   heatmap cells between them at 256, and each step costs the square of the subject's size);
///   then scaled down to the smaller limit.
/// - **Input**: the frame at that scale, each side rounded up to a multiple of 32; for boxes,
///   the box enlarged 1.25x at full resolution, 128-320 pixels.
/// - **Windows**: training crops of 1.5x the subject (at least 128 pixels, multiples of 32) cut
///   from the input, so a step costs the subject's area and not the frame's; none when that
///   covers the input.
/// - **Heatmap sigma**: a sixteenth of the subject, in heatmap cells, within 1.5-3.
/// - **Start**: the feature layers of `human-lite`, the smaller built-in human model (width 24,
///   two blocks per stage), learned on 6600 LSPet photos: on held-out frames of other animals'
///   projects they beat fresh weights, and the deeper `human` (docs/TRAINING.md, the transfer
///   table), whose extra blocks cost steps the time budget would not buy back. With `--init
///   none`, or a width or depths chosen, fresh weights and the network of the next rule.
/// - **Network** (fresh weights): width 16 for up to 8 parts, else 24; one block per stage (a
///   few hundred frames do not need more and train faster without).
/// - **Batch** 8, **learning rate** 5e-3 with 5% of the steps of warm-up, **foreground weight**
///   20 (the built-in mouse model's settings).
/// - **Steps**: as many as fit in `trainingSeconds` by the cost model of `secondsPerImage`, at
///   least `minimumSteps` and 20 epochs, at most `maximumSteps`: a 40-frame project gets as
///   many updates as a 200-frame one, not 150 epochs of 5 steps. On a machine slower than the
///   cost model's, the run itself cuts them to what fits in `timeLimit` (`TrainingRun`).
/// - **Mirroring** only when mirrored frames look like the labeled ones (`LabelSummary.
///   mirrorFits`): a side view of an animal that always runs one way gains nothing from
///   samples facing the other way, and its left/right parts get confused; a top view turning
///   freely, or turned to face one way, gains.
/// - **Validation** at most 40 times a run (every few epochs when epochs are short).
public struct TrainingRecipe: Equatable, Sendable {
    public var input: [Int]
    public var crop: [Int]?
    /// Frames' pixels to input pixels.
    public var scale: Double
    public var width: Int
    public var depths: [Int]
    public var sigma: Double
    public var batch: Int
    public var learningRate: Double
    public var foregroundWeight: Double
    /// Whether samples may be mirrored (given left/right pairs).
    public var mirror: Bool
    /// The built-in model whose feature layers a run starts from (its width and depths then
    /// replace `width` and `depths`) unless the user chooses a network or `--init none`.
    public var start: String? = "human-lite"

    /// The training time the steps are chosen for, on the machine the cost model describes.
    public static let trainingSeconds = 720.0
    /// The time a recipe's run may take on the machine it runs on (`TrainingSettings.timeLimit`):
    /// a machine slower than the cost model's trains fewer steps rather than longer, so that
    /// decoding, validation and the run together stay within 20 minutes.
    public static let timeLimit = 1020.0
    public static let minimumSteps = 1000
    public static let maximumSteps = 6000

    /// The cost model of a training image (forward, backward, update, its share of augmentation)
    /// on the 2-core AVX-512 machine this project is measured on: a fixed 9 ms plus the window's
    /// forward GFLOP at 107 GFLOP/s, fitted to `keypoints train` runs of a width-16 network on
    /// 192x192 windows (68 images/s, 0.59 GFLOP) and a width-24 one on 288x288 inputs (27
    /// images/s, 2.98 GFLOP). A rule of thumb for the schedule, not a timer: the same labels get
    /// the same steps on any machine.
    public static func secondsPerImage(windowGFLOP: Double) -> Double { 0.009 + windowGFLOP / 107 }
    /// Projects with at least this many labeled samples are not small: they get the plain
    /// defaults (256x256, width 32, two blocks per stage, batch 16, 50 epochs).
    public static let largeProject = 1000

    /// The recipe for `summary`, given the input if the user chose one; nil for a large project or
    /// labels whose size is unknown.
    public init?(summary: LabelSummary, keypoints: Int, input chosen: [Int]?) {
        guard summary.samples < Self.largeProject, let extent = summary.extent, extent > 0 else { return nil }
        func up32(_ value: Double) -> Int { max(32, (Int(value.rounded(.up)) + 31) / 32 * 32) }
        if let frame = summary.frame {
            let scale =
                chosen.map { Double($0[0]) / Double(frame[0]) } ?? min(1, 1280 / Double(frame.max()!), 256 / extent)
            input = chosen ?? frame.map { up32(Double($0) * scale) }
            self.scale = scale
        } else {
            let side = min(max(up32(1.25 * extent), 128), 320)
            input = chosen ?? [side, side]
            scale = Double(input.min()!) / (1.25 * extent)
        }
        let subject = extent * scale
        let window = max(up32(1.5 * subject), 128)
        crop = window < input[0] || window < input[1] ? input.map { min($0, window) } : nil
        sigma = min(max(subject / 16 / 4, 1.5), 3)
        width = keypoints <= 8 ? 16 : 24
        depths = [1, 1, 1]
        (batch, learningRate, foregroundWeight) = (8, 5e-3, 20)
        mirror = summary.mirrorFits ?? true
    }

    /// Optimizer steps for a network whose training windows cost `windowGFLOP` forward, with
    /// `stepsPerEpoch`: the training time's worth within the floor and ceiling.
    public static func steps(windowGFLOP: Double, batch: Int, stepsPerEpoch: Int) -> Int {
        let affordable = Int(trainingSeconds / (Double(batch) * secondsPerImage(windowGFLOP: windowGFLOP)))
        return max(min(affordable, maximumSteps), minimumSteps, 20 * stepsPerEpoch)
    }
}

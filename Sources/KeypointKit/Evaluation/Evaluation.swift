import Foundation

/// A predicted keypoint in original image pixels, with its score (heatmap peak or likelihood).
public struct PredictedPoint: Equatable, Sendable {
    public var x: Double
    public var y: Double
    /// Compared with `pcutoff`; 1 where a predictions file gives none.
    public var score: Double

    public init(x: Double, y: Double, score: Double) {
        (self.x, self.y, self.score) = (x, y, score)
    }

    /// The Euclidean distance to a labeled point, in pixels: the error every figure counts.
    func distance(to truth: LabeledPoint) -> Double {
        ((x - truth.x) * (x - truth.x) + (y - truth.y) * (y - truth.y)).squareRoot()
    }
}

/// What PCK distances are divided by, per sample, from the ground truth.
public enum PCKNormalizer: Equatable, Sendable, CustomStringConvertible {
    /// Distance between two keypoints (by index), e.g. torso: right shoulder to left hip.
    case torso(Int, Int, names: String)
    /// Longer side of the ground-truth box (COCO bbox, else the box around the labeled points).
    case bbox
    /// Distance between two keypoints (by index), e.g. head size.
    case head(Int, Int, names: String)
    /// Raw pixels: thresholds are pixel distances.
    case pixels

    public var description: String {
        switch self {
        case .torso(_, _, let names): return "torso (\(names))"
        case .bbox: return "bounding box, longer side"
        case .head(_, _, let names): return "head (\(names))"
        case .pixels: return "pixels"
        }
    }

    /// The normaliser used when none is asked for: the torso (right shoulder to left hip) when the
    /// names have it, in LSP (`r_shoulder`, `l_hip`) or COCO (`right_shoulder`, `left_hip`) spelling,
    /// else the box.
    public static func standard(for names: [String]) -> PCKNormalizer {
        for (a, b) in [("r_shoulder", "l_hip"), ("right_shoulder", "left_hip")] {
            if let first = names.firstIndex(of: a), let second = names.firstIndex(of: b) {
                return .torso(first, second, names: "\(a),\(b)")
            }
        }
        return .bbox
    }

    /// Parses `torso:A,B`, `bbox`, `head:A,B` or `pixels` against the keypoint names.
    public static func parse(_ text: String, names: [String]) throws -> PCKNormalizer {
        if text == "bbox" { return .bbox }
        if text == "pixels" { return .pixels }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, ["torso", "head"].contains(parts[0]) else {
            throw InputError.invalid("a PCK normaliser is torso:A,B, bbox, head:A,B or pixels, not '\(text)'")
        }
        let pair = parts[1].split(separator: ",").map(String.init)
        guard pair.count == 2, let a = names.firstIndex(of: pair[0]), let b = names.firstIndex(of: pair[1]) else {
            throw InputError.invalid(
                "PCK normaliser \(text): both keypoints must be among \(names.joined(separator: ", "))")
        }
        return parts[0] == "torso" ? .torso(a, b, names: parts[1]) : .head(a, b, names: parts[1])
    }

    /// The normaliser for one sample, or nil when its ground truth lacks what it needs.
    func scale(_ sample: LabeledSample) -> Double? {
        switch self {
        case .pixels: return 1
        case .torso(let a, let b, _), .head(let a, let b, _):
            guard let p = sample.points[a], let q = sample.points[b] else { return nil }
            let distance = ((p.x - q.x) * (p.x - q.x) + (p.y - q.y) * (p.y - q.y)).squareRoot()
            return distance > 0 ? distance : nil
        case .bbox:
            if let box = sample.box, box.count == 4 { return max(box[2], box[3]) > 0 ? max(box[2], box[3]) : nil }
            let points = sample.points.compactMap { $0 }
            guard points.count >= 2 else { return nil }
            let width = points.map(\.x).max()! - points.map(\.x).min()!
            let height = points.map(\.y).max()! - points.map(\.y).min()!
            return max(width, height) > 0 ? max(width, height) : nil
        }
    }
}

/// Scores predictions against labels: pixel errors (DeepLabCut's "RMSE" convention, the mean
/// Euclidean distance), PCK, the PCK curve's area, and COCO OKS AP/AR.
public struct EvaluationReport: Sendable {
    public struct KeypointRow: Sendable {
        public var name: String
        public var meanError: Double?
        public var medianError: Double?
        public var count: Int
        public var pck: [Double?]
    }

    public var samples: Int
    public var keypointCount: Int
    public var meanError: Double?
    public var medianError: Double?
    public var pcutoff: Double?
    public var cutoffMeanError: Double?
    public var cutoffMedianError: Double?
    public var cutoffCount: Int
    public var thresholds: [Double]
    public var normalizer: PCKNormalizer
    public var pck: [Double?]
    /// Area under the PCK curve over [0, largest threshold], 101 points, trapezoids, divided by the range.
    public var auc: Double?
    /// PCK at 101 evenly spaced thresholds from 0 to the largest of `thresholds`: over all
    /// keypoints, and per keypoint (nil for a keypoint without normalisable labels).
    public var curveThresholds: [Double]
    public var curve: [Double]?
    public var keypointCurves: [[Double]?]
    public var keypoints: [KeypointRow]
    public var oks: OKSEvaluation.Result?
    public var oksSigmasSource: String?
    /// Per sample: image and mean error over its labeled, predicted keypoints.
    public var perImage: [(image: String, meanError: Double?, count: Int)]
    /// Every labeled and predicted point's error in pixels, in sample then keypoint order.
    public var errors: [Double]
    /// Error percentiles (nearest rank) in pixels: all points, and those scoring at least `pcutoff`.
    public var percentiles: [(percent: Int, all: Double?, cutoff: Double?)]
    /// The fraction of labeled points predicted within each of `pixelThresholds` pixels (SLEAP's
    /// view; a labeled point without a prediction is a miss).
    public var pixelPCK: [Double?]
    public static let percentileLevels = [50, 75, 90, 95, 99]
    public static let pixelThresholds: [Double] = [1, 2, 5, 10, 20, 50]

    /// `predictions[i]` belongs to `labels.samples[i]`, one optional point per label keypoint.
    public init(
        labels: LabeledSet, predictions: [[PredictedPoint?]], thresholds: [Double], normalizer: PCKNormalizer,
        pcutoff: Double?, sigmas: (values: [Double], source: String)?
    ) {
        precondition(predictions.count == labels.samples.count, "one prediction per labeled sample")
        let count = labels.keypointNames.count
        var errors: [[Double]] = Array(repeating: [], count: count)
        var cutoffErrors: [Double] = []
        var normalized: [[Double]] = Array(repeating: [], count: count)  // distance / scale, labeled points
        var perImage: [(String, Double?, Int)] = []
        var pixelDistances: [Double] = []  // every labeled point's error, infinity when not predicted
        for (sample, predicted) in zip(labels.samples, predictions) {
            let scale = normalizer.scale(sample)
            var sampleErrors: [Double] = []
            for k in 0..<count {
                guard let truth = sample.points[k] else { continue }
                guard let point = predicted[k] else {
                    if scale != nil { normalized[k].append(.infinity) }  // labeled but not predicted: a miss
                    pixelDistances.append(.infinity)
                    continue
                }
                let distance = point.distance(to: truth)
                errors[k].append(distance)
                sampleErrors.append(distance)
                pixelDistances.append(distance)
                if let pcutoff, point.score >= pcutoff { cutoffErrors.append(distance) }
                if let scale { normalized[k].append(distance / scale) }
            }
            perImage.append(
                (
                    sample.image, sampleErrors.isEmpty ? nil : sampleErrors.reduce(0, +) / Double(sampleErrors.count),
                    sampleErrors.count
                ))
        }
        func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
        func median(_ values: [Double]) -> Double? {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            return sorted.count % 2 == 1
                ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        func fraction(_ values: [Double], within threshold: Double) -> Double? {
            values.isEmpty ? nil : Double(values.filter { $0 <= threshold }.count) / Double(values.count)
        }
        func percentile(_ values: [Double], _ percent: Int) -> Double? {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            return sorted[max(Int((Double(percent) / 100 * Double(sorted.count)).rounded(.up)) - 1, 0)]
        }
        let all = errors.flatMap { $0 }
        let allNormalized = normalized.flatMap { $0 }
        self.errors = all
        percentiles = Self.percentileLevels.map { ($0, percentile(all, $0), percentile(cutoffErrors, $0)) }
        pixelPCK = Self.pixelThresholds.map { fraction(pixelDistances, within: $0) }
        samples = labels.samples.count
        keypointCount = all.count
        meanError = mean(all)
        medianError = median(all)
        self.pcutoff = pcutoff
        cutoffMeanError = mean(cutoffErrors)
        cutoffMedianError = median(cutoffErrors)
        cutoffCount = cutoffErrors.count
        self.thresholds = thresholds
        self.normalizer = normalizer
        pck = thresholds.map { fraction(allNormalized, within: $0) }
        let top = thresholds.max() ?? 0
        let grid = top > 0 ? (0...100).map { top * Double($0) / 100 } : []
        func curve(_ values: [Double]) -> [Double]? {
            values.isEmpty || grid.isEmpty ? nil : grid.map { fraction(values, within: $0)! }
        }
        let overall = curve(allNormalized)
        curveThresholds = grid
        self.curve = overall
        keypointCurves = normalized.map(curve)
        // Trapezoids over the curve, divided by the threshold range: 1 when every point is exact.
        auc = overall.map { curve in zip(curve, curve.dropFirst()).reduce(0) { $0 + ($1.0 + $1.1) / 2 } / 100 }
        keypoints = (0..<count).map { k in
            KeypointRow(
                name: labels.keypointNames[k], meanError: mean(errors[k]), medianError: median(errors[k]),
                count: errors[k].count, pck: thresholds.map { fraction(normalized[k], within: $0) })
        }
        self.perImage = perImage
        if let sigmas, sigmas.values.count == count {
            var truths: [OKSEvaluation.GroundTruth] = []
            var detections: [OKSEvaluation.Detection] = []
            var imageIDs: [Int] = []
            var syntheticIDs: [String: Int] = [:]
            for (index, (sample, predicted)) in zip(labels.samples, predictions).enumerated() {
                let imageID =
                    sample.imageID ?? syntheticIDs[sample.image]
                    ?? {
                        let id = syntheticIDs.count + 1
                        syntheticIDs[sample.image] = id
                        return id
                    }()
                imageIDs.append(imageID)
                let keypoints = sample.points.flatMap { point -> [Double] in
                    guard let point else { return [0, 0, 0] }
                    return [point.x, point.y, point.visible ? 2 : 1]
                }
                let labeled = sample.points.compactMap { $0 }
                let box =
                    sample.box
                    ?? {
                        guard let minX = labeled.map(\.x).min(), let minY = labeled.map(\.y).min() else {
                            return [0, 0, 0, 0]
                        }
                        return [minX, minY, labeled.map(\.x).max()! - minX, labeled.map(\.y).max()! - minY]
                    }()
                // Without a labeled area, the box's (COCO uses the segmentation area, close to it).
                truths.append(
                    OKSEvaluation.GroundTruth(
                        id: sample.annotationID ?? index + 1, imageID: imageID, keypoints: keypoints, box: box,
                        area: sample.area ?? box[2] * box[3], isCrowd: sample.isCrowd))
                let points = predicted.compactMap { $0 }
                guard !points.isEmpty else { continue }
                detections.append(
                    OKSEvaluation.Detection(
                        imageID: imageID,
                        keypoints: predicted.flatMap { point in point.map { [$0.x, $0.y, $0.score] } ?? [0, 0, 0] },
                        score: points.map(\.score).reduce(0, +) / Double(points.count)))
            }
            oks = OKSEvaluation.evaluate(
                imageIDs: Array(Set(imageIDs).union(labels.images.keys)), truths: truths, detections: detections,
                sigmas: sigmas.values)
            oksSigmasSource = sigmas.source
        } else {
            oks = nil
            oksSigmasSource = nil
        }
    }

    /// The report as one JSON object.
    public var json: JSONValue {
        func number(_ value: Double?) -> JSONValue { value.map { .number(($0 * 1e6).rounded() / 1e6) } ?? .null }
        var members: [(String, JSONValue)] = [
            ("samples", .number(Double(samples))), ("keypoints_evaluated", .number(Double(keypointCount))),
            ("mean_error_px", number(meanError)), ("median_error_px", number(medianError)),
        ]
        if let pcutoff {
            members += [
                ("pcutoff", .number(pcutoff)), ("pcutoff_mean_error_px", number(cutoffMeanError)),
                ("pcutoff_median_error_px", number(cutoffMedianError)), ("pcutoff_count", .number(Double(cutoffCount))),
            ]
        }
        members.append(("error_percentiles_px", .object(percentiles.map { ("\($0.percent)", number($0.all)) })))
        if pcutoff != nil {
            members.append(
                ("pcutoff_error_percentiles_px", .object(percentiles.map { ("\($0.percent)", number($0.cutoff)) })))
        }
        members.append(("pck_pixels", .object(zip(Self.pixelThresholds, pixelPCK).map { ("\($0.0)", number($0.1)) })))
        members += [
            ("pck_normalizer", .string(normalizer.description)),
            ("pck", .object(zip(thresholds, pck).map { ("\($0.0)", number($0.1)) })), ("pck_auc", number(auc)),
        ]
        if let oks {
            members.append(
                (
                    "oks",
                    .object([
                        ("ap", number(oks.ap)), ("ap50", number(oks.ap50)), ("ap75", number(oks.ap75)),
                        ("ar", number(oks.ar)), ("sigmas", .string(oksSigmasSource ?? "")),
                    ])
                ))
        }
        members.append(
            (
                "keypoints",
                .array(
                    keypoints.map { row in
                        .object([
                            ("name", .string(row.name)), ("mean_error_px", number(row.meanError)),
                            ("median_error_px", number(row.medianError)), ("count", .number(Double(row.count))),
                            ("pck", .object(zip(thresholds, row.pck).map { ("\($0.0)", number($0.1)) })),
                        ])
                    })
            ))
        return .object(members)
    }
}

import Foundation

/// COCO keypoint evaluation (object keypoint similarity, AP and AR), following pycocotools'
/// COCOeval for iouType "keypoints" step by step, so the numbers agree with it: OKS per
/// detection and ground truth, greedy matching by score at OKS thresholds 0.50:0.05:0.95, at most
/// 20 detections per image, crowd and keypoint-less ground truths ignored, precision interpolated
/// at 101 recall points.
public enum OKSEvaluation {
    /// COCO's per-keypoint constants for its 17 body keypoints (nose, eyes, ears, shoulders, elbows,
    /// wrists, hips, knees, ankles).
    public static let cocoSigmas: [Double] = [
        0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089,
        0.089,
    ]
    public static let cocoNames = [
        "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
        "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
        "right_ankle",
    ]

    public struct GroundTruth: Sendable {
        public var id: Int
        public var imageID: Int
        /// x, y, v per keypoint (v = 0: not labeled).
        public var keypoints: [Double]
        public var box: [Double]
        public var area: Double
        /// Crowd regions are ignored and may absorb any number of detections.
        public var isCrowd: Bool
        /// Ignored: a crowd, or no labeled keypoint.
        public var ignore: Bool {
            isCrowd || !stride(from: 2, to: keypoints.count, by: 3).contains { keypoints[$0] > 0 }
        }

        public init(id: Int, imageID: Int, keypoints: [Double], box: [Double], area: Double, isCrowd: Bool) {
            (self.id, self.imageID, self.keypoints, self.box, self.area, self.isCrowd) = (
                id, imageID, keypoints, box, area, isCrowd
            )
        }
    }

    public struct Detection: Sendable {
        public var imageID: Int
        /// x, y, score per keypoint.
        public var keypoints: [Double]
        public var score: Double

        public init(imageID: Int, keypoints: [Double], score: Double) {
            (self.imageID, self.keypoints, self.score) = (imageID, keypoints, score)
        }
    }

    public struct Result: Equatable, Sendable {
        public var ap: Double
        public var ap50: Double
        public var ap75: Double
        public var ar: Double
    }

    static let thresholds = (0..<10).map { 0.5 + 0.05 * Double($0) }
    static let recallPoints = (0...100).map { Double($0) / 100 }

    public static func oks(_ detection: [Double], _ truth: GroundTruth, sigmas: [Double]) -> Double {
        let count = sigmas.count
        let visible = (0..<count).filter { truth.keypoints[3 * $0 + 2] > 0 }
        let box = truth.box
        let (x0, x1) = (box[0] - box[2], box[0] + box[2] * 2)
        let (y0, y1) = (box[1] - box[3], box[1] + box[3] * 2)
        var total = 0.0
        var terms = 0
        for k in 0..<count where visible.isEmpty || truth.keypoints[3 * k + 2] > 0 {
            let dx: Double
            let dy: Double
            if !visible.isEmpty {
                dx = detection[3 * k] - truth.keypoints[3 * k]
                dy = detection[3 * k + 1] - truth.keypoints[3 * k + 1]
            } else {
                dx = max(0, x0 - detection[3 * k]) + max(0, detection[3 * k] - x1)
                dy = max(0, y0 - detection[3 * k + 1]) + max(0, detection[3 * k + 1] - y1)
            }
            let variance = (2 * sigmas[k]) * (2 * sigmas[k])
            total += exp(-(dx * dx + dy * dy) / variance / (truth.area + Double.ulpOfOne) / 2)
            terms += 1
        }
        return terms > 0 ? total / Double(terms) : 0
    }

    /// `imageIDs`: every image of the ground-truth file, annotated or not (detections on an image
    /// without ground truth are false positives).
    public static func evaluate(imageIDs: [Int], truths: [GroundTruth], detections: [Detection], sigmas: [Double])
        -> Result
    {
        let maxDetections = 20
        let imageIDs = Set(imageIDs).union(truths.map(\.imageID)).sorted()
        let truthsByImage = Dictionary(grouping: truths, by: \.imageID)
        let detectionsByImage = Dictionary(grouping: detections, by: \.imageID)
        var scores: [Double] = []
        var matched: [[Bool]] = Array(repeating: [], count: thresholds.count)
        var ignoredDetections: [[Bool]] = Array(repeating: [], count: thresholds.count)
        var relevant = 0
        for imageID in imageIDs {
            // Ground truths: kept ones first (stable), as pycocotools sorts by its ignore flag.
            let truths = (truthsByImage[imageID] ?? []).enumerated().sorted {
                ($0.element.ignore ? 1 : 0, $0.offset) < ($1.element.ignore ? 1 : 0, $1.offset)
            }.map(\.element)
            let detections = Array(
                (detectionsByImage[imageID] ?? []).enumerated().sorted {
                    ($1.element.score, $0.offset) < ($0.element.score, $1.offset)
                }
                .map(\.element).prefix(maxDetections))
            relevant += truths.filter { !$0.ignore }.count
            let similarity = detections.map { detection in truths.map { oks(detection.keypoints, $0, sigmas: sigmas) } }
            for (t, threshold) in thresholds.enumerated() {
                var truthTaken = [Bool](repeating: false, count: truths.count)
                for (d, _) in detections.enumerated() {
                    var best = min(threshold, 1 - 1e-10)
                    var match = -1
                    for (g, truth) in truths.enumerated() {
                        if truthTaken[g] && !truth.isCrowd { continue }
                        if match > -1 && !truths[match].ignore && truth.ignore { break }
                        if similarity[d][g] < best { continue }
                        best = similarity[d][g]
                        match = g
                    }
                    if match >= 0 {
                        truthTaken[match] = true
                        matched[t].append(true)
                        ignoredDetections[t].append(truths[match].ignore)
                    } else {
                        matched[t].append(false)
                        ignoredDetections[t].append(false)
                    }
                }
            }
            scores += detections.map(\.score)
        }
        guard relevant > 0 else { return Result(ap: -1, ap50: -1, ap75: -1, ar: -1) }
        // All detections by score, stable, as pycocotools' mergesort.
        let order = scores.indices.sorted { (scores[$1], $0) < (scores[$0], $1) }
        var precisions: [[Double]] = []
        var recalls: [Double] = []
        for t in thresholds.indices {
            var truePositives = 0.0
            var falsePositives = 0.0
            var precision: [Double] = []
            var recall: [Double] = []
            for index in order where !ignoredDetections[t][index] {
                if matched[t][index] { truePositives += 1 } else { falsePositives += 1 }
                recall.append(truePositives / Double(relevant))
                precision.append(truePositives / (truePositives + falsePositives + Double.ulpOfOne))
            }
            recalls.append(recall.last ?? 0)
            for i in stride(from: precision.count - 1, to: 0, by: -1) where precision[i] > precision[i - 1] {
                precision[i - 1] = precision[i]
            }
            precisions.append(
                recallPoints.map { point in
                    // searchsorted(recall, point, side="left"): the first recall >= point.
                    guard let index = recall.firstIndex(where: { $0 >= point }) else { return 0 }
                    return precision[index]
                })
        }
        func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(values.count) }
        return Result(
            ap: mean(precisions.flatMap { $0 }), ap50: mean(precisions[0]), ap75: mean(precisions[5]), ar: mean(recalls)
        )
    }
}

import Testing
import TestSupport

@testable import KeypointKit

struct EvaluationTests {
    /// Two samples, keypoints a and b, PCK normalised by the a-b distance, worked out by hand:
    /// errors 5, 0 (sample 1) and 1 (sample 2, whose b is not labeled, so it has no torso and no
    /// PCK); mean 2, median 1; normalised distances 0.5 and 0; PCK@0.1 = 0.5, PCK@0.5 = 1;
    /// pcutoff 0.5 keeps the errors 5 and 1; the PCK curve over [0, 0.5] is 0.5 up to its last
    /// point, 1 there: area (99 * 0.5 + 0.75) / 100 = 0.5025.
    @Test func metricsByHand() {
        let labels = LabeledSet(
            format: .simpleCSV, keypointNames: ["a", "b"],
            samples: [
                LabeledSample(
                    image: "1.png", points: [.init(x: 0, y: 0, visible: true), .init(x: 10, y: 0, visible: true)],
                    isCrowd: false),
                LabeledSample(image: "2.png", points: [.init(x: 0, y: 0, visible: true), nil], isCrowd: false),
            ], skeleton: [], images: [:])
        let predictions: [[PredictedPoint?]] = [
            [PredictedPoint(x: 3, y: 4, score: 0.9), PredictedPoint(x: 10, y: 0, score: 0.4)],
            [PredictedPoint(x: 0, y: 1, score: 0.6), PredictedPoint(x: 50, y: 50, score: 0.9)],
        ]
        let report = EvaluationReport(
            labels: labels, predictions: predictions, thresholds: [0.1, 0.5], normalizer: .torso(0, 1, names: "a,b"),
            pcutoff: 0.5, sigmas: nil)
        #expect(report.keypointCount == 3 && report.meanError == 2 && report.medianError == 1)
        #expect(report.cutoffMeanError == 3 && report.cutoffCount == 2)
        #expect(report.pck == [0.5, 1])
        #expect(abs(report.auc! - 0.5025) < 1e-12)
        #expect(report.curveThresholds.count == 101 && report.curveThresholds[50] == 0.25)
        #expect(report.curve! == Array(repeating: 0.5, count: 100) + [1])
        #expect(report.keypointCurves[0]! == Array(repeating: 0, count: 100) + [1])  // a: 0.5 of the torso off
        #expect(report.keypointCurves[1]! == Array(repeating: 1, count: 101))  // b: exact
        #expect(report.keypoints[0].meanError == 3 && report.keypoints[1].meanError == 0)
        #expect(report.perImage[1].meanError == 1 && report.perImage[1].count == 1)
    }

    @Test func normalizers() throws {
        let names = ["r_shoulder", "l_hip", "nose"]
        #expect(
            try PCKNormalizer.parse("torso:r_shoulder,l_hip", names: names) == .torso(0, 1, names: "r_shoulder,l_hip"))
        #expect(try PCKNormalizer.parse("bbox", names: names) == .bbox)
        #expect(throws: InputError.self) { try PCKNormalizer.parse("torso:r_shoulder,elbow", names: names) }
        let sample = LabeledSample(
            image: "x", points: [.init(x: 0, y: 0, visible: true), .init(x: 30, y: 40, visible: true), nil],
            isCrowd: false)
        #expect(PCKNormalizer.bbox.scale(sample) == 40)
        #expect(PCKNormalizer.torso(0, 1, names: "").scale(sample) == 50)
        #expect(PCKNormalizer.head(0, 2, names: "").scale(sample) == nil)
    }

    /// A perfect prediction scores OKS AP 1 (to rounding) with any sigmas.
    @Test func perfectPredictionsHaveAPOne() {
        let labels = LabeledSet(
            format: .simpleCSV, keypointNames: ["a", "b"],
            samples: [
                LabeledSample(
                    image: "1.png", points: [.init(x: 5, y: 5, visible: true), .init(x: 25, y: 45, visible: true)],
                    isCrowd: false)
            ],
            skeleton: [], images: [:])
        let report = EvaluationReport(
            labels: labels,
            predictions: [[PredictedPoint(x: 5, y: 5, score: 1), PredictedPoint(x: 25, y: 45, score: 1)]],
            thresholds: [0.2], normalizer: .bbox, pcutoff: nil, sigmas: ([0.05, 0.05], "given"))
        #expect(abs((report.oks?.ap ?? 0) - 1) < 1e-9 && report.oks?.ar == 1)  // precision tp / (tp + fp + eps), as pycocotools
    }
}

import Foundation
import Testing
import TestSupport

@testable import KeypointKit

struct OKSTests {
    /// One keypoint, sigma 0.1, area 100, offset 3 px: exp(-9 / (0.2^2 * 100 * 2)) = exp(-1.125).
    @Test func oksByHand() {
        let truth = OKSEvaluation.GroundTruth(
            id: 1, imageID: 1, keypoints: [10, 10, 2], box: [0, 0, 20, 20], area: 100, isCrowd: false)
        let value = OKSEvaluation.oks([13, 10, 1], truth, sigmas: [0.1])
        #expect(abs(value - exp(-1.125)) < 1e-12)
        #expect(OKSEvaluation.oks([10, 10, 1], truth, sigmas: [0.1]) == 1)
    }

    /// Our AP, AP50, AP75 and AR against pycocotools (pip install pycocotools) on mmpose's COCO
    /// fixture (4 images, 14 people): detections are the ground truth moved by seeded noise of a few
    /// pixels, with random scores, one person missed and two spurious detections. Equal within 1e-6.
    @Test func agreesWithPycocotools() throws {
        let labelsPath = SharedData.path("mmpose-testdata/tests/data/coco/test_coco.json")
        let set = try LabeledSet.load(contentsOf: labelsPath)
        var random = SplitMix64(seed: 11)
        var truths: [OKSEvaluation.GroundTruth] = []
        var detections: [OKSEvaluation.Detection] = []
        for (index, sample) in set.samples.enumerated() {
            let keypoints = sample.points.flatMap { point -> [Double] in
                guard let point else { return [0, 0, 0] }
                return [point.x, point.y, point.visible ? 2 : 1]
            }
            truths.append(
                OKSEvaluation.GroundTruth(
                    id: sample.annotationID ?? index + 1, imageID: sample.imageID!, keypoints: keypoints,
                    box: sample.box!,
                    area: sample.area ?? 0, isCrowd: sample.isCrowd))
            if index == 3 { continue }  // a missed person
            let noise = Double.random(in: 1...12, using: &random)
            let moved = stride(from: 0, to: keypoints.count, by: 3).flatMap { k -> [Double] in
                [
                    keypoints[k] + Double.random(in: -noise...noise, using: &random),
                    keypoints[k + 1] + Double.random(in: -noise...noise, using: &random), 1,
                ]
            }
            detections.append(
                OKSEvaluation.Detection(
                    imageID: sample.imageID!, keypoints: moved, score: Double.random(in: 0.1...1, using: &random)))
        }
        for imageID in set.images.keys.sorted().prefix(2) {  // spurious detections
            let points = (0..<17).flatMap { _ in
                [Double.random(in: 0...500, using: &random), Double.random(in: 0...400, using: &random), 1.0]
            }
            detections.append(OKSEvaluation.Detection(imageID: imageID, keypoints: points, score: 0.55))
        }
        let ours = OKSEvaluation.evaluate(
            imageIDs: Array(set.images.keys), truths: truths, detections: detections, sigmas: OKSEvaluation.cocoSigmas)

        let folder = try TemporaryFolder()
        let results = JSONValue.array(
            detections.map { detection in
                .object([
                    ("image_id", .number(Double(detection.imageID))), ("category_id", .number(1)),
                    ("keypoints", .array(detection.keypoints.map { .number($0) })), ("score", .number(detection.score)),
                ])
            })
        let resultsPath = try folder.write(Array(results.serialized.utf8), to: "results.json")
        let (status, report) = try runPythonScript("coco_ap.py", [labelsPath, resultsPath])
        #expect(status == 0, "\(report)")
        let theirs = try JSONSerialization.jsonObject(with: Data(report.utf8)) as? [String: Double] ?? [:]
        print("OKS: ours \(ours), pycocotools \(theirs)")
        #expect(abs(ours.ap - (theirs["ap"] ?? -9)) <= 1e-6)
        #expect(abs(ours.ap50 - (theirs["ap50"] ?? -9)) <= 1e-6)
        #expect(abs(ours.ap75 - (theirs["ap75"] ?? -9)) <= 1e-6)
        #expect(abs(ours.ar - (theirs["ar"] ?? -9)) <= 1e-6)
    }
}

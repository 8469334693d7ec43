import Testing

@testable import KeypointKit

struct MirroredLabelsTests {
    static let names = ["snout", "left_ear", "right_ear", "left_paw", "right_paw", "tail"]
    static let pairs = [[1, 2], [3, 4]]
    /// One animal: ears 40 px apart, paws 60, the box's longer side 90 (PCK@0.2 reach 18 px).
    static let points: [(Double, Double)] = [(50, 10), (30, 30), (70, 30), (20, 80), (80, 80), (50, 100)]

    static func sample(_ index: Int, swapping: [[Int]] = [], missing: Set<Int> = []) -> LabeledSample {
        var order = Array(points.indices)
        for pair in swapping { order.swapAt(pair[0], pair[1]) }
        return LabeledSample(
            image: "\(index).png",
            points: order.enumerated().map { k, source in
                missing.contains(k) ? nil : LabeledPoint(x: points[source].0, y: points[source].1, visible: true)
            }, isCrowd: false)
    }

    static var predicted: [PredictedPoint?] { points.map { PredictedPoint(x: $0.0, y: $0.1, score: 0.9) } }

    /// Ten frames predicted exactly as the animal stands: frame 4's labels have both pairs
    /// exchanged (found 0 of 4 as labeled, 4 of 4 exchanged: judged mirrored); frame 6's left paw
    /// is predicted 50 px off (3 of 4 against 0: a miss, not a swap); frame 8 exchanges the ears
    /// only (2 of 4 either way: not judged); frame 2 has one paired point and is not checked.
    @Test func namesTheFramesWhoseSidesAreSwapped() {
        var samples = (0..<10).map { Self.sample($0) }
        samples[4] = Self.sample(4, swapping: Self.pairs)
        samples[8] = Self.sample(8, swapping: [[1, 2]])
        samples[2] = Self.sample(2, missing: [2, 3, 4])
        var predictions = Array(repeating: Self.predicted, count: 10)
        predictions[6][3] = PredictedPoint(x: 20, y: 30, score: 0.9)
        let found = MirroredLabels(
            samples: samples, predictions: predictions, pairs: Self.pairs, normalizer: .bbox)
        #expect(found.checked == 9)
        #expect(found.frames == [.init(image: "4.png", paired: 4, foundAsLabeled: 0, foundExchanged: 4)])
        let warning = found.warning ?? ""
        #expect(warning.hasPrefix("1 of 9 frames have labels that fit far better with left and right exchanged"))
        #expect(warning.contains("4.png (0 of 4 left/right points found as labeled, 4 with left and right exchanged)"))
        // Without pairs nothing can be swapped; with predictions matching, nothing is.
        #expect(
            MirroredLabels(samples: samples, predictions: predictions, pairs: [], normalizer: .bbox).warning == nil)
        #expect(
            MirroredLabels(
                samples: (0..<10).map { Self.sample($0) }, predictions: predictions, pairs: Self.pairs,
                normalizer: .bbox
            ).frames.map(\.image) == [])
    }

    /// When most frames look swapped, the predictions, not a few frames, disagree with the labels'
    /// sides, and the warning says so instead of listing frames.
    @Test func aModelThatSwapsMostFramesIsNamedInstead() {
        let samples = (0..<5).map { Self.sample($0, swapping: $0 < 3 ? Self.pairs : []) }
        let found = MirroredLabels(
            samples: samples, predictions: Array(repeating: Self.predicted, count: 5), pairs: Self.pairs,
            normalizer: .bbox)
        #expect(found.frames.count == 3 && found.checked == 5)
        #expect(
            found.warning?.hasPrefix("in 3 of 5 frames the model places most left/right parts on the other side")
                == true)
    }
}

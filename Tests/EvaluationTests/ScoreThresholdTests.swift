import Foundation
import Testing
import TestSupport

@testable import KeypointKit

/// The score threshold a model records, chosen from predictions on labeled samples.
struct ScoreThresholdTests {
    /// One sample per case: part 0 labeled at (0, 0) and part 1 at (100, 0), so PCK@0.2 of the
    /// box (100 px) accepts points within 20 px; part 2 labeled at (50, 0) when `third`, else
    /// unlabeled.
    static func sample(third: Bool = false) -> LabeledSample {
        LabeledSample(
            image: "x.png",
            points: [
                LabeledPoint(x: 0, y: 0, visible: true), LabeledPoint(x: 100, y: 0, visible: true),
                third ? LabeledPoint(x: 50, y: 0, visible: true) : nil,
            ], box: nil, isCrowd: false)
    }

    /// Found points score high, missed and unlabeled ones low: the threshold is the midpoint
    /// between the classes, every point on its side. Part 2 is labeled in 3 of the 6 samples
    /// (found there), so the labels mark it absent in the others.
    @Test func separatesFoundFromTheRest() throws {
        var samples: [LabeledSample] = []
        var predictions: [[PredictedPoint?]] = []
        for index in 0..<6 {
            samples.append(Self.sample(third: index % 2 == 0))
            let offset = Double(index)
            predictions.append([
                PredictedPoint(x: 5, y: 0, score: 0.8 + offset / 100),  // found (5 px)
                PredictedPoint(x: 150, y: 0, score: 0.3 - offset / 100),  // missed (50 px)
                PredictedPoint(x: 50, y: 2, score: index % 2 == 0 ? 0.9 : 0.2),  // found, or not labeled
            ])
        }
        let chosen = try #require(
            ScoreThreshold(samples: samples, predictions: predictions, normalizer: .bbox))
        #expect(chosen.found == 9 && chosen.notFound == 9)
        #expect(abs(chosen.threshold - (0.3 + 0.8) / 2) < 1e-12 && chosen.balancedAccuracy == 1)
        #expect(ScoreThreshold(samples: [Self.sample()], predictions: [predictions[0]], normalizer: .bbox) == nil)
    }

    /// A part labeled in fewer than half the samples is one the labels skip, not mark absent:
    /// where it is unlabeled its prediction (scored high, as a model that finds it there scores
    /// it) counts in neither class, and the threshold still splits found from missed.
    @Test func aPartTheLabelsSkipCountsInNeitherClass() throws {
        var samples: [LabeledSample] = []
        var predictions: [[PredictedPoint?]] = []
        for index in 0..<6 {
            samples.append(Self.sample(third: index == 0))
            predictions.append([
                PredictedPoint(x: 5, y: 0, score: 0.8), PredictedPoint(x: 150, y: 0, score: 0.3),
                PredictedPoint(x: 50, y: 2, score: 0.95),
            ])
        }
        let chosen = try #require(
            ScoreThreshold(samples: samples, predictions: predictions, normalizer: .bbox))
        #expect(chosen.found == 7 && chosen.notFound == 6)
        #expect(abs(chosen.threshold - (0.3 + 0.8) / 2) < 1e-12 && chosen.balancedAccuracy == 1)
    }

    /// With overlapping scores the threshold is the midpoint that maximises the balanced accuracy,
    /// as a brute-force search over every midpoint finds it.
    @Test func maximisesTheBalancedAccuracy() throws {
        var random = SplitMix64(seed: 11)
        var samples: [LabeledSample] = []
        var predictions: [[PredictedPoint?]] = []
        var scored: [(Double, Bool)] = []
        for _ in 0..<40 {
            let found = Double.random(in: 0..<1, using: &random) < 0.6
            let score = found ? Double.random(in: 0.3...1, using: &random) : Double.random(in: 0...0.6, using: &random)
            samples.append(Self.sample())
            predictions.append([PredictedPoint(x: found ? 3 : 60, y: 0, score: score), nil, nil])
            scored.append((score, found))
        }
        let chosen = try #require(ScoreThreshold(samples: samples, predictions: predictions, normalizer: .bbox))
        let found = scored.filter(\.1).count, rest = scored.count - found
        func accuracy(_ t: Double) -> Double {
            (Double(scored.filter { $0.1 && $0.0 >= t }.count) / Double(found)
                + Double(scored.filter { !$0.1 && $0.0 < t }.count) / Double(rest)) / 2
        }
        let scores = Set(scored.map(\.0)).sorted()
        let best = zip(scores, scores.dropFirst()).map { accuracy(($0 + $1) / 2) }.max()!
        #expect(abs(chosen.balancedAccuracy - best) < 1e-12 && abs(accuracy(chosen.threshold) - best) < 1e-12)
        #expect(chosen.balancedAccuracy > 0.5)
    }

    /// On cut images the classes are where the parts are, not how well they were placed: parts
    /// the cut kept (however far off their prediction) against parts it cut away; parts the
    /// whole image leaves unlabeled count in neither.
    @Test func separatesPartsInThePictureFromPartsCutAway() throws {
        var (whole, cut, predictions) = ([LabeledSample](), [LabeledSample](), [[PredictedPoint?]]())
        for index in 0..<6 {
            let sample = Self.sample()  // parts 0 and 1 labeled, 2 not
            var kept = sample
            kept.points[1] = nil  // part 1 cut away
            whole.append(sample)
            cut.append(kept)
            let offset = Double(index) / 100
            predictions.append([
                PredictedPoint(x: 90, y: 0, score: 0.6 + offset),  // kept, 90 px off: still in the picture
                PredictedPoint(x: 100, y: 0, score: 0.2 + offset),  // cut away, predicted on the spot
                PredictedPoint(x: 0, y: 0, score: 0.9),  // unlabeled: in neither class
            ])
        }
        let chosen = try #require(ScoreThreshold(whole: whole, cut: cut, predictions: predictions))
        #expect(chosen.found == 6 && chosen.notFound == 6 && chosen.balancedAccuracy == 1)
        #expect(abs(chosen.threshold - (0.25 + 0.6) / 2) < 1e-12)
        #expect(ScoreThreshold(whole: whole, cut: whole, predictions: predictions) == nil, "nothing cut away")
    }
}

import Foundation
import Testing
import TestSupport

@testable import KeypointKit

/// The subject's reach as measured on training labels (`SubjectReach`, `Trainer.subjectReach`).
struct SubjectReachTests {
    /// The farthest part from its frame's coordinate-wise median (the mean of the middle two for
    /// an even count), times the zoom; frames of fewer than two parts count for nothing.
    @Test func theReachIsTheFarthestPartFromItsFramesMedian() {
        let frames = [
            [Point(x: 0, y: 0), Point(x: 2, y: 0), Point(x: 10, y: 0)],  // median (2, 0): 8
            [Point(x: 0, y: 0), Point(x: 6, y: 8)],  // median (3, 4): 5
            [Point(x: 100, y: 100)],
        ]
        #expect(SubjectReach.measure(frames: frames, maxZoom: 1.25) == 10)
        #expect(SubjectReach.measure(frames: frames, maxZoom: 0.8) == 8, "a zoom below 1 shrinks nothing")
        #expect(SubjectReach.measure(frames: [[Point(x: 1, y: 1)]], maxZoom: 1) == nil)
        let two = [Point(x: 0, y: 0), Point(x: 9, y: 9)]
        #expect(SubjectReach.disc(peaks: two, reach: 10, stride: 4, sigma: 2) == nil)
        let disc = SubjectReach.disc(
            peaks: [Point(x: 1, y: 2), Point(x: 3, y: 4), Point(x: 40, y: 50)], reach: 8, stride: 4, sigma: 2)
        #expect(disc == HeatmapDisc(centerX: 3, centerY: 4, radius: 1.5 * 2 + 6))
    }

    /// A trainer measures its training frames in network input pixels: the fixture's 64x48
    /// images fill a 128x128 input 2x, and each frame labels two parts (the reach is half their
    /// distance), so the reach is the farthest pair's distance times the largest zoom.
    @Test func aTrainerMeasuresItsTrainingFramesInInputPixels() throws {
        let folder = try TemporaryFolder()
        let (model, data) = try TrainingFixtures.tinyModelAndData(folder, size: 128)
        var settings = TrainingSettings(epochs: 1, batch: 2, augmentation: .none)
        settings.augmentation.maxZoom = 1.25
        let trainer = try Trainer(model: model, data: data, settings: settings)
        let distances = trainer.train.map { index -> Double in
            let points = data.samples[index].points.compactMap { $0 }
            return hypot(points[0].x - points[1].x, points[0].y - points[1].y)
        }
        let reach = try #require(trainer.subjectReach)
        #expect(abs(reach - distances.max()! / 2 * 2 * 1.25) < 1e-9, "half the distance, 2 input px per image px")
        #expect(trainer.currentModel().subjectReach == reach)
    }
}

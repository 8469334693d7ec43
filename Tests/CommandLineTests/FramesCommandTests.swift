import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// `keypoints frames`: frames picked to label, written in DeepLabCut's labeled-data layout.
struct FramesCommandTests {
    /// uniform: evenly spaced, first and last included, named by frame index (padded to the
    /// digits of the frame count), each PNG the frame itself.
    @Test func uniformFramesLandInTheLabeledDataLayout() throws {
        let folder = try TemporaryFolder()
        let video = try VideoFixtures.make(
            folder.file("mouse1.mp4"), frames: 40, options: ["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        let run = try CommandLineTool.run(["frames", video, "--count", "5", "--out", folder.file("project")])
        #expect(run.status == 0, "\(run.errors)")
        let written = try FileManager.default.contentsOfDirectory(atPath: folder.file("project/labeled-data/mouse1"))
        #expect(written.sorted() == ["img00.png", "img10.png", "img20.png", "img29.png", "img39.png"])
        let raw = try VideoFixtures.rawFrames(video)
        let size = 96 * 64 * 3
        for (name, index) in [("img10.png", 10), ("img39.png", 39)] {
            let image = try ImageDecoder.decode(contentsOf: folder.file("project/labeled-data/mouse1/\(name)")).image
            #expect(Data(image.pixels) == raw[(index * size)..<((index + 1) * size)], "\(name)")
        }
    }

    /// kmeans on a video of two scenes (30 frames of a test pattern, 10 of plain red): two frames
    /// picked, one from each.
    @Test func kmeansFindsEachScene() throws {
        let folder = try TemporaryFolder()
        let video = folder.file("scenes.mkv")
        _ = try VideoFixtures.run(
            "ffmpeg",
            [
                "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=3", "-f", "lavfi", "-i",
                "color=c=red:size=64x48:rate=10:duration=1", "-filter_complex", "[0][1]concat=n=2:v=1", "-c:v",
                "libx264", "-pix_fmt", "yuv420p", video,
            ])
        let picked = try FramePicker(video: video).pick(2, method: .kmeans)
        #expect(picked.count == 2 && picked[0] < 30 && picked[1] >= 30, "\(picked)")
        let missing = try CommandLineTool.run(["frames", folder.file("none.mp4"), "--out", folder.file("p")])
        #expect(missing.status == 1 && missing.errors.contains("none.mp4: no such file"))
    }
}

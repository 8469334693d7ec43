import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// `keypoints draw`: a labeled copy of a video, every frame, the results' frames with keypoints.
struct DrawCommandTests {
    /// Results for frames 0-9 of a 20-frame clip: the copy has all 20 frames in H.264; around the
    /// points, frames 0-9 differ from the source far more than frames 10-19 (only the encoding).
    @Test func labelsTheFramesThatHaveResults() throws {
        let folder = try TemporaryFolder()
        let model = folder.file("model.safetensors")
        try TestModels.small().write(to: model)
        let video = try VideoFixtures.make(
            folder.file("clip.mp4"), frames: 20, size: "128x96", options: ["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        let results = folder.file("clip.jsonl")
        let batch = try CommandLineTool.run(
            ["batch", video, "--model", model, "--out", results, "--frames", "0:10", "--quiet"])
        #expect(batch.status == 0, "\(batch.errors)")
        let out = folder.file("labeled.mp4")
        let draw = try CommandLineTool.run(["draw", video, "--results", results, "--out", out])
        #expect(
            draw.status == 0 && draw.output.contains("20 frames, 10 labeled, libx264"), "\(draw.output) \(draw.errors)")
        let points = try FrameResults.read(results)
        let source = try VideoReader(contentsOf: video)
        let labeled = try VideoReader(contentsOf: out)
        var differences: [Double] = []  // per frame, the largest mean difference in a 3x3 window at a point
        while let original = try source.next(), let copy = try labeled.next() {
            let marks = points[original.index] ?? points[9]!
            differences.append(
                marks.map { point in
                    let (cx, cy) = (Int(point.x.rounded()), Int(point.y.rounded()))
                    var total = 0
                    var count = 0
                    for y in max(cy - 1, 0)...min(cy + 1, 95) {
                        for x in max(cx - 1, 0)...min(cx + 1, 127) {
                            for c in 0..<3 {
                                let i = (y * 128 + x) * 3 + c
                                total += abs(Int(original.image.pixels[i]) - Int(copy.image.pixels[i]))
                                count += 1
                            }
                        }
                    }
                    return Double(total) / Double(max(count, 1))
                }.max()!)
        }
        #expect(differences.count == 20)
        #expect(differences[..<10].min()! > 2 * differences[10...].max()!, "\(differences)")
    }

    /// An odd-sized MJPEG AVI (4:2:0 needs even sides): the copy repeats the last column and row.
    @Test func oddSizesAndDeepLabCutResults() throws {
        let folder = try TemporaryFolder()
        let video = try VideoFixtures.make(
            folder.file("odd.avi"), frames: 6, options: ["-vf", "scale=97:65", "-pix_fmt", "yuvj444p", "-c:v", "mjpeg"])
        let csv =
            DeepLabCutCSV.header(scorer: "DLC_resnet50", keypoints: ["nose", "tail"])
            + "0,10,20,0.9,50,40,0.8\n3,12,22,0.9,52,42,0.1\n"
        let results = try folder.write(Array(csv.utf8), to: "odd.csv")
        let run = try CommandLineTool.run(
            ["draw", video, "--results", results, "--out", folder.file("odd-labeled.mkv"), "--min-score", "0.5"])
        #expect(run.status == 0 && run.output.contains("6 frames, 2 labeled"), "\(run.output) \(run.errors)")
        let copy = try VideoReader(contentsOf: folder.file("odd-labeled.mkv"))
        #expect(copy.info.width == 98 && copy.info.height == 66)
        let bad = try CommandLineTool.run(["draw", video, "--results", video, "--out", folder.file("x.mp4")])
        #expect(bad.status == 2 && bad.errors.contains("--results"), "\(bad.errors)")
    }
}

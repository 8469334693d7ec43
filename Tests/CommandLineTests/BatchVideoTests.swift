import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// `keypoints batch` on videos, end to end: a record per frame equal to `detect` on that frame
/// extracted by ffmpeg, frame selection, DeepLabCut's layout, kill -9 and resume, bad files.
struct BatchVideoTests {
    /// A small model for 64x48 inputs, and an H.264 MP4 (with B-frames) of `frames` frames.
    static func fixture(_ folder: TemporaryFolder, frames: Int) throws -> (video: String, model: String) {
        let model = folder.file("model.safetensors")
        try TestModels.small().write(to: model)
        let video = try VideoFixtures.make(
            folder.file("clip.mp4"), frames: frames, size: "128x96",
            options: ["-c:v", "libx264", "-bf", "2", "-pix_fmt", "yuv420p"])
        return (video, model)
    }

    static func records(_ path: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    static func canonical(_ value: Any?) throws -> Data {
        try JSONSerialization.data(withJSONObject: try #require(value), options: [.sortedKeys])
    }

    @Test func everyFrameOnceLikeDetectOnTheExtractedFrame() throws {
        let folder = try TemporaryFolder()
        let (video, model) = try Self.fixture(folder, frames: 24)
        let out = folder.file("clip.jsonl")
        let run = try CommandLineTool.run(["batch", video, "--model", model, "--out", out, "--jobs", "2"])
        #expect(run.status == 0, "\(run.errors)")
        let records = try Self.records(out)
        #expect(records.map { $0["frame"] as? Int } == Array(0..<24))
        #expect(records.allSatisfy { $0["video"] as? String == video && $0["width"] as? Int == 128 })
        #expect(abs((records[10]["time"] as? Double ?? 0) - 1.0) < 1e-6, "10 fps: frame 10 at 1 s")
        for index in [0, 13, 23] {
            let png = folder.file("frame\(index).png")
            _ = try VideoFixtures.run(
                "ffmpeg",
                [
                    "-v", "error", "-i", video, "-vf", "select=eq(n\\,\(index))", "-fps_mode", "passthrough",
                    "-frames:v",
                    "1", png,
                ])
            let detect = try CommandLineTool.run(["detect", png, "--model", model, "--json"])
            let expected = try #require(
                try JSONSerialization.jsonObject(with: Data(detect.output.utf8)) as? [String: Any])
            #expect(
                try Self.canonical(records[index]["keypoints"]) == Self.canonical(expected["keypoints"]),
                "frame \(index)")
        }
    }

    @Test func framesAndEveryPickByIndexInDeepLabCutsLayout() throws {
        let folder = try TemporaryFolder()
        let (video, model) = try Self.fixture(folder, frames: 20)
        let run = try CommandLineTool.run(
            [
                "batch", video, "--model", model, "--out-dir", folder.file("out"), "--format", "csv", "--frames",
                "5:15",
                "--every", "3", "--quiet",
            ])
        #expect(run.status == 0, "\(run.errors)")
        let lines = try String(contentsOfFile: folder.file("out/clip.csv"), encoding: .utf8).split(separator: "\n")
        #expect(lines[0].hasPrefix("scorer,model,") && lines[1].hasPrefix("bodyparts,left_eye,left_eye,left_eye,"))
        #expect(lines[2] == "coords" + String(repeating: ",x,y,likelihood", count: 3))
        #expect(lines.dropFirst(3).map { $0.split(separator: ",")[0] } == ["5", "8", "11", "14"])
        #expect(
            lines.dropFirst(3).allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 10 })
        let usage = try CommandLineTool.run(["batch", video, "--model", model, "--frames", "9:3"])
        #expect(usage.status == 2 && usage.errors.contains("--frames must be START:END"))
    }

    /// Killed with SIGKILL at random moments and resumed each time, the run ends with the output
    /// of an uninterrupted one: every frame once.
    @Test func killedAndResumedEndsLikeAnUninterruptedRun() throws {
        let folder = try TemporaryFolder()
        let (video, model) = try Self.fixture(folder, frames: 300)
        let reference = folder.file("reference.jsonl")
        _ = try CommandLineTool.run(["batch", video, "--model", model, "--out", reference, "--quiet", "--jobs", "2"])
        let out = folder.file("interrupted.jsonl")
        let arguments = ["batch", video, "--model", model, "--out", out, "--quiet", "--jobs", "2"]
        let kills = try CommandLineTool.killRepeatedly(
            arguments, resume: ["--resume"], kills: 4, delay: 50_000...400_000, seed: 7)
        #expect(kills == 4, "the runs must be cut short for this to test anything")
        let final = try CommandLineTool.run(arguments + ["--resume"])
        #expect(final.status == 0, "\(final.errors)")
        #expect(try String(contentsOfFile: out, encoding: .utf8) == String(contentsOfFile: reference, encoding: .utf8))
        #expect(try Self.records(out).count == 300)
    }

    /// A folder with a good video, a truncated one, an audio-only .mp4 and a JPEG named .mp4: the
    /// good video and the JPEG (an image, by content) are analysed, the truncated video keeps its
    /// frames and ends with an error record, the audio file is an error record; exit status 1.
    @Test func badVideosAreReportedAndTheRunGoesOn() throws {
        let folder = try TemporaryFolder()
        let (video, model) = try Self.fixture(folder, frames: 30)
        let media = folder.file("media")
        try FileManager.default.createDirectory(atPath: media, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: video, toPath: folder.file("media/good.mp4"))
        let whole = try VideoFixtures.make(
            folder.file("whole.mkv"), frames: 30, size: "128x96", options: ["-c:v", "libx264", "-pix_fmt", "yuv420p"])
        let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
        _ = try folder.write(Array(bytes.prefix(bytes.count / 2)), to: "media/cut.mkv")
        _ = try VideoFixtures.run(
            "ffmpeg",
            [
                "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", "-f", "mp4",
                folder.file("media/tone.mp4"),
            ])
        let jpeg = try ImageEncoder.jpeg(Image(width: 128, height: 96, pixels: testPicture(width: 128, height: 96)))
        _ = try folder.write(jpeg, to: "media/photo.mp4")
        let run = try CommandLineTool.run(
            [
                "batch", media, "--model", model, "--out", folder.file("images.jsonl"), "--out-dir", folder.file("out"),
                "--quiet",
            ])
        #expect(run.status == 1)
        let images = try Self.records(folder.file("images.jsonl"))
        #expect(images.count == 1 && images[0]["image"] as? String == folder.file("media/photo.mp4"))
        #expect(try Self.records(folder.file("out/good.jsonl")).count == 30)
        let cut = try Self.records(folder.file("out/cut.jsonl"))
        #expect(cut.count > 5 && cut.dropLast().allSatisfy { $0["frame"] != nil })
        #expect((cut.last?["error"] as? String)?.contains("damaged data at frame") == true, "\(cut.last ?? [:])")
        let tone = try Self.records(folder.file("out/tone.jsonl"))
        #expect(tone.count == 1 && (tone[0]["error"] as? String)?.contains("no video stream") == true)
        #expect(run.errors.contains("cut.mkv") && run.errors.contains("tone.mp4"), "\(run.errors)")
    }
}

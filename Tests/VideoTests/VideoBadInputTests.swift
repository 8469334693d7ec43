import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// Damaged and wrong files: a clear `VideoError` naming the file, and the frames before any damage.
struct VideoBadInputTests {
    /// The first 60% of a 30-frame video: the frames before the cut come out (as many as the
    /// ffmpeg command line gets), then an error that says at which frame the data was damaged.
    @Test(arguments: ["mp4", "avi", "mkv"])
    func truncatedVideoKeepsTheFramesBeforeTheDamage(container: String) throws {
        let folder = try TemporaryFolder()
        let codec = container == "avi" ? ["-c:v", "mjpeg"] : ["-c:v", "libx264", "-movflags", "+faststart"]
        let whole = try VideoFixtures.make(folder.file("whole.\(container)"), frames: 30, options: codec)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: whole))
        let cut = try folder.write(Array(bytes.prefix(bytes.count * 6 / 10)), to: "cut.\(container)")
        let reader = try VideoReader(contentsOf: cut)
        var frames = 0
        var stopped: VideoError?
        do {
            while try reader.next() != nil { frames += 1 }
        } catch let error as VideoError {
            stopped = error
        }
        let commandLine = try VideoFixtures.rawFrames(cut).count / (96 * 64 * 3)
        #expect(frames >= 10 && frames == commandLine, "\(frames) vs \(commandLine)")
        guard case .damaged(let path, let frame, let reason)? = stopped else {
            Issue.record("\(container): no error after \(frames) frames")
            return
        }
        #expect(path == cut && frame <= frames && reason.contains("damaged data at frame \(frame)"), "\(reason)")
        #expect(try reader.next() == nil, "the reader stays at its end")
    }

    @Test func emptyAudioOnlyAndMissingFilesSayWhy() throws {
        let folder = try TemporaryFolder()
        let empty = try folder.write([], to: "empty.mp4")
        #expect(throws: VideoError.self) { try VideoReader(contentsOf: empty) }
        let audio = folder.file("tone.m4a")
        _ = try VideoFixtures.run(
            "ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", audio])
        do {
            _ = try VideoReader(contentsOf: audio)
            Issue.record("an audio-only file opened as a video")
        } catch VideoError.noVideoStream(let path, let reason) {
            #expect(path == audio && reason.contains("no video stream"), "\(reason)")
        }
        #expect(throws: VideoError.fileNotFound(path: folder.file("missing.mp4"))) {
            try VideoReader(contentsOf: folder.file("missing.mp4"))
        }
        let text = try folder.write(Array("not a video at all\n".utf8), to: "notes.mp4")
        #expect(throws: VideoError.self) { try VideoReader(contentsOf: text) }
    }

    /// An AVI whose headers say 3 frames where it holds 12: all 12 are read, the count is what
    /// was decoded, and the header's figure is only a hint.
    @Test func aWrongHeaderFrameCountIsNotTrusted() throws {
        let folder = try TemporaryFolder()
        let made = try VideoFixtures.make(folder.file("made.avi"), frames: 12, options: ["-c:v", "mjpeg"])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: made)))
        for (chunk, offset) in [("avih", 8 + 16), ("strh", 8 + 32)] {  // dwTotalFrames, dwLength
            let at = try #require(bytes.indices.first { bytes[$0...].starts(with: Array(chunk.utf8)) }) + offset
            bytes.replaceSubrange(at..<(at + 4), with: [3, 0, 0, 0])
        }
        let wrong = try folder.write(bytes, to: "wrong.avi")
        let reader = try VideoReader(contentsOf: wrong)
        #expect(reader.info.frameCountHint == 3)
        var frames = 0
        while try reader.next() != nil { frames += 1 }
        #expect(frames == 12)
    }
}

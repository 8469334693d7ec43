import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// The reader against the ffmpeg command line on generated videos: the same frames, byte for
/// byte, in the same order, each once, with their timestamps.
struct VideoReaderTests {
    static let kinds: [(name: String, options: [String])] = [
        ("h264-bframes.mp4", ["-c:v", "libx264", "-bf", "3", "-g", "12", "-pix_fmt", "yuv420p"]),
        ("mjpeg.avi", ["-c:v", "mjpeg", "-q:v", "3"]),
        ("h264.mkv", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        (
            "vfr.mkv",
            [
                "-vf", "setpts='if(lt(N,8),N*0.1,0.8+(N-8)*0.25)/TB'", "-fps_mode", "passthrough", "-c:v", "libx264",
                "-pix_fmt", "yuv420p",
            ]
        ),
        ("rotated90.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        ("rotated180.mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        ("rotated270.mov", ["-c:v", "mjpeg"]),
    ]

    @Test(arguments: kinds.map(\.name))
    func framesMatchTheCommandLine(name: String) throws {
        let folder = try TemporaryFolder()
        let options = Self.kinds.first { $0.name == name }!.options
        let rotation = ["rotated90.mp4": 90, "rotated180.mp4": 180, "rotated270.mov": 270][name] ?? 0
        var path = try VideoFixtures.make(folder.file("made-" + name), frames: 20, options: options)
        if rotation != 0 { path = try VideoFixtures.rotated(path, degrees: rotation, copy: folder.file(name)) }
        let expected = try VideoFixtures.rawFrames(path)
        let reader = try VideoReader(contentsOf: path)
        var frames: [VideoFrame] = []
        while let frame = try reader.next() { frames.append(frame) }
        let size = reader.info.width * reader.info.height * 3
        #expect(frames.count == expected.count / size, "\(name): frames")
        #expect(frames.map(\.index) == Array(0..<frames.count))
        for frame in frames {
            let start = frame.index * size
            let same = Data(frame.image.pixels) == expected[start..<(start + size)]
            #expect(same, "\(name): frame \(frame.index) differs from ffmpeg's")
            if !same { break }
        }
        // The tag "rotate=D" becomes a display matrix of D degrees counter-clockwise, which ffmpeg
        // undoes by turning the frames D degrees the other way: 360 - D clockwise.
        #expect(reader.info.rotation == (360 - rotation) % 360)
        let upright: [Int] = rotation % 180 == 0 ? [96, 64] : [64, 96]
        #expect([reader.info.width, reader.info.height] == upright)
        let times = try VideoFixtures.frameTimes(path)
        #expect(times.count == frames.count)
        if name == "vfr.mkv" {  // about 0.1 s apart, then 0.25 s (to the encoder's time base)
            let gaps = zip(frames.dropFirst(), frames).map { ($0.time ?? 0) - ($1.time ?? 0) }
            #expect(gaps.max()! > 1.5 * gaps.min()!, "\(gaps)")
        }
        #expect(
            zip(frames, times).allSatisfy { abs(($0.time ?? -1) - $1) < 1e-6 },
            "\(name): \(frames.map(\.time)) vs \(times)")
    }
}

/// Starting part way: from a keyframe when that gives the frames reading from the start gives.
struct VideoSeekTests {
    /// A clean H.264 video (an IDR frame every 12): frames 40-49 read after a seek to the keyframe
    /// at 36 equal those read from the start, byte for byte, with the same indices and times.
    @Test func seekingToAKeyframeReadsTheSameFrames() throws {
        let folder = try TemporaryFolder()
        let video = try VideoFixtures.make(
            folder.file("gop.mp4"), frames: 60,
            options: ["-c:v", "libx264", "-g", "12", "-bf", "2", "-pix_fmt", "yuv420p"])
        let (frames, keyframes) = try VideoReader.keyframes(of: video)
        #expect(frames == 60 && keyframes.map(\.index) == [0, 12, 24, 36, 48])
        let keyframe = try #require(VideoAnalysis.seekable(video, before: 40))
        #expect(keyframe.index == 36)
        let whole = try VideoReader(contentsOf: video)
        var expected: [VideoFrame] = []
        while let frame = try whole.next() { expected.append(frame) }
        let seeking = try VideoReader(contentsOf: video)
        try seeking.seek(to: keyframe)
        for index in 36..<50 {
            let frame = try #require(try seeking.next())
            #expect(frame.index == index && frame.time == expected[index].time)
            #expect(frame.image.pixels == expected[index].image.pixels, "frame \(index)")
        }
    }

    /// The openfield project's video marks I-frames that are not clean access points as keyframes:
    /// decoding after a seek reports missing references, so it is read from the start instead.
    @Test func keyframesThatAreNotCleanAccessPointsAreNotUsed() throws {
        let video = SharedData.path("dlc-openfield/examples/openfield-Pranav-2018-10-30/videos/m3v1mp4.mp4")
        #expect(VideoAnalysis.seekable(video, before: 2000) == nil)
    }
}

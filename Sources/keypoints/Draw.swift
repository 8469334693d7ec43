import ArgumentParser
import Foundation
import KeypointKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct Draw: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a labeled copy of a video: the keypoints of a results file drawn on its frames.",
        discussion: """
            The results are what batch wrote for the video (JSON Lines or DeepLabCut CSV; \
            DeepLabCut's own video analysis CSV too). Every frame of the video is written, at its own \
            time, with the skeleton and each keypoint in its own colour where the results have that \
            frame, points scoring below --min-score hidden. The container comes from --out's name \
            (.mp4, .mkv, .avi); H.264 when the FFmpeg build has an encoder for it, else the \
            container's default codec (MPEG-4 Part 2 for .mp4 and .avi); the encoder used is printed.
            """
    )

    @Argument(help: "The video.")
    var video: String

    @Option(help: "The results for it (JSON Lines or DeepLabCut CSV).")
    var results: String

    @Option(help: "Where to write the labeled video (.mp4, .mkv or .avi).")
    var out: String

    @Option(
        help: "A model file or built-in model whose skeleton to draw (default: the one the results name, if it loads).")
    var model: String?

    @Option(help: "Hide keypoints scoring below this (default: the model's score threshold, else 0).")
    var minScore: Float?

    @Flag(help: "No progress on stderr.")
    var quiet = false

    func run() throws {
        let frames: [Int: [Keypoint]]
        do {
            frames = try FrameResults.read(results)
        } catch let error as InputError {
            throw ValidationError("--results: \(error)")
        }
        let named = skeletonModel()
        let skeleton = named?.skeleton ?? []
        let minScore = self.minScore ?? Float(named?.scoreThreshold ?? 0)
        let showProgress = !quiet && isatty(STDERR_FILENO) == 1
        let summary = try LabeledVideo.write(
            video, results: frames, skeleton: skeleton, minimumScore: minScore, to: out
        ) { done in
            if showProgress && done % 25 == 0 { FileHandle.standardError.write(Data("\r\(done) frames".utf8)) }
        }
        if showProgress { printToStandardError("") }
        print("\(out): \(summary.frames) frames, \(summary.labeled) labeled, \(summary.codec)")
    }

    /// The model whose skeleton is drawn: --model, else the one the JSON Lines results name.
    private func skeletonModel() -> Model? {
        if let model { return try? ModelChoice.load(model).model }
        guard let text = try? String(contentsOfFile: results, encoding: .utf8),
            let first = text.split(separator: "\n").first,
            let record = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any],
            let name = record["model"] as? String
        else { return nil }
        return try? ModelChoice.load(name).model
    }
}

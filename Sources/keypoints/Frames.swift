import ArgumentParser
import Foundation
import KeypointKit

struct Frames: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pick frames of videos to label, into DeepLabCut's labeled-data layout.",
        discussion: """
            For each video, picks --count frames and writes them as PNG into \
            OUT/labeled-data/<video name>/img<frame index>.png (the index zero-padded to the digits \
            of the frame count, as DeepLabCut names extracted frames), so the labelling tools people \
            use today open them. uniform: evenly spaced over the whole video, first and last \
            included. kmeans: k-means on small grey thumbnails of up to 1000 frames taken evenly, the \
            frame nearest each cluster's centre (seeded): rare postures get frames too.
            """
    )

    @Argument(help: "Videos (any container and codec FFmpeg reads).")
    var videos: [String]

    @Option(help: "Frames to pick from each video.")
    var count = 20

    @Option(help: "The project folder to write labeled-data/<video name>/ into.")
    var out: String

    @Option(help: "uniform or kmeans.")
    var method: FramePicker.Method = .uniform

    @Option(help: "Seed for kmeans.")
    var seed: UInt64 = 1

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        var failed = false
        for video in videos {
            let name = URL(fileURLWithPath: video).deletingPathExtension().lastPathComponent
            do {
                let picker = try FramePicker(video: video)
                let picked = try picker.pick(count, method: method, seed: seed)
                let written = try picker.write(picked, into: "\(out)/labeled-data/\(name)")
                print("\(video): \(written.count) frames -> \(out)/labeled-data/\(name)/")
            } catch let error as VideoError {
                printToStandardError("\(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

extension FramePicker.Method: ExpressibleByArgument {}

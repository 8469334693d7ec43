import ArgumentParser
import Foundation
import KeypointKit

struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find keypoints in images.",
        discussion: """
            Each image is letterboxed into the model's input, run through the network, and its \
            heatmaps decoded (DARK by default) back to original image pixels. Every keypoint is \
            reported with its score (the heatmap peak); points scoring below --min-score (default: \
            the model's score threshold, if it records one) are hidden in the table and the overlays. A file that cannot be read is reported and the others still \
            processed; the exit status is then 1. With --json, one object per line: \
            {"image","width","height","keypoints":[{"name","x","y","score"}],"model"}, or \
            {"image","error"} for a failed file.
            """
    )

    @Argument(help: "PNG or JPEG images.")
    var images: [String]

    @Option(help: ModelChoice.help)
    var model: String?

    @Flag(help: "Print one JSON object per line instead of tables.")
    var json = false

    @Option(help: "Write overlays (skeleton and points) as PNG into this folder.")
    var draw: String?

    @Option(
        help: "Hide keypoints scoring below this in tables and overlays (default: the model's score threshold, else 0)."
    )
    var minScore: Float?

    @OptionGroup var testTime: TestTimeOptions

    @Option(help: "Subpixel decoding: dark, quarter or argmax.")
    var decoder = "dark"

    @Option(help: "Write NAME.input.npy (the network input, NCHW float32) and NAME.heatmaps.npy here.")
    var dump: String?

    @Option(help: "Threads (default: the cores this process may run on).")
    var threads = ThreadPool.availableCores

    func validate() throws {
        guard HeatmapDecoder(rawValue: decoder) != nil else {
            throw ValidationError("--decoder must be dark, quarter or argmax")
        }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let (chosen, modelPath) = try ModelChoice.load(model)
        let loaded = testTime.applied(to: chosen)
        let predictor = try Predictor(model: loaded, threads: threads)
        let minScore = self.minScore ?? Float(loaded.scoreThreshold ?? 0)
        let decoding = HeatmapDecoder(rawValue: decoder)!
        for folder in [draw, dump].compactMap({ $0 }) {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        }
        var failures = 0
        for path in images {
            do {
                let image = try ImageDecoder.decode(contentsOf: path).image
                let inference = predictor.infer(image, decoder: decoding)
                let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                if let dump {
                    try Npy.write(inference.input, to: "\(dump)/\(name).input.npy")
                    try Npy.write(inference.heatmaps, to: "\(dump)/\(name).heatmaps.npy")
                }
                if let draw {
                    var overlay = image
                    overlay.drawKeypoints(
                        inference.keypoints, skeleton: predictor.model.skeleton, minimumScore: minScore)
                    try overlay.writePNG(to: "\(draw)/\(name).png")
                }
                let record = KeypointRecord(
                    image: path, width: image.width, height: image.height, keypoints: inference.keypoints)
                print(json ? record.json(model: modelPath).serialized : table(record, minScore: minScore))
            } catch {
                failures += 1
                printToStandardError("\(error)")
                if json {
                    print(KeypointRecord(image: path, error: "\(error)").json(model: modelPath).serialized)
                }
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }

    private func table(_ record: KeypointRecord, minScore: Float) -> String {
        let keypoints = record.keypoints
        let nameWidth = max(keypoints.map(\.name.count).max() ?? 8, 8)
        var lines = [
            "\(record.image)  \(record.width)x\(record.height)",
            "  " + "keypoint".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                + "         x         y   score",
        ]
        for keypoint in keypoints {
            let label = "  " + keypoint.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0)
            if keypoint.score < minScore {
                lines.append(label + String(format: "         -         -  %6.3f", keypoint.score))
            } else {
                lines.append(label + String(format: "  %8.2f  %8.2f  %6.3f", keypoint.x, keypoint.y, keypoint.score))
            }
        }
        return lines.joined(separator: "\n")
    }
}

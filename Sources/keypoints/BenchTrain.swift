import ArgumentParser
import Foundation
import KeypointKit

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time training steps of the default architecture on synthetic batches.",
        discussion: """
            Times, on one fixed random batch: the forward pass in training mode, forward + backward \
            (loss and every gradient), and the AdamW update; median over --steps after one warm-up \
            step. GFLOPS count 3x the forward FLOPs per image (forward, input gradients, weight \
            gradients), the usual estimate. Image decoding and augmentation are not included (keypoints \
            train overlaps them across cores).
            """
    )

    @OptionGroup var shape: ArchitectureOptions

    @Option(help: "Keypoints (heatmaps).")
    var keypoints = 14

    @Option(help: "Images per step.")
    var batch = 16

    @Option(help: "Timed steps.")
    var steps = 5

    @Flag(help: "Print one JSON object.")
    var json = false

    @Option(
        help: ArgumentHelp(
            "Another keypoints binary (e.g. an older build) to compare with, in the same run.",
            discussion: """
                Runs this binary's and that one's `bench train --json` with the same shape, batch \
                and steps, alternately for --rounds rounds (so drift of the machine reaches both \
                alike), and prints each one's images/s (median, min, max over the rounds) and the \
                ratio of the medians.
                """))
    var baseline: String?

    @Option(help: "Rounds with --baseline (each runs both binaries once).")
    var rounds = 3

    func validate() throws {
        guard keypoints >= 1, batch >= 1, steps >= 1, rounds >= 1 else {
            throw ValidationError("--keypoints, --batch, --steps and --rounds must be at least 1")
        }
    }

    func run() throws {
        if let baseline { return try compare(with: baseline) }
        Trainer.keepFreedMemory()
        let architecture = try shape.architecture(keypoints: keypoints)
        let timings = try TrainingBenchmark.run(
            architecture: architecture, keypoints: keypoints, batch: batch, steps: steps)
        let forward = Timings(timings.forward), backward = Timings(timings.forwardBackward)
        let update = Timings(timings.update)
        let height = architecture.inputHeight, width = architecture.inputWidth
        let stepMs = backward.median + update.median
        let gflopPerImage = try LayerGraph(architecture).flops / 1e9
        let gflops = 3 * gflopPerImage * Double(batch) / (backward.median / 1000)
        let imagesPerSecond = Double(batch) / (stepMs / 1000)
        let threads = ThreadPool.availableCores
        let family = architecture.family!
        let depths = family.depths.map(String.init).joined(separator: ",")
        if json {
            print(
                JSONValue.object(
                    [
                        ("input", .string("\(width)x\(height)")), ("width", .number(Double(family.width))),
                        ("depths", .string(depths)), ("batch", .number(Double(batch))),
                        ("threads", .number(Double(threads))), ("gflop_per_image", .number(gflopPerImage)),
                    ] + forward.members(median: "forward_ms", digits: nil)
                        + backward.members(median: "forward_backward_ms", digits: nil)
                        + update.members(median: "update_ms", digits: nil) + [
                            ("images_per_s", .number(imagesPerSecond)), ("gflops", .number(gflops)),
                        ]
                ).serialized)
        } else {
            print(
                String(
                    format:
                        "%dx%d, width %d, depths %@, batch %d, %d threads: %.3f GFLOP/image forward\n"
                        + "forward %@\nforward+backward %@\nAdamW %@\n"
                        + "-> %.1f images/s, %.1f GFLOPS (3x forward FLOPs; medians)",
                    width, height, family.width, depths, batch, threads, gflopPerImage,
                    forward.text(unit: "ms", format: "%.1f"), backward.text(unit: "ms", format: "%.1f"),
                    update.text(unit: "ms", format: "%.1f"), imagesPerSecond, gflops))
        }
    }

    /// Alternates `bench train --json` of this binary and of `baseline` and prints both rates and
    /// their ratio.
    private func compare(with baseline: String) throws {
        let architecture = try shape.architecture(keypoints: keypoints)
        let family = architecture.family!
        var arguments = [
            "bench", "train", "--input", "\(architecture.inputWidth)x\(architecture.inputHeight)", "--width",
            "\(family.width)", "--depths", family.depths.map(String.init).joined(separator: ","), "--keypoints",
            "\(keypoints)", "--batch", "\(batch)", "--steps", "\(steps)", "--json",
        ]
        if architecture.heatmapStride != 4 { arguments += ["--heatmap-stride", "\(architecture.heatmapStride)"] }
        if shape.noCoordinates { arguments.append("--no-coordinates") }
        let this = Bundle.main.executablePath ?? CommandLine.arguments[0]
        var rates: [String: [Double]] = ["this": [], "baseline": []]
        for _ in 0..<rounds {
            for (name, binary) in [("this", this), ("baseline", baseline)] {
                rates[name]!.append(try Self.imagesPerSecond(binary, arguments))
            }
        }
        let ours = Timings(rates["this"]!), theirs = Timings(rates["baseline"]!)
        let ratio = ours.median / theirs.median
        if json {
            print(
                JSONValue.object(
                    [
                        ("input", .string("\(architecture.inputWidth)x\(architecture.inputHeight)")),
                        ("baseline", .string(baseline)), ("rounds", .number(Double(rounds))),
                    ]
                        + ours.members(median: "images_per_s", digits: 2)
                        + theirs.members(median: "baseline_images_per_s", digits: 2)
                        + [("ratio", .number((ratio * 1000).rounded() / 1000))]
                ).serialized)
        } else {
            print("this build  images/s " + ours.text(unit: "", format: "%.2f"))
            print("baseline    images/s " + theirs.text(unit: "", format: "%.2f") + "  (\(baseline))")
            print(String(format: "ratio %.3fx (medians of %d alternating rounds)", ratio, rounds))
        }
    }

    /// The images/s `binary` reports for `bench train` with `arguments` (--json).
    private static func imagesPerSecond(_ binary: String, _ arguments: [String]) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let rate = object["images_per_s"] as? Double
        else {
            throw ValidationError(
                "\(binary) \(arguments.joined(separator: " ")) did not report images_per_s (status \(process.terminationStatus))"
            )
        }
        return rate
    }
}

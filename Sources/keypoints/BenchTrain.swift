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

    func validate() throws {
        guard keypoints >= 1, batch >= 1, steps >= 1 else {
            throw ValidationError("--keypoints, --batch and --steps must be at least 1")
        }
    }

    func run() throws {
        Trainer.keepFreedMemory()
        let architecture = try shape.architecture(keypoints: keypoints)
        let timings = try TrainingBenchmark.run(
            architecture: architecture, keypoints: keypoints, batch: batch, steps: steps)
        let forward = timings.forward, backward = timings.forwardBackward, update = timings.update
        let height = architecture.inputHeight, width = architecture.inputWidth
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        let stepMs = median(backward) + median(update)
        let gflopPerImage = try LayerGraph(architecture).flops / 1e9
        let gflops = 3 * gflopPerImage * Double(batch) / (median(backward) / 1000)
        let imagesPerSecond = Double(batch) / (stepMs / 1000)
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let family = architecture.family!
        let depths = family.depths.map(String.init).joined(separator: ",")
        if json {
            print(
                JSONValue.object([
                    ("input", .string("\(width)x\(height)")), ("width", .number(Double(family.width))),
                    ("depths", .string(depths)), ("batch", .number(Double(batch))),
                    ("threads", .number(Double(threads))), ("gflop_per_image", .number(gflopPerImage)),
                    ("forward_ms", .number(median(forward))), ("forward_backward_ms", .number(median(backward))),
                    ("update_ms", .number(median(update))), ("images_per_s", .number(imagesPerSecond)),
                    ("gflops", .number(gflops)),
                ]).serialized)
        } else {
            print(
                String(
                    format:
                        "%dx%d, width %d, depths %@, batch %d, %d threads: %.3f GFLOP/image forward\n"
                        + "forward %.1f ms  forward+backward %.1f ms  AdamW %.1f ms  ->  %.1f images/s, %.1f GFLOPS (3x forward FLOPs)",
                    width, height, family.width, depths, batch, threads, gflopPerImage,
                    median(forward),
                    median(backward), median(update), imagesPerSecond, gflops))
        }
    }
}

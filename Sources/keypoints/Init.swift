import ArgumentParser
import Foundation
import KeypointKit

struct Init: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Write an untrained model of the default family (initial weights), to inspect, export or benchmark.",
        discussion: """
            The weights are He-normal convolution kernels and identity batch norm, seeded; the model \
            finds nothing until trained. Its provenance says so (keypoints info shows it).
            """
    )

    @Option(help: "Keypoint names, comma-separated.")
    var keypoints: String

    @Option(help: "Network input, WIDTHxHEIGHT (multiples of 32).")
    var input = "256x256"

    @Option(help: "Channels after the stem (stages have 2x, 4x, 8x).")
    var width = 32

    @Option(help: "Residual blocks at strides 4, 8 and 16, comma-separated.")
    var depths = "2,2,2"

    @Option(help: "Heatmap stride: 4 or 2.")
    var heatmapStride = 4

    @Flag(help: "A plain convolution stem instead of CoordConv.")
    var noCoordinates = false

    @Option(help: "Seed for the initial weights.")
    var seed: UInt64 = 1

    @Option(help: "Where to write the model.")
    var out: String

    func run() throws {
        let names = keypoints.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let size = input.lowercased().split(separator: "x").compactMap { Int($0) }
        let blocks = depths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard size.count == 2, size.allSatisfy({ $0 > 0 && $0 % 32 == 0 }) else {
            throw ValidationError("--input must be WIDTHxHEIGHT with both multiples of 32, e.g. 256x192")
        }
        guard blocks.count == 3, [2, 4].contains(heatmapStride), width > 0, !names.isEmpty else {
            throw ValidationError(
                "--depths needs three numbers, --heatmap-stride 2 or 4, --keypoints at least one name")
        }
        let architecture = Architecture.coordConvResNet(
            keypoints: names.count, width: width, depths: blocks, inputWidth: size[0], inputHeight: size[1],
            heatmapStride: heatmapStride, coordinates: !noCoordinates)
        let model = Model(
            architecture: architecture, keypointNames: names, flipPairs: FlipPairs.infer(names),
            provenance: ["trained": "no", "created_by": "keypoints init", "seed": "\(seed)"],
            weights: try architecture.initialWeights(seed: seed))
        try model.validate()
        try model.write(to: out)
    }
}

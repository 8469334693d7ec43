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

    @OptionGroup var shape: ArchitectureOptions

    @Option(help: "Seed for the initial weights.")
    var seed: UInt64 = 1

    @Option(help: "Where to write the model.")
    var out: String

    func run() throws {
        let names = keypoints.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty, !names.contains(where: \.isEmpty) else {
            throw ValidationError("--keypoints needs at least one name, e.g. nose,left_eye,right_eye")
        }
        let architecture = try shape.architecture(keypoints: names.count)
        let model = Model(
            architecture: architecture, keypointNames: names, flipPairs: FlipPairs.infer(names),
            provenance: ["trained": "no", "created_by": "keypoints init", "seed": "\(seed)"],
            weights: try architecture.initialWeights(seed: seed))
        try model.validate()
        try model.write(to: out)
    }
}

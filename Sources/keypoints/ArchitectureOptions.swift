import ArgumentParser
import KeypointKit

/// The options that shape a network of the default family, shared by `init` and `train`.
struct ArchitectureOptions: ParsableArguments {
    @Option(
        help: "Network input, WIDTHxHEIGHT (multiples of 32; default 256x256, or for train the size of large frames).")
    var input: String?

    @Option(help: "Channels after the stem (stages have 2x, 4x, 8x; default 32).")
    var width: Int?

    @Option(help: "Residual blocks at strides 4, 8 and 16, comma-separated (default 2,2,2).")
    var depths: String?

    @Option(help: "Heatmap stride: 4 or 2 (default 4, or for train the --init model's).")
    var heatmapStride: Int?

    @Flag(help: "A plain convolution stem instead of CoordConv (for the ablation; train: else the --init model's).")
    var noCoordinates = false

    /// The choices these options make for a training plan (nil where not given); a usage error
    /// names the option that is wrong.
    func choices() throws -> TrainingPlan.Choices {
        var choices = TrainingPlan.Choices()
        choices.input = try input.map { try Self.inputSize($0) }
        choices.width = width
        if let depths {
            let blocks = depths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard blocks.count == 3, blocks.allSatisfy({ $0 >= 0 }) else {
                throw ValidationError("--depths needs three block counts, e.g. 2,2,2")
            }
            choices.depths = blocks
        }
        guard [2, 4].contains(heatmapStride ?? 4), (width ?? 1) > 0 else {
            throw ValidationError("--heatmap-stride must be 2 or 4 and --width positive")
        }
        choices.heatmapStride = heatmapStride
        choices.coordinates = noCoordinates ? false : nil
        return choices
    }

    /// The network of the default family for `keypoints` heatmaps, at the sizes these options give.
    func architecture(keypoints: Int) throws -> Architecture {
        let choices = try choices()
        let input = choices.input ?? [256, 256]
        return Architecture.coordConvResNet(
            keypoints: keypoints, width: choices.width ?? 32, depths: choices.depths ?? [2, 2, 2],
            inputWidth: input[0], inputHeight: input[1], heatmapStride: choices.heatmapStride ?? 4,
            coordinates: choices.coordinates ?? true)
    }

    /// `WIDTHxHEIGHT` as [width, height], both positive multiples of 32.
    static func inputSize(_ text: String) throws -> [Int] {
        let size = text.lowercased().split(separator: "x").compactMap { Int($0) }
        guard size.count == 2, size.allSatisfy({ $0 > 0 && $0 % 32 == 0 }) else {
            throw ValidationError("--input must be WIDTHxHEIGHT with both multiples of 32, e.g. 256x192")
        }
        return size
    }
}

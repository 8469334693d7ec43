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

    @Option(help: "Heatmap stride: 4 or 2.")
    var heatmapStride = 4

    @Flag(help: "A plain convolution stem instead of CoordConv (for the ablation).")
    var noCoordinates = false

    /// The network for `keypoints` heatmaps; a usage error names the option that is wrong.
    func architecture(keypoints: Int) throws -> Architecture {
        let size = try Self.inputSize(input ?? "256x256")
        let blocks = chosenDepths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard blocks.count == 3, blocks.allSatisfy({ $0 >= 0 }) else {
            throw ValidationError("--depths needs three block counts, e.g. 2,2,2")
        }
        guard [2, 4].contains(heatmapStride), chosenWidth > 0 else {
            throw ValidationError("--heatmap-stride must be 2 or 4 and --width positive")
        }
        return Architecture.coordConvResNet(
            keypoints: keypoints, width: chosenWidth, depths: blocks, inputWidth: size[0], inputHeight: size[1],
            heatmapStride: heatmapStride, coordinates: !noCoordinates)
    }

    var chosenWidth: Int { width ?? 32 }
    var chosenDepths: String { depths ?? "2,2,2" }

    /// `WIDTHxHEIGHT` as [width, height], both positive multiples of 32.
    static func inputSize(_ text: String) throws -> [Int] {
        let size = text.lowercased().split(separator: "x").compactMap { Int($0) }
        guard size.count == 2, size.allSatisfy({ $0 > 0 && $0 % 32 == 0 }) else {
            throw ValidationError("--input must be WIDTHxHEIGHT with both multiples of 32, e.g. 256x192")
        }
        return size
    }
}

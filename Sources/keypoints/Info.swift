import ArgumentParser
import Foundation
import KeypointKit

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a model: layers with their shapes and parameters, totals, keypoints, metadata.")

    @Argument(help: "A model file (.safetensors) or a built-in model's name.")
    var model: String

    func run() throws {
        let loaded = try ModelChoice.load(model).model
        let architecture = loaded.architecture
        let shapes = try architecture.shapes()
        var parameters: [String: Int] = [:]
        for (name, shape) in try architecture.weightShapes() {
            let layer =
                name.hasSuffix(".bn.weight") || name.hasSuffix(".bn.bias") || name.hasSuffix(".bn.running_mean")
                    || name.hasSuffix(".bn.running_var")
                ? String(name.dropLast(name.split(separator: ".").suffix(2).joined(separator: ".").count + 1))
                : String(name.dropLast(name.split(separator: ".").last!.count + 1))
            parameters[layer, default: 0] += shape.reduce(1, *)
        }
        print("Model \(model)")
        if let family = architecture.family {
            print("Architecture: \(family.name), width \(family.width), residual blocks \(family.depths)")
        }
        print(
            "Input \(architecture.inputChannels)x\(architecture.inputHeight)x\(architecture.inputWidth), heatmap stride \(architecture.heatmapStride), output \(shapes[architecture.output]!)"
        )
        print("")
        let nameWidth = max(architecture.layers.map(\.name.count).max() ?? 5, 5)
        print(
            "Layer".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                + "  Operation                   Input                   Output          Parameters")
        for layer in architecture.layers {
            let input = layer.inputs.map { shapes[$0]!.description }.joined(separator: " + ")
            print(
                layer.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                    + describe(layer).padding(toLength: 26, withPad: " ", startingAt: 0) + "  "
                    + input.padding(toLength: 22, withPad: " ", startingAt: 0) + "  "
                    + shapes[layer.name]!.description.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + String(parameters[layer.name] ?? 0).leftPadded(12))
        }
        let total = try architecture.parameterCount()
        print("")
        print("Parameters: \(total) (\(String(format: "%.2f", Double(total) * 4 / 1_048_576)) MiB as float32)")
        print(
            "FLOPs per image: \(String(format: "%.3f", try architecture.flops() / 1e9)) GFLOP (convolutions, 2 per multiply-add)"
        )
        print("Keypoints (\(loaded.keypointNames.count)): \(loaded.keypointNames.joined(separator: ", "))")
        let names = loaded.keypointNames
        print("Skeleton: \(loaded.skeleton.map { "\(names[$0[0]])-\(names[$0[1]])" }.joined(separator: ", "))")
        print("Flip pairs: \(loaded.flipPairs.map { "\(names[$0[0]])/\(names[$0[1]])" }.joined(separator: ", "))")
        if let sigmas = loaded.oksSigmas { print("OKS sigmas: \(sigmas.map { String($0) }.joined(separator: ", "))") }
        print("Normalization: mean \(loaded.mean), std \(loaded.std); heatmap sigma \(loaded.heatmapSigma)")
        if loaded.flipTest { print("Flip test: on unless --no-flip-test") }
        if let scale = loaded.secondPassScale {
            print("Second pass: on the box around the first pass's keypoints, \(scale)x their extent")
        }
        for (key, value) in loaded.provenance.sorted(by: { $0.key < $1.key }) { print("Provenance \(key): \(value)") }
    }

    private func describe(_ layer: Architecture.Layer) -> String {
        switch layer.op {
        case .conv:
            var text = "conv \(layer.kernel ?? 1)x\(layer.kernel ?? 1)"
            if (layer.stride ?? 1) > 1 { text += "/\(layer.stride!)" }
            if layer.coordinates == true { text += " coord" }
            if layer.batchNorm == true { text += " bn" }
            if layer.residual != nil { text += " +res" }
            if let activation = layer.activation, activation != "none" { text += " \(activation)" }
            return text
        case .upsample: return "upsample x\(layer.factor ?? 1)"
        case .concat: return "concat"
        case .maxPool: return "max pool \(layer.kernel ?? 1)"
        case .avgPool: return "avg pool \(layer.kernel ?? 1)"
        }
    }
}

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
        let graph = try LayerGraph(architecture)
        print("Model \(model)")
        if let family = architecture.family {
            print("Architecture: \(family.name), width \(family.width), residual blocks \(family.depths)")
        }
        print("Input \(graph.input), heatmap stride \(graph.heatmapStride), output \(graph.outputShape)")
        print("")
        let nameWidth = max(graph.layers.map(\.name.count).max() ?? 5, 5)
        print(
            "Layer".padding(toLength: nameWidth, withPad: " ", startingAt: 0)
                + "  Operation                   Input                   Output          Parameters")
        for layer in graph.layers {
            let input = layer.inputShapes.map(\.description).joined(separator: " + ")
            let parameters = layer.weightShapes.reduce(0) { $0 + $1.shape.reduce(1, *) }
            print(
                layer.name.padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                    + describe(layer.operation).padding(toLength: 26, withPad: " ", startingAt: 0) + "  "
                    + input.padding(toLength: 22, withPad: " ", startingAt: 0) + "  "
                    + layer.output.description.padding(toLength: 14, withPad: " ", startingAt: 0)
                    + String(parameters).leftPadded(12))
        }
        let total = graph.parameterCount
        print("")
        print("Parameters: \(total) (\(String(format: "%.2f", Double(total) * 4 / 1_048_576)) MiB as float32)")
        print("FLOPs per image: \(String(format: "%.3f", graph.flops / 1e9)) GFLOP (convolutions, 2 per multiply-add)")
        print("Keypoints (\(loaded.keypointNames.count)): \(loaded.keypointNames.joined(separator: ", "))")
        let names = loaded.keypointNames
        print("Skeleton: \(loaded.skeleton.map { "\(names[$0[0]])-\(names[$0[1]])" }.joined(separator: ", "))")
        print("Flip pairs: \(loaded.flipPairs.map { "\(names[$0[0]])/\(names[$0[1]])" }.joined(separator: ", "))")
        if let sigmas = loaded.oksSigmas { print("OKS sigmas: \(sigmas.map { String($0) }.joined(separator: ", "))") }
        print("Normalization: mean \(loaded.mean), std \(loaded.std); heatmap sigma \(loaded.heatmapSigma)")
        if loaded.flipTest {
            let excluded = loaded.flipTestExcluded.map { names[$0] }.joined(separator: ", ")
            print(
                "Flip test: on unless --no-flip-test"
                    + (excluded.isEmpty ? "" : "; \(excluded) from the unmirrored image alone"))
        }
        switch loaded.heatmapScore {
        case .peak: print("Scores: the heatmap's peak")
        case .mass: print("Scores: the heatmap's mass near its peak over the target's (1: the target's)")
        }
        if let threshold = loaded.scoreThreshold {
            print(
                "Score threshold: \(threshold) (points scoring below it are hidden in tables and overlays unless --min-score)"
            )
        }
        if let reach = loaded.subjectReach { print("Subject reach: " + SubjectReach.describe(reach)) }
        if let scale = loaded.secondPassScale {
            print("Second pass: on the box around the first pass's keypoints, \(scale)x their extent")
        }
        for (key, value) in loaded.provenance.sorted(by: { $0.key < $1.key }) { print("Provenance \(key): \(value)") }
    }

    private func describe(_ operation: LayerGraph.Operation) -> String {
        switch operation {
        case .convolution(let conv):
            var text = "conv \(conv.shape.kernelHeight)x\(conv.shape.kernelWidth)"
            if conv.shape.strideY > 1 { text += "/\(conv.shape.strideY)" }
            if conv.coordinates { text += " coord" }
            if conv.batchNorm { text += " bn" }
            if conv.residual != nil { text += " +res" }
            if conv.activation != .none { text += " \(conv.activation.name)" }
            return text
        case .upsample(let factor): return "upsample x\(factor)"
        case .concat: return "concat"
        case .pool(let pooling): return "\(pooling.kind == .max ? "max" : "avg") pool \(pooling.kernel)"
        }
    }
}

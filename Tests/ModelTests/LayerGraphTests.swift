import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// The architecture resolved once: typed layers with the file's defaults filled in, shapes, weight
/// shapes and FLOPs, and errors that name the layer.
struct LayerGraphTests {
    @Test func resolvesTheDefaultFamily() throws {
        let architecture = Architecture.coordConvResNet(
            keypoints: 5, width: 8, depths: [1, 1, 1], inputWidth: 96, inputHeight: 64)
        let graph = try LayerGraph(architecture)
        #expect(graph.layers.map(\.name) == architecture.layers.map(\.name))
        guard case .convolution(let stem) = graph.layers[0].operation else {
            Issue.record("the stem is a convolution")
            return
        }
        #expect(stem.coordinates && stem.batchNorm && stem.activation == .relu && stem.residual == nil)
        #expect(stem.shape == ConvolutionShape(inChannels: 3, outChannels: 8, kernel: 3, stride: 2, padding: 1))
        #expect(stem.fullShape.inChannels == 5, "CoordConv's two channels in the weights")
        #expect(graph.layers[0].output == MapShape(channels: 8, height: 32, width: 48))
        let stemWeights = graph.layers[0].weightShapes.map(\.name)
        #expect(
            stemWeights == [
                "stem.weight", "stem.bn.weight", "stem.bn.bias", "stem.bn.running_mean", "stem.bn.running_var",
            ])
        #expect(graph.layers[0].weightShapes[0].shape == [8, 5, 3, 3])
        guard case .convolution(let head) = graph.layers.last!.operation else {
            Issue.record("the head is a convolution")
            return
        }
        #expect(!head.batchNorm && head.activation == .none && head.shape.kernelHeight == 1)
        #expect(graph.layers.last!.weightShapes.map(\.shape) == [[5, 16, 1, 1], [5]])
        #expect(graph.outputShape == MapShape(channels: 5, height: 16, width: 24))
        // 2 x the stem's multiply-adds: 8 outputs x 5 channels x 9 taps x 32 x 48 pixels.
        #expect(graph.layers[0].flops == 2 * 8 * 5 * 9 * 32 * 48)
        #expect(graph.flops == graph.layers.reduce(0) { $0 + $1.flops })
        #expect(graph.parameterCount == graph.weightShapes.reduce(0) { $0 + $1.shape.reduce(1, *) })
    }

    /// Pooling's output size is the convolution's definition: (size + 2 padding - kernel) / stride + 1.
    @Test func poolingTakesTheConvolutionsOutputSize() throws {
        let layer = Architecture.Layer(name: "pool", op: .maxPool, inputs: ["input"], kernel: 3, stride: 2, padding: 1)
        let graph = try LayerGraph(
            Architecture(
                inputChannels: 2, inputHeight: 10, inputWidth: 8, heatmapStride: 2, layers: [layer], output: "pool"))
        #expect(graph.outputShape == MapShape(channels: 2, height: 5, width: 4))
        #expect(graph.layers[0].operation == .pool(Pooling(kind: .max, kernel: 3, stride: 2, padding: 1)))
        #expect(graph.layers[0].operation.name == "max_pool" && graph.weightShapes.isEmpty)
    }

    @Test func errorsNameTheLayer() {
        var layer = Architecture.Layer.conv("c1", "input", out: 4)
        layer.activation = "swish"
        let unknown = Architecture(inputHeight: 8, inputWidth: 8, heatmapStride: 1, layers: [layer], output: "c1")
        #expect(throws: ModelError.invalidArchitecture(reason: "convolution 'c1' has an unknown activation 'swish'")) {
            try LayerGraph(unknown)
        }
        let stride = Architecture(
            inputHeight: 8, inputWidth: 8, heatmapStride: 2, layers: [.conv("c1", "input", out: 4)], output: "c1")
        #expect(throws: ModelError.self) { try LayerGraph(stride) }
    }

    @Test func activationsKeepTheirFileNames() {
        for name in ["none", "relu", "relu6", "leaky_relu"] {
            #expect(Activation(name: name)?.name == name)
        }
        #expect(Activation(name: "gelu") == nil)
    }
}

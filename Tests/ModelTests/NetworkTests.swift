import CConvKernels
import Foundation
import Testing
import TestSupport

@testable import KeypointKit

/// Layers of the inference engine against plain references.
struct NetworkTests {
    /// A one-layer network around `layer`, reading an input of the given size.
    static func single(_ layer: Architecture.Layer, channels: Int, height: Int, width: Int, stride: Int = 1)
        -> Architecture
    {
        Architecture(
            inputChannels: channels, inputHeight: height, inputWidth: width, heatmapStride: stride,
            layers: [layer], output: layer.name)
    }

    /// CoordConv as a spatial bias equals the literal concatenation of [image, x, y] through the
    /// unsplit weights, batch norm and ReLU applied in double precision; odd and even sizes,
    /// strides 1 and 2. Tolerance 1e-4 of the largest output (fp32 convolution on 3 + 2 channels,
    /// measured 1e-6).
    @Test(arguments: [(7, 9, 1), (8, 8, 1), (16, 12, 1), (15, 17, 1), (9, 10, 2)])
    func coordConvEqualsLiteralConcatenation(height: Int, width: Int, stride: Int) throws {
        let layer = Architecture.Layer.conv("stem", "input", out: 6, stride: stride, coordinates: true)
        var architecture = Self.single(layer, channels: 3, height: height, width: width)
        if stride == 2 {  // heatmap stride must divide: pad the input to an even size
            architecture.inputHeight = 10
            architecture.inputWidth = 10
            architecture.heatmapStride = 2
        }
        var weights = try architecture.initialWeights(seed: 1)
        TestModels.randomize(&weights, seed: 10)
        let network = try Network(architecture: architecture, weights: weights, threads: 1)
        let h = architecture.inputHeight
        let w = architecture.inputWidth
        let image = normalValues(3 * h * w, seed: 3)
        _ = network.input.initialize(from: image)
        let output = Array(network.run())

        // Literal: five channels through the full kernel, then BN and ReLU in double.
        let literalInput = image + CoordConv.channels(height: h, width: w)
        var shape = ConvolutionShape(inChannels: 5, outChannels: 6, kernel: 3, stride: stride, padding: 1).kp
        let size = shape.outputSizeSwift(height: h, width: w)
        var raw = [Float](repeating: 0, count: 6 * size.height * size.width)
        kp_conv_reference(
            &shape, weights["stem.weight"]!.data, nil, KP_ACTIVATION_NONE, 0, literalInput,
            Int32(h), Int32(w), nil, &raw)
        let gamma = weights["stem.bn.weight"]!.data, beta = weights["stem.bn.bias"]!.data
        let mean = weights["stem.bn.running_mean"]!.data, variance = weights["stem.bn.running_var"]!.data
        let plane = size.height * size.width
        let expected = raw.enumerated().map { index, value -> Float in
            let o = index / plane
            let normalised = (Double(value) - Double(mean[o])) / (Double(variance[o]) + 1e-5).squareRoot()
            return Float(max(normalised * Double(gamma[o]) + Double(beta[o]), 0))
        }
        #expect(output.count == expected.count)
        #expect(relativeError(output, expected) <= 1e-4, "\(height)x\(width) stride \(stride)")
    }

    @Test func coordinateChannelsSpanMinusOneToOne() {
        let channels = CoordConv.channels(height: 3, width: 5)
        #expect(Array(channels[0..<5]) == [-1, -0.5, 0, 0.5, 1])  // x along the first row
        #expect([channels[15], channels[20], channels[25]] == [-1, 0, 1])  // y down the first column
        #expect(CoordConv.channels(height: 1, width: 1) == [0, 0])
    }

    /// Bilinear upsampling (two threads) against the half-pixel formula evaluated independently:
    /// by 2 (the network's factor, whose regular column taps take a loop of their own) and by 3.
    @Test(arguments: [2, 3]) func upsampleUsesHalfPixelCentres(factor: Int) throws {
        let layer = Architecture.Layer(name: "up", op: .upsample, inputs: ["input"], factor: factor)
        let architecture = Architecture(
            inputChannels: 2, inputHeight: 3, inputWidth: 4, heatmapStride: 1,
            layers: [layer], output: "up")
        // Heatmap stride 1 would need the output the input's size; build the network directly.
        let shapes = try? LayerGraph(architecture)
        #expect(shapes == nil)  // a larger output than the input: not a valid model output
        let (height, width) = (3 * factor, 4 * factor)
        let input = normalValues(2 * 3 * 4, seed: 5)
        var output = [Float](repeating: 0, count: 2 * height * width)
        let upsampling = Upsampling(.init(channels: 2, height: 3, width: 4), factor: factor)
        let pool = ThreadPool(threads: 2)
        var scratch = [Float](repeating: 0, count: upsampling.scratchFloats(threads: pool.threads))
        output.withUnsafeMutableBufferPointer { target in
            upsampling.run(input, into: target.baseAddress!, scratch: &scratch, pool: pool)
        }
        func sample(_ channel: Int, _ y: Double, _ x: Double) -> Double {
            let cy = min(max(y, 0), 2.0), cx = min(max(x, 0), 3.0)
            let y0 = Int(cy), x0 = Int(cx), y1 = min(y0 + 1, 2), x1 = min(x0 + 1, 3)
            let fy = cy - Double(y0), fx = cx - Double(x0)
            func at(_ yy: Int, _ xx: Int) -> Double { Double(input[channel * 12 + yy * 4 + xx]) }
            return (at(y0, x0) * (1 - fx) + at(y0, x1) * fx) * (1 - fy) + (at(y1, x0) * (1 - fx) + at(y1, x1) * fx) * fy
        }
        let scale = Double(factor)
        for channel in 0..<2 {
            for y in 0..<height {
                for x in 0..<width {
                    let expected = sample(channel, (Double(y) + 0.5) / scale - 0.5, (Double(x) + 0.5) / scale - 0.5)
                    #expect(abs(Double(output[channel * height * width + y * width + x]) - expected) < 1e-5)
                }
            }
        }
    }

    @Test func poolingAndConcat() throws {
        let layers: [Architecture.Layer] = [
            Architecture.Layer(name: "max", op: .maxPool, inputs: ["input"], kernel: 3, stride: 2, padding: 1),
            Architecture.Layer(name: "avg", op: .avgPool, inputs: ["input"], kernel: 3, stride: 2, padding: 1),
            Architecture.Layer(name: "both", op: .concat, inputs: ["max", "avg"]),
        ]
        let architecture = Architecture(
            inputChannels: 1, inputHeight: 4, inputWidth: 4, heatmapStride: 2,
            layers: layers, output: "both")
        let network = try Network(architecture: architecture, weights: [:], threads: 1)
        let input: [Float] = (0..<16).map { Float($0) }
        _ = network.input.initialize(from: input)
        let output = Array(network.run())
        // Windows centred on (0,0), (0,2), (2,0), (2,2) with padding 1 (padding not counted in the average).
        #expect(Array(output[0..<4]) == [5, 7, 13, 15])
        #expect(Array(output[4..<8]) == [2.5, 4, 8.5, 10])  // (0+1+4+5)/4, (1+2+3+5+6+7)/6, ...: 9 or fewer inside
    }

    @Test func architectureErrorsNameTheLayer() {
        let bad = Architecture(
            inputHeight: 8, inputWidth: 8, heatmapStride: 1,
            layers: [.conv("a", "missing", out: 4)], output: "a")
        #expect(
            throws: ModelError.invalidArchitecture(reason: "layer 'a' reads 'missing', which no earlier layer produces")
        ) {
            try LayerGraph(bad)
        }
        let residual = Architecture(
            inputHeight: 8, inputWidth: 8, heatmapStride: 1,
            layers: [.conv("a", "input", out: 4, coordinates: true, residual: "input")], output: "a")
        #expect(throws: ModelError.self) { try LayerGraph(residual) }
    }

    /// The default family's shapes: heatmaps at the stride asked, one per keypoint.
    @Test(arguments: [4, 2])
    func defaultFamilyShapes(stride: Int) throws {
        let architecture = Architecture.coordConvResNet(
            keypoints: 14, width: 16, depths: [1, 1, 1], inputWidth: 128,
            inputHeight: 96, heatmapStride: stride)
        let graph = try LayerGraph(architecture)
        #expect(graph.shapes["head"] == MapShape(channels: 14, height: 96 / stride, width: 128 / stride))
        #expect(architecture.layers.first?.coordinates == true)
        #expect(graph.parameterCount > 0 && graph.flops > 0)
    }
}

extension kp_conv_shape {
    func outputSizeSwift(height: Int, width: Int) -> (height: Int, width: Int) {
        var shape = self
        var outHeight: Int32 = 0
        var outWidth: Int32 = 0
        kp_conv_output_size(&shape, Int32(height), Int32(width), &outHeight, &outWidth)
        return (Int(outHeight), Int(outWidth))
    }
}

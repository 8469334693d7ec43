import CConvKernels
import Foundation

/// A model's network prepared for inference at its architecture's input size: batch norm folded
/// into the convolutions, weights packed for the convolution core, CoordConv coordinates turned
/// into a fixed spatial bias, and every buffer allocated once. `run()` allocates nothing.
///
/// Not thread-safe: one instance serves one caller at a time (it owns its buffers and thread pool);
/// use one instance per thread.
public final class Network: @unchecked Sendable {
    public let architecture: Architecture
    public let shapes: [String: Architecture.MapShape]
    private let buffers: [String: UnsafeMutablePointer<Float>]
    private let allocations: [UnsafeMutablePointer<Float>]
    private var steps: [Step] = []
    /// The architecture layer each step runs, in order.
    public private(set) var stepLayers: [Architecture.Layer] = []
    private let workspace: UnsafeMutableRawPointer
    private let pool: ThreadPool

    private enum Step {
        case convolution(
            Convolution, input: String, residual: String?, spatialBias: UnsafeMutablePointer<Float>?, output: String)
        case upsample(Upsampling, input: String, output: String)
        case concat(inputs: [String], output: String)
        case pool(Architecture.Layer, output: String)
    }

    /// - Throws: `ModelError` when weights are missing or misshapen, `ConvolutionError` when the
    ///   kernels cannot run here.
    public init(
        architecture: Architecture, weights: [String: Tensor],
        threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        instructionSet: InstructionSet? = nil
    ) throws {
        self.architecture = architecture
        shapes = try architecture.shapes()
        pool = ThreadPool(threads: max(threads, 1))
        let isa = try instructionSet ?? InstructionSet.preferred()
        (buffers, allocations) = Self.allocateBuffers(architecture, shapes)
        var workspaceBytes = 64
        for layer in architecture.layers {
            let output = layer.name
            switch layer.op {
            case .conv:
                let input = shapes[layer.inputs[0]]!
                let prepared = try Self.prepare(layer, input: input, output: shapes[output]!, weights: weights)
                let convolution = try Convolution(
                    shape: architecture.convolutionShape(layer, inChannels: input.channels), weights: prepared.weights,
                    bias: prepared.bias, activation: Activation(name: layer.activation ?? "none")!, instructionSet: isa)
                workspaceBytes = max(
                    workspaceBytes,
                    convolution.workspaceBytes(height: input.height, width: input.width, threads: pool.threads))
                steps.append(
                    .convolution(
                        convolution, input: layer.inputs[0], residual: layer.residual,
                        spatialBias: prepared.spatialBias, output: output))
            case .upsample:
                let upsampling = Upsampling(shapes[layer.inputs[0]]!, factor: layer.factor!)
                workspaceBytes = max(workspaceBytes, upsampling.scratchFloats(threads: pool.threads) * 4)
                steps.append(.upsample(upsampling, input: layer.inputs[0], output: output))
            case .concat: steps.append(.concat(inputs: layer.inputs, output: output))
            case .maxPool, .avgPool: steps.append(.pool(layer, output: output))
            }
            stepLayers.append(layer)
        }
        workspace = UnsafeMutableRawPointer.allocate(byteCount: workspaceBytes, alignment: 64)
    }

    deinit {
        for buffer in allocations { buffer.deallocate() }
        for case .convolution(_, _, _, let bias?, _) in steps { bias.deallocate() }
        workspace.deallocate()
    }

    /// One buffer per layer output. A concatenation's parts are written in place, one after
    /// another in its buffer, when nothing else claims them: the copy is then free.
    private static func allocateBuffers(_ architecture: Architecture, _ shapes: [String: Architecture.MapShape]) -> (
        buffers: [String: UnsafeMutablePointer<Float>], allocations: [UnsafeMutablePointer<Float>]
    ) {
        var buffers: [String: UnsafeMutablePointer<Float>] = [:]
        var allocations: [UnsafeMutablePointer<Float>] = []
        func floats(_ name: String) -> Int { shapes[name]!.channels * shapes[name]!.height * shapes[name]!.width }
        func allocate(_ name: String) -> UnsafeMutablePointer<Float> {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(floats(name), 1))
            allocations.append(buffer)
            buffers[name] = buffer
            return buffer
        }
        for concat in architecture.layers where concat.op == .concat {
            let buffer = allocate(concat.name)
            guard partsCanLiveInside(concat, architecture) else { continue }
            var offset = 0
            for part in concat.inputs {
                buffers[part] = buffer + offset
                offset += floats(part)
            }
        }
        for name in shapes.keys.sorted() where buffers[name] == nil { _ = allocate(name) }
        return (buffers, allocations)
    }

    /// Whether `concat`'s inputs can be stored inside its output: each a layer output (not the
    /// network input) that no other concatenation takes and that is not itself a concatenation.
    private static func partsCanLiveInside(_ concat: Architecture.Layer, _ architecture: Architecture) -> Bool {
        let concats = architecture.layers.filter { $0.op == .concat }
        return Set(concat.inputs).count == concat.inputs.count
            && concat.inputs.allSatisfy { part in
                part != "input" && !concats.contains { $0.name == part }
                    && concats.filter { $0.inputs.contains(part) }.count == 1
            }
    }

    /// The input, inputChannels x inputHeight x inputWidth floats, to fill before `run()`.
    public var input: UnsafeMutableBufferPointer<Float> {
        let shape = shapes["input"]!
        return UnsafeMutableBufferPointer(start: buffers["input"]!, count: shape.channels * shape.height * shape.width)
    }

    /// Runs the network on `input`; returns the output (heatmaps), valid until the next run.
    @discardableResult
    public func run() -> UnsafeBufferPointer<Float> {
        for index in steps.indices { run(step: index) }
        let output = shapes[architecture.output]!
        return UnsafeBufferPointer(
            start: buffers[architecture.output]!, count: output.channels * output.height * output.width)
    }

    /// Runs step `index` alone (the layer `stepLayers[index]`) on the outputs the steps before it
    /// left, for timing layer by layer: `run()` is every step in order.
    public func run(step index: Int) {
        switch steps[index] {
        case .convolution(let convolution, let input, let residual, let spatialBias, let output):
            let shape = shapes[input]!
            convolution.run(
                input: buffers[input]!, height: shape.height, width: shape.width,
                residual: UnsafePointer(spatialBias ?? residual.map { buffers[$0]! }), output: buffers[output]!,
                workspace: workspace, pool: pool)
        case .upsample(let upsampling, let input, let output):
            upsampling.run(
                buffers[input]!, into: buffers[output]!,
                scratch: workspace.assumingMemoryBound(to: Float.self), pool: pool)
        case .concat(let inputs, let output):
            var target = buffers[output]!
            for input in inputs {
                let shape = shapes[input]!
                let count = shape.channels * shape.height * shape.width
                if buffers[input]! != target { target.update(from: buffers[input]!, count: count) }
                target += count
            }
        case .pool(let layer, let output):
            Self.pool(
                layer, buffers[layer.inputs[0]]!, shapes[layer.inputs[0]]!, into: buffers[output]!, shapes[output]!)
        }
    }

    /// The algorithm the convolution core chose for step `index`; nil when it is not a convolution.
    public func algorithm(step index: Int) -> ConvolutionAlgorithm? {
        guard case .convolution(let convolution, _, _, _, _) = steps[index] else { return nil }
        return convolution.algorithm
    }

    /// A layer's most recent output, for inspection and tests.
    public func output(of layer: String) -> UnsafeBufferPointer<Float>? {
        guard let buffer = buffers[layer], let shape = shapes[layer] else { return nil }
        return UnsafeBufferPointer(start: buffer, count: shape.channels * shape.height * shape.width)
    }

    // MARK: - Preparation

    /// Weights (OIHW, image channels only) and bias with batch norm folded in
    /// (`OnnxExport.foldedWeights`) and, for a CoordConv layer, its spatial bias.
    ///
    /// CoordConv (Liu et al. 2018, and their reference code): the layer's input gets two more
    /// channels, x at column j = j / (w - 1) * 2 - 1 and y at row i = i / (h - 1) * 2 - 1 (0 for a
    /// single column or row), appended after the image channels. They do not depend on the image,
    /// and convolution is linear in its input channels, so
    ///   conv([x_image, X, Y]; W) = conv(x_image; W_image) + conv([X, Y]; W_coordinates)
    /// where the second term is a fixed map per output channel for a given input size (zero
    /// padding included). It is computed once here, in double precision, and added to every
    /// output as a spatial bias: the image channels alone go through the convolution.
    static func prepare(
        _ layer: Architecture.Layer, input: Architecture.MapShape, output: Architecture.MapShape,
        weights: [String: Tensor]
    ) throws -> (weights: [Float], bias: [Float], spatialBias: UnsafeMutablePointer<Float>?) {
        let (folded, bias, _) = try OnnxExport.foldedWeights(layer, weights)
        let out = layer.outChannels!
        let perOutput = folded.count / out
        guard layer.coordinates == true else { return (folded, bias, nil) }
        // Split [O, I + 2, k, k] into the image part and the coordinate part.
        let k = layer.kernel!
        let taps = k * k
        let imageChannels = perOutput / taps - 2
        var imageWeights: [Float] = []
        var coordinateWeights: [Float] = []
        for o in 0..<out {
            let start = o * perOutput
            imageWeights += folded[start..<(start + imageChannels * taps)]
            coordinateWeights += folded[(start + imageChannels * taps)..<(start + perOutput)]
        }
        let coordinates = coordinateChannels(height: input.height, width: input.width)
        var shape = ConvolutionShape(
            inChannels: 2, outChannels: out, kernel: k, stride: layer.stride ?? 1, padding: layer.padding ?? 0
        ).kp
        let spatialBias = UnsafeMutablePointer<Float>.allocate(capacity: out * output.height * output.width)
        kp_conv_reference(
            &shape, coordinateWeights, nil, KP_ACTIVATION_NONE, 0, coordinates, Int32(input.height), Int32(input.width),
            nil, spatialBias)
        return (imageWeights, bias, spatialBias)
    }

    /// CoordConv's two channels for an h x w map: x then y, each in [-1, 1].
    ///
    /// When the map is a window of a larger one (training on crops, `Trainer` with a crop size),
    /// `window` places it: column j of the window is column `originX + j` of a
    /// `canvasWidth`-wide map, so the channels hold the values the whole map would have there.
    public static func coordinateChannels(height: Int, width: Int, window: CoordinateWindow? = nil) -> [Float] {
        let frame = window ?? CoordinateWindow(originX: 0, originY: 0, canvasWidth: width, canvasHeight: height)
        var channels = [Float](repeating: 0, count: 2 * height * width)
        for i in 0..<height {
            for j in 0..<width {
                let x = frame.originX + j, y = frame.originY + i
                channels[i * width + j] =
                    frame.canvasWidth > 1 ? Float(x) / Float(frame.canvasWidth - 1) * 2 - 1 : 0
                channels[height * width + i * width + j] =
                    frame.canvasHeight > 1 ? Float(y) / Float(frame.canvasHeight - 1) * 2 - 1 : 0
            }
        }
        return channels
    }

    // MARK: - Layers outside the convolution core

    /// Max or average pooling; the average counts only window pixels inside the input.
    static func pool(
        _ layer: Architecture.Layer, _ input: UnsafeMutablePointer<Float>, _ inShape: Architecture.MapShape,
        into output: UnsafeMutablePointer<Float>, _ outShape: Architecture.MapShape
    ) {
        let kernel = layer.kernel!
        let stride = layer.stride ?? kernel
        let padding = layer.padding ?? 0
        let isMax = layer.op == .maxPool
        for channel in 0..<inShape.channels {
            let source = input + channel * inShape.height * inShape.width
            let target = output + channel * outShape.height * outShape.width
            for oy in 0..<outShape.height {
                for ox in 0..<outShape.width {
                    var value: Float = isMax ? -.infinity : 0
                    var count = 0
                    for ky in 0..<kernel {
                        let y = oy * stride - padding + ky
                        guard y >= 0 && y < inShape.height else { continue }
                        for kx in 0..<kernel {
                            let x = ox * stride - padding + kx
                            guard x >= 0 && x < inShape.width else { continue }
                            let sample = source[y * inShape.width + x]
                            value = isMax ? max(value, sample) : value + sample
                            count += 1
                        }
                    }
                    target[oy * outShape.width + ox] = isMax ? value : value / Float(max(count, 1))
                }
            }
        }
    }
}

/// Where a map lies inside the larger map that CoordConv normalises over, in that map's pixels.
public struct CoordinateWindow: Equatable, Sendable {
    public var originX: Int
    public var originY: Int
    public var canvasWidth: Int
    public var canvasHeight: Int

    public init(originX: Int, originY: Int, canvasWidth: Int, canvasHeight: Int) {
        self.originX = originX
        self.originY = originY
        self.canvasWidth = canvasWidth
        self.canvasHeight = canvasHeight
    }

    /// The same window on a map `factor` times smaller (a deeper layer's input).
    func reduced(by factor: Int) -> CoordinateWindow {
        CoordinateWindow(
            originX: originX / factor, originY: originY / factor, canvasWidth: canvasWidth / factor,
            canvasHeight: canvasHeight / factor)
    }
}

/// Bilinear upsampling by an integer factor with half-pixel centres (`align_corners=False`):
/// output pixel x samples the input at (x + 0.5) / factor - 0.5, clamped to the input. Each output
/// column's and row's two source indices and weight are found once, here; the C kernel then
/// interpolates every input row along x once and pairs of those rows along y.
final class Upsampling: @unchecked Sendable {
    let input: Architecture.MapShape
    let factor: Int
    private let columns: kp_upsample_taps
    private let rows: kp_upsample_taps

    init(_ input: Architecture.MapShape, factor: Int) {
        self.input = input
        self.factor = factor
        columns = Self.taps(input.width, factor: factor)
        rows = Self.taps(input.height, factor: factor)
    }

    deinit {
        for taps in [columns, rows] {
            taps.first.deallocate()
            taps.second.deallocate()
            taps.weight.deallocate()
        }
    }

    /// The bilinear taps of upsampling `size` samples by `factor`, half-pixel centres (align
    /// corners off), clamped at the edges: output index i reads the input at
    /// p = (i + 0.5) / factor - 0.5, between samples floor(p) and the next, `weight` on the next.
    /// Training's upsampling uses the same taps.
    static func bilinearTaps(_ size: Int, factor: Int) -> [(first: Int, second: Int, weight: Double)] {
        (0..<(size * factor)).map { index in
            let position = min(max((Double(index) + 0.5) / Double(factor) - 0.5, 0), Double(size - 1))
            let first = Int(position)
            return (first, min(first + 1, size - 1), position - Double(first))
        }
    }

    private static func taps(_ size: Int, factor: Int) -> kp_upsample_taps {
        let taps = bilinearTaps(size, factor: factor)
        let first = UnsafeMutablePointer<Int32>.allocate(capacity: taps.count)
        let second = UnsafeMutablePointer<Int32>.allocate(capacity: taps.count)
        let weight = UnsafeMutablePointer<Float>.allocate(capacity: taps.count)
        for (index, tap) in taps.enumerated() {
            first[index] = Int32(tap.first)
            second[index] = Int32(tap.second)
            weight[index] = Float(tap.weight)
        }
        return kp_upsample_taps(first: first, second: second, weight: weight)
    }

    /// Floats of scratch `run` needs with a pool of `threads`.
    func scratchFloats(threads: Int) -> Int { threads * input.height * input.width * factor }

    func run(
        _ source: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        pool: ThreadPool
    ) {
        withUnsafePointer(to: rows) { rows in
            withUnsafePointer(to: columns) { columns in
                kp_upsample_bilinear(
                    source, input.channels, input.height, input.width, rows, input.height * factor, columns,
                    input.width * factor, scratch, output, pool.pool)
            }
        }
    }
}

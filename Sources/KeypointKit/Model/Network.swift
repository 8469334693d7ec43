import CConvKernels
import Foundation

/// A model's network prepared for inference at its architecture's input size: batch norm folded
/// into the convolutions, weights packed for the convolution core, CoordConv coordinates turned
/// into a fixed spatial bias, and every buffer allocated once. `run()` allocates nothing.
///
/// Not thread-safe: one instance serves one caller at a time (it owns its buffers and thread pool);
/// use one instance per thread.
public final class Network: @unchecked Sendable {
    public let graph: LayerGraph
    private let buffers: [String: UnsafeMutablePointer<Float>]
    private let allocations: [UnsafeMutablePointer<Float>]
    private var steps: [Step] = []
    private let workspace: UnsafeMutableRawPointer
    private let pool: ThreadPool

    private enum Step {
        /// `spatialBias`: a CoordConv layer's coordinate term, added as its residual.
        case convolution(Convolution, spatialBias: [Float]?)
        case upsample(Upsampling)
        case concat
        case pool(Pooling)
    }

    /// - Throws: `ModelError` when the architecture does not fit together or weights are missing
    ///   or misshapen, `ConvolutionError` when the kernels cannot run here.
    public init(
        architecture: Architecture, weights: [String: Tensor],
        threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        instructionSet: InstructionSet? = nil
    ) throws {
        graph = try LayerGraph(architecture)
        pool = ThreadPool(threads: max(threads, 1))
        let isa = try instructionSet ?? InstructionSet.preferred()
        (buffers, allocations) = Self.allocateBuffers(graph)
        var workspaceBytes = 64
        for layer in graph.layers {
            switch layer.operation {
            case .convolution(let conv):
                var (folded, bias, _) = try layer.foldedWeights(weights)
                var spatialBias: [Float]?
                if conv.coordinates {
                    (folded, spatialBias) = CoordConv.split(folded, conv, input: layer.inputShape, output: layer.output)
                }
                let convolution = try Convolution(
                    shape: conv.shape, weights: folded, bias: bias, activation: conv.activation, instructionSet: isa)
                workspaceBytes = max(
                    workspaceBytes,
                    convolution.workspaceBytes(
                        height: layer.inputShape.height, width: layer.inputShape.width, threads: pool.threads))
                steps.append(.convolution(convolution, spatialBias: spatialBias))
            case .upsample(let factor):
                let upsampling = Upsampling(layer.inputShape, factor: factor)
                workspaceBytes = max(workspaceBytes, upsampling.scratchFloats(threads: pool.threads) * 4)
                steps.append(.upsample(upsampling))
            case .concat: steps.append(.concat)
            case .pool(let pooling): steps.append(.pool(pooling))
            }
        }
        workspace = UnsafeMutableRawPointer.allocate(byteCount: workspaceBytes, alignment: 64)
    }

    deinit {
        for buffer in allocations { buffer.deallocate() }
        workspace.deallocate()
    }

    /// One buffer per layer output. A concatenation's parts are written in place, one after
    /// another in its buffer, when nothing else claims them: the copy is then free.
    private static func allocateBuffers(_ graph: LayerGraph) -> (
        buffers: [String: UnsafeMutablePointer<Float>], allocations: [UnsafeMutablePointer<Float>]
    ) {
        var buffers: [String: UnsafeMutablePointer<Float>] = [:]
        var allocations: [UnsafeMutablePointer<Float>] = []
        func allocate(_ name: String) -> UnsafeMutablePointer<Float> {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(graph.shapes[name]!.count, 1))
            allocations.append(buffer)
            buffers[name] = buffer
            return buffer
        }
        let concats = graph.layers.filter { $0.operation == .concat }
        for concat in concats {
            let buffer = allocate(concat.name)
            guard partsCanLiveInside(concat, concats) else { continue }
            var offset = 0
            for (part, shape) in zip(concat.inputs, concat.inputShapes) {
                buffers[part] = buffer + offset
                offset += shape.count
            }
        }
        for name in graph.shapes.keys.sorted() where buffers[name] == nil { _ = allocate(name) }
        return (buffers, allocations)
    }

    /// Whether `concat`'s inputs can be stored inside its output: each a layer output (not the
    /// network input) that no other concatenation takes and that is not itself a concatenation.
    private static func partsCanLiveInside(_ concat: LayerGraph.Layer, _ concats: [LayerGraph.Layer]) -> Bool {
        Set(concat.inputs).count == concat.inputs.count
            && concat.inputs.allSatisfy { part in
                part != "input" && !concats.contains { $0.name == part }
                    && concats.filter { $0.inputs.contains(part) }.count == 1
            }
    }

    /// The input, inputChannels x inputHeight x inputWidth floats, to fill before `run()`.
    public var input: UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(start: buffers["input"]!, count: graph.input.count)
    }

    /// Runs the network on `input`; returns the output (heatmaps), valid until the next run.
    @discardableResult
    public func run() -> UnsafeBufferPointer<Float> {
        for index in steps.indices { run(step: index) }
        return UnsafeBufferPointer(start: buffers[graph.output]!, count: graph.outputShape.count)
    }

    /// Runs step `index` alone (the layer `graph.layers[index]`) on the outputs the steps before it
    /// left, for timing layer by layer: `run()` is every step in order.
    public func run(step index: Int) {
        let layer = graph.layers[index]
        let (input, output) = (buffers[layer.input]!, buffers[layer.name]!)
        switch steps[index] {
        case .convolution(let convolution, let spatialBias):
            guard case .convolution(let conv) = layer.operation else { return }
            func run(residual: UnsafePointer<Float>?) {
                convolution.run(
                    input: input, height: layer.inputShape.height, width: layer.inputShape.width, residual: residual,
                    output: output, workspace: workspace, pool: pool)
            }
            if let spatialBias {
                spatialBias.withUnsafeBufferPointer { run(residual: $0.baseAddress) }
            } else {
                run(residual: conv.residual.map { UnsafePointer(buffers[$0]!) })
            }
        case .upsample(let upsampling):
            upsampling.run(input, into: output, scratch: workspace.assumingMemoryBound(to: Float.self), pool: pool)
        case .concat:
            var target = output
            for (part, shape) in zip(layer.inputs, layer.inputShapes) {
                if buffers[part]! != target { target.update(from: buffers[part]!, count: shape.count) }
                target += shape.count
            }
        case .pool(let pooling):
            pooling.forward(
                input, maps: layer.inputShape.channels, height: layer.inputShape.height,
                width: layer.inputShape.width, into: output)
        }
    }

    /// The algorithm the convolution core chose for step `index`; nil when it is not a convolution.
    public func algorithm(step index: Int) -> ConvolutionAlgorithm? {
        guard case .convolution(let convolution, _) = steps[index] else { return nil }
        return convolution.algorithm
    }

    /// A layer's most recent output, for inspection and tests.
    public func output(of layer: String) -> UnsafeBufferPointer<Float>? {
        guard let buffer = buffers[layer], let shape = graph.shapes[layer] else { return nil }
        return UnsafeBufferPointer(start: buffer, count: shape.count)
    }
}

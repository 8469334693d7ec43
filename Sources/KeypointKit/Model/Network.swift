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
    private var allocations: [UnsafeMutablePointer<Float>]
    private var steps: [Step] = []
    private let workspace: UnsafeMutableRawPointer
    private let pool: ThreadPool

    /// A layer with its buffers found: `run(step:)` looks nothing up.
    private struct Step {
        enum Work {
            case convolution(Convolution)
            case upsample(Upsampling)
            /// Each part's buffer and float count, in order.
            case concat(parts: [(UnsafeMutablePointer<Float>, Int)])
            case pool(Pooling)
        }

        var work: Work
        var input: UnsafeMutablePointer<Float>
        var inputShape: MapShape
        /// Added before the activation: the residual layer's output, or a CoordConv layer's
        /// coordinate term.
        var residual: UnsafePointer<Float>?
        var output: UnsafeMutablePointer<Float>
    }

    /// - Throws: `ModelError` when the architecture does not fit together or weights are missing
    ///   or misshapen, `ConvolutionError` when the kernels cannot run here.
    public init(
        architecture: Architecture, weights: [String: Tensor],
        threads: Int = ThreadPool.availableCores,
        instructionSet: InstructionSet? = nil
    ) throws {
        graph = try LayerGraph(architecture)
        pool = ThreadPool(threads: max(threads, 1))
        let isa = try instructionSet ?? InstructionSet.preferred()
        let (buffers, outputs) = Self.allocateBuffers(graph)
        (self.buffers, allocations) = (buffers, outputs)
        var workspaceBytes = 64
        for layer in graph.layers {
            var step = Step(
                work: .concat(parts: []), input: buffers[layer.input]!, inputShape: layer.inputShape, residual: nil,
                output: buffers[layer.name]!)
            switch layer.operation {
            case .convolution(let conv):
                var (folded, bias, _) = try layer.foldedWeights(weights)
                step.residual = conv.residual.map { UnsafePointer(buffers[$0]!) }
                if conv.coordinates {
                    let (imageWeights, spatialBias) = CoordConv.split(
                        folded, conv, input: layer.inputShape, output: layer.output)
                    folded = imageWeights
                    let stored = UnsafeMutablePointer<Float>.allocate(capacity: spatialBias.count)
                    stored.initialize(from: spatialBias, count: spatialBias.count)
                    allocations.append(stored)
                    step.residual = UnsafePointer(stored)
                }
                let algorithm = ConvolutionAlgorithm.forSize(
                    conv.shape, height: layer.inputShape.height, width: layer.inputShape.width, instructionSet: isa)
                let convolution = try Convolution(
                    shape: conv.shape, weights: folded, bias: bias, activation: conv.activation, algorithm: algorithm,
                    instructionSet: isa)
                workspaceBytes = max(
                    workspaceBytes,
                    convolution.workspaceBytes(
                        height: layer.inputShape.height, width: layer.inputShape.width, threads: pool.threads))
                step.work = .convolution(convolution)
            case .upsample(let factor):
                let upsampling = Upsampling(layer.inputShape, factor: factor)
                workspaceBytes = max(workspaceBytes, upsampling.scratchFloats(threads: pool.threads) * 4)
                step.work = .upsample(upsampling)
            case .concat:
                step.work = .concat(parts: zip(layer.inputs, layer.inputShapes).map { (buffers[$0]!, $1.count) })
            case .pool(let pooling): step.work = .pool(pooling)
            }
            steps.append(step)
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
        let step = steps[index]
        let (input, shape, output) = (step.input, step.inputShape, step.output)
        switch step.work {
        case .convolution(let convolution):
            convolution.run(
                input: input, height: shape.height, width: shape.width, residual: step.residual, output: output,
                workspace: workspace, pool: pool)
        case .upsample(let upsampling):
            upsampling.run(input, into: output, scratch: workspace.assumingMemoryBound(to: Float.self), pool: pool)
        case .concat(let parts):
            var target = output
            for (part, count) in parts {
                if part != target { target.update(from: part, count: count) }
                target += count
            }
        case .pool(let pooling):
            pooling.forward(input, maps: shape.channels, height: shape.height, width: shape.width, into: output)
        }
    }

    /// The algorithm the convolution core chose for step `index`; nil when it is not a convolution.
    public func algorithm(step index: Int) -> ConvolutionAlgorithm? {
        guard case .convolution(let convolution) = steps[index].work else { return nil }
        return convolution.algorithm
    }

    /// A layer's most recent output, for inspection and tests.
    public func output(of layer: String) -> UnsafeBufferPointer<Float>? {
        guard let buffer = buffers[layer], let shape = graph.shapes[layer] else { return nil }
        return UnsafeBufferPointer(start: buffer, count: shape.count)
    }
}

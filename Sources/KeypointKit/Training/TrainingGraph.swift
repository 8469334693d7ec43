import Foundation

/// An architecture with trainable parameters: forward in training or evaluation mode, masked MSE
/// loss on heatmaps, and backpropagation to every parameter. Parameters carry the model file's
/// names (`<layer>.weight`, `.bias`, `.bn.weight`, `.bn.bias`; the running statistics
/// `.bn.running_mean`, `.bn.running_var` are updated in training mode, momentum 0.1, with the
/// unbiased batch variance, as PyTorch does).
public final class TrainingGraph<Scalar: TrainingScalar> {
    public let architecture: Architecture
    public let graph: LayerGraph
    public var parameters: [String: [Scalar]]
    let compute: TrainingCompute
    static var epsilon: Scalar { 1e-5 }
    static var momentum: Scalar { 0.1 }

    /// What the backward pass needs from the forward pass, per layer.
    private struct Saved {
        var input: Grid<Scalar>?  // a conv's input (coordinates appended) or a pool's input
        var normalized: Grid<Scalar>?  // batch norm's xhat
        var inverseDeviation: [Scalar] = []
        var sources: [Int] = []  // max pooling's argmax
    }

    /// - Parameter compute: the instruction set and threads to train with.
    public init(architecture: Architecture, weights: [String: Tensor], compute: TrainingCompute = TrainingCompute())
        throws
    {
        self.architecture = architecture
        graph = try LayerGraph(architecture)
        self.compute = compute
        var parameters: [String: [Scalar]] = [:]
        for (name, shape) in graph.weightShapes {
            guard let tensor = weights[name], tensor.shape == shape else {
                throw ModelError.missingWeights(layer: String(name.prefix { $0 != "." }), tensor: name)
            }
            parameters[name] = tensor.data.map { Scalar($0) }
        }
        self.parameters = parameters
    }

    /// The trainable parameter names (running statistics excluded).
    public var trainableNames: [String] {
        parameters.keys.filter { !$0.hasSuffix("running_mean") && !$0.hasSuffix("running_var") }.sorted()
    }

    /// The parameters as model weights.
    public func weights() -> [String: Tensor] { weights(of: parameters) }

    /// `values` (named and shaped as the parameters) as model weights.
    public func weights(of values: [String: [Scalar]]) -> [String: Tensor] {
        var result: [String: Tensor] = [:]
        for (name, shape) in graph.weightShapes {
            result[name] = Tensor(shape: shape, data: values[name]!.map { Float($0) })
        }
        return result
    }

    /// The input with CoordConv's x and y channels appended to every image. `windows` (one per
    /// image, in network-input pixels) place crops inside the whole input; `inputWidth` is the
    /// crops' width, so a deeper layer's window is scaled down by its stride.
    private func withCoordinates(_ x: Grid<Scalar>, windows: [CoordinateWindow]?, inputWidth: Int) -> Grid<Scalar> {
        let whole = CoordConv.channels(height: x.height, width: x.width).map { Scalar($0) }
        var result = Grid<Scalar>(batch: x.batch, channels: x.channels + 2, height: x.height, width: x.width)
        for n in 0..<x.batch {
            let image = x.values[(n * x.channels * x.plane)..<((n + 1) * x.channels * x.plane)]
            let start = n * result.channels * x.plane
            result.values.replaceSubrange(start..<(start + image.count), with: image)
            let coordinates =
                windows.map {
                    CoordConv.channels(
                        height: x.height, width: x.width, window: $0[n].reduced(by: inputWidth / x.width)
                    ).map { Scalar($0) }
                } ?? whole
            result.values.replaceSubrange(
                (start + image.count)..<(start + image.count + 2 * x.plane), with: coordinates)
        }
        return result
    }

    /// Runs the network; in training mode batch norm uses (and updates running statistics from)
    /// batch statistics, and everything the backward pass needs is kept.
    public func forward(_ input: Grid<Scalar>, training: Bool, windows: [CoordinateWindow]? = nil) -> Grid<Scalar> {
        forwardKeeping(input, training: training, windows: windows).outputs[architecture.output]!
    }

    private func forwardKeeping(_ input: Grid<Scalar>, training: Bool, windows: [CoordinateWindow]?) -> (
        outputs: [String: Grid<Scalar>], saved: [String: Saved]
    ) {
        var outputs = ["input": input]
        var saved: [String: Saved] = [:]
        for layer in graph.layers {
            var state = Saved()
            let x = outputs[layer.input]!
            switch layer.operation {
            case .convolution(let conv):
                let convInput = conv.coordinates ? withCoordinates(x, windows: windows, inputWidth: input.width) : x
                var y = ConvolutionTraining.forward(
                    convInput, weights: parameters["\(layer.name).weight"]!,
                    bias: conv.batchNorm ? nil : parameters["\(layer.name).bias"]!, conv.fullShape, on: compute)
                let skip = conv.residual.map { outputs[$0]! }
                state.input = convInput
                if conv.batchNorm && training {
                    let result = BatchNormTraining.forward(
                        normalizing: &y, gamma: parameters["\(layer.name).bn.weight"]!,
                        beta: parameters["\(layer.name).bn.bias"]!, epsilon: Self.epsilon, adding: skip,
                        activation: conv.activation, on: compute.pool)
                    updateRunningStatistics(
                        layer.name, mean: result.mean, variance: result.variance, count: y.batch * y.plane)
                    state.normalized = y
                    state.inverseDeviation = result.inverseDeviation
                    outputs[layer.name] = result.y
                    break
                }
                if conv.batchNorm { y = batchNormOnRunningStatistics(y, layer.name) }
                if let skip {
                    skip.values.withUnsafeBufferPointer { skip in
                        y.values.withUnsafeMutableBufferPointer { sum in
                            for index in sum.indices { sum[index] += skip[index] }
                        }
                    }
                }
                y.values.withUnsafeMutableBufferPointer {
                    conv.activation.apply($0.baseAddress!, into: $0.baseAddress!, $0.indices)
                }
                outputs[layer.name] = y
            case .upsample(let factor):
                outputs[layer.name] = ResamplingTraining.upsample(x, factor: factor, on: compute)
            case .concat:
                var y = Grid<Scalar>.uninitialized(
                    batch: x.batch, channels: layer.output.channels, height: x.height, width: x.width)
                var offset = 0
                for part in layer.inputs.map({ outputs[$0]! }) {
                    let size = part.channels * part.plane
                    copyPerImage(
                        size, from: part.values, (stride: size, start: 0), to: &y.values, (y.channels * y.plane, offset)
                    )
                    offset += size
                }
                outputs[layer.name] = y
            case .pool(let pooling):
                let result = ResamplingTraining.pool(x, pooling)
                state.input = x
                state.sources = result.sources
                outputs[layer.name] = result.y
            }
            saved[layer.name] = state
        }
        return (outputs, saved)
    }

    /// Batch norm of layer `name`'s convolution output on its running statistics (evaluation mode).
    private func batchNormOnRunningStatistics(_ y: Grid<Scalar>, _ name: String) -> Grid<Scalar> {
        let gamma = parameters["\(name).bn.weight"]!, beta = parameters["\(name).bn.bias"]!
        let mean = parameters["\(name).bn.running_mean"]!, variance = parameters["\(name).bn.running_var"]!
        var y = y
        for index in y.values.indices {
            let c = index / y.plane % y.channels
            y.values[index] =
                gamma[c] * (y.values[index] - mean[c]) / (variance[c] + Self.epsilon).squareRoot() + beta[c]
        }
        return y
    }

    /// Moves layer `name`'s running statistics toward a training batch's (`count` values per
    /// channel; the variance unbiased).
    private func updateRunningStatistics(_ name: String, mean: [Scalar], variance: [Scalar], count: Int) {
        let correction = count > 1 ? Scalar(count) / Scalar(count - 1) : 1
        for c in mean.indices {
            parameters["\(name).bn.running_mean"]![c] =
                (1 - Self.momentum) * parameters["\(name).bn.running_mean"]![c] + Self.momentum * mean[c]
            parameters["\(name).bn.running_var"]![c] =
                (1 - Self.momentum) * parameters["\(name).bn.running_var"]![c]
                + Self.momentum * variance[c] * correction
        }
    }

    /// Masked, foreground-weighted mean squared error between the output heatmaps and `targets`:
    ///   L = sum over n, k, pixels p of w[n][k] (1 + a t_p) (y_p - t_p)^2 / (N K P)
    /// with w[n][k] = 0 for a keypoint missing in image n (times a per-keypoint weight) and
    /// a = `foregroundWeight`: a > 0 weighs the pixels under a target's peak up to 1 + a times the
    /// background, so a small network does not settle on flat zero maps when the peaks cover a
    /// tiny part of a large heatmap. Returns the loss and the gradient of every trainable
    /// parameter (training-mode forward). `windows` says where each image lies in the whole
    /// network input when the images are crops of it.
    public func lossAndGradients(
        input: Grid<Scalar>, targets: Grid<Scalar>, weights: [Scalar], foregroundWeight: Scalar = 0,
        windows: [CoordinateWindow]? = nil
    ) -> (loss: Scalar, gradients: [String: [Scalar]]) {
        let (outputs, saved) = forwardKeeping(input, training: true, windows: windows)
        let output = outputs[architecture.output]!
        precondition(
            targets.values.count == output.values.count && weights.count == output.batch * output.channels,
            "targets like the output, one weight per image and keypoint")
        let count = Scalar(output.values.count)
        var loss: Scalar = 0
        var gradient = output.zeros()
        for index in output.values.indices {
            let target = targets.values[index]
            let weight = weights[index / output.plane] * (1 + foregroundWeight * target)
            let difference = output.values[index] - target
            loss += weight * difference * difference / count
            gradient.values[index] = 2 * weight * difference / count
        }
        return (loss, backward(gradient, outputs: outputs, saved: saved))
    }

    private func backward(_ outputGradient: Grid<Scalar>, outputs: [String: Grid<Scalar>], saved: [String: Saved])
        -> [String: [Scalar]]
    {
        var gradients: [String: Grid<Scalar>] = [architecture.output: outputGradient]
        var parameterGradients: [String: [Scalar]] = [:]
        func accumulate(_ name: String, _ gradient: Grid<Scalar>) {
            guard gradients[name] != nil else {
                gradients[name] = gradient
                return
            }
            let plane = gradient.plane
            gradient.values.withUnsafeBufferPointer { source in
                gradients[name]!.values.withUnsafeMutableBufferPointer { target in  // in place, no copy
                    let (source, target) = (Unchecked(source.baseAddress!), Unchecked(target.baseAddress!))
                    compute.pool.forEach(gradient.batch * gradient.channels) { map in
                        for index in (map * plane)..<((map + 1) * plane) { target.value[index] += source.value[index] }
                    }
                }
            }
        }
        for layer in graph.layers.reversed() {
            guard var dy = gradients.removeValue(forKey: layer.name) else { continue }  // owned: changed in place
            let state = saved[layer.name]!
            switch layer.operation {
            case .convolution(let conv):
                if conv.batchNorm {
                    let result = BatchNormTraining.backward(
                        &dy, output: outputs[layer.name]!, activation: conv.activation,
                        normalized: state.normalized!, gamma: parameters["\(layer.name).bn.weight"]!,
                        inverseDeviation: state.inverseDeviation, on: compute.pool)
                    if let residual = conv.residual { accumulate(residual, dy) }
                    dy = result.dx
                    parameterGradients["\(layer.name).bn.weight"] = result.dgamma
                    parameterGradients["\(layer.name).bn.bias"] = result.dbeta
                } else {
                    outputs[layer.name]!.values.withUnsafeBufferPointer { y in
                        dy.values.withUnsafeMutableBufferPointer { dy in
                            conv.activation.scaleBySlope(dy.baseAddress!, atOutput: y.baseAddress!, 0..<dy.count)
                        }
                    }
                    if let residual = conv.residual { accumulate(residual, dy) }
                }
                let result = ConvolutionTraining.backward(
                    dy, input: state.input!, weights: parameters["\(layer.name).weight"]!, conv.fullShape,
                    withBias: !conv.batchNorm, inputGradient: layer.input != "input", on: compute)
                parameterGradients["\(layer.name).weight"] = result.dw
                if let db = result.db { parameterGradients["\(layer.name).bias"] = db }
                guard let dx = result.dx else { break }  // the network's input takes none
                // The coordinate channels take no gradient.
                accumulate(layer.input, conv.coordinates ? leading(conv.shape.inChannels, channelsOf: dx) : dx)
            case .upsample(let factor):
                accumulate(layer.input, ResamplingTraining.upsampleBackward(dy, factor: factor, on: compute.pool))
            case .concat:
                var offset = 0
                for name in layer.inputs {
                    let part = outputs[name]!
                    let size = part.channels * part.plane
                    var dx = part.uninitialized()
                    copyPerImage(size, from: dy.values, (dy.channels * dy.plane, offset), to: &dx.values, (size, 0))
                    offset += size
                    accumulate(name, dx)
                }
            case .pool(let pooling):
                accumulate(
                    layer.input,
                    ResamplingTraining.poolBackward(dy, input: state.input!, pooling, sources: state.sources))
            }
        }
        return parameterGradients
    }

    /// For each image n, `count` values from `source` at n * stride + start into `target` at
    /// its n * stride + start: the images on the pool.
    private func copyPerImage(
        _ count: Int, from source: [Scalar], _ from: (stride: Int, start: Int), to target: inout [Scalar],
        _ to: (stride: Int, start: Int)
    ) {
        let images = source.count / from.stride
        source.withUnsafeBufferPointer { source in
            target.withUnsafeMutableBufferPointer { target in
                let (source, target) = (Unchecked(source.baseAddress!), Unchecked(target.baseAddress!))
                compute.pool.forEach(images) { n in
                    (target.value + n * to.stride + to.start).update(
                        from: source.value + n * from.stride + from.start, count: count)
                }
            }
        }
    }

    /// The first `channels` channels of every image of `grid`.
    private func leading(_ channels: Int, channelsOf grid: Grid<Scalar>) -> Grid<Scalar> {
        var result = Grid<Scalar>.uninitialized(
            batch: grid.batch, channels: channels, height: grid.height, width: grid.width)
        let size = channels * grid.plane
        copyPerImage(size, from: grid.values, (grid.channels * grid.plane, 0), to: &result.values, (size, 0))
        return result
    }
}

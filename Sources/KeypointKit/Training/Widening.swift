/// A trained network's weights for a wider network of the same family that computes the same
/// function: Net2Net's widening (Chen, Goodfellow and Shlens, "Net2Net: Accelerating Learning via
/// Knowledge Transfer", ICLR 2016), so a run continues at a larger width instead of restarting.
///
/// Every feature map's channels keep their places and gain copies: new channel j of a map is a
/// copy of old channel `g(j)` (`g(j) = j` for the old channels, a seeded uniform choice for the
/// added ones). A convolution's output channel j takes the kernel, batch norm and bias of old
/// output channel `g(j)`, so it computes the copy; the channels a residual adds share the
/// residual stream's map, upsampling and pooling keep their input's, and a concatenation joins
/// its inputs'. An input channel that now appears n times (the old one and n - 1 copies) reads
/// each with the old kernel divided by n, plus noise that sums to zero over the n: the sum over
/// the copies is the old product exactly, while the copies' outgoing kernels differ, so their
/// gradients differ and they grow apart instead of training as one channel. The image and
/// CoordConv channels, and the heatmap head's outputs, keep their count.
enum Widening {
    /// The noise on an input channel's copies, relative to the root mean square of the layer's
    /// divided kernels.
    static let noise = 0.05

    /// `start`'s weights for `wider`, a network of the same layers with at least as many channels
    /// in each; seeded.
    static func weights(of start: Model, for wider: Architecture, seed: UInt64) throws -> [String: Tensor] {
        let old = try LayerGraph(start.architecture), new = try LayerGraph(wider)
        var random = SplitMix64(seed: seed)
        var maps = ["input": Array(0..<new.input.channels)]
        var weights: [String: Tensor] = [:]
        for (layer, before) in zip(new.layers, old.layers) {
            let inputs = try layer.inputs.map { name -> [Int] in
                guard let map = maps[name] else {
                    throw InputError.invalid("cannot widen: '\(name)' has no channel map")
                }
                return map
            }
            switch layer.operation {
            case .convolution(let conv):
                let oldOut = before.output.channels, newOut = layer.output.channels
                let outMap =
                    conv.residual.flatMap { maps[$0] }
                    ?? (0..<newOut).map { $0 < oldOut ? $0 : Int(random.next() % UInt64(oldOut)) }
                maps[layer.name] = outMap
                // CoordConv's x and y follow the image channels, one each.
                let image = before.inputShape.channels
                let inMap = inputs[0] + (conv.coordinates ? [image, image + 1] : [])
                try widen(layer.name, outMap, inMap, start.weights, into: &weights, random: &random)
            case .upsample, .pool:
                maps[layer.name] = inputs[0]
            case .concat:
                var offset = 0, joined: [Int] = []
                for (map, shape) in zip(inputs, before.inputShapes) {
                    joined += map.map { $0 + offset }
                    offset += shape.channels
                }
                maps[layer.name] = joined
            }
        }
        return weights
    }

    /// One convolution's kernel, batch norm or bias for the output and input channel maps.
    private static func widen(
        _ name: String, _ outMap: [Int], _ inMap: [Int], _ start: [String: Tensor],
        into weights: inout [String: Tensor], random: inout SplitMix64
    ) throws {
        guard let kernel = start["\(name).weight"], kernel.shape.count == 4 else {
            throw InputError.invalid("cannot widen: the start model has no kernel for '\(name)'")
        }
        let (oldIn, taps) = (kernel.shape[1], kernel.shape[2] * kernel.shape[3])
        var copies = [Int](repeating: 0, count: oldIn)
        for source in inMap { copies[source] += 1 }
        var values = [Float](repeating: 0, count: outMap.count * inMap.count * taps)
        for (o, sourceOut) in outMap.enumerated() {
            for (i, sourceIn) in inMap.enumerated() {
                for t in 0..<taps {
                    values[(o * inMap.count + i) * taps + t] =
                        kernel.data[(sourceOut * oldIn + sourceIn) * taps + t] / Float(copies[sourceIn])
                }
            }
        }
        let scale = noise * (values.reduce(0) { $0 + Double($1 * $1) } / Double(max(values.count, 1))).squareRoot()
        let groups = (0..<oldIn).map { source in inMap.indices.filter { inMap[$0] == source } }
            .filter { $0.count > 1 }
        for o in outMap.indices {
            for group in groups {
                for t in 0..<taps {
                    let draws = group.map { _ in random.openUnitInterval() - 0.5 }
                    let mean = draws.reduce(0, +) / Double(draws.count)
                    for (i, draw) in zip(group, draws) {
                        values[(o * inMap.count + i) * taps + t] += Float(scale * (draw - mean))
                    }
                }
            }
        }
        weights["\(name).weight"] = Tensor(
            shape: [outMap.count, inMap.count, kernel.shape[2], kernel.shape[3]], data: values)
        for part in ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var", "bias"] {
            guard let vector = start["\(name).\(part)"] else { continue }
            weights["\(name).\(part)"] = Tensor(shape: [outMap.count], data: outMap.map { vector.data[$0] })
        }
    }
}

extension LayerGraph.Layer {
    /// A convolution layer's weights (OIHW, every input channel, coordinates included) and bias,
    /// with batch norm folded in, for the engine and the ONNX export:
    ///   y = gamma (conv(x) - mean) / sqrt(var + eps) + beta
    ///     = conv(x; w * s) + (beta - mean * s),  s = gamma / sqrt(var + eps),  eps = 1e-5
    /// (PyTorch's default epsilon), computed in double.
    /// - Throws: `ModelError.missingWeights` naming the first tensor `weights` lacks.
    func foldedWeights(_ weights: [String: Tensor]) throws -> (weights: [Float], bias: [Float], shape: [Int]) {
        guard case .convolution(let conv) = operation else { preconditionFailure("\(name) is not a convolution") }
        func tensor(_ suffix: String) throws -> Tensor {
            guard let tensor = weights["\(name).\(suffix)"] else {
                throw ModelError.missingWeights(layer: name, tensor: "\(name).\(suffix)")
            }
            return tensor
        }
        let kernel = try tensor("weight")
        guard conv.batchNorm else { return (kernel.data, try tensor("bias").data, kernel.shape) }
        let out = conv.shape.outChannels
        let perOutput = kernel.data.count / out
        var folded = kernel.data
        let gamma = try tensor("bn.weight").data, beta = try tensor("bn.bias").data
        let mean = try tensor("bn.running_mean").data, variance = try tensor("bn.running_var").data
        var bias = [Float](repeating: 0, count: out)
        for o in 0..<out {
            let scale = Double(gamma[o]) / (Double(variance[o]) + 1e-5).squareRoot()
            for index in (o * perOutput)..<((o + 1) * perOutput) {
                folded[index] = Float(Double(folded[index]) * scale)
            }
            bias[o] = Float(Double(beta[o]) - Double(mean[o]) * scale)
        }
        return (folded, bias, kernel.shape)
    }
}

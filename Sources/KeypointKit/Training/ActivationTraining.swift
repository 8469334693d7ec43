/// The activations over training's maps, and their derivatives for the backward pass (the
/// engine fuses them into the convolution core's output stage).
extension Activation {
    /// output[i] = activation(input[i]) for i in `range`. One loop per kind, the choice made once
    /// outside it, so each loop vectorises (a switch per element does not; Array.map neither, which
    /// appends one element at a time: 5% of a training step).
    func apply<Scalar: BinaryFloatingPoint>(
        _ input: UnsafePointer<Scalar>, into output: UnsafeMutablePointer<Scalar>, _ range: Range<Int>
    ) {
        switch self {
        case .none: for i in range { output[i] = input[i] }
        case .relu: for i in range { output[i] = max(input[i], 0) }
        case .relu6: for i in range { output[i] = min(max(input[i], 0), 6) }
        case .leakyReLU(let slope):
            let slope = Scalar(slope)
            for i in range { output[i] = input[i] > 0 ? input[i] : input[i] * slope }
        }
    }

    /// gradient[i] *= the activation's derivative at the input whose output is `output[i]`, for i
    /// in `range`: the gradient of the output becomes that of the input. Read from the output, so
    /// the input need not be kept: every kind here keeps the sign of its input and ReLU6 maps
    /// exactly (0, 6) into (0, 6), so output > 0 (and < 6) holds exactly where input > 0 (and < 6)
    /// does. The derivative is 0 at the kinks, as frameworks do. A multiply by a chosen constant,
    /// not a choice of the result: the sign of a ReLU's input is a coin toss, and a branch on it
    /// mispredicts half the time.
    func scaleBySlope<Scalar: BinaryFloatingPoint>(
        _ gradient: UnsafeMutablePointer<Scalar>, atOutput output: UnsafePointer<Scalar>, _ range: Range<Int>
    ) {
        switch self {
        case .none: return
        case .relu: for i in range { gradient[i] *= output[i] > 0 ? 1 : 0 }
        case .relu6: for i in range { gradient[i] *= output[i] > 0 && output[i] < 6 ? 1 : 0 }
        case .leakyReLU(let slope):
            let slope = Scalar(slope)
            for i in range { gradient[i] *= output[i] > 0 ? 1 : slope }
        }
    }
}

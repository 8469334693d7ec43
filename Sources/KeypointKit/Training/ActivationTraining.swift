/// The activations over training's maps, and their derivatives for the backward pass (the
/// engine fuses them into the convolution core's output stage).
extension Activation {
    /// The activation over a whole map, written into a new array.
    func applied<Scalar: BinaryFloatingPoint>(to values: [Scalar]) -> [Scalar] {
        [Scalar](unsafeUninitializedCapacity: values.count) { output, initialized in
            values.withUnsafeBufferPointer { input in
                apply(input.baseAddress!, into: output.baseAddress!, 0..<values.count)
            }
            initialized = values.count
        }
    }

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

    /// gradient[i] *= the activation's derivative at its input `input[i]`, for i in `range`: the
    /// gradient of the output becomes that of the input. The derivative is 0 at the kinks, as
    /// frameworks do. A multiply by a chosen constant, not a choice of the result: the sign of a
    /// ReLU's input is a coin toss, and a branch on it mispredicts half the time.
    func scaleBySlope<Scalar: BinaryFloatingPoint>(
        _ gradient: UnsafeMutablePointer<Scalar>, at input: UnsafePointer<Scalar>, _ range: Range<Int>
    ) {
        switch self {
        case .none: return
        case .relu: for i in range { gradient[i] *= input[i] > 0 ? 1 : 0 }
        case .relu6: for i in range { gradient[i] *= input[i] > 0 && input[i] < 6 ? 1 : 0 }
        case .leakyReLU(let slope):
            let slope = Scalar(slope)
            for i in range { gradient[i] *= input[i] > 0 ? 1 : slope }
        }
    }
}

/// The activations over training's maps, and their derivatives for the backward pass (the
/// engine fuses them into the convolution core's output stage).
extension Activation {
    /// The activation over a whole map, written into a new array (not Array.map, which appends
    /// one element at a time and does not vectorise: 5% of a training step).
    func applied<Scalar: BinaryFloatingPoint>(to values: [Scalar]) -> [Scalar] {
        [Scalar](unsafeUninitializedCapacity: values.count) { output, initialized in
            values.withUnsafeBufferPointer { input in
                for index in input.indices { output[index] = callAsFunction(input[index]) }
            }
            initialized = values.count
        }
    }

    func callAsFunction<Scalar: BinaryFloatingPoint>(_ value: Scalar) -> Scalar {
        switch self {
        case .none: return value
        case .relu: return max(value, 0)
        case .relu6: return min(max(value, 0), 6)
        case .leakyReLU(let slope): return value > 0 ? value : value * Scalar(slope)
        }
    }

    /// The activation's derivative at its input `value` (0 at the kinks, as frameworks do).
    func slope<Scalar: BinaryFloatingPoint>(at value: Scalar) -> Scalar {
        switch self {
        case .none: return 1
        case .relu: return value > 0 ? 1 : 0
        case .relu6: return value > 0 && value < 6 ? 1 : 0
        case .leakyReLU(let slope): return value > 0 ? 1 : Scalar(slope)
        }
    }
}

/// A dense float32 tensor in row-major order. Image batches are NCHW: `shape == [n, c, h, w]` and
/// element (n, c, y, x) is at `((n * c_count + c) * h + y) * w + x`.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "tensor dimensions must not be negative")
        precondition(data.count == shape.reduce(1, *), "data must hold exactly the product of the shape")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }
}

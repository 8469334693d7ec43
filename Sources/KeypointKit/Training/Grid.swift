// Tensors of training: NCHW with a batch dimension, in the scalar being trained.

/// A dense NCHW array of any floating-point scalar.
public struct Grid<Scalar: BinaryFloatingPoint & Sendable>: Equatable, Sendable {
    public var batch: Int
    public var channels: Int
    public var height: Int
    public var width: Int
    public var values: [Scalar]

    public init(batch: Int, channels: Int, height: Int, width: Int, values: [Scalar]? = nil) {
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
        self.values = values ?? [Scalar](repeating: 0, count: batch * channels * height * width)
        precondition(self.values.count == batch * channels * height * width, "values must fill the grid")
    }

    public var plane: Int { height * width }

    func zeros() -> Grid { Grid(batch: batch, channels: channels, height: height, width: width) }

    /// A grid of this shape whose values the caller writes, every one, before reading any.
    func uninitialized() -> Grid { Grid.uninitialized(batch: batch, channels: channels, height: height, width: width) }

    /// A grid whose values the caller writes, every one, before reading any.
    static func uninitialized(batch: Int, channels: Int, height: Int, width: Int) -> Grid {
        let count = batch * channels * height * width
        return Grid(
            batch: batch, channels: channels, height: height, width: width,
            values: [Scalar](unsafeUninitializedCapacity: count) { _, initialized in initialized = count })
    }
}

/// A buffer handed to the iterations of a concurrent loop, each of which reads it or writes only
/// its own elements: Sendable by that contract, which the compiler cannot check.
struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

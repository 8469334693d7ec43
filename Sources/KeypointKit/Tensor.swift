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

extension Image {
    /// The image as a `[1, 3, height, width]` tensor, channel c holding
    /// `(sample / 255 - mean[c]) / std[c]` (`Normalization`).
    public func tensor(mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1]) -> Tensor {
        precondition(mean.count == 3 && std.count == 3, "mean and std need one value per RGB channel")
        let normalize = Normalization(mean: mean, std: std)
        let plane = width * height
        var data = [Float](repeating: 0, count: 3 * plane)
        pixels.withUnsafeBufferPointer { source in
            data.withUnsafeMutableBufferPointer { target in
                for index in 0..<plane {
                    for channel in 0..<3 {
                        target[channel * plane + index] = normalize(
                            Double(source[index * 3 + channel]), channel: channel)
                    }
                }
            }
        }
        return Tensor(shape: [1, 3, height, width], data: data)
    }

    /// Warp and tensor conversion in one pass, without an intermediate 8-bit image (so no
    /// rounding): the network input for `transform` mapping this image into `width` x `height`.
    public func warpedTensor(
        by transform: AffineTransform, width targetWidth: Int, height targetHeight: Int,
        mean: [Float] = [0, 0, 0], std: [Float] = [1, 1, 1], fill: RGB = .black
    ) -> Tensor {
        precondition(mean.count == 3 && std.count == 3, "mean and std need one value per RGB channel")
        let normalize = Normalization(mean: mean, std: std)
        let plane = targetWidth * targetHeight
        var data = [Float](repeating: 0, count: 3 * plane)
        warpSamples(by: transform, width: targetWidth, height: targetHeight, fill: fill) { index, channel, value in
            data[channel * plane + index] = normalize(value, channel: channel)
        }
        return Tensor(shape: [1, 3, targetHeight, targetWidth], data: data)
    }
}

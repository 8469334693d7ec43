/// Images as network input tensors: NCHW floats, normalised per channel (`Normalization`).
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

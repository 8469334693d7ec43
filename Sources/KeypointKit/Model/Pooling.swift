/// Max or average pooling over square windows, for the engine and for training alike. The
/// average counts only the window's pixels inside the input (padding not counted, as ONNX's
/// AveragePool with count_include_pad 0).
public struct Pooling: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case max, average }

    public var kind: Kind
    public var kernel: Int
    public var stride: Int
    public var padding: Int

    /// The output size: the same definition as a convolution's (`ConvolutionShape.outputSize`).
    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        ConvolutionShape(inChannels: 1, outChannels: 1, kernel: kernel, stride: stride, padding: padding)
            .outputSize(height: height, width: width)
    }

    /// The input rows (or columns) output index `o` reads: those of its window inside `0..<size`.
    private func window(_ o: Int, size: Int) -> Range<Int> {
        let start = o * stride - padding
        return max(start, 0)..<min(start + kernel, size)
    }

    /// Pools `maps` planes of height x width from `x` into `y`. For max pooling, `sources` (if
    /// given) receives each output's argmax as an index into `x`, for the backward pass.
    func forward<Scalar: BinaryFloatingPoint>(
        _ x: UnsafePointer<Scalar>, maps: Int, height: Int, width: Int, into y: UnsafeMutablePointer<Scalar>,
        sources: UnsafeMutablePointer<Int>? = nil
    ) {
        let (outHeight, outWidth) = outputSize(height: height, width: width)
        for map in 0..<maps {
            for oy in 0..<outHeight {
                let rows = window(oy, size: height)
                for ox in 0..<outWidth {
                    let columns = window(ox, size: width)
                    var best: Scalar = -.infinity, bestIndex = -1, total: Scalar = 0
                    for yy in rows {
                        for xx in columns {
                            let index = (map * height + yy) * width + xx
                            if x[index] > best || bestIndex < 0 { (best, bestIndex) = (x[index], index) }
                            total += x[index]
                        }
                    }
                    let output = (map * outHeight + oy) * outWidth + ox
                    if kind == .max {
                        y[output] = best
                        sources?[output] = bestIndex
                    } else {
                        y[output] = total / Scalar(max(rows.count * columns.count, 1))
                    }
                }
            }
        }
    }

    /// Adds the gradient of `forward` into `dx` (maps x height x width): max pooling routes each
    /// output's gradient to its argmax (`sources`), average pooling shares it over its window.
    func backward<Scalar: BinaryFloatingPoint>(
        _ dy: UnsafePointer<Scalar>, maps: Int, height: Int, width: Int, sources: UnsafePointer<Int>?,
        into dx: UnsafeMutablePointer<Scalar>
    ) {
        let (outHeight, outWidth) = outputSize(height: height, width: width)
        if kind == .max, let sources {
            for output in 0..<(maps * outHeight * outWidth) where sources[output] >= 0 {
                dx[sources[output]] += dy[output]
            }
            return
        }
        for map in 0..<maps {
            for oy in 0..<outHeight {
                let rows = window(oy, size: height)
                for ox in 0..<outWidth {
                    let columns = window(ox, size: width)
                    let share = dy[(map * outHeight + oy) * outWidth + ox] / Scalar(max(rows.count * columns.count, 1))
                    for yy in rows {
                        for xx in columns { dx[(map * height + yy) * width + xx] += share }
                    }
                }
            }
        }
    }
}

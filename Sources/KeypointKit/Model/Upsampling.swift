import CConvKernels

/// Bilinear upsampling by an integer factor with half-pixel centres (`align_corners=False`):
/// output pixel x samples the input at (x + 0.5) / factor - 0.5, clamped to the input. Each output
/// column's and row's two source indices and weight are found once, here; the C kernel then
/// interpolates every input row along x once and pairs of those rows along y.
final class Upsampling: @unchecked Sendable {
    let input: MapShape
    let factor: Int
    private let columns: kp_upsample_taps
    private let rows: kp_upsample_taps

    init(_ input: MapShape, factor: Int) {
        self.input = input
        self.factor = factor
        columns = Self.taps(input.width, factor: factor)
        rows = Self.taps(input.height, factor: factor)
    }

    deinit {
        for taps in [columns, rows] {
            taps.first.deallocate()
            taps.second.deallocate()
            taps.weight.deallocate()
        }
    }

    /// The bilinear taps of upsampling `size` samples by `factor`, half-pixel centres (align
    /// corners off), clamped at the edges: output index i reads the input at
    /// p = (i + 0.5) / factor - 0.5, between samples floor(p) and the next, `weight` on the next.
    /// Training's upsampling uses the same taps.
    static func bilinearTaps(_ size: Int, factor: Int) -> [(first: Int, second: Int, weight: Double)] {
        (0..<(size * factor)).map { index in
            let position = min(max((Double(index) + 0.5) / Double(factor) - 0.5, 0), Double(size - 1))
            let first = Int(position)
            return (first, min(first + 1, size - 1), position - Double(first))
        }
    }

    private static func taps(_ size: Int, factor: Int) -> kp_upsample_taps {
        let taps = bilinearTaps(size, factor: factor)
        let first = UnsafeMutablePointer<Int32>.allocate(capacity: taps.count)
        let second = UnsafeMutablePointer<Int32>.allocate(capacity: taps.count)
        let weight = UnsafeMutablePointer<Float>.allocate(capacity: taps.count)
        for (index, tap) in taps.enumerated() {
            first[index] = Int32(tap.first)
            second[index] = Int32(tap.second)
            weight[index] = Float(tap.weight)
        }
        return kp_upsample_taps(first: first, second: second, weight: weight)
    }

    /// Floats of scratch `run` needs with a pool of `threads`.
    func scratchFloats(threads: Int) -> Int { threads * input.height * input.width * factor }

    func run(
        _ source: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        pool: ThreadPool
    ) {
        withUnsafePointer(to: rows) { rows in
            withUnsafePointer(to: columns) { columns in
                kp_upsample_bilinear(
                    source, input.channels, input.height, input.width, rows, input.height * factor, columns,
                    input.width * factor, scratch, output, pool.pool)
            }
        }
    }
}

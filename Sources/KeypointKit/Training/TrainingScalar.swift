import CConvKernels
import Foundation

/// The instruction set and threads training computes with, passed to each `TrainingGraph`.
public final class TrainingCompute: Sendable {
    public let instructionSet: InstructionSet
    public let pool: ThreadPool

    /// - Parameters:
    ///   - threads: the pool's threads (default: `ThreadPool.availableCores`).
    ///   - instructionSet: default the preferred one (`InstructionSet.preferred()`), scalar if that fails.
    public init(
        threads: Int = ThreadPool.availableCores, instructionSet: InstructionSet? = nil
    ) {
        self.instructionSet = instructionSet ?? (try? InstructionSet.preferred()) ?? .scalar
        pool = ThreadPool(threads: max(threads, 1))
    }
}

/// A scalar training runs in, with how it runs the heavy operations. `Float` (training proper)
/// runs them on the convolution core's threaded SIMD kernels; `Double` on plain loops, the
/// reference the gradient tests check against central finite differences. Everything else in
/// training is generic over the scalar and the same code for both.
public protocol TrainingScalar: BinaryFloatingPoint & Sendable {
    /// C (m x n) = op(A) (m x k) * op(B) (k x n), plus C when `accumulate`. Row-major; op
    /// transposes when asked (A is then stored k x m, B n x k).
    static func multiply(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Self>, b: UnsafePointer<Self>,
        c: UnsafeMutablePointer<Self>, accumulate: Bool, on compute: TrainingCompute)

    /// Unfolds one image's group of channels: columns[(c, ky, kx)][oy * wo + ox] holds
    /// x[c][oy * stride - padding + ky][ox * stride - padding + kx] (0 outside).
    static func im2col(
        _ x: UnsafePointer<Self>, channels: Int, height: Int, width: Int, _ g: ConvolutionShape,
        into columns: UnsafeMutablePointer<Self>, on compute: TrainingCompute)

    /// The adjoint of im2col: writes each of the channels' input positions as the sum of the
    /// column entries that came from it (0 where none; what `x` held is not read).
    static func col2im(
        _ columns: UnsafePointer<Self>, channels: Int, height: Int, width: Int, _ g: ConvolutionShape,
        into x: UnsafeMutablePointer<Self>, on compute: TrainingCompute)

    /// y = conv(x; w) + bias on an optimised path; nil where there is none (im2col + GEMM then).
    static func fastConvolution(
        _ x: Grid<Self>, weights: [Self], bias: [Self]?, _ g: ConvolutionShape, on compute: TrainingCompute
    ) -> Grid<Self>?

    /// dW of a convolution over the whole batch on an optimised path; nil where there is none.
    static func fastWeightGradient(
        _ dy: Grid<Self>, input x: Grid<Self>, _ g: ConvolutionShape, on compute: TrainingCompute
    )
        -> [Self]?

    /// Bilinear upsampling (`Upsampling`'s taps) on an optimised path; nil where there is none.
    static func fastUpsample(_ x: Grid<Self>, factor: Int, on compute: TrainingCompute) -> Grid<Self>?
}

extension Double: TrainingScalar {
    public static func multiply(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Double>,
        b: UnsafePointer<Double>, c: UnsafeMutablePointer<Double>, accumulate: Bool, on compute: TrainingCompute
    ) {
        if !accumulate { c.update(repeating: 0, count: m * n) }
        for i in 0..<m {
            for p in 0..<k {
                let scale = transposeA ? a[p * m + i] : a[i * k + p]
                if scale == 0 { continue }
                let row = c + i * n
                if transposeB {
                    for j in 0..<n { row[j] += scale * b[j * k + p] }
                } else {
                    let source = b + p * n
                    for j in 0..<n { row[j] += scale * source[j] }
                }
            }
        }
    }

    public static func im2col(
        _ x: UnsafePointer<Double>, channels: Int, height: Int, width: Int, _ g: ConvolutionShape,
        into columns: UnsafeMutablePointer<Double>, on compute: TrainingCompute
    ) {
        unfolding(channels: channels, height: height, width: width, g) { column, input in
            columns[column] = input.map { x[$0] } ?? 0
        }
    }

    public static func col2im(
        _ columns: UnsafePointer<Double>, channels: Int, height: Int, width: Int, _ g: ConvolutionShape,
        into x: UnsafeMutablePointer<Double>, on compute: TrainingCompute
    ) {
        x.update(repeating: 0, count: channels * height * width)
        unfolding(channels: channels, height: height, width: width, g) { column, input in
            if let input { x[input] += columns[column] }
        }
    }

    /// Every entry of the unfolded matrix, in order, with the input index it copies (nil where
    /// the window lies in the zero padding): row (c, ky, kx), column oy * wo + ox holds
    /// x[c][oy * stride - padding + ky][ox * stride - padding + kx].
    private static func unfolding(
        channels: Int, height: Int, width: Int, _ g: ConvolutionShape, _ visit: (_ column: Int, _ input: Int?) -> Void
    ) {
        let (ho, wo) = g.outputSize(height: height, width: width)
        var column = 0
        for c in 0..<channels {
            for ky in 0..<g.kernelHeight {
                for kx in 0..<g.kernelWidth {
                    for oy in 0..<ho {
                        let y = oy * g.strideY - g.padY + ky
                        for ox in 0..<wo {
                            let xx = ox * g.strideX - g.padX + kx
                            visit(
                                column,
                                y >= 0 && y < height && xx >= 0 && xx < width ? (c * height + y) * width + xx : nil)
                            column += 1
                        }
                    }
                }
            }
        }
    }

    public static func fastConvolution(
        _ x: Grid<Double>, weights: [Double], bias: [Double]?, _ g: ConvolutionShape, on compute: TrainingCompute
    ) -> Grid<Double>? { nil }

    public static func fastWeightGradient(
        _ dy: Grid<Double>, input x: Grid<Double>, _ g: ConvolutionShape, on compute: TrainingCompute
    ) -> [Double]? { nil }

    public static func fastUpsample(_ x: Grid<Double>, factor: Int, on compute: TrainingCompute) -> Grid<Double>? {
        nil
    }
}

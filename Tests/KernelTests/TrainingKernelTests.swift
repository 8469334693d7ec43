import CConvKernels
import Foundation
import Testing
import TestSupport

@testable import KeypointKit

struct TrainingGemmTests {
    /// kp_sgemm against the plain loops in Double, every transpose combination, with and without
    /// accumulation, odd sizes around the microkernel blocks and a tall narrow product (split
    /// into bands of rows), on every ISA: within 1e-5 of the largest magnitude (fp32 sums of up
    /// to 70 products), and bit-identical on 1, 2 and 3 threads.
    /// kp_im2col and kp_col2im (Float, threaded) against the plain loops (Double): exactly equal
    /// for im2col (copies); col2im's sums of at most k*k values within 1e-6 of the largest, over
    /// images that held NaN (it writes every position).
    @Test func unfoldMatchesPlainLoops() throws {
        for (kernel, stride, padding) in [(3, 1, 1), (3, 2, 1), (1, 1, 0), (1, 2, 0), (3, 1, 0)] {
            let g = ConvolutionShape(inChannels: 5, outChannels: 1, kernel: kernel, stride: stride, padding: padding)
            let (ho, wo) = g.outputSize(height: 11, width: 9)
            let compute = TrainingCompute()
            let x = normalValues(5 * 11 * 9, seed: 7)
            var floatColumns = [Float](repeating: .nan, count: 5 * kernel * kernel * ho * wo)
            var doubleColumns = [Double](repeating: .nan, count: floatColumns.count)
            Float.im2col(x, channels: 5, height: 11, width: 9, g, into: &floatColumns, on: compute)
            Double.im2col(x.map { Double($0) }, channels: 5, height: 11, width: 9, g, into: &doubleColumns, on: compute)
            #expect(floatColumns.map { Double($0) } == doubleColumns, "im2col k\(kernel) s\(stride) p\(padding)")

            let columns = normalValues(floatColumns.count, seed: 8)
            var floatImage = [Float](repeating: .nan, count: 5 * 11 * 9)  // col2im writes every position
            var doubleImage = [Double](repeating: .nan, count: floatImage.count)
            Float.col2im(columns, channels: 5, height: 11, width: 9, g, into: &floatImage, on: compute)
            Double.col2im(
                columns.map { Double($0) }, channels: 5, height: 11, width: 9, g, into: &doubleImage, on: compute)
            let worst = zip(floatImage, doubleImage).map { abs(Double($0) - $1) }.max()!
            #expect(worst <= 1e-6 * doubleImage.map(abs).max()!, "col2im k\(kernel) s\(stride) p\(padding)")
        }
    }

    /// kp_conv_weight_gradient against the sum written out in Double, over strides, paddings,
    /// kernels, a dilation, channel counts around the microkernel blocks and a batch of three, on
    /// every ISA, every algorithm: bit-identical on 1, 2 and 3 threads, and within 1e-5 of the
    /// largest magnitude for taps and patches (fp32 sums in another order), 1e-4 for Winograd
    /// F(3x3, 4x4) (the transforms' entries, up to 8 per dimension, cost bits as in the forward
    /// F(4x4, 3x3): measured 1.0e-6 to 9.3e-6, the largest on the 60x60 case whose sums run over
    /// 10800 pixels; taps 3.4e-7 there, summed in slices of 256 pixels, 2.9e-6 when summed over all
    /// 10800 at once). The 60x60 cases take several chunks: of images for
    /// Winograd (128 tiles), of rows for patches (256 KiB of them); the stride-2 one is the stem's.
    @Test(arguments: InstructionSet.available)
    func weightGradientMatchesTheSum(isa: InstructionSet) throws {
        let pools = [1, 2, 3].map { ThreadPool(threads: $0) }
        let cases: [(ConvolutionShape, Int, Int)] = [
            (ConvolutionShape(inChannels: 5, outChannels: 13, kernel: 3, padding: 1), 9, 7),
            (ConvolutionShape(inChannels: 17, outChannels: 25, kernel: 3, stride: 2, padding: 1), 11, 8),
            (ConvolutionShape(inChannels: 40, outChannels: 12, kernel: 1), 5, 6),
            (ConvolutionShape(inChannels: 3, outChannels: 8, kernel: 5, padding: 2, dilation: 2), 9, 9),
            (ConvolutionShape(inChannels: 48, outChannels: 24, kernel: 3, padding: 0), 6, 10),
            (ConvolutionShape(inChannels: 5, outChannels: 13, kernel: 3, padding: 2), 5, 4),
            (ConvolutionShape(inChannels: 7, outChannels: 13, kernel: 3, padding: 1), 60, 60),
            (ConvolutionShape(inChannels: 5, outChannels: 24, kernel: 3, stride: 2, padding: 1), 60, 60),
        ]
        for (shape, height, width) in cases {
            let batch = 3
            let size = shape.outputSize(height: height, width: width)
            let x = normalValues(batch * shape.inChannels * height * width, seed: 11)
            let dy = normalValues(batch * shape.outChannels * size.height * size.width, seed: 12)
            let k = shape.kernelHeight
            var expected = [Double](repeating: 0, count: shape.outChannels * shape.inChannels * k * k)
            for n in 0..<batch {
                for o in 0..<shape.outChannels {
                    for c in 0..<shape.inChannels {
                        for ky in 0..<k {
                            for kx in 0..<k {
                                var sum = 0.0
                                for oy in 0..<size.height {
                                    let y = oy * shape.strideY - shape.padY + ky * shape.dilationY
                                    guard y >= 0 && y < height else { continue }
                                    for ox in 0..<size.width {
                                        let xx = ox * shape.strideX - shape.padX + kx * shape.dilationX
                                        guard xx >= 0 && xx < width else { continue }
                                        sum +=
                                            Double(
                                                dy[((n * shape.outChannels + o) * size.height + oy) * size.width + ox])
                                            * Double(x[((n * shape.inChannels + c) * height + y) * width + xx])
                                    }
                                }
                                expected[((o * shape.inChannels + c) * k + ky) * k + kx] += sum
                            }
                        }
                    }
                }
            }
            var kpShape = shape.kp
            let winograd = k == 3 && shape.strideY == 1 && shape.strideX == 1 && shape.dilationY == 1
            var algorithms = [(KP_GRADIENT_TAPS, 1e-5), (KP_GRADIENT_PATCHES, 1e-5)]
            if winograd { algorithms.append((KP_GRADIENT_WINOGRAD_F4, 1e-4)) }
            for (algorithm, tolerance) in algorithms {
                var results: [[Float]] = []
                for pool in pools {
                    var dw = [Float](repeating: .nan, count: expected.count)
                    let status = kp_conv_weight_gradient(
                        isa.kp, &kpShape, Int32(batch), Int32(height), Int32(width), x, dy, &dw, algorithm, pool.pool)
                    #expect(status == 0)
                    results.append(dw)
                }
                let error = relativeError(results[0], expected.map { Float($0) })
                #expect(error <= tolerance, "\(isa) \(algorithm) \(shape): \(error)")
                #expect(
                    results.dropFirst().allSatisfy { $0 == results[0] },
                    "\(isa) \(algorithm) \(shape): thread counts differ")
            }
            var dw = [Float](repeating: 0, count: expected.count)
            #expect(
                (kp_conv_weight_gradient(
                    isa.kp, &kpShape, Int32(batch), Int32(height), Int32(width), x, dy, &dw, KP_GRADIENT_WINOGRAD_F4,
                    nil) == 0) == winograd, "Winograd runs exactly the 3x3 stride-1 shapes")
        }
    }

    @Test(arguments: InstructionSet.available)
    func sgemmMatchesPlainLoops(isa: InstructionSet) throws {
        let pools = [2, 3].map { ThreadPool(threads: $0) }
        // 1100 columns: three column blocks of at most 512, the later ones at an offset into B's rows.
        for (m, n, k) in [(1, 1, 1), (13, 37, 9), (12, 32, 70), (25, 65, 3), (150, 20, 50), (7, 1100, 5)] {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    for accumulate in [false, true] {
                        let a = normalValues(m * k, seed: 1), b = normalValues(k * n, seed: 2)
                        var c = normalValues(m * n, seed: 3)
                        var expected = c.map { Double($0) }
                        let ad = a.map { Double($0) }, bd = b.map { Double($0) }
                        ad.withUnsafeBufferPointer { pa in
                            bd.withUnsafeBufferPointer { pb in
                                expected.withUnsafeMutableBufferPointer { pc in
                                    Double.multiply(
                                        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                        a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!,
                                        accumulate: accumulate, on: TrainingCompute(threads: 1))
                                }
                            }
                        }
                        let initial = c
                        let status = kp_sgemm(
                            isa.kp, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, transposeA ? m : k,
                            b, transposeB ? k : n, &c, n, accumulate ? 1 : 0, nil)
                        #expect(status == 0)
                        for pool in pools {
                            var threaded = initial
                            _ = kp_sgemm(
                                isa.kp, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, transposeA ? m : k,
                                b, transposeB ? k : n, &threaded, n, accumulate ? 1 : 0, pool.pool)
                            #expect(threaded == c, "\(isa) \(m)x\(n)x\(k) on \(pool.threads) threads")
                        }
                        let error = relativeError(c, expected.map { Float($0) })
                        #expect(
                            error <= 1e-5,
                            "\(isa) \(m)x\(n)x\(k) tA \(transposeA) tB \(transposeB) acc \(accumulate): \(error)")
                    }
                }
            }
        }
    }
}

import CConvKernels
import Foundation

// The layers of the network with their gradients, for training. Generic over the scalar so the
// tests check every gradient against central finite differences in Double, while training runs
// in Float. Tensors are NCHW with a batch dimension.
//
// Convolutions run as im2col + GEMM (forward; in Float, 3x3 stride-1 ones on the inference
// core's Winograd F(4x4, 3x3)), GEMMs with a transposed operand + col2im (backward); in Float
// the GEMMs run on the convolution core's microkernels.

/// The instruction set and threads training multiplies with.
enum TrainingKernels {
    static let instructionSet = (try? InstructionSet.preferred()) ?? .scalar
    static var isa: kp_isa { instructionSet.kp }
    static let pool = ThreadPool(threads: ProcessInfo.processInfo.activeProcessorCount)
}

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

/// C (m x n) = op(A) (m x k) * op(B) (k x n), plus C when `accumulate`. Row-major; op transposes
/// when asked (A is then stored k x m, B n x k). Float runs on the convolution core's
/// microkernels (kp_sgemm, threaded); other scalars (Double, for the gradient tests) on plain loops.
func matrixMultiply<Scalar: BinaryFloatingPoint>(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Scalar>, b: UnsafePointer<Scalar>,
    c: UnsafeMutablePointer<Scalar>, accumulate: Bool
) {
    if Scalar.self == Float.self {
        let status = kp_sgemm(
            TrainingKernels.isa, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k,
            UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), transposeA ? m : k,
            UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), transposeB ? k : n,
            UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), n, accumulate ? 1 : 0,
            TrainingKernels.pool.pool)
        precondition(status == 0, "out of memory in a training GEMM")
        return
    }
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

/// A buffer handed to the iterations of a concurrent loop, each of which reads it or writes only
/// its own elements: Sendable by that contract, which the compiler cannot check.
struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// Convolution geometry for training: square kernels, equal stride and padding on both axes.
struct ConvolutionGeometry {
    var inChannels: Int
    var outChannels: Int
    var kernel: Int
    var stride: Int
    var padding: Int
    var groups: Int

    func outputSize(_ height: Int, _ width: Int) -> (Int, Int) {
        ((height + 2 * padding - kernel) / stride + 1, (width + 2 * padding - kernel) / stride + 1)
    }
}

enum TrainingOps {
    /// Unfolds one image's group of channels: columns[(c, ky, kx)][oy * wo + ox]. Float runs on
    /// the C version (kp_im2col, threaded); other scalars on these loops.
    static func im2col<Scalar: BinaryFloatingPoint>(
        _ x: UnsafePointer<Scalar>, channels: Int, height: Int, width: Int, _ g: ConvolutionGeometry,
        into columns: UnsafeMutablePointer<Scalar>
    ) {
        if Scalar.self == Float.self {  // threaded C on the training pool
            kp_im2col(
                UnsafeRawPointer(x).assumingMemoryBound(to: Float.self), channels, height, width, g.kernel, g.stride,
                g.padding, UnsafeMutableRawPointer(columns).assumingMemoryBound(to: Float.self),
                TrainingKernels.pool.pool)
            return
        }
        let (ho, wo) = g.outputSize(height, width)
        var row = 0
        for c in 0..<channels {
            for ky in 0..<g.kernel {
                for kx in 0..<g.kernel {
                    let target = columns + row * ho * wo
                    for oy in 0..<ho {
                        let y = oy * g.stride - g.padding + ky
                        for ox in 0..<wo {
                            let xx = ox * g.stride - g.padding + kx
                            target[oy * wo + ox] =
                                y >= 0 && y < height && xx >= 0 && xx < width ? x[(c * height + y) * width + xx] : 0
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// The adjoint of im2col: adds each column entry back to the input position it came from
    /// (Float on kp_col2im).
    static func col2im<Scalar: BinaryFloatingPoint>(
        _ columns: UnsafePointer<Scalar>, channels: Int, height: Int, width: Int, _ g: ConvolutionGeometry,
        into x: UnsafeMutablePointer<Scalar>
    ) {
        if Scalar.self == Float.self {
            kp_col2im(
                UnsafeRawPointer(columns).assumingMemoryBound(to: Float.self), channels, height, width, g.kernel,
                g.stride, g.padding, UnsafeMutableRawPointer(x).assumingMemoryBound(to: Float.self),
                TrainingKernels.pool.pool)
            return
        }
        let (ho, wo) = g.outputSize(height, width)
        var row = 0
        for c in 0..<channels {
            for ky in 0..<g.kernel {
                for kx in 0..<g.kernel {
                    let source = columns + row * ho * wo
                    for oy in 0..<ho {
                        let y = oy * g.stride - g.padding + ky
                        guard y >= 0 && y < height else { continue }
                        for ox in 0..<wo {
                            let xx = ox * g.stride - g.padding + kx
                            if xx >= 0 && xx < width { x[(c * height + y) * width + xx] += source[oy * wo + ox] }
                        }
                    }
                    row += 1
                }
            }
        }
    }

    /// y = conv(x; w) + bias, w OIHW with I = in / groups.
    static func convolutionForward<Scalar: BinaryFloatingPoint & Sendable>(
        _ x: Grid<Scalar>, weights: [Scalar], bias: [Scalar]?, _ g: ConvolutionGeometry
    ) -> Grid<Scalar> {
        if let x = x as? Grid<Float>, let weights = weights as? [Float],
            let y = coreForward(x, weights: weights, bias: bias as? [Float], g)
        {
            return y as! Grid<Scalar>
        }
        let (ho, wo) = g.outputSize(x.height, x.width)
        var y = Grid<Scalar>(batch: x.batch, channels: g.outChannels, height: ho, width: wo)
        let groupIn = g.inChannels / g.groups, groupOut = g.outChannels / g.groups
        let k = groupIn * g.kernel * g.kernel
        var columns = [Scalar](repeating: 0, count: k * ho * wo)
        for n in 0..<x.batch {
            for group in 0..<g.groups {
                x.values.withUnsafeBufferPointer { input in
                    columns.withUnsafeMutableBufferPointer { column in
                        im2col(
                            input.baseAddress! + (n * x.channels + group * groupIn) * x.plane, channels: groupIn,
                            height: x.height, width: x.width, g, into: column.baseAddress!)
                    }
                }
                weights.withUnsafeBufferPointer { w in
                    columns.withUnsafeBufferPointer { column in
                        y.values.withUnsafeMutableBufferPointer { output in
                            matrixMultiply(
                                transposeA: false, transposeB: false, m: groupOut, n: ho * wo, k: k,
                                a: w.baseAddress! + group * groupOut * k, b: column.baseAddress!,
                                c: output.baseAddress! + (n * g.outChannels + group * groupOut) * ho * wo,
                                accumulate: false)
                        }
                    }
                }
            }
            if let bias {
                for o in 0..<g.outChannels {
                    let start = (n * g.outChannels + o) * ho * wo
                    for index in start..<(start + ho * wo) { y.values[index] += bias[o] }
                }
            }
        }
        return y
    }

    /// The forward convolution on the inference core, with the algorithm it picks there: Winograd
    /// F(4x4, 3x3) for 3x3 stride-1 layers, indirect GEMM or a plain GEMM otherwise. The weights are
    /// prepared afresh for this call (they change every step), which costs little beside skipping
    /// im2col and, for Winograd, 2.25x fewer multiplies. Nil if the core cannot run it here.
    private static func coreForward(_ x: Grid<Float>, weights: [Float], bias: [Float]?, _ g: ConvolutionGeometry)
        -> Grid<Float>?
    {
        if g.kernel == 3 && g.stride == 1 && g.padding == 1 && g.groups == 1 && x.batch > 1
            && x.height * x.width <= 1024
        {
            return stackedForward(x, weights: weights, bias: bias, g)
        }
        let shape = ConvolutionShape(
            inChannels: g.inChannels, outChannels: g.outChannels, kernel: g.kernel, stride: g.stride,
            padding: g.padding, groups: g.groups)
        guard
            let convolution = try? Convolution(
                shape: shape, weights: weights, bias: bias, instructionSet: TrainingKernels.instructionSet)
        else { return nil }
        let (ho, wo) = g.outputSize(x.height, x.width)
        var y = Grid<Float>.uninitialized(batch: x.batch, channels: g.outChannels, height: ho, width: wo)
        let workspace = UnsafeMutableRawPointer.allocate(
            byteCount: max(
                convolution.workspaceBytes(height: x.height, width: x.width, threads: TrainingKernels.pool.threads), 64),
            alignment: 64)
        defer { workspace.deallocate() }
        x.values.withUnsafeBufferPointer { input in
            y.values.withUnsafeMutableBufferPointer { output in
                for n in 0..<x.batch {
                    convolution.run(
                        input: input.baseAddress! + n * x.channels * x.plane, height: x.height, width: x.width,
                        residual: nil, output: output.baseAddress! + n * g.outChannels * ho * wo,
                        workspace: workspace, pool: TrainingKernels.pool)
                }
            }
        }
        return y
    }

    /// A 3x3 stride-1 convolution (padding 1) of a batch of small maps (at most 32x32) as one tall
    /// image: the images stacked with two zero rows between them (each image's padding), so each
    /// output row is that of its own image. Per image, a 12x12 map is 9 Winograd tiles, which the
    /// GEMMs pad to 16 columns, each call and each of its parallel phases for a handful of tiles;
    /// stacked, the batch of 16 is 168 tiles in one call. Same values to Winograd's rounding (tiles
    /// now straddle the images differently). Training steps at 192x192, width 24: 625-655 ->
    /// 541-563 ms forward+backward; including the 48x48 maps as well made no difference.
    private static func stackedForward(
        _ x: Grid<Float>, weights: [Float], bias: [Float]?, _ g: ConvolutionGeometry
    ) -> Grid<Float>? {
        let (height, width, plane) = (x.height, x.width, x.plane)
        let pitch = height + 2  // rows from one image's first row to the next's
        let tallHeight = x.batch * pitch - 2
        var tall = Grid<Float>(batch: 1, channels: x.channels, height: tallHeight, width: width)
        x.values.withUnsafeBufferPointer { source in
            tall.values.withUnsafeMutableBufferPointer { target in
                for n in 0..<x.batch {
                    for c in 0..<x.channels {
                        (target.baseAddress! + (c * tallHeight + n * pitch) * width).update(
                            from: source.baseAddress! + (n * x.channels + c) * plane, count: plane)
                    }
                }
            }
        }
        guard let stacked = coreForward(tall, weights: weights, bias: bias, g) else { return nil }
        var y = Grid<Float>.uninitialized(batch: x.batch, channels: g.outChannels, height: height, width: width)
        stacked.values.withUnsafeBufferPointer { source in
            y.values.withUnsafeMutableBufferPointer { target in
                for n in 0..<x.batch {
                    for o in 0..<g.outChannels {
                        (target.baseAddress! + (n * g.outChannels + o) * plane).update(
                            from: source.baseAddress! + (o * tallHeight + n * pitch) * width, count: plane)
                    }
                }
            }
        }
        return y
    }

    /// Gradients of convolutionForward: dx (unless `inputGradient` is false: a layer reading the
    /// network's input needs none), dw, and db when `withBias`.
    static func convolutionBackward<Scalar: BinaryFloatingPoint & Sendable>(
        _ dy: Grid<Scalar>, input x: Grid<Scalar>, weights: [Scalar], _ g: ConvolutionGeometry, withBias: Bool,
        inputGradient: Bool = true
    ) -> (dx: Grid<Scalar>?, dw: [Scalar], db: [Scalar]?) {
        // For a 3x3 stride-1 convolution with padding 1, dx is the convolution of dY with the
        // kernel turned 180 degrees and its in and out channels swapped (padding 1 again):
        //   dx[c][y][x] = sum over o, ky, kx of W[o][c][ky][kx] dY[o][y + 1 - ky][x + 1 - kx]
        // so in Float it runs on the Winograd core too, without the dColumns GEMM and col2im.
        let adjoint = ConvolutionGeometry(
            inChannels: g.outChannels, outChannels: g.inChannels, kernel: 3, stride: 1, padding: 1, groups: 1)
        var winogradDx: Grid<Scalar>?
        if inputGradient && g.kernel == 3 && g.stride == 1 && g.padding == 1 && g.groups == 1,
            let dy = dy as? Grid<Float>,
            let weights = weights as? [Float]
        {
            var turned = [Float](repeating: 0, count: weights.count)
            for o in 0..<g.outChannels {
                for c in 0..<g.inChannels {
                    for tap in 0..<9 {
                        turned[(c * g.outChannels + o) * 9 + 8 - tap] = weights[(o * g.inChannels + c) * 9 + tap]
                    }
                }
            }
            winogradDx = coreForward(dy, weights: turned, bias: nil, adjoint).map { $0 as! Grid<Scalar> }
        }
        var dx = winogradDx ?? (inputGradient ? x.zeros() : nil)
        let groupIn = g.inChannels / g.groups, groupOut = g.outChannels / g.groups
        let k = groupIn * g.kernel * g.kernel
        let pixels = dy.plane
        let dw = floatWeightGradient(dy, input: x, g) ?? unfoldedWeightGradient(dy, input: x, g)
        if inputGradient && winogradDx == nil {
            // dColumns (k x P) = W^T (k x groupOut) * dY (groupOut x P), folded back into dx.
            var columnGradient = [Scalar](repeating: 0, count: k * pixels)
            for n in 0..<x.batch {
                for group in 0..<g.groups {
                    dy.values.withUnsafeBufferPointer { gradient in
                        weights.withUnsafeBufferPointer { w in
                            columnGradient.withUnsafeMutableBufferPointer { target in
                                matrixMultiply(
                                    transposeA: true, transposeB: false, m: k, n: pixels, k: groupOut,
                                    a: w.baseAddress! + group * groupOut * k,
                                    b: gradient.baseAddress! + (n * g.outChannels + group * groupOut) * pixels,
                                    c: target.baseAddress!, accumulate: false)
                            }
                        }
                    }
                    columnGradient.withUnsafeBufferPointer { source in
                        dx!.values.withUnsafeMutableBufferPointer { target in
                            col2im(
                                source.baseAddress!, channels: groupIn, height: x.height, width: x.width, g,
                                into: target.baseAddress! + (n * x.channels + group * groupIn) * x.plane)
                        }
                    }
                }
            }
        }
        var db: [Scalar]? = nil
        if withBias {
            var sums = [Scalar](repeating: 0, count: g.outChannels)
            for n in 0..<dy.batch {
                for o in 0..<g.outChannels {
                    let start = (n * g.outChannels + o) * pixels
                    sums[o] += dy.values[start..<(start + pixels)].reduce(0, +)
                }
            }
            db = sums
        }
        return (dx, dw, db)
    }

    /// dW on the convolution core for the whole batch at once (kp_conv_weight_gradient: Winograd
    /// F(3x3, 4x4) for 3x3 stride-1 layers; else, for few input channels, one GEMM over copied
    /// receptive fields; else one GEMM per kernel tap with the input read channels-last). Nil
    /// unless Float and ungrouped.
    private static func floatWeightGradient<Scalar: BinaryFloatingPoint>(
        _ dy: Grid<Scalar>, input x: Grid<Scalar>, _ g: ConvolutionGeometry
    ) -> [Scalar]? {
        guard g.groups == 1, let x = x as? Grid<Float>, let dy = dy as? Grid<Float> else { return nil }
        var shape = ConvolutionShape(
            inChannels: g.inChannels, outChannels: g.outChannels, kernel: g.kernel, stride: g.stride,
            padding: g.padding
        ).kp
        var dw = [Float](repeating: 0, count: g.outChannels * g.inChannels * g.kernel * g.kernel)
        let status = kp_conv_weight_gradient(
            TrainingKernels.isa, &shape, Int32(x.batch), Int32(x.height), Int32(x.width), x.values, dy.values, &dw,
            KP_GRADIENT_AUTO, TrainingKernels.pool.pool)
        precondition(status == 0, "out of memory computing a weight gradient")
        return dw as? [Scalar]
    }

    /// dW from unfolded inputs, image by image: dW^T (k x groupOut) += columns (k x P) * dY^T
    /// (P x groupOut), per group, so the large columns matrix is read in its natural layout and
    /// only the small dY transposed; transposed back at the end.
    private static func unfoldedWeightGradient<Scalar: BinaryFloatingPoint>(
        _ dy: Grid<Scalar>, input x: Grid<Scalar>, _ g: ConvolutionGeometry
    ) -> [Scalar] {
        let groupIn = g.inChannels / g.groups, groupOut = g.outChannels / g.groups
        let k = groupIn * g.kernel * g.kernel
        let pixels = dy.plane
        var columns = [Scalar](repeating: 0, count: k * pixels)
        var dwTransposed = [Scalar](repeating: 0, count: g.outChannels * k)
        for n in 0..<x.batch {
            for group in 0..<g.groups {
                x.values.withUnsafeBufferPointer { input in
                    columns.withUnsafeMutableBufferPointer { column in
                        im2col(
                            input.baseAddress! + (n * x.channels + group * groupIn) * x.plane, channels: groupIn,
                            height: x.height, width: x.width, g, into: column.baseAddress!)
                    }
                }
                dy.values.withUnsafeBufferPointer { gradient in
                    columns.withUnsafeBufferPointer { column in
                        dwTransposed.withUnsafeMutableBufferPointer { weightGradient in
                            matrixMultiply(
                                transposeA: false, transposeB: true, m: k, n: groupOut, k: pixels,
                                a: column.baseAddress!,
                                b: gradient.baseAddress! + (n * g.outChannels + group * groupOut) * pixels,
                                c: weightGradient.baseAddress! + group * groupOut * k, accumulate: true)
                        }
                    }
                }
            }
        }
        var dw = [Scalar](repeating: 0, count: dwTransposed.count)
        for group in 0..<g.groups {
            let base = group * groupOut * k
            for o in 0..<groupOut {
                for p in 0..<k { dw[base + o * k + p] = dwTransposed[base + p * groupOut + o] }
            }
        }
        return dw
    }

    /// Batch normalisation in training mode, per channel over batch and pixels:
    ///   mean, var (biased) of x; xhat = (x - mean) / sqrt(var + eps); y = gamma xhat + beta.
    /// Channels run in parallel; each channel's sums go in one fixed order, so the result does not
    /// depend on the number of threads.
    static func batchNormForward<Scalar: BinaryFloatingPoint & Sendable>(
        _ x: Grid<Scalar>, gamma: [Scalar], beta: [Scalar], epsilon: Scalar
    ) -> (y: Grid<Scalar>, normalized: Grid<Scalar>, mean: [Scalar], variance: [Scalar], inverseDeviation: [Scalar]) {
        let count = Scalar(x.batch * x.plane)
        let (batch, channels, plane) = (x.batch, x.channels, x.plane)
        var moments = [Scalar](repeating: 0, count: 2 * channels)  // mean, variance of each channel
        x.values.withUnsafeBufferPointer { input in
            moments.withUnsafeMutableBufferPointer { output in
                let (xs, moment) = (Unchecked(input), Unchecked(output))
                DispatchQueue.concurrentPerform(iterations: channels) { c in
                    var sum: Scalar = 0
                    for n in 0..<batch {
                        let start = (n * channels + c) * plane
                        sum += laneSum(start..<(start + plane)) { xs.value[$0] }
                    }
                    let mean = sum / count
                    var squares: Scalar = 0
                    for n in 0..<batch {
                        let start = (n * channels + c) * plane
                        squares += laneSum(start..<(start + plane)) {
                            let d = xs.value[$0] - mean
                            return d * d
                        }
                    }
                    moment.value[2 * c] = mean
                    moment.value[2 * c + 1] = squares / count
                }
            }
        }
        let mean = (0..<channels).map { moments[2 * $0] }
        let variance = (0..<channels).map { moments[2 * $0 + 1] }
        let inverse = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var normalized = x.uninitialized()
        var y = x.uninitialized()
        x.values.withUnsafeBufferPointer { input in
            normalized.values.withUnsafeMutableBufferPointer { normalizedValues in
                y.values.withUnsafeMutableBufferPointer { output in
                    let (xs, xhat, ys) = (Unchecked(input), Unchecked(normalizedValues), Unchecked(output))
                    DispatchQueue.concurrentPerform(iterations: channels) { c in
                        for n in 0..<batch {
                            let start = (n * channels + c) * plane
                            for index in start..<(start + plane) {
                                xhat.value[index] = (xs.value[index] - mean[c]) * inverse[c]
                                ys.value[index] = gamma[c] * xhat.value[index] + beta[c]
                            }
                        }
                    }
                }
            }
        }
        return (y, normalized, mean, variance, inverse)
    }

    /// The sum of term(i) over `range` in eight interleaved partial sums (lane j takes i = j, j + 8,
    /// ...) added pairwise at the end: eight independent chains of adds, where one running sum
    /// waits out every add's latency (batch norm's sums were 5% of a training step). A fixed
    /// order, so the same on any thread.
    @inline(__always)
    static func laneSum<Scalar: BinaryFloatingPoint>(_ range: Range<Int>, _ term: (Int) -> Scalar) -> Scalar {
        var s0: Scalar = 0, s1: Scalar = 0, s2: Scalar = 0, s3: Scalar = 0
        var s4: Scalar = 0, s5: Scalar = 0, s6: Scalar = 0, s7: Scalar = 0
        var i = range.lowerBound
        while i + 8 <= range.upperBound {
            s0 += term(i)
            s1 += term(i + 1)
            s2 += term(i + 2)
            s3 += term(i + 3)
            s4 += term(i + 4)
            s5 += term(i + 5)
            s6 += term(i + 6)
            s7 += term(i + 7)
            i += 8
        }
        while i < range.upperBound {
            s0 += term(i)
            i += 1
        }
        return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    }

    /// dx = gamma * inv / N * (N dy - sum(dy) - xhat sum(dy xhat)); dgamma = sum(dy xhat); dbeta = sum(dy).
    /// Channels in parallel, as in the forward pass.
    static func batchNormBackward<Scalar: BinaryFloatingPoint & Sendable>(
        _ dy: Grid<Scalar>, normalized: Grid<Scalar>, gamma: [Scalar], inverseDeviation: [Scalar]
    ) -> (dx: Grid<Scalar>, dgamma: [Scalar], dbeta: [Scalar]) {
        let count = Scalar(dy.batch * dy.plane)
        let (batch, channels, plane) = (dy.batch, dy.channels, dy.plane)
        var sums = [Scalar](repeating: 0, count: 2 * channels)  // dgamma, dbeta of each channel
        var dx = dy.uninitialized()
        dy.values.withUnsafeBufferPointer { gradient in
            normalized.values.withUnsafeBufferPointer { normalizedValues in
                dx.values.withUnsafeMutableBufferPointer { output in
                    sums.withUnsafeMutableBufferPointer { channelSums in
                        let (dys, xhat) = (Unchecked(gradient), Unchecked(normalizedValues))
                        let (dxs, sum) = (Unchecked(output), Unchecked(channelSums))
                        DispatchQueue.concurrentPerform(iterations: channels) { c in
                            var dgamma: Scalar = 0, dbeta: Scalar = 0
                            for n in 0..<batch {
                                let start = (n * channels + c) * plane
                                dbeta += laneSum(start..<(start + plane)) { dys.value[$0] }
                                dgamma += laneSum(start..<(start + plane)) { dys.value[$0] * xhat.value[$0] }
                            }
                            let scale = gamma[c] * inverseDeviation[c] / count
                            for n in 0..<batch {
                                let start = (n * channels + c) * plane
                                for index in start..<(start + plane) {
                                    dxs.value[index] =
                                        scale * (count * dys.value[index] - dbeta - xhat.value[index] * dgamma)
                                }
                            }
                            sum.value[2 * c] = dgamma
                            sum.value[2 * c + 1] = dbeta
                        }
                    }
                }
            }
        }
        return (dx, (0..<channels).map { sums[2 * $0] }, (0..<channels).map { sums[2 * $0 + 1] })
    }

    /// The activation over a whole map, written into a new array (not Array.map, which appends
    /// one element at a time and does not vectorise: 5% of a training step).
    static func activated<Scalar: BinaryFloatingPoint>(_ values: [Scalar], _ kind: Activation) -> [Scalar] {
        [Scalar](unsafeUninitializedCapacity: values.count) { output, initialized in
            values.withUnsafeBufferPointer { input in
                for index in input.indices { output[index] = activate(input[index], kind) }
            }
            initialized = values.count
        }
    }

    static func activate<Scalar: BinaryFloatingPoint>(_ value: Scalar, _ kind: Activation) -> Scalar {
        switch kind {
        case .none: return value
        case .relu: return max(value, 0)
        case .relu6: return min(max(value, 0), 6)
        case .leakyReLU(let slope): return value > 0 ? value : value * Scalar(slope)
        }
    }

    /// The activation's derivative at its input `value` (0 at the kinks, as frameworks do).
    static func activationSlope<Scalar: BinaryFloatingPoint>(_ value: Scalar, _ kind: Activation) -> Scalar {
        switch kind {
        case .none: return 1
        case .relu: return value > 0 ? 1 : 0
        case .relu6: return value > 0 && value < 6 ? 1 : 0
        case .leakyReLU(let slope): return value > 0 ? 1 : Scalar(slope)
        }
    }

    static func upsampleForward<Scalar: BinaryFloatingPoint & Sendable>(_ x: Grid<Scalar>, factor: Int) -> Grid<Scalar>
    {
        if let x = x as? Grid<Float> {  // the inference engine's threaded C upsampling, same taps
            let upsampling = Upsampling(
                Architecture.MapShape(channels: x.batch * x.channels, height: x.height, width: x.width), factor: factor)
            var y = Grid<Float>.uninitialized(
                batch: x.batch, channels: x.channels, height: x.height * factor, width: x.width * factor)
            var scratch = [Float](repeating: 0, count: upsampling.scratchFloats(threads: TrainingKernels.pool.threads))
            x.values.withUnsafeBufferPointer { input in
                y.values.withUnsafeMutableBufferPointer { output in
                    scratch.withUnsafeMutableBufferPointer { buffer in
                        upsampling.run(
                            input.baseAddress!, into: output.baseAddress!, scratch: buffer.baseAddress!,
                            pool: TrainingKernels.pool)
                    }
                }
            }
            return y as! Grid<Scalar>
        }
        var y = Grid<Scalar>(batch: x.batch, channels: x.channels, height: x.height * factor, width: x.width * factor)
        let rows = Upsampling.bilinearTaps(x.height, factor: factor)
        let columns = Upsampling.bilinearTaps(x.width, factor: factor)
        for map in 0..<(x.batch * x.channels) {
            for (oy, row) in rows.enumerated() {
                for (ox, column) in columns.enumerated() {
                    let top = Scalar(1 - row.weight), bottom = Scalar(row.weight), left = Scalar(1 - column.weight),
                        right = Scalar(column.weight)
                    func at(_ yy: Int, _ xx: Int) -> Scalar { x.values[(map * x.height + yy) * x.width + xx] }
                    y.values[(map * y.height + oy) * y.width + ox] =
                        top * (left * at(row.first, column.first) + right * at(row.first, column.second))
                        + bottom * (left * at(row.second, column.first) + right * at(row.second, column.second))
                }
            }
        }
        return y
    }

    static func upsampleBackward<Scalar: BinaryFloatingPoint & Sendable>(_ dy: Grid<Scalar>, factor: Int) -> Grid<
        Scalar
    > {
        var dx = Grid<Scalar>(
            batch: dy.batch, channels: dy.channels, height: dy.height / factor, width: dy.width / factor)
        let rows = Upsampling.bilinearTaps(dx.height, factor: factor)
        let columns = Upsampling.bilinearTaps(dx.width, factor: factor)
        for map in 0..<(dy.batch * dy.channels) {
            for (oy, row) in rows.enumerated() {
                for (ox, column) in columns.enumerated() {
                    let gradient = dy.values[(map * dy.height + oy) * dy.width + ox]
                    let top = Scalar(1 - row.weight), bottom = Scalar(row.weight), left = Scalar(1 - column.weight),
                        right = Scalar(column.weight)
                    func add(_ yy: Int, _ xx: Int, _ weight: Scalar) {
                        dx.values[(map * dx.height + yy) * dx.width + xx] += weight * gradient
                    }
                    add(row.first, column.first, top * left)
                    add(row.first, column.second, top * right)
                    add(row.second, column.first, bottom * left)
                    add(row.second, column.second, bottom * right)
                }
            }
        }
        return dx
    }

    /// Max or average pooling (average over the window's pixels inside the input), and the
    /// argmax (index into the input) per output for max pooling.
    static func poolForward<Scalar: BinaryFloatingPoint & Sendable>(
        _ x: Grid<Scalar>, kernel: Int, stride: Int, padding: Int, isMax: Bool
    ) -> (y: Grid<Scalar>, sources: [Int]) {
        let ho = (x.height + 2 * padding - kernel) / stride + 1, wo = (x.width + 2 * padding - kernel) / stride + 1
        var y = Grid<Scalar>(batch: x.batch, channels: x.channels, height: ho, width: wo)
        var sources = [Int](repeating: -1, count: isMax ? y.values.count : 0)
        for map in 0..<(x.batch * x.channels) {
            for oy in 0..<ho {
                for ox in 0..<wo {
                    var best: Scalar = -.infinity, bestIndex = -1, total: Scalar = 0, count = 0
                    for ky in 0..<kernel {
                        let yy = oy * stride - padding + ky
                        guard yy >= 0 && yy < x.height else { continue }
                        for kx in 0..<kernel {
                            let xx = ox * stride - padding + kx
                            guard xx >= 0 && xx < x.width else { continue }
                            let index = (map * x.height + yy) * x.width + xx
                            if x.values[index] > best || bestIndex < 0 {
                                best = x.values[index]
                                bestIndex = index
                            }
                            total += x.values[index]
                            count += 1
                        }
                    }
                    let output = (map * ho + oy) * wo + ox
                    if isMax {
                        y.values[output] = best
                        sources[output] = bestIndex
                    } else {
                        y.values[output] = total / Scalar(max(count, 1))
                    }
                }
            }
        }
        return (y, sources)
    }

    static func poolBackward<Scalar: BinaryFloatingPoint & Sendable>(
        _ dy: Grid<Scalar>, input x: Grid<Scalar>, kernel: Int, stride: Int, padding: Int, sources: [Int], isMax: Bool
    ) -> Grid<Scalar> {
        var dx = x.zeros()
        if isMax {
            for (output, source) in sources.enumerated() where source >= 0 { dx.values[source] += dy.values[output] }
            return dx
        }
        for map in 0..<(x.batch * x.channels) {
            for oy in 0..<dy.height {
                for ox in 0..<dy.width {
                    var inside: [Int] = []
                    for ky in 0..<kernel {
                        let yy = oy * stride - padding + ky
                        guard yy >= 0 && yy < x.height else { continue }
                        for kx in 0..<kernel {
                            let xx = ox * stride - padding + kx
                            if xx >= 0 && xx < x.width { inside.append((map * x.height + yy) * x.width + xx) }
                        }
                    }
                    let share = dy.values[(map * dy.height + oy) * dy.width + ox] / Scalar(max(inside.count, 1))
                    for index in inside { dx.values[index] += share }
                }
            }
        }
        return dx
    }
}

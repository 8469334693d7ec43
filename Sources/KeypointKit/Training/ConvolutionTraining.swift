/// Convolution for training, over batches: forward, and backward to the input (the adjoint) and
/// the weights. Generic over the scalar: im2col + GEMM and col2im here, on the scalar's own
/// primitives, unless it has a faster path (`TrainingScalar`; Float runs on the convolution core).
/// Square kernels, equal stride and padding on both axes; w OIHW with I = in / groups.
enum ConvolutionTraining {
    /// y = conv(x; w) + bias, w OIHW with I = in / groups.
    static func forward<Scalar: TrainingScalar>(
        _ x: Grid<Scalar>, weights: [Scalar], bias: [Scalar]?, _ g: ConvolutionShape, on compute: TrainingCompute
    ) -> Grid<Scalar> {
        if let y = Scalar.fastConvolution(x, weights: weights, bias: bias, g, on: compute) { return y }
        let (ho, wo) = g.outputSize(height: x.height, width: x.width)
        var y = Grid<Scalar>(batch: x.batch, channels: g.outChannels, height: ho, width: wo)
        let groupIn = g.inChannels / g.groups, groupOut = g.outChannels / g.groups
        let k = groupIn * g.kernelHeight * g.kernelWidth
        var columns = [Scalar](repeating: 0, count: k * ho * wo)
        for n in 0..<x.batch {
            for group in 0..<g.groups {
                unfold(x, image: n, group: group, g, into: &columns, on: compute)
                weights.withUnsafeBufferPointer { w in
                    columns.withUnsafeBufferPointer { column in
                        y.values.withUnsafeMutableBufferPointer { output in
                            Scalar.multiply(
                                transposeA: false, transposeB: false, m: groupOut, n: ho * wo, k: k,
                                a: w.baseAddress! + group * groupOut * k, b: column.baseAddress!,
                                c: output.baseAddress! + (n * g.outChannels + group * groupOut) * ho * wo,
                                accumulate: false, on: compute)
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

    /// Gradients of `forward`: dx (unless `inputGradient` is false: a layer reading the
    /// network's input needs none), dw, and db when `withBias`.
    static func backward<Scalar: TrainingScalar>(
        _ dy: Grid<Scalar>, input x: Grid<Scalar>, weights: [Scalar], _ g: ConvolutionShape, withBias: Bool,
        inputGradient: Bool = true, on compute: TrainingCompute
    ) -> (dx: Grid<Scalar>?, dw: [Scalar], db: [Scalar]?) {
        // For a 3x3 stride-1 convolution with padding 1, dx is the convolution of dY with the
        // kernel turned 180 degrees and its in and out channels swapped (padding 1 again):
        //   dx[c][y][x] = sum over o, ky, kx of W[o][c][ky][kx] dY[o][y + 1 - ky][x + 1 - kx]
        // so it runs on the scalar's fast convolution (Float: the Winograd core) too, without the
        // dColumns GEMM and col2im.
        let adjoint = ConvolutionShape(
            inChannels: g.outChannels, outChannels: g.inChannels, kernel: 3, stride: 1, padding: 1)
        var fastDx: Grid<Scalar>?
        if inputGradient
            && g
                == ConvolutionShape(
                    inChannels: g.inChannels, outChannels: g.outChannels, kernel: 3, stride: 1, padding: 1)
        {
            var turned = [Scalar](repeating: 0, count: weights.count)
            for o in 0..<g.outChannels {
                for c in 0..<g.inChannels {
                    for tap in 0..<9 {
                        turned[(c * g.outChannels + o) * 9 + 8 - tap] = weights[(o * g.inChannels + c) * 9 + tap]
                    }
                }
            }
            fastDx = Scalar.fastConvolution(dy, weights: turned, bias: nil, adjoint, on: compute)
        }
        var dx = fastDx ?? (inputGradient ? x.uninitialized() : nil)  // col2im writes every plane
        let groupIn = g.inChannels / g.groups, groupOut = g.outChannels / g.groups
        let k = groupIn * g.kernelHeight * g.kernelWidth
        let pixels = dy.plane
        let dw =
            Scalar.fastWeightGradient(dy, input: x, g, on: compute)
            ?? unfoldedWeightGradient(dy, input: x, g, on: compute)
        if inputGradient && fastDx == nil {
            // dColumns (k x P) = W^T (k x groupOut) * dY (groupOut x P), folded back into dx.
            var columnGradient = [Scalar](unsafeUninitializedCapacity: k * pixels) { $1 = k * pixels }  // written whole
            for n in 0..<x.batch {
                for group in 0..<g.groups {
                    dy.values.withUnsafeBufferPointer { gradient in
                        weights.withUnsafeBufferPointer { w in
                            columnGradient.withUnsafeMutableBufferPointer { target in
                                Scalar.multiply(
                                    transposeA: true, transposeB: false, m: k, n: pixels, k: groupOut,
                                    a: w.baseAddress! + group * groupOut * k,
                                    b: gradient.baseAddress! + (n * g.outChannels + group * groupOut) * pixels,
                                    c: target.baseAddress!, accumulate: false, on: compute)
                            }
                        }
                    }
                    columnGradient.withUnsafeBufferPointer { source in
                        dx!.values.withUnsafeMutableBufferPointer { target in
                            Scalar.col2im(
                                source.baseAddress!, channels: groupIn, height: x.height, width: x.width, g,
                                into: target.baseAddress! + (n * x.channels + group * groupIn) * x.plane, on: compute)
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

    /// dW from unfolded inputs, image by image: dW^T (k x groupOut) += columns (k x P) * dY^T
    /// (P x groupOut), per group, so the large columns matrix is read in its natural layout and
    /// only the small dY transposed; transposed back at the end.
    private static func unfoldedWeightGradient<Scalar: TrainingScalar>(
        _ dy: Grid<Scalar>, input x: Grid<Scalar>, _ g: ConvolutionShape, on compute: TrainingCompute
    ) -> [Scalar] {
        let groupIn = g.inChannels / g.groups, groupOut = g.outChannels / g.groups
        let k = groupIn * g.kernelHeight * g.kernelWidth
        let pixels = dy.plane
        var columns = [Scalar](repeating: 0, count: k * pixels)
        var dwTransposed = [Scalar](repeating: 0, count: g.outChannels * k)
        for n in 0..<x.batch {
            for group in 0..<g.groups {
                unfold(x, image: n, group: group, g, into: &columns, on: compute)
                dy.values.withUnsafeBufferPointer { gradient in
                    columns.withUnsafeBufferPointer { column in
                        dwTransposed.withUnsafeMutableBufferPointer { weightGradient in
                            Scalar.multiply(
                                transposeA: false, transposeB: true, m: k, n: groupOut, k: pixels,
                                a: column.baseAddress!,
                                b: gradient.baseAddress! + (n * g.outChannels + group * groupOut) * pixels,
                                c: weightGradient.baseAddress! + group * groupOut * k, accumulate: true, on: compute)
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

    /// im2col of image `n`'s channels of `group` into `columns`.
    private static func unfold<Scalar: TrainingScalar>(
        _ x: Grid<Scalar>, image n: Int, group: Int, _ g: ConvolutionShape, into columns: inout [Scalar],
        on compute: TrainingCompute
    ) {
        let groupIn = g.inChannels / g.groups
        x.values.withUnsafeBufferPointer { input in
            columns.withUnsafeMutableBufferPointer { column in
                Scalar.im2col(
                    input.baseAddress! + (n * x.channels + group * groupIn) * x.plane, channels: groupIn,
                    height: x.height, width: x.width, g, into: column.baseAddress!, on: compute)
            }
        }
    }
}

import CConvKernels

/// Float, as training runs it: every heavy operation on the convolution core's threaded SIMD
/// kernels (the instruction set and pool of the `TrainingCompute` passed in).
extension Float: TrainingScalar {
    public static func multiply(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
        c: UnsafeMutablePointer<Float>, accumulate: Bool, on compute: TrainingCompute
    ) {
        let status = kp_sgemm(
            compute.instructionSet.kp, transposeA ? 1 : 0, transposeB ? 1 : 0, m, n, k, a, transposeA ? m : k, b,
            transposeB ? k : n, c, n, accumulate ? 1 : 0, compute.pool.pool)
        precondition(status == 0, "out of memory in a training GEMM")
    }

    public static func im2col(
        _ x: UnsafePointer<Float>, channels: Int, height: Int, width: Int, _ g: ConvolutionShape,
        into columns: UnsafeMutablePointer<Float>, on compute: TrainingCompute
    ) {
        kp_im2col(x, channels, height, width, g.kernelHeight, g.strideY, g.padY, columns, compute.pool.pool)
    }

    public static func col2im(
        _ columns: UnsafePointer<Float>, channels: Int, height: Int, width: Int, _ g: ConvolutionShape,
        into x: UnsafeMutablePointer<Float>, on compute: TrainingCompute
    ) {
        kp_col2im(columns, channels, height, width, g.kernelHeight, g.strideY, g.padY, x, compute.pool.pool)
    }

    /// The convolution on the inference core, with the algorithm it picks there: Winograd
    /// F(4x4, 3x3) for 3x3 stride-1 layers, indirect GEMM or a plain GEMM otherwise. The weights are
    /// prepared afresh for this call (they change every step), which costs little beside skipping
    /// im2col and, for Winograd, 2.25x fewer multiplies. The whole batch is one call: Winograd
    /// takes the tiles of all its images together, so a batch of 16 12x12 maps (9 tiles each,
    /// which the GEMMs would pad to 16 columns image by image) is 144 tiles. Nil if the core
    /// cannot run it here.
    public static func fastConvolution(
        _ x: Grid<Float>, weights: [Float], bias: [Float]?, _ g: ConvolutionShape, on compute: TrainingCompute
    ) -> Grid<Float>? {
        guard
            let convolution = try? Convolution(
                shape: g, weights: weights, bias: bias, instructionSet: compute.instructionSet, pool: compute.pool)
        else { return nil }
        let (ho, wo) = g.outputSize(height: x.height, width: x.width)
        var y = Grid<Float>.uninitialized(batch: x.batch, channels: g.outChannels, height: ho, width: wo)
        let workspace = UnsafeMutableRawPointer.allocate(
            byteCount: max(
                convolution.workspaceBytes(
                    batch: x.batch, height: x.height, width: x.width, threads: compute.pool.threads), 64),
            alignment: 64)
        defer { workspace.deallocate() }
        x.values.withUnsafeBufferPointer { input in
            y.values.withUnsafeMutableBufferPointer { output in
                convolution.run(
                    input: input.baseAddress!, batch: x.batch, height: x.height, width: x.width, residual: nil,
                    output: output.baseAddress!, workspace: workspace, pool: compute.pool)
            }
        }
        return y
    }

    /// dW on the convolution core for the whole batch at once (kp_conv_weight_gradient: Winograd
    /// F(3x3, 4x4) for 3x3 stride-1 layers; else, for few input channels, one GEMM over copied
    /// receptive fields; else one GEMM per kernel tap with the input read channels-last). Nil
    /// when grouped.
    public static func fastWeightGradient(
        _ dy: Grid<Float>, input x: Grid<Float>, _ g: ConvolutionShape, on compute: TrainingCompute
    ) -> [Float]? {
        guard g.groups == 1 else { return nil }
        var shape = g.kp
        var dw = [Float](repeating: 0, count: g.weightCount)
        let status = kp_conv_weight_gradient(
            compute.instructionSet.kp, &shape, Int32(x.batch), Int32(x.height), Int32(x.width), x.values, dy.values,
            &dw, KP_GRADIENT_AUTO, compute.pool.pool)
        precondition(status == 0, "out of memory computing a weight gradient")
        return dw
    }

    /// The inference engine's threaded C upsampling, same taps.
    public static func fastUpsample(_ x: Grid<Float>, factor: Int, on compute: TrainingCompute) -> Grid<Float>? {
        let upsampling = Upsampling(
            MapShape(channels: x.batch * x.channels, height: x.height, width: x.width), factor: factor)
        var y = Grid<Float>.uninitialized(
            batch: x.batch, channels: x.channels, height: x.height * factor, width: x.width * factor)
        var scratch = [Float](repeating: 0, count: upsampling.scratchFloats(threads: compute.pool.threads))
        x.values.withUnsafeBufferPointer { input in
            y.values.withUnsafeMutableBufferPointer { output in
                scratch.withUnsafeMutableBufferPointer { buffer in
                    upsampling.run(
                        input.baseAddress!, into: output.baseAddress!, scratch: buffer.baseAddress!, pool: compute.pool)
                }
            }
        }
        return y
    }
}

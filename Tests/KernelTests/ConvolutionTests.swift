import CConvKernels
import Foundation
import Testing
import TestSupport

@testable import KeypointKit

struct ConvolutionCase: CustomStringConvertible {
    var shape: ConvolutionShape
    var height: Int
    var width: Int
    var bias: Bool
    var activation: Activation
    var residual: Bool

    var description: String {
        "\(shape.inChannels)->\(shape.outChannels) k\(shape.kernelHeight) s\(shape.strideY) p\(shape.padY) "
            + "d\(shape.dilationY) g\(shape.groups) \(height)x\(width) bias \(bias) \(activation) residual \(residual)"
    }
}

/// The reference convolution (double accumulation) and the inputs of a case.
struct ConvolutionProblem {
    let testCase: ConvolutionCase
    let weights: [Float]
    let bias: [Float]?
    let input: Tensor
    let residual: Tensor?
    let expected: [Float]

    init(_ testCase: ConvolutionCase, seed: UInt64) {
        self.testCase = testCase
        let shape = testCase.shape
        weights = normalValues(shape.weightCount, seed: seed)
        bias = testCase.bias ? normalValues(shape.outChannels, seed: seed + 1) : nil
        input = Tensor(
            shape: [1, shape.inChannels, testCase.height, testCase.width],
            data: normalValues(shape.inChannels * testCase.height * testCase.width, seed: seed + 2))
        let size = shape.outputSize(height: testCase.height, width: testCase.width)
        let outputCount = shape.outChannels * size.height * size.width
        residual =
            testCase.residual
            ? Tensor(
                shape: [1, shape.outChannels, size.height, size.width], data: normalValues(outputCount, seed: seed + 3))
            : nil
        var result = [Float](repeating: 0, count: outputCount)
        var kpShape = shape.kp
        let (kind, slope): (kp_activation, Float) =
            switch testCase.activation {
            case .none: (KP_ACTIVATION_NONE, 0)
            case .relu: (KP_ACTIVATION_RELU, 0)
            case .relu6: (KP_ACTIVATION_RELU6, 0)
            case .leakyReLU(let slope): (KP_ACTIVATION_LEAKY_RELU, slope)
            }
        let (weightData, biasData, inputData, residualData) = (weights, bias, input.data, residual?.data)
        result.withUnsafeMutableBufferPointer { out in
            kp_conv_reference(
                &kpShape, weightData, biasData, kind, slope, inputData, Int32(testCase.height), Int32(testCase.width),
                residualData, out.baseAddress)
        }
        expected = result
    }

    func run(algorithm: ConvolutionAlgorithm, isa: InstructionSet, pool: ThreadPool?) throws -> [Float] {
        let convolution = try Convolution(
            shape: testCase.shape, weights: weights, bias: bias, activation: testCase.activation,
            algorithm: algorithm, instructionSet: isa, pool: pool)
        return convolution(input, residual: residual, pool: pool).data
    }
}

/// Tolerances in max|y - y_ref| / max|y_ref|. The GEMM paths sum in fp32 in a different order
/// from the double reference; Winograd also rounds its transforms (entries up to 8 in F(4x4)'s
/// AT, 32 in F(6x6)'s). Measured worst cases are in `ConvolutionAccuracyTests`; over the whole
/// shape grid F(6x6) reached 1.6e-4 (NEON, 64 channels, 33x31), hence its wider bound.
enum ConvolutionTolerance {
    static func bound(_ algorithm: ConvolutionAlgorithm) -> Double {
        switch algorithm {
        case .winogradF4, .winogradF4Small: return 1e-4
        case .winogradF6: return 5e-4
        default: return 1e-5
        }
    }
}

struct ConvolutionTests {

    /// The shapes the core must get right: sizes 1...9, 15, 16, 17, 31, 33 (square and not),
    /// channels 1, 3, 5, 17, 64, kernels 1, 3, 5, strides 1 and 2, padding 0 and 1, with and
    /// without bias, each activation, with and without residual; then groups, depthwise, dilation.
    static let cases: [ConvolutionCase] = {
        let sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 33]
        let channels = [1, 3, 5, 17, 64]
        let activations: [Activation] = [.none, .relu, .relu6, .leakyReLU(slope: 0.1)]
        var cases: [ConvolutionCase] = []
        for (index, height) in sizes.enumerated() {
            let width = index % 2 == 0 ? height : sizes[(index * 5 + 3) % sizes.count]
            for kernel in [1, 3, 5] {
                for (stride, padding) in [(1, 0), (1, 1), (2, 0), (2, 1)] {
                    let mix = index + kernel + stride + padding
                    var inChannels = channels[(index + kernel + stride) % channels.count]
                    var outChannels = channels[(index * 2 + padding + kernel) % channels.count]
                    if inChannels * outChannels * height * width > 64 * 17 * 81 {  // keep the oracle quick
                        inChannels = min(inChannels, 17)
                        outChannels = min(outChannels, 17)
                    }
                    cases.append(
                        ConvolutionCase(
                            shape: ConvolutionShape(
                                inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride,
                                padding: padding),
                            height: height, width: width, bias: mix % 2 == 0, activation: activations[mix % 4],
                            residual: mix % 3 == 0))
                }
            }
        }
        // Winograd with many channels, and tiles cut by the image edge.
        for (height, width) in [(16, 16), (17, 9), (33, 31)] {
            cases.append(
                ConvolutionCase(
                    shape: ConvolutionShape(inChannels: 64, outChannels: 64, kernel: 3, padding: 1),
                    height: height, width: width, bias: true, activation: .relu, residual: true))
        }
        let grouped: [(ConvolutionShape, Int)] = [
            (ConvolutionShape(inChannels: 6, outChannels: 9, kernel: 3, padding: 1, groups: 3), 9),
            (ConvolutionShape(inChannels: 17, outChannels: 17, kernel: 3, stride: 2, padding: 1, groups: 17), 15),
            (ConvolutionShape(inChannels: 64, outChannels: 64, kernel: 3, padding: 1, groups: 64), 16),
            (ConvolutionShape(inChannels: 8, outChannels: 16, kernel: 5, padding: 2, groups: 8), 7),
            (ConvolutionShape(inChannels: 5, outChannels: 17, kernel: 3, padding: 2, dilation: 2), 17),
            // 20 and 64 output channels: a last GEMM panel of 8 and of 4 rows (panels of 12 on AVX-512).
            (ConvolutionShape(inChannels: 17, outChannels: 20, kernel: 3, stride: 2, padding: 1), 33),
            (ConvolutionShape(inChannels: 9, outChannels: 64, kernel: 1), 9),
            // 1x1 in blocks of B and C that fit L2 together: 576 pixels are blocks of 512 and 64.
            (ConvolutionShape(inChannels: 64, outChannels: 64, kernel: 1), 24),
            // Stride 2 splits rows into two phases, whole vectors then a tail: even padding (the
            // even columns land in phase 0) and rows of 35 and 70 (17 and 35 pairs).
            (ConvolutionShape(inChannels: 5, outChannels: 12, kernel: 5, stride: 2, padding: 2), 35),
            (ConvolutionShape(inChannels: 3, outChannels: 8, kernel: 3, stride: 2, padding: 1), 70),
            // 12-pixel output rows: GEMMs over bands of rows copied end to end where a row would
            // pad the microkernel's columns (4 rows a band against AVX-512's 16), as in a model's
            // last stride-2 layer.
            (ConvolutionShape(inChannels: 24, outChannels: 40, kernel: 3, stride: 2, padding: 1), 24),
        ]
        for (shape, size) in grouped {
            cases.append(
                ConvolutionCase(shape: shape, height: size, width: size, bias: true, activation: .relu6, residual: true)
            )
        }
        return cases
    }()

    static func algorithms(for shape: ConvolutionShape) -> [ConvolutionAlgorithm] {
        var algorithms: [ConvolutionAlgorithm] = [.indirectGEMM]
        var kpShape = shape.kp
        if kp_conv_choose_algorithm(&kpShape) == KP_ALGORITHM_GEMM_1X1 { algorithms.append(.gemm1x1) }
        if shape.groups == 1 && shape.kernelHeight == 3 && shape.strideY == 1 && shape.dilationY == 1 {
            algorithms += [.winogradF4, .winogradF6, .winogradF4Small]
        }
        return algorithms
    }

    /// Every case on every instruction set this machine runs, every algorithm that applies, and
    /// 1, 2 and 3 threads (preparing the weights and running): within the algorithm's tolerance of
    /// the double reference, and bit-identical across thread counts.
    @Test(arguments: InstructionSet.available)
    func matchesTheReference(isa: InstructionSet) throws {
        let pools = [1, 2, 3].map { ThreadPool(threads: $0) }  // a pool serves one call at a time
        for (index, testCase) in Self.cases.enumerated() {
            let problem = ConvolutionProblem(testCase, seed: UInt64(index * 10))
            for algorithm in Self.algorithms(for: testCase.shape) {
                let single = try problem.run(algorithm: algorithm, isa: isa, pool: pools[0])
                let error = relativeError(single, problem.expected)
                #expect(
                    error <= ConvolutionTolerance.bound(algorithm),
                    "\(isa) \(algorithm) \(testCase): error \(error)")
                for pool in pools.dropFirst() {
                    let identical = try problem.run(algorithm: algorithm, isa: isa, pool: pool) == single
                    #expect(identical, "\(isa) \(algorithm) \(testCase): \(pool.threads) threads differ")
                }
            }
        }
    }

    /// A batch in one call: every image within the algorithm's tolerance of the double reference,
    /// for every algorithm on every instruction set, at 1 and 2 threads, and bit-identical across
    /// thread counts. (Against a call per image it agrees to rounding, not bit for bit: a tile's
    /// lane in the transforms' vectors moves, and AVX2's and SSE's scalar tails round without
    /// FMA.) Winograd numbers the batch's tiles together, so its blocks, and the input rows a
    /// block copies with their zero margins, run across the images' edges: 12x12 and 13x11 maps
    /// (9 and 12 tiles, several images to a block), 24x24 (36 tiles, blocks ending mid-image),
    /// 5x7 and 4x4, with a residual and an activation.
    @Test(arguments: InstructionSet.available)
    func batchMatchesTheReference(isa: InstructionSet) throws {
        let cases = [
            (64, 64, 12, 12, 5), (24, 40, 13, 11, 4), (128, 96, 24, 24, 3), (17, 33, 5, 7, 3), (8, 8, 4, 4, 6),
        ]
        for (index, (inChannels, outChannels, height, width, batch)) in cases.enumerated() {
            let shape = ConvolutionShape(inChannels: inChannels, outChannels: outChannels, kernel: 3, padding: 1)
            let seed = UInt64(1000 + index * 10)
            let weights = normalValues(shape.weightCount, seed: seed)
            let bias = normalValues(outChannels, seed: seed + 1)
            let inFloats = inChannels * height * width, outFloats = outChannels * height * width
            let input = normalValues(batch * inFloats, seed: seed + 2)
            let residual = normalValues(batch * outFloats, seed: seed + 3)
            var expected = [Float](repeating: 0, count: batch * outFloats)
            var kpShape = shape.kp
            expected.withUnsafeMutableBufferPointer { y in
                for n in 0..<batch {
                    let image = Array(input[(n * inFloats)...]), imageResidual = Array(residual[(n * outFloats)...])
                    kp_conv_reference(
                        &kpShape, weights, bias, KP_ACTIVATION_LEAKY_RELU, 0.1, image, Int32(height), Int32(width),
                        imageResidual, y.baseAddress! + n * outFloats)
                }
            }
            for algorithm in Self.algorithms(for: shape) {
                var outputs: [[Float]] = []
                for threads in [1, 2] {
                    let pool = ThreadPool(threads: threads)
                    let convolution = try Convolution(
                        shape: shape, weights: weights, bias: bias, activation: .leakyReLU(slope: 0.1),
                        algorithm: algorithm, instructionSet: isa, pool: pool)
                    let bytes = convolution.workspaceBytes(batch: batch, height: height, width: width, threads: threads)
                    let workspace = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
                    defer { workspace.deallocate() }
                    var output = [Float](repeating: .nan, count: batch * outFloats)
                    output.withUnsafeMutableBufferPointer { y in
                        convolution.run(
                            input: input, batch: batch, height: height, width: width, residual: residual,
                            output: y.baseAddress!, workspace: workspace, pool: pool)
                    }
                    outputs.append(output)
                }
                let label = "\(isa) \(algorithm) \(inChannels)->\(outChannels) \(height)x\(width) x\(batch)"
                for n in 0..<batch {
                    let image = (n * outFloats)..<((n + 1) * outFloats)
                    let error = relativeError(Array(outputs[0][image]), Array(expected[image]))
                    #expect(error <= ConvolutionTolerance.bound(algorithm), "\(label), image \(n): error \(error)")
                }
                #expect(!outputs[0].contains { $0.isNaN }, "\(label): values left unwritten")
                #expect(outputs[0] == outputs[1], "\(label): 2 threads differ from 1")
            }
        }
    }

    @Test func autoChoosesByShape() throws {
        func chosen(_ shape: ConvolutionShape) throws -> ConvolutionAlgorithm {
            try Convolution(shape: shape, weights: [Float](repeating: 0, count: shape.weightCount)).algorithm
        }
        #expect(try chosen(ConvolutionShape(inChannels: 64, outChannels: 64, kernel: 3, padding: 1)) == .winogradF4)
        #expect(
            try chosen(ConvolutionShape(inChannels: 5, outChannels: 32, kernel: 3, stride: 2, padding: 1))
                == .indirectGEMM)
        #expect(try chosen(ConvolutionShape(inChannels: 64, outChannels: 128, kernel: 1)) == .gemm1x1)
        #expect(try chosen(ConvolutionShape(inChannels: 3, outChannels: 64, kernel: 3, padding: 1)) == .indirectGEMM)
    }

    /// With the map known: a 12x12 map of 192 channels is 9 Winograd tiles, which AVX-512's
    /// microkernel (12 rows, a 9-row version; 32 columns, a 16-column one) computes as 9 x 192
    /// multiply-adds a depth step with the tiles as rows against 192 x 16 as columns. A 16x16 map
    /// (16 tiles, two panels of rows), AVX2's 6-row kernel and NEON's 8-row one (the C driver
    /// checks NEON) keep the columns.
    @Test func smallMapsTurnTheWinogradGEMMsOver() {
        let wide = ConvolutionShape(inChannels: 192, outChannels: 192, kernel: 3, padding: 1)
        if InstructionSet.avx512.isAvailable {
            #expect(
                ConvolutionAlgorithm.forSize(wide, height: 12, width: 12, instructionSet: .avx512) == .winogradF4Small)
            #expect(ConvolutionAlgorithm.forSize(wide, height: 16, width: 16, instructionSet: .avx512) == .winogradF4)
        }
        if InstructionSet.avx2.isAvailable {
            #expect(ConvolutionAlgorithm.forSize(wide, height: 12, width: 12, instructionSet: .avx2) == .winogradF4)
        }
        let strided = ConvolutionShape(inChannels: 192, outChannels: 192, kernel: 3, stride: 2, padding: 1)
        #expect(ConvolutionAlgorithm.forSize(strided, height: 12, width: 12, instructionSet: .scalar) == .indirectGEMM)
    }

    @Test func invalidShapesAndAlgorithmsAreErrors() {
        #expect(throws: ConvolutionError.self) {
            try Convolution(shape: ConvolutionShape(inChannels: 6, outChannels: 4, kernel: 3, groups: 4), weights: [])
        }
        let strided = ConvolutionShape(inChannels: 8, outChannels: 8, kernel: 3, stride: 2)
        #expect(throws: ConvolutionError.self) {
            try Convolution(
                shape: strided, weights: [Float](repeating: 0, count: strided.weightCount), algorithm: .winogradF4)
        }
        #expect(throws: ConvolutionError.self) {
            try Convolution(shape: strided, weights: [1, 2, 3])
        }
    }
}

/// The transforms against their explicit matrices, in double: V = BT d B and Y = AT m A.
struct WinogradTransformTests {
    static func multiply(_ a: [Double], _ rowsA: Int, _ colsA: Int, _ b: [Double], _ colsB: Int) -> [Double] {
        var c = [Double](repeating: 0, count: rowsA * colsB)
        for i in 0..<rowsA {
            for j in 0..<colsB {
                for k in 0..<colsA { c[i * colsB + j] += a[i * colsA + k] * b[k * colsB + j] }
            }
        }
        return c
    }

    static func transpose(_ a: [Double], _ rows: Int, _ cols: Int) -> [Double] {
        (0..<(cols * rows)).map { index in a[(index % rows) * cols + index / rows] }
    }

    static func matrices(tile: Int) -> (bt: [Double], g: [Double], at: [Double]) {
        func doubles<T>(_ tuple: T, _ type: Float.Type) -> [Double] {
            withUnsafeBytes(of: tuple) { Array($0.bindMemory(to: Float.self)) }.map { Double($0) }
        }
        if tile == 6 {
            return (
                doubles(kp_winograd_f6_bt, Float.self),
                withUnsafeBytes(of: kp_winograd_f6_g) { Array($0.bindMemory(to: Double.self)) },
                doubles(kp_winograd_f6_at, Float.self)
            )
        }
        return (
            doubles(kp_winograd_f4_bt, Float.self),
            withUnsafeBytes(of: kp_winograd_f4_g) { Array($0.bindMemory(to: Double.self)) },
            doubles(kp_winograd_f4_at, Float.self)
        )
    }

    @Test(arguments: InstructionSet.available, [4, 6])
    func inputTransform(isa: InstructionSet, tile: Int) {
        let n = tile + 2
        let bt = Self.matrices(tile: tile).bt
        for seed in 0..<20 {
            let d = normalValues(n * n, seed: UInt64(seed))
            let expected = Self.multiply(
                Self.multiply(bt, n, n, d.map { Double($0) }, n), n, n, Self.transpose(bt, n, n), n)
            var v = [Float](repeating: 0, count: n * n)
            kp_winograd_input_tile(isa.kp, Int32(tile), d, &v)
            let error = zip(v, expected).map { abs(Double($0) - $1) }.max()!
            #expect(error <= 1e-5 * (expected.map(abs).max()!), "\(isa) F(\(tile)): \(error)")
        }
    }

    @Test(arguments: InstructionSet.available, [4, 6])
    func outputTransform(isa: InstructionSet, tile: Int) {
        let n = tile + 2
        let at = Self.matrices(tile: tile).at
        for seed in 0..<20 {
            let m = normalValues(n * n, seed: UInt64(100 + seed))
            let expected = Self.multiply(
                Self.multiply(at, tile, n, m.map { Double($0) }, n), tile, n, Self.transpose(at, tile, n), tile)
            var y = [Float](repeating: 0, count: tile * tile)
            kp_winograd_output_tile(isa.kp, Int32(tile), m, &y)
            let error = zip(y, expected).map { abs(Double($0) - $1) }.max()!
            #expect(error <= 1e-5 * (expected.map(abs).max()!), "\(isa) F(\(tile)): \(error)")
        }
    }

    /// G g GT followed by the transforms equals direct correlation of one tile: the three matrices
    /// together compute an m x m output of a 3x3 kernel.
    @Test(arguments: [4, 6])
    func matricesComputeTheConvolution(tile: Int) {
        let n = tile + 2
        let (bt, g, at) = Self.matrices(tile: tile)
        let d = normalValues(n * n, seed: 7).map { Double($0) }
        let kernel = normalValues(9, seed: 8).map { Double($0) }
        let u = Self.multiply(Self.multiply(g, n, 3, kernel, 3), n, 3, Self.transpose(g, n, 3), n)
        let v = Self.multiply(Self.multiply(bt, n, n, d, n), n, n, Self.transpose(bt, n, n), n)
        let m = zip(u, v).map { $0 * $1 }
        let y = Self.multiply(Self.multiply(at, tile, n, m, n), tile, n, Self.transpose(at, tile, n), tile)
        for row in 0..<tile {
            for column in 0..<tile {
                var direct = 0.0
                for ky in 0..<3 {
                    for kx in 0..<3 { direct += kernel[ky * 3 + kx] * d[(row + ky) * n + column + kx] }
                }
                #expect(abs(y[row * tile + column] - direct) < 1e-9, "F(\(tile)) at (\(row), \(column))")
            }
        }
    }
}

/// The error of each algorithm where it is largest in practice: 256 input channels of N(0,1)
/// inputs and weights, measured as max|y - y_ref| / max|y_ref| against the double reference.
/// Measured worst over the ISAs on the development machine (AMD EPYC, AVX-512):
///   indirect-gemm 3x3: 1.7e-6 and gemm-1x1: 4.7e-7 (bound 1e-5); winograd-f4: 1.3e-5 (bound 1e-4);
///   winograd-f6: 1.4e-5 (bound 5e-4).
/// Scalar and SSE round identically (multiply, then add); AVX2 and AVX-512 use FMA.
struct ConvolutionAccuracyTests {
    @Test(arguments: InstructionSet.available)
    func errorWith256InputChannels(isa: InstructionSet) throws {
        let cases: [(ConvolutionShape, ConvolutionAlgorithm)] = [
            (ConvolutionShape(inChannels: 256, outChannels: 16, kernel: 3, padding: 1), .indirectGEMM),
            (ConvolutionShape(inChannels: 256, outChannels: 16, kernel: 3, padding: 1), .winogradF4),
            (ConvolutionShape(inChannels: 256, outChannels: 16, kernel: 3, padding: 1), .winogradF6),
            (ConvolutionShape(inChannels: 256, outChannels: 16, kernel: 1), .gemm1x1),
        ]
        for (index, (shape, algorithm)) in cases.enumerated() {
            let problem = ConvolutionProblem(
                ConvolutionCase(shape: shape, height: 16, width: 16, bias: false, activation: .none, residual: false),
                seed: UInt64(1000 + index))
            let error = relativeError(try problem.run(algorithm: algorithm, isa: isa, pool: nil), problem.expected)
            print("accuracy \(isa) \(algorithm.rawValue): \(error)")
            #expect(error <= ConvolutionTolerance.bound(algorithm), "\(isa) \(algorithm): \(error)")
        }
    }
}

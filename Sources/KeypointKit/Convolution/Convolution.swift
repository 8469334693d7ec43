import CConvKernels

/// The SIMD instruction set the convolution kernels run on.
public enum InstructionSet: String, CaseIterable, Sendable {
    case scalar, sse, avx2, avx512, neon

    var kp: kp_isa {
        switch self {
        case .scalar: return KP_ISA_SCALAR
        case .sse: return KP_ISA_SSE
        case .avx2: return KP_ISA_AVX2
        case .avx512: return KP_ISA_AVX512
        case .neon: return KP_ISA_NEON
        }
    }

    /// Whether this CPU (and build) can run it.
    public var isAvailable: Bool { kp_isa_available(kp) != 0 }

    /// Every instruction set this machine can run, scalar first.
    public static var available: [InstructionSet] { allCases.filter(\.isAvailable) }

    /// The fastest available one, or the one the environment variable KEYPOINTS_ISA names.
    /// - Throws: `ConvolutionError.unavailableInstructionSet` when KEYPOINTS_ISA names an unknown one
    ///   or one this machine cannot run.
    public static func preferred() throws -> InstructionSet {
        var isa = KP_ISA_SCALAR
        var message = [CChar](repeating: 0, count: 256)
        guard kp_isa_default(&isa, &message) == 0 else {
            throw ConvolutionError.unavailableInstructionSet(cMessage(message))
        }
        return allCases.first { $0.kp == isa } ?? .scalar
    }
}

public enum Activation: Equatable, Sendable {
    case none
    case relu
    case relu6
    case leakyReLU(slope: Float)
}

public enum ConvolutionAlgorithm: String, CaseIterable, Sendable {
    /// Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions with at least 8 channels in and out,
    /// a single GEMM for unpadded 1x1 stride-1 ones, indirect GEMM (B's rows point into the
    /// padded input, no im2col copy) for everything else.
    /// F(6x6, 3x3) is available but not chosen automatically yet (it measures slower).
    case auto
    case indirectGEMM = "indirect-gemm"
    case gemm1x1 = "gemm-1x1"
    case winogradF4 = "winograd-f4"
    case winogradF6 = "winograd-f6"
    /// F(4x4, 3x3) for maps of few tiles (a 12x12 map is 9): the tiles are the GEMMs' rows and
    /// the output channels their columns, so the microkernel computes less padding. Chosen by
    /// `forSize` where it does, never by `auto` (which does not know the map).
    case winogradF4Small = "winograd-f4-small"

    var kp: kp_algorithm {
        switch self {
        case .auto: return KP_ALGORITHM_AUTO
        case .indirectGEMM: return KP_ALGORITHM_INDIRECT_GEMM
        case .gemm1x1: return KP_ALGORITHM_GEMM_1X1
        case .winogradF4: return KP_ALGORITHM_WINOGRAD_F4
        case .winogradF6: return KP_ALGORITHM_WINOGRAD_F6
        case .winogradF4Small: return KP_ALGORITHM_WINOGRAD_F4_SMALL
        }
    }

    /// The algorithm for `shape` on inputs of `height` x `width` on `instructionSet`: `auto`'s,
    /// or `winogradF4Small` where the map has so few tiles that it computes less padding.
    public static func forSize(
        _ shape: ConvolutionShape, height: Int, width: Int, instructionSet: InstructionSet
    ) -> ConvolutionAlgorithm {
        var kpShape = shape.kp
        return ConvolutionAlgorithm(
            kp_conv_choose_algorithm_for_size(&kpShape, Int32(height), Int32(width), instructionSet.kp))
    }

    init(_ algorithm: kp_algorithm) {
        self = Self.allCases.first { $0.kp == algorithm } ?? .auto
    }
}

public enum ConvolutionError: Error, Equatable, CustomStringConvertible {
    case unavailableInstructionSet(String)
    case invalid(String)

    public var description: String {
        switch self {
        case .unavailableInstructionSet(let message), .invalid(let message): return message
        }
    }
}

/// A 2D convolution layer's geometry. Padding is the same on both sides.
public struct ConvolutionShape: Equatable, Sendable {
    public var inChannels: Int
    public var outChannels: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var strideY: Int
    public var strideX: Int
    public var padY: Int
    public var padX: Int
    public var dilationY: Int
    public var dilationX: Int
    public var groups: Int

    public init(
        inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
        groups: Int = 1
    ) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        kernelHeight = kernel
        kernelWidth = kernel
        strideY = stride
        strideX = stride
        padY = padding
        padX = padding
        dilationY = dilation
        dilationX = dilation
        self.groups = groups
    }

    var kp: kp_conv_shape {
        kp_conv_shape(
            in_channels: Int32(inChannels), out_channels: Int32(outChannels), kernel_h: Int32(kernelHeight),
            kernel_w: Int32(kernelWidth), stride_h: Int32(strideY), stride_w: Int32(strideX), pad_h: Int32(padY),
            pad_w: Int32(padX), dilation_h: Int32(dilationY), dilation_w: Int32(dilationX), groups: Int32(groups))
    }

    /// Weights per output channel times output channels: the OIHW weight count.
    public var weightCount: Int { outChannels * inChannels / groups * kernelHeight * kernelWidth }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        var shape = kp
        var outHeight: Int32 = 0
        var outWidth: Int32 = 0
        kp_conv_output_size(&shape, Int32(height), Int32(width), &outHeight, &outWidth)
        return (Int(outHeight), Int(outWidth))
    }
}

/// A pool of threads the convolutions split their work over. One pool serves one call at a time.
public final class ThreadPool: @unchecked Sendable {
    let pool: OpaquePointer
    public let threads: Int

    public init(threads: Int) {
        precondition(threads >= 1, "a thread pool needs at least one thread")
        pool = kp_threadpool_create(Int32(threads))
        self.threads = Int(kp_threadpool_threads(pool))
    }

    deinit { kp_threadpool_destroy(pool) }

    /// Runs `body(item)` for every item in `0..<count` on the pool's threads, the caller's among
    /// them, and returns when all are done. Items may run in any order and at the same time, so
    /// each must write only its own part of any shared buffer.
    ///
    /// The items go out in contiguous runs, eight per thread: each call of the closure from C
    /// retains and releases its context, and with one call per item both cores did so on the
    /// same counter thousands of times a layer (`swift_release` 28 -> 518 samples of a training
    /// step from one core to two).
    func forEach(_ count: Int, _ body: (Int) -> Void) {
        guard count > 0 else { return }
        withoutActuallyEscaping(body) { body in
            let runs = min(count, 8 * threads)
            var job = (body: body, count: count, runs: runs)
            withUnsafeMutablePointer(to: &job) { context in
                kp_parallel_for(
                    pool, runs,
                    { context, run, _ in
                        let job = context!.assumingMemoryBound(to: ((Int) -> Void, count: Int, runs: Int).self)
                        let (body, count, runs) = job.pointee
                        for item in (Int(run) * count / runs)..<((Int(run) + 1) * count / runs) { body(item) }
                    }, context)
            }
        }
    }

    /// The cores this process may run on, the default thread count everywhere: its CPU affinity
    /// on Linux (`taskset`, a Slurm job's or a container's cpuset), else every online core. More
    /// threads than that would only take turns on the same cores.
    public static let availableCores = Int(kp_available_cores())
}

/// A convolution prepared for one instruction set: weights (OIHW) transformed and packed once.
/// Activations are NCHW, a batch of images per call (`run(input:batch:...)`; one through
/// `callAsFunction`): `y = activation(conv(x) + bias + residual)`.
public final class Convolution: @unchecked Sendable {
    public let shape: ConvolutionShape
    public let algorithm: ConvolutionAlgorithm
    public let instructionSet: InstructionSet
    let conv: OpaquePointer

    /// - Parameter pool: threads for the Winograd weight transform (default: the calling thread).
    /// - Throws: `ConvolutionError` when the shape is invalid, the algorithm cannot run it, or the
    ///   instruction set is not available here.
    public init(
        shape: ConvolutionShape, weights: [Float], bias: [Float]? = nil, activation: Activation = .none,
        algorithm: ConvolutionAlgorithm = .auto, instructionSet: InstructionSet? = nil, pool: ThreadPool? = nil
    ) throws {
        guard weights.count == shape.weightCount else {
            throw ConvolutionError.invalid(
                "expected \(shape.weightCount) weights (OIHW) for this shape, got \(weights.count)")
        }
        guard bias == nil || bias!.count == shape.outChannels else {
            throw ConvolutionError.invalid("expected \(shape.outChannels) bias values, got \(bias!.count)")
        }
        let isa = try instructionSet ?? InstructionSet.preferred()
        guard isa.isAvailable else {
            throw ConvolutionError.unavailableInstructionSet("this CPU or build cannot run \(isa.rawValue) kernels")
        }
        var kpShape = shape.kp
        var message = [CChar](repeating: 0, count: 256)
        let (kind, slope) = Self.activation(activation)
        let created: OpaquePointer? = weights.withUnsafeBufferPointer { weightBuffer in
            if let bias {
                return bias.withUnsafeBufferPointer {
                    kp_conv_create(
                        &kpShape, weightBuffer.baseAddress, $0.baseAddress, kind, slope, algorithm.kp, isa.kp,
                        pool?.pool,
                        &message)
                }
            }
            return kp_conv_create(
                &kpShape, weightBuffer.baseAddress, nil, kind, slope, algorithm.kp, isa.kp, pool?.pool, &message)
        }
        guard let created else { throw ConvolutionError.invalid(cMessage(message)) }
        conv = created
        self.shape = shape
        self.instructionSet = isa
        self.algorithm = ConvolutionAlgorithm(kp_conv_algorithm(created))
    }

    deinit { kp_conv_destroy(conv) }

    private static func activation(_ activation: Activation) -> (kp_activation, Float) {
        switch activation {
        case .none: return (KP_ACTIVATION_NONE, 0)
        case .relu: return (KP_ACTIVATION_RELU, 0)
        case .relu6: return (KP_ACTIVATION_RELU6, 0)
        case .leakyReLU(let slope): return (KP_ACTIVATION_LEAKY_RELU, slope)
        }
    }

    /// Bytes of scratch memory `run` needs for this batch, input size and thread count.
    public func workspaceBytes(batch: Int = 1, height: Int, width: Int, threads: Int) -> Int {
        kp_conv_workspace_size(conv, Int32(batch), Int32(height), Int32(width), Int32(threads))
    }

    /// The convolution on raw buffers: `input` is batch x inChannels x height x width, `output`
    /// (and `residual`, if any) batch x outChannels x outputHeight x outputWidth; `workspace`
    /// holds at least `workspaceBytes` bytes, 64-byte aligned. No allocation.
    public func run(
        input: UnsafePointer<Float>, batch: Int = 1, height: Int, width: Int, residual: UnsafePointer<Float>?,
        output: UnsafeMutablePointer<Float>, workspace: UnsafeMutableRawPointer, pool: ThreadPool?
    ) {
        kp_conv_run(conv, input, Int32(batch), Int32(height), Int32(width), residual, output, workspace, pool?.pool)
    }

    /// The convolution of a [1, inChannels, H, W] tensor.
    public func callAsFunction(_ input: Tensor, residual: Tensor? = nil, pool: ThreadPool? = nil) -> Tensor {
        precondition(
            input.shape.count == 4 && input.shape[0] == 1 && input.shape[1] == shape.inChannels,
            "input must be [1, \(shape.inChannels), H, W]")
        let height = input.shape[2]
        let width = input.shape[3]
        let size = shape.outputSize(height: height, width: width)
        let outputShape = [1, shape.outChannels, size.height, size.width]
        precondition(residual == nil || residual!.shape == outputShape, "residual must be shaped like the output")
        var output = Tensor(zeros: outputShape)
        let bytes = max(workspaceBytes(height: height, width: width, threads: pool?.threads ?? 1), 64)
        let workspace = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { workspace.deallocate() }
        input.data.withUnsafeBufferPointer { inputBuffer in
            output.data.withUnsafeMutableBufferPointer { outputBuffer in
                if let residual {
                    residual.data.withUnsafeBufferPointer {
                        run(
                            input: inputBuffer.baseAddress!, height: height, width: width, residual: $0.baseAddress,
                            output: outputBuffer.baseAddress!, workspace: workspace, pool: pool)
                    }
                } else {
                    run(
                        input: inputBuffer.baseAddress!, height: height, width: width, residual: nil,
                        output: outputBuffer.baseAddress!, workspace: workspace, pool: pool)
                }
            }
        }
        return output
    }
}

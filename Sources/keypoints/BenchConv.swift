import ArgumentParser
import Foundation
import KeypointKit

/// The layer shapes of ../shared/bench/peers (bench_conv.py), so our figures compare one to one.
struct BenchShape {
    var name: String
    var inChannels: Int
    var outChannels: Int
    var size: Int
    var kernel: Int
    var stride: Int
    var padding: Int

    static let peers: [BenchShape] = [
        BenchShape(name: "a_32x32_128", inChannels: 32, outChannels: 32, size: 128, kernel: 3, stride: 1, padding: 1),
        BenchShape(name: "b_64x64_64", inChannels: 64, outChannels: 64, size: 64, kernel: 3, stride: 1, padding: 1),
        BenchShape(name: "c_128x128_32", inChannels: 128, outChannels: 128, size: 32, kernel: 3, stride: 1, padding: 1),
        BenchShape(name: "d_256x256_16", inChannels: 256, outChannels: 256, size: 16, kernel: 3, stride: 1, padding: 1),
        BenchShape(name: "e_64x64_64_s2", inChannels: 64, outChannels: 64, size: 64, kernel: 3, stride: 2, padding: 1),
        BenchShape(
            name: "f_64x128_64_1x1", inChannels: 64, outChannels: 128, size: 64, kernel: 1, stride: 1, padding: 0),
        BenchShape(name: "g_5x32_256_s2", inChannels: 5, outChannels: 32, size: 256, kernel: 3, stride: 2, padding: 1),
    ]

    var convolution: ConvolutionShape {
        ConvolutionShape(
            inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding)
    }

    /// Work counted as direct convolution, 2 * Cin * Cout * k * k * Hout * Wout, as the peers count it.
    var flops: Double {
        let out = convolution.outputSize(height: size, width: size)
        return 2 * Double(inChannels * outChannels * kernel * kernel * out.height * out.width)
    }
}

struct BenchConv: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conv",
        abstract: "Time single convolution layers: the shapes of the peer benchmarks (../shared/bench/peers).",
        discussion: """
            Per shape: conv with bias, no activation (as the peers run it), random N(0,1) data, \
            10 warm-up calls, then --runs timed calls; prints the median (and the fastest and slowest call), effective GFLOPS counted as \
            direct convolution (2*Cin*Cout*k*k*Hout*Wout) and the algorithm chosen.
            """
    )

    @Option(help: "Threads (default: the cores this process may run on).")
    var threads = ThreadPool.availableCores

    @Option(help: "Instruction set: scalar, sse, avx2, avx512 or neon (default: the fastest, or KEYPOINTS_ISA).")
    var isa: String?

    @Option(help: "Algorithm: auto, indirect-gemm, gemm-1x1, winograd-f4, winograd-f6 or winograd-f4-small.")
    var algorithm = "auto"

    @Option(help: "Comma-separated shape names (default: all).")
    var shapes: String?

    @Option(help: "Timed calls per shape.")
    var runs = 100

    @Flag(help: "Print one JSON object per line.")
    var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard ConvolutionAlgorithm(rawValue: algorithm) != nil else {
            throw ValidationError("--algorithm must be one of auto, indirect-gemm, gemm-1x1, winograd-f4, winograd-f6")
        }
        if let isa, InstructionSet(rawValue: isa) == nil {
            throw ValidationError("--isa must be one of scalar, sse, avx2, avx512, neon")
        }
    }

    func run() throws {
        let instructionSet = try isa.map { InstructionSet(rawValue: $0)! } ?? InstructionSet.preferred()
        let selected = shapes.map { Set($0.split(separator: ",").map(String.init)) }
        let pool = ThreadPool(threads: threads)
        for shape in BenchShape.peers where selected?.contains(shape.name) ?? true {
            let layer = try Convolution(
                shape: shape.convolution, weights: benchValues(shape.convolution.weightCount, seed: 1),
                bias: benchValues(shape.outChannels, seed: 2), algorithm: ConvolutionAlgorithm(rawValue: algorithm)!,
                instructionSet: instructionSet)
            let milliseconds = Timings(timeLayer(layer, shape: shape, pool: pool))
            let gflops = shape.flops / (milliseconds.median * 1e6)
            if json {
                let line: JSONValue = .object(
                    [
                        ("shape", .string(shape.name)), ("threads", .number(Double(pool.threads))),
                        ("isa", .string(instructionSet.rawValue)), ("algorithm", .string(layer.algorithm.rawValue)),
                    ] + milliseconds.members(median: "median_ms") + [("gflops", .number((gflops * 10).rounded() / 10))])
                print(line.serialized)
            } else {
                let label = [
                    shape.name.padding(toLength: 16, withPad: " ", startingAt: 0),
                    "\(pool.threads) thread\(pool.threads == 1 ? " " : "s")",
                    instructionSet.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0),
                    layer.algorithm.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0),
                ].joined(separator: " ")
                print(label + "  " + milliseconds.text(unit: "ms") + String(format: "  %7.1f GFLOPS", gflops))
            }
        }
    }

    func timeLayer(_ layer: Convolution, shape: BenchShape, pool: ThreadPool) -> [Double] {
        let input = benchValues(shape.inChannels * shape.size * shape.size, seed: 3)
        let out = shape.convolution.outputSize(height: shape.size, width: shape.size)
        var output = [Float](repeating: 0, count: shape.outChannels * out.height * out.width)
        let bytes = max(layer.workspaceBytes(height: shape.size, width: shape.size, threads: pool.threads), 64)
        let workspace = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { workspace.deallocate() }
        var times: [Double] = []
        input.withUnsafeBufferPointer { inputBuffer in
            output.withUnsafeMutableBufferPointer { outputBuffer in
                for call in 0..<(10 + runs) {
                    let start = DispatchTime.now().uptimeNanoseconds
                    layer.run(
                        input: inputBuffer.baseAddress!, height: shape.size, width: shape.size, residual: nil,
                        output: outputBuffer.baseAddress!, workspace: workspace, pool: pool)
                    let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
                    if call >= 10 { times.append(elapsed) }
                }
            }
        }
        return times
    }
}

/// Seeded N(0,1)-like values for benchmarks (the sum of four uniforms, centred and scaled).
func benchValues(_ count: Int, seed: UInt64) -> [Float] {
    var random = SplitMix64(seed: seed)
    func uniform() -> Float { Float(random.openUnitInterval()) }
    return (0..<count).map { _ in (uniform() + uniform() + uniform() + uniform() - 2) * 1.7320508 }
}

import ArgumentParser
import Foundation
import KeypointKit

struct BenchNet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "net",
        abstract: "Time whole networks: the peers' reference heatmap network and the default architecture.",
        discussion: """
            reference: build_heatmap_net of ../shared/bench/peers/models.py (256x256 input with two \
            coordinate channels, conv 3x3/2 to 32 and 64 channels, 4 residual blocks, conv 3x3/2 to \
            128, 4 residual blocks, bilinear 2x, conv 3x3 to 64, conv 1x1 to 17; 5.794 GFLOP), random \
            weights. default: the default CoordConv ResNet family at 256x256 with 14 keypoints. \
            The input is filled once; each timed call runs the network (as the peers time their \
            engines). Median over --runs calls after 10 warm-up calls.
            """
    )

    @Option(help: "Threads (default: all cores).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timed calls per network.")
    var runs = 50

    @Option(help: "Comma-separated networks: reference, default.")
    var networks = "reference,default"

    @Flag(help: "Print one JSON object per line.")
    var json = false

    func validate() throws {
        guard threads >= 1, runs >= 1 else { throw ValidationError("--threads and --runs must be at least 1") }
        guard networks.split(separator: ",").allSatisfy({ ["reference", "default"].contains($0) }) else {
            throw ValidationError("--networks takes reference and/or default")
        }
    }

    func run() throws {
        for name in networks.split(separator: ",").map(String.init) {
            let architecture = name == "reference" ? Self.reference() : Architecture.coordConvResNet(keypoints: 14)
            let network = try Network(
                architecture: architecture, weights: architecture.initialWeights(seed: 1), threads: threads)
            let input = benchValues(network.input.count, seed: 5)
            _ = network.input.initialize(from: input)
            var times: [Double] = []
            for call in 0..<(10 + runs) {
                let start = DispatchTime.now().uptimeNanoseconds
                network.run()
                if call >= 10 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6) }
            }
            let median = times.sorted()[times.count / 2]
            let gflop = try architecture.flops() / 1e9
            if json {
                print(
                    JSONValue.object([
                        ("network", .string(name)), ("threads", .number(Double(threads))),
                        ("median_ms", .number((median * 1000).rounded() / 1000)),
                        ("images_per_s", .number((1000 / median * 10).rounded() / 10)),
                        ("gflop", .number((gflop * 1000).rounded() / 1000)),
                    ]).serialized)
            } else {
                print(
                    name.padding(toLength: 10, withPad: " ", startingAt: 0)
                        + String(
                            format: " %d thread%@  %.3f GFLOP  median %8.3f ms  %7.1f images/s", threads,
                            threads == 1 ? " " : "s", gflop, median, 1000 / median))
            }
        }
    }

    /// build_heatmap_net of the peer benchmarks, layer for layer (convolutions with bias, no batch norm).
    static func reference(size: Int = 256) -> Architecture {
        func conv(
            _ name: String, _ input: String, _ out: Int, stride: Int = 1, kernel: Int = 3, coordinates: Bool = false,
            activation: String = "relu", residual: String? = nil
        ) -> Architecture.Layer {
            .conv(
                name, input, out: out, kernel: kernel, stride: stride, coordinates: coordinates, batchNorm: false,
                activation: activation, residual: residual)
        }
        var layers = [conv("stem", "input", 32, stride: 2, coordinates: true), conv("down1", "stem", 64, stride: 2)]
        var previous = "down1"
        for (stage, channels) in [(1, 64), (2, 128)] {
            if stage == 2 {
                layers.append(conv("down2", previous, 128, stride: 2))
                previous = "down2"
            }
            for block in 0..<4 {
                let name = "stage\(stage).block\(block)"
                layers.append(conv("\(name).conv1", previous, channels))
                layers.append(conv("\(name).conv2", "\(name).conv1", channels, residual: previous))
                previous = "\(name).conv2"
            }
        }
        layers.append(Architecture.Layer(name: "up", op: .upsample, inputs: [previous], factor: 2))
        layers.append(conv("fuse", "up", 64))
        layers.append(conv("head", "fuse", 17, kernel: 1, activation: "none"))
        return Architecture(inputHeight: size, inputWidth: size, heatmapStride: 4, layers: layers, output: "head")
    }
}

import ArgumentParser
import Foundation
import KeypointKit

struct BenchNet: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "net",
        abstract: "Time whole networks: the peers' reference heatmap network, the default architecture, or a model.",
        discussion: """
            reference: build_heatmap_net of ../shared/bench/peers/models.py (256x256 input with two \
            coordinate channels, conv 3x3/2 to 32 and 64 channels, 4 residual blocks, conv 3x3/2 to \
            128, 4 residual blocks, bilinear 2x, conv 3x3 to 64, conv 1x1 to 17; 5.794 GFLOP), random \
            weights. default: the default CoordConv ResNet family at 256x256 with 14 keypoints. \
            The input is filled once; each timed call runs the network (as the peers time their \
            engines). Median (and the fastest and slowest call) over --runs calls after 10 warm-up calls. --model times a model file \
            or built-in model at its input size instead. --layers also times each layer alone \
            (median ms, share of the sum, GFLOPS of convolutions counted as direct, algorithm).
            """
    )

    @Option(help: "Threads (default: the cores this process may run on).")
    var threads = ThreadPool.availableCores

    @Option(help: "Timed calls per network.")
    var runs = 50

    @Option(help: "Comma-separated networks: reference, default.")
    var networks = "reference,default"

    @Option(help: "A model file or built-in model to time instead of --networks.")
    var model: String?

    @Flag(help: "Also time every layer.")
    var layers = false

    @Flag(help: "Print one JSON object per line.")
    var json = false

    func validate() throws {
        guard threads >= 1, runs >= 1 else { throw ValidationError("--threads and --runs must be at least 1") }
        guard networks.split(separator: ",").allSatisfy({ ["reference", "default"].contains($0) }) else {
            throw ValidationError("--networks takes reference and/or default")
        }
    }

    func run() throws {
        var candidates: [(name: String, architecture: Architecture, weights: [String: Tensor])] = []
        if let model {
            let loaded = try ModelChoice.load(model)
            candidates.append((loaded.name, loaded.model.architecture, loaded.model.weights))
        } else {
            for name in networks.split(separator: ",").map(String.init) {
                let architecture = name == "reference" ? Self.reference() : Architecture.coordConvResNet(keypoints: 14)
                candidates.append((name, architecture, try architecture.initialWeights(seed: 1)))
            }
        }
        for (name, architecture, weights) in candidates {
            let network = try Network(architecture: architecture, weights: weights, threads: threads)
            let input = benchValues(network.input.count, seed: 5)
            _ = network.input.initialize(from: input)
            var times: [Double] = []
            var layerTimes = Array(repeating: [Double](), count: network.graph.layers.count)
            for call in 0..<(10 + runs) {
                let start = DispatchTime.now().uptimeNanoseconds
                network.run()
                if call >= 10 { times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6) }
            }
            if layers {
                for _ in 0..<runs {
                    for step in layerTimes.indices {
                        let start = DispatchTime.now().uptimeNanoseconds
                        network.run(step: step)
                        layerTimes[step].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
                    }
                }
            }
            let timings = Timings(times)
            let gflop = network.graph.flops / 1e9
            if json {
                print(
                    JSONValue.object(
                        [
                            ("network", .string(name)), ("threads", .number(Double(threads))),
                        ] + timings.members(median: "median_ms", digits: 3) + [
                            ("images_per_s", .number((1000 / timings.median * 10).rounded() / 10)),
                            ("gflop", .number((gflop * 1000).rounded() / 1000)),
                        ]
                    ).serialized)
            } else {
                print(
                    name.padding(toLength: 10, withPad: " ", startingAt: 0)
                        + String(
                            format: " %d thread%@  %.3f GFLOP  %@  %7.1f images/s", threads,
                            threads == 1 ? " " : "s", gflop, timings.text(unit: "ms"), 1000 / timings.median))
            }
            if layers { try printLayers(network, name: name, times: layerTimes) }
        }
    }

    /// Per layer: median ms (and the fastest and slowest run), its share of the sum of medians,
    /// GFLOPS (convolutions), algorithm.
    private func printLayers(_ network: Network, name: String, times: [[Double]]) throws {
        let timings = times.map(Timings.init)
        let medians = timings.map(\.median)
        let total = medians.reduce(0, +)
        if !json {
            print(
                "  " + "layer".padding(toLength: 22, withPad: " ", startingAt: 0) + "op        "
                    + "algorithm     median ms     min     max   share  GFLOPS")
        }
        for (step, layer) in network.graph.layers.enumerated() {
            let flops = layer.flops
            let gflops = flops > 0 ? flops / medians[step] / 1e6 : 0
            let algorithm = network.algorithm(step: step)?.rawValue ?? "-"
            if json {
                print(
                    JSONValue.object(
                        [
                            ("network", .string(name)), ("layer", .string(layer.name)),
                            ("op", .string(layer.operation.name)),
                            ("algorithm", .string(algorithm)), ("threads", .number(Double(threads))),
                        ] + timings[step].members(median: "median_ms", digits: 3) + [
                            ("gflops", .number((gflops * 10).rounded() / 10))
                        ]
                    ).serialized)
            } else {
                print(
                    "  " + layer.name.padding(toLength: 22, withPad: " ", startingAt: 0)
                        + layer.operation.name.padding(toLength: 10, withPad: " ", startingAt: 0)
                        + algorithm.padding(toLength: 14, withPad: " ", startingAt: 0)
                        + String(
                            format: "%10.3f %7.3f %7.3f  %5.1f%%  ", medians[step], timings[step].min,
                            timings[step].max,
                            100 * medians[step] / total)
                        + (flops > 0 ? String(format: "%6.1f", gflops) : "     -"))
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

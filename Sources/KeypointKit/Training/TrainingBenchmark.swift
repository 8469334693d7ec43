import Foundation

/// Timings of training steps on one fixed synthetic batch, for `keypoints bench train`. Lives in
/// KeypointKit so the Float graph is specialised here, as the trainer's is.
public struct TrainingBenchmark: Sendable {
    /// Milliseconds per timed step: forward in training mode, forward + backward (loss and every
    /// gradient), and the AdamW update.
    public var forward: [Double] = []
    public var forwardBackward: [Double] = []
    public var update: [Double] = []

    /// Runs one warm-up step, then `steps` timed ones, on `batch` uniform random images and
    /// random non-negative targets for `architecture`.
    public static func run(architecture: Architecture, keypoints: Int, batch: Int, steps: Int) throws
        -> TrainingBenchmark
    {
        let graph = try TrainingGraph<Float>(architecture: architecture, weights: architecture.initialWeights(seed: 1))
        let height = architecture.inputHeight, width = architecture.inputWidth
        let heatmapHeight = height / architecture.heatmapStride, heatmapWidth = width / architecture.heatmapStride
        var random = SplitMix64(seed: 2)
        let input = Grid<Float>(
            batch: batch, channels: architecture.inputChannels, height: height, width: width,
            values: (0..<(batch * architecture.inputChannels * height * width)).map { _ in
                Float.random(in: -1...1, using: &random)
            })
        let targets = Grid<Float>(
            batch: batch, channels: keypoints, height: heatmapHeight, width: heatmapWidth,
            values: (0..<(batch * keypoints * heatmapHeight * heatmapWidth)).map { _ in
                Float.random(in: 0...1, using: &random)
            })
        let mask = [Float](repeating: 1, count: batch * keypoints)
        var optimizer = AdamW<Float>()
        func milliseconds(_ work: () -> Void) -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            work()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        }
        var result = TrainingBenchmark()
        for step in 0...steps {
            let forward = milliseconds { _ = graph.forward(input, training: true) }
            var gradients: [String: [Float]] = [:]
            let forwardBackward = milliseconds {
                gradients = graph.lossAndGradients(input: input, targets: targets, weights: mask).gradients
            }
            let update = milliseconds {
                optimizer.update(&graph.parameters, gradients: gradients, learningRate: 1e-4, on: graph.compute.pool)
            }
            if step > 0 {
                result.forward.append(forward)
                result.forwardBackward.append(forwardBackward)
                result.update.append(update)
            }
        }
        return result
    }
}

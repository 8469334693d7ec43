import Foundation

/// AdamW (Loshchilov & Hutter): Adam's moment estimates with bias correction, and weight decay
/// applied to the weights directly, only to convolution kernels (not biases or batch norm):
///   m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2
///   w -= lr (m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps) + decay w)
public struct AdamW<Scalar: BinaryFloatingPoint & Sendable>: Sendable {
    public var beta1: Scalar = 0.9
    public var beta2: Scalar = 0.999
    public var epsilon: Scalar = 1e-8
    public var weightDecay: Scalar
    /// Steps taken, and the moment estimates per parameter (saved in checkpoints).
    public var step = 0
    public var first: [String: [Scalar]] = [:]
    public var second: [String: [Scalar]] = [:]

    public init(weightDecay: Scalar = 1e-4) {
        self.weightDecay = weightDecay
    }

    /// One step over every parameter with a gradient; each tensor's values in chunks on `pool`
    /// (element-wise, so the result does not depend on the number of threads).
    public mutating func update(
        _ parameters: inout [String: [Scalar]], gradients: [String: [Scalar]], learningRate: Scalar,
        on pool: ThreadPool
    ) {
        step += 1
        let correction1 = 1 - Scalar(pow(Double(beta1), Double(step)))
        let correction2 = 1 - Scalar(pow(Double(beta2), Double(step)))
        let (beta1, beta2, epsilon, weightDecay) = (beta1, beta2, epsilon, weightDecay)
        let chunk = 16384
        for name in gradients.keys.sorted() {
            let gradient = gradients[name]!
            if first[name] == nil {
                first[name] = [Scalar](repeating: 0, count: gradient.count)
                second[name] = [Scalar](repeating: 0, count: gradient.count)
            }
            let decay = name.hasSuffix(".weight") && !name.hasSuffix(".bn.weight") ? weightDecay : 0
            // In place: the moments and weights are not copied out of their dictionaries and back.
            gradient.withUnsafeBufferPointer { g in
                first[name]!.withUnsafeMutableBufferPointer { m in
                    second[name]!.withUnsafeMutableBufferPointer { v in
                        parameters[name]!.withUnsafeMutableBufferPointer { values in
                            let (g, m) = (Unchecked(g.baseAddress!), Unchecked(m.baseAddress!))
                            let (v, w) = (Unchecked(v.baseAddress!), Unchecked(values.baseAddress!))
                            let count = values.count
                            pool.forEach((count + chunk - 1) / chunk) { part in
                                let (g, m, v, w) = (g.value, m.value, v.value, w.value)
                                for index in (part * chunk)..<min(count, (part + 1) * chunk) {
                                    m[index] = beta1 * m[index] + (1 - beta1) * g[index]
                                    v[index] = beta2 * v[index] + (1 - beta2) * g[index] * g[index]
                                    let update =
                                        m[index] / correction1 / ((v[index] / correction2).squareRoot() + epsilon)
                                    w[index] -= learningRate * (update + decay * w[index])
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Linear warm-up to the base rate over `warmupSteps`, then cosine decay to zero at `totalSteps`.
public struct LearningRateSchedule: Sendable {
    public var base: Double
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(base: Double, warmupSteps: Int, totalSteps: Int) {
        (self.base, self.warmupSteps, self.totalSteps) = (base, warmupSteps, totalSteps)
    }

    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return base * Double(step + 1) / Double(warmupSteps) }
        let progress = Double(step - warmupSteps) / Double(max(totalSteps - warmupSteps, 1))
        return base * 0.5 * (1 + cos(Double.pi * min(progress, 1)))
    }
}

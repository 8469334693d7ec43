import Foundation

/// Batch normalisation for training (inference folds it into the convolutions: `foldedWeights`).
enum BatchNormTraining {
    /// Batch normalisation in training mode, per channel over batch and pixels:
    ///   mean, var (biased) of x; xhat = (x - mean) / sqrt(var + eps); y = gamma xhat + beta.
    /// Channels run in parallel; each channel's sums go in one fixed order, so the result does not
    /// depend on the number of threads.
    static func forward<Scalar: TrainingScalar>(
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
    static func backward<Scalar: TrainingScalar>(
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
}

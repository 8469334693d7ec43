import Foundation

/// Batch normalisation for training (inference folds it into the convolutions: `foldedWeights`),
/// fused with what follows it in a block: the residual and the activation.
///
/// Every pass runs over the batch's planes (one image's channel) in parallel on the training
/// pool. Sums are taken per plane and added over the images in order, so results do not depend
/// on the number of threads.
enum BatchNormTraining {
    /// Batch normalisation in training mode, then the residual and the activation:
    ///   mean, var (biased) of x per channel over batch and pixels;
    ///   xhat = (x - mean) / sqrt(var + eps); pre = gamma xhat + beta (+ skip); y = act(pre).
    /// `x` becomes xhat (kept for the backward pass), in place.
    static func forward<Scalar: TrainingScalar>(
        normalizing x: inout Grid<Scalar>, gamma: [Scalar], beta: [Scalar], epsilon: Scalar,
        adding skip: Grid<Scalar>?, activation: Activation, on pool: ThreadPool
    ) -> (y: Grid<Scalar>, preActivation: Grid<Scalar>, mean: [Scalar], variance: [Scalar], inverseDeviation: [Scalar])
    {
        let count = Scalar(x.batch * x.plane)
        let (channels, plane) = (x.channels, x.plane)
        let mean = channelSums(of: x, on: pool) { xs, range in laneSum(range) { xs[$0] } }.map { $0 / count }
        let variance = channelSums(of: x, on: pool) { xs, range in
            let m = mean[range.lowerBound / plane % channels]
            return laneSum(range) {
                let d = xs[$0] - m
                return d * d
            }
        }.map { $0 / count }
        let inverse = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var pre = x.uninitialized()
        var y = x.uninitialized()
        let skipValues = skip?.values ?? []
        precondition(skip == nil || skipValues.count == x.values.count, "the residual has the output's shape")
        x.values.withUnsafeMutableBufferPointer { normalized in
            pre.values.withUnsafeMutableBufferPointer { preValues in
                y.values.withUnsafeMutableBufferPointer { output in
                    skipValues.withUnsafeBufferPointer { skipped in
                        let (xs, pres) = (Unchecked(normalized.baseAddress!), Unchecked(preValues.baseAddress!))
                        let (ys, skips) = (
                            Unchecked(output.baseAddress!), Unchecked(skip == nil ? nil : skipped.baseAddress)
                        )
                        pool.forEach(x.batch * channels) { index in
                            let c = index % channels
                            let (m, s, g, b) = (mean[c], inverse[c], gamma[c], beta[c])
                            let range = (index * plane)..<((index + 1) * plane)
                            let (xs, pres) = (xs.value, pres.value)
                            if let skips = skips.value {
                                for i in range {
                                    let xhat = (xs[i] - m) * s
                                    xs[i] = xhat
                                    pres[i] = g * xhat + b + skips[i]
                                }
                            } else {
                                for i in range {
                                    let xhat = (xs[i] - m) * s
                                    xs[i] = xhat
                                    pres[i] = g * xhat + b
                                }
                            }
                            activation.apply(pres, into: ys.value, range)
                        }
                    }
                }
            }
        }
        return (y, pre, mean, variance, inverse)
    }

    /// The backward pass of `forward`. `dy` (the gradient of y) becomes the gradient of pre, dy
    /// times the activation's slope, which is also the residual source's share; then
    ///   dgamma = sum(dpre xhat); dbeta = sum(dpre); dx = gamma inv / N (N dpre - dbeta - xhat dgamma).
    static func backward<Scalar: TrainingScalar>(
        _ dy: inout Grid<Scalar>, preActivation: Grid<Scalar>, activation: Activation, normalized: Grid<Scalar>,
        gamma: [Scalar], inverseDeviation: [Scalar], on pool: ThreadPool
    ) -> (dx: Grid<Scalar>, dgamma: [Scalar], dbeta: [Scalar]) {
        let count = Scalar(dy.batch * dy.plane)
        let (channels, plane) = (dy.channels, dy.plane)
        var planeDgamma = [Scalar](repeating: 0, count: dy.batch * channels)
        var planeDbeta = planeDgamma
        dy.values.withUnsafeMutableBufferPointer { gradient in
            preActivation.values.withUnsafeBufferPointer { preValues in
                normalized.values.withUnsafeBufferPointer { normalizedValues in
                    planeDgamma.withUnsafeMutableBufferPointer { dgammas in
                        planeDbeta.withUnsafeMutableBufferPointer { dbetas in
                            let (dys, pres) = (Unchecked(gradient.baseAddress!), Unchecked(preValues.baseAddress!))
                            let xhat = Unchecked(normalizedValues.baseAddress!)
                            let (dgammas, dbetas) = (Unchecked(dgammas.baseAddress!), Unchecked(dbetas.baseAddress!))
                            pool.forEach(dy.batch * channels) { index in
                                let range = (index * plane)..<((index + 1) * plane)
                                let (dys, xhat) = (dys.value, xhat.value)
                                activation.scaleBySlope(dys, at: pres.value, range)
                                dgammas.value[index] = laneSum(range) { dys[$0] * xhat[$0] }
                                dbetas.value[index] = laneSum(range) { dys[$0] }
                            }
                        }
                    }
                }
            }
        }
        let (dgamma, dbeta) = (overImages(planeDgamma, channels: channels), overImages(planeDbeta, channels: channels))
        var dx = dy.uninitialized()
        dy.values.withUnsafeBufferPointer { gradient in
            normalized.values.withUnsafeBufferPointer { normalizedValues in
                dx.values.withUnsafeMutableBufferPointer { output in
                    let (dys, xhat) = (Unchecked(gradient.baseAddress!), Unchecked(normalizedValues.baseAddress!))
                    let dxs = Unchecked(output.baseAddress!)
                    pool.forEach(dy.batch * channels) { index in
                        let c = index % channels
                        let (scale, dg, db) = (gamma[c] * inverseDeviation[c] / count, dgamma[c], dbeta[c])
                        let (dys, xhat, dxs) = (dys.value, xhat.value, dxs.value)
                        for i in (index * plane)..<((index + 1) * plane) {
                            dxs[i] = scale * (count * dys[i] - db - xhat[i] * dg)
                        }
                    }
                }
            }
        }
        return (dx, dgamma, dbeta)
    }

    /// Per channel, the sum over the images (in order) of `planeSum(values, plane's range)`, the
    /// planes taken in parallel.
    private static func channelSums<Scalar: TrainingScalar>(
        of x: Grid<Scalar>, on pool: ThreadPool,
        _ planeSum: @escaping (UnsafeMutablePointer<Scalar>, Range<Int>) -> Scalar
    ) -> [Scalar] {
        let (channels, plane) = (x.channels, x.plane)
        var planeSums = [Scalar](repeating: 0, count: x.batch * channels)
        x.values.withUnsafeBufferPointer { input in
            planeSums.withUnsafeMutableBufferPointer { output in
                let (xs, sums) = (Unchecked(UnsafeMutablePointer(mutating: input.baseAddress!)), Unchecked(output))
                pool.forEach(x.batch * channels) { index in
                    sums.value[index] = planeSum(xs.value, (index * plane)..<((index + 1) * plane))
                }
            }
        }
        return overImages(planeSums, channels: channels)
    }

    /// Per channel, the sum of a value per plane (image-major, as the grid's planes lie) over the
    /// images, in order.
    private static func overImages<Scalar: TrainingScalar>(_ planeValues: [Scalar], channels: Int) -> [Scalar] {
        var sums = [Scalar](repeating: 0, count: channels)
        for index in planeValues.indices { sums[index % channels] += planeValues[index] }
        return sums
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
}

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
    /// `x` becomes xhat (kept for the backward pass), in place; pre is not kept (the backward
    /// pass reads the activation's slope from y).
    static func forward<Scalar: TrainingScalar>(
        normalizing x: inout Grid<Scalar>, gamma: [Scalar], beta: [Scalar], epsilon: Scalar,
        adding skip: Grid<Scalar>?, activation: Activation, on pool: ThreadPool
    ) -> (y: Grid<Scalar>, mean: [Scalar], variance: [Scalar], inverseDeviation: [Scalar]) {
        let (mean, variance) = channelMoments(of: x, on: pool)
        let inverse = variance.map { 1 / ($0 + epsilon).squareRoot() }
        let (channels, plane) = (x.channels, x.plane)
        var y = x.uninitialized()
        let skipValues = skip?.values ?? []
        precondition(skip == nil || skipValues.count == x.values.count, "the residual has the output's shape")
        x.values.withUnsafeMutableBufferPointer { normalized in
            y.values.withUnsafeMutableBufferPointer { output in
                skipValues.withUnsafeBufferPointer { skipped in
                    let (xs, ys) = (Unchecked(normalized.baseAddress!), Unchecked(output.baseAddress!))
                    let skips = Unchecked(skip == nil ? nil : skipped.baseAddress)
                    pool.forEach(x.batch * channels) { index in
                        let c = index % channels
                        let (m, s, g, b) = (mean[c], inverse[c], gamma[c], beta[c])
                        let range = (index * plane)..<((index + 1) * plane)
                        let (xs, ys) = (xs.value, ys.value)
                        if let skips = skips.value {
                            for i in range {
                                let xhat = (xs[i] - m) * s
                                xs[i] = xhat
                                ys[i] = g * xhat + b + skips[i]
                            }
                        } else {
                            for i in range {
                                let xhat = (xs[i] - m) * s
                                xs[i] = xhat
                                ys[i] = g * xhat + b
                            }
                        }
                        activation.apply(ys, into: ys, range)  // the plane is still in cache
                    }
                }
            }
        }
        return (y, mean, variance, inverse)
    }

    /// The backward pass of `forward`, given its output `y`. `dy` (the gradient of y) becomes the
    /// gradient of pre, dy times the activation's slope (also the residual source's share), then
    ///   dgamma = sum(dpre xhat); dbeta = sum(dpre); dx = gamma inv / N (N dpre - dbeta - xhat dgamma).
    static func backward<Scalar: TrainingScalar>(
        _ dy: inout Grid<Scalar>, output y: Grid<Scalar>, activation: Activation, normalized: Grid<Scalar>,
        gamma: [Scalar], inverseDeviation: [Scalar], on pool: ThreadPool
    ) -> (dx: Grid<Scalar>, dgamma: [Scalar], dbeta: [Scalar]) {
        let count = Scalar(dy.batch * dy.plane)
        let (channels, plane) = (dy.channels, dy.plane)
        var planeDgamma = [Scalar](repeating: 0, count: dy.batch * channels)
        var planeDbeta = planeDgamma
        dy.values.withUnsafeMutableBufferPointer { gradient in
            y.values.withUnsafeBufferPointer { outputValues in
                normalized.values.withUnsafeBufferPointer { normalizedValues in
                    planeDgamma.withUnsafeMutableBufferPointer { dgammas in
                        planeDbeta.withUnsafeMutableBufferPointer { dbetas in
                            let (dys, ys) = (Unchecked(gradient.baseAddress!), Unchecked(outputValues.baseAddress!))
                            let xhat = Unchecked(normalizedValues.baseAddress!)
                            let (dgammas, dbetas) = (Unchecked(dgammas.baseAddress!), Unchecked(dbetas.baseAddress!))
                            pool.forEach(dy.batch * channels) { index in
                                let range = (index * plane)..<((index + 1) * plane)
                                let (dys, xhat) = (dys.value, xhat.value)
                                activation.scaleBySlope(dys, atOutput: ys.value, range)
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

    /// Per channel, the mean and the biased variance over the batch's planes, in one trip through
    /// memory: each plane's mean and sum of squared deviations (two passes over a plane while it
    /// is in cache), in parallel; then per channel, over the images in order (Chan et al.'s
    /// pairwise update, for planes of equal size): mean = the planes' mean of means,
    /// M2 = sum(M2_p) + plane * sum((mean_p - mean)^2), variance = M2 / (images * plane).
    private static func channelMoments<Scalar: TrainingScalar>(of x: Grid<Scalar>, on pool: ThreadPool) -> (
        mean: [Scalar], variance: [Scalar]
    ) {
        let (channels, plane) = (x.channels, x.plane)
        var planeMeans = [Scalar](repeating: 0, count: x.batch * channels)
        var planeSquares = planeMeans
        x.values.withUnsafeBufferPointer { input in
            planeMeans.withUnsafeMutableBufferPointer { means in
                planeSquares.withUnsafeMutableBufferPointer { squares in
                    let xs = Unchecked(UnsafeMutablePointer(mutating: input.baseAddress!))
                    let (means, squares) = (Unchecked(means.baseAddress!), Unchecked(squares.baseAddress!))
                    pool.forEach(x.batch * channels) { index in
                        let (xs, range) = (xs.value, (index * plane)..<((index + 1) * plane))
                        let m = laneSum(range) { xs[$0] } / Scalar(plane)
                        means.value[index] = m
                        squares.value[index] = laneSum(range) {
                            let d = xs[$0] - m
                            return d * d
                        }
                    }
                }
            }
        }
        let mean = overImages(planeMeans, channels: channels).map { $0 / Scalar(x.batch) }
        let spread = overImages(
            planeMeans.indices.map {
                let d = planeMeans[$0] - mean[$0 % channels]
                return d * d
            }, channels: channels)
        let squares = overImages(planeSquares, channels: channels)
        let count = Scalar(x.batch * plane)
        return (mean, (0..<channels).map { (squares[$0] + Scalar(plane) * spread[$0]) / count })
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

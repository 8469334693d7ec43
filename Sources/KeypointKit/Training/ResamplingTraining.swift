/// Upsampling and pooling over training's batches, with their backward passes.
enum ResamplingTraining {
    /// Bilinear upsampling by `factor` with `Upsampling`'s taps (half-pixel centres).
    static func upsample<Scalar: TrainingScalar>(_ x: Grid<Scalar>, factor: Int, on compute: TrainingCompute)
        -> Grid<Scalar>
    {
        if let y = Scalar.fastUpsample(x, factor: factor, on: compute) { return y }
        var y = Grid<Scalar>(batch: x.batch, channels: x.channels, height: x.height * factor, width: x.width * factor)
        let rows = Upsampling.bilinearTaps(x.height, factor: factor)
        let columns = Upsampling.bilinearTaps(x.width, factor: factor)
        for map in 0..<(x.batch * x.channels) {
            for (oy, row) in rows.enumerated() {
                for (ox, column) in columns.enumerated() {
                    let top = Scalar(1 - row.weight), bottom = Scalar(row.weight), left = Scalar(1 - column.weight),
                        right = Scalar(column.weight)
                    func at(_ yy: Int, _ xx: Int) -> Scalar { x.values[(map * x.height + yy) * x.width + xx] }
                    y.values[(map * y.height + oy) * y.width + ox] =
                        top * (left * at(row.first, column.first) + right * at(row.first, column.second))
                        + bottom * (left * at(row.second, column.first) + right * at(row.second, column.second))
                }
            }
        }
        return y
    }

    /// The adjoint of `upsample`: each output's gradient shared over its four taps. The maps run in
    /// parallel on `pool`, each adding into its own plane only, in the same order on any thread.
    static func upsampleBackward<Scalar: TrainingScalar>(_ dy: Grid<Scalar>, factor: Int, on pool: ThreadPool)
        -> Grid<Scalar>
    {
        var dx = Grid<Scalar>(
            batch: dy.batch, channels: dy.channels, height: dy.height / factor, width: dy.width / factor)
        let rows = Upsampling.bilinearTaps(dx.height, factor: factor).map {
            (first: $0.first, second: $0.second, near: Scalar(1 - $0.weight), far: Scalar($0.weight))
        }
        let columns = Upsampling.bilinearTaps(dx.width, factor: factor).map {
            (first: $0.first, second: $0.second, near: Scalar(1 - $0.weight), far: Scalar($0.weight))
        }
        let (inPlane, outPlane, outWidth, inWidth) = (dy.plane, dx.plane, dx.width, dy.width)
        dy.values.withUnsafeBufferPointer { gradient in
            dx.values.withUnsafeMutableBufferPointer { output in
                let (dys, dxs) = (Unchecked(gradient.baseAddress!), Unchecked(output.baseAddress!))
                pool.forEach(dy.batch * dy.channels) { map in
                    let (source, target) = (dys.value + map * inPlane, dxs.value + map * outPlane)
                    for (oy, row) in rows.enumerated() {
                        let (upper, lower) = (target + row.first * outWidth, target + row.second * outWidth)
                        for (ox, column) in columns.enumerated() {
                            let gradient = source[oy * inWidth + ox]
                            upper[column.first] += row.near * column.near * gradient
                            upper[column.second] += row.near * column.far * gradient
                            lower[column.first] += row.far * column.near * gradient
                            lower[column.second] += row.far * column.far * gradient
                        }
                    }
                }
            }
        }
        return dx
    }

    /// Pooling over a batch (`Pooling`, as the engine runs it), and max pooling's argmax per output.
    static func pool<Scalar: TrainingScalar>(_ x: Grid<Scalar>, _ pooling: Pooling) -> (y: Grid<Scalar>, sources: [Int])
    {
        let (ho, wo) = pooling.outputSize(height: x.height, width: x.width)
        var y = Grid<Scalar>(batch: x.batch, channels: x.channels, height: ho, width: wo)
        var sources = [Int](repeating: -1, count: pooling.kind == .max ? y.values.count : 0)
        x.values.withUnsafeBufferPointer { input in
            y.values.withUnsafeMutableBufferPointer { output in
                sources.withUnsafeMutableBufferPointer { argmax in
                    pooling.forward(
                        input.baseAddress!, maps: x.batch * x.channels, height: x.height, width: x.width,
                        into: output.baseAddress!, sources: argmax.baseAddress)
                }
            }
        }
        return (y, sources)
    }

    static func poolBackward<Scalar: TrainingScalar>(
        _ dy: Grid<Scalar>, input x: Grid<Scalar>, _ pooling: Pooling, sources: [Int]
    ) -> Grid<Scalar> {
        var dx = x.zeros()
        dy.values.withUnsafeBufferPointer { gradient in
            dx.values.withUnsafeMutableBufferPointer { target in
                sources.withUnsafeBufferPointer { argmax in
                    pooling.backward(
                        gradient.baseAddress!, maps: x.batch * x.channels, height: x.height, width: x.width,
                        sources: argmax.baseAddress, into: target.baseAddress!)
                }
            }
        }
        return dx
    }
}

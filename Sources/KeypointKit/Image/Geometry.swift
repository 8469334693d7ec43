import Foundation

// Every coordinate here follows the convention stated on `Image`: the centre of pixel (i, j) is
// the point (i, j); an image `w` pixels wide covers x in [-0.5, w - 0.5].

public struct Point: Equatable, Sendable, Codable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        (self.x, self.y) = (x, y)
    }
}

/// A 2x3 affine map of points:
///
///     | x' |   | a  b  tx |   | x |
///     | y' | = | c  d  ty | * | y |
///                             | 1 |
public struct AffineTransform: Equatable, Sendable, Codable {
    public var a: Double
    public var b: Double
    public var tx: Double
    public var c: Double
    public var d: Double
    public var ty: Double

    public init(a: Double, b: Double, tx: Double, c: Double, d: Double, ty: Double) {
        (self.a, self.b, self.tx, self.c, self.d, self.ty) = (a, b, tx, c, d, ty)
    }

    public static let identity = AffineTransform(a: 1, b: 0, tx: 0, c: 0, d: 1, ty: 0)

    /// The matrix as two rows of three, as OpenCV's `warpAffine` takes it.
    public var matrix: [[Double]] { [[a, b, tx], [c, d, ty]] }

    public func apply(_ point: Point) -> Point {
        Point(x: a * point.x + b * point.y + tx, y: c * point.x + d * point.y + ty)
    }

    /// The map that undoes this one, or nil when it collapses the plane (determinant 0).
    public var inverse: AffineTransform? {
        let determinant = a * d - b * c
        guard determinant != 0, determinant.isFinite else { return nil }
        let ia = d / determinant
        let ib = -b / determinant
        let ic = -c / determinant
        let id = a / determinant
        return AffineTransform(a: ia, b: ib, tx: -(ia * tx + ib * ty), c: ic, d: id, ty: -(ic * tx + id * ty))
    }

    /// This map followed by `next`.
    public func followed(by next: AffineTransform) -> AffineTransform {
        AffineTransform(
            a: next.a * a + next.b * c, b: next.a * b + next.b * d, tx: next.a * tx + next.b * ty + next.tx,
            c: next.c * a + next.d * c, d: next.c * b + next.d * d, ty: next.c * tx + next.d * ty + next.ty)
    }

    /// Maps the box centred on `center`, `size.width` x `size.height` source pixels, onto a whole
    /// target image `targetWidth` x `targetHeight`: the box centre lands on the target centre,
    /// the box edges on the target edges. Then the content is turned counter-clockwise (as seen
    /// on screen) by `rotationDegrees` about the centre, and mirrored left-right if `flip`.
    public static func crop(
        center: Point, width: Double, height: Double, targetWidth: Int, targetHeight: Int,
        rotationDegrees: Double = 0, flip: Bool = false
    ) -> AffineTransform {
        precondition(width > 0 && height > 0, "the crop box must have a positive size")
        let scaleX = Double(targetWidth) / width
        let scaleY = Double(targetHeight) / height
        let angle = rotationDegrees * Double.pi / 180
        let cosine = cos(angle)
        let sine = sin(angle)
        let mirror = flip ? -1.0 : 1.0
        // With y pointing down, [[cos, sin], [-sin, cos]] turns content counter-clockwise on screen.
        let a = mirror * cosine * scaleX
        let b = mirror * sine * scaleY
        let c = -sine * scaleX
        let d = cosine * scaleY
        let targetCenter = Point(x: Double(targetWidth - 1) / 2, y: Double(targetHeight - 1) / 2)
        return AffineTransform(
            a: a, b: b, tx: targetCenter.x - (a * center.x + b * center.y),
            c: c, d: d, ty: targetCenter.y - (c * center.x + d * center.y))
    }

    /// Fits a whole `sourceWidth` x `sourceHeight` image into the target, keeping its aspect
    /// ratio and centring it; the uncovered bands are the warp's fill colour.
    public static func letterbox(sourceWidth: Int, sourceHeight: Int, targetWidth: Int, targetHeight: Int)
        -> AffineTransform
    {
        let scale = min(Double(targetWidth) / Double(sourceWidth), Double(targetHeight) / Double(sourceHeight))
        return crop(
            center: Point(x: Double(sourceWidth - 1) / 2, y: Double(sourceHeight - 1) / 2),
            width: Double(targetWidth) / scale, height: Double(targetHeight) / scale,
            targetWidth: targetWidth, targetHeight: targetHeight)
    }
}

extension Image {
    /// Bilinear resize to `width` x `height` with the pixel-centre convention (OpenCV
    /// `INTER_LINEAR`, PyTorch `align_corners=False`): target pixel x samples source position
    /// `(x + 0.5) * sourceWidth / width - 0.5`, clamped to the edge pixels. No low-pass filter, so
    /// shrinking by more than 2x aliases; decode JPEGs reduced first (`DecodeOptions.minimumWidth`).
    public func resized(width targetWidth: Int, height targetHeight: Int) -> Image {
        precondition(targetWidth > 0 && targetHeight > 0, "the target size must be positive")
        let scaleX = Double(width) / Double(targetWidth)
        let scaleY = Double(height) / Double(targetHeight)
        let columns = (0..<targetWidth).map { Self.bilinearTap(Double($0) + 0.5, scale: scaleX, size: width) }
        var result = [UInt8](repeating: 0, count: targetWidth * targetHeight * 3)
        pixels.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for y in 0..<targetHeight {
                    let row = Self.bilinearTap(Double(y) + 0.5, scale: scaleY, size: height)
                    let top = row.first * width * 3
                    let bottom = row.second * width * 3
                    for x in 0..<targetWidth {
                        let column = columns[x]
                        let left = column.first * 3
                        let right = column.second * 3
                        for channel in 0..<3 {
                            let upper =
                                Double(source[top + left + channel]) * (1 - column.weight)
                                + Double(source[top + right + channel]) * column.weight
                            let lower =
                                Double(source[bottom + left + channel]) * (1 - column.weight)
                                + Double(source[bottom + right + channel]) * column.weight
                            let value = upper * (1 - row.weight) + lower * row.weight
                            target[(y * targetWidth + x) * 3 + channel] = UInt8(value.rounded())
                        }
                    }
                }
            }
        }
        return Image(width: targetWidth, height: targetHeight, pixels: result)
    }

    /// The two source indices and the weight of the second for a target position (in target
    /// pixel-edge units, i.e. centre + 0.5), clamped to the image.
    private static func bilinearTap(_ position: Double, scale: Double, size: Int) -> (
        first: Int, second: Int, weight: Double
    ) {
        let source = min(max(position * scale - 0.5, 0), Double(size - 1))
        let first = Int(source)
        let second = min(first + 1, size - 1)
        return (first, second, source - Double(first))
    }

    /// The image seen through `transform` (source pixel -> target pixel), `width` x `height`:
    /// each target pixel takes the bilinear sample at the inverse-mapped position; neighbours
    /// outside the source count as `fill` (OpenCV `warpAffine` with a constant border).
    public func warped(
        by transform: AffineTransform, width targetWidth: Int, height targetHeight: Int, fill: RGB = .black
    )
        -> Image
    {
        var result = [UInt8](repeating: 0, count: targetWidth * targetHeight * 3)
        warpSamples(by: transform, width: targetWidth, height: targetHeight, fill: fill) { index, channel, value in
            result[index * 3 + channel] = UInt8(value.rounded())
        }
        return Image(width: targetWidth, height: targetHeight, pixels: result)
    }

    /// Calls `store(pixelIndex, channel, value)` for every target pixel of the warp, in row order.
    func warpSamples(
        by transform: AffineTransform, width targetWidth: Int, height targetHeight: Int, fill: RGB,
        store: (Int, Int, Double) -> Void
    ) {
        guard let inverse = transform.inverse else {
            preconditionFailure("a warp needs an invertible transform")
        }
        let fillValues = [Double(fill.red), Double(fill.green), Double(fill.blue)]
        if inverse.b == 0 && inverse.c == 0 {
            warpAxisAligned(by: inverse, width: targetWidth, height: targetHeight, fill: fillValues, store: store)
            return
        }
        pixels.withUnsafeBufferPointer { source in
            func sample(_ x: Int, _ y: Int, _ channel: Int) -> Double {
                guard x >= 0, y >= 0, x < width, y < height else { return fillValues[channel] }
                return Double(source[(y * width + x) * 3 + channel])
            }
            for y in 0..<targetHeight {
                for x in 0..<targetWidth {
                    let position = inverse.apply(Point(x: Double(x), y: Double(y)))
                    guard position.x > -1, position.x < Double(width), position.y > -1, position.y < Double(height)
                    else {
                        for channel in 0..<3 { store(y * targetWidth + x, channel, fillValues[channel]) }
                        continue
                    }
                    let left = Int(position.x.rounded(.down))
                    let top = Int(position.y.rounded(.down))
                    let wx = position.x - Double(left)
                    let wy = position.y - Double(top)
                    for channel in 0..<3 {
                        let upper = sample(left, top, channel) * (1 - wx) + sample(left + 1, top, channel) * wx
                        let lower =
                            sample(left, top + 1, channel) * (1 - wx) + sample(left + 1, top + 1, channel) * wx
                        store(y * targetWidth + x, channel, upper * (1 - wy) + lower * wy)
                    }
                }
            }
        }
    }

    /// `warpSamples` for a map without rotation or shear (letterboxing, plain scaling): a target
    /// column always reads the same source columns and a row the same rows, so those taps are
    /// found once; pixels whose four neighbours are all inside skip the border checks, and a tap
    /// of weight 0 is not read (at an unscaled letterbox every pixel is a copy). The values equal
    /// the general loop's bit for bit.
    private func warpAxisAligned(
        by inverse: AffineTransform, width targetWidth: Int, height targetHeight: Int, fill: [Double],
        store: (Int, Int, Double) -> Void
    ) {
        typealias Tap = (first: Int, weight: Double, inside: Bool)
        func taps(_ count: Int, scale: Double, offset: Double, size: Int) -> [Tap] {
            (0..<count).map { index in
                let position = scale * Double(index) + offset
                let first = Int(position.rounded(.down))
                return (first, position - Double(first), position > -1 && position < Double(size))
            }
        }
        let columns = taps(targetWidth, scale: inverse.a, offset: inverse.tx, size: width)
        let rows = taps(targetHeight, scale: inverse.d, offset: inverse.ty, size: height)
        pixels.withUnsafeBufferPointer { source in
            func sample(_ x: Int, _ y: Int, _ channel: Int) -> Double {
                guard x >= 0, y >= 0, x < width, y < height else { return fill[channel] }
                return Double(source[(y * width + x) * 3 + channel])
            }
            for y in 0..<targetHeight {
                let (top, wy, rowInside) = rows[y]
                for x in 0..<targetWidth {
                    let (left, wx, columnInside) = columns[x]
                    let index = y * targetWidth + x
                    guard rowInside && columnInside else {
                        for channel in 0..<3 { store(index, channel, fill[channel]) }
                        continue
                    }
                    if left >= 0 && top >= 0 && left + 1 < width && top + 1 < height {
                        let corner = (top * width + left) * 3
                        for channel in 0..<3 {
                            let topLeft = Double(source[corner + channel])
                            let upper =
                                wx == 0 ? topLeft : topLeft * (1 - wx) + Double(source[corner + 3 + channel]) * wx
                            guard wy != 0 else {
                                store(index, channel, upper)
                                continue
                            }
                            let below = corner + width * 3
                            let bottomLeft = Double(source[below + channel])
                            let lower =
                                wx == 0
                                ? bottomLeft : bottomLeft * (1 - wx) + Double(source[below + 3 + channel]) * wx
                            store(index, channel, upper * (1 - wy) + lower * wy)
                        }
                    } else {
                        for channel in 0..<3 {
                            let upper = sample(left, top, channel) * (1 - wx) + sample(left + 1, top, channel) * wx
                            let lower =
                                sample(left, top + 1, channel) * (1 - wx) + sample(left + 1, top + 1, channel) * wx
                            store(index, channel, upper * (1 - wy) + lower * wy)
                        }
                    }
                }
            }
        }
    }
}

/// A rectangle of an image by its centre and size, in pixels (pixel centres at integers): what a
/// model is run on when it does not see the whole image.
public struct Region: Equatable, Sendable {
    public var center: Point
    /// Side lengths, in the same pixels as `center`.
    public var width: Double
    public var height: Double

    public init(center: Point, width: Double, height: Double) {
        (self.center, self.width, self.height) = (center, width, height)
    }

    /// The region a model sees for a labeled instance: its box (x, y, width, height in original
    /// pixels, COCO's convention) enlarged 1.25x around its centre, in the pixels of the image
    /// scaled by `scale` (pixel centres at integers, so x maps to (x + 0.5) * scale - 0.5).
    public init(instanceBox box: [Double], scale: Double = 1) {
        func scaled(_ value: Double) -> Double { (value + 0.5) * scale - 0.5 }
        self.init(
            center: Point(x: scaled(box[0] + box[2] / 2 - 0.5), y: scaled(box[1] + box[3] / 2 - 0.5)),
            width: box[2] * scale * 1.25, height: box[3] * scale * 1.25)
    }

    /// The region widened or heightened around its centre to `aspect` (width / height), so a
    /// crop of it into an input of that aspect is not stretched.
    public func grown(toAspect aspect: Double) -> Region {
        let width = max(self.width, height * aspect)
        return Region(center: center, width: width, height: width / aspect)
    }
}

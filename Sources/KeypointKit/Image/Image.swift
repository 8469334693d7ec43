/// An 8-bit RGB image: `pixels` holds `width * height * 3` bytes, rows top to bottom, each pixel
/// red, green, blue, no padding between rows.
///
/// Pixel coordinates, used everywhere in KeypointKit: x grows to the right, y grows down, and
/// the centre of the pixel in column `i`, row `j` is the point `(x: i, y: j)`. The image therefore
/// covers `[-0.5, width - 0.5] x [-0.5, height - 0.5]`. This is OpenCV's and matplotlib's
/// convention, and what DeepLabCut and COCO labels mean by a keypoint at an integer position.
public struct Image: Equatable, Sendable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    /// An image filled with one colour.
    public init(width: Int, height: Int, fill: RGB = RGB(0, 0, 0)) {
        precondition(width >= 0 && height >= 0, "image size must not be negative")
        self.width = width
        self.height = height
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for index in stride(from: 0, to: pixels.count, by: 3) {
            pixels[index] = fill.red
            pixels[index + 1] = fill.green
            pixels[index + 2] = fill.blue
        }
        self.pixels = pixels
    }

    /// An image over existing interleaved RGB bytes.
    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0, "image size must not be negative")
        precondition(pixels.count == width * height * 3, "pixels must hold width * height * 3 bytes")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    public subscript(x: Int, y: Int) -> RGB {
        get {
            let index = (y * width + x) * 3
            return RGB(pixels[index], pixels[index + 1], pixels[index + 2])
        }
        set {
            let index = (y * width + x) * 3
            pixels[index] = newValue.red
            pixels[index + 1] = newValue.green
            pixels[index + 2] = newValue.blue
        }
    }
}

public struct RGB: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)

    public var description: String { "(\(red), \(green), \(blue))" }
}

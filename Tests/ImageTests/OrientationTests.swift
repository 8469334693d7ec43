import CImageShims
import Testing
import TestSupport

@testable import KeypointKit

/// All eight EXIF orientations, in PNG (eXIf) and JPEG (APP1). The upright scene has four
/// coloured quadrants; for each orientation the stored image is laid out by hand from the EXIF
/// definition of where the stored row 0 and column 0 lie in the scene, so the test does not
/// reuse the decoder's own mapping.
struct OrientationTests {
    static let topLeft = RGB(255, 0, 0)
    static let topRight = RGB(0, 255, 0)
    static let bottomLeft = RGB(0, 0, 255)
    static let bottomRight = RGB(255, 255, 255)

    /// Stored corner colours (top-left, top-right, bottom-left, bottom-right) per orientation.
    static let storedCorners: [Int: [RGB]] = [
        1: [topLeft, topRight, bottomLeft, bottomRight],  // row 0 top, column 0 left
        2: [topRight, topLeft, bottomRight, bottomLeft],  // row 0 top, column 0 right
        3: [bottomRight, bottomLeft, topRight, topLeft],  // row 0 bottom, column 0 right
        4: [bottomLeft, bottomRight, topLeft, topRight],  // row 0 bottom, column 0 left
        5: [topLeft, bottomLeft, topRight, bottomRight],  // row 0 left, column 0 top
        6: [topRight, bottomRight, topLeft, bottomLeft],  // row 0 right, column 0 top
        7: [bottomRight, topRight, bottomLeft, topLeft],  // row 0 right, column 0 bottom
        8: [bottomLeft, topLeft, bottomRight, topRight],  // row 0 left, column 0 bottom
    ]

    /// Upright the scene is 64 x 32; stored it is 32 x 64 when the orientation swaps axes.
    static func stored(_ orientation: Int) -> Image {
        let swaps = orientation >= 5
        let width = swaps ? 32 : 64
        let height = swaps ? 64 : 32
        let corners = storedCorners[orientation]!
        var image = Image(width: width, height: height)
        for y in 0..<height {
            for x in 0..<width {
                image[x, y] = corners[(y < height / 2 ? 0 : 2) + (x < width / 2 ? 0 : 1)]
            }
        }
        return image
    }

    static func checkUpright(_ decoded: DecodedImage, orientation: Int, tolerance: Int) {
        #expect(decoded.info.orientation.rawValue == orientation)
        #expect(decoded.image.width == 64 && decoded.image.height == 32, "orientation \(orientation)")
        let samples: [(Int, Int, RGB)] = [
            (0, 0, topLeft), (63, 0, topRight), (0, 31, bottomLeft), (63, 31, bottomRight),
        ]
        for (x, y, colour) in samples {
            let pixel = decoded.image[x, y]
            let difference = max(
                abs(Int(pixel.red) - Int(colour.red)), abs(Int(pixel.green) - Int(colour.green)),
                abs(Int(pixel.blue) - Int(colour.blue)))
            #expect(difference <= tolerance, "orientation \(orientation) at (\(x), \(y)): \(pixel), expected \(colour)")
        }
    }

    @Test(arguments: 1...8)
    func png(orientation: Int) throws {
        let image = Self.stored(orientation)
        let file = try PNGFixture.encode(
            samples: image.pixels.map(Int.init), width: image.width, height: image.height, colorType: KP_COLOR_RGB,
            bitDepth: 8, exif: exifOrientationBlock(orientation))
        Self.checkUpright(try ImageDecoder.decode(file), orientation: orientation, tolerance: 0)
    }

    /// JPEG is lossy; corners of flat quadrants stay within a few levels (measured: 1).
    @Test(arguments: 1...8)
    func jpeg(orientation: Int) throws {
        let image = Self.stored(orientation)
        let file = try JPEGFixture.encode(
            samples: image.pixels, width: image.width, height: image.height, quality: 100,
            exif: exifOrientationBlock(orientation))
        Self.checkUpright(try ImageDecoder.decode(file), orientation: orientation, tolerance: 8)
    }

    @Test func orientationCanBeIgnored() throws {
        let image = Self.stored(6)
        let file = try PNGFixture.encode(
            samples: image.pixels.map(Int.init), width: image.width, height: image.height, colorType: KP_COLOR_RGB,
            bitDepth: 8, exif: exifOrientationBlock(6))
        let decoded = try ImageDecoder.decode(file, options: DecodeOptions(appliesOrientation: false))
        #expect(decoded.image == image)
    }

    @Test func malformedExifMeansUpright() throws {
        let image = Self.stored(1)
        for block: [UInt8] in [
            [], [0x49, 0x49], [0x4D, 0x4D, 0, 42, 0xFF, 0xFF, 0xFF, 0xFF], exifOrientationBlock(9),
        ] {
            let file = try JPEGFixture.encode(samples: image.pixels, width: 64, height: 32, exif: block + [0])
            #expect(try ImageDecoder.decode(file).info.orientation == .up)
        }
    }
}

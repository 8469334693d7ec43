import CImageShims
import Testing
import TestSupport

@testable import KeypointKit

struct JPEGDecodeTests {
    static let width = 48
    static let height = 32
    static let picture = testPicture(width: width, height: height)

    static func decode(_ bytes: [UInt8], options: DecodeOptions = DecodeOptions()) throws -> DecodedImage {
        try ImageDecoder.decode(bytes, options: options)
    }

    /// Quality 95 on the test picture: every sample within 20 levels of the original (measured
    /// 14 with libjpeg-turbo 2.1.5, nearly all of it 4:2:0 chroma subsampling of the blue wave),
    /// and on average within 2 (measured 1.26). A wrong colour conversion or a shifted image
    /// misses both by far.
    @Test func baselineIsCloseToTheSource() throws {
        let decoded = try Self.decode(
            JPEGFixture.encode(samples: Self.picture, width: Self.width, height: Self.height, quality: 95))
        #expect(decoded.image.width == Self.width && decoded.image.height == Self.height)
        #expect(maxDifference(decoded.image.pixels, Self.picture) <= 20)
        let totalError = zip(decoded.image.pixels, Self.picture).map { abs(Int($0) - Int($1)) }.reduce(0, +)
        #expect(Double(totalError) / Double(Self.picture.count) <= 2)
        #expect(decoded.info.colorType == "ycbcr" && !decoded.info.interlaced)
    }

    /// Progressive coding and restart markers change how coefficients are stored, not their
    /// values, so the decoded pixels are identical to the baseline file's.
    @Test func progressiveAndRestartMarkersDecodeLikeBaseline() throws {
        let baseline = try Self.decode(
            JPEGFixture.encode(samples: Self.picture, width: Self.width, height: Self.height))
        let progressive = try Self.decode(
            JPEGFixture.encode(samples: Self.picture, width: Self.width, height: Self.height, progressive: true))
        let restarts = try Self.decode(
            JPEGFixture.encode(samples: Self.picture, width: Self.width, height: Self.height, restartRows: 1))
        #expect(progressive.info.interlaced)
        #expect(progressive.image == baseline.image)
        #expect(restarts.image == baseline.image)
    }

    @Test func grayscaleBecomesEqualRGB() throws {
        let grey = (0..<(Self.width * Self.height)).map { UInt8($0 % Self.width * 5) }
        let decoded = try Self.decode(
            JPEGFixture.encode(
                samples: grey, width: Self.width, height: Self.height, input: KP_COLOR_GRAY, stored: KP_COLOR_GRAY,
                quality: 100))
        #expect(decoded.info.colorType == "gray")
        for (index, value) in grey.enumerated() {
            let pixel = decoded.image[index % Self.width, index / Self.width]
            #expect(pixel.red == pixel.green && pixel.green == pixel.blue)
            #expect(abs(Int(pixel.red) - Int(value)) <= 3)
        }
    }

    /// CMYK stored inverted (Adobe): stored s means ink 255 - s, and R = (255-C)(255-K)/255.
    /// Four flat 16x16 blocks: pure cyan, pure black, 50% magenta + 50% black, paper.
    @Test(arguments: [KP_COLOR_CMYK, KP_COLOR_YCCK])
    func cmykAndYCCK(stored: kp_color_type) throws {
        let inks: [[Int]] = [[255, 0, 0, 0], [0, 0, 0, 255], [0, 128, 0, 128], [0, 0, 0, 0]]
        let expected: [RGB] = [RGB(0, 255, 255), RGB(0, 0, 0), RGB(127, 63, 127), RGB(255, 255, 255)]
        let width = 64
        let height = 16
        var samples = [UInt8](repeating: 0, count: width * height * 4)
        for y in 0..<height {
            for x in 0..<width {
                for channel in 0..<4 {
                    samples[(y * width + x) * 4 + channel] = UInt8(255 - inks[x / 16][channel])
                }
            }
        }
        let decoded = try Self.decode(
            JPEGFixture.encode(
                samples: samples, width: width, height: height, input: KP_COLOR_CMYK, stored: stored, quality: 100))
        #expect(decoded.info.colorType == (stored == KP_COLOR_CMYK ? "cmyk" : "ycck"))
        for (block, colour) in expected.enumerated() {
            let pixel = decoded.image[block * 16 + 8, 8]
            #expect(abs(Int(pixel.red) - Int(colour.red)) <= 3, "block \(block): \(pixel) vs \(colour)")
            #expect(abs(Int(pixel.green) - Int(colour.green)) <= 3, "block \(block): \(pixel) vs \(colour)")
            #expect(abs(Int(pixel.blue) - Int(colour.blue)) <= 3, "block \(block): \(pixel) vs \(colour)")
        }
    }

    @Test func reducedSizeDecodePicksTheSmallestScaleThatCovers() throws {
        let width = 400
        let height = 300
        let file = try JPEGFixture.encode(
            samples: testPicture(width: width, height: height), width: width, height: height)
        let cases: [(request: (Int, Int), scale: Int, size: (Int, Int))] = [
            ((0, 0), 1, (400, 300)), ((100, 75), 4, (100, 75)), ((101, 75), 2, (200, 150)), ((50, 10), 8, (50, 38)),
            ((401, 1), 1, (400, 300)),
        ]
        let full = try Self.decode(file).image
        for item in cases {
            let decoded = try Self.decode(
                file, options: DecodeOptions(minimumWidth: item.request.0, minimumHeight: item.request.1))
            #expect(decoded.info.scaleDenominator == item.scale, "request \(item.request)")
            #expect(
                decoded.image.width == item.size.0 && decoded.image.height == item.size.1, "request \(item.request)")
            // A reduced decode shows the same picture: compare with the full decode's pixel at
            // the matching position (a smooth picture, so nearby values agree closely).
            let x = decoded.image.width / 3
            let y = decoded.image.height / 2
            let fullPixel = full[(x * item.scale) + item.scale / 2, (y * item.scale) + item.scale / 2]
            #expect(abs(Int(decoded.image[x, y].red) - Int(fullPixel.red)) <= 8)
        }
    }

    @Test func reducedSizeRequestIsInUprightOrientation() throws {
        // Stored 400x200, orientation 6 (turn clockwise): upright it is 200x400.
        let file = try JPEGFixture.encode(
            samples: testPicture(width: 400, height: 200), width: 400, height: 200, exif: exifOrientationBlock(6))
        let decoded = try Self.decode(file, options: DecodeOptions(minimumWidth: 50, minimumHeight: 100))
        #expect(decoded.info.scaleDenominator == 4)
        #expect(decoded.image.width == 50 && decoded.image.height == 100)
    }

    @Test func reducedSizeLeavesPNGAtFullSize() throws {
        let file = try ImageEncoder.png(Image(width: 40, height: 20, pixels: testPicture(width: 40, height: 20)))
        let decoded = try Self.decode(file, options: DecodeOptions(minimumWidth: 5, minimumHeight: 5))
        #expect(decoded.image.width == 40 && decoded.info.scaleDenominator == 1)
    }

    @Test func roundTripThroughFile() throws {
        let image = Image(width: Self.width, height: Self.height, pixels: Self.picture)
        let folder = try TemporaryFolder()
        let path = folder.file("round.jpg")
        try image.writeJPEG(to: path, quality: 100)
        let decoded = try ImageDecoder.decode(contentsOf: path)
        #expect(decoded.info.format == .jpeg)
        #expect(maxDifference(decoded.image.pixels, image.pixels) <= 12)  // measured 9 (chroma subsampling)
        let small = try ImageEncoder.jpeg(image, quality: 10)
        let large = try ImageEncoder.jpeg(image, quality: 100)
        #expect(small.count < large.count)
    }
}

import CImageShims
import Testing
import TestSupport

@testable import KeypointKit

/// Every PNG colour type and bit depth, plain and Adam7, against pixel values computed here from
/// the samples written: n-bit grey v becomes round(v * 255 / (2^n - 1)); 16-bit samples round
/// (not truncate); alpha is composited onto the background with
/// (c * a + bg * (255 - a) + 127) / 255.
struct PNGDecodeTests {
    static let width = 13  // odd, and not a multiple of 8, so packed rows end mid-byte
    static let height = 9

    static func to8(_ value: Int, bitDepth: Int) -> Int {
        bitDepth == 16 ? (value * 255 + 32767) / 65535 : value * 255 / ((1 << bitDepth) - 1)
    }

    static func composite(_ colour: Int, alpha: Int, background: Int = 255) -> UInt8 {
        UInt8((colour * alpha + background * (255 - alpha) + 127) / 255)
    }

    static func randomSamples(count: Int, bitDepth: Int, seed: UInt64) -> [Int] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in Int.random(in: 0..<(1 << bitDepth), using: &random) }
    }

    @Test(arguments: [1, 2, 4, 8, 16], [false, true])
    func gray(bitDepth: Int, interlaced: Bool) throws {
        let samples = Self.randomSamples(count: Self.width * Self.height, bitDepth: bitDepth, seed: UInt64(bitDepth))
        let file = try PNGFixture.encode(
            samples: samples, width: Self.width, height: Self.height, colorType: KP_COLOR_GRAY, bitDepth: bitDepth,
            interlaced: interlaced)
        let decoded = try ImageDecoder.decode(file)
        let expected = samples.flatMap { value -> [UInt8] in
            let grey = UInt8(Self.to8(value, bitDepth: bitDepth))
            return [grey, grey, grey]
        }
        #expect(decoded.image.pixels == expected)
        #expect(decoded.info.colorType == "gray" && decoded.info.bitDepth == bitDepth)
        #expect(decoded.info.interlaced == interlaced)
    }

    @Test(arguments: [8, 16], [false, true])
    func rgbAndAlpha(bitDepth: Int, interlaced: Bool) throws {
        let count = Self.width * Self.height
        for (colorType, channels) in [(KP_COLOR_RGB, 3), (KP_COLOR_RGBA, 4), (KP_COLOR_GRAY_ALPHA, 2)] {
            let samples = Self.randomSamples(count: count * channels, bitDepth: bitDepth, seed: UInt64(channels))
            let file = try PNGFixture.encode(
                samples: samples, width: Self.width, height: Self.height, colorType: colorType, bitDepth: bitDepth,
                interlaced: interlaced)
            let decoded = try ImageDecoder.decode(file)
            var expected: [UInt8] = []
            for pixel in 0..<count {
                let values = samples[(pixel * channels)..<(pixel * channels + channels)].map {
                    Self.to8($0, bitDepth: bitDepth)
                }
                switch channels {
                case 3: expected += values.map { UInt8($0) }
                case 4: expected += values[0..<3].map { Self.composite($0, alpha: values[3]) }
                default: expected += Array(repeating: Self.composite(values[0], alpha: values[1]), count: 3)
                }
            }
            #expect(decoded.image.pixels == expected, "colour type \(colorType), \(bitDepth) bits")
            #expect(decoded.info.hasAlpha == (channels % 2 == 0))
        }
    }

    @Test(arguments: [1, 2, 4, 8], [false, true])
    func paletteWithTransparency(bitDepth: Int, interlaced: Bool) throws {
        let entries = 1 << bitDepth
        var random = SplitMix64(seed: 99)
        let palette = (0..<entries).map { _ in
            RGB(
                UInt8.random(in: 0...255, using: &random), UInt8.random(in: 0...255, using: &random),
                UInt8.random(in: 0...255, using: &random))
        }
        // tRNS may be shorter than the palette: the entries it leaves out are opaque.
        let alphas = (0..<max(entries / 2, 1)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let indices = Self.randomSamples(count: Self.width * Self.height, bitDepth: bitDepth, seed: 7)
        let file = try PNGFixture.encode(
            samples: indices, width: Self.width, height: Self.height, colorType: KP_COLOR_PALETTE, bitDepth: bitDepth,
            interlaced: interlaced, palette: palette, paletteAlpha: alphas)
        let decoded = try ImageDecoder.decode(file)
        let expected = indices.flatMap { index -> [UInt8] in
            let colour = palette[index]
            let alpha = index < alphas.count ? Int(alphas[index]) : 255
            return [colour.red, colour.green, colour.blue].map { Self.composite(Int($0), alpha: alpha) }
        }
        #expect(decoded.image.pixels == expected)
        #expect(decoded.info.colorType == "palette" && decoded.info.hasAlpha)
    }

    @Test func transparentColourKeyOnGrayAndRGB() throws {
        let grey = [0, 3, 7, 3, 15, 3]
        let greyFile = try PNGFixture.encode(
            samples: grey, width: 3, height: 2, colorType: KP_COLOR_GRAY, bitDepth: 4, transparentColor: [3])
        let greyPixels = try ImageDecoder.decode(greyFile, options: DecodeOptions(background: RGB(10, 20, 30)))
        let expectedGrey: [RGB] = [
            RGB(0, 0, 0), RGB(10, 20, 30), RGB(119, 119, 119), RGB(10, 20, 30), RGB(255, 255, 255), RGB(10, 20, 30),
        ]
        #expect((0..<6).map { greyPixels.image[$0 % 3, $0 / 3] } == expectedGrey)

        let rgb = [1, 2, 3, 4, 5, 6]
        let rgbFile = try PNGFixture.encode(
            samples: rgb, width: 2, height: 1, colorType: KP_COLOR_RGB, bitDepth: 8, transparentColor: [4, 5, 6])
        let rgbPixels = try ImageDecoder.decode(rgbFile)
        #expect(rgbPixels.image.pixels == [1, 2, 3, 255, 255, 255])
    }

    @Test func sixteenBitSamplesRoundToNearest() throws {
        // v / 257: 255 -> 0.992 and 129 -> 0.502 round to 1, 128 -> 0.498 to 0; taking the high
        // byte (truncation, as Pillow does) would give 0 for all three.
        let samples = [0x00FF, 0x0081, 0x0080, 0xFFFF]
        let file = try PNGFixture.encode(samples: samples, width: 4, height: 1, colorType: KP_COLOR_GRAY, bitDepth: 16)
        let decoded = try ImageDecoder.decode(file)
        #expect((0..<4).map { decoded.image[$0, 0].red } == [1, 1, 0, 255])
    }

    @Test func roundTrip() throws {
        let pixels = testPicture(width: 37, height: 23)
        let image = Image(width: 37, height: 23, pixels: pixels)
        let folder = try TemporaryFolder()
        let path = folder.file("round.png")
        try image.writePNG(to: path)
        #expect(try ImageDecoder.decode(contentsOf: path).image == image)
    }
}

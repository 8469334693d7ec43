import CImageShims
import Foundation
import Testing
import TestSupport

@testable import KeypointKit

/// An independent decoder on the same files: `Scripts/crosscheck_pillow.py` decodes with Pillow
/// (pip install pillow) and compares with our decodes.
///
/// What is compared, and how closely:
/// - PNG, every colour type and bit depth, plain and Adam7, with tRNS, with eXIf orientation:
///   identical. 16-bit samples are written as v * 257 (high byte = low byte), where Pillow's
///   truncation and our rounding agree; rounding itself is tested in PNGDecodeTests.
/// - JPEG baseline, progressive, restart markers, grayscale, EXIF-rotated, reduced 1/2, 1/4,
///   1/8: within 1 level. Both use libjpeg-turbo's default islow IDCT and fancy upsampling, but
///   Pillow bundles libjpeg-turbo 3.x and we link the system's (2.1.5 on Debian 12).
/// - CMYK and YCCK (Adobe, inverted): within 1 level (same formula, rounding may differ).
struct PillowCrossCheckTests {
    static func ppm(_ image: Image) -> [UInt8] {
        Array("P6\n\(image.width) \(image.height)\n255\n".utf8) + image.pixels
    }

    @Test func decodesMatchPillow() throws {
        let folder = try TemporaryFolder()
        var files: [(name: String, bytes: [UInt8], tolerance: Int, request: (Int, Int)?)] = []
        var random = SplitMix64(seed: 2024)
        let width = 21
        let height = 11
        for interlaced in [false, true] {
            let suffix = interlaced ? "-adam7" : ""
            for bitDepth in [1, 2, 4, 8, 16] {
                let samples = (0..<(width * height)).map { _ in
                    bitDepth == 16
                        ? Int(UInt8.random(in: 0...255, using: &random)) * 257
                        : Int.random(in: 0..<(1 << bitDepth), using: &random)
                }
                files.append(
                    (
                        "gray\(bitDepth)\(suffix).png",
                        try PNGFixture.encode(
                            samples: samples, width: width, height: height, colorType: KP_COLOR_GRAY,
                            bitDepth: bitDepth,
                            interlaced: interlaced), 0, nil
                    ))
                if bitDepth <= 8 {
                    let palette = (0..<(1 << bitDepth)).map { _ in
                        RGB(
                            UInt8.random(in: 0...255, using: &random), UInt8.random(in: 0...255, using: &random),
                            UInt8.random(in: 0...255, using: &random))
                    }
                    let alphas = (0..<palette.count).map { _ in UInt8.random(in: 0...255, using: &random) }
                    files.append(
                        (
                            "palette\(bitDepth)\(suffix).png",
                            try PNGFixture.encode(
                                samples: samples, width: width, height: height, colorType: KP_COLOR_PALETTE,
                                bitDepth: bitDepth,
                                interlaced: interlaced, palette: palette, paletteAlpha: alphas), 0, nil
                        ))
                }
            }
            for (name, colorType, channels) in [
                ("ga", KP_COLOR_GRAY_ALPHA, 2), ("rgb", KP_COLOR_RGB, 3), ("rgba", KP_COLOR_RGBA, 4),
            ] {
                for bitDepth in [8, 16] {
                    let samples = (0..<(width * height * channels)).map { _ in
                        Int(UInt8.random(in: 0...255, using: &random)) * (bitDepth == 16 ? 257 : 1)
                    }
                    files.append(
                        (
                            "\(name)\(bitDepth)\(suffix).png",
                            try PNGFixture.encode(
                                samples: samples, width: width, height: height, colorType: colorType,
                                bitDepth: bitDepth,
                                interlaced: interlaced), 0, nil
                        ))
                }
            }
        }
        let rgbSamples = (0..<(width * height * 3)).map { _ in Int(UInt8.random(in: 0...255, using: &random)) }
        files.append(
            (
                "rgb-key.png",
                try PNGFixture.encode(
                    samples: rgbSamples.enumerated().map { $0.offset < 3 ? 7 : $0.element }, width: width,
                    height: height,
                    colorType: KP_COLOR_RGB, bitDepth: 8, transparentColor: [7, 7, 7]), 0, nil
            ))
        for orientation in 1...8 {
            files.append(
                (
                    "exif\(orientation).png",
                    try PNGFixture.encode(
                        samples: rgbSamples, width: width, height: height, colorType: KP_COLOR_RGB, bitDepth: 8,
                        exif: exifOrientationBlock(orientation)), 0, nil
                ))
        }

        let pictureWidth = 203
        let pictureHeight = 131
        let picture = testPicture(width: pictureWidth, height: pictureHeight)
        func jpeg(
            _ name: String, samples: [UInt8] = picture, input: kp_color_type = KP_COLOR_RGB,
            stored: kp_color_type = KP_COLOR_YCBCR,
            progressive: Bool = false, restartRows: Int = 0, exif: [UInt8]? = nil, request: (Int, Int)? = nil
        ) throws {
            files.append(
                (
                    name,
                    try JPEGFixture.encode(
                        samples: samples, width: pictureWidth, height: pictureHeight, input: input, stored: stored,
                        progressive: progressive, restartRows: restartRows, exif: exif), 1, request
                ))
        }
        try jpeg("baseline.jpg")
        try jpeg("progressive.jpg", progressive: true)
        try jpeg("restart.jpg", restartRows: 2)
        let grey = (0..<(pictureWidth * pictureHeight)).map { picture[$0 * 3 + 1] }
        try jpeg("gray.jpg", samples: grey, input: KP_COLOR_GRAY, stored: KP_COLOR_GRAY)
        var cmyk: [UInt8] = []
        for index in 0..<(pictureWidth * pictureHeight) {
            let black = UInt8(200 + index % 50)
            cmyk += [picture[index * 3], picture[index * 3 + 1], picture[index * 3 + 2], black]
        }
        try jpeg("cmyk.jpg", samples: cmyk, input: KP_COLOR_CMYK, stored: KP_COLOR_CMYK)
        try jpeg("ycck.jpg", samples: cmyk, input: KP_COLOR_CMYK, stored: KP_COLOR_YCCK)
        for orientation in [3, 6, 8] {
            try jpeg("exif\(orientation).jpg", exif: exifOrientationBlock(orientation))
        }
        for scale in [2, 4, 8] {
            // Pillow picks the scale as the floor of original / requested; this request gives the same 1/scale both ways.
            let request = (pictureWidth / scale, pictureHeight / scale)
            try jpeg("reduced\(scale).jpg", request: request)
            try jpeg("reduced\(scale)-progressive.jpg", progressive: true, request: request)
        }

        var manifest: [[String: Any]] = []
        for file in files {
            let imagePath = try folder.write(file.bytes, to: file.name)
            let options = DecodeOptions(minimumWidth: file.request?.0 ?? 0, minimumHeight: file.request?.1 ?? 0)
            let decoded = try ImageDecoder.decode(contentsOf: imagePath, options: options)
            let oursPath = try folder.write(Self.ppm(decoded.image), to: file.name + ".ppm")
            var entry: [String: Any] = ["image": imagePath, "ours": oursPath, "tolerance": file.tolerance]
            if let request = file.request { entry["draft"] = [request.0, request.1] }
            manifest.append(entry)
        }
        let manifestPath = folder.file("manifest.json")
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath))

        let (status, report) = try runPythonScript("crosscheck_pillow.py", [manifestPath])
        #expect(status == 0, "Pillow cross-check failed:\n\(report)")
        #expect(report.contains("\(files.count) of \(files.count) files match Pillow"), "\(report)")
    }
}

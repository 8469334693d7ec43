import CImageShims
import Foundation
import Testing
import TestSupport

@testable import KeypointKit

/// Damaged and hostile input: every case returns an image or throws an `ImageError` naming the
/// file; nothing traps, prints or exits.
struct BadInputTests {
    static func validPNG() throws -> [UInt8] {
        try ImageEncoder.png(Image(width: 40, height: 30, pixels: testPicture(width: 40, height: 30)))
    }

    static func validJPEG() throws -> [UInt8] {
        try JPEGFixture.encode(samples: testPicture(width: 40, height: 30), width: 40, height: 30)
    }

    /// Truncation at 20 offsets spread over the file, from inside the signature to the last byte.
    /// A strict decode must refuse every one: the image data is incomplete.
    @Test(arguments: ["png", "jpeg"])
    func truncatedFilesAreRefused(format: String) throws {
        let file = format == "png" ? try Self.validPNG() : try Self.validJPEG()
        for step in 0..<20 {
            let length = 1 + (file.count - 2) * step / 19
            #expect(throws: ImageError.self, "truncated to \(length) of \(file.count) bytes") {
                try ImageDecoder.decode(Array(file.prefix(length)), path: "cut.\(format)")
            }
        }
    }

    /// 200 seeded single-bit flips: each must give an image or an ImageError.
    @Test(arguments: ["png", "jpeg"])
    func flippedBitsNeverCrash(format: String) throws {
        let file = format == "png" ? try Self.validPNG() : try Self.validJPEG()
        var random = SplitMix64(seed: format == "png" ? 1 : 2)
        var refused = 0
        for _ in 0..<200 {
            var damaged = file
            let position = Int.random(in: 0..<damaged.count, using: &random)
            damaged[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
            do {
                let decoded = try ImageDecoder.decode(damaged, path: "flipped.\(format)")
                #expect(decoded.image.pixels.count == decoded.image.width * decoded.image.height * 3)
            } catch let error as ImageError {
                refused += 1
                #expect(error.path == "flipped.\(format)")
            }
        }
        // PNG checks a CRC on every chunk, so nearly every flip is caught.
        if format == "png" { #expect(refused >= 190) }
    }

    @Test func acceptDamagedReturnsTheRecoveredJPEG() throws {
        let file = try JPEGFixture.encode(samples: testPicture(width: 200, height: 150), width: 200, height: 150)
        let truncated = Array(file.prefix(file.count * 2 / 3))
        #expect(throws: ImageError.self) { try ImageDecoder.decode(truncated) }
        let recovered = try ImageDecoder.decode(truncated, options: DecodeOptions(acceptDamaged: true))
        #expect(recovered.image.width == 200 && recovered.image.height == 150)
    }

    @Test func errorsNameTheFileAndTheReason() throws {
        let folder = try TemporaryFolder()
        let empty = try folder.write([], to: "empty.png")
        let text = try folder.write(Array("just some text\n".utf8), to: "notes.png")
        let gif = try folder.write(Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0], to: "anim.jpg")
        let huge = try folder.write(pngHeaderOnly(width: 100_000, height: 100_000), to: "huge.png")
        let zero = try folder.write(pngHeaderOnly(width: 0, height: 10), to: "zero.png")
        let missing = folder.file("missing.png")
        let cases: [(String, ImageError)] = [
            (empty, .emptyFile(path: empty)),
            (text, .unsupportedFormat(path: text, detected: "text")),
            (gif, .unsupportedFormat(path: gif, detected: "a GIF image")),
            (huge, .tooManyPixels(path: huge, width: 100_000, height: 100_000, limit: DecodeOptions().maxPixels)),
            (missing, .fileNotFound(path: missing)),
            (folder.path, .notAFile(path: folder.path, kind: "directory")),
            (empty + "/inside.png", .fileNotFound(path: empty + "/inside.png")),
        ]
        for (path, expected) in cases {
            #expect(throws: expected) { try ImageDecoder.decode(contentsOf: path) }
        }
        do {
            _ = try ImageDecoder.decode(contentsOf: zero)
            Issue.record("a zero-width PNG decoded")
        } catch let error as ImageError {
            #expect(error.description.hasPrefix(zero + ": invalid PNG data"), "\(error)")
        }
        #expect(ImageError.emptyFile(path: "a.png").description == "a.png: the file is empty (0 bytes)")
    }

    @Test func pixelLimitIsConfigurable() throws {
        let file = try Self.validJPEG()  // 40 x 30 = 1200 pixels
        #expect(throws: ImageError.tooManyPixels(path: "<memory>", width: 40, height: 30, limit: 1199)) {
            try ImageDecoder.decode(file, options: DecodeOptions(maxPixels: 1199))
        }
        #expect(try ImageDecoder.decode(file, options: DecodeOptions(maxPixels: 1200)).image.width == 40)
    }

    @Test func fileSizeLimit() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write(try Self.validPNG(), to: "a.png")
        #expect(throws: ImageError.self) {
            try ImageDecoder.decode(contentsOf: path, options: DecodeOptions(maxFileBytes: 10))
        }
    }
}

import CImageShims
import Foundation

@_spi(Fixtures) import KeypointKit

// Image files made in the test, for the decoders.

public enum PNGFixture {
    /// Packs samples (one per channel per pixel, each `< 2^bitDepth`) into PNG scanlines.
    public static func pack(_ samples: [Int], width: Int, height: Int, channels: Int, bitDepth: Int) -> (
        rows: [UInt8], rowBytes: Int
    ) {
        let rowBytes = (width * channels * bitDepth + 7) / 8
        var rows = [UInt8](repeating: 0, count: rowBytes * height)
        for y in 0..<height {
            for index in 0..<(width * channels) {
                let value = samples[y * width * channels + index]
                let row = y * rowBytes
                switch bitDepth {
                case 16:
                    rows[row + index * 2] = UInt8(value >> 8)
                    rows[row + index * 2 + 1] = UInt8(value & 0xFF)
                case 8:
                    rows[row + index] = UInt8(value)
                default:
                    let bit = index * bitDepth
                    let shift = 8 - bitDepth - bit % 8
                    rows[row + bit / 8] |= UInt8(value << shift)
                }
            }
        }
        return (rows, rowBytes)
    }

    public static func encode(
        samples: [Int], width: Int, height: Int, colorType: kp_color_type, bitDepth: Int, interlaced: Bool = false,
        palette: [RGB] = [], paletteAlpha: [UInt8] = [], transparentColor: [UInt16]? = nil, exif: [UInt8]? = nil
    ) throws -> [UInt8] {
        let channels: Int
        switch colorType {
        case KP_COLOR_GRAY, KP_COLOR_PALETTE: channels = 1
        case KP_COLOR_GRAY_ALPHA: channels = 2
        case KP_COLOR_RGB: channels = 3
        default: channels = 4
        }
        let (rows, rowBytes) = pack(samples, width: width, height: height, channels: channels, bitDepth: bitDepth)
        let paletteBytes = palette.flatMap { [$0.red, $0.green, $0.blue] }
        return try paletteBytes.withUnsafeBufferPointer { paletteBuffer in
            try paletteAlpha.withUnsafeBufferPointer { alphaBuffer in
                try (exif ?? []).withUnsafeBufferPointer { exifBuffer in
                    var layout = kp_png_layout()
                    layout.width = UInt32(width)
                    layout.height = UInt32(height)
                    layout.color_type = Int32(colorType.rawValue)
                    layout.bit_depth = Int32(bitDepth)
                    layout.interlaced = interlaced ? 1 : 0
                    layout.compression_level = -1
                    layout.palette = paletteBuffer.baseAddress
                    layout.palette_size = Int32(palette.count)
                    layout.palette_alpha = alphaBuffer.baseAddress
                    layout.alpha_size = Int32(paletteAlpha.count)
                    if let key = transparentColor {
                        layout.has_transparent_color = 1
                        layout.transparent_color = (key[0], key.count > 1 ? key[1] : 0, key.count > 2 ? key[2] : 0)
                    }
                    if exif != nil {
                        layout.exif = exifBuffer.baseAddress
                        layout.exif_size = exifBuffer.count
                    }
                    return try ImageEncoder.png(rows: rows, rowBytes: rowBytes, layout: layout)
                }
            }
        }
    }
}

public enum JPEGFixture {
    public static func encode(
        samples: [UInt8], width: Int, height: Int, input: kp_color_type = KP_COLOR_RGB,
        stored: kp_color_type = KP_COLOR_YCBCR, quality: Int = 90, progressive: Bool = false, restartRows: Int = 0,
        exif: [UInt8]? = nil
    ) throws -> [UInt8] {
        let app1 = exif.map { Array("Exif".utf8) + [0, 0] + $0 } ?? []
        return try app1.withUnsafeBufferPointer { app1Buffer in
            var layout = kp_jpeg_layout()
            layout.width = UInt32(width)
            layout.height = UInt32(height)
            layout.input_color = Int32(input.rawValue)
            layout.stored_color = Int32(stored.rawValue)
            layout.quality = Int32(quality)
            layout.progressive = progressive ? 1 : 0
            layout.restart_rows = Int32(restartRows)
            if exif != nil {
                layout.exif = app1Buffer.baseAddress
                layout.exif_size = app1Buffer.count
            }
            return try ImageEncoder.jpeg(pixels: samples, layout: layout)
        }
    }
}

/// A minimal TIFF structure (little-endian, IFD0 with one entry) holding an orientation tag,
/// as it sits inside a JPEG APP1 "Exif" segment or a PNG eXIf chunk.
public func exifOrientationBlock(_ orientation: Int) -> [UInt8] {
    [
        0x49, 0x49, 42, 0, 8, 0, 0, 0,  // "II", 42, IFD0 at offset 8
        1, 0,  // one entry
        0x12, 0x01, 3, 0, 1, 0, 0, 0, UInt8(orientation), 0, 0, 0,  // 0x0112 SHORT x1 = orientation
        0, 0, 0, 0,
    ]  // no next IFD
}

/// A smooth, textured RGB test picture (JPEG-friendly), `width * height * 3` bytes.
public func testPicture(width: Int, height: Int) -> [UInt8] {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let index = (y * width + x) * 3
            pixels[index] = UInt8(x * 255 / max(width - 1, 1))
            pixels[index + 1] = UInt8(y * 255 / max(height - 1, 1))
            pixels[index + 2] = UInt8(128 + 100 * sin(Double(x + y) / 7))
        }
    }
    return pixels
}

/// CRC-32 as PNG chunks use it (ISO 3309, reflected 0xEDB88320).
public func crc32(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
    }
    return ~crc
}

public func bigEndian(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

/// A PNG made only of a signature and an IHDR chunk (valid CRC) declaring `width` x `height`.
public func pngHeaderOnly(width: UInt32, height: UInt32) -> [UInt8] {
    let body = Array("IHDR".utf8) + bigEndian(width) + bigEndian(height) + [8, 2, 0, 0, 0]
    return ImageFormat.pngSignature + bigEndian(13) + body + bigEndian(crc32(body))
}

public func maxDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    zip(a, b).map { abs(Int($0) - Int($1)) }.max() ?? 0
}

/// Runs one of the repository's Python scripts (Scripts/NAME) with python3; returns its exit
/// status and everything it printed (stdout and stderr together).

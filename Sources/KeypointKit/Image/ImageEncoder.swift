import CImageShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

public enum ImageEncoder {
    /// 8-bit RGB PNG bytes. `compressionLevel` is zlib's 0 (fastest) to 9 (smallest).
    public static func png(_ image: Image, compressionLevel: Int = 6) throws -> [UInt8] {
        var layout = kp_png_layout()
        layout.width = UInt32(image.width)
        layout.height = UInt32(image.height)
        layout.color_type = Int32(KP_COLOR_RGB.rawValue)
        layout.bit_depth = 8
        layout.compression_level = Int32(min(max(compressionLevel, 0), 9))
        return try png(rows: image.pixels, rowBytes: image.width * 3, layout: layout)
    }

    /// Baseline JPEG bytes (YCbCr, 4:2:0) at `quality` 1-100.
    public static func jpeg(_ image: Image, quality: Int = 90) throws -> [UInt8] {
        var layout = kp_jpeg_layout()
        layout.width = UInt32(image.width)
        layout.height = UInt32(image.height)
        layout.input_color = Int32(KP_COLOR_RGB.rawValue)
        layout.stored_color = Int32(KP_COLOR_YCBCR.rawValue)
        layout.quality = Int32(min(max(quality, 1), 100))
        return try jpeg(pixels: image.pixels, layout: layout)
    }

    /// Any PNG layout libpng can write, from packed scanlines `rowBytes` apart (the tests' fixtures).
    @_spi(Fixtures) public static func png(rows: [UInt8], rowBytes: Int, layout: kp_png_layout) throws -> [UInt8] {
        var layout = layout
        var encoded = kp_encoded()
        let status = rows.withUnsafeBufferPointer { kp_png_encode($0.baseAddress, rowBytes, &layout, &encoded) }
        return try take(&encoded, status: status)
    }

    /// Any JPEG layout libjpeg can write, from interleaved samples (the tests' fixtures).
    @_spi(Fixtures) public static func jpeg(pixels: [UInt8], layout: kp_jpeg_layout) throws -> [UInt8] {
        var layout = layout
        var encoded = kp_encoded()
        let status = pixels.withUnsafeBufferPointer { kp_jpeg_encode($0.baseAddress, &layout, &encoded) }
        return try take(&encoded, status: status)
    }

    private static func take(_ encoded: inout kp_encoded, status: Int32) throws -> [UInt8] {
        defer { kp_free(encoded.bytes) }
        guard status == KP_OK.rawValue, let bytes = encoded.bytes else {
            let message = withUnsafeBytes(of: encoded.message) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            throw ImageError.writeFailed(path: "<memory>", reason: "encoding failed: \(message)")
        }
        return Array(UnsafeBufferPointer(start: bytes, count: encoded.size))
    }
}

extension Image {
    /// Writes the image as PNG, atomically: readers see the old file or the complete new one.
    public func writePNG(to path: String, compressionLevel: Int = 6) throws {
        try writeFileAtomically(ImageEncoder.png(self, compressionLevel: compressionLevel), to: path)
    }

    /// Writes the image as JPEG at `quality` 1-100, atomically.
    public func writeJPEG(to path: String, quality: Int = 90) throws {
        try writeFileAtomically(ImageEncoder.jpeg(self, quality: quality), to: path)
    }
}

/// Writes `bytes` to a temporary file beside `path`, flushes it to disk, then renames it over
/// `path`. A crash at any moment leaves either the previous file or the complete new one.
public func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let temporary =
        "\(directory.isEmpty ? "/" : directory)/.\(name).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
    func failure(_ code: Int32) -> ImageError {
        .writeFailed(path: path, reason: String(cString: strerror(code)))
    }
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw failure(errno) }
    var written = 0
    var code: Int32 = 0
    bytes.withUnsafeBytes { buffer in
        while written < buffer.count {
            let count = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 {
                code = count < 0 ? errno : EIO
                return
            }
            written += count
        }
    }
    if code == 0 && fsync(descriptor) != 0 { code = errno }
    if close(descriptor) != 0 && code == 0 { code = errno }
    if code == 0 && rename(temporary, path) != 0 { code = errno }
    if code != 0 {
        unlink(temporary)
        throw failure(code)
    }
}

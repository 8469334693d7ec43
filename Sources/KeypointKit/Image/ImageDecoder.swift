import CImageShims

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How to decode: limits, damage policy, transparency and reduced-size decoding.
public struct DecodeOptions: Sendable, Equatable {
    /// Refuse images whose header declares more pixels than this, before allocating for them.
    public var maxPixels: Int
    /// Refuse files larger than this many bytes without reading them.
    public var maxFileBytes: Int
    /// Reduced-size decode: the smallest upright size the caller needs. A JPEG is then decoded
    /// with libjpeg's DCT scaling (1/2, 1/4 or 1/8) as long as the result is still at least this
    /// large; other formats decode at full size. 0 means full size.
    public var minimumWidth: Int
    public var minimumHeight: Int
    /// Return JPEG images that libjpeg decoded only by recovering from damaged data (a truncated
    /// file, a corrupt segment; the missing part is filled grey) instead of throwing `.damaged`.
    /// PNG files whose image data is complete but whose trailing chunks are damaged likewise.
    public var acceptDamaged: Bool
    /// Transparent pixels are composited onto this colour:
    /// `out = (colour * alpha + background * (255 - alpha) + 127) / 255`.
    public var background: RGB
    /// Turn the image upright according to its EXIF orientation tag.
    public var appliesOrientation: Bool

    public init(
        maxPixels: Int = 1 << 27, maxFileBytes: Int = 1 << 30, minimumWidth: Int = 0, minimumHeight: Int = 0,
        acceptDamaged: Bool = false, background: RGB = .white, appliesOrientation: Bool = true
    ) {
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
        self.minimumWidth = minimumWidth
        self.minimumHeight = minimumHeight
        self.acceptDamaged = acceptDamaged
        self.background = background
        self.appliesOrientation = appliesOrientation
    }
}

/// What the file declares, beside the decoded pixels.
public struct ImageInfo: Sendable, Equatable, Codable {
    public var format: ImageFormat
    /// Size as stored in the file, before orientation and reduced-size decoding.
    public var storedWidth: Int
    public var storedHeight: Int
    /// "gray", "gray+alpha", "rgb", "rgba", "palette" (PNG); "gray", "ycbcr", "rgb", "cmyk", "ycck" (JPEG).
    public var colorType: String
    public var bitDepth: Int
    /// PNG Adam7 interlacing, or JPEG progressive coding.
    public var interlaced: Bool
    public var hasAlpha: Bool
    public var orientation: Orientation
    /// 1 for a full-size decode; 2, 4 or 8 when a JPEG was decoded reduced.
    public var scaleDenominator: Int
}

public struct DecodedImage: Sendable {
    /// Upright (when `appliesOrientation`), possibly reduced, 8-bit RGB.
    public var image: Image
    public var info: ImageInfo
}

public enum ImageDecoder {
    /// Reads and decodes the PNG or JPEG file at `path`.
    /// - Throws: `ImageError`, naming the file and the reason.
    public static func decode(contentsOf path: String, options: DecodeOptions = DecodeOptions()) throws
        -> DecodedImage
    {
        let bytes = try readFile(path, limit: options.maxFileBytes)
        return try decode(bytes, path: path, options: options)
    }

    /// Decodes PNG or JPEG bytes; `path` only names the source in errors.
    public static func decode(_ bytes: [UInt8], path: String = "<memory>", options: DecodeOptions = DecodeOptions())
        throws -> DecodedImage
    {
        guard !bytes.isEmpty else { throw ImageError.emptyFile(path: path) }
        guard let format = ImageFormat.sniff(bytes) else {
            throw ImageError.unsupportedFormat(path: path, detected: ImageFormat.describeUnsupported(bytes))
        }
        let orientation = options.appliesOrientation ? ExifReader.orientation(in: bytes, format: format) : .up
        var codecOptions = kp_decode_options()
        codecOptions.max_pixels = UInt64(max(0, options.maxPixels))
        let minimumWidth = orientation.swapsAxes ? options.minimumHeight : options.minimumWidth
        let minimumHeight = orientation.swapsAxes ? options.minimumWidth : options.minimumHeight
        codecOptions.min_width = UInt32(clamping: minimumWidth)
        codecOptions.min_height = UInt32(clamping: minimumHeight)
        codecOptions.accept_damaged = options.acceptDamaged ? 1 : 0
        codecOptions.background = (options.background.red, options.background.green, options.background.blue)

        var decoded = kp_decoded()
        let stored = try bytes.withUnsafeBufferPointer { buffer in
            switch format {
            case .png:
                return try decodePixels(
                    open: { kp_png_decoder_open(buffer.baseAddress, buffer.count, &codecOptions, $0, &$1) },
                    read: kp_png_decoder_read, close: kp_png_decoder_close, info: &decoded, format: format,
                    path: path, options: options)
            case .jpeg:
                return try decodePixels(
                    open: { kp_jpeg_decoder_open(buffer.baseAddress, buffer.count, &codecOptions, $0, &$1) },
                    read: kp_jpeg_decoder_read, close: kp_jpeg_decoder_close, info: &decoded, format: format,
                    path: path, options: options)
            }
        }
        let info = ImageInfo(
            format: format, storedWidth: Int(decoded.stored_width), storedHeight: Int(decoded.stored_height),
            colorType: colorTypeName(decoded.color_type), bitDepth: Int(decoded.bit_depth),
            interlaced: decoded.interlaced != 0, hasAlpha: decoded.has_alpha != 0, orientation: orientation,
            scaleDenominator: Int(decoded.scale_denominator))
        return DecodedImage(image: stored.applying(orientation), info: info)
    }

    /// Opens a C decoder, then decodes straight into the image's own pixel array.
    private static func decodePixels(
        open: (UnsafeMutablePointer<kp_decoded>, inout Int32) -> OpaquePointer?,
        read: (OpaquePointer, UnsafeMutablePointer<UInt8>?, UnsafeMutablePointer<kp_decoded>) -> Int32,
        close: (OpaquePointer) -> Void, info: inout kp_decoded, format: ImageFormat, path: String,
        options: DecodeOptions
    ) throws -> Image {
        var status: Int32 = 0
        guard let decoder = open(&info, &status) else {
            throw error(status: status, info: info, format: format, path: path, options: options)
        }
        defer { close(decoder) }
        let width = Int(info.width)
        let height = Int(info.height)
        guard width > 0, height > 0 else {
            throw ImageError.invalidDimensions(path: path, width: width, height: height)
        }
        var readStatus: Int32 = 0
        let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { buffer, count in
            readStatus = read(decoder, buffer.baseAddress, &info)
            // On failure the buffer is only partly written; zero it so the array is initialised.
            if readStatus != KP_OK.rawValue { buffer.initialize(repeating: 0) }
            count = buffer.count
        }
        guard readStatus == KP_OK.rawValue else {
            throw error(status: readStatus, info: info, format: format, path: path, options: options)
        }
        return Image(width: width, height: height, pixels: pixels)
    }

    private static func error(
        status: Int32, info: kp_decoded, format: ImageFormat, path: String, options: DecodeOptions
    )
        -> ImageError
    {
        let message = withUnsafeBytes(of: info.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        switch kp_status(UInt32(status)) {
        case KP_ERROR_TOO_LARGE:
            return .tooManyPixels(
                path: path, width: Int(info.stored_width), height: Int(info.stored_height), limit: options.maxPixels)
        case KP_ERROR_DAMAGED:
            return .damaged(path: path, reason: message)
        case KP_ERROR_NO_MEMORY:
            return .outOfMemory(path: path)
        default:
            return .invalidData(path: path, format: format, reason: message)
        }
    }

    private static func colorTypeName(_ type: Int32) -> String {
        switch kp_color_type(UInt32(type)) {
        case KP_COLOR_GRAY: return "gray"
        case KP_COLOR_GRAY_ALPHA: return "gray+alpha"
        case KP_COLOR_RGB: return "rgb"
        case KP_COLOR_RGBA: return "rgba"
        case KP_COLOR_PALETTE: return "palette"
        case KP_COLOR_YCBCR: return "ycbcr"
        case KP_COLOR_CMYK: return "cmyk"
        case KP_COLOR_YCCK: return "ycck"
        default: return "unknown"
        }
    }
}

/// The whole content of a regular file, with errors that say which file and why.
func readFile(_ path: String, limit: Int) throws -> [UInt8] {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    if descriptor < 0 {
        let code = errno
        if code == ENOENT || code == ENOTDIR { throw ImageError.fileNotFound(path: path) }
        throw ImageError.unreadable(path: path, reason: String(cString: strerror(code)))
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else {
        throw ImageError.unreadable(path: path, reason: String(cString: strerror(errno)))
    }
    switch status.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: throw ImageError.notAFile(path: path, kind: "directory")
    default: throw ImageError.notAFile(path: path, kind: "special file (device, pipe or socket)")
    }
    let size = Int(status.st_size)
    guard size <= limit else { throw ImageError.fileTooLarge(path: path, bytes: size, limit: limit) }
    var failure: Int32 = 0
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
        while count < size {
            let got = read(descriptor, buffer.baseAddress! + count, size - count)
            if got < 0 && errno == EINTR { continue }
            if got <= 0 {
                failure = got < 0 ? errno : 0
                break
            }
            count += got
        }
    }
    if failure != 0 { throw ImageError.unreadable(path: path, reason: String(cString: strerror(failure))) }
    return bytes
}

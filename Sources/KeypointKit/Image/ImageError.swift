/// Why an image could not be read or written. Every case names the file, and the message says
/// what is wrong in words a user can act on.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    case fileNotFound(path: String)
    case notAFile(path: String, kind: String)
    case unreadable(path: String, reason: String)
    case emptyFile(path: String)
    case fileTooLarge(path: String, bytes: Int, limit: Int)
    case unsupportedFormat(path: String, detected: String?)
    case tooManyPixels(path: String, width: Int, height: Int, limit: Int)
    case invalidDimensions(path: String, width: Int, height: Int)
    /// The decoder recovered from damaged data (truncated file, corrupt segment); the image
    /// would contain filler. `DecodeOptions.acceptDamaged` accepts such images.
    case damaged(path: String, reason: String)
    case invalidData(path: String, format: ImageFormat, reason: String)
    case outOfMemory(path: String)
    case writeFailed(path: String, reason: String)

    public var path: String {
        switch self {
        case .fileNotFound(let path), .notAFile(let path, _), .unreadable(let path, _), .emptyFile(let path),
            .fileTooLarge(let path, _, _), .unsupportedFormat(let path, _), .tooManyPixels(let path, _, _, _),
            .invalidDimensions(let path, _, _), .damaged(let path, _), .invalidData(let path, _, _),
            .outOfMemory(let path), .writeFailed(let path, _):
            return path
        }
    }

    /// The reason alone, without the path.
    public var reason: String {
        switch self {
        case .fileNotFound:
            return "no such file"
        case .notAFile(_, let kind):
            return "is a \(kind), not an image file"
        case .unreadable(_, let reason):
            return "cannot be read: \(reason)"
        case .emptyFile:
            return "the file is empty (0 bytes)"
        case .fileTooLarge(_, let bytes, let limit):
            return "the file has \(bytes) bytes, more than the limit of \(limit)"
        case .unsupportedFormat(_, let detected?):
            return "\(detected) images are not supported; only PNG and JPEG are"
        case .unsupportedFormat(_, nil):
            return "not a PNG or JPEG file (the first bytes match neither signature)"
        case .tooManyPixels(_, let width, let height, let limit):
            return "the header declares \(width) x \(height) pixels, more than the limit of \(limit) pixels"
        case .invalidDimensions(_, let width, let height):
            return "the header declares an invalid size of \(width) x \(height) pixels"
        case .damaged(_, let reason):
            return "damaged image data: \(reason)"
        case .invalidData(_, let format, let reason):
            return "invalid \(format.name) data: \(reason)"
        case .outOfMemory:
            return "not enough memory to decode it"
        case .writeFailed(_, let reason):
            return "cannot be written: \(reason)"
        }
    }

    public var description: String { "\(path): \(reason)" }
}

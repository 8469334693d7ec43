/// The image formats KeypointKit decodes, recognised from a file's first bytes, never its name.
public enum ImageFormat: String, Sendable, Equatable, Codable {
    case png
    case jpeg

    public var name: String {
        switch self {
        case .png: return "PNG"
        case .jpeg: return "JPEG"
        }
    }

    /// The format whose signature starts `bytes`, or nil.
    public static func sniff<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> ImageFormat? {
        if bytes.starts(with: pngSignature) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        return nil
    }

    /// What a file we cannot decode seems to be, for the error message ("a GIF image", "text").
    static func describeUnsupported(_ bytes: [UInt8]) -> String? {
        func ascii(_ text: String, at offset: Int = 0) -> Bool {
            let signature = Array(text.utf8)
            return bytes.count >= offset + signature.count
                && Array(bytes[offset..<offset + signature.count]) == signature
        }
        if ascii("GIF87a") || ascii("GIF89a") { return "a GIF image" }
        if ascii("BM") && bytes.count >= 14 { return "a BMP image" }
        if ascii("II*\u{0}") || ascii("MM\u{0}*") { return "a TIFF image" }
        if ascii("RIFF") && ascii("WEBP", at: 8) { return "a WebP image" }
        if ascii("ftyp", at: 4) { return "an HEIF/AVIF or MP4 file" }
        if ascii("%PDF") { return "a PDF document" }
        let head = bytes.prefix(512)
        if !head.isEmpty && head.allSatisfy({ $0 == 9 || $0 == 10 || $0 == 13 || (32...126).contains($0) }) {
            return "text"
        }
        return nil
    }

    @_spi(Fixtures) public static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
}

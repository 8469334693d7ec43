/// The EXIF orientation tag (0x0112): how the stored pixels must be turned to show the scene
/// upright. Applying it gives what Pillow's `ImageOps.exif_transpose` and OpenCV's `imread` give.
public enum Orientation: Int, Sendable, Equatable, Codable, CaseIterable {
    case up = 1  // as stored
    case upMirrored = 2  // flip left-right
    case down = 3  // rotate 180
    case downMirrored = 4  // flip top-bottom
    case leftMirrored = 5  // transpose (swap x and y)
    case right = 6  // rotate 90 degrees clockwise
    case rightMirrored = 7  // transverse (transpose across the other diagonal)
    case left = 8  // rotate 90 degrees counter-clockwise

    /// Whether upright width and height are the stored height and width.
    public var swapsAxes: Bool { rawValue >= 5 }

    /// The stored pixel shown at upright position (x, y), for a stored image
    /// `storedWidth` x `storedHeight`.
    func storedPosition(x: Int, y: Int, storedWidth: Int, storedHeight: Int) -> (x: Int, y: Int) {
        switch self {
        case .up: return (x, y)
        case .upMirrored: return (storedWidth - 1 - x, y)
        case .down: return (storedWidth - 1 - x, storedHeight - 1 - y)
        case .downMirrored: return (x, storedHeight - 1 - y)
        case .leftMirrored: return (y, x)
        case .right: return (y, storedHeight - 1 - x)
        case .rightMirrored: return (storedWidth - 1 - y, storedHeight - 1 - x)
        case .left: return (storedWidth - 1 - y, x)
        }
    }
}

extension Image {
    /// The image turned upright according to `orientation`.
    public func applying(_ orientation: Orientation) -> Image {
        if orientation == .up { return self }
        let uprightWidth = orientation.swapsAxes ? height : width
        let uprightHeight = orientation.swapsAxes ? width : height
        var upright = [UInt8](repeating: 0, count: pixels.count)
        pixels.withUnsafeBufferPointer { source in
            upright.withUnsafeMutableBufferPointer { target in
                for y in 0..<uprightHeight {
                    for x in 0..<uprightWidth {
                        let stored = orientation.storedPosition(
                            x: x, y: y, storedWidth: width, storedHeight: height)
                        let from = (stored.y * width + stored.x) * 3
                        let to = (y * uprightWidth + x) * 3
                        target[to] = source[from]
                        target[to + 1] = source[from + 1]
                        target[to + 2] = source[from + 2]
                    }
                }
            }
        }
        return Image(width: uprightWidth, height: uprightHeight, pixels: upright)
    }
}

/// Reads the orientation tag from the EXIF block of a JPEG (APP1 "Exif") or PNG (eXIf chunk).
/// Anything missing, malformed or out of range means `.up`: a broken EXIF block must never make
/// a readable image unreadable.
enum ExifReader {
    static func orientation(in bytes: [UInt8], format: ImageFormat) -> Orientation {
        let tiff: ArraySlice<UInt8>?
        switch format {
        case .jpeg: tiff = jpegExif(bytes)
        case .png: tiff = pngExif(bytes)
        }
        guard let tiff, let value = orientationTag(inTIFF: tiff) else { return .up }
        return Orientation(rawValue: value) ?? .up
    }

    /// The TIFF structure inside the first APP1 "Exif\0\0" segment before the image data.
    private static func jpegExif(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        var offset = 2
        while offset + 4 <= bytes.count {
            guard bytes[offset] == 0xFF else { return nil }
            let marker = bytes[offset + 1]
            if marker == 0xFF {
                offset += 1
                continue
            }
            if marker == 0xD8 || marker == 0x01 || (0xD0...0xD7).contains(marker) {
                offset += 2
                continue
            }
            if marker == 0xDA || marker == 0xD9 { return nil }
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            let start = offset + 4
            let end = offset + 2 + length
            guard length >= 2, end <= bytes.count else { return nil }
            let exifHeader: [UInt8] = [0x45, 0x78, 0x69, 0x66, 0, 0]  // "Exif\0\0"
            if marker == 0xE1, bytes[start..<end].starts(with: exifHeader) {
                return bytes[(start + 6)..<end]
            }
            offset = end
        }
        return nil
    }

    /// The payload of the eXIf chunk, wherever it is among the chunks.
    private static func pngExif(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        var offset = ImageFormat.pngSignature.count
        while offset + 12 <= bytes.count {
            let length = Int(readUInt32(bytes[...], at: offset, bigEndian: true))
            let type = bytes[(offset + 4)..<(offset + 8)]
            let start = offset + 8
            guard length <= bytes.count - start - 4 else { return nil }
            if type.elementsEqual("eXIf".utf8) { return bytes[start..<(start + length)] }
            if type.elementsEqual("IEND".utf8) { return nil }
            offset = start + length + 4
        }
        return nil
    }

    /// Tag 0x0112 (SHORT) from IFD0 of a TIFF structure.
    private static func orientationTag(inTIFF tiff: ArraySlice<UInt8>) -> Int? {
        let data = Array(tiff)
        guard data.count >= 8 else { return nil }
        let bigEndian: Bool
        switch (data[0], data[1]) {
        case (0x49, 0x49): bigEndian = false  // "II"
        case (0x4D, 0x4D): bigEndian = true  // "MM"
        default: return nil
        }
        guard readUInt16(data[...], at: 2, bigEndian: bigEndian) == 42 else { return nil }
        let directory = Int(readUInt32(data[...], at: 4, bigEndian: bigEndian))
        guard directory >= 8, directory <= data.count - 2 else { return nil }
        let entries = Int(readUInt16(data[...], at: directory, bigEndian: bigEndian))
        for entry in 0..<entries {
            let offset = directory + 2 + entry * 12
            guard offset + 12 <= data.count else { return nil }
            let tag = readUInt16(data[...], at: offset, bigEndian: bigEndian)
            let type = readUInt16(data[...], at: offset + 2, bigEndian: bigEndian)
            if tag == 0x0112 && type == 3 {
                return Int(readUInt16(data[...], at: offset + 8, bigEndian: bigEndian))
            }
        }
        return nil
    }

    private static func readUInt16(_ bytes: ArraySlice<UInt8>, at offset: Int, bigEndian: Bool) -> UInt16 {
        let first = UInt16(bytes[bytes.startIndex + offset])
        let second = UInt16(bytes[bytes.startIndex + offset + 1])
        return bigEndian ? first << 8 | second : second << 8 | first
    }

    private static func readUInt32(_ bytes: ArraySlice<UInt8>, at offset: Int, bigEndian: Bool) -> UInt32 {
        let high = UInt32(readUInt16(bytes, at: offset, bigEndian: bigEndian))
        let low = UInt32(readUInt16(bytes, at: offset + 2, bigEndian: bigEndian))
        return bigEndian ? high << 16 | low : low << 16 | high
    }
}

import ArgumentParser
import Foundation
import KeypointKit

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Decode images and report format, size, colour type, orientation and decode time.",
        discussion: """
            Every file is reported, readable or not; a folder stands for the files in it (sorted, \
            hidden ones left out). Exit status: 0 when every file decoded, 1 when any failed. With --json, one object per line with the keys path, format, width, height \
            (upright, after EXIF orientation), storedWidth, storedHeight, colorType, bitDepth, \
            orientation, decodeMs and error (null on success).
            """
    )

    @Argument(help: "PNG or JPEG files, or folders of them (the format is read from the content, not the name).")
    var images: [String]

    @Flag(help: "Also inspect the files in subfolders of the folders given.")
    var recursive = false

    @Flag(help: "Print one JSON object per line instead of a table.")
    var json = false

    @Option(help: "Refuse images whose header declares more pixels than this.")
    var maxPixels = DecodeOptions().maxPixels

    @Flag(help: "Accept JPEGs that libjpeg could only decode by recovering from damaged data.")
    var acceptDamaged = false

    func run() throws {
        let options = DecodeOptions(maxPixels: maxPixels, acceptDamaged: acceptDamaged)
        if !json {
            print(InspectRow.header)
        }
        let files = try ImageFiles.expand(images, recursive: recursive)
        var failures = 0
        for path in files {
            let start = ContinuousClock.now
            let row: InspectRow
            do {
                let decoded = try ImageDecoder.decode(contentsOf: path, options: options)
                row = InspectRow(path: path, decoded: decoded, elapsed: ContinuousClock.now - start)
            } catch {
                failures += 1
                row = InspectRow(path: path, format: ImageFiles.sniff(path: path), error: "\(error)")
            }
            print(json ? row.json.serialized : row.tableLine)
        }
        if failures > 0 {
            if !json {
                printToStandardError("\(failures) of \(files.count) files failed to decode")
            }
            throw ExitCode(1)
        }
    }
}

struct InspectRow {
    var path: String
    var format: ImageFormat?
    var info: ImageInfo?
    var width = 0
    var height = 0
    var decodeMilliseconds = 0.0
    var error: String?

    init(path: String, decoded: DecodedImage, elapsed: Duration) {
        self.path = path
        info = decoded.info
        format = decoded.info.format
        width = decoded.image.width
        height = decoded.image.height
        decodeMilliseconds = Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3
    }

    /// A file that did not decode; `format` is what its first bytes say, if anything.
    init(path: String, format: ImageFormat?, error: String) {
        self.path = path
        self.format = format
        self.error = error
    }

    var json: JSONValue {
        func number(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
        func text(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
        return .object([
            ("path", .string(path)),
            ("format", text(format?.rawValue)),
            ("width", number(info == nil ? nil : width)),
            ("height", number(info == nil ? nil : height)),
            ("storedWidth", number(info?.storedWidth)),
            ("storedHeight", number(info?.storedHeight)),
            ("colorType", text(info?.colorType)),
            ("bitDepth", number(info?.bitDepth)),
            ("orientation", number(info?.orientation.rawValue)),
            ("decodeMs", info == nil ? .null : .number((decodeMilliseconds * 1000).rounded() / 1000)),
            ("error", text(error)),
        ])
    }

    static let header = "format  width  height  stored     colour      bits  orient  interlaced  ms        path"

    var tableLine: String {
        guard let info else { return "error   " + (error ?? "").replacingOccurrences(of: "\n", with: " ") }
        let stored = "\(info.storedWidth)x\(info.storedHeight)"
        return [
            info.format.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0),
            String(width).leftPadded(5), String(height).leftPadded(6),
            "  " + stored.padding(toLength: 9, withPad: " ", startingAt: 0),
            info.colorType.padding(toLength: 10, withPad: " ", startingAt: 0),
            String(info.bitDepth).leftPadded(4), String(info.orientation.rawValue).leftPadded(6),
            (info.interlaced ? "yes" : "no").leftPadded(10),
            String(format: "%8.3f", decodeMilliseconds), " " + path,
        ].joined(separator: "  ")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

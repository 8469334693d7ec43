import ArgumentParser
import Foundation
import KeypointKit

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the speed of the pipeline's parts.",
        subcommands: [BenchDecode.self, BenchConv.self, BenchNet.self, BenchTrain.self]
    )
}

struct BenchDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Images per second decoding the PNG and JPEG files of folders, full size and reduced.",
        discussion: """
            Each pass decodes every file (read from disk, decoded, turned upright). After one warm-up \
            pass, --passes timed passes run per mode; the median pass gives images/s. The reduced \
            mode asks for 1/--scale of each image's size, which JPEG decodes with libjpeg's DCT \
            scaling (PNG decodes at full size).
            """
    )

    @Argument(help: "Folders or files; folders contribute every PNG and JPEG file they hold.")
    var paths: [String]

    @Option(help: "Use at most this many files (sorted by path).")
    var limit = 1000

    @Option(help: "Timed passes per mode.")
    var passes = 5

    @Option(help: "Reduced mode: request 1/scale of each dimension (2, 4 or 8).")
    var scale = 4

    @Flag(help: "Print one JSON object per line.")
    var json = false

    func validate() throws {
        guard [2, 4, 8].contains(scale) else { throw ValidationError("--scale must be 2, 4 or 8") }
        guard passes >= 1, limit >= 1 else { throw ValidationError("--passes and --limit must be at least 1") }
    }

    func run() throws {
        let named = try ImageFiles.expand(paths, recursive: false)
        var files = named.filter { ImageFiles.sniff(path: $0) != nil }
        files = Array(files.prefix(limit))
        guard !files.isEmpty else { throw ValidationError("no PNG or JPEG files in \(paths.joined(separator: ", "))") }

        // Warm-up pass: fills the page cache and learns each image's upright size.
        var sizes: [(width: Int, height: Int)] = []
        for file in files {
            let decoded = try ImageDecoder.decode(contentsOf: file)
            sizes.append((decoded.image.width, decoded.image.height))
        }
        let full = files.map { _ in DecodeOptions() }
        let reduced = sizes.map { size in
            DecodeOptions(
                minimumWidth: (size.width + scale - 1) / scale, minimumHeight: (size.height + scale - 1) / scale)
        }
        let formats = Set(files.compactMap { ImageFiles.sniff(path: $0)?.rawValue }).sorted().joined(separator: "+")
        for (mode, options) in [("full", full), ("reduced", reduced)] {
            var seconds: [Double] = []
            for _ in 0..<passes {
                let start = DispatchTime.now().uptimeNanoseconds
                for (file, option) in zip(files, options) {
                    _ = try ImageDecoder.decode(contentsOf: file, options: option)
                }
                seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let timings = Timings(seconds)
            let imagesPerSecond = Double(files.count) / timings.median
            if json {
                let line: JSONValue = .object(
                    [
                        ("tool", .string("keypoints")), ("formats", .string(formats)),
                        ("files", .number(Double(files.count))), ("mode", .string(mode)),
                        ("scale", .number(Double(mode == "full" ? 1 : scale))),
                        ("images_per_s", .number((imagesPerSecond * 10).rounded() / 10)),
                    ] + timings.members(median: "median_pass_s"))
                print(line.serialized)
            } else {
                let label = mode == "full" ? "full size" : "1/\(scale) size"
                print(
                    String(
                        format: "%@  %@  %d files  %10.1f images/s  (%d passes: %@)", formats, label, files.count,
                        imagesPerSecond, passes, timings.text(unit: "s")))
            }
        }
    }
}

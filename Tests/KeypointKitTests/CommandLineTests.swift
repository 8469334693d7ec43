import Foundation
import Testing

@testable import KeypointKit

/// Runs the built `keypoints` executable as a user would.
enum CommandLineTool {
    /// The executable SwiftPM built beside the test bundle.
    static var path: String {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("keypoints").path),
            folder.pathComponents.count > 1
        {
            folder.deleteLastPathComponent()
        }
        return folder.appendingPathComponent("keypoints").path
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (
        status: Int32, output: String, errors: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (
            process.terminationStatus, String(decoding: outputData, as: UTF8.self),
            String(decoding: errorData, as: UTF8.self)
        )
    }
}

struct InspectCommandTests {
    @Test func reportsEveryFileAndFailsWhenAnyFails() throws {
        let folder = try TemporaryFolder()
        let upright = Image(width: 30, height: 20, pixels: testPicture(width: 30, height: 20))
        let rotated = try folder.write(
            JPEGFixture.encode(samples: upright.pixels, width: 30, height: 20, exif: exifOrientationBlock(8)),
            to: "rotated.jpg")
        let png = folder.file("plain.png")
        try upright.writePNG(to: png)
        let truncated = try folder.write(Array(try ImageEncoder.png(upright).prefix(100)), to: "cut.png")
        let text = try folder.write(Array("hello".utf8), to: "text.png")
        let huge = try folder.write(pngHeaderOnly(width: 100_000, height: 100_000), to: "huge.png")

        let result = try CommandLineTool.run(["inspect", "--json", rotated, png, truncated, text, huge, "/dev/null"])
        #expect(result.status == 1)
        let lines = result.output.split(separator: "\n").map { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
        }
        #expect(lines.count == 6)
        let keys = Set([
            "path", "format", "width", "height", "storedWidth", "storedHeight", "colorType", "bitDepth",
            "orientation", "decodeMs", "error",
        ])
        for line in lines { #expect(Set(line.keys) == keys) }
        #expect(lines[0]["width"] as? Int == 20 && lines[0]["height"] as? Int == 30)
        #expect(lines[0]["storedWidth"] as? Int == 30 && lines[0]["orientation"] as? Int == 8)
        #expect(lines[0]["error"] is NSNull && lines[0]["format"] as? String == "jpeg")
        #expect(lines[1]["colorType"] as? String == "rgb" && lines[1]["bitDepth"] as? Int == 8)
        for line in lines[2...] {
            let error = line["error"] as? String ?? ""
            #expect(!error.isEmpty && line["width"] is NSNull)
        }
        #expect((lines[4]["error"] as? String ?? "").contains("100000 x 100000"))
        #expect((lines[5]["error"] as? String ?? "").contains("special file"))

        // A folder stands for its files, sorted by name.
        let whole = try CommandLineTool.run(["inspect", "--json", folder.path])
        let paths = whole.output.split(separator: "\n").compactMap { line in
            ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["path"] as? String
        }
        #expect(whole.status == 1)
        #expect(paths == [truncated, huge, png, rotated, text])
    }

    @Test func succeedsWhenEveryFileDecodes() throws {
        let folder = try TemporaryFolder()
        let path = folder.file("a.png")
        try Image(width: 3, height: 2).writePNG(to: path)
        let result = try CommandLineTool.run(["inspect", path])
        #expect(result.status == 0)
        #expect(result.output.contains("png") && result.output.contains(path))
    }
}

struct BenchConvCommandTests {
    /// KEYPOINTS_ISA forces the kernels; an unknown or unavailable choice is a clear error.
    @Test func instructionSetComesFromTheEnvironment() throws {
        let arguments = ["bench", "conv", "--shapes", "f_64x128_64_1x1", "--runs", "1", "--threads", "1", "--json"]
        for isa in InstructionSet.available {
            let result = try CommandLineTool.run(arguments, environment: ["KEYPOINTS_ISA": isa.rawValue])
            #expect(result.status == 0, "\(result.errors)")
            let line = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
            #expect(line?["isa"] as? String == isa.rawValue)
            #expect(line?["algorithm"] as? String == "gemm-1x1" && line?["shape"] as? String == "f_64x128_64_1x1")
            #expect((line?["median_ms"] as? Double ?? 0) > 0 && line?["threads"] as? Int == 1)
        }
        let bogus = try CommandLineTool.run(arguments, environment: ["KEYPOINTS_ISA": "mmx"])
        #expect(bogus.status != 0 && bogus.errors.contains("KEYPOINTS_ISA=mmx is not one of"))
        if let missing = InstructionSet.allCases.first(where: { !$0.isAvailable }) {
            let unavailable = try CommandLineTool.run(arguments, environment: ["KEYPOINTS_ISA": missing.rawValue])
            #expect(unavailable.status != 0 && unavailable.errors.contains("cannot run \(missing.rawValue)"))
        }
    }
}

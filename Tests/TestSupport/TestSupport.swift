import CImageShims
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

import KeypointKit

/// A fresh temporary folder, removed when the value is released.
public final class TemporaryFolder {
    public let path: String

    public init() throws {
        path = NSTemporaryDirectory() + "keypoints-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    public func write(_ bytes: [UInt8], to name: String) throws -> String {
        let file = file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// PNG test files in any layout, written by libpng from explicit samples.
public func runPythonScript(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let result = try runProcess("python3", [repository.appendingPathComponent("Scripts/\(name)").path] + arguments)
    return (result.status, result.output + result.errors)
}

/// The repository's root folder (this file is Tests/TestSupport/TestSupport.swift).
public let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Normally distributed values (Box-Muller on the seeded generator).
public func normalValues(_ count: Int, seed: UInt64) -> [Float] {
    var random = SplitMix64(seed: seed)
    return (0..<count).map { _ in
        let u = Double.random(in: Double.ulpOfOne..<1, using: &random)
        let v = Double.random(in: 0..<1, using: &random)
        return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
    }
}

/// max|y - reference| / max|reference|: the error measure every tolerance here is stated in.
public func relativeError(_ y: [Float], _ reference: [Float]) -> Double {
    let scale = reference.map { abs(Double($0)) }.max() ?? 0
    let error = zip(y, reference).map { abs(Double($0) - Double($1)) }.max() ?? 0
    return scale > 0 ? error / scale : error
}

/// The team's shared datasets, read in place (../shared/data beside the checkout).
public enum SharedData {
    public static let root = repository.deletingLastPathComponent().appendingPathComponent("shared/data")
        .path
    public static func path(_ relative: String) -> String { root + "/" + relative }
}

/// Runs the built `keypoints` executable as a user would.
public enum CommandLineTool {
    /// The executable SwiftPM built beside the test bundle.
    public static var path: String {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: folder.appendingPathComponent("keypoints").path),
            folder.pathComponents.count > 1
        {
            folder.deleteLastPathComponent()
        }
        return folder.appendingPathComponent("keypoints").path
    }

    public static func run(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil)
        throws
        -> (status: Int32, output: String, errors: String)
    {
        try runProcess(path, arguments, environment: environment, in: directory)
    }

    /// Runs the tool with `arguments` until `kills` runs were killed with SIGKILL a random time
    /// within `delay` microseconds (seeded) after they started, every run after the first with
    /// `arguments + resume` (the same run resumed); at most four times `kills` runs. Returns how
    /// many were killed.
    public static func killRepeatedly(
        _ arguments: [String], resume: [String], kills wanted: Int, delay: ClosedRange<UInt32>, seed: UInt64
    ) throws -> Int {
        var random = SplitMix64(seed: seed)
        var kills = 0
        for attempt in 0..<(4 * wanted) where kills < wanted {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = attempt == 0 ? arguments : arguments + resume
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: delay, using: &random))
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                kills += 1
            }
            process.waitUntilExit()
        }
        return kills
    }
}

/// Runs `executable` (a path, or a command found on PATH) with `arguments`; its exit status,
/// standard output and standard error.
public func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:], in directory: String? = nil
) throws -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.contains("/") ? executable : "/usr/bin/env")
    process.arguments = executable.contains("/") ? arguments : [executable] + arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
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

/// Small models for tests.
public enum TestModels {
    public static func small() throws -> Model {
        let architecture = Architecture.coordConvResNet(
            keypoints: 3, width: 8, depths: [1, 1, 1], inputWidth: 64,
            inputHeight: 48)
        return Model(
            architecture: architecture, keypointNames: ["left_eye", "right_eye", "nose"], skeleton: [[0, 2], [1, 2]],
            flipPairs: [[0, 1]], oksSigmas: [0.025, 0.025, 0.026], heatmapSigma: 1.5,
            provenance: ["data": "test"], weights: try architecture.initialWeights(seed: 3))
    }

    public static func randomize(_ weights: inout [String: Tensor], seed: UInt64) {
        for (index, name) in weights.keys.sorted().enumerated() {
            var tensor = weights[name]!
            let values = normalValues(tensor.data.count, seed: seed + UInt64(index))
            tensor.data = name.hasSuffix("running_var") ? values.map { abs($0) + 0.5 } : values
            weights[name] = tensor
        }
    }
}

/// A small generated labeled set (images with a white dot and a red mark whose positions are the
/// labels) and a tiny model for it.
public enum TrainingFixtures {
    public static func dataset(_ folder: TemporaryFolder, count: Int) throws -> String {
        var random = SplitMix64(seed: 5)
        var lines = ["image,dot_x,dot_y,left_mark_x,left_mark_y,right_mark_x,right_mark_y"]
        for index in 0..<count {
            var image = Image(width: 64, height: 48, fill: RGB(20, 20, 20))
            let dot = Point(x: Double.random(in: 8...56, using: &random), y: Double.random(in: 8...40, using: &random))
            let mark = Point(x: Double.random(in: 8...56, using: &random), y: Double.random(in: 8...40, using: &random))
            image.fillCircle(center: dot, radius: 3, color: .white)
            image.fillCircle(center: mark, radius: 3, color: RGB(255, 0, 0))
            try image.writePNG(to: folder.file("img\(index).png"))
            lines.append("img\(index).png,\(dot.x),\(dot.y),\(mark.x),\(mark.y),,")
        }
        return try folder.write(Array(lines.joined(separator: "\n").utf8), to: "labels.csv")
    }

    /// A width-4 model of the default family with a size x size input, and the training data of 4
    /// images generated in `folder` (dot, left_mark, right_mark; right_mark unlabeled).
    public static func tinyModelAndData(_ folder: TemporaryFolder, size: Int) throws -> (Model, TrainingData) {
        let labels = try dataset(folder, count: 4)
        let set = try LabeledSet.load(contentsOf: labels)
        let architecture = Architecture.coordConvResNet(
            keypoints: 3, width: 4, depths: [1, 1, 1], inputWidth: size, inputHeight: size, heatmapStride: 4)
        let model = Model(
            architecture: architecture, keypointNames: set.keypointNames, flipPairs: [[1, 2]],
            weights: try architecture.initialWeights(seed: 1))
        return (model, try TrainingData(labels: set, labelsPath: labels, imagesRoot: nil, inputSize: size))
    }
}

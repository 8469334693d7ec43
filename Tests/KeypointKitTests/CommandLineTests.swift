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

    static func run(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil) throws
        -> (status: Int32, output: String, errors: String)
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
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

struct BenchNetCommandTests {
    /// A built-in model timed layer by layer: one line for the network, then one per layer in the
    /// model's order, with the algorithm the core picked and GFLOPS only for convolutions.
    @Test func timesAModelLayerByLayer() throws {
        let result = try CommandLineTool.run([
            "bench", "net", "--model", "mouse", "--threads", "1", "--runs", "1", "--layers", "--json",
        ])
        #expect(result.status == 0, "\(result.errors)")
        let lines = try result.output.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let model = try #require(try Model.bundled("mouse"))
        #expect(lines.count == 1 + model.architecture.layers.count)
        #expect(lines.first?["network"] as? String == "mouse" && lines.first?["gflop"] as? Double == 4.893)
        let layers = lines.dropFirst()
        #expect(layers.map { $0["layer"] as? String } == model.architecture.layers.map(\.name))
        for line in layers {
            let isConvolution = line["op"] as? String == "conv"
            #expect((line["median_ms"] as? Double ?? -1) >= 0)
            #expect(((line["gflops"] as? Double ?? 0) > 0) == isConvolution, "\(line)")
            #expect((line["algorithm"] as? String != "-") == isConvolution, "\(line)")
        }
        #expect(
            layers.first { $0["layer"] as? String == "stage1.block0.conv1" }?["algorithm"] as? String == "winograd-f4")
        #expect(layers.first { $0["layer"] as? String == "down1" }?["algorithm"] as? String == "indirect-gemm")
    }
}

struct BenchTrainCommandTests {
    /// The step's parts are timed and the rates follow from them and the architecture's FLOPs.
    @Test func reportsStepTimesAndRates() throws {
        let result = try CommandLineTool.run([
            "bench", "train", "--input", "64x64", "--width", "4", "--depths", "1,1,1", "--keypoints", "2", "--batch",
            "2", "--steps", "1", "--json",
        ])
        #expect(result.status == 0, "\(result.errors)")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        let forwardBackward = try #require(line["forward_backward_ms"] as? Double)
        let update = try #require(line["update_ms"] as? Double)
        let gflop = try #require(line["gflop_per_image"] as? Double)
        #expect((line["forward_ms"] as? Double ?? 0) > 0 && forwardBackward > 0 && gflop > 0)
        let imagesPerSecond = try #require(line["images_per_s"] as? Double)
        #expect(abs(imagesPerSecond - 2 / ((forwardBackward + update) / 1000)) < 1e-6 * imagesPerSecond)
        let gflops = try #require(line["gflops"] as? Double)
        #expect(abs(gflops - 3 * gflop * 2 / (forwardBackward / 1000)) < 1e-6 * gflops)
    }
}

struct DetectCommandTests {
    /// A small random-weight model on disk, the files a user would pass, and the CLI run on them.
    @Test func detectReportsEveryImageAndWritesOverlaysAndDumps() throws {
        let folder = try TemporaryFolder()
        let model = try ModelFileTests.smallModel()
        let modelPath = folder.file("model.safetensors")
        try model.write(to: modelPath)
        let imagePath = folder.file("scene.png")
        try Image(width: 90, height: 70, pixels: testPicture(width: 90, height: 70)).writePNG(to: imagePath)
        let broken = try folder.write(Array("not an image".utf8), to: "broken.jpg")
        let overlays = folder.file("overlays")
        let dumps = folder.file("dumps")

        let result = try CommandLineTool.run([
            "detect", imagePath, broken, "--model", modelPath, "--json", "--draw", overlays, "--dump", dumps,
            "--flip-test", "--threads", "2",
        ])
        #expect(result.status == 1)  // one file failed
        #expect(result.errors.contains("broken.jpg"))
        let lines = result.output.split(separator: "\n").map {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:]
        }
        #expect(lines.count == 2)
        #expect(lines[0]["width"] as? Int == 90 && lines[0]["height"] as? Int == 70)
        #expect(lines[0]["model"] as? String == modelPath)
        let keypoints = lines[0]["keypoints"] as? [[String: Any]] ?? []
        #expect(keypoints.map { $0["name"] as? String } == ["left_eye", "right_eye", "nose"])
        #expect(keypoints.allSatisfy { $0["x"] is Double && $0["y"] is Double && $0["score"] is Double })
        #expect(lines[1]["image"] as? String == broken && lines[1]["error"] is String)
        // The overlay decodes and has the image's size; the dumps are .npy files of the right shapes.
        let overlay = try ImageDecoder.decode(contentsOf: overlays + "/scene.png")
        #expect(overlay.image.width == 90 && overlay.image.height == 70)
        let input = try Array(Data(contentsOf: URL(fileURLWithPath: dumps + "/scene.input.npy")))
        let heatmaps = try Array(Data(contentsOf: URL(fileURLWithPath: dumps + "/scene.heatmaps.npy")))
        #expect(String(decoding: input.prefix(128), as: UTF8.self).contains("'shape': (1, 3, 48, 64)"))
        #expect(String(decoding: heatmaps.prefix(128), as: UTF8.self).contains("'shape': (1, 3, 12, 16)"))
        #expect(input.count == 128 + 3 * 48 * 64 * 4 && heatmaps.count == 128 + 3 * 12 * 16 * 4)
    }

    /// Until the human model is built in, detect without --model says what to pass instead.
    /// Without --model, detect runs the built-in human model: the 14 LSP joints, and on the
    /// astronaut (upright, facing the camera) the top of the head above the neck.
    @Test func detectWithoutModelUsesTheHumanModel() throws {
        let image = PillowCrossCheckTests.repository.appendingPathComponent("SampleImages/astronaut.png").path
        let result = try CommandLineTool.run(["detect", image, "--json"])
        #expect(result.status == 0, "\(result.errors)")
        let line = try #require(result.output.split(separator: "\n").first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["model"] as? String == "human")
        let keypoints = try #require(object["keypoints"] as? [[String: Any]])
        #expect(keypoints.compactMap { $0["name"] as? String } == Skeletons.lspNames)
        let y = Dictionary(uniqueKeysWithValues: keypoints.map { ($0["name"] as! String, $0["y"] as! Double) })
        #expect(try #require(y["head_top"]) < (try #require(y["neck"])))
    }

    @Test func infoSummarisesTheModel() throws {
        let folder = try TemporaryFolder()
        let modelPath = folder.file("model.safetensors")
        try ModelFileTests.smallModel().write(to: modelPath)
        let result = try CommandLineTool.run(["info", modelPath])
        #expect(result.status == 0, "\(result.errors)")
        for text in [
            "coordconv-resnet", "stem", "conv 3x3/2 coord bn relu", "3x48x64", "Parameters:", "FLOPs per image",
            "left_eye, right_eye, nose", "left_eye-nose", "left_eye/right_eye",
        ] {
            #expect(result.output.contains(text), "missing \(text)")
        }
    }
}

/// ONNX export checked by an independent runtime: `keypoints export` of a model with random
/// weights and batch-norm statistics (so folding matters), run in onnxruntime by
/// Scripts/check_onnx_parity.py (pip install onnx onnxruntime numpy) on the input that
/// `keypoints detect --dump` wrote, compared with the heatmaps it wrote: max |difference| at
/// most 1e-4 of max |heatmap| (measured 4.9e-6).
struct InitCommandTests {
    @Test func writesAnUntrainedModelOfTheRequestedShape() throws {
        let folder = try TemporaryFolder()
        let out = folder.file("m.safetensors")
        let result = try CommandLineTool.run([
            "init", "--keypoints", "nose, left_eye,right_eye", "--input", "128x96", "--width", "8", "--depths", "1,0,1",
            "--out", out,
        ])
        #expect(result.status == 0, "\(result.errors)")
        let model = try Model.load(contentsOf: out)
        #expect(model.keypointNames == ["nose", "left_eye", "right_eye"] && model.flipPairs == [[1, 2]])
        #expect(model.architecture.inputWidth == 128 && model.architecture.inputHeight == 96)
        #expect(model.provenance["trained"] == "no")
    }

    @Test func rejectsShapesTheNetworkCannotTake() throws {
        let folder = try TemporaryFolder()
        let out = folder.file("m.safetensors")
        let cases: [([String], String)] = [
            (["--input", "100x96"], "--input must be WIDTHxHEIGHT with both multiples of 32"),
            (["--depths", "2,2"], "--depths needs three block counts"),
            (["--heatmap-stride", "8"], "--heatmap-stride must be 2 or 4"),
            (["--keypoints", ","], "--keypoints needs at least one name"),
        ]
        for (arguments, message) in cases {
            let result = try CommandLineTool.run(["init", "--keypoints", "a", "--out", out] + arguments)
            #expect(result.status == 2 && result.errors.contains(message), "\(arguments): \(result.errors)")
        }
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}

struct OnnxExportTests {
    @Test func onnxruntimeReproducesOurHeatmaps() throws {
        let folder = try TemporaryFolder()
        var model = try ModelFileTests.smallModel()
        NetworkTests.randomize(&model.weights, seed: 77)
        // Keep activations in a sane range: small kernels, as a trained network has.
        for name in model.weights.keys where name.hasSuffix(".weight") && !name.contains(".bn.") {
            model.weights[name]!.data = model.weights[name]!.data.map { $0 * 0.2 }
        }
        // As the human model: a second pass and the flip test by default; the dump is still the
        // network's input and output of the pass that counts.
        model.secondPassScale = 2
        model.flipTest = true
        let modelPath = folder.file("model.safetensors")
        try model.write(to: modelPath)
        let imagePath = folder.file("scene.png")
        try Image(width: 77, height: 51, pixels: testPicture(width: 77, height: 51)).writePNG(to: imagePath)
        let dumps = folder.file("dumps")
        let detect = try CommandLineTool.run(["detect", imagePath, "--model", modelPath, "--dump", dumps])
        #expect(detect.status == 0, "\(detect.errors)")
        let onnxPath = folder.file("model.onnx")
        let export = try CommandLineTool.run(["export", modelPath, "--onnx", onnxPath])
        #expect(export.status == 0, "\(export.errors)")

        let (status, report) = try runPythonScript(
            "check_onnx_parity.py", [onnxPath, dumps + "/scene.input.npy", dumps + "/scene.heatmaps.npy"])
        #expect(status == 0, "ONNX parity failed:\n\(report)")
        print("ONNX parity:", report)
        #expect(report.contains(": ok"), "\(report)")
    }
}

struct EvalCommandTests {
    /// Predictions that are the openfield labels moved 3 px right (6 px for the snout): every
    /// error is known, so the report is too.
    @Test func scoresAPredictionsFile() throws {
        let labelsPath = SharedData.path(
            "dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1/CollectedData_Pranav.csv")
        let set = try LabeledSet.load(contentsOf: labelsPath)
        let folder = try TemporaryFolder()
        let lines = set.samples.map { sample in
            JSONValue.object([
                ("image", .string(sample.image)),
                (
                    "keypoints",
                    .array(
                        zip(set.keypointNames, sample.points).map { name, point in
                            .object([
                                ("name", .string(name)), ("x", .number(point!.x + (name == "snout" ? 6 : 3))),
                                ("y", .number(point!.y)), ("score", .number(name == "tailbase" ? 0.2 : 0.9)),
                            ])
                        })
                ),
            ]).serialized
        }
        let predictions = try folder.write(Array(lines.joined(separator: "\n").utf8), to: "predictions.jsonl")
        let result = try CommandLineTool.run([
            "eval", "--labels", labelsPath, "--predictions", predictions, "--pcutoff", "0.5", "--pck-norm", "pixels",
            "--pck", "4,8", "--json", "--report", folder.file("report"),
        ])
        #expect(result.status == 0, "\(result.errors)")
        let report = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any] ?? [:]
        #expect(report["keypoints_evaluated"] as? Int == 400)
        #expect(abs((report["mean_error_px"] as? Double ?? 0) - 3.75) < 1e-6)  // (6 + 3 + 3 + 3) / 4
        #expect(abs((report["median_error_px"] as? Double ?? 0) - 3) < 1e-6)
        #expect(abs((report["pcutoff_mean_error_px"] as? Double ?? 0) - 4) < 1e-6)  // tailbase dropped: (6 + 3 + 3) / 3
        let pck = report["pck"] as? [String: Double] ?? [:]
        #expect(pck["4.0"] == 0.75 && pck["8.0"] == 1)
        // The same predictions as a DeepLabCut CSV (x, y, likelihood; split index columns).
        var rows = [
            "scorer,,," + Array(repeating: "other", count: 12).joined(separator: ","),
            "bodyparts,,," + set.keypointNames.flatMap { Array(repeating: $0, count: 3) }.joined(separator: ","),
            "coords,,," + Array(repeating: "x,y,likelihood", count: 4).joined(separator: ","),
        ]
        for sample in set.samples {
            let cells = zip(set.keypointNames, sample.points).map { name, point in
                "\(point!.x + (name == "snout" ? 6 : 3)),\(point!.y),\(name == "tailbase" ? 0.2 : 0.9)"
            }
            rows.append(sample.image.split(separator: "/").joined(separator: ",") + "," + cells.joined(separator: ","))
        }
        let dlc = try folder.write(Array(rows.joined(separator: "\n").utf8), to: "predictions.csv")
        let fromCSV = try CommandLineTool.run([
            "eval", "--labels", labelsPath, "--predictions", dlc, "--pcutoff", "0.5", "--json",
        ])
        #expect(fromCSV.status == 0, "\(fromCSV.errors)")
        let csvReport = try JSONSerialization.jsonObject(with: Data(fromCSV.output.utf8)) as? [String: Any] ?? [:]
        #expect(csvReport["keypoints_evaluated"] as? Int == 400)
        #expect(abs((csvReport["mean_error_px"] as? Double ?? 0) - 3.75) < 1e-6)
        #expect(abs((csvReport["pcutoff_mean_error_px"] as? Double ?? 0) - 4) < 1e-6)

        let csv = try String(contentsOfFile: folder.file("report/per_image.csv"), encoding: .utf8)
        #expect(csv.hasPrefix("image,mean_error_px,keypoints\nlabeled-data/m4s1/img0000.png,3.7500,4"))
        let plot = try ImageDecoder.decode(contentsOf: folder.file("report/pck.png")).image
        #expect(plot.width > 700 && plot.height > 400)
        // Every image is equally wrong, so the eight "worst" are eight full frames side by side.
        for rank in 1...8 {
            let overlay = try ImageDecoder.decode(
                contentsOf: folder.file(String(format: "report/worst_%02d.png", rank)))
            #expect(overlay.image.width == 2 * 640 + 8 && overlay.image.height == 480 + 28)
        }
        #expect(!FileManager.default.fileExists(atPath: folder.file("report/worst_09.png")))
    }

    @Test func predictsWithAModelAndExplainsNameMismatches() throws {
        let folder = try TemporaryFolder()
        let modelPath = folder.file("model.safetensors")
        try ModelFileTests.smallModel().write(to: modelPath)
        for name in ["a.png", "b.png"] {
            try Image(width: 80, height: 60, pixels: testPicture(width: 80, height: 60)).writePNG(to: folder.file(name))
        }
        let labels = try folder.write(
            Array(
                """
                image,left_eye_x,left_eye_y,right_eye_x,right_eye_y,nose_x,nose_y
                a.png,10,20,30,20,20,35
                b.png,12,22,,,21,36
                """.utf8), to: "labels.csv")
        let result = try CommandLineTool.run(["eval", "--labels", labels, "--model", modelPath, "--threads", "1"])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.output.contains("Evaluated 2 samples, 5 labeled and predicted keypoints"))
        #expect(result.output.contains("PCK, normalised by bounding box"))

        let wrong = try folder.write(Array("image,tail_x,tail_y\na.png,1,2\n".utf8), to: "wrong.csv")
        let mismatch = try CommandLineTool.run(["eval", "--labels", wrong, "--model", modelPath])
        #expect(mismatch.status != 0)
        #expect(mismatch.errors.contains("labels [tail], model [left_eye, right_eye, nose]; missing: tail"))
    }
}

struct BatchCommandTests {
    /// A folder of 60 small images, two of them damaged and one not an image, and a model.
    static func fixture(_ folder: TemporaryFolder) throws -> (images: String, model: String) {
        let images = folder.file("frames")
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        for index in 0..<60 {
            let name = String(format: "%@/frame%03d.png", images, index)
            var pixels = testPicture(width: 96, height: 72)
            for i in stride(from: 0, to: pixels.count, by: 7) { pixels[i] = UInt8((i + index * 13) % 256) }
            try Image(width: 96, height: 72, pixels: pixels).writePNG(to: name)
        }
        _ = try folder.write(Array("not an image".utf8), to: "frames/readme.txt")
        let png = try ImageEncoder.png(Image(width: 96, height: 72, pixels: testPicture(width: 96, height: 72)))
        _ = try folder.write(Array(png.prefix(300)), to: "frames/frame100-cut.png")
        _ = try folder.write(Array(png.prefix(40)), to: "frames/frame101-cut.png")
        _ = try folder.write(Array("not an image either".utf8), to: "frames/frame102-garbage.JPG")
        let model = folder.file("model.safetensors")
        try ModelFileTests.smallModel().write(to: model)
        return (images, model)
    }

    /// batch decodes JPEGs reduced while they cover the input, or 4x the input for a model with a
    /// second pass: a 600x400 JPEG and a 64x48 model then decode at 1/4 (keypoints unlike detect's,
    /// which decodes in full), or whole (exactly detect's).
    @Test func secondPassModelsKeepDetailInReducedDecodes() throws {
        let folder = try TemporaryFolder()
        let photo = folder.file("photo.jpg")
        try Image(width: 600, height: 400, pixels: testPicture(width: 600, height: 400)).writeJPEG(to: photo)
        func keypoints(_ output: String) throws -> [[String: Any]] {
            let line = try JSONSerialization.jsonObject(with: Data(output.split(separator: "\n")[0].utf8))
            return try #require((line as? [String: Any])?["keypoints"] as? [[String: Any]])
        }
        for secondPass in [nil, 2.0] {
            var model = try ModelFileTests.smallModel()
            model.secondPassScale = secondPass
            let path = folder.file("model.safetensors")
            try model.write(to: path)
            let detect = try CommandLineTool.run(["detect", photo, "--model", path, "--json"])
            let out = folder.file("out.jsonl")
            let batch = try CommandLineTool.run(["batch", photo, "--model", path, "--out", out, "--quiet"])
            #expect(detect.status == 0 && batch.status == 0, "\(batch.errors)")
            let whole = try keypoints(detect.output).map { "\($0["x"]!) \($0["y"]!)" }
            let batched = try keypoints(try String(contentsOfFile: out, encoding: .utf8)).map {
                "\($0["x"]!) \($0["y"]!)"
            }
            #expect((batched == whole) == (secondPass != nil), "second pass \(String(describing: secondPass))")
        }
    }

    /// batch runs each image as the model asks (here: the flip test) unless told otherwise, and
    /// then agrees with detect told the same.
    @Test func batchFollowsTheModelsFlipTest() throws {
        let folder = try TemporaryFolder()
        let photo = folder.file("photo.png")
        try Image(width: 90, height: 70, pixels: testPicture(width: 90, height: 70)).writePNG(to: photo)
        var model = try ModelFileTests.smallModel()
        model.flipTest = true
        let path = folder.file("model.safetensors")
        try model.write(to: path)
        func points(_ jsonLine: Substring) throws -> [String] {
            let line = try JSONSerialization.jsonObject(with: Data(jsonLine.utf8)) as? [String: Any]
            return try #require(line?["keypoints"] as? [[String: Any]]).map { "\($0["x"]!) \($0["y"]!)" }
        }
        var results: [[String]] = []
        for options in [[], ["--no-flip-test"]] {
            let detect = try CommandLineTool.run(["detect", photo, "--model", path, "--json"] + options)
            let out = folder.file("out\(results.count).jsonl")
            let batch = try CommandLineTool.run(["batch", photo, "--model", path, "--out", out, "--quiet"] + options)
            #expect(detect.status == 0 && batch.status == 0, "\(batch.errors)")
            let batched = try points(try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")[0])
            #expect(batched == (try points(detect.output.split(separator: "\n")[0])), "\(options)")
            results.append(batched)
        }
        #expect(results[0] != results[1])
    }

    @Test func jobsDoNotChangeTheOutputAndFailuresAreReported() throws {
        let folder = try TemporaryFolder()
        let (images, model) = try Self.fixture(folder)
        var outputs: [String] = []
        for jobs in ["1", "2"] {
            let out = folder.file("out\(jobs).jsonl")
            let result = try CommandLineTool.run(["batch", images, "--model", model, "--out", out, "--jobs", jobs])
            #expect(result.status == 1)  // three damaged files: two cut short, one named .JPG but not one
            #expect(result.errors.contains("processed 60, failed 3, skipped 1 non-image files"))
            outputs.append(try String(contentsOfFile: out, encoding: .utf8))
        }
        #expect(outputs[0] == outputs[1])
        let lines = outputs[0].split(separator: "\n")
        #expect(lines.count == 63 && lines.filter { $0.contains("\"error\"") }.count == 3)

        let csv = folder.file("out.csv")
        _ = try CommandLineTool.run(["batch", images, "--model", model, "--out", csv, "--format", "csv", "--quiet"])
        let rows = try String(contentsOfFile: csv, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        #expect(
            rows[0].hasPrefix("scorer,model,model,model")
                && rows[1].hasPrefix("bodyparts,left_eye,left_eye,left_eye,right_eye"))
        #expect(rows[2] == "coords,x,y,likelihood,x,y,likelihood,x,y,likelihood" && rows.count == 3 + 63 + 1)

        let coco = folder.file("out.json")
        _ = try CommandLineTool.run(["batch", images, "--model", model, "--out", coco, "--format", "coco", "--quiet"])
        let results =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: coco))) as? [[String: Any]]
        #expect(results?.count == 60 && (results?.first?["keypoints"] as? [Double])?.count == 9)
        let mapping =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: coco + ".images.json")))
            as? [[String: Any]]
        #expect(mapping?.count == 63)

        let usage = try CommandLineTool.run(["batch", images, "--model", model, "--format", "xml"])
        #expect(usage.status == 2)
    }

    /// Killed with SIGKILL ten times at random moments and resumed each time, the run ends with the
    /// same output as an uninterrupted one: every image once, none lost, none twice.
    @Test func killedAndResumedEndsLikeAnUninterruptedRun() throws {
        let folder = try TemporaryFolder()
        let (images, model) = try Self.fixture(folder)
        let reference = folder.file("reference.jsonl")
        _ = try CommandLineTool.run(["batch", images, "--model", model, "--out", reference, "--quiet", "--jobs", "2"])
        let out = folder.file("interrupted.jsonl")
        var random = SplitMix64(seed: 99)
        var kills = 0
        var arguments = ["batch", images, "--model", model, "--out", out, "--quiet", "--jobs", "2"]
        while kills < 10 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CommandLineTool.path)
            process.arguments = arguments
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 20_000...250_000, using: &random))
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                kills += 1
            }
            process.waitUntilExit()
            arguments = ["batch", images, "--model", model, "--out", out, "--quiet", "--jobs", "2", "--resume"]
        }
        let final = try CommandLineTool.run(arguments)
        #expect(final.status == 1)  // the two damaged files
        let expected = try String(contentsOfFile: reference, encoding: .utf8)
        let resumed = try String(contentsOfFile: out, encoding: .utf8)
        #expect(resumed == expected)
        #expect(Set(resumed.split(separator: "\n")).count == 63)
    }
}

import Foundation
import Testing
import TestSupport

@testable import KeypointKit

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
            let (fastest, median, slowest) = (
                line?["min_ms"] as? Double, line?["median_ms"] as? Double, line?["max_ms"] as? Double
            )
            #expect(fastest != nil && fastest == median && median == slowest, "one run: min = median = max")
        }
        let bogus = try CommandLineTool.run(arguments, environment: ["KEYPOINTS_ISA": "mmx"])
        #expect(bogus.status != 0 && bogus.errors.contains("KEYPOINTS_ISA=mmx is not one of"))
        if let missing = InstructionSet.allCases.first(where: { !$0.isAvailable }) {
            let unavailable = try CommandLineTool.run(arguments, environment: ["KEYPOINTS_ISA": missing.rawValue])
            #expect(unavailable.status != 0 && unavailable.errors.contains("cannot run \(missing.rawValue)"))
        }
    }

    #if os(Linux)
        /// Without --threads a command uses the cores the process may run on, not every core of
        /// the machine: under `taskset -c 0` (as in a one-CPU Slurm job) that is one thread.
        @Test func threadsDefaultToTheCoresTheProcessMayUse() throws {
            let arguments = ["bench", "conv", "--shapes", "f_64x128_64_1x1", "--runs", "1", "--json"]
            let pinned = try runProcess("taskset", ["-c", "0", CommandLineTool.path] + arguments)
            #expect(pinned.status == 0, "\(pinned.errors)")
            let line = try JSONSerialization.jsonObject(with: Data(pinned.output.utf8)) as? [String: Any]
            #expect(line?["threads"] as? Int == 1)
            #expect(
                ThreadPool.availableCores >= 1
                    && ThreadPool.availableCores <= ProcessInfo.processInfo.activeProcessorCount)
        }
    #endif
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
            #expect(
                (line["median_ms"] as? Double ?? -1) >= 0 && line["min_ms"] as? Double == line["median_ms"] as? Double)
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
        for name in ["forward", "forward_backward", "update"] {
            let values = ["min_", "", "max_"].map { line[$0 + name + "_ms"] as? Double ?? -1 }
            #expect(values[0] > 0 && values[0] <= values[1] && values[1] <= values[2], "\(name): \(values)")
        }
    }

    /// --baseline alternates this binary and another with the same options and reports the
    /// ratio of their median rates; here the other is a script that reports 10 images/s and
    /// records the arguments it got.
    @Test func comparesWithABaselineBinary() throws {
        let folder = try TemporaryFolder()
        let calls = folder.file("calls.txt")
        let script = try folder.write(
            Array("#!/bin/sh\necho \"$@\" >> \(calls)\necho '{\"images_per_s\": 10}'\n".utf8), to: "baseline.sh")
        chmod(script, 0o755)
        let result = try CommandLineTool.run([
            "bench", "train", "--input", "64x64", "--width", "4", "--depths", "1,1,1", "--keypoints", "2", "--batch",
            "2", "--steps", "1", "--baseline", script, "--rounds", "3", "--json",
        ])
        #expect(result.status == 0, "\(result.errors)")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any])
        #expect(line["baseline_images_per_s"] as? Double == 10 && line["min_baseline_images_per_s"] as? Double == 10)
        let ours = try #require(line["images_per_s"] as? Double)
        #expect(ours > 0 && abs((line["ratio"] as? Double ?? 0) - ours / 10) < 1e-3 * ours / 10 + 1e-3)
        let recorded = try String(contentsOfFile: calls, encoding: .utf8).split(separator: "\n")
        #expect(recorded.count == 3)
        #expect(
            recorded.allSatisfy {
                $0 == "bench train --input 64x64 --width 4 --depths 1,1,1 --keypoints 2 --batch 2 --steps 1 --json"
            })
        let broken = try CommandLineTool.run([
            "bench", "train", "--input", "64x64", "--width", "4", "--depths", "1,1,1", "--steps", "1", "--baseline",
            "/bin/false",
        ])
        #expect(broken.status != 0 && broken.errors.contains("did not report images_per_s"), "\(broken.errors)")
    }
}

struct DetectCommandTests {
    /// A model's score threshold hides the points scoring below it in detect's table unless
    /// --min-score says otherwise; JSON keeps every point; info shows the threshold.
    @Test func theModelsScoreThresholdHidesWeakPoints() throws {
        let folder = try TemporaryFolder()
        var model = try TestModels.small()
        let image = folder.file("photo.png")
        try Image(width: 40, height: 30, pixels: testPicture(width: 40, height: 30)).writePNG(to: image)
        let plain = folder.file("plain.safetensors")
        try model.write(to: plain)
        let json = try CommandLineTool.run(["detect", image, "--model", plain, "--json"])
        let record = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        let scores = try #require(record["keypoints"] as? [[String: Any]]).compactMap { $0["score"] as? Double }
        let sorted = scores.sorted()
        let threshold = (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        #expect(sorted.count >= 2 && sorted[sorted.count / 2 - 1] < sorted[sorted.count / 2])
        model.scoreThreshold = threshold
        let thresholded = folder.file("thresholded.safetensors")
        try model.write(to: thresholded)
        func hidden(_ arguments: [String]) throws -> Int {
            let result = try CommandLineTool.run(["detect", image, "--model", thresholded] + arguments)
            #expect(result.status == 0, "\(result.errors)")
            return result.output.split(separator: "\n").filter { $0.contains("         -         -") }.count
        }
        #expect(try hidden([]) == scores.filter { $0 < threshold }.count)
        #expect(try hidden(["--min-score", "0"]) == 0)
        let kept = try CommandLineTool.run(["detect", image, "--model", thresholded, "--json"])
        #expect(kept.output.components(separatedBy: "\"score\"").count - 1 == scores.count, "JSON keeps every point")
        let info = try CommandLineTool.run(["info", thresholded])
        #expect(info.output.contains("Score threshold: \(threshold)"), "\(info.output)")
    }

    /// A small random-weight model on disk, the files a user would pass, and the CLI run on them.
    @Test func detectReportsEveryImageAndWritesOverlaysAndDumps() throws {
        let folder = try TemporaryFolder()
        let model = try TestModels.small()
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

    /// Without --model, detect runs the built-in human model: the 14 LSP joints, and on the
    /// astronaut (upright, facing the camera) the top of the head above the neck.
    @Test func detectWithoutModelUsesTheHumanModel() throws {
        let image = repository.appendingPathComponent("SampleImages/astronaut.png").path
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
        try TestModels.small().write(to: modelPath)
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
        var model = try TestModels.small()
        TestModels.randomize(&model.weights, seed: 77)
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

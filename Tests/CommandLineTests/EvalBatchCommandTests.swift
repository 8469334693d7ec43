import Foundation
import Testing
import TestSupport

@testable import KeypointKit

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

    /// Six frames predicted where the animal's parts are; frame 3's labels name each side
    /// the other's (ears 40 px apart, paws 60, PCK@0.2 reach 18 px): eval names that frame.
    @Test func warnsOfFramesLabeledAsTheirMirror() throws {
        let folder = try TemporaryFolder()
        let names = ["snout", "left_ear", "right_ear", "left_paw", "right_paw"]
        let points: [(Double, Double)] = [(50, 10), (30, 30), (70, 30), (20, 80), (80, 100)]
        let header = "image," + names.map { "\($0)_x,\($0)_y" }.joined(separator: ",")
        let rows = (0..<6).map { frame in
            let order = frame == 3 ? [0, 2, 1, 4, 3] : [0, 1, 2, 3, 4]
            return "\(frame).png," + order.map { "\(points[$0].0),\(points[$0].1)" }.joined(separator: ",")
        }
        let labels = try folder.write(Array(([header] + rows).joined(separator: "\n").utf8), to: "labels.csv")
        let lines = (0..<6).map { frame in
            JSONValue.object([
                ("image", .string("\(frame).png")),
                (
                    "keypoints",
                    .array(
                        zip(names, points).map { name, point in
                            .object([
                                ("name", .string(name)), ("x", .number(point.0)), ("y", .number(point.1)),
                                ("score", .number(0.9)),
                            ])
                        })
                ),
            ]).serialized
        }
        let predictions = try folder.write(Array(lines.joined(separator: "\n").utf8), to: "predictions.jsonl")
        let result = try CommandLineTool.run(["eval", "--labels", labels, "--predictions", predictions])
        #expect(result.status == 0, "\(result.errors)")
        #expect(
            result.errors.contains(
                "warning: 1 of 6 frames have labels that fit far better with left and right exchanged"))
        #expect(
            result.errors.contains("3.png (0 of 4 left/right points found as labeled, 4 with left and right exchanged)")
        )
        #expect(!result.errors.contains("2.png"))
    }

    @Test func predictsWithAModelAndExplainsNameMismatches() throws {
        let folder = try TemporaryFolder()
        let modelPath = folder.file("model.safetensors")
        try TestModels.small().write(to: modelPath)
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
        try TestModels.small().write(to: model)
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
            var model = try TestModels.small()
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
        var model = try TestModels.small()
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
        let arguments = ["batch", images, "--model", model, "--out", out, "--quiet", "--jobs", "2"]
        let kills = try CommandLineTool.killRepeatedly(
            arguments, resume: ["--resume"], kills: 10, delay: 20_000...250_000, seed: 99)
        #expect(kills == 10, "the runs must be cut short for this to test anything")
        let final = try CommandLineTool.run(arguments + ["--resume"])
        #expect(final.status == 1)  // the two damaged files
        let expected = try String(contentsOfFile: reference, encoding: .utf8)
        let resumed = try String(contentsOfFile: out, encoding: .utf8)
        #expect(resumed == expected)
        #expect(Set(resumed.split(separator: "\n")).count == 63)
    }
}

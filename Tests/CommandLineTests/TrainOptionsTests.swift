import CConvKernels
import Foundation
import Testing
import TestSupport

@testable import KeypointKit

/// `keypoints train`'s options, each end to end.
extension TrainCommandTests {
    @Test func keepsAMovingAverageOfTheWeights() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 16)
        let out = folder.file("averaged.safetensors")
        var arguments = Self.arguments(epochs: 2)
        arguments[arguments.firstIndex(of: "--val-fraction")! + 1] = "0"  // no validation: every epoch is kept
        let run = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", out, "--average-decay", "0.9"] + arguments)
        #expect(run.status == 0, "\(run.errors)")
        let checkpoint = try Checkpoint.load(contentsOf: out + ".checkpoint")
        #expect(checkpoint.settings.averageDecay == 0.9 && checkpoint.averageSteps == 8)
        let average = try #require(checkpoint.average)
        #expect(Set(average.keys) == Set(checkpoint.model.weights.keys))
        #expect(average.contains { name, values in values != checkpoint.model.weights[name]!.data })
        let model = try Model.load(contentsOf: out)
        #expect(model.provenance["weights"] == "moving average over 8 steps, decay 0.9")
        #expect(model.weights.allSatisfy { name, tensor in tensor.data == average[name]! })

        let plain = try Self.finishedRun(in: folder, epochs: 1)
        let resumed = try CommandLineTool.run([
            "train", "--resume", plain + ".checkpoint", "--out", plain, "--epochs", "2", "--average-decay", "0.99",
        ])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let after = try Checkpoint.load(contentsOf: plain + ".checkpoint")
        #expect(after.averageSteps == 4 && after.average != nil)
        #expect(
            after.model.provenance["schedule_changes"]
                == "1 -> 2 epochs at epoch 2 step 1; weights averaged (decay 0.99) from epoch 2 step 1")
        let bad = try CommandLineTool.run(["train", "--labels", labels, "--out", out, "--average-decay", "1"])
        #expect(bad.status != 0 && bad.errors.contains("--average-decay must lie between 0 and 1"))
    }

    /// --flip-pairs replaces the pairs inferred from the names and training lists them; --zoom sets
    /// the zoom range, and changes it on --resume, recorded in the provenance; bad values are refused.
    @Test func takesFlipPairsAndAZoomRange() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 16)
        let out = folder.file("paired.safetensors")
        let arguments = Self.arguments(epochs: 1)
        let inferred = try CommandLineTool.run(["train", "--labels", labels, "--out", out] + arguments)
        #expect(
            inferred.status == 0 && inferred.errors.contains("mirroring swaps left_mark/right_mark"),
            "\(inferred.errors)")
        // A small project trained mirrored: its model runs with the flip test unless told not to.
        #expect(try Model.load(contentsOf: out).flipTest)
        // The schedule of the plain defaults, so the resumed epoch improves and writes the model.
        let run = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", out, "--flip-pairs", "right_mark/left_mark", "--zoom", "0.5,1.5"]
                + ["--learning-rate", "0.002", "--foreground-weight", "0", "--sigma", "2", "--no-flip-test"]
                + arguments)
        #expect(run.status == 0 && run.errors.contains("mirroring swaps right_mark/left_mark"), "\(run.errors)")
        #expect(try Model.load(contentsOf: out).flipPairs == [[2, 1]] && !Model.load(contentsOf: out).flipTest)
        let augmentation = try Checkpoint.load(contentsOf: out + ".checkpoint").settings.augmentation
        #expect(augmentation.minZoom == 0.5 && augmentation.maxZoom == 1.5)

        let resumed = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "2", "--zoom", "0.6,1.5",
            "--second-pass", "2", "--flip-test",
        ])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let after = try Checkpoint.load(contentsOf: out + ".checkpoint")
        #expect(after.settings.augmentation.minZoom == 0.6 && after.model.secondPassScale == 2)
        #expect(
            after.model.provenance["schedule_changes"]
                == "1 -> 2 epochs at epoch 2 step 1; zoom 0.5-1.5 -> 0.6-1.5 from epoch 2 step 1; second pass 2.0x from epoch 2 step 1; flip test on from epoch 2"
        )
        let written = try Model.load(contentsOf: out)
        #expect(written.secondPassScale == 2 && written.flipTest)
        let info = try CommandLineTool.run(["info", out])
        #expect(info.output.contains("Second pass: on the box around the first pass's keypoints, 2.0x their extent"))
        #expect(info.output.contains("Flip test: on unless --no-flip-test"))
        func detect(_ options: [String]) throws -> String {
            let result = try CommandLineTool.run(
                ["detect", folder.file("img0.png"), "--model", out, "--json"] + options)
            #expect(result.status == 0, "\(result.errors)")
            return result.output
        }
        let asked = try detect([])
        #expect(try detect(["--single-pass"]) != asked)
        #expect(try detect(["--flip-test"]) == asked && detect(["--no-flip-test"]) != asked)

        let unmirrored = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", out, "--no-mirror"] + arguments)
        #expect(unmirrored.status == 0 && unmirrored.errors.contains("mirroring: off"), "\(unmirrored.errors)")
        #expect(try Checkpoint.load(contentsOf: out + ".checkpoint").settings.augmentation.flip == false)

        let unknown = try CommandLineTool.run(["train", "--labels", labels, "--out", out, "--flip-pairs", "dot/nose"])
        #expect(unknown.status != 0 && unknown.errors.contains("--flip-pairs: 'nose' is not a keypoint"))
        let backwards = try CommandLineTool.run(["train", "--labels", labels, "--out", out, "--zoom", "1.5,0.5"])
        #expect(backwards.status != 0 && backwards.errors.contains("--zoom must be MIN,MAX with 0 < MIN <= MAX"))
    }

    /// --best-by pck keeps the epoch with the highest validation PCK@0.2 (the first of equals) after
    /// the run's first quarter (epoch 1 of 5), and the checkpoint remembers its figures; switching
    /// on --resume is recorded and starts afresh.
    @Test func keepsTheBestEpochByPCK() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 16)
        let out = folder.file("best.safetensors")
        let arguments = Self.arguments(epochs: 5)
        let run = try CommandLineTool.run(["train", "--labels", labels, "--out", out, "--best-by", "pck"] + arguments)
        #expect(run.status == 0, "\(run.errors)")
        let figures = run.errors.split(separator: "\n").filter { $0.hasPrefix("epoch ") && $0.contains("PCK@0.2 ") }
            .map { line in Double(line.split(separator: "PCK@0.2 ")[1].prefix { $0 != " " })! }
        #expect(figures.count == 5, "\(run.errors)")
        let checkpoint = try Checkpoint.load(contentsOf: out + ".checkpoint")
        let best = try #require(checkpoint.bestEpoch)
        let candidates = figures.dropFirst()  // epochs 2-5
        #expect(best == candidates.firstIndex(of: candidates.max()!)! + 1, "PCK by epoch: \(figures)")
        #expect(abs(checkpoint.bestPCK! - candidates.max()!) <= 0.0005 && checkpoint.settings.bestBy == .pck)
        #expect(try Model.load(contentsOf: out).provenance["epochs"] == "\(best) of 5 (best)")

        let resumed = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "6", "--best-by", "error",
        ])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let after = try Checkpoint.load(contentsOf: out + ".checkpoint")
        #expect(after.bestEpoch == 6 && after.settings.bestBy == .error)
        #expect(
            after.model.provenance["schedule_changes"] == "5 -> 6 epochs at epoch 6 step 1; best by error from epoch 6")
    }

    @Test func validatesOnASeparateFile() throws {
        let trainFolder = try TemporaryFolder()
        let heldFolder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(trainFolder, count: 8)
        let held = try TrainingFixtures.dataset(heldFolder, count: 3)
        let out = trainFolder.file("m.safetensors")
        let arguments = ["--epochs", "1", "--batch", "4", "--input", "64x64", "--width", "4", "--depths", "1,1,1"]
        let result = try CommandLineTool.run(
            ["train", "--labels", labels, "--validation", held, "--out", out] + arguments)
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.errors.contains("training on 8 samples, validating on 3; 1 epochs of 2 steps"))
        #expect(try Model.load(contentsOf: out).provenance["split"] == "validation file \(held)")

        let other = try heldFolder.write(Array("image,nose_x,nose_y\nimg0.png,1,2\n".utf8), to: "other.csv")
        let mismatch = try CommandLineTool.run(["train", "--labels", labels, "--validation", other, "--out", out])
        #expect(
            mismatch.status != 0 && mismatch.errors.contains("has keypoints nose but the labels have dot,left_mark"))
    }

    /// --keypoint-weights become the loss mask of labeled keypoints (missing ones stay 0).
    @Test func keypointWeightsWeighTheLoss() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 4)
        let set = try LabeledSet.load(contentsOf: labels)
        let weights = try TrainingSettings.keypointWeights(parsing: "dot=2, right_mark=0.5", names: set.keypointNames)
        #expect(weights == [2, 1, 0.5])
        let architecture = Architecture.coordConvResNet(
            keypoints: 3, width: 4, depths: [1, 1, 1], inputWidth: 64, inputHeight: 64, heatmapStride: 4)
        let model = Model(
            architecture: architecture, keypointNames: set.keypointNames, flipPairs: [[1, 2]],
            weights: try architecture.initialWeights(seed: 1))
        var settings = TrainingSettings(epochs: 1, batch: 2, validationFraction: 0)
        settings.keypointWeights = [2, 1, 0.5]
        let trainer = try Trainer(
            model: model, data: TrainingData(labels: set, labelsPath: labels, imagesRoot: nil, inputSize: 64),
            settings: settings)
        #expect(try trainer.prepare(0, epoch: 0, augment: false).mask == [2, 1, 0])  // right_mark unlabeled

        let out = folder.file("m.safetensors")
        let unknown = try CommandLineTool.run([
            "train", "--labels", labels, "--out", out, "--keypoint-weights", "nose=2",
        ])
        #expect(
            unknown.status == 2 && unknown.errors.contains("'nose' is not a keypoint; the keypoints are dot,left_mark"))
    }

    /// --crop and --foreground-weight end to end: the run trains on windows, records both in its
    /// provenance, and a crop that is not a window of the input is a usage error.
    @Test func trainsOnCrops() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 8)
        let out = folder.file("m.safetensors")
        let arguments = ["--epochs", "1", "--batch", "4", "--input", "64x64", "--width", "4", "--depths", "1,1,1"]
        let result = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", out, "--crop", "32x32", "--foreground-weight", "5"] + arguments)
        #expect(result.status == 0, "\(result.errors)")
        let settings = try #require(try Model.load(contentsOf: out).provenance["settings"])
        #expect(settings.contains("\"crop\":[32,32]") && settings.contains("\"foregroundWeight\":5"), "\(settings)")
        for crop in ["48x32", "96x32", "32"] {
            let wrong = try CommandLineTool.run(
                ["train", "--labels", labels, "--out", out, "--crop", crop] + arguments)
            #expect(wrong.status == 2 && wrong.errors.contains("--crop must be WIDTHxHEIGHT"), "\(crop)")
        }
    }

    /// 640x480 frames into a 64x64 input get a note pointing at full-resolution crop training;
    /// with --crop there is none.
    @Test func suggestsCropsForLargeFrames() throws {
        let folder = try TemporaryFolder()
        let labels = SharedData.path(
            "dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1/CollectedData_Pranav.csv")
        let arguments = [
            "--labels", labels, "--out", folder.file("m.safetensors"), "--epochs", "1", "--batch", "16",
            "--width", "4", "--depths", "1,1,1",
        ]
        let small = try CommandLineTool.run(["train", "--input", "64x64"] + arguments)
        #expect(small.status == 0, "\(small.errors)")
        #expect(small.errors.contains("note: the images (640x480) are letterboxed into a 64x64 input"))
        #expect(small.errors.contains("--input 640x480 --crop 192x192"))
        let cropped = try CommandLineTool.run(["train", "--input", "128x96", "--crop", "64x64"] + arguments)
        #expect(cropped.status == 0 && !cropped.errors.contains("note:"), "\(cropped.errors)")

        // Without --input or --crop, the recipe from the labels fills in what no option says.
        let recipe = try CommandLineTool.run(["train"] + arguments)
        #expect(recipe.status == 0 && !recipe.errors.contains("note:"), "\(recipe.errors)")
        #expect(
            recipe.errors.contains(
                "labels: 100 samples of 640x480, subject 124 px; recipe from the labels: input 640x480 (scale 1), windows 192x192, width 4, depths 1,1,1, heatmap sigma 1.94, batch 16"
            ), "\(recipe.errors)")
        let checkpoint = try Checkpoint.load(contentsOf: folder.file("m.safetensors.checkpoint"))
        #expect(checkpoint.settings.crop == [192, 192] && checkpoint.settings.foregroundWeight == 20)
        #expect(checkpoint.settings.learningRate == 5e-3 && checkpoint.settings.batch == 16)
        #expect(checkpoint.model.architecture.inputWidth == 640 && checkpoint.model.architecture.inputHeight == 480)
        #expect(checkpoint.model.provenance["plan"]?.contains("recipe from the labels") == true)
    }

    /// A simple CSV with LSP's 14 joint names (eight LSPet rows) gets LSP's skeleton and the six
    /// left/right pairs in its model.
    @Test func lspJointsGetTheirSkeleton() throws {
        let folder = try TemporaryFolder()
        let source = try String(
            contentsOfFile: SharedData.path("lspet/derived/lspet_joints_first7000.csv"), encoding: .utf8)
        let lines = source.split(whereSeparator: \.isNewline).prefix(9).enumerated().map { index, line in
            index == 0 ? String(line) : SharedData.path("lspet/") + line
        }
        let labels = try folder.write(Array(lines.joined(separator: "\n").utf8), to: "lsp.csv")
        let out = folder.file("body.safetensors")
        let result = try CommandLineTool.run([
            "train", "--labels", labels, "--out", out, "--epochs", "1", "--batch", "4", "--input", "64x64", "--width",
            "4", "--depths", "1,1,1", "--val-fraction", "0.25",
        ])
        #expect(result.status == 0, "\(result.errors)")
        let model = try Model.load(contentsOf: out)
        #expect(model.keypointNames == Skeletons.lspNames && model.skeleton == Skeletons.lsp)
        #expect(model.flipPairs.count == 6)
    }

    /// A multi-person COCO file: one cropped sample per annotated person (14 annotations, 12 with a
    /// labeled point); the model keeps COCO's names, skeleton, flip pairs and OKS sigmas.
    @Test func trainsOnMultiPersonCOCO() throws {
        let folder = try TemporaryFolder()
        let out = folder.file("person.safetensors")
        let result = try CommandLineTool.run([
            "train", "--labels", SharedData.path("mmpose-testdata/tests/data/coco/test_coco.json"), "--out", out,
            "--epochs", "1", "--batch", "4", "--input", "64x64", "--width", "4", "--depths", "1,1,1",
            "--val-fraction", "0.25",
        ])
        #expect(result.status == 0, "\(result.errors)")
        #expect(result.errors.contains("training on 9 samples, validating on 3; 1 epochs of 3 steps"))
        let model = try Model.load(contentsOf: out)
        #expect(model.keypointNames == OKSEvaluation.cocoNames && model.oksSigmas == OKSEvaluation.cocoSigmas)
        #expect(model.skeleton.count == 19 && model.flipPairs.count == 8)
    }

    /// Images are decoded before the first step; one that cannot be (garbage, truncated) is left
    /// out and listed, and the run trains on the rest instead of failing mid-epoch.
    @Test func leavesOutImagesThatCannotBeDecoded() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 16)
        _ = try folder.write(Array("not a png at all".utf8), to: "img3.png")
        let whole = try Data(contentsOf: URL(fileURLWithPath: folder.file("img5.png")))
        _ = try folder.write(Array(whole.prefix(whole.count / 2)), to: "img5.png")
        let arguments = Self.arguments(epochs: 1)
        let run = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", folder.file("m.safetensors")] + arguments)
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.errors.contains("left out 2 labeled image(s) that cannot be decoded:"))
        #expect(
            run.errors.contains(folder.file("img3.png") + ": ") && run.errors.contains(folder.file("img5.png") + ": "))
        #expect(run.errors.contains("training on 11 samples, validating on 3"), "\(run.errors)")

        // None decodable: one clear error, naming an image and why.
        let broken = try folder.write(Array("image,dot_x,dot_y\nimg3.png,1,2\nimg5.png,3,4\n".utf8), to: "broken.csv")
        let none = try CommandLineTool.run(["train", "--labels", broken, "--out", folder.file("n.safetensors")])
        #expect(none.status == 1, "\(none.errors)")
        #expect(none.errors.contains("none of the 2 labeled images can be decoded, e.g. \(folder.file("img3.png")): "))
    }

    @Test func explainsMissingImages() throws {
        let folder = try TemporaryFolder()
        let labels = try folder.write(Array("image,dot_x,dot_y\nnowhere.png,1,2\n".utf8), to: "labels.csv")
        let result = try CommandLineTool.run(["train", "--labels", labels, "--out", folder.file("m.safetensors")])
        #expect(result.status != 0 && result.errors.contains("image 'nowhere.png' not found"))
        let empty = try folder.write(Array("image,dot_x,dot_y\nnowhere.png,,\n".utf8), to: "empty.csv")
        let nothing = try CommandLineTool.run(["train", "--labels", empty, "--out", folder.file("m.safetensors")])
        #expect(nothing.status != 0 && nothing.errors.contains("no sample has a labeled keypoint: nothing to train on"))
    }

    /// Each epoch shows the training error beside validation's; parts labeled in only some frames
    /// are listed at the start; a run with too few frames for its parts ends with a warning.
    /// --init FILE: the new model takes the file's width and depths, starts from its weights (the
    /// head's too: the same keypoints), and says so in its plan and provenance; a larger --width
    /// widens it and says so, a smaller one is refused.
    @Test func startsFromAnotherModel() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 8)
        let first = folder.file("first.safetensors")
        let arguments = ["--labels", labels, "--epochs", "1", "--batch", "4", "--input", "64x64", "--threads", "1"]
        let trained = try CommandLineTool.run(
            ["train", "--out", first, "--width", "8", "--depths", "1,2,1"] + arguments)
        #expect(trained.status == 0, "\(trained.errors)")
        let second = folder.file("second.safetensors")
        // A learning rate of 0 keeps the starting weights (batch-norm statistics still move).
        let started = try CommandLineTool.run(
            ["train", "--out", second, "--init", first] + arguments + ["--learning-rate", "0"])
        #expect(started.status == 0, "\(started.errors)")
        #expect(
            started.errors.contains("width 8, depths 1,2,1")
                && started.errors.contains("starting from the feature layers and head of \(first)"))
        let checkpoint = try Checkpoint.load(contentsOf: second + ".checkpoint")
        let start = try Model.load(contentsOf: first)
        #expect(checkpoint.model.provenance["start"] == "feature layers and head of \(first)")
        let kept = checkpoint.model.weights.filter { !$0.key.contains("running_") }
        #expect(kept.count > 10 && kept.allSatisfy { $0.value == start.weights[$0.key] })
        let widened = try CommandLineTool.run(
            ["train", "--out", folder.file("wide.safetensors"), "--init", first, "--width", "12"] + arguments)
        #expect(widened.status == 0 && widened.errors.contains("widened from 8 to 12"), "\(widened.errors)")
        let refused = try CommandLineTool.run(["train", "--out", second, "--init", first, "--width", "4"] + arguments)
        #expect(refused.status == 2 && refused.errors.contains("--init: the model to start from"), "\(refused.errors)")
    }

    @Test func reportsTrainingErrorPartialLabelsAndWarnings() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 5)
        let run = try CommandLineTool.run(
            ["train", "--labels", labels, "--out", folder.file("m.safetensors")] + Self.arguments(epochs: 2))
        #expect(run.status == 0, "\(run.errors)")
        let epochs = run.errors.split(separator: "\n").filter { $0.hasPrefix("epoch ") && $0.contains(": loss") }
        #expect(epochs.count == 2 && epochs.allSatisfy { $0.contains("training error") && $0.contains("(4 frames)") })
        #expect(run.errors.contains("right_mark: labeled in 0 of 4 frames"), "\(run.errors)")
        #expect(run.errors.contains("warning: only 4 training frames for 3 parts"), "\(run.errors)")
        #expect(
            run.errors.contains("warning: right_mark is labeled in none of the 4 training frames"), "\(run.errors)")
        #expect(!run.errors.contains("warning: dot is labeled"), "\(run.errors)")
        // At the end, each part's figures beside how often it is labeled.
        let table = run.errors.components(separatedBy: "per part, at the epoch kept:\n").last ?? ""
        let rows = table.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.count >= 4 && rows[0].first == "part", "\(table)")
        #expect(rows.contains { $0.first == "dot" && $0.suffix(3) == ["4", "of", "4"] && $0[2] == "px" }, "\(table)")
        #expect(
            rows.contains { $0.first == "right_mark" && $0[1] == "-" && $0.suffix(3) == ["0", "of", "4"] }, "\(table)")
    }
}

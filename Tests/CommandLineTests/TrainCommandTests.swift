import CConvKernels
import Foundation
import Testing
import TestSupport

@testable import KeypointKit

/// `keypoints train` end to end on a small generated set: images with two bright dots whose
/// positions are the labels.
struct TrainCommandTests {
    /// `keypoints train arguments` started in the background, returned once its progress on
    /// stderr has shown `marker` (or it has ended), with that stderr pipe.
    static func startTraining(_ arguments: [String], until marker: String) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLineTool.path)
        process.arguments = ["train"] + arguments
        let progress = Pipe()
        process.standardError = progress
        try process.run()
        var log = ""
        while !log.contains(marker) {
            let chunk = progress.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            log += String(decoding: chunk, as: UTF8.self)
        }
        return (process, progress)
    }

    static let arguments = arguments(epochs: 6)

    /// A tiny run's options: a width-4 network on 64x64 inputs, batch 4, 20% validation.
    static func arguments(epochs: Int) -> [String] {
        [
            "--epochs", "\(epochs)", "--batch", "4", "--input", "64x64", "--width", "4", "--depths", "1,1,1",
            "--val-fraction", "0.2", "--threads", "1",
        ]
    }

    @Test func trainsWritesProvenanceAndResumesExactly() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 16)
        let straight = folder.file("straight.safetensors")
        let first = try CommandLineTool.run(["train", "--labels", labels, "--out", straight] + Self.arguments)
        #expect(first.status == 0, "\(first.errors)")
        #expect(first.errors.contains("training on 13 samples, validating on 3; 6 epochs of 4 steps"))
        let model = try Model.load(contentsOf: straight)
        #expect(model.keypointNames == ["dot", "left_mark", "right_mark"])
        #expect(model.flipPairs == [[1, 2]])
        #expect(model.provenance["data"] == labels && model.provenance["seed"] == "1")
        #expect(
            model.provenance["validation_mean_error_px"] != nil
                && model.provenance["split"] == "fraction 0.2, seed 1, whole clips when the frames come from 5 or more")
        let finalWeights = try Checkpoint.load(contentsOf: straight + ".checkpoint").model.weights

        // The same run, interrupted with SIGINT part way and resumed, ends with the same weights.
        let interrupted = folder.file("interrupted.safetensors")
        // Interrupt once the first epoch's validation line appears; three epochs remain then.
        let (process, progress) = try Self.startTraining(
            ["--labels", labels, "--out", interrupted] + Self.arguments, until: "epoch 1:")
        kill(process.processIdentifier, SIGINT)
        _ = progress.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 130 {
            let resumed = try CommandLineTool.run([
                "train", "--resume", interrupted + ".checkpoint", "--out", interrupted,
            ])
            #expect(resumed.status == 0, "\(resumed.errors)")
        } else {
            Issue.record("the run ended (status \(process.terminationStatus)) before it could be interrupted")
        }
        let resumedWeights = try Checkpoint.load(contentsOf: interrupted + ".checkpoint").model.weights
        #expect(resumedWeights == finalWeights)
    }

    /// The library's run loop, as an app would drive it: stopped part way through an epoch and
    /// continued by a new run from its checkpoint, it ends with the uninterrupted run's weights;
    /// it reports every step and each epoch's validation.
    @Test func killedRunResumesFromItsLastStep() throws {
        let folder = try TemporaryFolder()
        let labels = try TrainingFixtures.dataset(folder, count: 16)
        let straight = folder.file("straight.safetensors")
        let arguments = Self.arguments + ["--checkpoint-minutes", "0"]
        let first = try CommandLineTool.run(["train", "--labels", labels, "--out", straight] + arguments)
        #expect(first.status == 0, "\(first.errors)")
        let killed = folder.file("killed.safetensors")
        let (process, _) = try Self.startTraining(
            ["--labels", labels, "--out", killed] + arguments, until: "epoch 2/6  step 3/4")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let saved = try Checkpoint.load(contentsOf: killed + ".checkpoint")
        // Killed at (epoch index 1, step index 2) or just after: the epoch-end checkpoint alone would
        // stand at step 4 of the run.
        let position = saved.epoch * 4 + saved.stepInEpoch
        #expect(position >= 6, "epoch \(saved.epoch) step \(saved.stepInEpoch)")
        let resumed = try CommandLineTool.run(["train", "--resume", killed + ".checkpoint", "--out", killed])
        #expect(resumed.status == 0, "\(resumed.errors)")
        let finalWeights = try Checkpoint.load(contentsOf: straight + ".checkpoint").model.weights
        #expect(try Checkpoint.load(contentsOf: killed + ".checkpoint").model.weights == finalWeights)
    }

    /// A finished run of `epochs` epochs of `arguments` on 16 images generated in `folder`; the model's path.
    static func finishedRun(in folder: TemporaryFolder, epochs: Int) throws -> String {
        let labels = try TrainingFixtures.dataset(folder, count: 16)
        let out = folder.file("m.safetensors")
        let arguments = Self.arguments(epochs: epochs)
        let run = try CommandLineTool.run(["train", "--labels", labels, "--out", out] + arguments)
        #expect(run.status == 0, "\(run.errors)")
        return out
    }

    /// A finished run resumed with a larger --epochs trains on to it, its schedule stretched, and
    /// says so in the provenance; the epochs chosen lift a recipe's time limit; an --epochs below
    /// what was reached is refused.
    @Test func resumedRunExtendsToMoreEpochs() throws {
        let folder = try TemporaryFolder()
        let out = try Self.finishedRun(in: folder, epochs: 2)
        var limited = try Checkpoint.load(contentsOf: out + ".checkpoint")
        limited.settings.timeLimit = 1020
        try limited.write(to: out + ".checkpoint")
        let twoEpochs = limited.model.weights
        let extended = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "3",
        ])
        #expect(extended.status == 0, "\(extended.errors)")
        #expect(extended.errors.contains("3 epochs of 4 steps") && extended.errors.contains("epoch 3:"))
        #expect(!extended.errors.contains("epoch 2:"))
        let checkpoint = try Checkpoint.load(contentsOf: out + ".checkpoint")
        #expect(checkpoint.epoch == 3 && checkpoint.settings.epochs == 3 && checkpoint.settings.timeLimit == nil)
        #expect(checkpoint.model.weights != twoEpochs)
        #expect(checkpoint.model.provenance["schedule_changes"] == "2 -> 3 epochs at epoch 3 step 1")
        let shortened = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "2",
        ])
        #expect(shortened.status != 0)
        #expect(shortened.errors.contains("already reached epoch 3"))
    }

    /// A run resumed with another --input carries on at that size with the same weights'
    /// shapes, and says so in the provenance.
    @Test func resumedRunChangesItsInputSize() throws {
        let folder = try TemporaryFolder()
        let out = try Self.finishedRun(in: folder, epochs: 1)
        let before = try Checkpoint.load(contentsOf: out + ".checkpoint").model
        let resized = try CommandLineTool.run([
            "train", "--resume", out + ".checkpoint", "--out", out, "--epochs", "2", "--input", "96x64",
        ])
        #expect(resized.status == 0, "\(resized.errors)")
        let after = try Checkpoint.load(contentsOf: out + ".checkpoint").model
        #expect(after.architecture.inputWidth == 96 && after.architecture.inputHeight == 64)
        #expect(after.weights.mapValues(\.shape) == before.weights.mapValues(\.shape))
        #expect(after.weights != before.weights)
        #expect(
            after.provenance["schedule_changes"]
                == "1 -> 2 epochs at epoch 2 step 1; input 64x64 -> 96x64 at epoch 2 step 1")
        let detected = try CommandLineTool.run(["detect", folder.file("img0.png"), "--model", out, "--json"])
        #expect(detected.status == 0, "\(detected.errors)")
        let bad = try CommandLineTool.run(["train", "--resume", out + ".checkpoint", "--out", out, "--input", "90x64"])
        #expect(bad.status != 0 && bad.errors.contains("multiples of 32"))
    }

    /// --average-decay: the checkpoint carries the weights' moving average over every step, the
    /// model written is the average (and says so), and a run resumed with it starts averaging
    /// there, recorded in the provenance; a decay outside (0, 1) is refused.
}

import ArgumentParser
import Foundation
import KeypointKit

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model on a labeled set (DeepLabCut CSV or project, COCO keypoints JSON, simple CSV).",
        discussion: """
            Builds a network of the default CoordConv family for the labels' keypoints (left/right \
            pairs inferred from their names, or given with --flip-pairs) and fits it with AdamW, \
            warm-up and cosine decay, on seeded, augmented samples (zoom, rotation, shift, \
            mirroring, brightness, contrast, gamma, blur, noise). For a small project the input, \
            training windows, heatmap sigma, batch, steps and learning rate come from the labels \
            (frame size, the subject's size, frame count; docs/TRAINING.md, "The recipe"), and the \
            network starts from the built-in human-lite model's feature layers (--init none: fresh \
            weights); the plan is printed first; every option given wins. \
            Each validation (every epoch, or every few of a small project's short ones) reports the \
            mean pixel error (at the images' original resolution) and PCK@0.2 and keeps the best \
            epoch's model at --out (with its provenance and score threshold); each epoch writes a \
            checkpoint to OUT.checkpoint. --resume CHECKPOINT continues a run exactly; \
            Ctrl-C (or SIGTERM) writes a checkpoint and stops (exit status 130, or 143); a long \
            run also writes one every --checkpoint-minutes, so a killed run loses at most that.
            """
    )

    @Option(help: "The labeled set: a label file, or a DeepLabCut project's folder or config.yaml.")
    var labels: String?

    @Option(help: "Folder the labels' image paths are relative to.")
    var imagesRoot: String?

    @Option(help: "Where to write the best model.")
    var out: String

    @Option(
        help: ArgumentHelp(
            "Epochs (default: from the labels, see the plan printed at the start; 50 for large sets).",
            discussion: """
                With --resume: continue the run to this many epochs; the learning-rate schedule is \
                stretched over the new total from the step reached (recorded in the model's provenance).
                """))
    var epochs: Int?

    @Option(help: "Images per step (at least 2; default 8, 16 for large sets).")
    var batch: Int?

    @Option(help: "A separate labeled set to validate on (same keypoints), instead of a split.")
    var validation: String?

    @Option(
        help:
            "Validation fraction, when the labels have no split and no --validation (default: 5%, at least 10 frames but at most a fifth; a fraction given is taken as it is)."
    )
    var valFraction: Double?

    @Option(help: "Seed for initial weights, split, order and augmentation.")
    var seed: UInt64 = 1

    @Option(
        help:
            "Continue from this checkpoint (its settings and labels are used; --epochs, --input, --zoom, --second-pass, --flip-test, --best-by and --average-decay may change)."
    )
    var resume: String?

    @OptionGroup var shape: ArchitectureOptions

    @Option(help: "Peak learning rate (default 5e-3, 2e-3 for large sets).")
    var learningRate: Double?

    @Option(
        help: "Target Gaussian sigma in heatmap pixels (default: from the subject's size, 1.5-3; 2 for large sets).")
    var sigma: Double?

    @Option(help: "Loss weights of some keypoints, e.g. snout=2,tailbase=0.5 (others weigh 1).")
    var keypointWeights: String?

    @Option(
        name: .customLong("init"),
        help: ArgumentHelp(
            "Start from the feature layers of a trained model: a built-in one (\(Model.bundledNames.joined(separator: ", "))), a model file, or none.",
            discussion: """
                Every layer but the heatmap head (the head too when the keypoints are the same) starts \
                from that model's weights, so a small project starts from features learned on many \
                images; the network takes that model's width and depths. A larger --width widens it \
                (copies of its channels, the same function) and deeper --depths deepen it (the blocks \
                it lacks start as the identity), so a run continues at a larger size. \
                Default for a small project: human-lite, unless --width or --depths is given; none trains \
                from fresh weights. Recorded in the provenance.
                """))
    var start: String?

    @Option(help: "Probability of a grey occluding rectangle per sample.")
    var occlusion = 0.0

    @Option(help: "Probability of blurring a sample (Gaussian, sigma 0.5-1.5 pixels; default 0.2).")
    var blur: Double?

    @Option(help: "Probability of adding noise to a sample (up to 4% of the range; default 0.3).")
    var noise: Double?

    @Option(help: "Gamma range G: each sample's values raised to a power in [e^-G, e^G] (default 0.25).")
    var gamma: Double?

    @Option(help: "Rotation range in degrees, applied to 60% of samples (default 30).")
    var rotation: Double?

    @Option(
        help: ArgumentHelp(
            "Probability of cutting a sample off at an edge through the subject (default 0).",
            discussion: """
                As if the photo ended inside the subject (a portrait, a half body): the image beyond \
                the cut becomes padding and the parts beyond it are trained as absent, so the model \
                scores a part out of the picture low instead of guessing it. The bottom edge half \
                the time, else the top, left or right.
                """))
    var cutoff = 0.0

    @Option(
        help: ArgumentHelp(
            "Zoom range MIN,MAX of the augmentation (default 0.8,1.25).",
            discussion: """
                Each sample is zoomed by a factor drawn log-uniformly from it: below 1 the subject \
                shows smaller, with more around it. Widen it when the images to run on frame the \
                subject more loosely than the labeled ones (e.g. 0.5,1.25 for whole photos after \
                tight crops).
                """))
    var zoom: String?

    @Option(
        help: ArgumentHelp(
            "Left/right keypoint pairs LEFT/RIGHT,..., e.g. Lear/Rear,paw1/paw2.",
            discussion: """
                Mirroring swaps each pair's labels; pairs given here mirror even when the labels \
                show the subject facing one way. Without this option the pairs are inferred \
                from the names (left_/right_, l_/r_, _l/_r, LeftEar/RightEar, LEar/REar, earL/earR); \
                training starts by listing them.
                """))
    var flipPairs: String?

    @Flag(help: "Never mirror samples (without left/right pairs they are never mirrored).")
    var noMirror = false

    @Option(
        help: ArgumentHelp(
            "Run whole images twice: the second pass on the box around the first's keypoints, this many times their extent.",
            discussion: """
                For labeled images that are crops centred on the subject (as LSPet's people): the \
                model records it, and detect, batch, eval and the validation here then find the \
                subject in the whole image first and look again at it at the size it was trained \
                on. At least 1; 2 suits LSPet. With --resume: from there on.
                """))
    var secondPass: Double?

    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Have the model average each image with its mirror by default (detect, batch, eval, validation).",
            discussion: """
                Twice the inference time for a steadier estimate. Default: on for a small project \
                trained on mirrored samples (it knows mirrored images), else off. With --resume: \
                from there on.
                """))
    var flipTest: Bool?

    @Option(
        help: ArgumentHelp(
            "Train on WIDTHxHEIGHT windows of the input around the labeled points (multiples of 32).",
            discussion: """
                For a small animal in a large frame: run the network at full resolution (--input \
                640x480) but train on, say, 192x192 windows around the animal, several times cheaper \
                per step. CoordConv still sees positions in the whole input.
                """))
    var crop: String?

    @Option(help: "Loss weight of a target's peak pixels over the background, minus 1 (default 0: plain MSE).")
    var foregroundWeight: Double?

    @Option(
        help: ArgumentHelp(
            "Keep a moving average of the weights, with this decay per step (e.g. 0.999).",
            discussion: """
                Validation, the best model and the file written are then the average, while the raw \
                weights train on: it smooths out the noise of each step, most while the learning rate \
                is high. About 1/(1 - decay) steps count. With --resume: start (or change) averaging \
                from there on (recorded in the model's provenance).
                """))
    var averageDecay: Double?

    @Option(
        help: ArgumentHelp(
            "Keep the epoch with the lowest validation mean error (error) or the highest PCK@0.2 (pck).",
            discussion: "Default: error. With --resume: from there on (the next epoch is then the first candidate)."))
    var bestBy: TrainingSettings.BestBy?

    @Option(help: "Threads for training and validation (default: the cores this process may run on).")
    var threads = ThreadPool.availableCores

    @Option(help: "Memory for decoded images, in MiB.")
    var cacheMb = 2048

    @Option(help: "Also write the checkpoint every this many minutes within an epoch.")
    var checkpointMinutes = 10.0

    func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1 (got \(epochs))") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        for (name, value) in [("--occlusion", occlusion), ("--blur", blur), ("--noise", noise), ("--cutoff", cutoff)] {
            if let value, !(0...1).contains(value) {
                throw ValidationError("\(name) is a probability, between 0 and 1 (got \(value))")
            }
        }
        if let gamma, !(gamma >= 0 && gamma <= 2) {
            throw ValidationError("--gamma must lie in 0-2, e.g. 0.25 (got \(gamma))")
        }
        if let rotation, !(rotation >= 0 && rotation <= 180) {
            throw ValidationError("--rotation must lie in 0-180 degrees (got \(rotation))")
        }
        if let secondPass, !(secondPass >= 1 && secondPass.isFinite) {
            throw ValidationError("--second-pass must be at least 1, e.g. 2 (got \(secondPass))")
        }
        if let averageDecay, !(averageDecay > 0 && averageDecay < 1) {
            throw ValidationError("--average-decay must lie between 0 and 1, e.g. 0.999 (got \(averageDecay))")
        }
    }

    func run() throws {
        Trainer.keepFreedMemory()
        let (checkpoint, set) = try startOrResume()
        let architecture = checkpoint.model.architecture
        printToStandardError("decoding the images of \(set.samples.count) labeled samples")
        let data = try TrainingData(
            labels: set, labelsPath: checkpoint.labels, imagesRoot: checkpoint.imagesRoot,
            inputSize: max(architecture.inputWidth, architecture.inputHeight), cacheBytes: cacheMb << 20,
            decodeFirst: true, threads: threads)
        if !data.unreadable.isEmpty {
            let list = data.unreadable.map {
                "  " + ($0.reason.hasPrefix($0.path) ? $0.reason : "\($0.path): \($0.reason)")
            }
            printToStandardError(
                "left out \(data.unreadable.count) labeled image(s) that cannot be decoded:\n"
                    + list.joined(separator: "\n"))
        }
        let run = try TrainingRun(checkpoint: checkpoint, data: data, modelPath: out, threads: threads)
        run.checkpointInterval = checkpointMinutes * 60
        try printPlan(run)
        Self.letInterruptsStopTheRun()
        var (last, kept): (TrainingRun.EpochReport?, TrainingRun.EpochReport?) = (nil, nil)
        let outcome = try run.run(shouldStop: { interruptRequested != 0 }) { progress in
            if case .epoch(let report) = progress {
                last = report
                if report.isBest { kept = report }
            }
            Self.report(progress, run)
        }
        if outcome == .stopped {
            printToStandardError("\ninterrupted: checkpoint written; continue with --resume \(run.checkpointPath)")
            throw ExitCode(128 + interruptRequested)
        }
        let best = run.checkpoint
        let trainingSamples = run.trainer.train.map { run.trainer.data.samples[$0] }
        if let kept {
            printToStandardError(
                "per part, at the epoch kept:\n"
                    + TrainingAdvice.partTable(
                        validation: kept.validation, trainingSamples,
                        names: run.checkpoint.model.keypointNames
                    ).map { "  " + $0 }.joined(separator: "\n"))
        }
        if let judged = kept ?? last {  // the model written, as the part table above shows it
            for warning in TrainingAdvice.warnings(
                validation: judged.validation, training: judged.training, trainingSamples,
                names: run.checkpoint.model.keypointNames)
            {
                printToStandardError("warning: " + warning)
            }
        }
        if best.bestEpoch != nil, !best.model.flipPairs.isEmpty {  // the model written, on every labeled frame
            let mirrored = try run.trainer.mirroredLabels(of: Model.load(contentsOf: out), threads: threads)
            if let warning = mirrored.warning { printToStandardError("warning: " + warning) }
        }
        if let kept, let threshold = TrainingRun.recordedThreshold(kept.validation),
            let chosen = kept.validation.scoreThreshold
        {
            printToStandardError(
                "score threshold \(threshold) " + TrainingRun.describe(chosen, kept.validation.cutOff))
        }
        printToStandardError(
            "done: best epoch \(best.bestEpoch ?? 0), validation mean error \(best.bestError.map { String(format: "%.2f px", $0) } ?? "-"), PCK@0.2 \(best.bestPCK.map { String(format: "%.3f", $0) } ?? "-"), model at \(out)"
        )
    }
}

extension TrainingSettings.BestBy: ExpressibleByArgument {}

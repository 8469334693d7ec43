import ArgumentParser
import Foundation
import KeypointKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Set by SIGINT; the training loop checks it between steps.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// What `train` prints while it runs, and how Ctrl-C reaches the loop.
extension Train {
    /// The run's shape before the first step: a size hint, mirroring, sample and step counts.
    func printPlan(_ run: TrainingRun) throws {
        let (trainer, settings, model) = (run.trainer, run.checkpoint.settings, run.checkpoint.model)
        let architecture = model.architecture
        if resume == nil, settings.crop == nil, let frame = try TrainingPlan.oversizedFrame(trainer) {
            func up32(_ value: Int) -> Int { (value + 31) / 32 * 32 }
            printToStandardError(
                "note: the images (\(frame[0])x\(frame[1])) are letterboxed into a \(architecture.inputWidth)x\(architecture.inputHeight) input; for a small animal in a large frame, --input \(up32(frame[0]))x\(up32(frame[1])) --crop 192x192 --foreground-weight 20 trains at full resolution on windows (docs/TRAINING.md: training on your own DeepLabCut project)"
            )
        }
        printToStandardError(TrainingPlan.mirroring(model, settings.augmentation))
        if let exclusions = TrainingPlan.flipTestExclusions(model) { printToStandardError(exclusions) }
        let partial = TrainingAdvice.partialLabels(
            trainer.train.map { trainer.data.samples[$0] }, names: model.keypointNames)
        if !partial.isEmpty {
            printToStandardError(
                "parts labeled in only some frames (masked where missing): " + partial.joined(separator: "; "))
        }
        if let reach = trainer.subjectReach { printToStandardError("subject reach " + SubjectReach.describe(reach)) }
        printToStandardError(
            "training on \(trainer.train.count) samples, validating on \(trainer.validation.count); \(settings.epochs) epochs of \(trainer.stepsPerEpoch) steps, validation every \(settings.validateEvery ?? 1)"
        )
    }

    /// SIGINT and SIGTERM set `interruptRequested`, which the run checks between steps.
    static func letInterruptsStopTheRun() {
        signal(SIGINT) { _ in interruptRequested = SIGINT }
        signal(SIGTERM) { _ in interruptRequested = SIGTERM }
        // A parent may start us with SIGINT blocked (test runners do); Ctrl-C must still reach the loop.
        var interruptOnly = sigset_t()
        sigemptyset(&interruptOnly)
        sigaddset(&interruptOnly, SIGINT)
        sigaddset(&interruptOnly, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &interruptOnly, nil)
    }

    /// A step on one self-overwriting line; an epoch on its own line.
    static func report(_ progress: TrainingRun.Progress, _ run: TrainingRun) {
        switch progress {
        case .step(let report):
            let left = Int(report.secondsLeft)
            FileHandle.standardError.write(
                Data(
                    String(
                        format: "\repoch %d/%d  step %d/%d  loss %.5f  %.1f img/s  ETA %d:%02d   ", report.epoch,
                        run.checkpoint.settings.epochs, report.step, run.trainer.stepsPerEpoch, report.meanLoss,
                        report.imagesPerSecond, left / 60, left % 60
                    ).utf8))
        case .epoch(let report):
            var line = String(format: "\nepoch %d: loss %.5f", report.epoch, report.meanLoss ?? 0)
            if let error = report.training.meanError {
                line += String(format: ", training error %.2f px (%d frames)", error, report.training.images)
            }
            if let error = report.validation.meanError {
                line += String(
                    format: ", validation mean error %.2f px, PCK@0.2 %.3f (%@)", error,
                    report.validation.pck ?? 0, report.validation.normalizer)
            }
            printToStandardError(line)
        case .shortened(let from, let to, let projected, let limit):
            printToStandardError(
                "\nnote: this machine would take about \(Int(projected / 60)) min for the planned \(from) epochs; training \(to) to end within \(Int((limit / 60).rounded())) min (docs/TRAINING.md: the recipe)"
            )
        }
    }
}

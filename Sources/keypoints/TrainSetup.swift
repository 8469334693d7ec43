import ArgumentParser
import Foundation
import KeypointKit

/// How `train` turns its options into a run: a new plan from the labels, or a checkpoint resumed
/// with the changes asked for.
extension Train {
    /// The checkpoint to train from (--resume's, with the changes asked for, or a new run's) and
    /// its labeled set.
    func startOrResume() throws -> (Checkpoint, LabeledSet) {
        guard let resume else {
            guard let labels else { throw ValidationError("--labels is required (or --resume a checkpoint)") }
            let set = try LabeledSet.forTraining(labels: labels, validation: validation, imagesRoot: imagesRoot)
            return (try newRun(labels: labels, set: set), set)
        }
        var checkpoint = try Checkpoint.load(contentsOf: resume)
        do {
            for change in try scheduleChanges() { try checkpoint.apply(change) }
            // Epochs chosen here win over the recipe's time limit, as when a run starts.
            if epochs != nil { checkpoint.settings.timeLimit = nil }
        } catch let error as InputError {
            throw ValidationError("\(error)")
        }
        let set = try LabeledSet.forTraining(
            labels: checkpoint.labels, validation: checkpoint.validationLabels, imagesRoot: checkpoint.imagesRoot)
        return (checkpoint, set)
    }

    /// The settings --resume changes, each applied only if it differs from the checkpoint's.
    func scheduleChanges() throws -> [ScheduleChange] {
        var changes: [ScheduleChange] = []
        if let epochs { changes.append(.epochs(epochs)) }
        if let input = shape.input {
            let size = try ArchitectureOptions.inputSize(input)
            changes.append(.input(width: size[0], height: size[1]))
        }
        if let zoom {
            let range = try Self.zoomRange(zoom)
            changes.append(.zoom(min: range[0], max: range[1]))
        }
        if let secondPass { changes.append(.secondPass(secondPass)) }
        if let bestBy { changes.append(.bestBy(bestBy)) }
        if let flipTest { changes.append(.flipTest(flipTest)) }
        if let averageDecay { changes.append(.averageDecay(averageDecay)) }
        return changes
    }

    /// "MIN,MAX" as a zoom range: two positive factors, the smaller first.
    static func zoomRange(_ text: String) throws -> [Double] {
        let values = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard values.count == 2, let low = values[0], let high = values[1], low > 0, low <= high, high.isFinite else {
            throw ValidationError("--zoom must be MIN,MAX with 0 < MIN <= MAX, e.g. 0.5,1.25 (got '\(text)')")
        }
        return [low, high]
    }

    /// A new run on `set`, read from `labels` (and --validation): the options as a training plan.
    func newRun(labels: String, set: LabeledSet) throws -> Checkpoint {
        var choices = try shape.choices()
        choices.crop = try crop.map { try Self.cropSize($0) }
        (choices.epochs, choices.batch, choices.learningRate) = (epochs, batch, learningRate)
        (choices.foregroundWeight, choices.validationFraction, choices.seed) = (foregroundWeight, valFraction, seed)
        (choices.sigma, choices.occlusion, choices.mirror) = (sigma, occlusion, !noMirror)
        (choices.blur, choices.noise, choices.gamma, choices.rotation) = (blur, noise, gamma, rotation)
        choices.cutoff = cutoff
        choices.fromScratch = start == "none"
        if let start, start != "none" {
            let loaded = try ModelChoice.load(start)
            choices.start = (loaded.model, loaded.name)
            do {
                _ = try TrainingPlan.startingShape(choices.start!, choices: choices)
            } catch let error as InputError {
                throw ValidationError("--init: \(error)")
            }
        }
        choices.zoom = try zoom.map { try Self.zoomRange($0) }
        (choices.averageDecay, choices.bestBy) = (averageDecay, bestBy)
        (choices.secondPass, choices.flipTest) = (secondPass, flipTest)
        let names = set.keypointNames
        do {
            choices.flipPairs = try flipPairs.map { try FlipPairs.parse($0, names: names) }
        } catch let error as InputError {
            throw ValidationError("--flip-pairs: \(error)")
        }
        do {
            choices.keypointWeights = try keypointWeights.map {
                try TrainingSettings.keypointWeights(parsing: $0, names: names)
            }
        } catch let error as InputError {
            throw ValidationError("--keypoint-weights: \(error)")
        }
        let summary = LabelSummary(set: set, labels: labels, imagesRoot: imagesRoot)
        let plan: TrainingPlan
        do {
            plan = try TrainingPlan(keypoints: names, summary: summary, choices: choices)
        } catch let error as InputError {
            throw ValidationError("--crop must be WIDTHxHEIGHT, multiples of 32 no larger than --input: \(error)")
        }
        printToStandardError(plan.description + " (options given win; docs/TRAINING.md: the recipe)")
        return try plan.checkpoint(
            set: set, labels: labels, validation: validation, imagesRoot: imagesRoot,
            command: CommandLine.arguments.joined(separator: " "))
    }

    /// "WIDTHxHEIGHT" as a crop size: multiples of 32.
    static func cropSize(_ text: String) throws -> [Int] {
        let size = text.lowercased().split(separator: "x").compactMap { Int($0) }
        guard size.count == 2, size.allSatisfy({ $0 > 0 && $0 % 32 == 0 }) else {
            throw ValidationError("--crop must be WIDTHxHEIGHT, multiples of 32 no larger than --input (got '\(text)')")
        }
        return size
    }
}

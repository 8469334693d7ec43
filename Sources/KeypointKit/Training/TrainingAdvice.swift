/// What a user should know about a run's labels and result: parts labeled in only some frames,
/// and, at the end, signs that the model is not to be trusted yet, each with what to do.
public enum TrainingAdvice {
    /// "tongue: labeled in 12 of 44 frames" for each part labeled in fewer than all of `samples`
    /// (the unlabeled ones are masked out of the loss, so they cost the other parts nothing).
    public static func partialLabels(_ samples: [TrainingData.Sample], names: [String]) -> [String] {
        zip(names, labeledCounts(samples, parts: names.count)).compactMap { name, labeled in
            labeled < samples.count ? "\(name): labeled in \(labeled) of \(samples.count) frames" : nil
        }
    }

    /// For each of `parts` parts, the samples it is labeled in.
    static func labeledCounts(_ samples: [TrainingData.Sample], parts: Int) -> [Int] {
        labeledCounts(samples.map(\.points), parts: parts)
    }

    /// For each of `parts` parts, the frames (points per frame) it is labeled in.
    static func labeledCounts(_ frames: [[LabeledPoint?]], parts: Int) -> [Int] {
        (0..<parts).map { k in frames.filter { $0.indices.contains(k) && $0[k] != nil }.count }
    }

    /// The parts labeled in under a quarter as many frames as the best-labeled one (`counts`:
    /// frames per part). Such a part is learned from those frames alone and validated on as few:
    /// a tail labeled in 5 of 36 frames validated at PCK 1.000 on its one validation frame and
    /// missed 5 of 15 held-out frames; and its detector is weak in mirrored views, where the
    /// flip test's average let a symmetric arena corner outscore it (docs/TRAINING.md).
    public static func sparseParts(_ counts: [Int]) -> [Int] {
        let most = counts.max() ?? 0
        return counts.indices.filter { 4 * counts[$0] < most }
    }

    /// One line per part for the end of a run: its validation mean error and PCK@0.2 (of the
    /// epoch kept) and in how many training frames it is labeled, so a part that is poorly found
    /// shows beside how little it was labeled.
    public static func partTable(validation: ValidationResult, _ samples: [TrainingData.Sample], names: [String])
        -> [String]
    {
        let width = max(4, names.map(\.count).max() ?? 0)
        func padded(_ text: String, _ count: Int) -> String {
            text + String(repeating: " ", count: max(0, count - text.count))
        }
        var lines = [padded("part", width) + "  validation error  PCK@0.2  labeled in training frames"]
        for (k, (name, labeled)) in zip(names, labeledCounts(samples, parts: names.count)).enumerated() {
            let error = validation.keypointErrors.indices.contains(k) ? validation.keypointErrors[k] : nil
            let pck = validation.keypointPCK.indices.contains(k) ? validation.keypointPCK[k] : nil
            lines.append(
                padded(name, width) + "  " + padded(error.map { String(format: "%.2f px", $0) } ?? "-", 16) + "  "
                    + padded(pck.map { String(format: "%.3f", $0) } ?? "-", 7) + "  \(labeled) of \(samples.count)")
        }
        return lines
    }

    /// Warnings about the finished run, from the figures of an epoch (`train` passes the one it
    /// kept: the model written) and the run's size.
    public static func warnings(
        validation: ValidationResult, training: ValidationResult, _ samples: [TrainingData.Sample], names: [String]
    ) -> [String] {
        var warnings: [String] = []
        let trainingFrames = samples.count
        if trainingFrames < 2 * names.count {
            warnings.append(
                "only \(trainingFrames) training frames for \(names.count) parts: label more frames (two per part at the very least; a hundred or more covering the postures and places the videos show)"
            )
        }
        if let held = validation.meanError, let fitted = training.meanError, held > 3 * fitted, held > 2 {
            warnings.append(
                String(
                    format:
                        "the validation error (%.1f px) is over three times the training error (%.1f px): the model fits its training frames but not new ones; label more frames like the ones it misses (an evaluation report shows them)",
                    held, fitted))
        }
        let labeled = labeledCounts(samples, parts: names.count)
        let most = labeled.max() ?? 0
        for k in sparseParts(labeled) where k < names.count {
            let (name, count) = (names[k], labeled[k])
            warnings.append(
                count == 0
                    ? "\(name) is labeled in none of the \(trainingFrames) training frames: the model cannot learn it; label it, or leave it out of the labels"
                    : "\(name) is labeled in only \(count) of \(trainingFrames) training frames (other parts in up to \(most)): it is learned from those alone and missed on new frames more often than its validation figures show; label it in more frames, the postures where it is seen included"
            )
        }
        for (k, pck) in validation.keypointPCK.enumerated() where pck == 0 && k < names.count {
            warnings.append(
                "\(names[k]) is never found in the validation frames (none within PCK@0.2): label it in more frames, or check that its labels mean the same point throughout"
            )
        }
        return warnings
    }
}

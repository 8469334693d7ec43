import ArgumentParser
import Foundation
import KeypointKit

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Score a model, or an existing predictions file, on a labeled set.",
        discussion: """
            Labels: a DeepLabCut CollectedData CSV or project (folder or config.yaml), a COCO \
            keypoints JSON or a simple CSV (image,<kp>_x,<kp>_y[,<kp>_v]...). Images are found under \
            --images-root, else relative to the labels file's folder or one of its parents \
            (DeepLabCut paths are relative to the project). With --model, COCO instances are cropped \
            around their box (enlarged 1.25x) and other images letterboxed whole (and looked at again \
            around the subject, for a model with a second pass). With --predictions, a JSON Lines file as detect --json \
            writes or a DeepLabCut CSV as batch --format csv writes (matched by image path, then \
            file name), or a COCO results JSON (each ground-truth \
            person paired with the closest detection on its image). Keypoints are matched by name.
            Reports: mean and median Euclidean error in pixels (DeepLabCut's "RMSE"), also for \
            predictions scoring at least --pcutoff; per keypoint; PCK at each threshold with its \
            normaliser; the PCK curve's area; COCO OKS AP/AR (sigmas from the model, --sigmas, or \
            COCO's for its 17 names). --report DIR writes report.json, per_image.csv, the PCK \
            curve (pck.png) and the worst images, ground truth beside prediction (worst_01.png, ...). \
            Frames whose labels fit far better with each left/right pair exchanged (the model's \
            pairs, or those the names suggest) are named in a warning, to relabel.
            """
    )

    @Option(help: "The labeled set.")
    var labels: String

    @Option(help: "Folder the labels' image paths are relative to.")
    var imagesRoot: String?

    @Option(help: "A model file, or a built-in model's name, to predict with.")
    var model: String?

    @Option(help: "Existing predictions: JSON Lines (as detect --json) or COCO results JSON.")
    var predictions: String?

    @Option(help: "Also report errors for predictions scoring at least this.")
    var pcutoff: Double?

    @Option(help: "PCK thresholds, comma-separated.")
    var pck = "0.05,0.1,0.2"

    @Option(
        help:
            "PCK normaliser: torso:A,B, bbox, head:A,B or pixels (default: torso by the shoulder and hip across, if named so, else bbox)."
    )
    var pckNorm: String?

    @Option(help: "OKS sigmas, comma-separated, one per keypoint.")
    var sigmas: String?

    @Option(help: "Write report.json, per_image.csv, pck.png and worst_NN.png overlays into this folder.")
    var report: String?

    @Option(help: "How many of the worst images get an overlay in --report.")
    var worstImages = 8

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    @OptionGroup(title: "With --model") var testTime: TestTimeOptions

    @Option(help: "Threads for --model (default: the cores this process may run on).")
    var threads = ThreadPool.availableCores

    func validate() throws {
        guard (model == nil) != (predictions == nil) else {
            throw ValidationError("give exactly one of --model and --predictions")
        }
        guard thresholds != nil else { throw ValidationError("--pck takes positive numbers separated by commas") }
    }

    var thresholds: [Double]? {
        let values = pck.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return values.map { $0! }
    }

    func run() throws {
        let set = try LabeledSet.load(contentsOf: labels)
        var modelSigmas: [Double]?
        var loadedModel: Model?
        let predicted: [[PredictedPoint?]]
        do {
            if let model {
                let loaded = testTime.applied(to: try ModelChoice.load(model).model)
                (modelSigmas, loadedModel) = (loaded.oksSigmas, loaded)
                predicted = try Predictions.predict(
                    set, with: loaded, labelsPath: labels, imagesRoot: imagesRoot, threads: threads)
            } else {
                predicted = try Predictions.read(predictions!, for: set, labelsPath: labels, imagesRoot: imagesRoot)
            }
        } catch let error as InputError {
            throw ValidationError("\(error)")  // the labels and the predictions do not go together
        }
        let names = set.keypointNames
        let normalizer =
            try pckNorm.map { try PCKNormalizer.parse($0, names: names) } ?? PCKNormalizer.standard(for: names)
        let sigmaList: (values: [Double], source: String)?
        if let sigmas {
            let values = sigmas.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == names.count else {
                throw ValidationError("--sigmas needs \(names.count) values, one per keypoint; got \(values.count)")
            }
            sigmaList = (values, "--sigmas")
        } else if let modelSigmas, model != nil {
            sigmaList = (modelSigmas, "model metadata")
        } else if names == OKSEvaluation.cocoNames {
            sigmaList = (OKSEvaluation.cocoSigmas, "COCO")
        } else {
            sigmaList = nil
        }
        let result = EvaluationReport(
            labels: set, predictions: predicted, thresholds: thresholds!, normalizer: normalizer, pcutoff: pcutoff,
            sigmas: sigmaList)
        if json { print(result.json.serialized) } else { print(table(result)) }
        let pairs =
            loadedModel.map { model in  // the model's pairs, as indices into the labels' names
                model.flipPairs.compactMap { pair in
                    let sides = pair.compactMap { names.firstIndex(of: model.keypointNames[$0]) }
                    return sides.count == 2 ? sides : nil
                }
            } ?? FlipPairs.infer(names)
        let mirrored = MirroredLabels(
            samples: set.samples, predictions: predicted, pairs: pairs, normalizer: normalizer)
        if let warning = mirrored.warning { printToStandardError("warning: " + warning) }
        if let report {
            try writeReport(
                result, set: set, predictions: predicted, model: loadedModel, sigmas: sigmaList, normalizer: normalizer,
                to: report)
        }
    }

    private func format(_ value: Double?, _ digits: Int = 2) -> String {
        value.map { String(format: "%.\(digits)f", $0) } ?? "-"
    }

    private func table(_ report: EvaluationReport) -> String {
        var lines = ["Evaluated \(report.samples) samples, \(report.keypointCount) labeled and predicted keypoints"]
        lines.append("Mean error \(format(report.meanError)) px, median \(format(report.medianError)) px")
        if let pcutoff = report.pcutoff {
            lines.append(
                "With pcutoff \(pcutoff): mean \(format(report.cutoffMeanError)) px, median \(format(report.cutoffMedianError)) px over \(report.cutoffCount) keypoints"
            )
        }
        lines.append(
            "PCK, normalised by \(report.normalizer): "
                + zip(report.thresholds, report.pck).map { "@\($0.0) \(format($0.1, 3))" }.joined(separator: "  ")
                + "; area under the curve (0 to \(report.thresholds.max()!)) \(format(report.auc, 3))")
        if let oks = report.oks {
            lines.append(
                "OKS (sigmas: \(report.oksSigmasSource ?? "")): AP \(format(oks.ap, 3)), AP50 \(format(oks.ap50, 3)), AP75 \(format(oks.ap75, 3)), AR \(format(oks.ar, 3))"
            )
        } else {
            lines.append("OKS: no sigmas (pass --sigmas, or use a model that records them)")
        }
        let width = max(report.keypoints.map(\.name.count).max() ?? 8, 8)
        lines.append("")
        lines.append(
            "keypoint".padding(toLength: width, withPad: " ", startingAt: 0) + "    mean  median  count"
                + report.thresholds.map { " PCK@\($0)".leftPadded(10) }.joined())
        for row in report.keypoints {
            lines.append(
                row.name.padding(toLength: width, withPad: " ", startingAt: 0)
                    + format(row.meanError).leftPadded(8) + format(row.medianError).leftPadded(8)
                    + String(row.count).leftPadded(7)
                    + row.pck.map { format($0, 3).leftPadded(10) }.joined())
        }
        return lines.joined(separator: "\n")
    }

    private func writeReport(
        _ report: EvaluationReport, set: LabeledSet, predictions: [[PredictedPoint?]], model: Model?,
        sigmas: (values: [Double], source: String)?, normalizer: PCKNormalizer, to folder: String
    ) throws {
        let contents = ReportFolder(
            report: report, labels: set, predictions: predictions, labelsPath: labels, imagesRoot: imagesRoot)
        let counts = contents.counts
        var options: [(name: String, value: String)] = [
            ("PCK thresholds", pck), ("PCK normaliser", normalizer.description),
            ("pcutoff", pcutoff.map { "\($0)" } ?? "none"), ("OKS sigmas", sigmas?.source ?? "none"),
        ]
        if let model {
            options.append(("Flip test", model.flipTest ? "on" : "off"))
            options.append(("Second pass", model.secondPassScale.map { "\($0)x" } ?? "off"))
        }
        let context = ReportPage.Context(
            labels: labels, source: self.model ?? self.predictions ?? "", provenance: model?.provenance ?? [:],
            options: options, date: ISO8601DateFormatter().string(from: Date()), images: set.samples.count,
            labeledPoints: counts.labeled, missingLabels: counts.missing, imagesWithoutPrediction: counts.unpredicted)
        let splits = contents.splits(thresholds: thresholds!, normalizer: normalizer, sigmas: sigmas)
        for (image, reason) in try contents.write(to: folder, worst: worstImages, splits: splits, context: context) {
            printToStandardError("no overlay for \(image): \(reason)")
        }
    }
}

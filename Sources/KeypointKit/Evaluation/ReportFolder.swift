import Foundation

/// Everything `eval --report DIR` writes: `report.json`, `per_image.csv`, `per_keypoint.csv`,
/// `pck.png`, `worst_NN.png` (ground truth beside prediction), the gallery's `crop_NN.png` and
/// `frame_NN.png`, and `index.html` (`ReportPage`) over them all.
public struct ReportFolder {
    public var report: EvaluationReport
    public var labels: LabeledSet
    public var predictions: [[PredictedPoint?]]
    public var labelsPath: String
    public var imagesRoot: String?

    public init(
        report: EvaluationReport, labels: LabeledSet, predictions: [[PredictedPoint?]], labelsPath: String,
        imagesRoot: String?
    ) {
        (self.report, self.labels, self.predictions) = (report, labels, predictions)
        (self.labelsPath, self.imagesRoot) = (labelsPath, imagesRoot)
    }

    /// The report over each split the labels name ("train", "val", ...), same settings.
    public func splits(thresholds: [Double], normalizer: PCKNormalizer, sigmas: (values: [Double], source: String)?)
        -> [(name: String, report: EvaluationReport)]
    {
        let names = Set(labels.samples.compactMap(\.split)).sorted()
        guard !names.isEmpty else { return [] }
        return names.map { name in
            var subset = labels
            let chosen = labels.samples.indices.filter { labels.samples[$0].split == name }
            subset.samples = chosen.map { labels.samples[$0] }
            return (
                name,
                EvaluationReport(
                    labels: subset, predictions: chosen.map { predictions[$0] }, thresholds: thresholds,
                    normalizer: normalizer, pcutoff: report.pcutoff, sigmas: sigmas)
            )
        }
    }

    /// The counts the page's head shows: labeled points, missing labels, images without prediction.
    public var counts: (labeled: Int, missing: Int, unpredicted: Int) {
        let labeled = labels.samples.reduce(0) { $0 + $1.points.compactMap { $0 }.count }
        let missing = labels.samples.count * labels.keypointNames.count - labeled
        let unpredicted = predictions.filter { $0.allSatisfy { $0 == nil } }.count
        return (labeled, missing, unpredicted)
    }

    /// Writes the folder. Images that cannot be read are left out of the overlays and gallery and
    /// returned, with the reason.
    public func write(
        to folder: String, worst count: Int, splits: [(name: String, report: EvaluationReport)],
        context: ReportPage.Context
    ) throws -> [(image: String, reason: String)] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try writeFileAtomically(Array((report.json.serialized + "\n").utf8), to: "\(folder)/report.json")
        var csv = "image,mean_error_px,keypoints\n"
        for row in report.perImage {
            csv += "\(CSV.quote(row.image)),\(row.meanError.map { String(format: "%.4f", $0) } ?? ""),\(row.count)\n"
        }
        try writeFileAtomically(Array(csv.utf8), to: "\(folder)/per_image.csv")
        var perKeypoint = "keypoint,mean_error_px,median_error_px,count"
        perKeypoint += report.thresholds.map { ",pck@\($0)" }.joined() + "\n"
        for row in report.keypoints {
            func number(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "" }
            perKeypoint += "\(CSV.quote(row.name)),\(number(row.meanError)),\(number(row.medianError)),\(row.count)"
            perKeypoint += row.pck.map { "," + number($0) }.joined() + "\n"
        }
        try writeFileAtomically(Array(perKeypoint.utf8), to: "\(folder)/per_keypoint.csv")
        if let plot = ReportImages.pckPlot(report) { try plot.writePNG(to: "\(folder)/pck.png") }
        var unreadable: [(String, String)] = []
        var gallery: [ReportPage.GalleryItem] = []
        let worst = report.perImage.indices.filter { report.perImage[$0].meanError != nil }
            .sorted { report.perImage[$0].meanError! > report.perImage[$1].meanError! }.prefix(count)
        for (rank, index) in worst.enumerated() {
            let sample = labels.samples[index]
            let path = LabeledSet.imagePath(sample.image, labelsPath: labelsPath, imagesRoot: imagesRoot)
            do {
                let picture = try ImageDecoder.decode(contentsOf: path).image
                let error = report.perImage[index].meanError!
                let overlay = ReportImages.sideBySide(
                    picture, truth: sample.points, prediction: predictions[index], names: labels.keypointNames,
                    skeleton: labels.skeleton, caption: String(format: "mean error %.1f px", error))
                try overlay.writePNG(to: String(format: "%@/worst_%02d.png", folder, rank + 1))
                let shot = ReportImages.labeledShot(
                    picture, truth: sample.points, prediction: predictions[index], cutoff: report.pcutoff ?? 0)
                let (crop, frame) = (
                    String(format: "crop_%02d.png", rank + 1), String(format: "frame_%02d.png", rank + 1)
                )
                try shot.crop.writePNG(to: "\(folder)/\(crop)")
                try shot.frame.writePNG(to: "\(folder)/\(frame)")
                gallery.append(.init(image: sample.image, meanError: error, crop: crop, frame: frame))
            } catch let error as ImageError {
                unreadable.append((sample.image, "\(error)"))
            }
        }
        let page = ReportPage.html(report, splits: splits, context: context, gallery: gallery)
        try writeFileAtomically(Array(page.utf8), to: "\(folder)/index.html")
        return unreadable
    }
}

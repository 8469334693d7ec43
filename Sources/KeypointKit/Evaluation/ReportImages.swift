import Foundation

/// Pictures for an evaluation report: the PCK curve, and ground truth beside prediction.
public enum ReportImages {
    /// PCK against normalised distance: one curve per keypoint in its palette colour, the mean over
    /// all keypoints in black and thicker, axes with ticks every quarter of the range, axis labels,
    /// a title and a legend. Nil when the report has no curve (no normalisable labels).
    public static func pckPlot(_ report: EvaluationReport) -> Image? {
        guard let mean = report.curve, let top = report.curveThresholds.last else { return nil }
        let names = report.keypoints.map(\.name)
        let legendWidth = Image.textWidth((names + ["mean"]).max { $0.count < $1.count }!) + 60
        let plotLeft = 90, plotTop = 50, plotWidth = 600, plotHeight = 400
        var image = Image(
            width: plotLeft + plotWidth + 30 + legendWidth,
            height: plotTop + plotHeight + 80, fill: .white)
        let grey = RGB(200, 200, 200), ink = RGB(40, 40, 40)
        func position(_ threshold: Double, _ pck: Double) -> Point {
            Point(
                x: Double(plotLeft) + threshold / top * Double(plotWidth),
                y: Double(plotTop + plotHeight) - pck * Double(plotHeight))
        }
        for tick in 0...4 {  // grid lines, ticks and tick labels
            let fraction = Double(tick) / 4
            let x = plotLeft + Int((fraction * Double(plotWidth)).rounded())
            let y = plotTop + plotHeight - Int((fraction * Double(plotHeight)).rounded())
            image.fillRectangle(x: x, y: plotTop, width: 1, height: plotHeight, color: grey)
            image.fillRectangle(x: plotLeft, y: y, width: plotWidth, height: 1, color: grey)
            image.fillRectangle(x: x, y: plotTop + plotHeight, width: 2, height: 8, color: ink)
            image.fillRectangle(x: plotLeft - 8, y: y, width: 8, height: 2, color: ink)
            let xLabel = String(format: "%.3g", fraction * top)
            image.drawText(
                xLabel, x: x - Image.textWidth(xLabel) / 2, y: plotTop + plotHeight + 14, color: ink)
            let yLabel = String(format: "%.2f", fraction)
            image.drawText(yLabel, x: plotLeft - 14 - Image.textWidth(yLabel), y: y - 7, color: ink)
        }
        image.fillRectangle(x: plotLeft, y: plotTop, width: 2, height: plotHeight + 1, color: ink)
        image.fillRectangle(x: plotLeft, y: plotTop + plotHeight, width: plotWidth + 1, height: 2, color: ink)
        func plot(_ curve: [Double], color: RGB, width: Double) {
            for index in curve.indices.dropFirst() {
                image.drawLine(
                    from: position(report.curveThresholds[index - 1], curve[index - 1]),
                    to: position(report.curveThresholds[index], curve[index]), width: width, color: color)
            }
        }
        var legend: [(String, RGB)] = []
        for (k, curve) in report.keypointCurves.enumerated() {
            guard let curve else { continue }
            let color = KeypointPalette.color(k, of: names.count)
            plot(curve, color: color, width: 2)
            legend.append((names[k], color))
        }
        plot(mean, color: .black, width: 4)
        legend.append(("mean", .black))
        for (row, (name, color)) in legend.enumerated() {
            let y = plotTop + 10 + row * 22
            image.fillRectangle(x: plotLeft + plotWidth + 30, y: y + 5, width: 24, height: 4, color: color)
            image.drawText(name, x: plotLeft + plotWidth + 62, y: y, color: ink)
        }
        let title = "PCK (area under curve \(String(format: "%.3f", report.auc ?? 0)))"
        image.drawText(title, x: plotLeft + (plotWidth - Image.textWidth(title)) / 2, y: 16, color: ink)
        let xTitle = "distance / \(report.normalizer)"
        image.drawText(
            xTitle, x: plotLeft + (plotWidth - Image.textWidth(xTitle)) / 2, y: plotTop + plotHeight + 44, color: ink)
        image.drawText("PCK", x: 8, y: plotTop - 30, color: ink)
        return image
    }

    /// The image twice, side by side: ground truth on the left (labeled points, skeleton), the
    /// prediction on the right, each point in its keypoint's colour, with a caption row above
    /// naming each side and the image's mean error. Images are scaled so the longer side is at
    /// least 400 pixels, so small frames stay readable.
    public static func sideBySide(
        _ picture: Image, truth: [LabeledPoint?], prediction: [PredictedPoint?], names: [String], skeleton: [[Int]],
        caption: String
    ) -> Image {
        let scale = max(1, 400 / Double(max(picture.width, picture.height, 1)))
        let width = Int((Double(picture.width) * scale).rounded())
        let height = Int((Double(picture.height) * scale).rounded())
        let scaled = scale > 1 ? picture.resized(width: width, height: height) : picture
        let scaleX = Double(width) / Double(max(picture.width, 1))
        let scaleY = Double(height) / Double(max(picture.height, 1))
        func keypoints(_ points: [(x: Double, y: Double)?]) -> [Keypoint] {
            zip(names, points).map { name, point in
                // Pixel centres sit at integers: scaling maps x to (x + 0.5) * scale - 0.5.
                Keypoint(
                    name: name, x: point.map { ($0.x + 0.5) * scaleX - 0.5 } ?? .nan,
                    y: point.map { ($0.y + 0.5) * scaleY - 0.5 } ?? .nan, score: point == nil ? 0 : 1)
            }
        }
        var left = scaled, right = scaled
        left.drawKeypoints(keypoints(truth.map { $0.map { ($0.x, $0.y) } }), skeleton: skeleton, minimumScore: 0.5)
        right.drawKeypoints(
            keypoints(prediction.map { $0.map { ($0.x, $0.y) } }), skeleton: skeleton, minimumScore: 0.5)
        let captionHeight = 28, gap = 8
        var result = Image(width: 2 * width + gap, height: height + captionHeight, fill: .white)
        result.paste(left, x: 0, y: captionHeight)
        result.paste(right, x: width + gap, y: captionHeight)
        result.drawText("TRUTH", x: 4, y: 7, color: .black)
        result.drawText("PREDICTION  " + caption, x: width + gap + 4, y: 7, color: .black)
        return result
    }
}

extension Image {
    /// Copies `source` into this image with its top-left corner at (x, y), clipped.
    mutating func paste(_ source: Image, x: Int, y: Int) {
        for row in 0..<source.height where (0..<height).contains(y + row) {
            for column in 0..<source.width where (0..<width).contains(x + column) {
                let from = (row * source.width + column) * 3
                let to = ((y + row) * width + x + column) * 3
                pixels[to] = source.pixels[from]
                pixels[to + 1] = source.pixels[from + 1]
                pixels[to + 2] = source.pixels[from + 2]
            }
        }
    }
}

extension ReportImages {
    /// An image of the gallery in DeepLabCut's convention: "+" at each label, a dot at each
    /// prediction scoring at least `cutoff`, "x" at one below it, in the keypoint's colour. Returns
    /// the crop around the labeled subject (half as large again as the labels' extent, at least
    /// 48 pixels, 300 pixels wide so a few pixels of error show) and the whole frame, both marked.
    public static func labeledShot(
        _ picture: Image, truth: [LabeledPoint?], prediction: [PredictedPoint?], cutoff: Double
    ) -> (crop: Image, frame: Image) {
        let count = truth.count
        func mark(_ image: inout Image, _ transform: AffineTransform, size: Double) {
            for k in 0..<count {
                let colour = KeypointPalette.color(k, of: count)
                if let label = truth[k] {
                    let c = transform.apply(Point(x: label.x, y: label.y))
                    for (dx, dy) in [(size, 0.0), (0.0, size)] {
                        image.drawLine(
                            from: Point(x: c.x - dx, y: c.y - dy), to: Point(x: c.x + dx, y: c.y + dy),
                            width: max(size / 3, 1.5), color: colour)
                    }
                }
                if let point = prediction[k], point.x.isFinite, point.y.isFinite {
                    let c = transform.apply(Point(x: point.x, y: point.y))
                    if point.score >= cutoff {
                        image.fillCircle(center: c, radius: size * 0.55, color: .white)
                        image.fillCircle(center: c, radius: size * 0.4, color: colour)
                    } else {
                        for (dx, dy) in [(size * 0.7, size * 0.7), (size * 0.7, -size * 0.7)] {
                            image.drawLine(
                                from: Point(x: c.x - dx, y: c.y - dy), to: Point(x: c.x + dx, y: c.y + dy),
                                width: max(size / 3, 1.5), color: colour)
                        }
                    }
                }
            }
        }
        var frame = picture
        mark(&frame, .identity, size: max(Double(max(picture.width, picture.height)) / 120, 3))
        let labeled = truth.compactMap { $0 }
        let xs = labeled.map(\.x), ys = labeled.map(\.y)
        let extent = max((xs.max() ?? 0) - (xs.min() ?? 0), (ys.max() ?? 0) - (ys.min() ?? 0))
        let side = max(extent * 1.5, 48)
        let center =
            labeled.isEmpty
            ? Point(x: Double(picture.width - 1) / 2, y: Double(picture.height - 1) / 2)
            : Point(x: ((xs.min() ?? 0) + (xs.max() ?? 0)) / 2, y: ((ys.min() ?? 0) + (ys.max() ?? 0)) / 2)
        let transform = AffineTransform.crop(
            center: center, width: side, height: side, targetWidth: 300, targetHeight: 300)
        var crop = picture.warped(by: transform, width: 300, height: 300, fill: RGB(128, 128, 128))
        mark(&crop, transform, size: 7)
        return (crop, frame)
    }
}

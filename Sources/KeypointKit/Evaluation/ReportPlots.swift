import Foundation

/// The evaluation report's plots as SVG: crisp at any zoom, real text, no scripts.
public enum ReportPlots {
    static let width = 640.0
    static let height = 360.0
    static let margin = (left: 60.0, right: 20.0, top: 30.0, bottom: 50.0)

    /// PCK against the normalised threshold: the mean over all keypoints, thick, and one thin
    /// curve per keypoint in its palette colour.
    public static func pckCurve(_ report: EvaluationReport) -> String? {
        guard let mean = report.curve, let top = report.curveThresholds.last, top > 0 else { return nil }
        var body = axes(
            xLabel: "threshold (normalised by \(report.normalizer))", yLabel: "PCK", xMax: top, yMax: 1)
        for (k, curve) in report.keypointCurves.enumerated() {
            guard let curve else { continue }
            body += polyline(
                zip(report.curveThresholds, curve), xMax: top, yMax: 1, colour: colour(k, of: report.keypoints.count),
                width: 1)
        }
        body += polyline(zip(report.curveThresholds, mean), xMax: top, yMax: 1, colour: "#222", width: 3)
        // The legend, bottom right inside the plot: the mean, then each keypoint.
        let entries =
            [("mean", "#222")] + report.keypoints.enumerated().map { ($1.name, colour($0, of: report.keypoints.count)) }
        let left = width - margin.right - 150, bottom = height - margin.bottom - 10
        for (row, (name, colour)) in entries.enumerated() {
            let top = bottom - Double(entries.count - row) * 16
            body += String(
                format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"3\"/>"
                    + "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">%@</text>", left, left + 18, top + 8, top + 8,
                colour,
                left + 24, top + 12, escape(name))
        }
        return svg("PCK curve", body)
    }

    /// How many points fall in each of 20 bins from 0 to the 99th percentile of the errors (the
    /// last bin also holds the larger ones).
    public static func errorHistogram(_ errors: [Double]) -> String? {
        guard !errors.isEmpty else { return nil }
        let sorted = errors.sorted()
        let top = max(sorted[min(Int(0.99 * Double(sorted.count)), sorted.count - 1)], 1e-9)
        var counts = [Int](repeating: 0, count: 20)
        for error in errors { counts[min(Int(error / top * 20), 19)] += 1 }
        let most = Double(counts.max() ?? 1)
        var body = axes(xLabel: "pixel error", yLabel: "points", xMax: top, yMax: most)
        for (bin, count) in counts.enumerated() {
            let x0 = x(Double(bin) / 20 * top, top), x1 = x(Double(bin + 1) / 20 * top, top)
            let y0 = y(Double(count), most)
            body += String(
                format:
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#4a7ab5\"><title>%d</title></rect>",
                x0 + 1, y0, max(x1 - x0 - 2, 1), height - margin.bottom - y0, count)
        }
        return svg("Error histogram", body)
    }

    /// Each keypoint's mean pixel error as a bar, median as a tick.
    public static func keypointBars(_ report: EvaluationReport) -> String? {
        let rows = report.keypoints.filter { $0.meanError != nil }
        guard let top = rows.compactMap(\.meanError).max(), top > 0 else { return nil }
        let plotWidth = width - margin.left - margin.right
        let step = plotWidth / Double(rows.count)
        var body = axes(xLabel: "", yLabel: "mean error (px)", xMax: nil, yMax: top)
        for (index, row) in rows.enumerated() {
            let left = margin.left + Double(index) * step
            let top0 = y(row.meanError!, top)
            let k = report.keypoints.firstIndex { $0.name == row.name } ?? index
            body += String(
                format:
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\"><title>%@: %.2f px</title></rect>",
                left + step * 0.15, top0, step * 0.7, height - margin.bottom - top0,
                colour(k, of: report.keypoints.count),
                escape(row.name),
                row.meanError!)
            if let median = row.medianError {
                body += String(
                    format:
                        "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" stroke-width=\"2\"/>",
                    left + step * 0.15, left + step * 0.85, y(median, top), y(median, top))
            }
            body += String(
                format:
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\" transform=\"rotate(-40 %.1f %.1f)\">%@</text>",
                left + step / 2, height - margin.bottom + 14, left + step / 2, height - margin.bottom + 14,
                escape(row.name))
        }
        return svg("Per-keypoint error", body)
    }

    // MARK: - Drawing

    static func x(_ value: Double, _ max: Double) -> Double {
        margin.left + value / max * (width - margin.left - margin.right)
    }

    static func y(_ value: Double, _ max: Double) -> Double {
        height - margin.bottom - value / max * (height - margin.top - margin.bottom)
    }

    static func svg(_ title: String, _ body: String) -> String {
        String(
            format:
                "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"%@\">"
                + "<title>%@</title><rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>%@</svg>", width, height,
            title, title, body)
    }

    /// Axes with five ticks each (none along x when `xMax` is nil) and their labels.
    static func axes(xLabel: String, yLabel: String, xMax: Double?, yMax: Double) -> String {
        var body = String(
            format: "<g stroke=\"#444\"><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                + "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/></g>", margin.left, width - margin.right,
            height - margin.bottom, height - margin.bottom, margin.left, margin.left, margin.top,
            height - margin.bottom)
        for tick in 0...4 {
            let fraction = Double(tick) / 4
            let ty = y(fraction * yMax, yMax)
            body += String(
                format: "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                    + "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%@</text>", margin.left,
                width - margin.right, ty, ty, margin.left - 6, ty + 4, label(fraction * yMax))
            if let xMax {
                let tx = x(fraction * xMax, xMax)
                body += String(
                    format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%@</text>", tx,
                    height - margin.bottom + 16, label(fraction * xMax))
            }
        }
        body += String(
            format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%@</text>"
                + "<text x=\"14\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 %.1f)\">%@</text>",
            (margin.left + width - margin.right) / 2, height - 10, escape(xLabel), height / 2, height / 2,
            escape(yLabel))
        return body
    }

    static func polyline(
        _ points: Zip2Sequence<[Double], [Double]>, xMax: Double, yMax: Double, colour: String, width: Double
    )
        -> String
    {
        let path = points.map { String(format: "%.1f,%.1f", x($0.0, xMax), y($0.1, yMax)) }.joined(separator: " ")
        return "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(width)\" points=\"\(path)\"/>"
    }

    static func label(_ value: Double) -> String {
        value >= 100 || value == value.rounded() ? String(format: "%.0f", value) : String(format: "%.3g", value)
    }

    /// Keypoint `index`'s colour of `count`, as the overlays draw it.
    static func colour(_ index: Int, of count: Int) -> String {
        let c = KeypointPalette.color(index, of: count)
        return String(format: "#%02x%02x%02x", c.red, c.green, c.blue)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

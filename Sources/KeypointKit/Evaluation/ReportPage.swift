import Foundation

/// The evaluation report as one self-contained HTML page (`index.html`): inline CSS, a few lines
/// of inline script to sort the per-keypoint table, the plots as inline SVG, images as files
/// beside it; nothing from the network. Every figure taken from `report.json` carries it in a
/// `data-key` / `data-value` pair, so a test can compare the page with the JSON.
public enum ReportPage {
    /// What was evaluated, for the page's head.
    public struct Context: Sendable {
        public var labels: String
        /// The model's name or file, or the predictions file.
        public var source: String
        /// The model's provenance (empty for a predictions file).
        public var provenance: [String: String]
        /// The options that shaped the figures, as shown.
        public var options: [(name: String, value: String)]
        public var date: String
        public var images: Int
        public var labeledPoints: Int
        public var missingLabels: Int
        public var imagesWithoutPrediction: Int

        public init(
            labels: String, source: String, provenance: [String: String], options: [(name: String, value: String)],
            date: String, images: Int, labeledPoints: Int, missingLabels: Int, imagesWithoutPrediction: Int
        ) {
            (self.labels, self.source, self.provenance, self.options, self.date) = (
                labels, source, provenance, options, date
            )
            (self.images, self.labeledPoints, self.missingLabels, self.imagesWithoutPrediction) = (
                images, labeledPoints, missingLabels, imagesWithoutPrediction
            )
        }
    }

    /// One image of the gallery: its crop around the subject and the whole frame, as files.
    public struct GalleryItem: Sendable {
        public var image: String
        public var meanError: Double
        public var crop: String
        public var frame: String

        public init(image: String, meanError: Double, crop: String, frame: String) {
            (self.image, self.meanError, self.crop, self.frame) = (image, meanError, crop, frame)
        }
    }

    public static func html(
        _ report: EvaluationReport, splits: [(name: String, report: EvaluationReport)], context: Context,
        gallery: [GalleryItem]
    ) -> String {
        let columns = [("all", report)] + splits
        var page = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Evaluation: \(e(context.labels))</title>
            <style>\(style)</style></head><body>
            <h1>Evaluation report</h1>
            <section id="what"><h2>What was evaluated</h2><dl>
            <dt>Labels</dt><dd>\(e(context.labels))</dd><dt>Predictions</dt><dd>\(e(context.source))</dd>
            """
        for (key, value) in context.provenance.sorted(by: { $0.key < $1.key }) where value.count < 300 {
            page += "<dt>Model \(e(key))</dt><dd>\(e(value))</dd>"
        }
        for option in context.options { page += "<dt>\(e(option.name))</dt><dd>\(e(option.value))</dd>" }
        page += """
            <dt>Date</dt><dd>\(e(context.date))</dd>
            <dt>Images</dt><dd data-key="samples" data-value="\(report.samples)">\(report.samples)</dd>
            <dt>Labeled points</dt><dd>\(context.labeledPoints)</dd>
            <dt>Points evaluated</dt><dd data-key="keypoints_evaluated" data-value="\(report.keypointCount)">\(report.keypointCount)</dd>
            <dt>Missing labels</dt><dd>\(context.missingLabels)</dd>
            <dt>Images without prediction</dt><dd>\(context.imagesWithoutPrediction)</dd></dl></section>
            """
        page += summary(columns)
        page += keypointTable(report)
        page += "<section id=\"plots\"><h2>Plots</h2>"
        for plot in [
            ReportPlots.pckCurve(report), ReportPlots.errorHistogram(report.errors), ReportPlots.keypointBars(report),
        ] {
            if let plot { page += "<figure>\(plot)</figure>" }
        }
        page +=
            "<p>PNG for scripts: <a href=\"pck.png\">pck.png</a>; the numbers: <a href=\"report.json\">report.json</a>, "
        page +=
            "<a href=\"per_image.csv\">per_image.csv</a>, <a href=\"per_keypoint.csv\">per_keypoint.csv</a>.</p></section>"
        page += "<section id=\"gallery\"><h2>Worst images</h2><p class=\"note\">+ label, &#9679; prediction "
        page += "at or above the cutoff, &#215; below it (DeepLabCut's convention); each links to the whole frame.</p>"
        for item in gallery {
            page += """
                <figure class="shot"><a href="\(e(item.frame))"><img src="\(e(item.crop))" alt="\(e(item.image))"></a>
                <figcaption>\(e(item.image))<br>mean error \(String(format: "%.1f", item.meanError)) px</figcaption></figure>
                """
        }
        return page + "</section><script>\(sorter)</script></body></html>\n"
    }

    /// The summary table: one column per split (all first), the report.json figures tagged.
    static func summary(_ columns: [(name: String, report: EvaluationReport)]) -> String {
        func cell(_ key: String, _ value: Double?, _ column: Int, digits: Int = 2) -> String {
            let text = value.map { String(format: "%.\(digits)f", $0) } ?? "-"
            let tag = column == 0 && value != nil ? " data-key=\"\(key)\" data-value=\"\(value!)\"" : ""
            return "<td\(tag)>\(text)</td>"
        }
        func row(_ label: String, _ key: String, digits: Int = 2, _ value: (EvaluationReport) -> Double?) -> String {
            "<tr><th>\(e(label))</th>"
                + columns.enumerated().map { cell(key, value($1.report), $0, digits: digits) }.joined() + "</tr>"
        }
        let report = columns[0].report
        var html = "<section id=\"summary\"><h2>Summary</h2><table><thead><tr><th></th>"
        html += columns.map { "<th>\(e($0.name))</th>" }.joined() + "</tr></thead><tbody>"
        html += row("Mean error (px)", "mean_error_px") { $0.meanError }
        html += row("Median error (px)", "median_error_px") { $0.medianError }
        for (index, level) in EvaluationReport.percentileLevels.enumerated() {
            html += row("\(level)th percentile (px)", "error_percentiles_px.\(level)") { $0.percentiles[index].all }
        }
        if let pcutoff = report.pcutoff {
            html += row("Mean error, score ≥ \(pcutoff) (px)", "pcutoff_mean_error_px") { $0.cutoffMeanError }
            for (index, level) in EvaluationReport.percentileLevels.enumerated() {
                html += row("\(level)th percentile, score ≥ \(pcutoff) (px)", "pcutoff_error_percentiles_px.\(level)") {
                    $0.percentiles[index].cutoff
                }
            }
        }
        for (index, threshold) in report.thresholds.enumerated() {
            html += row("PCK@\(threshold) (\(report.normalizer))", "pck.\(threshold)", digits: 3) { $0.pck[index] }
        }
        html += row("PCK area under the curve", "pck_auc", digits: 3) { $0.auc }
        for (index, threshold) in EvaluationReport.pixelThresholds.enumerated() {
            html += row("PCK within \(ReportPlots.label(threshold)) px", "pck_pixels.\(threshold)", digits: 3) {
                $0.pixelPCK[index]
            }
        }
        if report.oks != nil {
            html += row("OKS AP (sigmas: \(report.oksSigmasSource ?? ""))", "oks.ap", digits: 3) { $0.oks?.ap }
            html += row("OKS AP50", "oks.ap50", digits: 3) { $0.oks?.ap50 }
            html += row("OKS AP75", "oks.ap75", digits: 3) { $0.oks?.ap75 }
            html += row("OKS AR", "oks.ar", digits: 3) { $0.oks?.ar }
        }
        return html + "</tbody></table></section>"
    }

    /// Per keypoint: mean and median error, count, PCK at each threshold; sortable by any column.
    static func keypointTable(_ report: EvaluationReport) -> String {
        var html = "<section id=\"keypoints\"><h2>Per keypoint</h2><p class=\"note\">Click a column to sort.</p>"
        html +=
            "<table class=\"sortable\"><thead><tr><th>keypoint</th><th>mean (px)</th><th>median (px)</th><th>labeled</th>"
        html += report.thresholds.map { "<th>PCK@\($0)</th>" }.joined() + "</tr></thead><tbody>"
        for row in report.keypoints {
            func number(_ value: Double?, _ digits: Int) -> String {
                "<td data-sort=\"\(value ?? -1)\">\(value.map { String(format: "%.\(digits)f", $0) } ?? "-")</td>"
            }
            html += "<tr><td>\(e(row.name))</td>" + number(row.meanError, 2) + number(row.medianError, 2)
            html +=
                "<td data-sort=\"\(row.count)\">\(row.count)</td>" + row.pck.map { number($0, 3) }.joined() + "</tr>"
        }
        return html + "</tbody></table></section>"
    }

    static let style = """
        body{font:14px/1.4 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
        h1{font-size:1.6em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
        dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}dd{margin:0;word-break:break-all}
        table{border-collapse:collapse}th,td{padding:.25em .7em;border-bottom:1px solid #e4e4e4;text-align:right}
        th:first-child,td:first-child{text-align:left}table.sortable th{cursor:pointer;user-select:none}
        figure{margin:1em 0}svg{width:100%;max-width:640px;height:auto;border:1px solid #eee}
        .shot{display:inline-block;vertical-align:top;width:300px;margin:.5em}.shot img{width:100%;border:1px solid #ccc}
        .note{color:#666}@media print{.shot{page-break-inside:avoid}table.sortable th{cursor:auto}}
        """

    static let sorter = """
        document.querySelectorAll('table.sortable th').forEach(function(th, column) {
          th.addEventListener('click', function() {
            var body = th.closest('table').tBodies[0];
            var rows = Array.prototype.slice.call(body.rows);
            var up = th.dataset.order !== 'up';
            rows.sort(function(a, b) {
              var x = a.cells[column], y = b.cells[column];
              var p = x.dataset.sort, q = y.dataset.sort;
              var order = p !== undefined ? parseFloat(p) - parseFloat(q) : x.textContent.localeCompare(y.textContent);
              return up ? order : -order;
            });
            rows.forEach(function(row) { body.appendChild(row); });
            th.dataset.order = up ? 'up' : 'down';
          });
        });
        """

    static func e(_ text: String) -> String { ReportPlots.escape(text) }
}

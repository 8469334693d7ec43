import Foundation
import TestSupport
import Testing

@testable import KeypointKit

/// `eval --report`'s page opened in headless Chromium (Scripts/check_report_page.py): no console
/// errors, every image loaded, every tagged figure equal to report.json's.
struct ReportPageTests {
    @Test func thePageLoadsCleanAndAgreesWithReportJSON() throws {
        let folder = try TemporaryFolder()
        let model = folder.file("model.safetensors")
        try TestModels.small().write(to: model)
        var lines = ["image,left_eye_x,left_eye_y,right_eye_x,right_eye_y,nose_x,nose_y,split"]
        for index in 0..<12 {
            let name = "photo\(index).png"
            try Image(width: 96, height: 72, pixels: testPicture(width: 96, height: 72)).writePNG(to: folder.file(name))
            let shift = Double(index)
            lines.append(
                "\(name),\(30 + shift),30,\(60 - shift),31,45,\(45 + shift / 2),\(index < 9 ? "train" : "val")")
        }
        let labels = try folder.write(Array(lines.joined(separator: "\n").utf8), to: "labels.csv")
        let report = folder.file("report")
        let eval = try CommandLineTool.run(
            [
                "eval", "--labels", labels, "--model", model, "--pcutoff", "0.1", "--report", report, "--worst-images",
                "4",
            ])
        #expect(eval.status == 0, "\(eval.errors)")
        let page = try String(contentsOfFile: folder.file("report/index.html"), encoding: .utf8)
        #expect(page.contains("<th>train</th>") && page.contains("<th>val</th>"), "one column per split")
        #expect(page.contains("<svg"), "plots inline")
        for remote in ["src=\"http", "href=\"http", "url(http", "<link", "<script src"] {
            #expect(!page.contains(remote), "nothing from the network: \(remote)")
        }
        let perKeypoint = try String(contentsOfFile: folder.file("report/per_keypoint.csv"), encoding: .utf8)
        #expect(perKeypoint.hasPrefix("keypoint,mean_error_px,median_error_px,count,pck@0.05,pck@0.1,pck@0.2\n"))
        #expect(perKeypoint.split(separator: "\n").count == 4)
        let check = try runPythonScript(
            "check_report_page.py",
            [folder.file("report/index.html"), folder.file("report/report.json"), folder.file("report/screenshot.png")])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("\"images\": 4"), "\(check.output)")
    }
}

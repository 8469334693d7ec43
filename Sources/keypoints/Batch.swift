import ArgumentParser
import Foundation
import KeypointKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Find keypoints in many images: folders, files or @lists, durably and in parallel.",
        discussion: """
            Folders contribute every PNG and JPEG file they hold (by content; other files are skipped \
            and counted), @list.txt files one path per line; everything is processed in sorted path \
            order. Each result is journaled (OUT.journal) and flushed as it completes; the output is \
            written from the journal in that order and replaced atomically, so it is identical for any \
            --jobs, and a run killed at any moment continues with --resume (images whose path, size \
            and modification time are journaled are skipped). A file that cannot be read is reported \
            on stderr and in its record, and the run goes on. Exit status: 0 when every image \
            succeeded, 1 when any failed, 2 for usage errors.
            """
    )

    @Argument(help: "Folders, image files, or @list.txt files.")
    var paths: [String]

    @Flag(help: "Descend into subfolders.")
    var recursive = false

    @Option(help: ModelChoice.help)
    var model: String?

    @Option(help: "The output file (default: batch.<format> in the current folder).")
    var out: String?

    @Option(help: "jsonl, csv (DeepLabCut layout) or coco (results JSON).")
    var format = "jsonl"

    @Option(help: "COCO format: take image ids from this COCO file's images (matched by file name).")
    var cocoImages: String?

    @Option(help: "Write overlays as PNG into this folder (images are then decoded at full size).")
    var draw: String?

    @Option(help: "Parallel workers, one thread each (default: all cores).")
    var jobs = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Continue an interrupted run: skip images already in OUT.journal.")
    var resume = false

    @Option(help: "Hide keypoints scoring below this in overlays.")
    var minScore: Float = 0

    @OptionGroup var testTime: TestTimeOptions

    @Flag(help: "No progress bar and no summary on stderr.")
    var quiet = false

    func validate() throws {
        guard BatchRunner.Format(rawValue: format) != nil else {
            throw ValidationError("--format must be jsonl, csv or coco")
        }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        if cocoImages != nil && format != "coco" { throw ValidationError("--coco-images goes with --format coco") }
    }

    func run() throws {
        let chosenFormat = BatchRunner.Format(rawValue: format)!
        let output = out ?? "batch.\(chosenFormat == .coco ? "json" : format)"
        let (images, skipped) = try BatchRunner.collectInputs(paths, recursive: recursive)
        if images.isEmpty {
            printToStandardError("keypoints batch: no images in \(paths.joined(separator: " "))")
            throw ExitCode(2)
        }
        var cocoIDs: [String: Int]?
        if let cocoImages {
            let set = try LabeledSet.load(contentsOf: cocoImages)
            cocoIDs = Dictionary(set.images.map { ($0.value, $0.key) }) { first, _ in first }
        }
        if let draw { try FileManager.default.createDirectory(atPath: draw, withIntermediateDirectories: true) }
        let (chosen, modelName) = try ModelChoice.load(model)
        let loaded = testTime.applied(to: chosen)
        let runner = BatchRunner(
            model: loaded,
            options: BatchRunner.Options(
                modelPath: modelName, output: output, format: chosenFormat, jobs: jobs, resume: resume,
                minimumScore: minScore, drawFolder: draw, cocoImageIDs: cocoIDs))
        let showBar = !quiet && isatty(STDERR_FILENO) == 1
        let start = Date()
        let summary = try runner.run(images: images, skippedFiles: skipped) { done, total, failed in
            guard showBar else { return }
            let elapsed = Date().timeIntervalSince(start)
            let rate = elapsed > 0 ? Double(done) / elapsed : 0
            let remaining = rate > 0 ? Int(Double(total - done) / rate) : 0
            let filled = total > 0 ? done * 30 / total : 30
            let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: 30 - filled)
            let line = String(
                format: "\r[%@] %d/%d  %.1f img/s  ETA %d:%02d  failed %d ", bar, done, total, rate,
                remaining / 60, remaining % 60, failed)
            FileHandle.standardError.write(Data(line.utf8))
        }
        if showBar { printToStandardError("") }
        if !quiet {
            let rate =
                summary.seconds > 0 ? Double(summary.processed + summary.failed - summary.resumed) / summary.seconds : 0
            FileHandle.standardError.write(
                Data(
                    String(
                        format:
                            "processed %d, failed %d, skipped %d non-image files, %d already done, %.1f s, %.1f images/s -> %@\n",
                        summary.processed, summary.failed, summary.skippedFiles, summary.resumed, summary.seconds, rate,
                        output
                    ).utf8))
        }
        if summary.failed > 0 { throw ExitCode(1) }
    }
}

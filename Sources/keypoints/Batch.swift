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
        abstract: "Find keypoints in many images and videos: folders, files or @lists, durably and in parallel.",
        discussion: """
            Folders contribute every PNG and JPEG file they hold (by content) and every video by \
            name (.mp4 .m4v .mov .avi .mkv .webm .mpg .mpeg .ts .mts .m2ts .wmv .flv .3gp .ogv); \
            other files are skipped and counted. @list.txt files name one path per line; a named file \
            that is not an image is read as a video (any container FFmpeg reads). Images go, in sorted \
            path order, to one output (--out); each video to its own, DIR/<video name>.<format> in \
            --out-dir (default: the current folder), or --out for a single video alone: one record \
            per frame with its index and time (--frames START:END and --every K pick frames by index). \
            Each result is journaled (OUTPUT.journal) and flushed as it completes; each output is \
            written from its journal in order and replaced atomically, so it is identical for any \
            --jobs, and a run killed at any moment continues with --resume (images whose path, size \
            and modification time are journaled, and frames journaled for the same video, model and \
            selection, are skipped). A file that cannot be read is reported on stderr and in the \
            output, and the run goes on. Exit status: 0 when everything succeeded, 1 when any image \
            or video failed, 2 for usage errors.
            """
    )

    @Argument(help: "Folders, image or video files, or @list.txt files.")
    var paths: [String]

    @Flag(help: "Descend into subfolders.")
    var recursive = false

    @Option(help: ModelChoice.help)
    var model: String?

    @Option(help: "The output file of the images (default: batch.<format>), or of a single video alone.")
    var out: String?

    @Option(help: "Where each video's output goes, named after the video (default: the current folder).")
    var outDir: String?

    @Option(help: "Videos: the frames START:END to analyse, by index (END excluded; either may be left out).")
    var frames: String?

    @Option(help: "Videos: analyse every K-th frame of the range.")
    var every = 1

    @Option(
        help: ArgumentHelp(
            "Do only shard INDEX of COUNT of the images, e.g. 3/8; either may be auto (Slurm, Kubernetes).",
            discussion: """
                The images, in sorted order, are split into COUNT contiguous parts of about equal \
                bytes. --out is this shard's own output, beside it OUT.shard.json saying which shard \
                of which run it is; keypoints merge joins the shards' outputs into the output of the \
                run without --shard, byte for byte. auto reads SLURM_ARRAY_TASK_ID and \
                SLURM_ARRAY_TASK_COUNT (or _MIN/_MAX) in a Slurm array task, JOB_COMPLETION_INDEX in a \
                Kubernetes Indexed Job (give the count there).
                """))
    var shard: String?

    @Option(help: "jsonl, csv (DeepLabCut layout) or coco (results JSON; images only).")
    var format = "jsonl"

    @Option(help: "COCO format: take image ids from this COCO file's images (matched by file name).")
    var cocoImages: String?

    @Option(help: "Write overlays as PNG into this folder (images are then decoded at full size).")
    var draw: String?

    @Option(help: "Parallel workers, one thread each (default: the cores this process may run on).")
    var jobs = ThreadPool.availableCores

    @Flag(help: "Continue an interrupted run: skip the images and frames already journaled.")
    var resume = false

    @Option(
        help:
            "Hide keypoints scoring below this in overlays (default: the model's score threshold, else 0); records keep every point."
    )
    var minScore: Float?

    @OptionGroup var testTime: TestTimeOptions

    @Flag(help: "No progress bar and no summary on stderr.")
    var quiet = false

    func validate() throws {
        guard BatchRunner.Format(rawValue: format) != nil else {
            throw ValidationError("--format must be jsonl, csv or coco")
        }
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
        guard every >= 1 else { throw ValidationError("--every must be at least 1") }
        if cocoImages != nil && format != "coco" { throw ValidationError("--coco-images goes with --format coco") }
        _ = try frameRange()
    }

    /// --frames START:END as a range of frame indices; nil when not given.
    func frameRange() throws -> Range<Int>? {
        guard let frames else { return nil }
        let parts = frames.split(separator: ":", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        let start = parts.count == 2 ? (parts[0].isEmpty ? 0 : Int(parts[0])) : nil
        let end = parts.count == 2 ? (parts[1].isEmpty ? Int.max : Int(parts[1])) : nil
        guard let start, let end, start >= 0, end > start else {
            throw ValidationError(
                "--frames must be START:END with 0 <= START < END, e.g. 100:200 or 500: (got '\(frames)')")
        }
        return start..<end
    }

    func run() throws {
        let inputs = try BatchInputs(paths, recursive: recursive)
        if inputs.images.isEmpty && inputs.videos.isEmpty {
            printToStandardError("keypoints batch: no images or videos in \(paths.joined(separator: " "))")
            throw ExitCode(2)
        }
        let chosenFormat = BatchRunner.Format(rawValue: format)!
        if chosenFormat == .coco && !inputs.videos.isEmpty {
            throw ValidationError("--format coco holds images; for videos use jsonl or csv (\(inputs.videos[0]))")
        }
        let outputs = try videoOutputs(inputs)
        let (chosen, modelName) = try ModelChoice.load(model)
        let loaded = testTime.applied(to: chosen)
        var failed = false
        if let shard {
            guard inputs.videos.isEmpty || inputs.images.isEmpty else {
                throw ValidationError("--shard a run of images or a run of videos, not both at once")
            }
            let part: Shard
            do {
                part = try Shard(parsing: shard)
            } catch let error as InputError {
                throw ValidationError("--shard: \(error)")
            }
            if inputs.videos.isEmpty {
                failed = try runShard(part, of: inputs, model: loaded, modelName: modelName, format: chosenFormat)
            } else {
                failed = try runVideoShard(
                    part, of: inputs.videos, outputs: outputs, model: loaded, modelName: modelName)
            }
            if failed { throw ExitCode(1) }
            return
        } else if !inputs.images.isEmpty {
            failed = try runImages(inputs, model: loaded, modelName: modelName, format: chosenFormat) || failed
        }
        for (number, video) in inputs.videos.enumerated() {
            let label = inputs.videos.count > 1 ? "[\(number + 1)/\(inputs.videos.count)] " : ""
            failed =
                try runVideo(video, to: outputs[number], label: label, model: loaded, modelName: modelName)
                || failed
        }
        if failed { throw ExitCode(1) }
    }

    /// Each video's output file: --out for a single video alone, else DIR/<name>.<format>.
    private func videoOutputs(_ inputs: BatchInputs) throws -> [String] {
        if inputs.videos.count == 1 && inputs.images.isEmpty, let out { return [out] }
        let folder = outDir ?? "."
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let outputs = inputs.videos.map {
            "\(folder)/\(URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent).\(format)"
        }
        if let clash = Dictionary(grouping: outputs.indices, by: { outputs[$0] }).first(where: { $0.value.count > 1 }) {
            throw ValidationError(
                "videos \(clash.value.map { inputs.videos[$0] }.joined(separator: " and ")) would both write \(clash.key); give them different names or run them apart"
            )
        }
        return outputs
    }

    /// Shard `part` of the images: its contiguous range, its output with a record of what it is.
    private func runShard(
        _ part: Shard, of inputs: BatchInputs, model: Model, modelName: String, format: BatchRunner.Format
    ) throws -> Bool {
        let weights = inputs.images.map { BatchRunner.fileStamp($0).size }
        let range = part.range(weights: weights)
        let output = out ?? "batch.\(format == .coco ? "json" : format.rawValue)"
        let options = [
            "format=\(format.rawValue)", "flip_test=\(model.flipTest)",
            "second_pass=\(model.secondPassScale.map { "\($0)" } ?? "none")", "model=\(modelName)",
            "coco_images=\(cocoImages.map { ShardRecord.digest(Array((try? Data(contentsOf: URL(fileURLWithPath: $0))) ?? Data())) } ?? "none")",
        ].joined(separator: " ")
        var record = ShardRecord(
            shard: part, inputs: ShardRecord.digest(inputs.images.joined(separator: "\n").utf8),
            model: ShardRecord.digest(model), format: format.rawValue, options: options,
            first: range.lowerBound, items: range.count, span: 0..<inputs.images.count, complete: false)
        try record.write(for: output)
        var shardInputs = inputs
        shardInputs.images = Array(inputs.images[range])
        let failed = try runImages(
            shardInputs, model: model, modelName: modelName, format: format, firstItem: range.lowerBound)
        record.complete = true
        try record.write(for: output)
        return failed
    }

    /// Shard `part` of the videos' frames: each video it reaches, its part of the frames, into
    /// that video's output with a shard record (the span: the video's frames to analyse).
    private func runVideoShard(
        _ part: Shard, of videos: [String], outputs: [String], model: Model, modelName: String
    ) throws -> Bool {
        var windows: [Range<Int>] = []
        var keyframes: [[Int]] = []
        var counts: [String] = []
        for video in videos {
            let scan = try? VideoReader.keyframes(of: video)  // an unreadable video: no frames, reported by its shard 0
            let frames = scan?.frames ?? 0
            let selection = try frameRange() ?? 0..<Int.max
            windows.append(min(selection.lowerBound, frames)..<min(selection.upperBound, frames))
            keyframes.append(scan?.keyframes.map(\.index) ?? [])
            counts.append("\(video) \(frames)")
        }
        let parts = part.parts(windows: windows, keyframes: keyframes)
        let options =
            "format=\(format) every=\(every) frames=\(frames ?? ":") flip_test=\(model.flipTest) second_pass=\(model.secondPassScale.map { "\($0)" } ?? "none") model=\(modelName)"
        var failed = false
        for (number, video) in videos.enumerated() {
            guard let range = parts[number] ?? (windows[number].isEmpty && part.index == 0 ? windows[number] : nil)
            else {
                continue
            }
            var record = ShardRecord(
                shard: part, inputs: ShardRecord.digest(counts.joined(separator: "\n").utf8),
                model: ShardRecord.digest(model), format: format, options: options, first: range.lowerBound,
                items: range.count, span: windows[number], complete: false)
            try record.write(for: outputs[number])
            var settings = VideoAnalysis.Options(
                modelName: modelName, format: BatchRunner.Format(rawValue: format)!, jobs: jobs, resume: resume,
                frames: try frameRange(), every: every)
            settings.part = range
            let analysis = VideoAnalysis(model: model, options: settings)
            let summary = try analysis.run(video: video, output: outputs[number]) { _ in }
            if let error = summary.error { printToStandardError("\(error)") }
            failed = failed || summary.error != nil
            record.complete = true
            try record.write(for: outputs[number])
        }
        return failed
    }

    /// The images, as before videos came: one journaled output. Returns whether any failed.
    private func runImages(
        _ inputs: BatchInputs, model: Model, modelName: String, format: BatchRunner.Format, firstItem: Int = 0
    ) throws -> Bool {
        let output = out ?? "batch.\(format == .coco ? "json" : format.rawValue)"
        var cocoIDs: [String: Int]?
        if let cocoImages {
            let set = try LabeledSet.load(contentsOf: cocoImages)
            cocoIDs = Dictionary(set.images.map { ($0.value, $0.key) }) { first, _ in first }
        }
        if let draw { try FileManager.default.createDirectory(atPath: draw, withIntermediateDirectories: true) }
        var options = BatchRunner.Options(
            modelPath: modelName, output: output, format: format, jobs: jobs, resume: resume,
            minimumScore: minScore ?? Float(model.scoreThreshold ?? 0), drawFolder: draw, cocoImageIDs: cocoIDs)
        options.firstItem = firstItem
        let runner = BatchRunner(model: model, options: options)
        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) == 1, unit: "img")
        let summary = try runner.run(images: inputs.images, skippedFiles: inputs.skipped) { done, total, failed in
            bar.show(done: done, total: total, extra: "failed \(failed)")
        }
        bar.end()
        if !quiet {
            let rate =
                summary.seconds > 0 ? Double(summary.processed + summary.failed - summary.resumed) / summary.seconds : 0
            printToStandardError(
                String(
                    format:
                        "processed %d, failed %d, skipped %d non-image files, %d already done, %.1f s, %.1f images/s -> %@",
                    summary.processed, summary.failed, summary.skippedFiles, summary.resumed, summary.seconds, rate,
                    output))
        }
        return summary.failed > 0
    }

    /// One video into `output`. Returns whether it failed (could not be read, or only in part).
    private func runVideo(_ video: String, to output: String, label: String, model: Model, modelName: String) throws
        -> Bool
    {
        let analysis = VideoAnalysis(
            model: model,
            options: VideoAnalysis.Options(
                modelName: modelName, format: BatchRunner.Format(rawValue: format)!, jobs: jobs, resume: resume,
                frames: try frameRange(), every: every))
        let bar = ProgressBar(enabled: !quiet && isatty(STDERR_FILENO) == 1, unit: "frames", label: label + video)
        let summary = try analysis.run(video: video, output: output) { bar.show(done: $0.done, total: $0.total) }
        bar.end()
        if let error = summary.error { printToStandardError("\(error)") }
        if !quiet {
            let rate = summary.seconds > 0 ? Double(summary.frames - summary.resumed) / summary.seconds : 0
            printToStandardError(
                String(
                    format: "%@%@: %d frames, %d already done, %.1f s, %.1f frames/s -> %@", label, video,
                    summary.frames, summary.resumed, summary.seconds, rate, output))
        }
        return summary.error != nil
    }
}

/// A progress line on stderr, rewritten in place: done of total, rate and time left.
final class ProgressBar: @unchecked Sendable {
    private let enabled: Bool
    private let unit: String
    private let label: String
    private let start = Date()
    private var shown = false

    init(enabled: Bool, unit: String, label: String = "") {
        (self.enabled, self.unit, self.label) = (enabled, unit, label)
    }

    func show(done: Int, total: Int?, extra: String = "") {
        guard enabled else { return }
        shown = true
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        var line = "\r" + (label.isEmpty ? "" : label + "  ")
        if let total, total > 0 {
            let filled = min(done * 30 / total, 30)
            let left = rate > 0 ? Int(Double(max(total - done, 0)) / rate) : 0
            line += "[" + String(repeating: "=", count: filled) + String(repeating: " ", count: 30 - filled) + "] "
            line += String(format: "%d/%d  %.1f %@/s  ETA %d:%02d", done, total, rate, unit, left / 60, left % 60)
        } else {
            line += String(format: "%d  %.1f %@/s", done, rate, unit)
        }
        FileHandle.standardError.write(Data((line + (extra.isEmpty ? "" : "  " + extra) + " ").utf8))
    }

    func end() { if shown { printToStandardError("") } }
}

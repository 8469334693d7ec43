import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Processes many images with one model, durably:
///
/// - Inputs are folders (every file whose first bytes are PNG or JPEG; other files are skipped and
///   counted), single files, or `@list.txt` files naming one path per line; all sorted by path.
/// - `jobs` workers, each one thread with its own Predictor (so `jobs` is the number of cores
///   used); JPEGs are decoded reduced (DCT scaling) when that still
///   covers the network input, and coordinates are mapped back to the original pixels.
/// - Each image runs as the model asks (`Model.secondPassScale`, `Model.flipTest`); change those
///   on the model to run otherwise.
/// - Every result is appended to a journal (`<out>.journal`, one JSON line per image with its file
///   size and modification time) and flushed as it completes; the output file is then written
///   from the journal in input order, to a temporary file renamed into place. So the output does
///   not depend on the number of workers, is always complete and valid, and a run killed at any
///   moment (even `kill -9`) resumes with `resume`: images whose path, size and modification time
///   are in the journal are not processed again, and a partly written last journal line is
///   dropped. Each image ends with exactly one record.
public final class BatchRunner: @unchecked Sendable {
    public enum Format: String, CaseIterable, Sendable {
        /// One JSON object per line, as `detect --json` (plus "error" for a failed file).
        case jsonl
        /// DeepLabCut's layout for analysed frames: header rows scorer / bodyparts / coords with
        /// x, y, likelihood per keypoint, then one row per image (empty cells for a failed one).
        case csv
        /// COCO results: [{"image_id","category_id","keypoints":[x,y,score]*K,"score"}], and the
        /// image ids in `<out>.images.json` ([{"id","file_name"}]), or ids from a COCO file given.
        case coco
    }

    public struct Options: Sendable {
        public var modelPath: String
        public var output: String
        public var format: Format
        public var jobs: Int
        public var resume: Bool
        public var minimumScore: Float
        public var drawFolder: String?
        /// COCO format: file name -> image id, from a COCO images file.
        public var cocoImageIDs: [String: Int]?
        /// The position of the first image in the whole run (a shard's), for COCO image ids.
        public var firstItem = 0

        public init(
            modelPath: String, output: String, format: Format, jobs: Int, resume: Bool,
            minimumScore: Float, drawFolder: String?, cocoImageIDs: [String: Int]?
        ) {
            (
                self.modelPath, self.output, self.format, self.jobs, self.resume, self.minimumScore, self.drawFolder,
                self.cocoImageIDs
            ) = (modelPath, output, format, jobs, resume, minimumScore, drawFolder, cocoImageIDs)
        }
    }

    public struct Summary: Sendable {
        public var processed: Int
        public var failed: Int
        public var skippedFiles: Int
        public var resumed: Int
        public var seconds: Double
    }

    /// One image's outcome, as journaled.
    struct Record: Sendable {
        var image: String
        var size: Int
        var modified: Double
        var width: Int
        var height: Int
        var keypoints: [Keypoint]
        var error: String?

        var json: JSONValue {
            var members: [(String, JSONValue)] = [
                ("image", .string(image)), ("size", .number(Double(size))), ("modified", .number(modified)),
            ]
            if let error {
                members.append(("error", .string(error)))
            } else {
                members += [
                    ("width", .number(Double(width))), ("height", .number(Double(height))),
                    ("keypoints", .array(keypoints.map(KeypointRecord.json))),
                ]
            }
            return .object(members)
        }

        init(image: String, size: Int, modified: Double, width: Int, height: Int, keypoints: [Keypoint], error: String?)
        {
            (self.image, self.size, self.modified, self.width, self.height, self.keypoints, self.error) = (
                image, size, modified, width, height, keypoints, error
            )
        }

        /// What the outputs write.
        var output: KeypointRecord {
            KeypointRecord(image: image, width: width, height: height, keypoints: keypoints, error: error)
        }

        /// A journal line back into a record; nil for a damaged line.
        init?(line: Substring) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let image = object["image"] as? String, let size = object["size"] as? Int,
                let modified = (object["modified"] as? NSNumber)?.doubleValue
            else { return nil }
            self.image = image
            self.size = size
            self.modified = modified
            error = object["error"] as? String
            width = object["width"] as? Int ?? 0
            height = object["height"] as? Int ?? 0
            keypoints = KeypointRecord.keypoints(from: object["keypoints"])
            if error == nil && keypoints.isEmpty { return nil }
        }
    }

    public let model: Model
    public let options: Options

    public init(model: Model, options: Options) {
        (self.model, self.options) = (model, options)
    }

    var journalPath: String { options.output + ".journal" }

    /// Runs over `images`; `progress(done, total, failed)` is called after each image (from the
    /// writing thread). Throws only for problems with the output itself.
    public func run(images: [String], skippedFiles: Int, progress: @escaping @Sendable (Int, Int, Int) -> Void) throws
        -> Summary
    {
        let start = Date()
        var done: [String: Record] = [:]
        if options.resume, let text = try? String(contentsOfFile: journalPath, encoding: .utf8) {
            // Only complete lines count: a line cut off by a kill is not ended by "\n".
            let complete =
                text.hasSuffix("\n")
                ? Substring(text) : text[..<(text.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex)]
            for line in complete.split(separator: "\n") {
                if let record = Record(line: line) { done[record.image] = record }
            }
            // Rewrite the journal with exactly its complete records, dropping any partial line.
            try writeFileAtomically(Array(complete.utf8), to: journalPath)
        } else {
            try writeFileAtomically([], to: journalPath)
        }
        let journal = open(journalPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard journal >= 0 else {
            throw ImageError.writeFailed(path: journalPath, reason: String(cString: strerror(errno)))
        }
        defer { close(journal) }

        // What still needs processing: not in the journal with the same size and modification time.
        var pending: [(String, Int, Double)] = []
        var results = done
        var resumed = 0
        for image in images {
            let (size, modified) = Self.fileStamp(image)
            if let record = done[image], record.size == size, record.modified == modified {
                resumed += 1
            } else {
                results[image] = nil
                pending.append((image, size, modified))
            }
        }
        let total = images.count
        let state = BatchState(
            results: results, completed: resumed,
            failed: results.values.filter { images.contains($0.image) && $0.error != nil }.count)
        progress(resumed, total, state.failed)

        let work = pending
        let next = Counter()
        let jobs = max(1, min(options.jobs, max(work.count, 1)))
        let predictors = try (0..<jobs).map { _ in try Predictor(model: model, threads: 1) }
        DispatchQueue.concurrentPerform(iterations: jobs) { worker in
            let predictor = predictors[worker]
            while let index = next.take(below: work.count) {
                let (image, size, modified) = work[index]
                let record = self.process(image, size: size, modified: modified, predictor: predictor)
                state.add(record, journal: journal, journalPath: self.journalPath, total: total, progress: progress)
            }
        }
        let writeError = state.writeError
        results = state.results
        let failed = state.failed
        if let writeError { throw writeError }
        try writeOutput(images.compactMap { results[$0] })
        return Summary(
            processed: total - failed, failed: failed, skippedFiles: skippedFiles, resumed: resumed,
            seconds: Date().timeIntervalSince(start))
    }

    /// A file's size and modification time (seconds), or (-1, 0) when it cannot be read.
    public static func fileStamp(_ path: String) -> (size: Int, modified: Double) {
        var status = stat()
        guard stat(path, &status) == 0 else { return (-1, 0) }
        #if canImport(Darwin)
            let time = status.st_mtimespec
        #else
            let time = status.st_mtim
        #endif
        return (Int(status.st_size), Double(time.tv_sec) + Double(time.tv_nsec) / 1e9)
    }

    private func process(_ path: String, size: Int, modified: Double, predictor: Predictor) -> Record {
        do {
            // JPEGs decode reduced while they still cover the input; for a model with a second pass,
            // 4x the input, so that a subject down to a quarter of the frame keeps its detail.
            let input = max(model.architecture.inputWidth, model.architecture.inputHeight)
            let least = options.drawFolder != nil ? 0 : model.secondPassScale == nil ? input : 4 * input
            let decoded = try ImageDecoder.decode(
                contentsOf: path, options: DecodeOptions(minimumWidth: least, minimumHeight: least))
            var keypoints = predictor.predict(decoded.image)
            // Pixel j of a 1/d decode covers original pixels [j d, (j + 1) d): centre (j + 0.5) d - 0.5.
            let scale = Double(decoded.info.scaleDenominator)
            if scale > 1 {
                keypoints = keypoints.map {
                    Keypoint(
                        name: $0.name, x: ($0.x + 0.5) * scale - 0.5, y: ($0.y + 0.5) * scale - 0.5, score: $0.score)
                }
            }
            let width = decoded.info.orientation.swapsAxes ? decoded.info.storedHeight : decoded.info.storedWidth
            let height = decoded.info.orientation.swapsAxes ? decoded.info.storedWidth : decoded.info.storedHeight
            if let folder = options.drawFolder {
                var overlay = decoded.image
                overlay.drawKeypoints(keypoints, skeleton: model.skeleton, minimumScore: options.minimumScore)
                let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
                try overlay.writePNG(to: "\(folder)/\(name).png")
            }
            return Record(
                image: path, size: size, modified: modified, width: width, height: height, keypoints: keypoints,
                error: nil)
        } catch {
            return Record(
                image: path, size: size, modified: modified, width: 0, height: 0, keypoints: [], error: "\(error)")
        }
    }

    /// The output file from all records, in input order, replaced atomically.
    private func writeOutput(_ records: [Record]) throws {
        let outputs = records.map(\.output)
        let text: String
        switch options.format {
        case .jsonl:
            text = outputs.map { $0.json(model: options.modelPath).serialized + "\n" }.joined()
        case .csv:
            let scorer = URL(fileURLWithPath: options.modelPath).deletingPathExtension().lastPathComponent
            text =
                DeepLabCutCSV.header(scorer: scorer, keypoints: model.keypointNames)
                + outputs.map { DeepLabCutCSV.row($0, keypoints: model.keypointNames.count) }.joined()
        case .coco:
            let (results, images) = COCOResults.serialize(outputs, ids: options.cocoImageIDs, first: options.firstItem)
            try writeFileAtomically(Array(images.utf8), to: options.output + ".images.json")
            text = results
        }
        try writeFileAtomically(Array(text.utf8), to: options.output)
    }
}

/// What the workers share: results so far, counts, and the journal writes, under one lock.
final class BatchState: @unchecked Sendable {
    private(set) var results: [String: BatchRunner.Record]
    private(set) var completed: Int
    private(set) var failed: Int
    private(set) var writeError: Error?
    private let lock = NSLock()

    init(results: [String: BatchRunner.Record], completed: Int, failed: Int) {
        (self.results, self.completed, self.failed) = (results, completed, failed)
    }

    /// Journals one record (a whole line per write, flushed to the OS) and counts it.
    func add(
        _ record: BatchRunner.Record, journal: Int32, journalPath: String, total: Int,
        progress: (Int, Int, Int) -> Void
    ) {
        lock.lock()
        defer { lock.unlock() }
        let line = Array((record.json.serialized + "\n").utf8)
        let written = line.withUnsafeBytes { write(journal, $0.baseAddress, $0.count) }
        if written != line.count && writeError == nil {
            writeError = ImageError.writeFailed(path: journalPath, reason: String(cString: strerror(errno)))
        }
        results[record.image] = record
        completed += 1
        if record.error != nil { failed += 1 }
        progress(completed, total, failed)
    }
}

/// A work counter shared by the workers.
final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()

    func take(below limit: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < limit else { return nil }
        value += 1
        return value - 1
    }
}

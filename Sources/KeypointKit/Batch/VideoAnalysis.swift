import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Analyses a video frame by frame with one model, durably:
///
/// - Frames are read in presentation order (`VideoReader`), each once; those outside `frames`
///   or between every `every`-th are passed over without being converted.
/// - `jobs` workers, each one thread with its own `Predictor`, take frames from a short queue the
///   reading thread fills: memory holds a few frames, whatever the video's length.
/// - Every frame's record is appended to a journal (`<output>.journal`, a header line naming the
///   video, its size and modification time, the model and the frame selection, then one JSON
///   line per frame) and flushed as it completes; the output is written from the journal in frame
///   order, to a temporary file renamed into place. A run killed at any moment continues with
///   `resume`: frames in the journal are passed over (decoded, not converted or run), a partly
///   written last line is dropped, and the output is the one an uninterrupted run writes. A
///   journal of another video, model or selection is started afresh.
public final class VideoAnalysis: @unchecked Sendable {
    public struct Options: Sendable {
        /// Written into each record ("model") and the journal's header.
        public var modelName: String
        /// `.jsonl` or `.csv` (DeepLabCut's layout, the frame index in the first column).
        public var format: BatchRunner.Format
        public var jobs: Int
        public var resume: Bool
        /// The frame indices to analyse; nil: all.
        public var frames: Range<Int>?
        /// Analyse every `every`-th frame of the range (its first, then every `every` after).
        public var every: Int
        /// A shard's part of the video (`BatchRunner` shards): only these frames of the selection.
        public var part: Range<Int>?

        public init(
            modelName: String, format: BatchRunner.Format, jobs: Int, resume: Bool, frames: Range<Int>? = nil,
            every: Int = 1
        ) {
            (self.modelName, self.format, self.jobs, self.resume) = (modelName, format, jobs, resume)
            (self.frames, self.every) = (frames, max(every, 1))
        }
    }

    public struct Summary: Sendable {
        /// Frames with a record in the output, those done by an earlier run included.
        public var frames: Int
        /// Of those, taken from the journal of an earlier run.
        public var resumed: Int
        public var seconds: Double
        /// Why the video could not be read, or where it stopped being readable; nil if all was well.
        public var error: VideoError?
    }

    /// Where a run stands: frames done (resumed ones included) and, when the container says how
    /// many frames it holds, how many will be.
    public struct Progress: Sendable {
        public var done: Int
        public var total: Int?
    }

    public let model: Model
    public let options: Options

    public init(model: Model, options: Options) {
        precondition(options.format != .coco, "COCO results hold images, not video frames")
        (self.model, self.options) = (model, options)
    }

    /// Whether frame `index` is one to analyse.
    func selects(_ index: Int) -> Bool {
        let start = options.frames?.lowerBound ?? 0
        return index >= start && index < (options.frames?.upperBound ?? .max) && (index - start) % options.every == 0
            && options.part.map { $0.contains(index) } ?? true
    }

    /// The frames this run reads: the selection, within the shard's part.
    var window: Range<Int> {
        let selection = options.frames ?? 0..<Int.max
        guard let part = options.part else { return selection }
        return selection.clamped(to: part)
    }

    /// Analyses `video` into `output`; `progress` is called after each frame (from a worker).
    /// - Throws: only for problems with the output or the journal; a video that cannot be read
    ///   ends in `Summary.error` (and a record saying so in JSON Lines).
    public func run(video: String, output: String, progress: @escaping @Sendable (Progress) -> Void) throws
        -> Summary
    {
        let start = Date()
        let journal = try VideoJournal(
            path: output + ".journal", header: header(video), resume: options.resume)
        let resumed = journal.records.count
        let reader: VideoReader
        do {
            reader = try VideoReader(contentsOf: video)
        } catch let error as VideoError {
            try write(journal.records, failure: error, video: video, to: output)
            return Summary(frames: 0, resumed: 0, seconds: Date().timeIntervalSince(start), error: error)
        }
        let total = reader.info.frameCountHint.map { count in (0..<count).filter(selects).count }
        let state = VideoRunState(done: journal.records.count, total: total, progress: progress)
        let queue = FrameQueue(capacity: 2 * max(options.jobs, 1))
        let predictors = try (0..<max(options.jobs, 1)).map { _ in try Predictor(model: model, threads: 1) }
        let workers = DispatchGroup()
        for predictor in predictors {
            DispatchQueue.global().async(group: workers) {
                while let frame = queue.take() {
                    let record = KeypointRecord(
                        image: video, frame: .init(index: frame.index, time: frame.time), width: frame.image.width,
                        height: frame.image.height, keypoints: predictor.predict(frame.image))
                    journal.append(record, model: self.options.modelName)
                    state.finished()
                }
            }
        }
        var failure: VideoError?
        do {
            try feed(reader, skipping: Set(journal.records.keys), into: queue)
        } catch let error as VideoError {
            failure = error
        }
        queue.close()
        workers.wait()
        if let error = journal.writeError { throw error }
        try write(journal.records, failure: failure, video: video, to: output)
        return Summary(
            frames: journal.records.count, resumed: resumed, seconds: Date().timeIntervalSince(start), error: failure)
    }

    /// Reads the video, queueing each selected frame not already journaled. A selection that
    /// starts part way begins at the last keyframe before it, so the frames before are not decoded
    /// (`seekable`); otherwise the video is read from its start.
    private func feed(_ reader: VideoReader, skipping done: Set<Int>, into queue: FrameQueue) throws {
        var index = 0
        let start = window.lowerBound
        if start > 0, let keyframe = Self.seekable(reader.path, before: start) {
            try reader.seek(to: keyframe)
            index = keyframe.index
        }
        let end = window.upperBound
        while index < end {
            if selects(index) && !done.contains(index) {
                guard let frame = try reader.next() else { return }
                queue.put(frame)
            } else {
                guard try reader.skip() != nil else { return }
            }
            index += 1
        }
    }

    /// The last keyframe at or before frame `start` that reading can begin at and get the frames
    /// reading from the start gets: one whose group of frames, up to the next keyframe, decodes
    /// after a seek without FFmpeg reporting an error (a keyframe that is not a clean access
    /// point, such as an H.264 I-frame that is not IDR, leaves its followers referring to frames
    /// before it: the decoder then reports missing references). Nil when there is none.
    static func seekable(_ video: String, before start: Int) -> VideoReader.Keyframe? {
        guard let keyframes = try? VideoReader.keyframes(of: video).keyframes,
            let at = keyframes.lastIndex(where: { $0.index <= start }), keyframes[at].index > 0,
            let probe = try? VideoReader(contentsOf: video), (try? probe.seek(to: keyframes[at])) != nil
        else { return nil }
        let next = at + 1 < keyframes.count ? keyframes[at + 1].index : start + 1
        for _ in keyframes[at].index..<max(next, start + 1) {
            guard (try? probe.skip()) != nil, !probe.hasReportedErrors else { return nil }
        }
        return probe.hasReportedErrors ? nil : keyframes[at]
    }

    /// The journal's header: what the records depend on.
    private func header(_ video: String) -> JSONValue {
        let (size, modified) = BatchRunner.fileStamp(video)
        let range = options.frames.map { "\($0.lowerBound):\($0.upperBound)" } ?? ":"
        let part = options.part.map { "\($0.lowerBound):\($0.upperBound)" } ?? ":"
        return .object([
            ("video", .string(video)), ("size", .number(Double(size))), ("modified", .number(modified)),
            ("model", .string(options.modelName)), ("frames", .string(range)),
            ("every", .number(Double(options.every))), ("part", .string(part)),
        ])
    }

    /// The output from all records in frame order, replaced atomically. In JSON Lines a video that
    /// could not be read, or stopped being readable, ends with a record {"video","error"}.
    private func write(_ records: [Int: KeypointRecord], failure: VideoError?, video: String, to output: String)
        throws
    {
        let ordered = records.keys.sorted().map { records[$0]! }
        var text: String
        switch options.format {
        case .csv:
            let scorer = URL(fileURLWithPath: options.modelName).deletingPathExtension().lastPathComponent
            text =
                DeepLabCutCSV.header(scorer: scorer, keypoints: model.keypointNames)
                + ordered.map { DeepLabCutCSV.row($0, keypoints: model.keypointNames.count) }.joined()
        default:
            text = ordered.map { $0.json(model: options.modelName).serialized + "\n" }.joined()
            if let failure {
                text +=
                    JSONValue.object([("video", .string(video)), ("error", .string("\(failure)"))]).serialized + "\n"
            }
        }
        try writeFileAtomically(Array(text.utf8), to: output)
    }
}

/// A video run's journal: the header line, then one record per line, appended and flushed as
/// each frame completes; `records` holds every complete record, by frame index.
final class VideoJournal: @unchecked Sendable {
    private(set) var records: [Int: KeypointRecord] = [:]
    private(set) var writeError: Error?
    private let path: String
    private let descriptor: Int32
    private let lock = NSLock()

    init(path: String, header: JSONValue, resume: Bool) throws {
        self.path = path
        let headerLine = header.serialized + "\n"
        var kept = headerLine
        if resume, let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasPrefix(headerLine) {
            // Only complete lines count: a line cut off by a kill is not ended by "\n".
            let complete = text[..<(text.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex)]
            for line in complete.split(separator: "\n").dropFirst() {
                guard let record = KeypointRecord(jsonLine: line), let frame = record.frame else { continue }
                records[frame.index] = record
                kept += line + "\n"
            }
        }
        try writeFileAtomically(Array(kept.utf8), to: path)
        descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ImageError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    deinit { close(descriptor) }

    /// Journals one record (a whole line per write, flushed to the OS) and keeps it.
    func append(_ record: KeypointRecord, model: String) {
        let line = Array((record.json(model: model).serialized + "\n").utf8)
        lock.lock()
        defer { lock.unlock() }
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written != line.count && writeError == nil {
            writeError = ImageError.writeFailed(path: path, reason: String(cString: strerror(errno)))
        }
        if let frame = record.frame { records[frame.index] = KeypointRecord(rounding: record) }
    }
}

/// Frames between the reading thread and the workers: at most `capacity` waiting.
final class FrameQueue: @unchecked Sendable {
    private var frames: [VideoFrame] = []
    private var closed = false
    private let capacity: Int
    private let condition = NSCondition()

    init(capacity: Int) { self.capacity = capacity }

    func put(_ frame: VideoFrame) {
        condition.lock()
        while frames.count >= capacity { condition.wait() }
        frames.append(frame)
        condition.broadcast()
        condition.unlock()
    }

    /// The next frame, or nil once the queue is closed and empty.
    func take() -> VideoFrame? {
        condition.lock()
        defer { condition.unlock() }
        while frames.isEmpty && !closed { condition.wait() }
        guard !frames.isEmpty else { return nil }
        condition.broadcast()
        return frames.removeFirst()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }
}

/// Counts finished frames and reports progress, from the workers.
final class VideoRunState: @unchecked Sendable {
    private var done: Int
    private let total: Int?
    private let progress: (VideoAnalysis.Progress) -> Void
    private let lock = NSLock()

    init(done: Int, total: Int?, progress: @escaping (VideoAnalysis.Progress) -> Void) {
        (self.done, self.total, self.progress) = (done, total, progress)
    }

    func finished() {
        lock.lock()
        defer { lock.unlock() }
        done += 1
        progress(VideoAnalysis.Progress(done: done, total: total))
    }
}

import Foundation

/// One task's share of a batch run split over a scheduler's array tasks (Slurm job arrays,
/// Kubernetes Indexed Jobs): shard `index` of `count`.
///
/// Images are taken in the run's sorted order and split into `count` contiguous ranges of about
/// equal work (file bytes, a proxy for decoding and resizing), so that the shards' outputs,
/// concatenated in shard order, are the unsharded run's output (`ShardMerge`).
public struct Shard: Codable, Equatable, Sendable {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) { (self.index, self.count) = (index, count) }

    /// "INDEX/COUNT", either part "auto": the index from `SLURM_ARRAY_TASK_ID` or
    /// `JOB_COMPLETION_INDEX` (Kubernetes), the count from `SLURM_ARRAY_TASK_COUNT` (or
    /// `SLURM_ARRAY_TASK_MAX - SLURM_ARRAY_TASK_MIN + 1`). With "auto/auto" the array is the
    /// whole run, so an array that starts above 0 counts from its `SLURM_ARRAY_TASK_MIN`; with a
    /// count given ("auto/8") the task id is the index itself, so one task resubmitted alone
    /// (`sbatch --array=5`) is shard 5 of 8.
    /// - Throws: `InputError` for a malformed text, or an "auto" whose variables are not set.
    public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else {
            throw InputError.invalid("a shard is INDEX/COUNT, e.g. 0/4 or auto/auto, not '\(text)'")
        }
        func number(_ name: String) -> Int? { environment[name].flatMap { Int($0) } }
        let low = number("SLURM_ARRAY_TASK_MIN") ?? 0
        let origin = parts[1] == "auto" ? low : 0
        var index = Int(parts[0])
        if parts[0] == "auto" {
            index = number("SLURM_ARRAY_TASK_ID").map { $0 - origin } ?? number("JOB_COMPLETION_INDEX")
            guard index != nil else {
                throw InputError.invalid(
                    "shard index 'auto' needs SLURM_ARRAY_TASK_ID (a Slurm array task) or JOB_COMPLETION_INDEX (a Kubernetes Indexed Job); neither is set"
                )
            }
        }
        var count = Int(parts[1])
        if parts[1] == "auto" {
            count =
                number("SLURM_ARRAY_TASK_COUNT")
                ?? number("SLURM_ARRAY_TASK_MAX").map { $0 - low + 1 }
            guard count != nil else {
                throw InputError.invalid(
                    "shard count 'auto' needs SLURM_ARRAY_TASK_COUNT or SLURM_ARRAY_TASK_MAX (a Slurm array task); on Kubernetes give the count, e.g. auto/8"
                )
            }
        }
        guard let index, let count, count >= 1, index >= 0, index < count else {
            throw InputError.invalid("a shard is INDEX/COUNT with 0 <= INDEX < COUNT, not '\(text)'")
        }
        self.init(index: index, count: count)
    }

    /// This shard's part of each video: the videos' frames in `windows` (each video's frames to
    /// analyse), one after another, split into `count` runs of equal length, each boundary moved
    /// to the nearest of its video's keyframes (`keyframes`, frame indices), so that shards start
    /// where reading can start and no two decode the same stretch. Videos the shard does not
    /// reach are left out.
    public func parts(windows: [Range<Int>], keyframes: [[Int]]) -> [Int: Range<Int>] {
        let total = windows.reduce(0) { $0 + $1.count }
        // Global position -> (video, frame index), the frame index snapped to a keyframe.
        func boundary(_ k: Int) -> (video: Int, frame: Int) {
            var position = total * k / count
            for (video, window) in windows.enumerated() {
                if position < window.count || video == windows.count - 1 {
                    let frame = window.lowerBound + min(position, window.count)
                    let snapped = keyframes[video].filter { window.contains($0) || $0 == window.upperBound }
                        .min { abs($0 - frame) < abs($1 - frame) }
                    return (video, k == 0 || k == count ? frame : snapped ?? frame)
                }
                position -= window.count
            }
            return (0, 0)
        }
        let (startVideo, startFrame) = boundary(index)
        let (endVideo, endFrame) = boundary(index + 1)
        var parts: [Int: Range<Int>] = [:]
        for video in windows.indices where video >= startVideo && video <= endVideo {
            let lower = video == startVideo ? startFrame : windows[video].lowerBound
            let upper = video == endVideo ? endFrame : windows[video].upperBound
            if lower < upper { parts[video] = lower..<upper }
        }
        return parts
    }

    /// This shard's contiguous range of `weights.count` items: the items whose work midpoint (in
    /// the running total of `weights`) falls in this shard's equal part of the total.
    public func range(weights: [Int]) -> Range<Int> {
        let total = weights.reduce(0) { $0 + max($1, 1) }
        var start = weights.count
        var end = weights.count
        var before = 0
        for (item, weight) in weights.enumerated() {
            let middle = 2 * before + max(weight, 1)  // twice the midpoint, to stay in integers
            let owner = min(middle * count / (2 * max(total, 1)), count - 1)
            if owner >= index && start == weights.count { start = item }
            if owner > index {
                end = item
                break
            }
            before += max(weight, 1)
        }
        return start..<max(start, end)
    }
}

/// What a shard's output is, written beside it (`<output>.shard.json`): which shard of how many,
/// of which run (a digest of the inputs in order, of the model, and the options that change
/// results), where its items start in the whole run, and whether it finished.
public struct ShardRecord: Codable, Equatable, Sendable {
    public var shard: Shard
    /// FNV-1a 64 of the run's inputs, one path per line, in the run's order.
    public var inputs: String
    /// FNV-1a 64 of the model file's bytes.
    public var model: String
    /// The output's format ("jsonl", "csv", "coco").
    public var format: String
    /// The options that change the output, as text.
    public var options: String
    /// This shard's items: `first..<(first + items)` of the run's (a video's frames, for a video).
    public var first: Int
    public var items: Int
    /// The items of the whole run (or of the video): `span[0]..<span[1]`; the shards' items tile it.
    public var span: [Int]
    /// Set once the shard's output is complete.
    public var complete: Bool

    public init(
        shard: Shard, inputs: String, model: String, format: String, options: String, first: Int, items: Int,
        span: Range<Int>, complete: Bool
    ) {
        (self.shard, self.inputs, self.model, self.format, self.options) = (shard, inputs, model, format, options)
        (self.first, self.items, self.span, self.complete) = (
            first, items, [span.lowerBound, span.upperBound], complete
        )
    }

    public static func path(for output: String) -> String { output + ".shard.json" }

    public func write(for output: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try writeFileAtomically(Array(try encoder.encode(self)), to: Self.path(for: output))
    }

    /// - Throws: `InputError` naming the file when it is missing or not a shard record.
    public static func read(for output: String) throws -> ShardRecord {
        let path = path(for: output)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputError.invalid("\(output): no \(path) beside it: not the output of a batch run with --shard")
        }
        guard let record = try? JSONDecoder().decode(ShardRecord.self, from: data) else {
            throw InputError.invalid("\(path): not a shard record")
        }
        return record
    }

    /// FNV-1a, 64 bits, as 16 hexadecimal digits: a digest to tell runs apart, not a secure hash.
    public static func digest<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var hash = FNV1a()
        hash.add(bytes)
        return hash.hex
    }

    /// The digest of a model: its metadata (sorted by key) and every tensor's name, shape and
    /// float bits, without building its file.
    public static func digest(_ model: Model) -> String {
        var hash = FNV1a()
        let file = model.safeTensors()
        for (key, value) in file.metadata.sorted(by: { $0.key < $1.key }) { hash.add((key + "=" + value + "\n").utf8) }
        for name in file.tensors.keys.sorted() {
            let tensor = file.tensors[name]!
            hash.add((name + "\(tensor.shape)").utf8)
            tensor.data.withUnsafeBytes { hash.add($0) }
        }
        return hash.hex
    }
}

/// FNV-1a, 64 bits.
struct FNV1a {
    private var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
        for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }

    var hex: String { String(format: "%016llx", value) }
}

import Foundation

/// A labeled set with its images decoded, for training and validation.
///
/// Images are decoded once and kept in memory up to `cacheBytes` (as 8-bit RGB); past that, the
/// remaining images are decoded again each time they are used. JPEGs are decoded reduced when
/// that still leaves twice the network input, and labels scaled to match. With `decodeFirst`,
/// every image is decoded up front (on `threads` threads, filling the cache): one that cannot be
/// decoded is then left out and listed in `unreadable`, rather than stopping a run hours in.
public final class TrainingData: @unchecked Sendable {
    public struct Sample: Sendable {
        public var path: String
        public var points: [LabeledPoint?]
        /// The region to fit into the network input: the whole image, or a COCO box enlarged 1.25x.
        public var box: [Double]?
        public var split: String?
    }

    public let labels: LabeledSet
    public private(set) var samples: [Sample]
    private var cache: [String: (image: Image, scale: Double)] = [:]
    private let lock = NSLock()
    private let minimumSize: Int
    public private(set) var cachedBytes = 0
    public let cacheBytes: Int
    /// Labeled images left out because they cannot be decoded (`decodeFirst`): path and reason.
    public private(set) var unreadable: [(path: String, reason: String)] = []

    /// - Throws: `LabelError` naming the image that cannot be found or read, or saying that no
    ///   sample has a labeled point.
    public init(
        labels: LabeledSet, labelsPath: String, imagesRoot: String?, inputSize: Int, cacheBytes: Int = 2 << 30,
        decodeFirst: Bool = false, threads: Int = 1
    ) throws {
        self.labels = labels
        self.cacheBytes = cacheBytes
        minimumSize = 2 * inputSize
        var samples: [Sample] = []
        for sample in labels.samples where sample.points.contains(where: { $0 != nil }) {
            let path = LabeledSet.imagePath(sample.image, labelsPath: labelsPath, imagesRoot: imagesRoot)
            guard FileManager.default.fileExists(atPath: path) else {
                throw LabelError.malformed(
                    path: labelsPath, line: nil,
                    reason:
                        "image '\(sample.image)' not found (looked for \(path)); give the folder the label paths are relative to"
                )
            }
            samples.append(Sample(path: path, points: sample.points, box: sample.box, split: sample.split))
        }
        guard !samples.isEmpty else {
            throw LabelError.malformed(
                path: labelsPath, line: nil, reason: "no sample has a labeled keypoint: nothing to train on")
        }
        self.samples = samples
        if decodeFirst {
            decodeAll(threads: threads)
            guard !self.samples.isEmpty else {
                throw LabelError.malformed(
                    path: labelsPath, line: nil,
                    reason:
                        "none of the \(unreadable.count) labeled images can be decoded, e.g. \(unreadable[0].path): \(unreadable[0].reason)"
                )
            }
        }
    }

    /// Decodes every image on `threads` threads into the cache (while it has room), and leaves
    /// out the samples whose image cannot be decoded, listing them in `unreadable`.
    private func decodeAll(threads: Int) {
        let paths = Array(Set(samples.map(\.path))).sorted()
        let decoded = ResultSlots<(image: Image, scale: Double)>(count: paths.count)
        let workers = max(1, min(threads, paths.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for slot in stride(from: worker, to: paths.count, by: workers) {
                decoded.set(slot, Result { try Self.decode(paths[slot], minimumSize: minimumSize) })
            }
        }
        for (path, outcome) in zip(paths, decoded.outcomes()) {
            switch outcome {
            case .success(let entry): remember(entry, for: path)
            case .failure(let error): unreadable.append((path, "\(error)"))
            }
        }
        let left = Set(unreadable.map(\.path))
        samples.removeAll { left.contains($0.path) }
    }

    /// Keeps a decoded image in the cache if it has room.
    private func remember(_ entry: (image: Image, scale: Double), for path: String) {
        lock.lock()
        if cachedBytes + entry.image.pixels.count <= cacheBytes {
            cache[path] = entry
            cachedBytes += entry.image.pixels.count
        }
        lock.unlock()
    }

    /// The image of sample `index` and the factor from original pixels to its pixels.
    public func image(_ index: Int) throws -> (image: Image, scale: Double) {
        let path = samples[index].path
        lock.lock()
        if let cached = cache[path] {
            lock.unlock()
            return cached
        }
        lock.unlock()
        let entry = try Self.decode(path, minimumSize: minimumSize)
        remember(entry, for: path)
        return entry
    }

    /// The image at `path`, reduced (JPEG) while at least `minimumSize` on each side, and the
    /// factor from original pixels to its pixels.
    private static func decode(_ path: String, minimumSize: Int) throws -> (image: Image, scale: Double) {
        let decoded = try ImageDecoder.decode(
            contentsOf: path, options: DecodeOptions(minimumWidth: minimumSize, minimumHeight: minimumSize))
        let original = decoded.info.orientation.swapsAxes ? decoded.info.storedHeight : decoded.info.storedWidth
        return (decoded.image, Double(decoded.image.width) / Double(original))
    }

    /// Training and validation indices: the labels' split column (`holdsOut`) when it holds some
    /// samples out, else a seeded random `validationCount` of the samples, taken as whole clips
    /// (`clip(of:)`) when the frames come from at least five: neighbouring frames of one clip are
    /// near copies, so validating on frames whose neighbours are trained on would measure
    /// memory, not what a new video will get (the bees: 6 px on such frames, 18 px on other
    /// videos' bees).
    public func split(validationFraction: Double, minimum: Int? = nil, seed: UInt64) -> (
        train: [Int], validation: [Int]
    ) {
        let held = samples.indices.filter { Self.holdsOut(samples[$0].split) }
        if !held.isEmpty {
            return (samples.indices.filter { !Self.holdsOut(samples[$0].split) }, held)
        }
        var random = SplitMix64(seed: seed)
        let count = Self.validationCount(samples: samples.count, fraction: validationFraction, minimum: minimum)
        let clips = Dictionary(grouping: samples.indices) { Self.clip(of: samples[$0].path) }
        if clips.count >= 5 {
            // Whole clips in a seeded order, each taken while the total stays within a tenth of
            // the set (or the count asked, if larger), until the count is reached; clips too long
            // for that leave the split to single frames (a few long videos: holding one out would
            // cost too much of the training set).
            var keys = clips.keys.sorted()
            keys.shuffle(using: &random)
            let most = max(count, samples.count / 10)
            var chosen: [Int] = []
            for key in keys where chosen.count < count && chosen.count + clips[key]!.count <= most {
                chosen += clips[key]!
            }
            if chosen.count >= count {
                let validation = Set(chosen)
                return (samples.indices.filter { !validation.contains($0) }, chosen.sorted())
            }
        }
        var order = Array(samples.indices)
        order.shuffle(using: &random)
        return (Array(order[count...]).sorted(), Array(order[..<count]).sorted())
    }

    /// The clip a frame belongs to: its path with the file name's last run of digits taken out
    /// (`labeled-data/run1/img0042.png` and `bee_id7_f0913.png` name frames 42 and 913 of clips
    /// `labeled-data/run1/img.png` and `bee_id7_f.png`).
    public static func clip(of path: String) -> String {
        let folder = (path as NSString).deletingLastPathComponent
        var name = Array((path as NSString).lastPathComponent)
        if let last = name.lastIndex(where: \.isNumber) {
            var first = last
            while first > 0 && name[first - 1].isNumber { first -= 1 }
            name.removeSubrange(first...last)
        }
        return (folder as NSString).appendingPathComponent(String(name))
    }

    /// Whether a split column's value marks a validation sample ("val", "validation", "test").
    public static func holdsOut(_ split: String?) -> Bool {
        ["val", "validation", "test"].contains(split?.lowercased() ?? "")
    }

    /// Validation samples drawn from `samples` without a split: `fraction` of them, at least one
    /// and, with `minimum`, at least that many but at most a fifth of them; never all.
    public static func validationCount(samples: Int, fraction: Double, minimum: Int?) -> Int {
        let floor = minimum.map { min($0, samples / 5) } ?? 0
        return min(max(Int((Double(samples) * fraction).rounded()), fraction > 0 ? 1 : 0, floor), samples - 1)
    }
}

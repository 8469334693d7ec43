import Foundation

/// Picks frames of a video to label, as DeepLabCut's frame extraction does: spread over the
/// video, or one from each group of similar-looking frames. Opening one counts the video's frames
/// once (by decoding them); picking and writing then read only the frames they need.
public struct FramePicker: Sendable {
    public enum Method: String, CaseIterable, Sendable {
        /// Evenly spaced indices over the whole video, first and last included.
        case uniform
        /// k-means (k = the count) on small grey thumbnails of up to `kmeansSamples` frames
        /// taken evenly over the video: the frame nearest each cluster's centre, so that rare
        /// postures get a frame as much as common ones.
        case kmeans
    }

    /// Frames sampled for k-means, at most; thumbnails are `thumbnailWidth` pixels wide.
    public static let kmeansSamples = 1000
    public static let thumbnailWidth = 30

    public let video: String
    /// The frames the video really holds (every one decoded, none converted).
    public let frameCount: Int

    /// - Throws: `VideoError` when the video cannot be read.
    public init(video: String) throws {
        self.video = video
        let reader = try VideoReader(contentsOf: video)
        var count = 0
        while try reader.skip() != nil { count += 1 }
        frameCount = count
    }

    /// `count` frame indices of the video (sorted; fewer when the video has fewer frames).
    /// - Throws: `VideoError` when the video cannot be read.
    public func pick(_ count: Int, method: Method, seed: UInt64 = 1) throws -> [Int] {
        let frames = frameCount
        guard count > 0, frames > 0 else { return [] }
        switch method {
        case .uniform:
            return Self.evenlySpaced(count, of: frames)
        case .kmeans:
            let samples = Self.evenlySpaced(max(count, min(Self.kmeansSamples, frames)), of: frames)
            let thumbnails = try Self.thumbnails(video, at: Set(samples))
            return Self.kmeans(thumbnails, clusters: count, seed: seed).map { samples[$0] }.sorted()
        }
    }

    /// `count` indices in 0..<frames, evenly spaced, first and last included, without repeats.
    static func evenlySpaced(_ count: Int, of frames: Int) -> [Int] {
        guard count < frames else { return Array(0..<frames) }
        guard count > 1 else { return [0] }
        return (0..<count).map { Int((Double($0) * Double(frames - 1) / Double(count - 1)).rounded()) }
    }

    /// Grey thumbnails (`thumbnailWidth` wide, the video's aspect) of the frames at `indices`,
    /// in index order, each as its pixel values in 0...1.
    static func thumbnails(_ video: String, at indices: Set<Int>) throws -> [[Float]] {
        let reader = try VideoReader(contentsOf: video)
        let width = thumbnailWidth
        let height = max(1, Int((Double(reader.info.height) * Double(width) / Double(reader.info.width)).rounded()))
        var thumbnails: [[Float]] = []
        var index = 0
        while index <= indices.max() ?? -1 {
            if indices.contains(index) {
                guard let frame = try reader.next() else { break }
                let small = frame.image.resized(width: width, height: height)
                thumbnails.append(
                    (0..<(width * height)).map { pixel in
                        let rgb = small.pixels[(3 * pixel)..<(3 * pixel + 3)].map(Float.init)
                        return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255
                    })
            } else if try reader.skip() == nil {
                break
            }
            index += 1
        }
        return thumbnails
    }

    /// The index of the point nearest each of `clusters` k-means centres (Lloyd's iterations from
    /// a seeded k-means++ start, at most 50 or until no point changes cluster); distinct indices.
    static func kmeans(_ points: [[Float]], clusters: Int, seed: UInt64) -> [Int] {
        guard clusters < points.count else { return Array(points.indices) }
        func distance(_ a: [Float], _ b: [Float]) -> Float {
            var sum: Float = 0
            for i in a.indices { sum += (a[i] - b[i]) * (a[i] - b[i]) }
            return sum
        }
        var random = SplitMix64(seed: seed)
        var centres = [points[Int.random(in: points.indices, using: &random)]]
        var nearest = points.map { distance($0, centres[0]) }
        while centres.count < clusters {  // k-means++: the next centre drawn by squared distance
            let total = nearest.reduce(0, +)
            var draw = Float.random(in: 0..<max(total, .leastNormalMagnitude), using: &random)
            var chosen = points.count - 1
            for (index, weight) in nearest.enumerated() {
                draw -= weight
                if draw < 0 {
                    chosen = index
                    break
                }
            }
            centres.append(points[chosen])
            nearest = zip(nearest, points).map { min($0, distance($1, centres.last!)) }
        }
        var assignment = [Int](repeating: -1, count: points.count)
        for _ in 0..<50 {
            let next = points.map { point in
                centres.indices.min { distance(point, centres[$0]) < distance(point, centres[$1]) }!
            }
            if next == assignment { break }
            assignment = next
            for cluster in centres.indices {
                let members = points.indices.filter { assignment[$0] == cluster }
                guard !members.isEmpty else { continue }
                centres[cluster] = (0..<points[0].count).map { d in
                    members.reduce(Float(0)) { $0 + points[$1][d] } / Float(members.count)
                }
            }
        }
        var taken = Set<Int>()
        return centres.map { centre in
            let best = points.indices.filter { !taken.contains($0) }.min {
                distance(points[$0], centre) < distance(points[$1], centre)
            }!
            taken.insert(best)
            return best
        }
    }

    /// Writes the frames at `indices` as PNG into `folder` (created), named as DeepLabCut names
    /// extracted frames: `img` and the frame index, zero-padded to the digits of the frame count.
    /// Returns the files written.
    public func write(_ indices: [Int], into folder: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let digits = String(max(frameCount - 1, 1)).count
        let wanted = Set(indices)
        let reader = try VideoReader(contentsOf: video)
        var written: [String] = []
        var index = 0
        while index <= indices.max() ?? -1 {
            if wanted.contains(index) {
                guard let frame = try reader.next() else { break }
                let name = String(index)
                let path = "\(folder)/img\(String(repeating: "0", count: max(digits - name.count, 0)))\(name).png"
                try frame.image.writePNG(to: path)
                written.append(path)
            } else if try reader.skip() == nil {
                break
            }
            index += 1
        }
        return written
    }
}

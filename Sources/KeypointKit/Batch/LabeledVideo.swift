/// A copy of a video with its keypoints drawn on every frame that has them (the skeleton, each
/// keypoint in its own colour, those scoring below `minimumScore` hidden), the other frames as
/// they are, each at its own time.
public enum LabeledVideo {
    public struct Summary: Sendable {
        public var frames: Int
        public var labeled: Int
        /// The encoder used, e.g. "libx264".
        public var codec: String
    }

    /// - Throws: `VideoError` for a video that cannot be read or written; the frames before a
    ///   damaged part are written and the file finished first.
    public static func write(
        _ video: String, results: [Int: [Keypoint]], skeleton: [[Int]], minimumScore: Float, to output: String,
        progress: (Int) -> Void = { _ in }
    ) throws -> Summary {
        let reader = try VideoReader(contentsOf: video)
        let writer = try VideoWriter(
            path: output, width: reader.info.width, height: reader.info.height, frameRate: reader.info.frameRateHint)
        var summary = Summary(frames: 0, labeled: 0, codec: writer.codec)
        var damage: VideoError?
        do {
            while let frame = try reader.next() {
                var image = frame.image
                if let keypoints = results[frame.index] {
                    image.drawKeypoints(keypoints, skeleton: skeleton, minimumScore: minimumScore)
                    summary.labeled += 1
                }
                try writer.write(image, time: frame.time)
                summary.frames += 1
                progress(summary.frames)
            }
        } catch let error as VideoError where error.path == video {
            damage = error
        }
        try writer.finish()
        if let damage { throw damage }
        return summary
    }
}

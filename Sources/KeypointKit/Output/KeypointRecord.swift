import Foundation

/// One image's (or video frame's) keypoints as every output writes them: the JSON Lines record of
/// `detect --json` and `batch --format jsonl`, a row of DeepLabCut's CSV, a COCO result.
public struct KeypointRecord: Sendable {
    /// Where a video frame stands in its video.
    public struct Frame: Equatable, Sendable {
        public var index: Int
        /// Presentation time in seconds from the video's start, when the frame has one.
        public var time: Double?

        public init(index: Int, time: Double?) { (self.index, self.time) = (index, time) }
    }

    /// The image's path, or the video's.
    public var image: String
    /// For a video frame, which; nil for an image.
    public var frame: Frame?
    public var width: Int
    public var height: Int
    public var keypoints: [Keypoint]
    /// Why the image failed; the record then carries no keypoints.
    public var error: String?

    public init(
        image: String, frame: Frame? = nil, width: Int, height: Int, keypoints: [Keypoint], error: String? = nil
    ) {
        self.image = image
        self.frame = frame
        self.width = width
        self.height = height
        self.keypoints = keypoints
        self.error = error
    }

    /// A failed image or frame.
    public init(image: String, frame: Frame? = nil, error: String) {
        self.init(image: image, frame: frame, width: 0, height: 0, keypoints: [], error: error)
    }

    /// A keypoint as written: coordinates to 1/1000 px, score to 1/10000, so a record read back
    /// (a journal, a predictions file) writes exactly as it did when it was made.
    static func rounded(_ keypoint: Keypoint) -> (x: Double, y: Double, score: Double) {
        (
            (keypoint.x * 1000).rounded() / 1000, (keypoint.y * 1000).rounded() / 1000,
            (Double(keypoint.score) * 10000).rounded() / 10000
        )
    }

    static func json(_ keypoint: Keypoint) -> JSONValue {
        let (x, y, score) = rounded(keypoint)
        return .object([
            ("name", .string(keypoint.name)), ("x", .number(x)), ("y", .number(y)), ("score", .number(score)),
        ])
    }

    /// The JSON Lines record: {"image","width","height","keypoints":[{"name","x","y","score"}],"model"},
    /// or {"image","error"} for a failed image; for a video frame "video", "frame" and "time"
    /// (seconds, to the microsecond; null when the frame has no timestamp) in place of "image".
    public func json(model: String) -> JSONValue {
        var members: [(String, JSONValue)] = [("image", .string(image))]
        if let frame {
            members = [
                ("video", .string(image)), ("frame", .number(Double(frame.index))),
                ("time", frame.time.map { .number(($0 * 1e6).rounded() / 1e6) } ?? .null),
            ]
        }
        if let error { return .object(members + [("error", .string(error))]) }
        return .object(
            members + [
                ("width", .number(Double(width))), ("height", .number(Double(height))),
                ("keypoints", .array(keypoints.map(Self.json))), ("model", .string(model)),
            ])
    }
}

/// DeepLabCut's layout for analysed frames: header rows scorer / bodyparts / coords with x, y,
/// likelihood per keypoint, then one row per image (empty cells for a failed one).
public enum DeepLabCutCSV {
    /// The three header rows, each ended by a newline.
    public static func header(scorer: String, keypoints names: [String]) -> String {
        let scorers = String(repeating: ",\(CSV.quote(scorer))", count: 3 * names.count)
        let parts = names.map { name in String(repeating: ",\(CSV.quote(name))", count: 3) }.joined()
        let coordinates = String(repeating: ",x,y,likelihood", count: names.count)
        return "scorer\(scorers)\nbodyparts\(parts)\ncoords\(coordinates)\n"
    }

    /// One record's row, ended by a newline; `keypoints` is the model's keypoint count. The first
    /// column is the image's path, or a video frame's index (as DeepLabCut's video analysis writes).
    public static func row(_ record: KeypointRecord, keypoints count: Int) -> String {
        var text = record.frame.map { String($0.index) } ?? CSV.quote(record.image)
        if record.error != nil {
            text += String(repeating: ",", count: 3 * count)
        } else {
            for keypoint in record.keypoints {
                let (x, y, score) = KeypointRecord.rounded(keypoint)
                text += ",\(x),\(y),\(score)"
            }
        }
        return text + "\n"
    }
}

/// COCO keypoint results: [{"image_id","category_id","keypoints":[x,y,score]*K,"score"}] with the
/// image ids in a second file ([{"id","file_name"}]).
public enum COCOResults {
    /// The results and the images file for `records`; an image's id comes from `ids` (by file
    /// name, then by path), else its 1-based position in the run (`first`: the position of the
    /// first record, for a shard of a run).
    public static func serialize(_ records: [KeypointRecord], ids known: [String: Int]?, first: Int = 0) -> (
        results: String, images: String
    ) {
        var ids: [String: Int] = [:]
        var images: [JSONValue] = []
        for (index, record) in records.enumerated() {
            let name = (record.image as NSString).lastPathComponent
            let id = known?[name] ?? known?[record.image] ?? first + index + 1
            ids[record.image] = id
            images.append(.object([("id", .number(Double(id))), ("file_name", .string(record.image))]))
        }
        let results = records.filter { $0.error == nil }.map { record -> JSONValue in
            let points = record.keypoints.map(KeypointRecord.rounded)
            let score = points.map(\.score).reduce(0, +) / Double(max(points.count, 1))
            return .object([
                ("image_id", .number(Double(ids[record.image]!))), ("category_id", .number(1)),
                ("keypoints", .array(points.flatMap { [.number($0.x), .number($0.y), .number($0.score)] })),
                ("score", .number((score * 1e6).rounded() / 1e6)),
            ])
        }
        return (JSONValue.array(results).serialized, JSONValue.array(images).serialized)
    }
}

extension KeypointRecord {
    /// A record read back from the JSON Lines form `json(model:)` writes (an image's or a video
    /// frame's); nil for a damaged line.
    init?(jsonLine line: Substring) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return nil
        }
        if let video = object["video"] as? String, let index = object["frame"] as? Int {
            image = video
            frame = Frame(index: index, time: (object["time"] as? NSNumber)?.doubleValue)
        } else if let path = object["image"] as? String {
            image = path
            frame = nil
        } else {
            return nil
        }
        error = object["error"] as? String
        width = object["width"] as? Int ?? 0
        height = object["height"] as? Int ?? 0
        keypoints = Self.keypoints(from: object["keypoints"])
        if error == nil && keypoints.isEmpty { return nil }
    }

    /// Keypoints from a JSON array of {"name","x","y","score"}; entries that are not are left out.
    static func keypoints(from array: Any?) -> [Keypoint] {
        ((array as? [[String: Any]]) ?? []).compactMap { point in
            guard let name = point["name"] as? String, let x = (point["x"] as? NSNumber)?.doubleValue,
                let y = (point["y"] as? NSNumber)?.doubleValue, let score = (point["score"] as? NSNumber)?.floatValue
            else { return nil }
            return Keypoint(name: name, x: x, y: y, score: score)
        }
    }

    /// `record` as its JSON Lines form holds it (coordinates, scores and time rounded as written),
    /// so a record made now and one read back from a journal write the same output.
    init(rounding record: KeypointRecord) {
        self = record
        keypoints = record.keypoints.map {
            let (x, y, score) = Self.rounded($0)
            return Keypoint(name: $0.name, x: x, y: y, score: Float(score))
        }
        frame = record.frame.map { Frame(index: $0.index, time: $0.time.map { ($0 * 1e6).rounded() / 1e6 }) }
    }
}

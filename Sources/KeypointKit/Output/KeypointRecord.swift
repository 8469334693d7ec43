import Foundation

/// One image's keypoints as every output writes them: the JSON Lines record of `detect --json` and
/// `batch --format jsonl`, a row of DeepLabCut's CSV, a COCO result.
public struct KeypointRecord: Sendable {
    public var image: String
    public var width: Int
    public var height: Int
    public var keypoints: [Keypoint]
    /// Why the image failed; the record then carries no keypoints.
    public var error: String?

    public init(image: String, width: Int, height: Int, keypoints: [Keypoint], error: String? = nil) {
        self.image = image
        self.width = width
        self.height = height
        self.keypoints = keypoints
        self.error = error
    }

    /// A failed image.
    public init(image: String, error: String) {
        self.init(image: image, width: 0, height: 0, keypoints: [], error: error)
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
    /// or {"image","error"} for a failed image.
    public func json(model: String) -> JSONValue {
        if let error { return .object([("image", .string(image)), ("error", .string(error))]) }
        return .object([
            ("image", .string(image)), ("width", .number(Double(width))), ("height", .number(Double(height))),
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

    /// One record's row, ended by a newline; `keypoints` is the model's keypoint count.
    public static func row(_ record: KeypointRecord, keypoints count: Int) -> String {
        var text = CSV.quote(record.image)
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
    /// name, then by path), else its 1-based position.
    public static func serialize(_ records: [KeypointRecord], ids known: [String: Int]?) -> (
        results: String, images: String
    ) {
        var ids: [String: Int] = [:]
        var images: [JSONValue] = []
        for (index, record) in records.enumerated() {
            let name = (record.image as NSString).lastPathComponent
            let id = known?[name] ?? known?[record.image] ?? index + 1
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

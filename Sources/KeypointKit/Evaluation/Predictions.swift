import Foundation

/// The predictions `EvaluationReport` scores, one row per labeled sample and one point per
/// labeled keypoint (matched by name; nil where there is none): from a model, or read back from a
/// predictions file.
public enum Predictions {
    /// Runs `model` on every labeled sample: COCO instances cropped around their box (enlarged
    /// 1.25x), other images letterboxed whole, each as the model asks (second pass, flip test).
    /// - Throws: `InputError` when the model lacks a labeled keypoint, `ImageError` for an
    ///   image that cannot be read.
    public static func predict(
        _ set: LabeledSet, with model: Model, labelsPath: String, imagesRoot: String?, threads: Int
    ) throws -> [[PredictedPoint?]] {
        let indices = try keypointIndices(of: set.keypointNames, in: model.keypointNames, source: "model")
        let predictor = try Predictor(model: model, threads: threads)
        var cache: (path: String, image: Image)?
        return try set.samples.map { sample in
            let path = LabeledSet.imagePath(sample.image, labelsPath: labelsPath, imagesRoot: imagesRoot)
            let image = try cache?.path == path ? cache!.image : ImageDecoder.decode(contentsOf: path).image
            cache = (path, image)
            let keypoints = predictor.predict(image, box: sample.box.map { Region(instanceBox: $0) })
            return indices.map {
                PredictedPoint(x: keypoints[$0].x, y: keypoints[$0].y, score: Double(keypoints[$0].score))
            }
        }
    }

    /// Reads a predictions file: JSON Lines as `detect --json` and `batch` write them, DeepLabCut's
    /// CSV (as `batch --format csv` or DeepLabCut's video analysis write it), matched to the
    /// samples by image path, then by file name; or COCO results JSON, each labeled instance
    /// paired with the closest detection on its image.
    /// - Throws: `InputError` naming the file and what is wrong with it, or the keypoints
    ///   it lacks.
    public static func read(_ path: String, for set: LabeledSet, labelsPath: String, imagesRoot: String?) throws
        -> [[PredictedPoint?]]
    {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw InputError.invalid("\(path): the predictions file cannot be read")
        }
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.hasPrefix("[") { return try cocoResults(text, path: path, for: set) }
        let records = trimmed.hasPrefix("scorer") ? try deepLabCut(text, path: path) : try jsonLines(text, path: path)
        let byName = Dictionary(records.map { (($0.key as NSString).lastPathComponent, $0.value) }) { first, _ in first
        }
        if let names = records.values.first(where: { !$0.isEmpty }).map({ Array($0.keys) }) {
            _ = try keypointIndices(of: set.keypointNames, in: names, source: "predictions")
        }
        return set.samples.map { sample in
            let points =
                records[LabeledSet.imagePath(sample.image, labelsPath: labelsPath, imagesRoot: imagesRoot)]
                ?? records[sample.image] ?? byName[(sample.image as NSString).lastPathComponent]
            return set.keypointNames.map { points?[$0] }
        }
    }

    /// Where each of `labels` stands among `names`.
    /// - Throws: `InputError` listing both sets of names and those missing.
    public static func keypointIndices(of labels: [String], in names: [String], source: String) throws -> [Int] {
        let missing = labels.filter { !names.contains($0) }
        guard missing.isEmpty else {
            throw InputError.invalid(
                "the labels' keypoints do not match the \(source)'s: labels [\(labels.joined(separator: ", "))], \(source) [\(names.joined(separator: ", "))]; missing: \(missing.joined(separator: ", "))"
            )
        }
        return labels.map { names.firstIndex(of: $0)! }
    }

    /// Image path -> keypoint name -> point, from DeepLabCut's CSV.
    private static func deepLabCut(_ text: String, path: String) throws -> [String: [String: PredictedPoint]] {
        let table = try DeepLabCutTable(text: text, path: path)
        let width = table.coordinates.count
        var records: [String: [String: PredictedPoint]] = [:]
        for row in table.rows {
            var points: [String: PredictedPoint] = [:]
            for (k, name) in table.names.enumerated() {
                let cells = row.cells[(k * width)..<((k + 1) * width)].map {
                    Double($0.trimmingCharacters(in: .whitespaces))
                }
                guard let x = cells[0], let y = cells[1], x.isFinite, y.isFinite else { continue }
                points[name] = PredictedPoint(x: x, y: y, score: width == 3 ? cells[2] ?? 0 : 1)
            }
            records[row.image] = points
        }
        return records
    }

    /// Image path -> keypoint name -> point, from JSON Lines records.
    private static func jsonLines(_ text: String, path: String) throws -> [String: [String: PredictedPoint]] {
        var records: [String: [String: PredictedPoint]] = [:]
        for (number, line) in text.split(separator: "\n").enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let image = record["image"] as? String
            else { throw InputError.invalid("\(path), line \(number + 1): not a JSON object with an \"image\"") }
            var points: [String: PredictedPoint] = [:]
            for keypoint in (record["keypoints"] as? [[String: Any]]) ?? [] {
                guard let name = keypoint["name"] as? String, let x = keypoint["x"] as? Double,
                    let y = keypoint["y"] as? Double
                else { continue }
                points[name] = PredictedPoint(x: x, y: y, score: keypoint["score"] as? Double ?? 1)
            }
            records[image] = points
        }
        return records
    }

    /// COCO results: for each labeled instance, the detection on its image closest to it (mean
    /// distance over its labeled points).
    private static func cocoResults(_ text: String, path: String, for set: LabeledSet) throws -> [[PredictedPoint?]] {
        guard let detections = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] else {
            throw InputError.invalid("\(path): a COCO results file must be a JSON array of detections")
        }
        let byImage = Dictionary(grouping: detections) { ($0["image_id"] as? Int) ?? -1 }
        let count = set.keypointNames.count
        return set.samples.map { sample in
            let parsed = (byImage[sample.imageID ?? -2] ?? []).compactMap { detection -> [PredictedPoint]? in
                guard let values = detection["keypoints"] as? [Double], values.count == 3 * count else { return nil }
                return (0..<count).map {
                    PredictedPoint(x: values[3 * $0], y: values[3 * $0 + 1], score: values[3 * $0 + 2])
                }
            }
            func distance(_ points: [PredictedPoint]) -> Double {
                let pairs = zip(points, sample.points).compactMap { point, truth in
                    truth.map {
                        ((point.x - $0.x) * (point.x - $0.x) + (point.y - $0.y) * (point.y - $0.y)).squareRoot()
                    }
                }
                return pairs.isEmpty ? .infinity : pairs.reduce(0, +) / Double(pairs.count)
            }
            return parsed.min { distance($0) < distance($1) }.map { $0.map { Optional($0) } }
                ?? [PredictedPoint?](repeating: nil, count: count)
        }
    }
}

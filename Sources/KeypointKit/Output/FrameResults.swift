import Foundation

/// A video's keypoints read back by frame index, from what `keypoints batch` (or DeepLabCut's
/// video analysis) wrote: JSON Lines with "frame" records, or DeepLabCut's CSV (frame index in the
/// first column, x, y, likelihood per body part).
public enum FrameResults {
    /// - Throws: `InputError` naming the file and what is wrong with it.
    public static func read(_ path: String) throws -> [Int: [Keypoint]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InputError.invalid("\(path): the results file cannot be read")
        }
        if text.drop(while: \.isWhitespace).hasPrefix("scorer") { return try deepLabCut(text, path: path) }
        var frames: [Int: [Keypoint]] = [:]
        for line in text.split(separator: "\n") where !line.allSatisfy(\.isWhitespace) {
            guard let record = KeypointRecord(jsonLine: line) else {
                throw InputError.invalid("\(path): a line is not a keypoint record: \(line.prefix(60))")
            }
            if let frame = record.frame, record.error == nil { frames[frame.index] = record.keypoints }
        }
        return frames
    }

    private static func deepLabCut(_ text: String, path: String) throws -> [Int: [Keypoint]] {
        let table = try DeepLabCutTable(text: text, path: path)
        guard table.coordinates.count == 3 else {
            throw InputError.invalid("\(path): expected x, y, likelihood per body part (DeepLabCut's analysis output)")
        }
        var frames: [Int: [Keypoint]] = [:]
        for row in table.rows {
            guard let index = Int(row.image.split(separator: "/").last.map(String.init) ?? row.image) else {
                throw InputError.invalid("\(path), line \(row.line): '\(row.image)' is not a frame index")
            }
            let values = row.cells.map { Double($0.trimmingCharacters(in: .whitespaces)) }
            frames[index] = table.names.enumerated().compactMap { k, name in
                guard let x = values[3 * k], let y = values[3 * k + 1], x.isFinite, y.isFinite else { return nil }
                return Keypoint(name: name, x: x, y: y, score: Float(values[3 * k + 2] ?? 0))
            }
        }
        return frames
    }
}

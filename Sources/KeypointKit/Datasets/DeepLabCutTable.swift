import Foundation

/// The layout of a DeepLabCut CSV, labels (x, y per body part) or analysis output (x, y,
/// likelihood): header rows scorer, bodyparts (each name repeated per coordinate) and coords,
/// then one row per image. The image is named by one index column (older projects:
/// "labeled-data/video/img001.png") or by several (DeepLabCut 2.2 and later: "labeled-data",
/// "video", "img001.png"), joined with "/". Multi-animal files (an "individuals" row) are refused
/// with a clear error.
public struct DeepLabCutTable: Sendable {
    public struct Row: Sendable {
        public var image: String
        /// The coordinate cells after the index columns, `coordinates.count` per body part.
        public var cells: [String]
        /// 1-based line in the file.
        public var line: Int
    }

    public var names: [String]
    /// ["x", "y"] for labels, ["x", "y", "likelihood"] for analysis output.
    public var coordinates: [String]
    public var rows: [Row]

    /// Reads the CSV text of the file at `path` (the path is for messages).
    public init(text: String, path: String) throws {
        try self.init(CSV.parse(text), path: path)
    }

    init(_ rows: [[String]], path: String) throws {
        func fail(_ line: Int?, _ reason: String) -> LabelError { .malformed(path: path, line: line, reason: reason) }
        if rows.count > 1, rows[1].first == "individuals" {
            throw fail(2, "multi-animal DeepLabCut files (with an individuals row) are not supported yet")
        }
        guard rows.count >= 3, rows[0].first == "scorer", rows[1].first == "bodyparts", rows[2].first == "coords" else {
            throw fail(2, "a DeepLabCut CSV needs the rows scorer, bodyparts and coords")
        }
        // Index columns: "coords" plus the empty cells after it.
        let indexColumns = 1 + rows[2].dropFirst().prefix { $0.isEmpty }.count
        let parts = Array(rows[1].dropFirst(indexColumns))
        let coords = Array(rows[2].dropFirst(indexColumns))
        guard parts.count == coords.count, !parts.isEmpty else {
            throw fail(2, "the bodyparts and coords rows differ in length")
        }
        let perPart = coords.firstIndex(of: "x").flatMap { _ in coords.dropFirst().firstIndex(of: "x") } ?? coords.count
        coordinates = Array(coords.prefix(perPart))
        guard coordinates == ["x", "y"] || coordinates == ["x", "y", "likelihood"], parts.count % perPart == 0 else {
            throw fail(3, "the coords row must repeat x, y or x, y, likelihood; found \(coords.prefix(4))")
        }
        names = []
        for start in stride(from: 0, to: parts.count, by: perPart) {
            let column = indexColumns + start + 1
            guard Array(coords[start..<(start + perPart)]) == coordinates,
                Set(parts[start..<(start + perPart)]).count == 1
            else {
                throw fail(
                    3,
                    "columns \(column)-\(column + perPart - 1) should be one body part's \(coordinates.joined(separator: ", ")); found \(parts[start..<(start + perPart)].joined(separator: ",")) / \(coords[start..<(start + perPart)].joined(separator: ","))"
                )
            }
            names.append(parts[start])
        }
        self.rows = []
        for (index, row) in rows.enumerated().dropFirst(3) where !(row.count == 1 && row[0].isEmpty) {
            guard row.count == indexColumns + parts.count else {
                throw fail(index + 1, "\(row.count) cells, the header has \(indexColumns + parts.count)")
            }
            let image = row.prefix(indexColumns).filter { !$0.isEmpty }.joined(separator: "/")
            self.rows.append(Row(image: image, cells: Array(row.dropFirst(indexColumns)), line: index + 1))
        }
    }
}

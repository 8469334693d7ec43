import Foundation

/// A labeled keypoint: pixel coordinates in the original image (pixel centres at integers),
/// and whether it is visible (COCO v = 2, or 1 for the simple CSV's v = 1) or only labeled.
public struct LabeledPoint: Equatable, Sendable {
    public var x: Double
    public var y: Double
    public var visible: Bool
}

/// One annotated instance: an image (path as written in the labels) and one optional point per
/// keypoint (nil = missing or not labeled).
public struct LabeledSample: Equatable, Sendable {
    public var image: String
    public var points: [LabeledPoint?]
    /// The instance's box (x, y, width, height) when the labels give one (COCO).
    public var box: [Double]?
    /// COCO image and annotation ids, area and crowd flag, kept for evaluation.
    public var imageID: Int?
    public var annotationID: Int?
    public var area: Double?
    public var isCrowd: Bool
    /// A "split" column of a simple CSV, or a "split" field of a COCO image ("train", "val", ...),
    /// if present.
    public var split: String?
    /// Image size when the labels state it.
    public var width: Int?
    public var height: Int?
}

/// Why a label file cannot be used; each message names the file, and the line or entry.
public enum LabelError: Error, Equatable, Sendable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case malformed(path: String, line: Int?, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): return "\(path): cannot read the labels: \(reason)"
        case .malformed(let path, let line?, let reason): return "\(path), line \(line): \(reason)"
        case .malformed(let path, nil, let reason): return "\(path): \(reason)"
        }
    }
}

/// A labeled set in one of three formats, recognised from the content:
/// - DeepLabCut CollectedData CSV: three header rows (scorer, bodyparts with each name twice,
///   coords x/y), then `image,x,y,x,y,...`; empty cells are missing points.
/// - COCO keypoints JSON: one sample per annotation (multi-person files give several samples
///   per image); v = 0 means not labeled; names and skeleton (1-based) from the first category.
/// - Simple CSV: a header `image,<kp>_x,<kp>_y[,<kp>_v]...` (optional columns `width`, `height`,
///   `split`); v = 0 or an empty cell means missing.
public struct LabeledSet: Equatable, Sendable {
    public enum Format: String, Sendable {
        case deepLabCut = "deeplabcut-csv"
        case coco = "coco-json"
        case simpleCSV = "simple-csv"
    }

    public var format: Format
    public var keypointNames: [String]
    public var samples: [LabeledSample]
    /// Skeleton edges as 0-based index pairs (COCO's categories give them).
    public var skeleton: [[Int]]
    /// COCO images (id -> file name), for results files and evaluation.
    public var images: [Int: String]

    /// The labels' image path on disk: under `imagesRoot`, else relative to the labels file's
    /// folder or one of its three parents (DeepLabCut paths are relative to the project).
    public static func imagePath(_ image: String, labelsPath: String, imagesRoot: String?) -> String {
        if image.hasPrefix("/") { return image }
        if let imagesRoot { return (imagesRoot as NSString).appendingPathComponent(image) }
        var folder = (labelsPath as NSString).deletingLastPathComponent
        for _ in 0..<4 {
            let candidate = ((folder.isEmpty ? "." : folder) as NSString).appendingPathComponent(image)
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            folder = (folder as NSString).deletingLastPathComponent
        }
        return image
    }

    public static func load(contentsOf path: String) throws -> LabeledSet {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) && isFolder.boolValue
            || path.hasSuffix(".yaml")
        {
            return try deepLabCutProject(path)
        }
        let bytes: [UInt8]
        do {
            bytes = try readFile(path, limit: 1 << 30)
        } catch let error as ImageError {
            throw LabelError.unreadable(path: path, reason: error.reason)
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let start = text.drop { $0.isWhitespace || $0 == "\u{FEFF}" }
        if start.hasPrefix("{") { return try coco(text, path: path) }
        let rows = CSV.parse(text)
        guard let header = rows.first else {
            throw LabelError.malformed(path: path, line: nil, reason: "the file is empty")
        }
        if header.first == "scorer" { return try deepLabCut(rows, path: path) }
        return try simpleCSV(rows, path: path)
    }

    static func number(_ cell: String, path: String, line: Int, column: String) throws -> Double? {
        let trimmed = cell.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty || trimmed.lowercased() == "nan" { return nil }
        guard let value = Double(trimmed), value.isFinite else {
            throw LabelError.malformed(
                path: path, line: line, reason: "column '\(column)' holds '\(cell)', not a number")
        }
        return value
    }

    static func deepLabCut(_ rows: [[String]], path: String) throws -> LabeledSet {
        let table = try DeepLabCutTable(rows, path: path)
        var samples: [LabeledSample] = []
        for row in table.rows {
            var points: [LabeledPoint?] = []
            for k in table.names.indices {
                let x = try number(row.cells[2 * k], path: path, line: row.line, column: "\(table.names[k]) x")
                let y = try number(row.cells[2 * k + 1], path: path, line: row.line, column: "\(table.names[k]) y")
                points.append(x != nil && y != nil ? LabeledPoint(x: x!, y: y!, visible: true) : nil)
            }
            samples.append(LabeledSample(image: row.image, points: points, isCrowd: false))
        }
        guard !samples.isEmpty else { throw LabelError.malformed(path: path, line: nil, reason: "no labeled rows") }
        return LabeledSet(
            format: .deepLabCut, keypointNames: table.names, samples: samples, skeleton: [], images: [:])
    }

    /// A DeepLabCut project, given as its folder or its config.yaml: the CollectedData CSV of each
    /// `labeled-data/<video>/` folder (the one of config.yaml's scorer when there are several),
    /// merged, with image paths made absolute, and config.yaml's skeleton. Folders without labels
    /// (DeepLabCut's `<video>_labeled` plots) are passed over; one with labels only in `.h5` is an
    /// error, not a silent loss.
    static func deepLabCutProject(_ path: String) throws -> LabeledSet {
        let files = FileManager.default
        let named = path.hasSuffix(".yaml") ? (path as NSString).deletingLastPathComponent : path
        let project = named.isEmpty ? "." : named
        // DeepLabCut's image paths are relative to the project (a missing image is reported when
        // it is read, under the path it should have).
        let root =
            project.hasPrefix("/") ? project : (files.currentDirectoryPath as NSString).appendingPathComponent(project)
        let config = project + "/config.yaml"
        let yaml = (try? String(contentsOfFile: config, encoding: .utf8)) ?? ""
        let scorer = yaml.split(separator: "\n").first { $0.hasPrefix("scorer:") }
            .map { $0.dropFirst(7).trimmingCharacters(in: .whitespaces) }
        let labeled = project + "/labeled-data"
        guard let videos = try? files.contentsOfDirectory(atPath: labeled) else {
            throw LabelError.unreadable(
                path: path,
                reason: "not a DeepLabCut project: no labeled-data folder in \(project)")
        }
        var merged: LabeledSet?
        var mergedFrom = ""
        for video in videos.sorted() {
            let folder = labeled + "/" + video
            let names = ((try? files.contentsOfDirectory(atPath: folder)) ?? []).filter {
                $0.hasPrefix("CollectedData_")
            }
            var csvs = names.filter { $0.hasSuffix(".csv") }.sorted()
            if csvs.count > 1, let scorer, csvs.contains("CollectedData_\(scorer).csv") {
                csvs = ["CollectedData_\(scorer).csv"]
            }
            guard csvs.count <= 1 else {
                throw LabelError.malformed(
                    path: folder, line: nil,
                    reason:
                        "holds several label files (\(csvs.joined(separator: ", "))); name one of them as the labels")
            }
            guard let csv = csvs.first else {
                if let h5 = names.first(where: { $0.hasSuffix(".h5") }) {
                    throw LabelError.malformed(
                        path: folder + "/" + h5, line: nil,
                        reason: "labels only in HDF5; save them as CSV too (pandas: read_hdf, then to_csv)")
                }
                continue
            }
            let file = folder + "/" + csv
            var set = try load(contentsOf: file)
            for index in set.samples.indices where !set.samples[index].image.hasPrefix("/") {
                set.samples[index].image = (root as NSString).appendingPathComponent(set.samples[index].image)
            }
            if merged == nil {
                (merged, mergedFrom) = (set, file)
            } else if set.keypointNames != merged!.keypointNames {
                throw LabelError.malformed(
                    path: file, line: 2,
                    reason:
                        "body parts \(set.keypointNames.joined(separator: ",")) differ from \(mergedFrom)'s \(merged!.keypointNames.joined(separator: ","))"
                )
            } else {
                merged!.samples += set.samples
            }
        }
        guard var merged else {
            throw LabelError.malformed(path: labeled, line: nil, reason: "no labeled-data/<video>/CollectedData_*.csv")
        }
        merged.skeleton = deepLabCutSkeleton(yaml, names: merged.keypointNames)
        return merged
    }

    /// config.yaml's `skeleton:` as index pairs: the block list DeepLabCut writes ("- - a" then
    /// "  - b"); edges naming unknown body parts are left out.
    static func deepLabCutSkeleton(_ yaml: String, names: [String]) -> [[Int]] {
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("skeleton:") }) else { return [] }
        var edges: [[String]] = []
        for line in lines[(start + 1)...] {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("-") else { break }
            if text.hasPrefix("- -") {
                edges.append([String(text.dropFirst(3)).trimmingCharacters(in: .whitespaces)])
            } else if !edges.isEmpty {
                edges[edges.count - 1].append(String(text.dropFirst(1)).trimmingCharacters(in: .whitespaces))
            }
        }
        return edges.compactMap { edge in
            guard edge.count == 2, let a = names.firstIndex(of: edge[0]), let b = names.firstIndex(of: edge[1]) else {
                return nil
            }
            return [a, b]
        }
    }

    static func simpleCSV(_ rows: [[String]], path: String) throws -> LabeledSet {
        let header = rows[0].map { $0.trimmingCharacters(in: .whitespaces) }
        guard header.first == "image" else {
            throw LabelError.malformed(
                path: path, line: 1,
                reason: "the first column must be 'image' (or the file a DeepLabCut CSV or COCO JSON)")
        }
        var names: [String] = []
        var columns: [String: Int] = [:]
        for (index, column) in header.enumerated().dropFirst() {
            columns[column] = index
            if ["width", "height", "split"].contains(column) { continue }
            guard let suffixStart = column.lastIndex(of: "_"),
                ["_x", "_y", "_v"].contains(String(column[suffixStart...]))
            else {
                throw LabelError.malformed(
                    path: path, line: 1,
                    reason: "unknown column '\(column)': expected image, width, height, split or <keypoint>_x, _y, _v")
            }
            let name = String(column[..<suffixStart])
            if column.hasSuffix("_x") { names.append(name) }
        }
        for name in names where columns["\(name)_y"] == nil {
            throw LabelError.malformed(
                path: path, line: 1, reason: "keypoint '\(name)' has an x column but no '\(name)_y'")
        }
        guard !names.isEmpty else { throw LabelError.malformed(path: path, line: 1, reason: "no <keypoint>_x columns") }
        var samples: [LabeledSample] = []
        for (index, row) in rows.enumerated().dropFirst() where !(row.count == 1 && row[0].isEmpty) {
            let line = index + 1
            guard row.count == header.count else {
                throw LabelError.malformed(
                    path: path, line: line, reason: "\(row.count) cells, the header has \(header.count)")
            }
            var points: [LabeledPoint?] = []
            for name in names {
                let x = try number(row[columns["\(name)_x"]!], path: path, line: line, column: "\(name)_x")
                let y = try number(row[columns["\(name)_y"]!], path: path, line: line, column: "\(name)_y")
                let v =
                    try columns["\(name)_v"].map { try number(row[$0], path: path, line: line, column: "\(name)_v") }
                    ?? 2
                points.append(
                    x != nil && y != nil && (v ?? 0) > 0 ? LabeledPoint(x: x!, y: y!, visible: (v ?? 0) > 0) : nil)
            }
            var sample = LabeledSample(image: row[0], points: points, isCrowd: false)
            sample.split = columns["split"].map { row[$0] }
            sample.width = try columns["width"].flatMap { try number(row[$0], path: path, line: line, column: "width") }
                .map { Int($0) }
            sample.height = try columns["height"].flatMap {
                try number(row[$0], path: path, line: line, column: "height")
            }.map { Int($0) }
            samples.append(sample)
        }
        guard !samples.isEmpty else { throw LabelError.malformed(path: path, line: nil, reason: "no labeled rows") }
        return LabeledSet(format: .simpleCSV, keypointNames: names, samples: samples, skeleton: [], images: [:])
    }

    static func coco(_ text: String, path: String) throws -> LabeledSet {
        func fail(_ reason: String) -> LabelError { .malformed(path: path, line: nil, reason: reason) }
        guard let root = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw fail("not a JSON object")
        }
        guard let categories = root["categories"] as? [[String: Any]], let category = categories.first,
            let names = category["keypoints"] as? [String], !names.isEmpty
        else { throw fail("COCO keypoints JSON needs categories[0].keypoints") }
        let skeleton = ((category["skeleton"] as? [[Int]]) ?? []).map { $0.map { $0 - 1 } }
        var images: [Int: String] = [:]
        var sizes: [Int: (Int, Int)] = [:]
        var splits: [Int: String] = [:]
        for image in (root["images"] as? [[String: Any]]) ?? [] {
            guard let id = image["id"] as? Int, let name = image["file_name"] as? String else {
                throw fail("an image entry lacks id or file_name")
            }
            images[id] = name
            if let width = image["width"] as? Int, let height = image["height"] as? Int { sizes[id] = (width, height) }
            splits[id] = image["split"] as? String
        }
        guard let annotations = root["annotations"] as? [[String: Any]] else { throw fail("no annotations array") }
        var samples: [LabeledSample] = []
        for (index, annotation) in annotations.enumerated() {
            guard let imageID = annotation["image_id"] as? Int, let keypoints = annotation["keypoints"] as? [NSNumber]
            else {
                throw fail("annotation \(index) lacks image_id or keypoints")
            }
            guard keypoints.count == 3 * names.count else {
                throw fail(
                    "annotation \(index) has \(keypoints.count) keypoint values; \(names.count) keypoints need \(3 * names.count)"
                )
            }
            guard let file = images[imageID] else {
                throw fail("annotation \(index) refers to image \(imageID), which is not listed")
            }
            var points: [LabeledPoint?] = []
            for k in 0..<names.count {
                let v = keypoints[3 * k + 2].intValue
                points.append(
                    v > 0
                        ? LabeledPoint(
                            x: keypoints[3 * k].doubleValue, y: keypoints[3 * k + 1].doubleValue, visible: v == 2) : nil
                )
            }
            var sample = LabeledSample(
                image: file, points: points, box: (annotation["bbox"] as? [NSNumber])?.map(\.doubleValue),
                imageID: imageID,
                annotationID: annotation["id"] as? Int, area: (annotation["area"] as? NSNumber)?.doubleValue,
                isCrowd: (annotation["iscrowd"] as? Int ?? 0) != 0)
            sample.width = sizes[imageID]?.0
            sample.height = sizes[imageID]?.1
            sample.split = splits[imageID]
            samples.append(sample)
        }
        return LabeledSet(format: .coco, keypointNames: names, samples: samples, skeleton: skeleton, images: images)
    }
}

import Foundation

/// Joins the outputs of the shards of one batch run into the output the run writes without
/// `--shard`, byte for byte: the shards hold contiguous ranges of the run's items in order, so
/// the merge is their outputs in shard order (JSON Lines: the lines; DeepLabCut CSV: the header
/// once, then the rows; COCO results and their images file: the arrays' elements). It streams:
/// memory does not grow with the number of records.
public enum ShardMerge {
    /// Checks that `outputs` are every shard of one run, each once and complete, then writes the
    /// merged output to `destination` (and, for COCO results, `destination.images.json`).
    /// - Throws: `InputError` naming the files: a shard missing or given twice, shards of
    ///   different runs (inputs, model, options or shard count), an unfinished shard.
    public static func merge(_ outputs: [String], into destination: String) throws {
        let (ordered, record) = try check(outputs)
        let format = BatchRunner.Format(rawValue: record.format) ?? .jsonl
        try writeStreaming(to: destination) { write in
            for (shard, output) in ordered.enumerated() {
                // CSV: the header rows once, from the first shard.
                let skip = format == .csv && shard > 0 ? try offset(afterLines: 3, in: output) : 0
                try copy(output, from: skip, trimming: 0, to: write, separator: nil)
            }
        }
        if format == .coco {
            for suffix in ["", ".images.json"] {
                try writeStreaming(to: destination + suffix) { write in
                    try write(Data("[".utf8))
                    var separator: Data? = nil
                    for output in ordered {  // each array's elements, without its brackets
                        if try copy(output + suffix, from: 1, trimming: 1, to: write, separator: separator) {
                            separator = Data(",".utf8)
                        }
                    }
                    try write(Data("]".utf8))
                }
            }
        }
    }

    /// The outputs in shard order and the first shard's record, after the checks `merge` documents.
    static func check(_ outputs: [String]) throws -> (ordered: [String], record: ShardRecord) {
        guard !outputs.isEmpty else { throw InputError.invalid("no shard outputs to merge") }
        let records = try outputs.map { try ShardRecord.read(for: $0) }
        let first = records[0]
        for (output, record) in zip(outputs, records) {
            let differs =
                record.inputs != first.inputs
                ? "inputs"
                : record.model != first.model
                    ? "model"
                    : record.options != first.options || record.format != first.format
                        ? "options"
                        : record.shard.count != first.shard.count ? "shard count" : nil
            if let differs {
                throw InputError.invalid(
                    "\(output) and \(outputs[0]) are shards of different runs (their \(differs) differ)")
            }
            guard record.complete else {
                throw InputError.invalid(
                    "\(output) is unfinished (shard \(record.shard.index) of \(record.shard.count)): run it again with --resume"
                )
            }
        }
        var byIndex: [Int: String] = [:]
        for (output, record) in zip(outputs, records) {
            if let other = byIndex[record.shard.index] {
                throw InputError.invalid("\(other) and \(output) are both shard \(record.shard.index)")
            }
            byIndex[record.shard.index] = output
        }
        // The shards' items must tile the run's (or the video's) span, in order, without a gap.
        let order = records.indices.sorted {
            (records[$0].first, records[$0].shard.index) < (records[$1].first, records[$1].shard.index)
        }
        var reached = first.span[0]
        for index in order where records[index].items > 0 {
            guard records[index].first == reached else { break }
            reached += records[index].items
        }
        guard reached == first.span[1] && records.allSatisfy({ $0.span == first.span }) else {
            let missing = (0..<first.shard.count).filter { byIndex[$0] == nil }
            let gap = "items \(reached)..<\(first.span[1]) are in none of the shards given"
            throw InputError.invalid(
                missing.isEmpty
                    ? gap
                    : "shard(s) \(missing.map(String.init).joined(separator: ", ")) of \(first.shard.count) missing (\(gap))"
            )
        }
        return (order.map { outputs[$0] }, first)
    }

    /// Copies the bytes of `path` from `start` to its end less `trimming`, in 1 MiB pieces, each
    /// passed to `write`; `separator` goes first when there is anything to copy. Returns whether
    /// there was.
    @discardableResult
    private static func copy(
        _ path: String, from start: Int, trimming: Int, to write: (Data) throws -> Void, separator: Data?
    ) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw InputError.invalid("\(path): cannot be read")
        }
        defer { try? handle.close() }
        let end = Int(try handle.seekToEnd()) - trimming
        guard end > start else { return false }
        try handle.seek(toOffset: UInt64(start))
        if let separator { try write(separator) }
        var position = start
        while position < end {
            let piece = try handle.read(upToCount: min(1 << 20, end - position)) ?? Data()
            guard !piece.isEmpty else { break }
            try write(piece)
            position += piece.count
        }
        return true
    }

    /// The byte offset just past the `lines`-th newline of `path` (its end if it has fewer).
    private static func offset(afterLines lines: Int, in path: String) throws -> Int {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw InputError.invalid("\(path): cannot be read")
        }
        defer { try? handle.close() }
        var seen = 0
        var position = 0
        while let piece = try handle.read(upToCount: 1 << 16), !piece.isEmpty {
            for byte in piece {
                position += 1
                if byte == UInt8(ascii: "\n") {
                    seen += 1
                    if seen == lines { return position }
                }
            }
        }
        return position
    }

    /// Writes pieces to a temporary file beside `destination`, then renames it into place.
    private static func writeStreaming(to destination: String, _ body: ((Data) throws -> Void) throws -> Void) throws {
        let temporary = destination + ".merging"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
            let handle = FileHandle(forWritingAtPath: temporary)
        else { throw ImageError.writeFailed(path: destination, reason: "cannot create \(temporary)") }
        do {
            try body { piece in try handle.write(contentsOf: piece) }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            unlink(temporary)
            throw error
        }
        guard rename(temporary, destination) == 0 else {
            throw ImageError.writeFailed(path: destination, reason: String(cString: strerror(errno)))
        }
    }
}

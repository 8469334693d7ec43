import Foundation

/// The safetensors container (https://github.com/huggingface/safetensors), float32 only:
/// an 8-byte little-endian header length N, N bytes of JSON
/// `{"__metadata__": {string: string}, "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}}`,
/// then the raw little-endian tensor bytes, offsets counted from the end of the header.
public struct SafeTensors: Equatable, Sendable {
    public var metadata: [String: String]
    public var tensors: [String: Tensor]

    public init(metadata: [String: String] = [:], tensors: [String: Tensor] = [:]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    /// The file's bytes: tensors in name order, header padded with spaces to a multiple of 8.
    public func serialized() -> [UInt8] {
        var entries: [(String, JSONValue)] = [
            ("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }))
        ]
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let tensor = tensors[name]!
            let bytes = tensor.data.count * 4
            entries.append(
                (
                    name,
                    .object([
                        ("dtype", .string("F32")), ("shape", .array(tensor.shape.map { .number(Double($0)) })),
                        ("data_offsets", .array([.number(Double(offset)), .number(Double(offset + bytes))])),
                    ])
                ))
            offset += bytes
        }
        var header = Array(JSONValue.object(entries).serialized.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var bytes = [UInt8]()
        bytes.reserveCapacity(8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes += $0 }
        bytes += header
        for name in names {
            for value in tensors[name]!.data { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        }
        return bytes
    }

    /// Parses and validates a safetensors file. `path` names it in errors.
    /// Reads and parses a safetensors file (a model or a checkpoint).
    /// - Throws: `ModelError.invalidFile` naming the path and the reason.
    public init(contentsOf path: String) throws {
        let bytes: [UInt8]
        do {
            bytes = try readFile(path, limit: 1 << 31)
        } catch let error as ImageError {
            throw ModelError.invalidFile(path: path, reason: error.reason)
        }
        try self.init(bytes: bytes, path: path)
    }

    public init(bytes: [UInt8], path: String) throws {
        func fail(_ reason: String) -> ModelError { .invalidFile(path: path, reason: reason) }
        guard bytes.count >= 8 else {
            throw fail("the file has \(bytes.count) bytes, too short for a safetensors header")
        }
        let headerLength = bytes[0..<8].enumerated().reduce(UInt64(0)) {
            $0 | UInt64($1.element) << (8 * UInt64($1.offset))
        }
        guard headerLength <= UInt64(bytes.count - 8) else {
            throw fail("the header claims \(headerLength) bytes but only \(bytes.count - 8) follow")
        }
        let dataStart = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: Data(bytes[8..<dataStart])) as? [String: Any] else {
            throw fail("the header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var tensors: [String: Tensor] = [:]
        var ranges: [(Int, Int, String)] = []
        for (name, entry) in header {
            if name == "__metadata__" {
                guard let values = entry as? [String: Any] else { throw fail("__metadata__ is not an object") }
                for (key, value) in values {
                    guard let text = value as? String else { throw fail("metadata '\(key)' is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let info = entry as? [String: Any], let dtype = info["dtype"] as? String,
                let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
            else { throw fail("tensor '\(name)' lacks dtype, shape or data_offsets") }
            guard dtype == "F32" else { throw fail("tensor '\(name)' is \(dtype); only F32 is supported") }
            guard shape.allSatisfy({ $0 >= 0 }), shape.count <= 8 else {
                throw fail("tensor '\(name)' has an invalid shape \(shape)")
            }
            let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= bytes.count - dataStart else {
                throw fail(
                    "tensor '\(name)' lies outside the file (bytes \(begin)..<\(end) of \(bytes.count - dataStart))")
            }
            guard end - begin == count * 4 else {
                throw fail("tensor '\(name)' of shape \(shape) needs \(count * 4) bytes but has \(end - begin)")
            }
            var data = [Float](repeating: 0, count: count)
            data.withUnsafeMutableBytes { target in
                target.copyBytes(from: bytes[(dataStart + begin)..<(dataStart + end)])
            }
            if UInt32(littleEndian: 1) != 1 {
                data = data.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
            }
            if let bad = data.firstIndex(where: { !$0.isFinite }) {
                throw fail("tensor '\(name)' holds a non-finite value (\(data[bad])) at element \(bad)")
            }
            tensors[name] = Tensor(shape: shape, data: data)
            ranges.append((begin, end, name))
        }
        ranges.sort { $0.0 < $1.0 }
        for (previous, next) in zip(ranges, ranges.dropFirst()) where next.0 < previous.1 {
            throw fail("tensors '\(previous.2)' and '\(next.2)' overlap")
        }
        self.metadata = metadata
        self.tensors = tensors
    }
}

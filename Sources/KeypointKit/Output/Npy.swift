/// NumPy's .npy format (version 1.0) for float32 tensors: the magic "\u{93}NUMPY", version 1.0, a
/// little-endian 2-byte header length, a Python dict literal header padded with spaces to a
/// multiple of 64 bytes and ending in a newline, then the raw little-endian values, C order.
public enum Npy {
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let shape = tensor.shape.map(String.init).joined(separator: ", ") + (tensor.shape.count == 1 ? "," : "")
        var header = Array("{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape)), }".utf8)
        let prefix = 10
        while (prefix + header.count + 1) % 64 != 0 { header.append(0x20) }
        header.append(0x0A)
        var bytes: [UInt8] =
            [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)]
        bytes += header
        bytes.reserveCapacity(bytes.count + tensor.data.count * 4)
        for value in tensor.data { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        return bytes
    }

    /// Writes `tensor` to `path` atomically.
    public static func write(_ tensor: Tensor, to path: String) throws {
        try writeFileAtomically(encode(tensor), to: path)
    }
}

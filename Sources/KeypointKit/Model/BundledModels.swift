import CBundledModels

extension Model {
    /// The names of the models built into this binary (Models/*.safetensors in the repository).
    public static var bundledNames: [String] {
        var names: [String] = []
        var cursor = kp_bundled_model_names()!
        while let name = cursor.pointee {
            names.append(String(cString: name))
            cursor += 1
        }
        return names
    }

    /// A model built into this binary, by name ("mouse"), or nil when there is none of that name.
    /// - Throws: `ModelError` if the built-in bytes do not load (a build from a broken checkout).
    public static func bundled(_ name: String) throws -> Model? {
        var size = 0
        guard let start = kp_bundled_model(name, &size) else { return nil }
        let bytes = Array(UnsafeBufferPointer(start: start, count: size))
        return try Model(safeTensors: SafeTensors(bytes: bytes, path: "built-in model '\(name)'"), path: name)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Finding images among files: by content (the first bytes), and by name only so that a damaged
/// `.png` or `.jpg` in a folder is reported rather than passed over.
public enum ImageFiles {
    /// The format of the file at `path` from its first bytes, or nil when it is not a readable
    /// PNG or JPEG file.
    public static func sniff(path: String) -> ImageFormat? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        var head = [UInt8](repeating: 0, count: 8)
        let count = head.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, 8) }
        guard count > 0 else { return nil }
        return ImageFormat.sniff(head.prefix(count))
    }

    /// Whether a file found in a folder should be read as an image: its content says PNG or JPEG,
    /// or its name ends in .png, .jpg or .jpeg (any case), so that damaged images get reported.
    /// Other files (notes, label files, videos) are passed over.
    public static func isCandidate(path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let suffix = name.split(separator: ".").last.map { $0.lowercased() } ?? ""
        return name.contains(".") && ["png", "jpg", "jpeg"].contains(suffix) || sniff(path: path) != nil
    }

    /// The files the user named: each folder replaced by the image candidates in it (sorted, see
    /// `listFiles` and `isCandidate`), each other path kept as given, in argument order.
    public static func expand(_ paths: [String], recursive: Bool) throws -> [String] {
        var files: [String] = []
        for path in paths {
            var status = stat()
            if stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
                files += try listFiles(in: path, recursive: recursive).filter(isCandidate)
            } else {
                files.append(path)
            }
        }
        return files
    }

    /// Every file under `directory` (descending into subfolders if `recursive`), sorted by path.
    /// Hidden entries (names starting with ".") are left out.
    public static func listFiles(in directory: String, recursive: Bool) throws -> [String] {
        guard let stream = opendir(directory) else {
            throw ImageError.unreadable(path: directory, reason: String(cString: strerror(errno)))
        }
        defer { closedir(stream) }
        var files: [String] = []
        var subdirectories: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(".") { continue }
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            var status = stat()
            guard stat(path, &status) == 0 else { continue }
            if status.st_mode & S_IFMT == S_IFDIR {
                subdirectories.append(path)
            } else {
                files.append(path)
            }
        }
        if recursive {
            for subdirectory in subdirectories {
                files += try listFiles(in: subdirectory, recursive: true)
            }
        }
        return files.sorted()
    }
}

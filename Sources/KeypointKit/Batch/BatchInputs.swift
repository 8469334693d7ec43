#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a batch run works on: images and videos, from the paths a user gives.
///
/// - A folder contributes its images (PNG or JPEG by content, or any `.png`, `.jpg`, `.jpeg`
///   so a damaged one is reported) and its videos by name: the extensions in `videoExtensions`
///   (any case). Other files are skipped and counted. `recursive` descends into subfolders.
/// - `@list.txt` names one path per line (blank lines and `#` comments left out).
/// - A named file, or a listed one, is an image when it is one by content or name, else a video
///   (by content: FFmpeg reads any container it knows; what it cannot read is reported).
/// Each list is sorted by path, without repeats.
public struct BatchInputs: Equatable, Sendable {
    public var images: [String]
    public var videos: [String]
    /// Files in the folders that are neither.
    public var skipped: Int

    /// The video file names a folder contributes.
    public static let videoExtensions: Set<String> = [
        "mp4", "m4v", "mov", "avi", "mkv", "webm", "mpg", "mpeg", "ts", "mts", "m2ts", "wmv", "flv", "3gp", "ogv",
    ]

    /// Whether a file's name ends in one of `videoExtensions`.
    public static func isVideoName(_ path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return name.contains(".") && videoExtensions.contains(name.split(separator: ".").last!.lowercased())
    }

    /// - Throws: `ImageError.unreadable` for a list file or folder that cannot be read.
    public init(_ paths: [String], recursive: Bool) throws {
        var images: [String] = []
        var videos: [String] = []
        var skipped = 0
        func named(_ path: String) {
            if ImageFiles.isCandidate(path: path) { images.append(path) } else { videos.append(path) }
        }
        for path in paths {
            if path.hasPrefix("@") {
                let list = String(path.dropFirst())
                guard let text = try? String(contentsOfFile: list, encoding: .utf8) else {
                    throw ImageError.unreadable(path: list, reason: "the list file cannot be read")
                }
                text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty && !$0.hasPrefix("#") }.forEach(named)
                continue
            }
            var status = stat()
            guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR else {
                named(path)  // a named file is processed, and reported if it cannot be read
                continue
            }
            for file in try ImageFiles.listFiles(in: path, recursive: recursive) {
                if ImageFiles.isCandidate(path: file) {
                    images.append(file)
                } else if Self.isVideoName(file) {
                    videos.append(file)
                } else {
                    skipped += 1
                }
            }
        }
        func sortedOnce(_ paths: [String]) -> [String] {
            var seen = Set<String>()
            return paths.sorted().filter { seen.insert($0).inserted }
        }
        (self.images, self.videos, self.skipped) = (sortedOnce(images), sortedOnce(videos), skipped)
    }
}

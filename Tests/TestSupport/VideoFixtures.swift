import Foundation

/// Videos made in the test by the ffmpeg command line (Debian's `ffmpeg`), and what that command
/// line decodes from them, for checking our reader frame by frame.
public enum VideoFixtures {
    /// Runs `ffmpeg` (or another tool of the package) with `arguments`; its standard output, or
    /// an error with its standard error.
    public static func run(_ tool: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()  // binary: raw frames
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = try runProcess(tool, arguments).errors  // again, for its message
            throw NSError(
                domain: tool, code: Int(process.terminationStatus), userInfo: [NSLocalizedDescriptionKey: message])
        }
        return data
    }

    /// Writes `frames` frames of ffmpeg's moving test pattern at `size` ("WxH") and `rate` into
    /// `path`, encoded with `options` (codec, container settings, filters).
    @discardableResult
    public static func make(
        _ path: String, frames: Int, size: String = "96x64", rate: Int = 10, options: [String]
    ) throws -> String {
        _ = try run(
            "ffmpeg",
            ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=\(size):rate=\(rate)", "-frames:v", "\(frames)"]
                + options + [path])
        return path
    }

    /// A copy of `path` at `copy` with the container tag rotate=`degrees` (the stream copied, a
    /// display matrix added), as phones write their videos.
    @discardableResult
    public static func rotated(_ path: String, degrees: Int, copy: String) throws -> String {
        _ = try run(
            "ffmpeg", ["-v", "error", "-y", "-i", path, "-c", "copy", "-metadata:s:v:0", "rotate=\(degrees)", copy])
        return copy
    }

    /// Every frame as the ffmpeg command line decodes it: RGB24, each frame once, rotation applied.
    public static func rawFrames(_ path: String) throws -> Data {
        try run(
            "ffmpeg",
            ["-v", "error", "-i", path, "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    }

    /// Each frame's presentation time in seconds from the stream's start, from ffprobe.
    public static func frameTimes(_ path: String) throws -> [Double] {
        let text = String(
            decoding: try run(
                "ffprobe",
                [
                    "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time",
                    "-of", "csv=p=0", path,
                ]), as: UTF8.self)
        let start = String(
            decoding: try run(
                "ffprobe",
                ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=start_time", "-of", "csv=p=0", path]),
            as: UTF8.self)
        let origin = Double(start.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        return text.split(whereSeparator: \.isNewline).compactMap {
            Double($0.trimmingCharacters(in: .whitespaces.union(.init(charactersIn: ",")))).map { $0 - origin }
        }
    }
}

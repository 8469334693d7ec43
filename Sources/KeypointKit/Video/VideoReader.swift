import CVideoShims
import Foundation

/// Why a video could not be read, or stopped being readable. Every case names the file.
public enum VideoError: Error, Equatable, Sendable, CustomStringConvertible {
    case fileNotFound(path: String)
    /// Not a file FFmpeg can read as media (empty, not a container it knows, damaged header).
    case unreadable(path: String, reason: String)
    /// A media file without a video stream (audio only, say).
    case noVideoStream(path: String, reason: String)
    /// No decoder for the video's codec in this FFmpeg build.
    case unsupportedCodec(path: String, reason: String)
    /// Decoding stopped part way (a truncated or damaged file): the frames before `frame` were read.
    case damaged(path: String, frame: Int, reason: String)
    case outOfMemory(path: String)

    public var path: String {
        switch self {
        case .fileNotFound(let path), .unreadable(let path, _), .noVideoStream(let path, _),
            .unsupportedCodec(let path, _), .damaged(let path, _, _), .outOfMemory(let path):
            return path
        }
    }

    public var description: String {
        switch self {
        case .fileNotFound(let path): return "\(path): no such file"
        case .unreadable(let path, let reason): return "\(path): \(reason)"
        case .noVideoStream(let path, let reason): return "\(path): \(reason)"
        case .unsupportedCodec(let path, let reason): return "\(path): \(reason)"
        case .damaged(let path, _, let reason): return "\(path): \(reason)"
        case .outOfMemory(let path): return "\(path): out of memory"
        }
    }
}

/// What a video's container declares, beside its frames.
public struct VideoInfo: Equatable, Sendable {
    /// The size of the frames read (upright).
    public var width: Int
    public var height: Int
    /// The size as coded, before rotation.
    public var storedWidth: Int
    public var storedHeight: Int
    /// Degrees clockwise applied to make the frames upright (0, 90, 180, 270), as ffmpeg does.
    public var rotation: Int
    /// The container's frame count, when it gives one; the frames read may differ.
    public var frameCountHint: Int?
    public var frameRateHint: Double?
    public var durationHint: Double?
    /// FFmpeg's names of the decoder and the container format, e.g. "h264" and "mov,mp4,m4a,3gp,3g2,mj2".
    public var codec: String
    public var container: String
}

/// One frame: its index in presentation order (0, 1, ...), its presentation time in seconds from
/// the video's start (from the timestamps, so right for a variable frame rate; nil when the
/// frame has none), and its pixels.
public struct VideoFrame: Sendable {
    public var index: Int
    public var time: Double?
    public var image: Image
}

/// The frames of a video, in presentation order, each once: what `ffmpeg -i VIDEO -fps_mode
/// passthrough -f rawvideo -pix_fmt rgb24 -` writes, byte for byte (rotation metadata applied,
/// the same colour conversion). Reads as it goes: memory does not grow with the video's length.
/// One instance serves one thread.
public final class VideoReader {
    public let path: String
    public let info: VideoInfo
    private let video: OpaquePointer
    private var done = false

    /// Opens `path` (any container and codec the FFmpeg build reads, recognised by content).
    /// `threads` are the decoder's own threads (1: the caller parallelises over videos).
    /// - Throws: `VideoError` naming the file and the reason.
    public init(contentsOf path: String, threads: Int = 1) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw VideoError.fileNotFound(path: path) }
        var handle: OpaquePointer?
        var details = kp_video_info()
        var message = [CChar](repeating: 0, count: Int(KP_VIDEO_MESSAGE_CAPACITY))
        let status = kp_video_open(path, Int32(threads), &handle, &details, &message)
        guard status == 0, let handle else { throw Self.error(status, path: path, message: message) }
        video = handle
        self.path = path
        info = VideoInfo(
            width: Int(details.width), height: Int(details.height), storedWidth: Int(details.stored_width),
            storedHeight: Int(details.stored_height), rotation: Int(details.rotation),
            frameCountHint: details.frame_count_hint >= 0 ? Int(details.frame_count_hint) : nil,
            frameRateHint: details.frame_rate_hint > 0 ? details.frame_rate_hint : nil,
            durationHint: details.duration_hint >= 0 ? details.duration_hint : nil,
            codec: Self.string(details.codec), container: Self.string(details.container))
    }

    deinit { kp_video_close(video) }

    /// The next frame, or nil after the last.
    /// - Throws: `VideoError.damaged` naming the frame where decoding stopped; the reader is then at its end.
    public func next() throws -> VideoFrame? {
        var pixels = [UInt8](repeating: 0, count: info.width * info.height * 3)
        let frame = try pixels.withUnsafeMutableBufferPointer { try advance(into: $0.baseAddress) }
        guard let (index, time) = frame else { return nil }
        return VideoFrame(
            index: index, time: time, image: Image(width: info.width, height: info.height, pixels: pixels))
    }

    /// Passes over the next frame without converting it; its index and time, or nil after the last.
    public func skip() throws -> (index: Int, time: Double?)? {
        try advance(into: nil)
    }

    /// The next frame's pixels into `pixels` (width * height * 3 bytes; nil: not converted).
    private func advance(into pixels: UnsafeMutablePointer<UInt8>?) throws -> (Int, Double?)? {
        guard !done else { return nil }
        var index: Int64 = 0
        var time: Double = 0
        var message = [CChar](repeating: 0, count: Int(KP_VIDEO_MESSAGE_CAPACITY))
        let status = kp_video_next(video, pixels, &index, &time, &message)
        switch status {
        case Int32(KP_VIDEO_FRAME.rawValue): return (Int(index), time.isNaN ? nil : time)
        case Int32(KP_VIDEO_END.rawValue):
            done = true
            return nil
        default:
            done = status != Int32(KP_VIDEO_ERROR_MEMORY.rawValue)
            throw Self.error(status, path: path, message: message, frame: Int(index))
        }
    }

    private static func error(_ status: Int32, path: String, message: [CChar], frame: Int = 0) -> VideoError {
        let reason = cMessage(message)
        switch status {
        case Int32(KP_VIDEO_ERROR_NO_VIDEO.rawValue): return .noVideoStream(path: path, reason: reason)
        case Int32(KP_VIDEO_ERROR_CODEC.rawValue): return .unsupportedCodec(path: path, reason: reason)
        case Int32(KP_VIDEO_ERROR_DECODE.rawValue): return .damaged(path: path, frame: frame, reason: reason)
        case Int32(KP_VIDEO_ERROR_MEMORY.rawValue): return .outOfMemory(path: path)
        default: return .unreadable(path: path, reason: reason)
        }
    }

    private static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// A keyframe: where reading can start without decoding what comes before.
    public struct Keyframe: Equatable, Sendable {
        /// Its frame index.
        public var index: Int
        /// Its presentation timestamp, in the stream's time base.
        public var timestamp: Int64
    }

    /// The keyframes of the video at `path`, in frame order, and the frame count its packets imply
    /// (found by demuxing every packet, decoding none).
    /// - Throws: `VideoError` when the file cannot be read, or a packet has no timestamp (its
    ///   frames cannot then be found by seeking).
    public static func keyframes(of path: String) throws -> (frames: Int, keyframes: [Keyframe]) {
        var indices: UnsafeMutablePointer<Int64>?
        var timestamps: UnsafeMutablePointer<Int64>?
        var count = 0
        var frames: Int64 = 0
        var message = [CChar](repeating: 0, count: Int(KP_VIDEO_MESSAGE_CAPACITY))
        let status = kp_video_keyframes(path, &indices, &timestamps, &count, &frames, &message)
        defer {
            free(indices)
            free(timestamps)
        }
        guard status == 0 else { throw error(status, path: path, message: message) }
        return (Int(frames), (0..<count).map { Keyframe(index: Int(indices![$0]), timestamp: timestamps![$0]) })
    }

    /// Whether FFmpeg reported an error while reading since the video was opened or last moved to
    /// a keyframe (frames read after a seek may then be wrong).
    public var hasReportedErrors: Bool { kp_video_damaged(video) != 0 }

    /// Moves to `keyframe` (from `keyframes(of:)`): the next frame read is that keyframe, with its
    /// index. Should the seek land elsewhere, the reading after it throws `VideoError.damaged`
    /// ("the seek ... landed on another frame") rather than number frames wrongly.
    public func seek(to keyframe: Keyframe) throws {
        var message = [CChar](repeating: 0, count: Int(KP_VIDEO_MESSAGE_CAPACITY))
        let status = kp_video_seek(video, keyframe.timestamp, Int64(keyframe.index), &message)
        guard status == 0 else { throw Self.error(status, path: path, message: message) }
        done = false
    }
}

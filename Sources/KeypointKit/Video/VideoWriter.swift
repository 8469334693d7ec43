import CVideoShims

/// Writes a video frame by frame (labeled videos): the container from the file name (.mp4, .mkv,
/// .avi, ...), H.264 when the FFmpeg build has an encoder for it, else the container's default
/// codec (`codec` says which). `finish()` completes the file; a writer released without it
/// leaves an unfinished file.
public final class VideoWriter {
    public let path: String
    public let width: Int
    public let height: Int
    /// FFmpeg's name of the encoder, e.g. "libx264" or "mpeg4".
    public let codec: String
    private var writer: OpaquePointer?

    /// - Throws: `VideoError` when the file cannot be written or no encoder fits it.
    public init(path: String, width: Int, height: Int, frameRate: Double?) throws {
        var handle: OpaquePointer?
        var codecName = [CChar](repeating: 0, count: 32)
        var message = [CChar](repeating: 0, count: Int(KP_VIDEO_MESSAGE_CAPACITY))
        let status = kp_video_writer_open(
            path, Int32(width), Int32(height), frameRate ?? 0, &handle, &codecName, &message)
        guard status == 0, let handle else {
            throw status == Int32(KP_VIDEO_ERROR_CODEC.rawValue)
                ? VideoError.unsupportedCodec(path: path, reason: cMessage(message))
                : VideoError.unreadable(path: path, reason: cMessage(message))
        }
        (self.path, self.width, self.height, writer) = (path, width, height, handle)
        codec = cMessage(codecName)
    }

    deinit { kp_video_writer_close(writer, nil) }

    /// Appends `image` (the writer's size), shown at `time` seconds (nil: after the last frame).
    public func write(_ image: Image, time: Double?) throws {
        precondition(image.width == width && image.height == height, "frames must be the writer's size")
        var message = [CChar](repeating: 0, count: Int(KP_VIDEO_MESSAGE_CAPACITY))
        let status = kp_video_writer_write(writer, image.pixels, time ?? .nan, &message)
        guard status == 0 else { throw VideoError.unreadable(path: path, reason: cMessage(message)) }
    }

    /// Flushes the encoder and completes the file.
    public func finish() throws {
        var message = [CChar](repeating: 0, count: Int(KP_VIDEO_MESSAGE_CAPACITY))
        let status = kp_video_writer_close(writer, &message)
        writer = nil
        guard status == 0 else { throw VideoError.unreadable(path: path, reason: cMessage(message)) }
    }
}

// Video decoding and encoding on FFmpeg's libraries (libavformat, libavcodec, libavutil, libswscale).
//
// The only place in the project that calls FFmpeg. Frames come out as the ffmpeg command line
// gives them with `ffmpeg -i VIDEO -fps_mode passthrough -f rawvideo -pix_fmt rgb24 -`: every
// decoded frame once, in presentation order, rotated upright by the container's display matrix,
// converted to 8-bit RGB by libswscale with the command line's settings (bicubic, the frame's
// colour matrix and range). Errors come back as a status and a message, never a crash.

#ifndef KP_VIDEO_H
#define KP_VIDEO_H

#include <stddef.h>
#include <stdint.h>

enum kp_video_status {
    KP_VIDEO_FRAME = 1,          // a frame was decoded
    KP_VIDEO_END = 0,            // no more frames
    KP_VIDEO_ERROR_OPEN = -1,    // not a file FFmpeg can read as media (message says why)
    KP_VIDEO_ERROR_NO_VIDEO = -2,// no video stream (audio only, or an empty container)
    KP_VIDEO_ERROR_CODEC = -3,   // no decoder for the video's codec in this FFmpeg build
    KP_VIDEO_ERROR_DECODE = -4,  // the data stopped decoding (truncated or damaged)
    KP_VIDEO_ERROR_MEMORY = -5,
};

#define KP_VIDEO_MESSAGE_CAPACITY 256

typedef struct {
    int width, height;               // of the frames returned (upright)
    int stored_width, stored_height; // as coded, before rotation
    int rotation;                    // degrees clockwise applied to make the frames upright: 0, 90, 180, 270
    int64_t frame_count_hint;        // the container's declared frame count, or -1 (not trusted)
    double frame_rate_hint;          // the stream's average frame rate, or 0
    double duration_hint;            // seconds, or -1
    char codec[32];                  // e.g. "h264", "mjpeg"
    char container[64];              // e.g. "mov,mp4,m4a,3gp,3g2,mj2", "avi"
} kp_video_info;

typedef struct kp_video kp_video;

// Opens `path` and its best video stream. Returns 0 with `*video` set, or a negative status with
// a message; `*video` is then NULL.
int kp_video_open(const char *path, int threads, kp_video **video, kp_video_info *info,
                  char message[KP_VIDEO_MESSAGE_CAPACITY]);

// Decodes the next frame into `rgb` (info.width * info.height * 3 bytes, rows top to bottom),
// with its index (0, 1, ... in presentation order) and presentation time in seconds from the
// stream's start. Returns KP_VIDEO_FRAME, KP_VIDEO_END, or a negative status with a message
// naming the frame where decoding stopped.
int kp_video_next(kp_video *video, uint8_t *rgb, int64_t *index, double *time,
                  char message[KP_VIDEO_MESSAGE_CAPACITY]);

void kp_video_close(kp_video *video);

// The video's keyframes, for starting part way without decoding what comes before: demuxes every
// packet of the video stream (decoding none) and returns, in frame order, each keyframe's frame
// index (its presentation timestamp's rank among all the stream's packets) and timestamp, and
// the frame count the packets imply. `*indices` and `*timestamps` are malloc'd (free them).
// Returns 0, or a negative status with a message (a packet without a timestamp: no exact index).
int kp_video_keyframes(const char *path, int64_t **indices, int64_t **timestamps, size_t *count, int64_t *frames,
                       char message[KP_VIDEO_MESSAGE_CAPACITY]);

// Whether FFmpeg has reported an error while this video was read (since it was opened or last
// moved to a keyframe): a frame after a seek may then be wrong (a keyframe that is not a clean
// access point, whose followers refer to frames before it).
int kp_video_damaged(const kp_video *video);

// Moves to the keyframe with timestamp `timestamp` (from kp_video_keyframes), whose frame index
// is `index`: the next frame kp_video_next returns is that keyframe, numbered `index`. Returns 0,
// or a negative status with a message (then read from the start instead).
int kp_video_seek(kp_video *video, int64_t timestamp, int64_t index, char message[KP_VIDEO_MESSAGE_CAPACITY]);

// Writing a video (labeled videos), the container from the file name (.mp4, .mkv, .avi, ...),
// H.264 when this FFmpeg build has an encoder for it and the container takes it, else the
// container's default video codec; 4:2:0, an odd last column or row repeated.
typedef struct kp_video_writer kp_video_writer;

// `codec` receives the encoder's name. Returns 0, or a negative status with a message.
int kp_video_writer_open(const char *path, int width, int height, double frame_rate, kp_video_writer **writer,
                         char codec[32], char message[KP_VIDEO_MESSAGE_CAPACITY]);

// Encodes one RGB frame (width * height * 3 bytes) shown at `time` seconds (NAN: after the last).
int kp_video_writer_write(kp_video_writer *writer, const uint8_t *rgb, double time,
                          char message[KP_VIDEO_MESSAGE_CAPACITY]);

// Flushes the encoder, finishes the file and frees the writer; `message` (may be NULL) says why
// when it returns a negative status.
int kp_video_writer_close(kp_video_writer *writer, char message[KP_VIDEO_MESSAGE_CAPACITY]);

#endif

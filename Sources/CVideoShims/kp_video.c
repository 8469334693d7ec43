// Video decoding on FFmpeg's libraries; see kp_video.h.

#include "kp_video.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kp_video {
    AVFormatContext *format;
    AVCodecContext *codec;
    AVPacket *packet;
    AVFrame *frame;
    AVFrame *rotated;          // the decoded frame turned upright (planar 8-bit formats only)
    struct SwsContext *scaler;
    int stream;
    int rotation;
    int width, height;         // upright
    int64_t next_index;
    int draining;              // the demuxer is done; the decoder is being flushed
    int finished;
    int64_t seek_target;       // after a seek: frames before this timestamp are dropped; else INT64_MIN
    int64_t damage_frame;      // the frame being read when FFmpeg first reported an error, or -1
    char damage[KP_VIDEO_MESSAGE_CAPACITY];
};

// FFmpeg reports problems through its log, process-wide, and prints them by default; a library
// must not print. The callback installed here prints nothing and keeps the first error-level
// message of the video the calling thread is working on (a damaged packet the decoder passed
// over, a file that ends in the middle of a frame), so that the video ends with that error.
static _Thread_local kp_video *kp_video_current;
static pthread_once_t kp_video_log_once = PTHREAD_ONCE_INIT;

static void kp_video_log(void *context, int level, const char *format, va_list arguments) {
    (void)context;
    kp_video *v = kp_video_current;
    if (v == NULL || level > AV_LOG_ERROR || v->damage_frame >= 0) return;
    v->damage_frame = v->next_index;
    vsnprintf(v->damage, sizeof v->damage, format, arguments);
    size_t length = strlen(v->damage);
    while (length > 0 && (v->damage[length - 1] == '\n' || v->damage[length - 1] == '.')) v->damage[--length] = 0;
}

static void kp_video_install_log(void) { av_log_set_callback(kp_video_log); }

static void kp_video_say(char message[KP_VIDEO_MESSAGE_CAPACITY], const char *what, int error) {
    char reason[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(error, reason, sizeof reason);
    snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "%s: %s", what, reason);
}

// The clockwise rotation, in degrees, that turns the stored frames upright, as the ffmpeg command
// line applies it by default (its autorotate): the display matrix's angle, negated, to the nearest
// quarter turn; 0 without a display matrix or for an angle that is not a quarter turn.
static int kp_video_rotation(const AVStream *stream) {
    const int32_t *matrix = NULL;
#if LIBAVFORMAT_VERSION_MAJOR >= 61
    const AVPacketSideData *side = av_packet_side_data_get(stream->codecpar->coded_side_data,
                                                           stream->codecpar->nb_coded_side_data,
                                                           AV_PKT_DATA_DISPLAYMATRIX);
    if (side != NULL && side->size >= 9 * sizeof(int32_t)) matrix = (const int32_t *)side->data;
#else
    size_t size = 0;
    matrix = (const int32_t *)av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
    if (size < 9 * sizeof(int32_t)) matrix = NULL;
#endif
    if (matrix == NULL) return 0;
    double theta = -round(av_display_rotation_get(matrix));
    if (isnan(theta)) return 0;
    theta -= 360 * floor(theta / 360 + 0.9 / 360);
    for (int quarter = 90; quarter <= 270; quarter += 90) {
        if (fabs(theta - quarter) < 1.0) return quarter;
    }
    return 0;
}

static int kp_video_open_streams(kp_video *v, const char *path, int threads, kp_video_info *info,
                                 char message[KP_VIDEO_MESSAGE_CAPACITY]);

int kp_video_open(const char *path, int threads, kp_video **video, kp_video_info *info,
                  char message[KP_VIDEO_MESSAGE_CAPACITY]) {
    *video = NULL;
    memset(info, 0, sizeof *info);
    message[0] = 0;
    pthread_once(&kp_video_log_once, kp_video_install_log);
    kp_video *v = av_mallocz(sizeof *v);
    if (v == NULL) {
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "out of memory");
        return KP_VIDEO_ERROR_MEMORY;
    }
    v->damage_frame = -1;
    v->seek_target = INT64_MIN;
    kp_video_current = v;
    int status = kp_video_open_streams(v, path, threads, info, message);
    kp_video_current = NULL;
    if (status < 0) {
        kp_video_close(v);
        return status;
    }
    *video = v;
    return 0;
}

static int kp_video_open_streams(kp_video *v, const char *path, int threads, kp_video_info *info,
                                 char message[KP_VIDEO_MESSAGE_CAPACITY]) {
    int error = avformat_open_input(&v->format, path, NULL, NULL);
    if (error < 0) {
        kp_video_say(message, "not a video FFmpeg can read", error);
        return KP_VIDEO_ERROR_OPEN;
    }
    error = avformat_find_stream_info(v->format, NULL);
    if (error < 0) {
        kp_video_say(message, "the container cannot be read", error);
        return KP_VIDEO_ERROR_OPEN;
    }
    v->stream = av_find_best_stream(v->format, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (v->stream < 0) {
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "no video stream (%u stream(s), none of them video)",
                 v->format->nb_streams);
        return KP_VIDEO_ERROR_NO_VIDEO;
    }
    AVStream *stream = v->format->streams[v->stream];
    const AVCodec *decoder = avcodec_find_decoder(stream->codecpar->codec_id);
    if (decoder == NULL) {
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "no decoder for the video codec '%s' in this FFmpeg build",
                 avcodec_get_name(stream->codecpar->codec_id));
        return KP_VIDEO_ERROR_CODEC;
    }
    v->codec = avcodec_alloc_context3(decoder);
    v->packet = av_packet_alloc();
    v->frame = av_frame_alloc();
    v->rotated = av_frame_alloc();
    if (v->codec == NULL || v->packet == NULL || v->frame == NULL || v->rotated == NULL) {
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "out of memory");
        return KP_VIDEO_ERROR_MEMORY;
    }
    error = avcodec_parameters_to_context(v->codec, stream->codecpar);
    if (error >= 0) {
        v->codec->pkt_timebase = stream->time_base;
        v->codec->thread_count = threads > 0 ? threads : 1;
        error = avcodec_open2(v->codec, decoder, NULL);
    }
    if (error < 0 || v->codec->width <= 0 || v->codec->height <= 0) {
        kp_video_say(message, "the video decoder cannot start", error < 0 ? error : AVERROR_INVALIDDATA);
        return KP_VIDEO_ERROR_CODEC;
    }
    v->rotation = kp_video_rotation(stream);
    int turned = v->rotation == 90 || v->rotation == 270;
    v->width = turned ? v->codec->height : v->codec->width;
    v->height = turned ? v->codec->width : v->codec->height;
    info->width = v->width;
    info->height = v->height;
    info->stored_width = v->codec->width;
    info->stored_height = v->codec->height;
    info->rotation = v->rotation;
    info->frame_count_hint = stream->nb_frames > 0 ? stream->nb_frames : -1;
    info->frame_rate_hint = stream->avg_frame_rate.den > 0 ? av_q2d(stream->avg_frame_rate) : 0;
    info->duration_hint = stream->duration != AV_NOPTS_VALUE ? stream->duration * av_q2d(stream->time_base)
                          : v->format->duration != AV_NOPTS_VALUE ? v->format->duration / (double)AV_TIME_BASE
                                                                    : -1;
    snprintf(info->codec, sizeof info->codec, "%s", decoder->name);
    snprintf(info->container, sizeof info->container, "%s", v->format->iformat->name);
    v->damage_frame = -1;  // what opening logged does not count against the frames
    return 0;
}

// The next decoded frame into v->frame: 1, 0 at the end, or a negative AVERROR.
static int kp_video_decode(kp_video *v) {
    for (;;) {
        int received = avcodec_receive_frame(v->codec, v->frame);
        if (received == 0) return 1;
        if (received == AVERROR_EOF) return 0;
        if (received != AVERROR(EAGAIN)) return received;
        if (v->draining) return 0;
        int read = av_read_frame(v->format, v->packet);
        if (read == AVERROR_EOF) {
            v->draining = 1;
            int flushed = avcodec_send_packet(v->codec, NULL);
            if (flushed < 0 && flushed != AVERROR_EOF) return flushed;
            continue;
        }
        if (read < 0) return read;
        if (v->packet->stream_index != v->stream) {
            av_packet_unref(v->packet);
            continue;
        }
        int sent = avcodec_send_packet(v->codec, v->packet);
        av_packet_unref(v->packet);
        if (sent < 0 && sent != AVERROR(EAGAIN) && v->damage_frame < 0) {  // passed over, remembered
            v->damage_frame = v->next_index;
            av_strerror(sent, v->damage, sizeof v->damage);
        }
    }
}

// `frame` turned `rotation` degrees clockwise into `out`, plane by plane (a planar 8-bit format:
// each plane is rotated at its own size, so chroma stays where it was, as ffmpeg's transpose,
// hflip and vflip filters do). Returns 0, or a negative AVERROR.
static int kp_video_rotate_planes(const AVFrame *frame, int rotation, AVFrame *out) {
    const AVPixFmtDescriptor *format = av_pix_fmt_desc_get(frame->format);
    int turned = rotation == 90 || rotation == 270;
    av_frame_unref(out);
    out->format = frame->format;
    out->width = turned ? frame->height : frame->width;
    out->height = turned ? frame->width : frame->height;
    int error = av_frame_get_buffer(out, 0);
    if (error < 0) return error;
    av_frame_copy_props(out, frame);
    for (int plane = 0; plane < 4 && frame->data[plane] != NULL; plane++) {
        int chroma = plane == 1 || plane == 2;
        int w = chroma ? AV_CEIL_RSHIFT(frame->width, format->log2_chroma_w) : frame->width;
        int h = chroma ? AV_CEIL_RSHIFT(frame->height, format->log2_chroma_h) : frame->height;
        const uint8_t *source = frame->data[plane];
        int source_stride = frame->linesize[plane];
        uint8_t *target = out->data[plane];
        int target_stride = out->linesize[plane];
        for (int y = 0; y < (turned ? w : h); y++) {
            for (int x = 0; x < (turned ? h : w); x++) {
                int sx, sy;  // the source pixel of target (x, y)
                if (rotation == 90) {
                    sx = y, sy = h - 1 - x;
                } else if (rotation == 270) {
                    sx = w - 1 - y, sy = x;
                } else {
                    sx = w - 1 - x, sy = h - 1 - y;
                }
                target[y * target_stride + x] = source[sy * source_stride + sx];
            }
        }
    }
    return 0;
}

// Whether `format` is planar with one byte per sample: what kp_video_rotate_planes can turn.
static int kp_video_planar_bytes(int format) {
    const AVPixFmtDescriptor *d = av_pix_fmt_desc_get(format);
    if (d == NULL || !(d->flags & AV_PIX_FMT_FLAG_PLANAR) || (d->flags & AV_PIX_FMT_FLAG_BITSTREAM)) return 0;
    for (int c = 0; c < d->nb_components; c++) {
        if (d->comp[c].depth > 8 || d->comp[c].step != 1) return 0;
    }
    return 1;
}

// `frame` as 8-bit RGB into `rgb` (width * 3 bytes a row), bicubic as the ffmpeg command line's
// scale filter, with the frame's colour matrix (BT.601 when unspecified) and range.
static int kp_video_convert(kp_video *v, const AVFrame *frame, uint8_t *rgb) {
    v->scaler = sws_getCachedContext(v->scaler, frame->width, frame->height, frame->format, frame->width,
                                     frame->height, AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL, NULL);
    if (v->scaler == NULL) return AVERROR(EINVAL);
    int *inverse, *table, source_full, target_full, brightness, contrast, saturation;
    sws_getColorspaceDetails(v->scaler, &inverse, &source_full, &table, &target_full, &brightness, &contrast,
                             &saturation);
    int colorspace = frame->colorspace >= 1 && frame->colorspace <= 7 ? (int)frame->colorspace : SWS_CS_DEFAULT;
    if (frame->color_range != AVCOL_RANGE_UNSPECIFIED) source_full = frame->color_range == AVCOL_RANGE_JPEG;
    sws_setColorspaceDetails(v->scaler, sws_getCoefficients(colorspace), source_full, table, target_full,
                             brightness, contrast, saturation);
    uint8_t *planes[4] = {rgb, NULL, NULL, NULL};
    int strides[4] = {frame->width * 3, 0, 0, 0};
    int rows = sws_scale(v->scaler, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height, planes,
                         strides);
    return rows == frame->height ? 0 : AVERROR(EINVAL);
}

// Turns a whole RGB image `rotation` degrees clockwise (stored_width x stored_height in, upright out).
static void kp_video_rotate_rgb(const uint8_t *in, int w, int h, int rotation, uint8_t *out) {
    int out_w = rotation == 180 ? w : h;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            int tx, ty;
            if (rotation == 90) {
                tx = h - 1 - y, ty = x;
            } else if (rotation == 270) {
                tx = y, ty = w - 1 - x;
            } else {
                tx = w - 1 - x, ty = h - 1 - y;
            }
            memcpy(out + ((size_t)ty * out_w + tx) * 3, in + ((size_t)y * w + x) * 3, 3);
        }
    }
}

int kp_video_next(kp_video *v, uint8_t *rgb, int64_t *index, double *time,
                  char message[KP_VIDEO_MESSAGE_CAPACITY]) {
    if (v->finished) return KP_VIDEO_END;
    kp_video_current = v;
    int decoded = kp_video_decode(v);
    kp_video_current = NULL;
    if (decoded == 0) {
        v->finished = 1;
        if (v->damage_frame < 0) return KP_VIDEO_END;
        *index = v->damage_frame;
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "damaged data at frame %lld: %s (%lld frames read)",
                 (long long)v->damage_frame, v->damage, (long long)v->next_index);
        return KP_VIDEO_ERROR_DECODE;
    }
    if (decoded < 0) {
        *index = v->next_index;
        char what[96];
        snprintf(what, sizeof what, "decoding stopped at frame %lld", (long long)v->next_index);
        kp_video_say(message, what, decoded);
        v->finished = 1;
        return KP_VIDEO_ERROR_DECODE;
    }
    AVStream *stream = v->format->streams[v->stream];
    int64_t pts = v->frame->best_effort_timestamp;
    if (v->seek_target != INT64_MIN) {  // the frames a seek landed before its keyframe: not ours
        if (pts != AV_NOPTS_VALUE && pts < v->seek_target) {
            av_frame_unref(v->frame);
            return kp_video_next(v, rgb, index, time, message);
        }
        if (pts != v->seek_target) {
            snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "the seek to frame %lld landed on another frame",
                     (long long)v->next_index);
            av_frame_unref(v->frame);
            v->finished = 1;
            return KP_VIDEO_ERROR_DECODE;
        }
        v->seek_target = INT64_MIN;
    }
    int64_t start = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;
    *time = pts != AV_NOPTS_VALUE ? (pts - start) * av_q2d(stream->time_base) : NAN;
    *index = v->next_index++;
    if (rgb == NULL) {
        av_frame_unref(v->frame);
        return KP_VIDEO_FRAME;
    }
    if (v->frame->width != (v->rotation % 180 ? v->height : v->width) ||
        v->frame->height != (v->rotation % 180 ? v->width : v->height)) {
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "frame %lld is %dx%d where the video's frames are %dx%d",
                 (long long)*index, v->frame->width, v->frame->height, v->width, v->height);
        av_frame_unref(v->frame);
        return KP_VIDEO_ERROR_DECODE;
    }
    int error = 0;
    if (v->rotation == 0) {
        error = kp_video_convert(v, v->frame, rgb);
    } else if (kp_video_planar_bytes(v->frame->format)) {
        error = kp_video_rotate_planes(v->frame, v->rotation, v->rotated);
        if (error == 0) error = kp_video_convert(v, v->rotated, rgb);
        av_frame_unref(v->rotated);
    } else {
        uint8_t *stored = av_malloc((size_t)v->frame->width * v->frame->height * 3);
        error = stored == NULL ? AVERROR(ENOMEM) : kp_video_convert(v, v->frame, stored);
        if (error == 0) kp_video_rotate_rgb(stored, v->frame->width, v->frame->height, v->rotation, rgb);
        av_free(stored);
    }
    av_frame_unref(v->frame);
    if (error < 0) {
        char what[96];
        snprintf(what, sizeof what, "frame %lld cannot be converted to RGB", (long long)*index);
        kp_video_say(message, what, error);
        return error == AVERROR(ENOMEM) ? KP_VIDEO_ERROR_MEMORY : KP_VIDEO_ERROR_DECODE;
    }
    return KP_VIDEO_FRAME;
}

void kp_video_close(kp_video *v) {
    if (v == NULL) return;
    sws_freeContext(v->scaler);
    av_frame_free(&v->rotated);
    av_frame_free(&v->frame);
    av_packet_free(&v->packet);
    avcodec_free_context(&v->codec);
    avformat_close_input(&v->format);
    av_free(v);
}

static int kp_video_compare(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int kp_video_keyframes(const char *path, int64_t **indices, int64_t **timestamps, size_t *count, int64_t *frames,
                       char message[KP_VIDEO_MESSAGE_CAPACITY]) {
    *indices = NULL;
    *timestamps = NULL;
    *count = 0;
    *frames = 0;
    AVFormatContext *format = NULL;
    int error = avformat_open_input(&format, path, NULL, NULL);
    if (error >= 0) error = avformat_find_stream_info(format, NULL);
    int stream = error >= 0 ? av_find_best_stream(format, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0) : error;
    if (stream < 0) {
        kp_video_say(message, "not a video FFmpeg can read", stream);
        avformat_close_input(&format);
        return KP_VIDEO_ERROR_OPEN;
    }
    size_t capacity = 1024, total = 0, keys = 0;
    int64_t *all = malloc(capacity * sizeof *all), *key = malloc(capacity * sizeof *key);
    AVPacket *packet = av_packet_alloc();
    int status = all && key && packet ? 0 : KP_VIDEO_ERROR_MEMORY;
    while (status == 0 && av_read_frame(format, packet) >= 0) {
        if (packet->stream_index == stream && !(packet->flags & AV_PKT_FLAG_DISCARD)) {
            if (packet->pts == AV_NOPTS_VALUE) {
                snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "packet %zu has no timestamp: frames cannot be found by seeking",
                         total);
                status = KP_VIDEO_ERROR_DECODE;
            } else {
                if (total == capacity) {
                    capacity *= 2;
                    int64_t *grown = realloc(all, capacity * sizeof *all), *grown_keys = realloc(key, capacity * sizeof *key);
                    if (grown) all = grown;
                    if (grown_keys) key = grown_keys;
                    if (!grown || !grown_keys) status = KP_VIDEO_ERROR_MEMORY;
                }
                if (status == 0) {
                    all[total++] = packet->pts;
                    if (packet->flags & AV_PKT_FLAG_KEY) key[keys++] = packet->pts;
                }
            }
        }
        av_packet_unref(packet);
    }
    av_packet_free(&packet);
    avformat_close_input(&format);
    if (status != 0) {
        if (status == KP_VIDEO_ERROR_MEMORY) snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "out of memory");
        free(all);
        free(key);
        return status;
    }
    qsort(all, total, sizeof *all, kp_video_compare);
    qsort(key, keys, sizeof *key, kp_video_compare);
    int64_t *ranks = malloc((keys ? keys : 1) * sizeof *ranks);
    if (ranks == NULL) {
        free(all);
        free(key);
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "out of memory");
        return KP_VIDEO_ERROR_MEMORY;
    }
    size_t position = 0;
    for (size_t k = 0; k < keys; k++) {  // a keyframe's index: how many frames show before it
        while (position < total && all[position] < key[k]) position++;
        ranks[k] = (int64_t)position;
    }
    free(all);
    *indices = ranks;
    *timestamps = key;
    *count = keys;
    *frames = (int64_t)total;
    return 0;
}

int kp_video_seek(kp_video *v, int64_t timestamp, int64_t index, char message[KP_VIDEO_MESSAGE_CAPACITY]) {
    int error = av_seek_frame(v->format, v->stream, timestamp, AVSEEK_FLAG_BACKWARD);
    if (error < 0) {
        kp_video_say(message, "the video cannot seek", error);
        return KP_VIDEO_ERROR_DECODE;
    }
    avcodec_flush_buffers(v->codec);
    v->damage_frame = -1;
    v->next_index = index;
    v->seek_target = timestamp;
    v->draining = 0;
    v->finished = 0;
    return 0;
}

int kp_video_damaged(const kp_video *v) { return v->damage_frame >= 0; }

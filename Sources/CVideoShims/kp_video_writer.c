// Video encoding on FFmpeg's libraries, for labeled videos; see kp_video.h.

#include "kp_video.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

struct kp_video_writer {
    AVFormatContext *format;
    AVCodecContext *codec;
    AVStream *stream;
    AVFrame *frame;
    AVPacket *packet;
    struct SwsContext *scaler;
    int width, height;       // of the RGB frames given
    int64_t last_pts;
    int header_written;
};

static void kp_writer_say(char message[KP_VIDEO_MESSAGE_CAPACITY], const char *what, int error) {
    char reason[AV_ERROR_MAX_STRING_SIZE] = {0};
    av_strerror(error, reason, sizeof reason);
    snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "%s: %s", what, reason);
}

// H.264 when this build has an encoder for it and the container takes it, else the container's
// own default video codec (MPEG-4 Part 2 for .mp4 and .avi, for instance).
static const AVCodec *kp_writer_encoder(const AVOutputFormat *container) {
    const AVCodec *h264 = avcodec_find_encoder(AV_CODEC_ID_H264);
    if (h264 != NULL && avformat_query_codec(container, AV_CODEC_ID_H264, FF_COMPLIANCE_NORMAL) == 1) return h264;
    return container->video_codec != AV_CODEC_ID_NONE ? avcodec_find_encoder(container->video_codec) : NULL;
}

// Sends `frame` (NULL: flush) to the encoder and writes every packet it gives back.
static int kp_writer_encode(kp_video_writer *w, const AVFrame *frame) {
    int error = avcodec_send_frame(w->codec, frame);
    while (error >= 0) {
        error = avcodec_receive_packet(w->codec, w->packet);
        if (error == AVERROR(EAGAIN) || error == AVERROR_EOF) return 0;
        if (error < 0) return error;
        // A packet without a duration (the encoder's last) would end the track at its start and
        // cut it out of MP4's edit list: it lasts one frame period.
        if (w->packet->duration <= 0) w->packet->duration = av_rescale_q(1, av_inv_q(w->codec->framerate), w->codec->time_base);
        av_packet_rescale_ts(w->packet, w->codec->time_base, w->stream->time_base);
        w->packet->stream_index = w->stream->index;
        error = av_interleaved_write_frame(w->format, w->packet);
    }
    return error;
}

int kp_video_writer_open(const char *path, int width, int height, double frame_rate, kp_video_writer **writer,
                         char codec_name[32], char message[KP_VIDEO_MESSAGE_CAPACITY]) {
    *writer = NULL;
    kp_video_writer *w = av_mallocz(sizeof *w);
    if (w == NULL) {
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "out of memory");
        return KP_VIDEO_ERROR_MEMORY;
    }
    w->width = width;
    w->height = height;
    w->last_pts = -1;
    int error = avformat_alloc_output_context2(&w->format, NULL, NULL, path);
    if (error < 0 || w->format == NULL) {
        kp_writer_say(message, "no container for this file name (use .mp4, .mkv or .avi)", error);
        kp_video_writer_close(w, NULL);
        return KP_VIDEO_ERROR_OPEN;
    }
    const AVCodec *encoder = kp_writer_encoder(w->format->oformat);
    if (encoder == NULL) {
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "this FFmpeg build has no video encoder for %s",
                 w->format->oformat->name);
        kp_video_writer_close(w, NULL);
        return KP_VIDEO_ERROR_CODEC;
    }
    snprintf(codec_name, 32, "%s", encoder->name);
    w->stream = avformat_new_stream(w->format, NULL);
    w->codec = avcodec_alloc_context3(encoder);
    w->frame = av_frame_alloc();
    w->packet = av_packet_alloc();
    if (w->stream == NULL || w->codec == NULL || w->frame == NULL || w->packet == NULL) {
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "out of memory");
        kp_video_writer_close(w, NULL);
        return KP_VIDEO_ERROR_MEMORY;
    }
    // 4:2:0 needs even sides: an odd last column or row is repeated.
    w->codec->width = (width + 1) & ~1;
    w->codec->height = (height + 1) & ~1;
    w->codec->pix_fmt = encoder->id == AV_CODEC_ID_MJPEG ? AV_PIX_FMT_YUVJ420P : AV_PIX_FMT_YUV420P;
    w->codec->time_base = (AVRational){1, 90000};
    w->codec->framerate = av_d2q(frame_rate > 0 ? frame_rate : 30, 100000);
    w->codec->gop_size = 50;
    // No B-frames: their decoding delay makes MP4 muxing shift the first frame out of the edit list.
    w->codec->max_b_frames = 0;
    if (w->format->oformat->flags & AVFMT_GLOBALHEADER) w->codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (encoder->id == AV_CODEC_ID_H264) {
        av_opt_set(w->codec->priv_data, "preset", "veryfast", 0);
        av_opt_set(w->codec->priv_data, "crf", "20", 0);
    } else {
        w->codec->bit_rate = (int64_t)w->codec->width * w->codec->height * 8;
    }
    error = avcodec_open2(w->codec, encoder, NULL);
    if (error >= 0) error = avcodec_parameters_from_context(w->stream->codecpar, w->codec);
    if (error >= 0) {
        w->stream->time_base = w->codec->time_base;
        w->stream->avg_frame_rate = w->codec->framerate;
        if (!(w->format->oformat->flags & AVFMT_NOFILE)) error = avio_open(&w->format->pb, path, AVIO_FLAG_WRITE);
    }
    if (error >= 0) error = avformat_write_header(w->format, NULL);
    if (error < 0) {
        kp_writer_say(message, "the video cannot be written", error);
        kp_video_writer_close(w, NULL);
        return KP_VIDEO_ERROR_OPEN;
    }
    w->header_written = 1;
    w->frame->format = w->codec->pix_fmt;
    w->frame->width = w->codec->width;
    w->frame->height = w->codec->height;
    error = av_frame_get_buffer(w->frame, 0);
    w->scaler = sws_getContext(w->codec->width, w->codec->height, AV_PIX_FMT_RGB24, w->codec->width,
                               w->codec->height, w->codec->pix_fmt, SWS_BICUBIC, NULL, NULL, NULL);
    if (error < 0 || w->scaler == NULL) {
        snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "out of memory");
        kp_video_writer_close(w, NULL);
        return KP_VIDEO_ERROR_MEMORY;
    }
    *writer = w;
    return 0;
}

int kp_video_writer_write(kp_video_writer *w, const uint8_t *rgb, double time,
                          char message[KP_VIDEO_MESSAGE_CAPACITY]) {
    const int even_w = w->codec->width, even_h = w->codec->height;
    uint8_t *padded = NULL;
    const uint8_t *source = rgb;
    if (even_w != w->width || even_h != w->height) {  // repeat the last column and row
        padded = av_malloc((size_t)even_w * even_h * 3);
        if (padded == NULL) {
            snprintf(message, KP_VIDEO_MESSAGE_CAPACITY, "out of memory");
            return KP_VIDEO_ERROR_MEMORY;
        }
        for (int y = 0; y < even_h; y++) {
            const uint8_t *row = rgb + (size_t)(y < w->height ? y : w->height - 1) * w->width * 3;
            memcpy(padded + (size_t)y * even_w * 3, row, (size_t)w->width * 3);
            if (even_w != w->width) memcpy(padded + ((size_t)y * even_w + w->width) * 3, row + (w->width - 1) * 3, 3);
        }
        source = padded;
    }
    int error = av_frame_make_writable(w->frame);
    if (error >= 0) {
        const uint8_t *planes[4] = {source, NULL, NULL, NULL};
        const int strides[4] = {even_w * 3, 0, 0, 0};
        sws_scale(w->scaler, planes, strides, 0, even_h, w->frame->data, w->frame->linesize);
        int64_t pts = isnan(time) ? w->last_pts + 1 : llround(time * 90000);
        w->frame->pts = pts > w->last_pts ? pts : w->last_pts + 1;
        w->last_pts = w->frame->pts;
        error = kp_writer_encode(w, w->frame);
    }
    av_free(padded);
    if (error < 0) {
        kp_writer_say(message, "a frame cannot be encoded", error);
        return KP_VIDEO_ERROR_DECODE;
    }
    return 0;
}

int kp_video_writer_close(kp_video_writer *w, char message[KP_VIDEO_MESSAGE_CAPACITY]) {
    if (w == NULL) return 0;
    int error = 0;
    if (w->header_written) {
        error = kp_writer_encode(w, NULL);
        int trailer = av_write_trailer(w->format);
        if (error >= 0) error = trailer;
    }
    if (error < 0 && message != NULL) kp_writer_say(message, "the video cannot be finished", error);
    sws_freeContext(w->scaler);
    av_frame_free(&w->frame);
    av_packet_free(&w->packet);
    avcodec_free_context(&w->codec);
    if (w->format != NULL && !(w->format->oformat->flags & AVFMT_NOFILE)) avio_closep(&w->format->pb);
    avformat_free_context(w->format);
    av_free(w);
    return error < 0 ? KP_VIDEO_ERROR_OPEN : 0;
}

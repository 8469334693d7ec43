// JPEG decoding and encoding on libjpeg(-turbo).
//
// libjpeg's default error_exit prints and calls exit(); ours formats the message and longjmps
// back here. Warnings (corrupt data libjpeg recovered from, premature end of file) are counted
// and the first one kept, so the caller can refuse the image as damaged. Everything allocated
// hangs off a heap-allocated state so the error path can free it.

#include "kp_codecs.h"
#include "kp_shims_internal.h"

#include <setjmp.h>
#include <stdio.h> // before jpeglib.h, which uses FILE without including it
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

// A progressive file may have any number of scans, each a full pass over the coefficients;
// a damaged or hostile file with thousands of them would take minutes. Real encoders write ~10.
enum { KP_JPEG_MAX_SCANS = 1000 };

typedef struct {
    struct jpeg_error_mgr manager; // first member: libjpeg hands us a pointer to it
    jmp_buf jump;
    char *message;
    int warnings;
    char first_warning[JMSG_LENGTH_MAX];
} jpeg_errors;

struct kp_jpeg_decoder {
    struct jpeg_decompress_struct info;
    struct jpeg_progress_mgr progress;
    jpeg_errors errors;
    int is_cmyk;
    int accept_damaged;
    uint8_t *cmyk_row;
};

static void jpeg_fail(j_common_ptr info) {
    jpeg_errors *errors = (jpeg_errors *)info->err;
    char text[JMSG_LENGTH_MAX];
    info->err->format_message(info, text);
    snprintf(errors->message, KP_MESSAGE_CAPACITY, "%s", text);
    longjmp(errors->jump, 1);
}

// level -1 is a warning about the data; levels 0 and up are trace messages.
static void jpeg_note(j_common_ptr info, int level) {
    if (level >= 0) return;
    jpeg_errors *errors = (jpeg_errors *)info->err;
    if (errors->warnings == 0) info->err->format_message(info, errors->first_warning);
    errors->warnings++;
}

// libjpeg's standard error manager with our error_exit and emit_message, messages to `message`.
static struct jpeg_error_mgr *jpeg_errors_install(jpeg_errors *errors, char *message) {
    struct jpeg_error_mgr *manager = jpeg_std_error(&errors->manager);
    manager->error_exit = jpeg_fail;
    manager->emit_message = jpeg_note;
    errors->message = message;
    return manager;
}

static void jpeg_limit_scans(j_common_ptr info) {
    if (!info->is_decompressor) return;
    j_decompress_ptr decompress = (j_decompress_ptr)info;
    if (decompress->input_scan_number > KP_JPEG_MAX_SCANS) {
        jpeg_errors *errors = (jpeg_errors *)info->err;
        snprintf(errors->message, KP_MESSAGE_CAPACITY, "the file has more than %d scans", KP_JPEG_MAX_SCANS);
        longjmp(errors->jump, 1);
    }
}

static int jpeg_kp_color_type(J_COLOR_SPACE space) {
    switch (space) {
    case JCS_GRAYSCALE: return KP_COLOR_GRAY;
    case JCS_RGB: return KP_COLOR_RGB;
    case JCS_CMYK: return KP_COLOR_CMYK;
    case JCS_YCCK: return KP_COLOR_YCCK;
    default: return KP_COLOR_YCBCR;
    }
}

// round(a * b / 255) for a, b in 0...255, exactly.
static inline unsigned multiply_divide_255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

// CMYK files are stored inverted (the Adobe convention Photoshop writes, and what Pillow and
// OpenCV assume): a stored sample s means ink 255 - s. With k' = 255 - ink_k the stored K:
//   R = k' - round(ink_c * k' / 255), likewise G from M and B from Y.
static void jpeg_cmyk_to_rgb(const uint8_t *restrict cmyk, uint8_t *restrict rgb, size_t count) {
    for (size_t i = 0; i < count; i++) {
        unsigned paper = cmyk[4 * i + 3];
        for (int c = 0; c < 3; c++) {
            unsigned ink = 255u - cmyk[4 * i + c];
            rgb[3 * i + c] = (uint8_t)(paper - multiply_divide_255(ink, paper));
        }
    }
}

static unsigned divide_rounding_up(unsigned value, unsigned divisor) { return (value + divisor - 1) / divisor; }

void kp_jpeg_decoder_close(kp_jpeg_decoder *decoder) {
    if (decoder == NULL) return;
    jpeg_destroy_decompress(&decoder->info);
    free(decoder->cmyk_row);
    free(decoder);
}

kp_jpeg_decoder *kp_jpeg_decoder_open(const uint8_t *data, size_t size, const kp_decode_options *options,
                                      kp_decoded *out, int *status) {
    kp_decoded_begin(out);
    kp_jpeg_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder == NULL) {
        *status = kp_out_of_memory(out->message);
        return NULL;
    }
    struct jpeg_decompress_struct *info = &decoder->info;
    info->err = jpeg_errors_install(&decoder->errors, out->message);
    decoder->accept_damaged = options->accept_damaged;
    if (setjmp(decoder->errors.jump)) {
        *status = KP_ERROR_DECODE;
        kp_jpeg_decoder_close(decoder);
        return NULL;
    }
    jpeg_create_decompress(info);
    decoder->progress.progress_monitor = jpeg_limit_scans;
    info->progress = &decoder->progress;
    jpeg_mem_src(info, data, (unsigned long)size);
    jpeg_read_header(info, TRUE);

    out->stored_width = info->image_width;
    out->stored_height = info->image_height;
    out->bit_depth = info->data_precision;
    out->color_type = jpeg_kp_color_type(info->jpeg_color_space);
    out->interlaced = info->progressive_mode;
    if ((uint64_t)info->image_width * info->image_height > options->max_pixels) {
        snprintf(out->message, KP_MESSAGE_CAPACITY,
                 "the header declares %u x %u pixels, more than the limit of %llu pixels",
                 (unsigned)info->image_width, (unsigned)info->image_height,
                 (unsigned long long)options->max_pixels);
        *status = KP_ERROR_TOO_LARGE;
        kp_jpeg_decoder_close(decoder);
        return NULL;
    }

    // DCT scaling: the smallest 1/d that still covers the requested size.
    if (options->min_width > 0 || options->min_height > 0) {
        for (unsigned denominator = 8; denominator >= 2; denominator /= 2) {
            if (divide_rounding_up(info->image_width, denominator) >= options->min_width &&
                divide_rounding_up(info->image_height, denominator) >= options->min_height) {
                info->scale_num = 1;
                info->scale_denom = denominator;
                out->scale_denominator = (int)denominator;
                break;
            }
        }
    }
    decoder->is_cmyk = info->jpeg_color_space == JCS_CMYK || info->jpeg_color_space == JCS_YCCK;
    info->out_color_space = decoder->is_cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(info);
    out->width = info->output_width;
    out->height = info->output_height;
    if (decoder->is_cmyk) {
        decoder->cmyk_row = malloc((size_t)info->output_width * 4);
        if (decoder->cmyk_row == NULL) {
            *status = kp_out_of_memory(out->message);
            kp_jpeg_decoder_close(decoder);
            return NULL;
        }
    }
    *status = KP_OK;
    return decoder;
}

int kp_jpeg_decoder_read(kp_jpeg_decoder *decoder, uint8_t *rgb, kp_decoded *out) {
    struct jpeg_decompress_struct *info = &decoder->info;
    decoder->errors.message = out->message;
    if (setjmp(decoder->errors.jump)) return KP_ERROR_DECODE;
    size_t row_pixels = info->output_width;
    while (info->output_scanline < info->output_height) {
        uint8_t *row = rgb + (size_t)info->output_scanline * row_pixels * 3;
        if (decoder->is_cmyk) {
            JSAMPROW sample_row = decoder->cmyk_row;
            jpeg_read_scanlines(info, &sample_row, 1);
            jpeg_cmyk_to_rgb(decoder->cmyk_row, row, row_pixels);
        } else {
            // Several rows per call: libjpeg then writes whole MCU rows without an extra copy.
            JSAMPROW rows[16];
            JDIMENSION count = info->output_height - info->output_scanline;
            if (count > 16) count = 16;
            for (JDIMENSION i = 0; i < count; i++) rows[i] = row + (size_t)i * row_pixels * 3;
            jpeg_read_scanlines(info, rows, count);
        }
    }
    jpeg_finish_decompress(info);
    if (decoder->errors.warnings > 0 && !decoder->accept_damaged) {
        snprintf(out->message, KP_MESSAGE_CAPACITY, "%s", decoder->errors.first_warning);
        return KP_ERROR_DAMAGED;
    }
    return KP_OK;
}

typedef struct {
    struct jpeg_compress_struct info;
    jpeg_errors errors;
    unsigned char *bytes; // allocated by libjpeg's memory destination with malloc
    unsigned long size;
} jpeg_encoding;

static J_COLOR_SPACE jpeg_color_space_for(int kp_color_type) {
    switch (kp_color_type) {
    case KP_COLOR_GRAY: return JCS_GRAYSCALE;
    case KP_COLOR_RGB: return JCS_RGB;
    case KP_COLOR_YCBCR: return JCS_YCbCr;
    case KP_COLOR_CMYK: return JCS_CMYK;
    case KP_COLOR_YCCK: return JCS_YCCK;
    default: return JCS_UNKNOWN;
    }
}

int kp_jpeg_encode(const uint8_t *pixels, const kp_jpeg_layout *layout, kp_encoded *out) {
    memset(out, 0, sizeof *out);
    int components = layout->input_color == KP_COLOR_GRAY  ? 1
                     : layout->input_color == KP_COLOR_RGB ? 3
                     : layout->input_color == KP_COLOR_CMYK ? 4
                                                            : 0;
    J_COLOR_SPACE stored = jpeg_color_space_for(layout->stored_color);
    if (components == 0 || stored == JCS_UNKNOWN) {
        snprintf(out->message, KP_MESSAGE_CAPACITY, "unsupported JPEG colour combination %d -> %d",
                 layout->input_color, layout->stored_color);
        return KP_ERROR_ENCODE;
    }
    jpeg_encoding *state = calloc(1, sizeof *state);
    if (state == NULL) {
        return kp_out_of_memory(out->message);
    }
    struct jpeg_compress_struct *info = &state->info;
    info->err = jpeg_errors_install(&state->errors, out->message);

    int status = KP_OK;
    if (setjmp(state->errors.jump)) {
        status = KP_ERROR_ENCODE;
        goto finish;
    }
    jpeg_create_compress(info);
    jpeg_mem_dest(info, &state->bytes, &state->size);
    info->image_width = layout->width;
    info->image_height = layout->height;
    info->input_components = components;
    info->in_color_space = jpeg_color_space_for(layout->input_color);
    jpeg_set_defaults(info);
    jpeg_set_colorspace(info, stored);
    jpeg_set_quality(info, layout->quality, TRUE);
    if (layout->progressive) jpeg_simple_progression(info);
    info->restart_in_rows = layout->restart_rows;
    jpeg_start_compress(info, TRUE);
    if (layout->exif != NULL && layout->exif_size > 0) {
        jpeg_write_marker(info, JPEG_APP0 + 1, layout->exif, (unsigned)layout->exif_size);
    }
    size_t stride = (size_t)layout->width * components;
    while (info->next_scanline < info->image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)info->next_scanline * stride);
        jpeg_write_scanlines(info, &row, 1);
    }
    jpeg_finish_compress(info);

finish:
    jpeg_destroy_compress(info);
    if (status == KP_OK) {
        out->bytes = state->bytes;
        out->size = state->size;
        out->capacity = state->size;
    } else {
        free(state->bytes);
    }
    free(state);
    return status;
}

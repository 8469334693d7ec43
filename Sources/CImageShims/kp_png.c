// PNG decoding and encoding on libpng's full API.
//
// libpng reports a fatal error by calling our error function and then longjmp-ing to the
// jmp_buf set here. Our error function never returns (it longjmps itself) so libpng's default
// handler, which prints to stderr, never runs. Everything allocated during a decode hangs off a
// heap-allocated state whose pointer is not modified after setjmp, so the error path can free it.

#include "kp_codecs.h"
#include "kp_shims_internal.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kp_png_decoder {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t size;
    size_t position;
    char *message;        // the caller's message buffer during each call
    png_bytep rgba;       // RGBA rows waiting to be composited onto the background
    png_bytep *rows;
    int channels;         // 3 (RGB) or 4 (RGBA) once the transformations are set up
    int passes;           // 7 for Adam7, else 1
    int accept_damaged;
    uint8_t background[3];
    int out_of_memory;
    int image_complete;   // every row has been decoded; an error now is in the trailing chunks
};

static void png_fail(png_structp png, png_const_charp message) {
    kp_png_decoder *decoder = png_get_error_ptr(png);
    snprintf(decoder->message, KP_MESSAGE_CAPACITY, "%s", message);
    png_longjmp(png, 1);
}

static void png_ignore_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

static void png_read_from_memory(png_structp png, png_bytep destination, size_t count) {
    kp_png_decoder *decoder = png_get_io_ptr(png);
    if (count > decoder->size - decoder->position) {
        png_error(png, "the file ends before the image is complete (truncated)");
    }
    memcpy(destination, decoder->data + decoder->position, count);
    decoder->position += count;
}

static int png_kp_color_type(int png_color_type) {
    switch (png_color_type) {
    case PNG_COLOR_TYPE_GRAY: return KP_COLOR_GRAY;
    case PNG_COLOR_TYPE_GRAY_ALPHA: return KP_COLOR_GRAY_ALPHA;
    case PNG_COLOR_TYPE_PALETTE: return KP_COLOR_PALETTE;
    case PNG_COLOR_TYPE_RGB_ALPHA: return KP_COLOR_RGBA;
    default: return KP_COLOR_RGB;
    }
}

// Composite 8-bit RGBA onto an opaque background into packed RGB:
//   out = (c * a + background * (255 - a) + 127) / 255    (integer division: rounds to nearest)
static void png_composite_row(const png_byte *restrict rgba, uint8_t *restrict rgb, size_t count,
                              const uint8_t background[3]) {
    for (size_t i = 0; i < count; i++) {
        unsigned alpha = rgba[4 * i + 3];
        for (int c = 0; c < 3; c++) {
            rgb[3 * i + c] = (uint8_t)((rgba[4 * i + c] * alpha + background[c] * (255 - alpha) + 127) / 255);
        }
    }
}

void kp_png_decoder_close(kp_png_decoder *decoder) {
    if (decoder == NULL) return;
    png_destroy_read_struct(&decoder->png, &decoder->info, NULL);
    free(decoder->rows);
    free(decoder->rgba);
    free(decoder);
}

kp_png_decoder *kp_png_decoder_open(const uint8_t *data, size_t size, const kp_decode_options *options,
                                    kp_decoded *out, int *status) {
    kp_decoded_begin(out);
    kp_png_decoder *decoder = calloc(1, sizeof *decoder);
    if (decoder != NULL) {
        decoder->data = data;
        decoder->size = size;
        decoder->message = out->message;
        decoder->accept_damaged = options->accept_damaged;
        memcpy(decoder->background, options->background, 3);
        decoder->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, decoder, png_fail, png_ignore_warning);
        decoder->info = decoder->png ? png_create_info_struct(decoder->png) : NULL;
    }
    if (decoder == NULL || decoder->info == NULL) {
        kp_png_decoder_close(decoder);
        *status = kp_out_of_memory(out->message);
        return NULL;
    }
    // IHDR is always the first chunk; check its size now, so that a file declaring a huge image
    // is refused as such even when the rest of it is missing.
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint64_t width = (uint64_t)data[16] << 24 | data[17] << 16 | data[18] << 8 | data[19];
        uint64_t height = (uint64_t)data[20] << 24 | data[21] << 16 | data[22] << 8 | data[23];
        if (width * height > options->max_pixels) {
            out->stored_width = (uint32_t)width;
            out->stored_height = (uint32_t)height;
            snprintf(out->message, KP_MESSAGE_CAPACITY, "the header declares too many pixels");
            *status = KP_ERROR_TOO_LARGE;
            kp_png_decoder_close(decoder);
            return NULL;
        }
    }
    png_structp png = decoder->png;
    png_infop info = decoder->info;
    if (setjmp(png_jmpbuf(png))) {
        *status = KP_ERROR_DECODE;
        kp_png_decoder_close(decoder);
        return NULL;
    }
    png_set_read_fn(png, decoder, png_read_from_memory);
    // Every chunk's CRC is checked, IDAT included; zlib's Adler-32 over the same bytes would be a
    // second, redundant checksum (about 5% of the decode time), so it is skipped.
#ifdef PNG_IGNORE_ADLER32
    png_set_option(png, PNG_IGNORE_ADLER32, PNG_OPTION_ON);
#endif
    png_read_info(png, info);

    png_uint_32 width, height;
    int bit_depth, color_type, interlace;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    int has_transparency = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    out->stored_width = width;
    out->stored_height = height;
    out->width = width;
    out->height = height;
    out->bit_depth = bit_depth;
    out->color_type = png_kp_color_type(color_type);
    out->interlaced = interlace != PNG_INTERLACE_NONE;
    out->has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0 || has_transparency;
    if ((uint64_t)width * height > options->max_pixels) {
        snprintf(out->message, KP_MESSAGE_CAPACITY,
                 "the header declares %u x %u pixels, more than the limit of %llu pixels",
                 (unsigned)width, (unsigned)height, (unsigned long long)options->max_pixels);
        *status = KP_ERROR_TOO_LARGE;
        kp_png_decoder_close(decoder);
        return NULL;
    }

    // Everything becomes 8-bit RGB or RGBA.
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (has_transparency) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_scale_16(png); // v8 = (v16 * 255 + 32767) / 65535: rounds, not truncates
    if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
    decoder->passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    decoder->channels = png_get_channels(png, info);
    *status = KP_OK;
    return decoder;
}

int kp_png_decoder_read(kp_png_decoder *decoder, uint8_t *rgb, kp_decoded *out) {
    decoder->message = out->message;
    png_structp png = decoder->png;
    size_t width = out->width;
    size_t height = out->height;
    if (setjmp(png_jmpbuf(png))) {
        if (decoder->out_of_memory) return KP_ERROR_NO_MEMORY;
        if (!decoder->image_complete) return KP_ERROR_DECODE;
        if (decoder->accept_damaged) {
            out->message[0] = 0;
            return KP_OK;
        }
        return KP_ERROR_DAMAGED;
    }
    if (decoder->channels == 3 && decoder->passes == 1) {
        for (size_t y = 0; y < height; y++) png_read_row(png, rgb + y * width * 3, NULL);
    } else if (decoder->channels == 3) {
        decoder->rows = malloc(sizeof(png_bytep) * height);
        if (decoder->rows == NULL) {
            decoder->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        for (size_t y = 0; y < height; y++) decoder->rows[y] = rgb + y * width * 3;
        png_read_image(png, decoder->rows);
    } else {
        // Interlaced rows are filled in over seven passes, so all of them must be kept.
        size_t kept_rows = decoder->passes == 1 ? 1 : height;
        decoder->rgba = malloc(width * 4 * kept_rows);
        if (decoder->rgba == NULL) {
            decoder->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        if (decoder->passes == 1) {
            for (size_t y = 0; y < height; y++) {
                png_read_row(png, decoder->rgba, NULL);
                png_composite_row(decoder->rgba, rgb + y * width * 3, width, decoder->background);
            }
        } else {
            decoder->rows = malloc(sizeof(png_bytep) * height);
            if (decoder->rows == NULL) {
                decoder->out_of_memory = 1;
                png_error(png, "out of memory");
            }
            for (size_t y = 0; y < height; y++) decoder->rows[y] = decoder->rgba + y * width * 4;
            png_read_image(png, decoder->rows);
            for (size_t y = 0; y < height; y++) {
                png_composite_row(decoder->rows[y], rgb + y * width * 3, width, decoder->background);
            }
        }
    }
    decoder->image_complete = 1;
    png_read_end(png, NULL);
    return KP_OK;
}

typedef struct {
    kp_encoded *out;
    int out_of_memory;
} png_encoding;

static void png_fail_encoding(png_structp png, png_const_charp message) {
    png_encoding *state = png_get_error_ptr(png);
    snprintf(state->out->message, KP_MESSAGE_CAPACITY, "%s", message);
    png_longjmp(png, 1);
}

static void png_write_to_memory(png_structp png, png_bytep bytes, size_t count) {
    png_encoding *state = png_get_io_ptr(png);
    kp_encoded *out = state->out;
    if (count > out->capacity - out->size) {
        size_t capacity = out->capacity ? out->capacity : 65536;
        while (count > capacity - out->size) capacity *= 2;
        uint8_t *grown = realloc(out->bytes, capacity);
        if (grown == NULL) {
            state->out_of_memory = 1;
            png_error(png, "out of memory");
        }
        out->bytes = grown;
        out->capacity = capacity;
    }
    memcpy(out->bytes + out->size, bytes, count);
    out->size += count;
}

static void png_flush_nothing(png_structp png) { (void)png; }

static int png_color_type_for(int kp_color_type) {
    switch (kp_color_type) {
    case KP_COLOR_GRAY: return PNG_COLOR_TYPE_GRAY;
    case KP_COLOR_GRAY_ALPHA: return PNG_COLOR_TYPE_GRAY_ALPHA;
    case KP_COLOR_RGB: return PNG_COLOR_TYPE_RGB;
    case KP_COLOR_RGBA: return PNG_COLOR_TYPE_RGB_ALPHA;
    case KP_COLOR_PALETTE: return PNG_COLOR_TYPE_PALETTE;
    default: return -1;
    }
}

int kp_png_encode(const uint8_t *rows, size_t row_bytes, const kp_png_layout *layout, kp_encoded *out) {
    memset(out, 0, sizeof *out);
    int color_type = png_color_type_for(layout->color_type);
    if (color_type < 0) {
        snprintf(out->message, KP_MESSAGE_CAPACITY, "PNG cannot store colour type %d", layout->color_type);
        return KP_ERROR_ENCODE;
    }
    png_encoding *state = calloc(1, sizeof *state);
    png_bytep *row_pointers = calloc(layout->height ? layout->height : 1, sizeof(png_bytep));
    png_structp png = NULL;
    png_infop info = NULL;
    if (state != NULL && row_pointers != NULL) {
        state->out = out;
        png = png_create_write_struct(PNG_LIBPNG_VER_STRING, state, png_fail_encoding, png_ignore_warning);
        info = png ? png_create_info_struct(png) : NULL;
    }
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        free(row_pointers);
        free(state);
        return kp_out_of_memory(out->message);
    }

    int status = KP_OK;
    if (setjmp(png_jmpbuf(png))) {
        status = state->out_of_memory ? KP_ERROR_NO_MEMORY : KP_ERROR_ENCODE;
        goto finish;
    }
    png_set_write_fn(png, state, png_write_to_memory, png_flush_nothing);
    if (layout->compression_level >= 0) png_set_compression_level(png, layout->compression_level);
    png_set_IHDR(png, info, layout->width, layout->height, layout->bit_depth, color_type,
                 layout->interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (layout->palette_size > 0) {
        png_color palette[256];
        int count = layout->palette_size > 256 ? 256 : layout->palette_size;
        for (int i = 0; i < count; i++) {
            palette[i].red = layout->palette[3 * i];
            palette[i].green = layout->palette[3 * i + 1];
            palette[i].blue = layout->palette[3 * i + 2];
        }
        png_set_PLTE(png, info, palette, count);
    }
    if (layout->alpha_size > 0) {
        png_set_tRNS(png, info, layout->palette_alpha, layout->alpha_size, NULL);
    } else if (layout->has_transparent_color) {
        png_color_16 key = {0};
        key.gray = layout->transparent_color[0];
        key.red = layout->transparent_color[0];
        key.green = layout->transparent_color[1];
        key.blue = layout->transparent_color[2];
        png_set_tRNS(png, info, NULL, 0, &key);
    }
    if (layout->exif != NULL && layout->exif_size > 0) {
        png_set_eXIf_1(png, info, (png_uint_32)layout->exif_size, (png_bytep)layout->exif);
    }
    png_write_info(png, info);
    for (uint32_t y = 0; y < layout->height; y++) row_pointers[y] = (png_bytep)rows + y * row_bytes;
    png_write_image(png, row_pointers);
    png_write_end(png, info);

finish:
    png_destroy_write_struct(&png, &info);
    free(row_pointers);
    free(state);
    if (status != KP_OK) {
        free(out->bytes);
        out->bytes = NULL;
        out->size = 0;
    }
    return status;
}

void kp_free(void *pointer) { free(pointer); }

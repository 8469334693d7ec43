// PNG and JPEG coding on libpng and libjpeg(-turbo).
//
// This target is the only place in the project where setjmp/longjmp exist: both libraries report
// fatal errors by longjmp, which Swift cannot survive. Every function here catches those errors,
// frees what it allocated and returns a status with a message instead.
//
// Pixels are interleaved 8-bit samples, rows top to bottom, no padding between rows.

#ifndef KP_CODECS_H
#define KP_CODECS_H

#include <stddef.h>
#include <stdint.h>

enum kp_status {
    KP_OK = 0,
    KP_ERROR_DECODE = 1,    // the data is not a valid image (libpng/libjpeg error)
    KP_ERROR_DAMAGED = 2,   // the decoder recovered from damaged data (libjpeg warning)
    KP_ERROR_TOO_LARGE = 3, // the header declares more pixels than allowed
    KP_ERROR_NO_MEMORY = 4,
    KP_ERROR_ENCODE = 5,
};

enum kp_color_type {
    KP_COLOR_GRAY = 0,
    KP_COLOR_GRAY_ALPHA = 1,
    KP_COLOR_RGB = 2,
    KP_COLOR_RGBA = 3,
    KP_COLOR_PALETTE = 4,
    KP_COLOR_YCBCR = 5,
    KP_COLOR_CMYK = 6,
    KP_COLOR_YCCK = 7,
};

#define KP_MESSAGE_CAPACITY 256

typedef struct {
    uint64_t max_pixels;     // refuse images whose header declares more pixels than this
    uint32_t min_width;      // JPEG only: decode at 1/2, 1/4 or 1/8 size while the result
    uint32_t min_height;     //   still has at least this many columns and rows (0 = full size)
    int accept_damaged;      // JPEG only: return the image even when libjpeg warned about the data
    uint8_t background[3];   // colour that transparent pixels are composited onto
} kp_decode_options;

typedef struct {
    uint32_t width;          // size of the decoded pixels (after any reduced-size decode)
    uint32_t height;
    uint32_t stored_width;   // size declared by the file
    uint32_t stored_height;
    int color_type;          // enum kp_color_type, as stored in the file
    int bit_depth;           // bits per sample as stored
    int interlaced;          // PNG Adam7, or JPEG progressive
    int has_alpha;           // PNG alpha channel or tRNS chunk
    int scale_denominator;   // 1, 2, 4 or 8
    char message[KP_MESSAGE_CAPACITY]; // reason when a status is not KP_OK
} kp_decoded;

// Decoding takes two calls so that the pixels land straight in memory the caller owns:
//   1. kp_*_decoder_open reads the header, checks the limits and fills `info` (the output size
//      among it); it returns NULL with `*status` set when the file cannot be decoded.
//   2. kp_*_decoder_read decodes 8-bit RGB rows into `rgb` (info->width * info->height * 3 bytes).
// kp_*_decoder_close frees the decoder, whether or not it was read. `data` must outlive the decoder.
typedef struct kp_png_decoder kp_png_decoder;
typedef struct kp_jpeg_decoder kp_jpeg_decoder;

kp_png_decoder *kp_png_decoder_open(const uint8_t *data, size_t size, const kp_decode_options *options,
                                    kp_decoded *info, int *status);
int kp_png_decoder_read(kp_png_decoder *decoder, uint8_t *rgb, kp_decoded *info);
void kp_png_decoder_close(kp_png_decoder *decoder);

kp_jpeg_decoder *kp_jpeg_decoder_open(const uint8_t *data, size_t size, const kp_decode_options *options,
                                      kp_decoded *info, int *status);
int kp_jpeg_decoder_read(kp_jpeg_decoder *decoder, uint8_t *rgb, kp_decoded *info);
void kp_jpeg_decoder_close(kp_jpeg_decoder *decoder);

typedef struct {
    uint8_t *bytes; // malloc'd; release with kp_free
    size_t size;
    size_t capacity;
    char message[KP_MESSAGE_CAPACITY];
} kp_encoded;

// What a PNG encoder writes: any colour type and bit depth PNG allows.
// `rows` holds packed scanlines exactly as PNG stores them (16-bit samples big-endian,
// sub-byte samples packed most significant bits first), `row_bytes` apart.
typedef struct {
    uint32_t width;
    uint32_t height;
    int color_type;            // KP_COLOR_GRAY, _GRAY_ALPHA, _RGB, _RGBA or _PALETTE
    int bit_depth;             // 1, 2, 4, 8 or 16 (as PNG allows for the colour type)
    int interlaced;            // write Adam7
    int compression_level;     // zlib level 0-9, or -1 for libpng's default
    const uint8_t *palette;    // palette_size RGB triples
    int palette_size;
    const uint8_t *palette_alpha; // tRNS for palette images: alpha_size entries
    int alpha_size;
    int has_transparent_color; // tRNS for gray/RGB images
    uint16_t transparent_color[3];
    const uint8_t *exif;       // eXIf chunk payload (TIFF header onwards), or NULL
    size_t exif_size;
} kp_png_layout;

int kp_png_encode(const uint8_t *rows, size_t row_bytes, const kp_png_layout *layout, kp_encoded *out);

typedef struct {
    uint32_t width;
    uint32_t height;
    int input_color;      // KP_COLOR_GRAY (1 sample), KP_COLOR_RGB (3) or KP_COLOR_CMYK (4)
    int stored_color;     // colour space in the file: GRAY, YCBCR, RGB, CMYK or YCCK
    int quality;          // 1-100
    int progressive;
    int restart_rows;     // restart marker every this many MCU rows (0 = none)
    const uint8_t *exif;  // APP1 payload after "Exif\0\0" is included by the caller, or NULL
    size_t exif_size;
} kp_jpeg_layout;

int kp_jpeg_encode(const uint8_t *pixels, const kp_jpeg_layout *layout, kp_encoded *out);

void kp_free(void *pointer);

#endif

// Decodes valid PNG/JPEG files and damaged copies of them (20 truncations, 200 single-bit flips
// each, seeded) through the C decoders, built with AddressSanitizer and UBSan by
// Scripts/check-decoder-memory.sh. ASan's leak check at exit fails the run if any decode that
// failed half way left memory behind; any out-of-bounds access or undefined behaviour aborts it.
//
// Usage: damaged_files FILE...     prints one summary line per file.

#include "kp_codecs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t random_state = 1;

static uint64_t next_random(void) { // SplitMix64
    uint64_t z = (random_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// 1 when the bytes decoded, 0 when the decoder refused them.
static int decode(const uint8_t *data, size_t size) {
    kp_decode_options options = {.max_pixels = 1u << 27, .background = {255, 255, 255}};
    kp_decoded info;
    int status = KP_OK;
    int is_png = size >= 8 && data[0] == 0x89;
    void *decoder = is_png ? (void *)kp_png_decoder_open(data, size, &options, &info, &status)
                           : (void *)kp_jpeg_decoder_open(data, size, &options, &info, &status);
    if (decoder == NULL) return 0;
    uint8_t *rgb = malloc((size_t)info.width * info.height * 3);
    status = is_png ? kp_png_decoder_read(decoder, rgb, &info) : kp_jpeg_decoder_read(decoder, rgb, &info);
    if (is_png) {
        kp_png_decoder_close(decoder);
    } else {
        kp_jpeg_decoder_close(decoder);
    }
    free(rgb);
    return status == KP_OK;
}

int main(int argc, char **argv) {
    for (int argument = 1; argument < argc; argument++) {
        FILE *file = fopen(argv[argument], "rb");
        if (file == NULL) {
            fprintf(stderr, "cannot open %s\n", argv[argument]);
            return 2;
        }
        fseek(file, 0, SEEK_END);
        size_t size = (size_t)ftell(file);
        fseek(file, 0, SEEK_SET);
        uint8_t *original = malloc(size);
        uint8_t *copy = malloc(size);
        if (fread(original, 1, size, file) != size) return 2;
        fclose(file);
        if (!decode(original, size)) {
            fprintf(stderr, "%s: the undamaged file does not decode\n", argv[argument]);
            return 1;
        }
        int truncated_decoded = 0;
        for (int step = 0; step < 20; step++) {
            size_t length = 1 + (size - 2) * (size_t)step / 19;
            memcpy(copy, original, length);
            truncated_decoded += decode(copy, length);
        }
        int flipped_decoded = 0;
        for (int flip = 0; flip < 200; flip++) {
            memcpy(copy, original, size);
            copy[next_random() % size] ^= (uint8_t)(1u << (next_random() % 8));
            flipped_decoded += decode(copy, size);
        }
        printf("%s: %zu bytes; truncated copies decoded %d of 20, bit-flipped copies decoded %d of 200\n",
               argv[argument], size, truncated_decoded, flipped_decoded);
        if (truncated_decoded > 0) {
            fprintf(stderr, "%s: a truncated copy decoded without being reported as damaged\n", argv[argument]);
            return 1;
        }
        free(original);
        free(copy);
    }
    return 0;
}

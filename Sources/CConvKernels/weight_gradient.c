// The weight gradient of a convolution for training, over a whole batch, on the GEMM microkernels
// without an im2col matrix.
//
//   dW[o][c][ky][kx] = sum over n, oy, ox of dY[n][o][oy][ox] x[n][c][oy s - p + ky d][ox s - p + kx d]
//
// For one tap (ky, kx) this is a GEMM, Out x In = (Out x K) (K x In) with K = batch * pixels:
// A = dY, packed once for all taps, and B's row for output pixel (n, oy, ox) is input pixel
// (n, oy s - p + ky d, ox s - p + kx d) with its In channel values side by side. Stored
// channels-last with a zero border of the padding, every such row is a contiguous run in place,
// so B goes to the microkernels as row pointers, as in the indirect convolution. The taps'
// products go into a [tap][out][in] buffer, rearranged into OIHW at the end.

#include "kp_conv_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const kp_isa_kernels *kernels;
    const kp_conv_shape *shape;
    int batch, height, width, out_height, out_width, padded_height, padded_width;
    size_t pixels, k, taps, band_panels, bands;
    const float *x, *dy;
    float *channels_last; // [n][padded y][padded x][in]
    float *packed;        // dY, kp_pack_a layout: Out rows, K = batch * pixels
    const float **rows;   // [tap][K]
    float *products;      // [tap][out][in]
    float *scratch;       // per thread
    size_t scratch_floats;
} kp_weight_gradient_job;

// Row y of image n into channels-last order (the zero border is already there).
static void kp_channels_last_item(void *context, size_t item, int thread) {
    (void)thread;
    const kp_weight_gradient_job *job = context;
    const size_t n = item / (size_t)job->height, y = item % (size_t)job->height;
    const size_t in = (size_t)job->shape->in_channels;
    float *row = job->channels_last +
                 ((n * (size_t)job->padded_height + y + (size_t)job->shape->pad_h) * (size_t)job->padded_width +
                  (size_t)job->shape->pad_w) * in;
    for (size_t c = 0; c < in; c++) {
        const float *source = job->x + ((n * in + c) * (size_t)job->height + y) * (size_t)job->width;
        for (size_t xx = 0; xx < (size_t)job->width; xx++) row[xx * in + c] = source[xx];
    }
}

// One MR-row panel of A = dY (Out x K): out[i * mr + r] = dY[n][panel mr + r][pixel], i = n pixels + pixel.
static void kp_pack_gradient_item(void *context, size_t panel, int thread) {
    (void)thread;
    const kp_weight_gradient_job *job = context;
    const size_t mr = (size_t)job->kernels->mr, out = (size_t)job->shape->out_channels;
    float *target = job->packed + panel * job->k * mr;
    for (size_t r = 0; r < mr; r++) {
        const size_t o = panel * mr + r;
        for (size_t n = 0; n < (size_t)job->batch; n++) {
            const float *source = job->dy + (n * out + o) * job->pixels;
            float *column = target + n * job->pixels * mr + r;
            for (size_t p = 0; p < job->pixels; p++) column[p * mr] = o < out ? source[p] : 0;
        }
    }
}

// B's K row pointers for one tap.
static void kp_tap_rows_item(void *context, size_t tap, int thread) {
    (void)thread;
    const kp_weight_gradient_job *job = context;
    const kp_conv_shape *s = job->shape;
    const size_t ky = tap / (size_t)s->kernel_w, kx = tap % (size_t)s->kernel_w;
    const size_t in = (size_t)s->in_channels;
    const float **rows = job->rows + tap * job->k;
    for (size_t n = 0; n < (size_t)job->batch; n++) {
        for (size_t oy = 0; oy < (size_t)job->out_height; oy++) {
            const size_t y = oy * (size_t)s->stride_h + ky * (size_t)s->dilation_h; // in padded rows
            for (size_t ox = 0; ox < (size_t)job->out_width; ox++) {
                const size_t xx = ox * (size_t)s->stride_w + kx * (size_t)s->dilation_w;
                *rows++ = job->channels_last + ((n * (size_t)job->padded_height + y) * (size_t)job->padded_width + xx) * in;
            }
        }
    }
}

// One tap's product for one band of A's panels (all In columns).
static void kp_tap_product_item(void *context, size_t item, int thread) {
    const kp_weight_gradient_job *job = context;
    const size_t mr = (size_t)job->kernels->mr;
    const size_t out = (size_t)job->shape->out_channels, in = (size_t)job->shape->in_channels;
    const size_t tap = item / job->bands;
    const size_t first_row = item % job->bands * job->band_panels * mr;
    const size_t rows_here = out - first_row < job->band_panels * mr ? out - first_row : job->band_panels * mr;
    kp_gemm(job->kernels, rows_here, in, job->k, job->packed + first_row * job->k, job->rows + tap * job->k,
            job->products + (tap * out + first_row) * in, in, NULL, NULL, KP_ACTIVATION_NONE, 0,
            job->scratch + (size_t)thread * job->scratch_floats);
}

int kp_conv_weight_gradient(kp_isa isa, const kp_conv_shape *shape, int batch, int height, int width,
                            const float *x, const float *dy, float *dw, kp_threadpool *pool) {
    const kp_isa_kernels *kernels = kp_kernels_for(isa);
    if (kernels == NULL) kernels = kp_kernels_for(KP_ISA_SCALAR);
    if (shape->groups != 1 || batch < 1) return -1;
    kp_weight_gradient_job job = {.kernels = kernels, .shape = shape, .batch = batch, .height = height,
                                  .width = width, .x = x, .dy = dy};
    kp_conv_output_size(shape, height, width, &job.out_height, &job.out_width);
    const size_t in = (size_t)shape->in_channels, out = (size_t)shape->out_channels;
    job.taps = (size_t)shape->kernel_h * (size_t)shape->kernel_w;
    job.pixels = (size_t)job.out_height * (size_t)job.out_width;
    job.k = (size_t)batch * job.pixels;
    if (job.k == 0) {
        memset(dw, 0, out * in * job.taps * sizeof(float));
        return 0;
    }
    job.padded_height = height + 2 * shape->pad_h;
    job.padded_width = width + 2 * shape->pad_w;
    const size_t mr = (size_t)kernels->mr, panels = (out + mr - 1) / mr;
    const int threads = kp_threadpool_threads(pool);
    // Bands of panels: at least four items per thread over the taps and bands.
    const size_t wanted_bands = (4 * (size_t)threads + job.taps - 1) / job.taps;
    job.band_panels = (panels + wanted_bands - 1) / wanted_bands;
    job.bands = (panels + job.band_panels - 1) / job.band_panels;
    job.scratch_floats = (kp_gemm_scratch_floats(kernels, job.k) + 15) / 16 * 16;
    const size_t last_floats = (size_t)batch * (size_t)job.padded_height * (size_t)job.padded_width * in;
    job.channels_last = calloc(last_floats, sizeof(float));
    job.packed = malloc(panels * mr * job.k * sizeof(float));
    job.rows = malloc(job.taps * job.k * sizeof(float *));
    job.products = malloc(job.taps * out * in * sizeof(float));
    job.scratch = aligned_alloc(64, (size_t)threads * job.scratch_floats * sizeof(float));
    int status = -1;
    if (job.channels_last != NULL && job.packed != NULL && job.rows != NULL && job.products != NULL &&
        job.scratch != NULL) {
        kp_parallel_for(pool, (size_t)batch * (size_t)height, kp_channels_last_item, &job);
        kp_parallel_for(pool, panels, kp_pack_gradient_item, &job);
        kp_parallel_for(pool, job.taps, kp_tap_rows_item, &job);
        kp_parallel_for(pool, job.taps * job.bands, kp_tap_product_item, &job);
        for (size_t o = 0; o < out; o++) {
            for (size_t c = 0; c < in; c++) {
                for (size_t tap = 0; tap < job.taps; tap++) {
                    dw[(o * in + c) * job.taps + tap] = job.products[(tap * out + o) * in + c];
                }
            }
        }
        status = 0;
    }
    free(job.channels_last);
    free(job.packed);
    free(job.rows);
    free(job.products);
    free(job.scratch);
    return status;
}

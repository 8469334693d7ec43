// The weight gradient of a convolution for training, over a whole batch, on the GEMM microkernels
// without an im2col matrix. Two algorithms:
//
//   dW[o][c][ky][kx] = sum over n, oy, ox of dY[n][o][oy][ox] x[n][c][oy s - p + ky d][ox s - p + kx d]
//
// Taps (any shape): for one tap (ky, kx) this is a GEMM, Out x In = (Out x K) (K x In) with K =
// batch * pixels: A = dY, packed once for all taps, and B's row for output pixel (n, oy, ox) is
// input pixel (n, oy s - p + ky d, ox s - p + kx d) with its In channel values side by side.
// Stored channels-last with a zero border of the padding, every such row is a contiguous run in
// place, so B goes to the microkernels as row pointers, as in the indirect convolution. The taps'
// products go into a [tap][out][in] buffer, rearranged into OIHW at the end.
//
// Winograd F(3x3, 4x4) (3x3, stride 1, dilation 1): the transpose of the forward F(4x4, 3x3)
// (Lavin & Gray, arXiv 1509.09308, section 5). In one dimension the forward algorithm is
// y = AT [(G g) . (BT d)] for 4 outputs y, 3 taps g and a 6-input window d, so for any 4 output
// gradients e, sum_i e_i y_i = sum_k (A e)_k (G g)_k (BT d)_k, and its derivative by g is the
// weight gradient of the window:
//   dg = GT [(A e) . (BT d)]
// In two dimensions, summed over every 4x4 tile t of dY and the 6x6 input window under it:
//   dW[o][c] = GT ( sum_t (A e_t[o] AT) . (BT d_t[c] B) ) G
// For each of the 36 positions the sum over tiles is a GEMM, Out x In = (Out x tiles) (tiles x In):
// 36 multiplies per tile and channel pair where the taps take 9 x 16 = 144. BT is the forward
// input transform (the ISA kernels, with the channels as lanes); A evaluates the 4 gradients of a
// row as a cubic's coefficients at the forward points 0, 1, -1, 2, -2 and infinity; GT (3 x 6)
// comes last, once per channel pair, in double.

#include "kp_conv_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const kp_isa_kernels *kernels;
    const kp_conv_shape *shape;
    int batch, height, width, out_height, out_width, padded_height, padded_width;
    size_t pixels, k, taps, panels, band_panels, bands;
    const float *x, *dy;
    float *channels_last; // [n][padded y][padded x][in]
    float *packed;        // dY, kp_pack_a layout: Out rows, K = batch * pixels
    const float **rows;   // taps: [tap][K]; patches: the chunk's rows of `patches`
    float *products;      // taps: [tap][out][in]; patches: [out][patch_stride]
    float *scratch;       // per thread
    size_t scratch_floats;
    // Patches: rows [chunk_first, chunk_first + chunk_rows) of B, the receptive fields side by
    // side, patch_stride floats apart (taps x in, then zeros up to whole column blocks).
    float *patches;
    size_t patch_stride, chunk_first, chunk_rows;
    int accumulate;
} kp_weight_gradient_job;

// Zeroed memory for `images` slices of `floats` each, cleared by the pool a slice at a time (calloc
// of a block the heap kept clears it on the calling thread while the others wait: 0.8% of a
// two-thread training step's samples, on that thread alone).
typedef struct {
    float *data;
    size_t floats;
} kp_zero_job;

static void kp_zero_item(void *context, size_t item, int thread) {
    (void)thread;
    const kp_zero_job *job = context;
    memset(job->data + item * job->floats, 0, job->floats * sizeof(float));
}

static float *kp_zeroed(size_t images, size_t floats, kp_threadpool *pool) {
    float *data = malloc(images * floats * sizeof(float));
    if (data != NULL) {
        kp_zero_job job = {data, floats};
        kp_parallel_for(pool, images, kp_zero_item, &job);
    }
    return data;
}

// Row y of image n into channels-last order (the zero border is already there).
static void kp_channels_last_item(void *context, size_t item, int thread) {
    (void)thread;
    const kp_weight_gradient_job *job = context;
    const size_t n = item / (size_t)job->height, y = item % (size_t)job->height;
    const size_t in = (size_t)job->shape->in_channels, plane = (size_t)job->height * (size_t)job->width;
    float *row = job->channels_last +
                 ((n * (size_t)job->padded_height + y + (size_t)job->shape->pad_h) * (size_t)job->padded_width +
                  (size_t)job->shape->pad_w) * in;
    job->kernels->channels_last(job->x + n * in * plane + y * (size_t)job->width, in, plane, (size_t)job->width, row,
                                in);
}

// One MR-row panel of A = dY (Out x K): out[i * mr + r] = dY[n][panel mr + r][pixel], i = n pixels + pixel.
// Written in order, a pixel's mr values at a time from mr rows read side by side (a row at a time,
// each pass would touch every cache line of the panel: mr passes over megabytes).
static void kp_pack_gradient_item(void *context, size_t panel, int thread) {
    (void)thread;
    const kp_weight_gradient_job *job = context;
    const size_t mr = (size_t)job->kernels->mr, out = (size_t)job->shape->out_channels;
    const size_t rows = out - panel * mr < mr ? out - panel * mr : mr;
    float *target = job->packed + panel * job->k * mr;
    for (size_t n = 0; n < (size_t)job->batch; n++) {
        const float *source = job->dy + (n * out + panel * mr) * job->pixels;
        for (size_t p = 0; p < job->pixels; p++, target += mr) {
            for (size_t r = 0; r < rows; r++) target[r] = source[r * job->pixels + p];
            for (size_t r = rows; r < mr; r++) target[r] = 0;
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

// K (batch x output pixels, tens of thousands) is taken KP_TAP_DEPTH rows at a time, each slice's
// product added to the last: a panel's slice of A (mr x 256 floats, 6 KiB) stays in L1 over the
// column blocks, and the tap's slice of B (256 rows of In floats, at most 256 KiB) in L2 over the
// panels. Over all of K at once, every column block streamed the whole panel of A and every panel
// the whole of B from memory: the default network's 32->32 stride-2 layer (batch 16, K = 65536)
// ran at 7.6 GFLOPS on a core shared with a training run, 17 in slices.
enum { KP_TAP_DEPTH = 256 };

// One tap's product for one band of A's panels (all In columns).
static void kp_tap_product_item(void *context, size_t item, int thread) {
    const kp_weight_gradient_job *job = context;
    const size_t mr = (size_t)job->kernels->mr;
    const size_t out = (size_t)job->shape->out_channels, in = (size_t)job->shape->in_channels;
    const size_t tap = item / job->bands;
    const size_t first_row = item % job->bands * job->band_panels * mr;
    const size_t last_row = out - first_row < job->band_panels * mr ? out : first_row + job->band_panels * mr;
    float *scratch = job->scratch + (size_t)thread * job->scratch_floats;
    for (size_t first = 0; first < job->k; first += KP_TAP_DEPTH) {
        const size_t depth = job->k - first < KP_TAP_DEPTH ? job->k - first : KP_TAP_DEPTH;
        for (size_t row = first_row; row < last_row; row += mr) {
            float *c = job->products + (tap * out + row) * in;
            kp_gemm(job->kernels, last_row - row < mr ? last_row - row : mr, in, depth,
                    job->packed + row * job->k + first * mr, job->rows + tap * job->k + first, 0, c, in, NULL,
                    first == 0 ? NULL : c, KP_ACTIVATION_NONE, 0, scratch);
        }
    }
}

// The job's sizes, and the channels-last input and packed dY that taps and patches share.
// Returns 1 with work to do, 0 when there is none (dw cleared), -1 when out of memory.
static int kp_gradient_begin(kp_weight_gradient_job *job, const kp_isa_kernels *kernels, const kp_conv_shape *shape,
                             int batch, int height, int width, const float *x, const float *dy, float *dw,
                             kp_threadpool *pool) {
    *job = (kp_weight_gradient_job){.kernels = kernels, .shape = shape, .batch = batch, .height = height,
                                    .width = width, .x = x, .dy = dy};
    kp_conv_output_size(shape, job->height, job->width, &job->out_height, &job->out_width);
    const size_t in = (size_t)shape->in_channels, out = (size_t)shape->out_channels;
    job->taps = (size_t)shape->kernel_h * (size_t)shape->kernel_w;
    job->pixels = (size_t)job->out_height * (size_t)job->out_width;
    job->k = (size_t)job->batch * job->pixels;
    if (job->k == 0) {
        memset(dw, 0, out * in * job->taps * sizeof(float));
        return 0;
    }
    job->padded_height = job->height + 2 * shape->pad_h;
    job->padded_width = job->width + 2 * shape->pad_w;
    const size_t mr = (size_t)job->kernels->mr;
    job->panels = (out + mr - 1) / mr;
    job->channels_last =
        kp_zeroed((size_t)job->batch, (size_t)job->padded_height * (size_t)job->padded_width * in, pool);
    job->packed = malloc(job->panels * mr * job->k * sizeof(float));
    if (job->channels_last == NULL || job->packed == NULL) return -1;
    kp_parallel_for(pool, (size_t)job->batch * (size_t)job->height, kp_channels_last_item, job);
    kp_parallel_for(pool, job->panels, kp_pack_gradient_item, job);
    return 1;
}

static void kp_gradient_end(kp_weight_gradient_job *job) {
    free(job->channels_last);
    free(job->packed);
    free(job->rows);
    free(job->products);
    free(job->scratch);
    free(job->patches);
}

static int kp_weight_gradient_taps(const kp_isa_kernels *kernels, const kp_conv_shape *shape, int batch, int height,
                                   int width, const float *x, const float *dy, float *dw, kp_threadpool *pool) {
    kp_weight_gradient_job job;
    int status = kp_gradient_begin(&job, kernels, shape, batch, height, width, x, dy, dw, pool);
    if (status == 1) {
        const size_t in = (size_t)shape->in_channels, out = (size_t)shape->out_channels, panels = job.panels;
        const int threads = kp_threadpool_threads(pool);
        // Bands of panels: at least four items per thread over the taps and bands.
        const size_t wanted_bands = (4 * (size_t)threads + job.taps - 1) / job.taps;
        job.band_panels = (panels + wanted_bands - 1) / wanted_bands;
        job.bands = (panels + job.band_panels - 1) / job.band_panels;
        job.scratch_floats = kp_align_floats(kp_gemm_scratch_floats(kernels, KP_TAP_DEPTH));
        job.rows = malloc(job.taps * job.k * sizeof(float *));
        job.products = malloc(job.taps * out * in * sizeof(float));
        job.scratch = aligned_alloc(64, (size_t)threads * job.scratch_floats * sizeof(float));
        status = -1;
        if (job.rows != NULL && job.products != NULL && job.scratch != NULL) {
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
    }
    kp_gradient_end(&job);
    return status < 0 ? -1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Patches: for few input channels, where one tap's B row (In floats) would fill a fraction of a
// column block. One GEMM, Out x (taps In) = (Out x K) (K x taps In): B's row for output pixel
// (n, oy, ox) is its whole receptive field, the taps' channel runs copied side by side out of the
// channels-last input (im2col, a chunk of rows at a time, small enough to stay in cache; the
// chunks' products add up in order). The stem (5 channels: the image and CoordConv's x, y)
// took 61 ms a batch of 16 at 192x192 as taps, 9 GEMMs 5 columns wide.

// Rows per chunk: about this many bytes of patches.
enum { KP_PATCH_CHUNK_BYTES = 256 << 10, KP_PATCH_PIECE_ROWS = 64 };

// Rows [item * KP_PATCH_PIECE_ROWS, ...) of the chunk.
static void kp_patch_rows_item(void *context, size_t item, int thread) {
    (void)thread;
    const kp_weight_gradient_job *job = context;
    const kp_conv_shape *s = job->shape;
    const size_t in = (size_t)s->in_channels, end = (item + 1) * KP_PATCH_PIECE_ROWS;
    for (size_t r = item * KP_PATCH_PIECE_ROWS; r < end && r < job->chunk_rows; r++) {
        const size_t q = job->chunk_first + r, n = q / job->pixels, p = q % job->pixels;
        const size_t oy = p / (size_t)job->out_width, ox = p % (size_t)job->out_width;
        float *patch = job->patches + r * job->patch_stride;
        for (size_t ky = 0; ky < (size_t)s->kernel_h; ky++) {
            const size_t y = oy * (size_t)s->stride_h + ky * (size_t)s->dilation_h; // in padded rows
            for (size_t kx = 0; kx < (size_t)s->kernel_w; kx++) {
                const size_t xx = ox * (size_t)s->stride_w + kx * (size_t)s->dilation_w;
                const float *source =
                    job->channels_last + ((n * (size_t)job->padded_height + y) * (size_t)job->padded_width + xx) * in;
                memcpy(patch + (ky * (size_t)s->kernel_w + kx) * in, source, in * sizeof(float));
            }
        }
    }
}

// The chunk's product for one panel of output channels.
static void kp_patch_product_item(void *context, size_t panel, int thread) {
    const kp_weight_gradient_job *job = context;
    const size_t mr = (size_t)job->kernels->mr, out = (size_t)job->shape->out_channels;
    const size_t rows_here = out - panel * mr < mr ? out - panel * mr : mr;
    float *c = job->products + panel * mr * job->patch_stride;
    kp_gemm(job->kernels, rows_here, job->patch_stride, job->chunk_rows,
            job->packed + (panel * job->k + job->chunk_first) * mr, job->rows, 0, c, job->patch_stride, NULL,
            job->accumulate ? c : NULL, KP_ACTIVATION_NONE, 0, job->scratch + (size_t)thread * job->scratch_floats);
}

static int kp_weight_gradient_patches(const kp_isa_kernels *kernels, const kp_conv_shape *shape, int batch,
                                      int height, int width, const float *x, const float *dy, float *dw,
                                      kp_threadpool *pool) {
    kp_weight_gradient_job job;
    int status = kp_gradient_begin(&job, kernels, shape, batch, height, width, x, dy, dw, pool);
    if (status == 1) {
        const size_t in = (size_t)shape->in_channels, out = (size_t)shape->out_channels;
        const size_t mr = (size_t)kernels->mr, panels = job.panels;
        // Whole blocks of columns: the narrow kernel's, if the ISA has one, else the full one's.
        const size_t block = (size_t)(kernels->gemm_narrow != NULL ? kernels->nr / 2 : kernels->nr);
        job.patch_stride = (job.taps * in + block - 1) / block * block;
        const size_t chunk = KP_PATCH_CHUNK_BYTES / (job.patch_stride * sizeof(float));
        const size_t chunk_rows = chunk < KP_PATCH_PIECE_ROWS ? KP_PATCH_PIECE_ROWS : chunk / KP_PATCH_PIECE_ROWS * KP_PATCH_PIECE_ROWS;
        job.scratch_floats = kp_align_floats(kp_gemm_scratch_floats(kernels, chunk_rows));
        const int threads = kp_threadpool_threads(pool);
        job.patches = calloc(chunk_rows * job.patch_stride, sizeof(float)); // the padding stays zero
        job.rows = malloc(chunk_rows * sizeof(float *));
        job.products = malloc(panels * mr * job.patch_stride * sizeof(float));
        job.scratch = aligned_alloc(64, (size_t)threads * job.scratch_floats * sizeof(float));
        status = -1;
        if (job.patches != NULL && job.rows != NULL && job.products != NULL && job.scratch != NULL) {
            for (size_t r = 0; r < chunk_rows; r++) job.rows[r] = job.patches + r * job.patch_stride;
            for (job.chunk_first = 0; job.chunk_first < job.k; job.chunk_first += chunk_rows) {
                job.chunk_rows = job.k - job.chunk_first < chunk_rows ? job.k - job.chunk_first : chunk_rows;
                job.accumulate = job.chunk_first > 0;
                kp_parallel_for(pool, (job.chunk_rows + KP_PATCH_PIECE_ROWS - 1) / KP_PATCH_PIECE_ROWS,
                                kp_patch_rows_item, &job);
                kp_parallel_for(pool, panels, kp_patch_product_item, &job);
            }
            for (size_t o = 0; o < out; o++) {
                for (size_t c = 0; c < in; c++) {
                    for (size_t tap = 0; tap < job.taps; tap++) {
                        dw[(o * in + c) * job.taps + tap] = job.products[o * job.patch_stride + tap * in + c];
                    }
                }
            }
            status = 0;
        }
    }
    kp_gradient_end(&job);
    return status < 0 ? -1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Winograd F(3x3, 4x4)

// The A rows, over n lanes: 4 gradients e0..e3 -> 6 values, e taken as a cubic's coefficients and
// evaluated at 0, 1, -1, 2, -2 and (the leading coefficient) infinity:
//   r0 = e0                     r1, r2 = (e0 + e2) +- (e1 + e3)
//   r5 = e3                     r3, r4 = (e0 + 4 e2) +- (2 e1 + 8 e3)
static void kp_winograd_gradient_rows(const float *const e[4], float *const r[6], size_t n) {
    for (size_t j = 0; j < n; j++) {
        const float e0 = e[0][j], e1 = e[1][j], e2 = e[2][j], e3 = e[3][j];
        const float even1 = e0 + e2, odd1 = e1 + e3;
        const float even2 = e0 + 4 * e2, odd2 = 2 * e1 + 8 * e3;
        r[0][j] = e0;
        r[1][j] = even1 + odd1;
        r[2][j] = even1 - odd1;
        r[3][j] = even2 + odd2;
        r[4][j] = even2 - odd2;
        r[5][j] = e3;
    }
}

enum { KP_WINOGRAD_GRADIENT_POSITIONS = 36 };

typedef struct {
    const kp_isa_kernels *kernels;
    size_t in, out, panels, tiles_h, tiles_w;
    size_t window_h, window_w; // the channels-last input: 4 tiles + 2 rows and columns
    size_t height, width, out_height, out_width, pad_h, pad_w;
    const float *x, *dy;
    float *input;    // [n][window_h][window_w][in], zero outside the image
    float *gradient; // [n][4 tiles_h][4 tiles_w][panels mr], zero outside dY
    // The chunk of images in flight, and its transforms:
    size_t first_image, tiles;
    float *v;            // [position][tile][in]: BT d B
    float *e;            // [position]: A e AT as kp_pack_a panels of the (out x tiles) matrix
    const float **rows;  // [position][tile]: the rows of v, B of the GEMMs
    float *products;     // [position][out][in]
    int accumulate;      // add to products (every chunk after the first)
    size_t band_panels, bands;
    float *scratch; // per thread: the transforms' columns, the GEMM's edges, then M G in double
    size_t scratch_floats;
    double *dw_double;
} kp_winograd_gradient_job;

static void kp_winograd_input_rows_item(void *context, size_t item, int thread) {
    (void)thread;
    const kp_winograd_gradient_job *job = context;
    const size_t n = item / job->height, y = item % job->height, plane = job->height * job->width;
    float *row = job->input + ((n * job->window_h + y + job->pad_h) * job->window_w + job->pad_w) * job->in;
    job->kernels->channels_last(job->x + n * job->in * plane + y * job->width, job->in, plane, job->width, row,
                                job->in);
}

static void kp_winograd_gradient_rows_item(void *context, size_t item, int thread) {
    (void)thread;
    const kp_winograd_gradient_job *job = context;
    const size_t n = item / job->out_height, y = item % job->out_height, plane = job->out_height * job->out_width;
    const size_t stride = job->panels * (size_t)job->kernels->mr;
    float *row = job->gradient + (n * 4 * job->tiles_h + y) * 4 * job->tiles_w * stride;
    job->kernels->channels_last(job->dy + n * job->out * plane + y * job->out_width, job->out, plane, job->out_width,
                                row, stride);
}

// The transforms of one row of tiles of one image of the chunk: BT d B into v, A e AT into e.
static void kp_winograd_gradient_transform_item(void *context, size_t item, int thread) {
    const kp_winograd_gradient_job *job = context;
    const size_t mr = (size_t)job->kernels->mr, stride = job->panels * mr, in = job->in;
    const size_t n = job->first_image + item / job->tiles_h, ty = item % job->tiles_h;
    const size_t gradient_width = 4 * job->tiles_w;
    float *columns = job->scratch + (size_t)thread * job->scratch_floats; // 6 x 6 x max(in, stride)
    for (size_t tx = 0; tx < job->tiles_w; tx++) {
        const size_t t = item * job->tiles_w + tx; // the tile's index within the chunk
        // Input window: BT down each column, then BT along each row, straight into v.
        const float *corner = job->input + ((n * job->window_h + 4 * ty) * job->window_w + 4 * tx) * in;
        for (size_t b = 0; b < 6; b++) {
            const float *d[6];
            float *r[6];
            for (size_t u = 0; u < 6; u++) {
                d[u] = corner + (u * job->window_w + b) * in;
                r[u] = columns + (u * 6 + b) * in;
            }
            job->kernels->winograd_input(d, r, in);
        }
        for (size_t a = 0; a < 6; a++) {
            const float *d[6];
            float *r[6];
            for (size_t b = 0; b < 6; b++) {
                d[b] = columns + (a * 6 + b) * in;
                r[b] = job->v + ((a * 6 + b) * job->tiles + t) * in;
            }
            job->kernels->winograd_input(d, r, in);
        }
        // Gradient tile: A down each of its 4 columns, then A along each row, one panel of mr
        // output channels at a time into that panel's place in e.
        const float *tile = job->gradient + ((n * 4 * job->tiles_h + 4 * ty) * gradient_width + 4 * tx) * stride;
        for (size_t b = 0; b < 4; b++) {
            const float *e[4];
            float *r[6];
            for (size_t a = 0; a < 4; a++) e[a] = tile + (a * gradient_width + b) * stride;
            for (size_t a = 0; a < 6; a++) r[a] = columns + (a * 4 + b) * stride;
            kp_winograd_gradient_rows(e, r, stride);
        }
        for (size_t panel = 0; panel < job->panels; panel++) {
            for (size_t a = 0; a < 6; a++) {
                const float *e[4];
                float *r[6];
                for (size_t b = 0; b < 4; b++) e[b] = columns + (a * 4 + b) * stride + panel * mr;
                for (size_t b = 0; b < 6; b++) {
                    r[b] = job->e + (a * 6 + b) * stride * job->tiles + (panel * job->tiles + t) * mr;
                }
                kp_winograd_gradient_rows(e, r, mr);
            }
        }
    }
}

// One position's GEMM for one band of output-channel panels (all In columns).
static void kp_winograd_gradient_gemm_item(void *context, size_t item, int thread) {
    const kp_winograd_gradient_job *job = context;
    const size_t mr = (size_t)job->kernels->mr, stride = job->panels * mr;
    const size_t position = item / job->bands;
    const size_t first_row = item % job->bands * job->band_panels * mr;
    const size_t rows_here =
        job->out - first_row < job->band_panels * mr ? job->out - first_row : job->band_panels * mr;
    float *c = job->products + (position * job->out + first_row) * job->in;
    kp_gemm(job->kernels, rows_here, job->in, job->tiles, job->e + position * stride * job->tiles + first_row * job->tiles,
            job->rows + position * job->tiles, 0, c, job->in, NULL, job->accumulate ? c : NULL,
            KP_ACTIVATION_NONE, 0, job->scratch + (size_t)thread * job->scratch_floats);
}

// dW[o][c] = GT M G for output channel o and every c, M[a][b] = products[a * 6 + b][o][c], in
// double: first M G (6 x 3) for all c at once, contiguous in c, skipping G's zeros, then GT.
static void kp_winograd_gradient_finish_item(void *context, size_t o, int thread) {
    const kp_winograd_gradient_job *job = context;
    const double *g = kp_winograd_f4_g; // 6 x 3
    const size_t in = job->in;
    double *mg = (double *)(job->scratch + (size_t)thread * job->scratch_floats); // [a][kx][c]
    for (size_t a = 0; a < 6; a++) {
        for (size_t kx = 0; kx < 3; kx++) {
            double *row = mg + (a * 3 + kx) * in;
            for (size_t c = 0; c < in; c++) row[c] = 0;
            for (size_t b = 0; b < 6; b++) {
                const double coefficient = g[b * 3 + kx];
                if (coefficient == 0) continue;
                const float *m = job->products + ((a * 6 + b) * job->out + o) * in;
                for (size_t c = 0; c < in; c++) row[c] += coefficient * (double)m[c];
            }
        }
    }
    for (size_t c = 0; c < in; c++) {
        for (size_t ky = 0; ky < 3; ky++) {
            for (size_t kx = 0; kx < 3; kx++) {
                double sum = 0;
                for (size_t a = 0; a < 6; a++) sum += g[a * 3 + ky] * mg[(a * 3 + kx) * in + c];
                job->dw_double[((o * in + c) * 3 + ky) * 3 + kx] = sum;
            }
        }
    }
}

// Tiles transformed and multiplied at once: chunks of whole images up to this many tiles (at
// least one image), each chunk's GEMMs adding to the last's products. Small enough that a chunk's
// transforms are still in cache when its GEMMs read them: with batch 16, 64-256 tiles ran alike;
// 512 took fuse8 (288 -> 96 channels, 24x24) from 22 to 26 ms, the whole batch (2304 tiles)
// fuse4 (144 -> 48, 48x48) from 24 to 48 ms.
enum { KP_WINOGRAD_GRADIENT_CHUNK_TILES = 128 };

static int kp_weight_gradient_winograd(const kp_isa_kernels *kernels, const kp_conv_shape *shape, int batch,
                                       int height, int width, const float *x, const float *dy, float *dw,
                                       kp_threadpool *pool) {
    kp_winograd_gradient_job job = {.kernels = kernels, .in = (size_t)shape->in_channels,
                                    .out = (size_t)shape->out_channels, .height = (size_t)height,
                                    .width = (size_t)width, .pad_h = (size_t)shape->pad_h,
                                    .pad_w = (size_t)shape->pad_w, .x = x, .dy = dy};
    int out_height, out_width;
    kp_conv_output_size(shape, height, width, &out_height, &out_width);
    const size_t weights = job.out * job.in * 9;
    if (out_height <= 0 || out_width <= 0) {
        memset(dw, 0, weights * sizeof(float));
        return 0;
    }
    const size_t mr = (size_t)kernels->mr, positions = KP_WINOGRAD_GRADIENT_POSITIONS;
    job.out_height = (size_t)out_height;
    job.out_width = (size_t)out_width;
    job.panels = (job.out + mr - 1) / mr;
    job.tiles_h = (job.out_height + 3) / 4;
    job.tiles_w = (job.out_width + 3) / 4;
    job.window_h = 4 * job.tiles_h + 2;
    job.window_w = 4 * job.tiles_w + 2;
    const size_t stride = job.panels * mr, image_tiles = job.tiles_h * job.tiles_w;
    size_t chunk_images = KP_WINOGRAD_GRADIENT_CHUNK_TILES / image_tiles;
    chunk_images = chunk_images < 1 ? 1 : chunk_images > (size_t)batch ? (size_t)batch : chunk_images;
    const size_t chunk_tiles = chunk_images * image_tiles;
    const int threads = kp_threadpool_threads(pool);
    // Bands of panels: at least four items per thread over the positions and bands.
    const size_t wanted_bands = (4 * (size_t)threads + positions - 1) / positions;
    job.band_panels = (job.panels + wanted_bands - 1) / wanted_bands;
    job.bands = (job.panels + job.band_panels - 1) / job.band_panels;
    const size_t transform_floats = positions * (job.in > stride ? job.in : stride); // >= 18 in doubles
    const size_t gemm_floats = kp_gemm_scratch_floats(kernels, chunk_tiles);
    job.scratch_floats = kp_align_floats(transform_floats > gemm_floats ? transform_floats : gemm_floats);
    job.input = kp_zeroed((size_t)batch, job.window_h * job.window_w * job.in, pool);
    job.gradient = kp_zeroed((size_t)batch, 16 * image_tiles * stride, pool);
    job.v = malloc(positions * chunk_tiles * job.in * sizeof(float));
    job.e = malloc(positions * chunk_tiles * stride * sizeof(float));
    job.rows = malloc(positions * chunk_tiles * sizeof(float *));
    job.products = malloc(positions * job.out * job.in * sizeof(float));
    job.scratch = aligned_alloc(64, (size_t)threads * job.scratch_floats * sizeof(float));
    job.dw_double = malloc(weights * sizeof(double));
    int status = -1;
    if (job.input != NULL && job.gradient != NULL && job.v != NULL && job.e != NULL && job.rows != NULL &&
        job.products != NULL && job.scratch != NULL && job.dw_double != NULL) {
        kp_parallel_for(pool, (size_t)batch * job.height, kp_winograd_input_rows_item, &job);
        kp_parallel_for(pool, (size_t)batch * job.out_height, kp_winograd_gradient_rows_item, &job);
        for (job.first_image = 0; job.first_image < (size_t)batch; job.first_image += chunk_images) {
            const size_t images =
                (size_t)batch - job.first_image < chunk_images ? (size_t)batch - job.first_image : chunk_images;
            job.tiles = images * image_tiles;
            job.accumulate = job.first_image > 0;
            for (size_t position = 0; position < positions; position++) {
                for (size_t t = 0; t < job.tiles; t++) {
                    job.rows[position * job.tiles + t] = job.v + (position * job.tiles + t) * job.in;
                }
            }
            kp_parallel_for(pool, images * job.tiles_h, kp_winograd_gradient_transform_item, &job);
            kp_parallel_for(pool, positions * job.bands, kp_winograd_gradient_gemm_item, &job);
        }
        kp_parallel_for(pool, job.out, kp_winograd_gradient_finish_item, &job);
        for (size_t i = 0; i < weights; i++) dw[i] = (float)job.dw_double[i];
        status = 0;
    }
    free(job.input);
    free(job.gradient);
    free(job.v);
    free(job.e);
    free(job.rows);
    free(job.products);
    free(job.scratch);
    free(job.dw_double);
    return status;
}

int kp_conv_weight_gradient(kp_isa isa, const kp_conv_shape *shape, int batch, int height, int width,
                            const float *x, const float *dy, float *dw, kp_gradient_algorithm algorithm,
                            kp_threadpool *pool) {
    const kp_isa_kernels *kernels = kp_kernels_for(isa);
    if (kernels == NULL) kernels = kp_kernels_for(KP_ISA_SCALAR);
    if (shape->groups != 1 || batch < 1) return -1;
    const int winograd_shape = shape->kernel_h == 3 && shape->kernel_w == 3 && shape->stride_h == 1 &&
                               shape->stride_w == 1 && shape->dilation_h == 1 && shape->dilation_w == 1;
    if (algorithm == KP_GRADIENT_AUTO) {
        algorithm = winograd_shape ? KP_GRADIENT_WINOGRAD_F4
                    : shape->in_channels < KP_GRADIENT_FEW_CHANNELS ? KP_GRADIENT_PATCHES
                                                                    : KP_GRADIENT_TAPS;
    }
    switch (algorithm) {
    case KP_GRADIENT_TAPS: return kp_weight_gradient_taps(kernels, shape, batch, height, width, x, dy, dw, pool);
    case KP_GRADIENT_PATCHES:
        return kp_weight_gradient_patches(kernels, shape, batch, height, width, x, dy, dw, pool);
    case KP_GRADIENT_WINOGRAD_F4:
        if (!winograd_shape) return -1;
        return kp_weight_gradient_winograd(kernels, shape, batch, height, width, x, dy, dw, pool);
    default: return -1;
    }
}

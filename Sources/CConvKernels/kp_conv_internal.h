// What each ISA file provides, and helpers shared by the drivers. Not part of the public API.

#ifndef KP_CONV_INTERNAL_H
#define KP_CONV_INTERNAL_H

#include "kp_conv.h"
#include "kp_conv_training.h"

// The output stage fused into the microkernel's store: y = act(acc + bias[row] + residual).
typedef struct {
    const float *bias;     // MR values, the bias of the panel's rows, or NULL
    const float *residual; // laid out like C (same ldc), or NULL
    int activation;        // kp_activation
    float slope;           // leaky ReLU slope
} kp_epilogue;

// C[MR x NR] = A[MR x k] * B[k x NR], then the epilogue (NULL: store the sums as they are).
// `a` is packed k-major, MR floats per k (kp_pack_a). B is indirect: row i is the NR floats at
// rows[i] + column, so B can be a matrix (rows a stride apart), the input planes themselves (1x1),
// or rows picked out of the padded input for each kernel tap (indirect convolution, no im2col
// copy). Row r of C starts at c + r * ldc. Every microkernel computes a full MR x NR block; the
// driver pads the edges.
typedef void (*kp_gemm_fn)(size_t k, const float *restrict a, const float *const *restrict rows, size_t column,
                           float *restrict c, size_t ldc, const kp_epilogue *epilogue);

// The first `rows_wanted` (< MR) rows of an MR x NR block, straight into C with the epilogue.
typedef void (*kp_gemm_partial_fn)(size_t rows_wanted, size_t k, const float *restrict a,
                                   const float *const *restrict rows, size_t column, float *restrict c, size_t ldc,
                                   const kp_epilogue *epilogue);

// One dimension of a Winograd F(4x4, 3x3) transform over n independent lanes:
//   input:  r[i][j] = sum_u BT[i][u] * d[u][j]   (6 -> 6)
//   output: o[a][j] = sum_i AT[a][i] * m[i][j]   (6 -> 4)
typedef void (*kp_winograd_input_fn)(const float *const d[6], float *const r[6], size_t n);
typedef void (*kp_winograd_output_fn)(const float *const m[6], float *const o[4], size_t n);
// The same for F(6x6, 3x3): 8 -> 8 and 8 -> 6.
typedef void (*kp_winograd6_input_fn)(const float *const d[8], float *const r[8], size_t n);
typedef void (*kp_winograd6_output_fn)(const float *const m[8], float *const o[6], size_t n);

// The two column phases of a row, phases[m][j] = x[2 j + m]: a stride-2 convolution's input rows.
typedef void (*kp_deinterleave2_fn)(const float *x, size_t n, float *const phases[2]);
// Column phases of a row: phase m of tile j is x[4 j + m] (deinterleave), and back (interleave).
typedef void (*kp_deinterleave4_fn)(const float *x, size_t n, float *const phases[4]);
typedef void (*kp_interleave4_fn)(const float *const phases[4], size_t n, float *x);
// F(6x6) windows of a row: columns[v][j] = x[6 j + v] for v < 8 (x readable up to 6 n + 2), and
// tile rows back: x[6 j + b] = columns[b][j] for b < 6 (x writable up to 6 n + 2).
typedef void (*kp_gather6_fn)(const float *x, size_t n, float *const columns[8]);
typedef void (*kp_scatter6_fn)(const float *const columns[6], size_t n, float *x);
// One row of `channels` planes (`plane` floats apart, `width` long) into channels-last order,
// target[x * stride + c] = source[c * plane + x]: training's weight gradients read their inputs
// so. SIMD versions transpose 4x4 blocks.
typedef void (*kp_channels_last_fn)(const float *source, size_t channels, size_t plane, size_t width, float *target,
                                    size_t stride);

typedef struct {
    kp_isa isa;
    int mr;
    int nr;
    kp_gemm_fn gemm;
    kp_gemm_fn gemm_narrow; // MR x NR/2, for narrow matrices (NULL: pad to NR instead)
    kp_gemm_partial_fn gemm_partial; // fewer than MR rows (NULL: compute MR into a block)
    kp_winograd_input_fn winograd_input;
    kp_winograd_output_fn winograd_output;
    kp_winograd6_input_fn winograd6_input;
    kp_winograd6_output_fn winograd6_output;
    kp_deinterleave2_fn deinterleave2;
    kp_deinterleave4_fn deinterleave4;
    kp_interleave4_fn interleave4;
    kp_gather6_fn gather6;
    kp_scatter6_fn scatter6;
    kp_channels_last_fn channels_last;
} kp_isa_kernels;

// Strided lanes, the plain loops behind the deinterleave4 / gather6 kernels and their SIMD tails,
// for lanes j in [begin, end): gather lanes[v][j] = x[step * j + v] and scatter
// x[step * j + v] = lanes[v][j], for v < count.
static inline void kp_gather_lanes(const float *x, size_t step, int count, size_t begin, size_t end,
                                   float *const lanes[]) {
    for (size_t j = begin; j < end; j++) {
        for (int v = 0; v < count; v++) lanes[v][j] = x[step * j + (size_t)v];
    }
}

static inline void kp_scatter_lanes(const float *const lanes[], size_t step, int count, size_t begin, size_t end,
                                    float *x) {
    for (size_t j = begin; j < end; j++) {
        for (int v = 0; v < count; v++) x[step * j + (size_t)v] = lanes[v][j];
    }
}

// Channels [c_begin, channels) at every x, and channels [0, c_begin) at x >= x_begin: the
// scalar kernel (0, 0), and what a SIMD one leaves past its whole 4x4 blocks.
static inline void kp_channels_last_tail(const float *source, size_t channels, size_t plane, size_t width,
                                         float *target, size_t stride, size_t c_begin, size_t x_begin) {
    for (size_t c = 0; c < channels; c++) {
        for (size_t x = c < c_begin ? x_begin : 0; x < width; x++) target[x * stride + c] = source[c * plane + x];
    }
}

extern const kp_isa_kernels kp_kernels__scalar;
#if defined(__x86_64__) || defined(_M_X64)
extern const kp_isa_kernels kp_kernels__sse;
extern const kp_isa_kernels kp_kernels__avx2;
extern const kp_isa_kernels kp_kernels__avx512;
#endif
#if defined(__aarch64__)
extern const kp_isa_kernels kp_kernels__neon;
#endif

// The kernels for `isa`, or NULL when this build or this CPU lacks it.
const kp_isa_kernels *kp_kernels_for(kp_isa isa);

static inline float kp_activate(float value, int activation, float slope) {
    switch (activation) {
    case KP_ACTIVATION_RELU: return value > 0 ? value : 0;
    case KP_ACTIVATION_RELU6: return value > 0 ? (value < 6 ? value : 6) : 0;
    case KP_ACTIVATION_LEAKY_RELU: return value > 0 ? value : value * slope;
    default: return value;
    }
}

// The epilogue on one value at (row, column) of a block: the scalar twin of the vector epilogues,
// with the same order of operations: ((acc + bias) + residual), then the activation.
static inline float kp_epilogue_value(float acc, const kp_epilogue *epilogue, size_t row, size_t column,
                                      size_t ldc) {
    if (epilogue == NULL) return acc;
    if (epilogue->bias != NULL) acc += epilogue->bias[row];
    if (epilogue->residual != NULL) acc += epilogue->residual[row * ldc + column];
    return kp_activate(acc, epilogue->activation, epilogue->slope);
}

// The Winograd transforms on lanes [begin, end), in plain C: the scalar kernels, and the tails
// of the SIMD ones. The formulas are the rows of BT and AT:
//   BT (Lavin & Gray, arXiv 1509.09308; interpolation points 0, 1, -1, 2, -2 and infinity, the
//   smallest integers, which keep the transform matrices' entries and the error growth small):
//     r0 = 4 d0 - 5 d2 + d4            r3 = -2 d1 - d2 + 2 d3 + d4
//     r1 = -4 d1 - 4 d2 + d3 + d4      r4 = 2 d1 - d2 - 2 d3 + d4
//     r2 = 4 d1 - 4 d2 - d3 + d4       r5 = 4 d1 - 5 d3 + d5
//   AT:
//     o0 = m0 + m1 + m2 + m3 + m4      o2 = m1 + m2 + 4 m3 + 4 m4
//     o1 = m1 - m2 + 2 m3 - 2 m4       o3 = m1 - m2 + 8 m3 - 8 m4 + m5
static inline void kp_winograd_f4_input_lanes(const float *const d[6], float *const r[6], size_t begin,
                                              size_t end) {
    for (size_t j = begin; j < end; j++) {
        float d0 = d[0][j], d1 = d[1][j], d2 = d[2][j], d3 = d[3][j], d4 = d[4][j], d5 = d[5][j];
        r[0][j] = 4 * d0 - 5 * d2 + d4;
        r[1][j] = -4 * (d1 + d2) + (d3 + d4);
        r[2][j] = 4 * (d1 - d2) + (d4 - d3);
        r[3][j] = 2 * (d3 - d1) + (d4 - d2);
        r[4][j] = 2 * (d1 - d3) + (d4 - d2);
        r[5][j] = 4 * d1 - 5 * d3 + d5;
    }
}

static inline void kp_winograd_f4_output_lanes(const float *const m[6], float *const o[4], size_t begin,
                                               size_t end) {
    for (size_t j = begin; j < end; j++) {
        float sum12 = m[1][j] + m[2][j], difference12 = m[1][j] - m[2][j];
        float sum34 = m[3][j] + m[4][j], difference34 = m[3][j] - m[4][j];
        o[0][j] = m[0][j] + sum12 + sum34;
        o[1][j] = difference12 + 2 * difference34;
        o[2][j] = sum12 + 4 * sum34;
        o[3][j] = difference12 + 8 * difference34 + m[5][j];
    }
}

// y = act(y + bias + residual) over a row; the activation chosen once, outside the loop. Same
// operations in the same order as kp_epilogue_value.
static inline void kp_output_stage_row(float *y, size_t n, float bias, const float *residual, int activation,
                                       float slope) {
    if (residual != NULL) {
        for (size_t j = 0; j < n; j++) y[j] = y[j] + bias + residual[j];
    } else {
        for (size_t j = 0; j < n; j++) y[j] += bias;
    }
    switch (activation) {
    case KP_ACTIVATION_RELU:
        for (size_t j = 0; j < n; j++) y[j] = y[j] > 0 ? y[j] : 0;
        break;
    case KP_ACTIVATION_RELU6:
        for (size_t j = 0; j < n; j++) y[j] = y[j] > 0 ? (y[j] < 6 ? y[j] : 6) : 0;
        break;
    case KP_ACTIVATION_LEAKY_RELU:
        for (size_t j = 0; j < n; j++) y[j] = y[j] > 0 ? y[j] : y[j] * slope;
        break;
    default: break;
    }
}

// F(6x6, 3x3), interpolation points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity (the wincnn/ncnn
// choice: after the small integers, the reciprocals 1/2 and -1/2 keep the entries of AT at powers
// of two and the transform's conditioning far better than 3 and -3 would):
//   BT:
//     r0 = d0 - d6 + 21/4 (d4 - d2)
//     r1, r2 = (d2 + d6 - 17/4 d4) +- (d1 + d5 - 17/4 d3)
//     r3, r4 = (d6 + 1/4 d2 - 5/4 d4) +- (1/2 d1 - 5/2 d3 + 2 d5)
//     r5, r6 = (d6 + 4 d2 - 5 d4) +- (2 d1 - 5/2 d3 + 1/2 d5)
//     r7 = d7 - d1 + 21/4 (d3 - d5)
//   AT, with a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4, e = m5 + m6, f = m5 - m6:
//     o0 = m0 + a + c + e     o2 = a + 4 c + e / 4     o4 = a + 16 c + e / 16
//     o1 = b + 2 d + f / 2    o3 = b + 8 d + f / 8     o5 = b + 32 d + f / 32 + m7
static inline void kp_winograd_f6_input_lanes(const float *const d[8], float *const r[8], size_t begin,
                                              size_t end) {
    for (size_t j = begin; j < end; j++) {
        float d0 = d[0][j], d1 = d[1][j], d2 = d[2][j], d3 = d[3][j];
        float d4 = d[4][j], d5 = d[5][j], d6 = d[6][j], d7 = d[7][j];
        float even1 = d2 + d6 - 4.25f * d4, odd1 = d1 + d5 - 4.25f * d3;
        float even2 = d6 + 0.25f * d2 - 1.25f * d4, odd2 = 0.5f * d1 - 2.5f * d3 + 2 * d5;
        float even3 = d6 + 4 * d2 - 5 * d4, odd3 = 2 * d1 - 2.5f * d3 + 0.5f * d5;
        r[0][j] = d0 - d6 + 5.25f * (d4 - d2);
        r[1][j] = even1 + odd1;
        r[2][j] = even1 - odd1;
        r[3][j] = even2 + odd2;
        r[4][j] = even2 - odd2;
        r[5][j] = even3 + odd3;
        r[6][j] = even3 - odd3;
        r[7][j] = d7 - d1 + 5.25f * (d3 - d5);
    }
}

static inline void kp_winograd_f6_output_lanes(const float *const m[8], float *const o[6], size_t begin,
                                               size_t end) {
    for (size_t j = begin; j < end; j++) {
        float a = m[1][j] + m[2][j], b = m[1][j] - m[2][j];
        float c = m[3][j] + m[4][j], d = m[3][j] - m[4][j];
        float e = m[5][j] + m[6][j], f = m[5][j] - m[6][j];
        o[0][j] = m[0][j] + a + c + e;
        o[1][j] = b + 2 * d + 0.5f * f;
        o[2][j] = a + 4 * c + 0.25f * e;
        o[3][j] = b + 8 * d + 0.125f * f;
        o[4][j] = a + 16 * c + 0.0625f * e;
        o[5][j] = b + 32 * d + 0.03125f * f + m[7][j];
    }
}

// Packs rows [0, m) of A (row-major, lda apart, k columns) into MR-row panels, k-major, zero-padded
// to a multiple of MR rows. `out` holds ceil(m / mr) * mr * k floats.
void kp_pack_a(const float *a, size_t lda, size_t m, size_t k, int mr, float *out);

// C = A * B with the epilogue, for m rows: A packed by kp_pack_a, B's k rows at rows[i] + first (n
// floats each; `first` lets callers reuse one set of pointers for B's at a fixed distance), C m x n
// (ldc). Handles the edges: partial panels and partial column blocks go through a padded scratch
// block of kp_gemm_scratch_floats floats at `scratch` (64-byte aligned). bias: m values or NULL;
// residual like C or NULL.
void kp_gemm(const kp_isa_kernels *kernels, size_t m, size_t n, size_t k, const float *a_packed,
             const float *const *rows, size_t first, float *c, size_t ldc, const float *bias,
             const float *residual, int activation, float slope, float *scratch);

size_t kp_gemm_scratch_floats(const kp_isa_kernels *kernels, size_t k);

// Scratch layouts, in floats. Every region starts 64-byte aligned: sizes round up to 16 floats.
static inline size_t kp_round_up(size_t value, size_t multiple) { return (value + multiple - 1) / multiple * multiple; }
static inline size_t kp_align_floats(size_t count) { return kp_round_up(count, 16); }
// Floats that hold `count` pointers.
static inline size_t kp_pointer_floats(size_t count) {
    return (count * sizeof(float *) + sizeof(float) - 1) / sizeof(float);
}

// A thread's scratch for one GEMM of depth k whose B rows the caller points at: kp_gemm's edge
// block (kp_gemm_scratch_floats), then the k row pointers (kp_gemm_rows).
static inline size_t kp_gemm_thread_scratch_floats(const kp_isa_kernels *kernels, size_t k) {
    return kp_align_floats(kp_gemm_scratch_floats(kernels, k)) + kp_align_floats(kp_pointer_floats(k));
}
static inline const float **kp_gemm_rows(float *scratch, const kp_isa_kernels *kernels, size_t k) {
    return (const float **)(scratch + kp_align_floats(kp_gemm_scratch_floats(kernels, k)));
}

// A convolution prepared for one ISA and algorithm (kp_conv_create).
struct kp_conv {
    kp_conv_shape shape;
    kp_algorithm algorithm;
    const kp_isa_kernels *kernels;
    kp_activation activation;
    float slope;
    float *bias;          // out_channels values
    float *packed;        // GEMM A operands: per group (indirect, 1x1) or per Winograd position
    size_t packed_stride; // floats between consecutive groups / positions in `packed`
    int tile;             // Winograd output tile: 4 or 6
    int window;           // Winograd input tile: tile + 2
    int tiles_as_rows;    // KP_ALGORITHM_WINOGRAD_F4_SMALL: the tiles are the GEMMs' rows (winograd.c)
};

// One kp_conv_run call, as each driver's job records it (the output size once computed).
typedef struct {
    const kp_conv *conv;
    const float *input;
    const float *residual;
    float *output;
    int height, width, out_height, out_width;
} kp_conv_call;

// The drivers behind kp_conv_create, kp_conv_workspace_size and kp_conv_run: GEMM-based (1x1 and
// indirect; conv_gemm.c) and Winograd (winograd.c). prepare packs the weights into conv->packed;
// it returns 0 when out of memory.
int kp_gemm_prepare(kp_conv *conv, const float *weights);
size_t kp_gemm_conv_workspace_size(const kp_conv *conv, int height, int width, int threads);
void kp_gemm_conv_run(const kp_conv *conv, const float *input, int height, int width, const float *residual,
                      float *output, void *workspace, kp_threadpool *pool);
int kp_winograd_prepare(kp_conv *conv, const float *weights, kp_threadpool *pool);
size_t kp_winograd_workspace_size(const kp_conv *conv, int batch, int height, int width, int threads);
void kp_winograd_run(const kp_conv *conv, const float *input, int batch, int height, int width, const float *residual,
                     float *output, void *workspace, kp_threadpool *pool);

#endif

// Convolution algorithms on the GEMM microkernels, and the double-precision reference.

#include "kp_conv_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Winograd F(4x4, 3x3): Y = AT [(G g GT) .* (BT d B)] A, with d a 6x6 input tile, g the 3x3
// kernel and Y the 4x4 output tile (Lavin & Gray, arXiv 1509.09308). Points 0, 1, -1, 2, -2, inf.
const float kp_winograd_f4_bt[36] = {
    4, 0, -5, 0,  1, 0, //
    0, -4, -4, 1, 1, 0, //
    0, 4, -4, -1, 1, 0, //
    0, -2, -1, 2, 1, 0, //
    0, 2, -1, -2, 1, 0, //
    0, 4, 0, -5,  0, 1, //
};
const double kp_winograd_f4_g[18] = {
    1.0 / 4,   0,          0,         //
    -1.0 / 6,  -1.0 / 6,   -1.0 / 6,  //
    -1.0 / 6,  1.0 / 6,    -1.0 / 6,  //
    1.0 / 24,  1.0 / 12,   1.0 / 6,   //
    1.0 / 24,  -1.0 / 12,  1.0 / 6,   //
    0,         0,          1,         //
};
const float kp_winograd_f4_at[24] = {
    1, 1, 1,  1, 1,  0, //
    0, 1, -1, 2, -2, 0, //
    0, 1, 1,  4, 4,  0, //
    0, 1, -1, 8, -8, 1, //
};

// Winograd F(6x6, 3x3): 8x8 input tiles, 6x6 outputs; points 0, 1, -1, 2, -2, 1/2, -1/2, inf.
const float kp_winograd_f6_bt[64] = {
    1, 0,     -5.25f, 0,     5.25f,  0,    -1, 0, //
    0, 1,     1,      -4.25f, -4.25f, 1,    1,  0, //
    0, -1,    1,      4.25f,  -4.25f, -1,   1,  0, //
    0, 0.5f,  0.25f,  -2.5f,  -1.25f, 2,    1,  0, //
    0, -0.5f, 0.25f,  2.5f,   -1.25f, -2,   1,  0, //
    0, 2,     4,      -2.5f,  -5,     0.5f, 1,  0, //
    0, -2,    4,      2.5f,   -5,     -0.5f, 1, 0, //
    0, -1,    0,      5.25f,  0,      -5.25f, 0, 1, //
};
const double kp_winograd_f6_g[24] = {
    1,           0,           0,          //
    -2.0 / 9,    -2.0 / 9,    -2.0 / 9,   //
    -2.0 / 9,    2.0 / 9,     -2.0 / 9,   //
    1.0 / 90,    1.0 / 45,    2.0 / 45,   //
    1.0 / 90,    -1.0 / 45,   2.0 / 45,   //
    32.0 / 45,   16.0 / 45,   8.0 / 45,   //
    32.0 / 45,   -16.0 / 45,  8.0 / 45,   //
    0,           0,           1,          //
};
const float kp_winograd_f6_at[48] = {
    1, 1, 1,  1,  1,   1,        1,         0, //
    0, 1, -1, 2,  -2,  0.5f,     -0.5f,     0, //
    0, 1, 1,  4,  4,   0.25f,    0.25f,     0, //
    0, 1, -1, 8,  -8,  0.125f,   -0.125f,   0, //
    0, 1, 1,  16, 16,  0.0625f,  0.0625f,   0, //
    0, 1, -1, 32, -32, 0.03125f, -0.03125f, 1, //
};

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
};

static size_t kp_round_up(size_t value, size_t multiple) { return (value + multiple - 1) / multiple * multiple; }
static size_t kp_align_floats(size_t count) { return kp_round_up(count, 16); } // 64-byte multiples

void kp_conv_output_size(const kp_conv_shape *shape, int height, int width, int *out_height, int *out_width) {
    int extent_h = shape->dilation_h * (shape->kernel_h - 1) + 1;
    int extent_w = shape->dilation_w * (shape->kernel_w - 1) + 1;
    int padded_h = height + 2 * shape->pad_h, padded_w = width + 2 * shape->pad_w;
    *out_height = padded_h >= extent_h ? (padded_h - extent_h) / shape->stride_h + 1 : 0;
    *out_width = padded_w >= extent_w ? (padded_w - extent_w) / shape->stride_w + 1 : 0;
}

// Winograd F(4x4) for 3x3 stride-1 layers with channels to share the transforms across. F(6x6)
// multiplies less per output (64 positions per 36 outputs against 36 per 16) but is not chosen
// automatically: it still measures slower than F(4x4) on every peer shape (README, "Convolution
// core").
kp_algorithm kp_conv_choose_algorithm(const kp_conv_shape *shape) {
    if (shape->groups == 1 && shape->kernel_h == 1 && shape->kernel_w == 1 && shape->stride_h == 1 &&
        shape->stride_w == 1 && shape->pad_h == 0 && shape->pad_w == 0) {
        return KP_ALGORITHM_GEMM_1X1;
    }
    if (shape->groups == 1 && shape->kernel_h == 3 && shape->kernel_w == 3 && shape->stride_h == 1 &&
        shape->stride_w == 1 && shape->dilation_h == 1 && shape->dilation_w == 1 && shape->in_channels >= 8 &&
        shape->out_channels >= 8) {
        return KP_ALGORITHM_WINOGRAD_F4;
    }
    return KP_ALGORITHM_INDIRECT_GEMM;
}

static int kp_shape_error(const kp_conv_shape *s, char message[256]) {
    if (s->in_channels < 1 || s->out_channels < 1 || s->kernel_h < 1 || s->kernel_w < 1 || s->stride_h < 1 ||
        s->stride_w < 1 || s->pad_h < 0 || s->pad_w < 0 || s->dilation_h < 1 || s->dilation_w < 1 ||
        s->groups < 1) {
        snprintf(message, 256, "invalid convolution: channels, kernel, stride, dilation and groups must be "
                               "positive and padding not negative");
        return 1;
    }
    if (s->in_channels % s->groups != 0 || s->out_channels % s->groups != 0) {
        snprintf(message, 256, "%d groups do not divide %d input and %d output channels", s->groups,
                 s->in_channels, s->out_channels);
        return 1;
    }
    return 0;
}

// U = G g GT for every (out, in) pair, in double, written straight into the packed layout of the
// out_channels x in_channels matrix U[p] of each position p = window * a + b, for the microkernel.
// Sixteen input channels at a time, each step a loop over them (contiguous, so it vectorises):
// training transforms every layer's weights twice a step.
enum { KP_PREPARE_BLOCK = 16 };

static int kp_prepare_winograd(kp_conv *conv, const float *weights) {
    const size_t cin = (size_t)conv->shape.in_channels, cout = (size_t)conv->shape.out_channels;
    const size_t mr = (size_t)conv->kernels->mr;
    const int n = conv->window;
    const size_t positions = (size_t)(n * n);
    const double *g_matrix = conv->tile == 6 ? kp_winograd_f6_g : kp_winograd_f4_g;
    conv->packed_stride = kp_align_floats(kp_round_up(cout, mr) * cin);
    conv->packed = aligned_alloc(64, positions * conv->packed_stride * sizeof(float));
    if (conv->packed == NULL) return 0;
    memset(conv->packed, 0, positions * conv->packed_stride * sizeof(float)); // the last panel's spare rows
    for (size_t o = 0; o < cout; o++) {
        // Row o of U[p] goes to row o % mr of panel o / mr, k-major (as kp_pack_a lays it out).
        float *row = conv->packed + (o / mr) * cin * mr + o % mr;
        for (size_t i0 = 0; i0 < cin; i0 += KP_PREPARE_BLOCK) {
            const size_t count = cin - i0 < KP_PREPARE_BLOCK ? cin - i0 : KP_PREPARE_BLOCK;
            double g[9][KP_PREPARE_BLOCK];     // the kernels, tap-major
            double gg[8][3][KP_PREPARE_BLOCK]; // G g
            for (size_t t = 0; t < 9; t++) {
                for (size_t i = 0; i < count; i++) g[t][i] = weights[(o * cin + i0 + i) * 9 + t];
            }
            for (int a = 0; a < n; a++) {
                for (int j = 0; j < 3; j++) {
                    for (size_t i = 0; i < count; i++) {
                        double sum = 0;
                        for (int k = 0; k < 3; k++) sum += g_matrix[a * 3 + k] * g[k * 3 + j][i];
                        gg[a][j][i] = sum;
                    }
                }
            }
            for (int a = 0; a < n; a++) {
                for (int b = 0; b < n; b++) {
                    float *target = row + (size_t)(a * n + b) * conv->packed_stride + i0 * mr;
                    for (size_t i = 0; i < count; i++) {
                        double sum = 0;
                        for (int j = 0; j < 3; j++) sum += gg[a][j][i] * g_matrix[b * 3 + j];
                        target[i * mr] = (float)sum;
                    }
                }
            }
        }
    }
    return 1;
}

// Per group, the (out/groups) x (in/groups * kh * kw) weight matrix, packed.
static int kp_prepare_gemm(kp_conv *conv, const float *weights) {
    const kp_conv_shape *s = &conv->shape;
    const size_t groups = (size_t)s->groups, rows = (size_t)s->out_channels / groups;
    const size_t k = (size_t)s->in_channels / groups * (size_t)s->kernel_h * (size_t)s->kernel_w;
    conv->packed_stride = kp_align_floats(kp_round_up(rows, (size_t)conv->kernels->mr) * k);
    conv->packed = aligned_alloc(64, groups * conv->packed_stride * sizeof(float));
    if (conv->packed == NULL) return 0;
    for (size_t g = 0; g < groups; g++) {
        kp_pack_a(weights + g * rows * k, k, rows, k, conv->kernels->mr, conv->packed + g * conv->packed_stride);
    }
    return 1;
}

kp_conv *kp_conv_create(const kp_conv_shape *shape, const float *weights, const float *bias,
                        kp_activation activation, float leaky_slope, kp_algorithm algorithm, kp_isa isa,
                        char message[256]) {
    if (kp_shape_error(shape, message)) return NULL;
    const kp_isa_kernels *kernels = kp_kernels_for(isa);
    if (kernels == NULL) {
        snprintf(message, 256, "this CPU or build cannot run %s kernels", kp_isa_name(isa));
        return NULL;
    }
    kp_algorithm chosen = algorithm == KP_ALGORITHM_AUTO ? kp_conv_choose_algorithm(shape) : algorithm;
    const kp_conv_shape *s = shape;
    const int winograd = chosen == KP_ALGORITHM_WINOGRAD_F4 || chosen == KP_ALGORITHM_WINOGRAD_F6;
    if (winograd &&
        !(s->groups == 1 && s->kernel_h == 3 && s->kernel_w == 3 && s->stride_h == 1 && s->stride_w == 1 &&
          s->dilation_h == 1 && s->dilation_w == 1)) {
        snprintf(message, 256, "Winograd needs a 3x3 stride-1 undilated ungrouped convolution");
        return NULL;
    }
    if (chosen == KP_ALGORITHM_GEMM_1X1 && kp_conv_choose_algorithm(shape) != KP_ALGORITHM_GEMM_1X1) {
        snprintf(message, 256, "the 1x1 GEMM path needs a 1x1 stride-1 unpadded ungrouped convolution");
        return NULL;
    }
    kp_conv *conv = calloc(1, sizeof *conv);
    if (conv == NULL) {
        snprintf(message, 256, "out of memory");
        return NULL;
    }
    conv->shape = *shape;
    conv->algorithm = chosen;
    conv->kernels = kernels;
    conv->activation = activation;
    conv->slope = leaky_slope;
    conv->tile = chosen == KP_ALGORITHM_WINOGRAD_F6 ? 6 : chosen == KP_ALGORITHM_WINOGRAD_F4 ? 4 : 0;
    conv->window = conv->tile ? conv->tile + 2 : 0;
    conv->bias = calloc((size_t)shape->out_channels, sizeof(float));
    if (conv->bias != NULL && bias != NULL) memcpy(conv->bias, bias, (size_t)shape->out_channels * sizeof(float));
    int prepared = conv->bias != NULL &&
                   (winograd ? kp_prepare_winograd(conv, weights) : kp_prepare_gemm(conv, weights));
    if (!prepared) {
        kp_conv_destroy(conv);
        snprintf(message, 256, "out of memory");
        return NULL;
    }
    return conv;
}

void kp_conv_destroy(kp_conv *conv) {
    if (conv == NULL) return;
    free(conv->bias);
    free(conv->packed);
    free(conv);
}

kp_algorithm kp_conv_algorithm(const kp_conv *conv) { return conv->algorithm; }

// ---------------------------------------------------------------------------------------------
// GEMM paths: 1x1 (B = the input planes as they are) and indirect convolution for everything
// else: B's row for kernel tap (c, ky, kx) and output row oy is a row of the input picked by
// pointer, so no im2col matrix is ever written. The input rows are copied into zero-padded rows
// split into column phases x = j * sw + m (the stride), which makes every tap's row a contiguous
// run: input x(ox * sw - pw + kx * dw) is phase (kx * dw) % sw at j = ox + kx * dw / sw.
// Work items are bands of output rows: each splits just the input rows its band reads into the
// thread's scratch, sized to stay in L2, and runs the band's GEMMs on them while they are there.

typedef struct {
    const kp_conv *conv;
    const float *input;
    const float *residual;
    float *output;
    int height, width, out_height, out_width;
    size_t k;              // taps per output value: in_channels / groups * kernel_h * kernel_w
    size_t block_columns;  // 1x1: output pixels per work item
    size_t phase_length;   // indirect: floats per phase row, zero-padded past the image
    size_t band_rows;      // indirect: output rows per work item
    size_t bands;          // indirect: work items per group
    const float *zeros;    // indirect: a phase row of zeros, for taps above and below the image
    size_t thread_floats;
    float *workspace;      // per-thread scratch
} kp_gemm_job;

static size_t kp_gemm_k(const kp_conv_shape *s) {
    return (size_t)s->in_channels / (size_t)s->groups * (size_t)s->kernel_h * (size_t)s->kernel_w;
}

// Output pixels per 1x1 work item: a B block (k x columns) of about 256 KiB, whole microkernel blocks.
static size_t kp_gemm_block_columns(const kp_conv *conv, size_t k, size_t columns) {
    const size_t nr = (size_t)conv->kernels->nr;
    size_t block = (256 * 1024 / sizeof(float)) / (k > 0 ? k : 1) / nr * nr;
    if (block < nr) block = nr;
    if (block > 2048) block = 2048;
    return block < columns ? block : kp_round_up(columns, nr);
}

// Phase rows hold every padded column plus a microkernel block of slack, so that a block read
// starting at any output column stays inside the row.
static size_t kp_phase_length(const kp_conv *conv, int width) {
    const size_t padded_width = (size_t)width + 2 * (size_t)conv->shape.pad_w;
    const size_t sw = (size_t)conv->shape.stride_w;
    return kp_align_floats((padded_width + sw - 1) / sw + (size_t)conv->kernels->nr);
}

// Input rows an indirect band of `band_rows` output rows reads (of one channel).
static size_t kp_band_input_rows(const kp_conv_shape *s, size_t band_rows) {
    return (band_rows - 1) * (size_t)s->stride_h + (size_t)(s->kernel_h - 1) * (size_t)s->dilation_h + 1;
}

// Output rows per indirect work item: as many as keep the band's phase-split input rows (group
// channels x rows x phases) within 512 KiB, half the L2 of a core here, but at most an eighth of
// the rows, so that a single group still gives threads eight items to share. (Not a function of
// the thread count: the workspace size must not depend on it beyond the per-thread factor.)
static size_t kp_band_rows(const kp_conv *conv, size_t phase_length, int out_height) {
    const kp_conv_shape *s = &conv->shape;
    const size_t row_floats = (size_t)(s->in_channels / s->groups) * (size_t)s->stride_w * phase_length;
    const size_t budget = 128 * 1024;
    const size_t eighth = ((size_t)out_height + 7) / 8;
    size_t rows = 1;
    while (rows < eighth && kp_band_input_rows(s, rows + 1) * row_floats <= budget) rows++;
    return rows;
}

// Per-thread scratch: the GEMM's edge block, the k row pointers and, for indirect convolution,
// one padded input row and the phase-split input rows of a band.
static size_t kp_gemm_thread_floats(const kp_conv *conv, size_t k, size_t phase_length, size_t band_rows) {
    const size_t pointer_floats = (k * sizeof(float *) + sizeof(float) - 1) / sizeof(float);
    size_t floats = kp_align_floats(kp_gemm_scratch_floats(conv->kernels, k)) + kp_align_floats(pointer_floats);
    if (conv->algorithm == KP_ALGORITHM_INDIRECT_GEMM) {
        const kp_conv_shape *s = &conv->shape;
        floats += phase_length * (size_t)s->stride_w;
        floats += (size_t)(s->in_channels / s->groups) * kp_band_input_rows(s, band_rows) * (size_t)s->stride_w *
                  phase_length;
    }
    return floats;
}

// Input row y of channel c, zero-padded, into its sw column phases of phase_length floats each
// (`padded`: a scratch row of sw * phase_length floats).
static void kp_phase_split_row(const kp_gemm_job *job, size_t c, size_t y, float *phases, float *padded) {
    const kp_conv_shape *s = &job->conv->shape;
    const size_t sw = (size_t)s->stride_w, length = job->phase_length, pad = (size_t)s->pad_w;
    const float *row = job->input + (c * (size_t)job->height + y) * (size_t)job->width;
    float *target = sw == 1 ? phases : padded; // stride 1: the padded row is the only phase
    memset(target, 0, pad * sizeof(float));
    memcpy(target + pad, row, (size_t)job->width * sizeof(float));
    memset(target + pad + (size_t)job->width, 0, (sw * length - pad - (size_t)job->width) * sizeof(float));
    if (sw == 2) {
        for (size_t j = 0; j < length; j++) {
            phases[j] = padded[2 * j];
            phases[length + j] = padded[2 * j + 1];
        }
    } else if (sw > 2) {
        for (size_t m = 0; m < sw; m++) {
            for (size_t j = 0; j < length; j++) phases[m * length + j] = padded[j * sw + m];
        }
    }
}

// Indirect convolution, one band of output rows of one group: split the input rows the band
// reads, then per output row point B's rows at them and run one GEMM.
static void kp_indirect_item(void *context, size_t item, int thread) {
    const kp_gemm_job *job = context;
    const kp_conv *conv = job->conv;
    const kp_conv_shape *s = &conv->shape;
    const size_t group = item / job->bands;
    const int first_row = (int)(item % job->bands * job->band_rows);
    const int end_row = first_row + (int)job->band_rows < job->out_height ? first_row + (int)job->band_rows
                                                                          : job->out_height;
    const size_t group_in = (size_t)s->in_channels / (size_t)s->groups;
    const size_t group_out = (size_t)s->out_channels / (size_t)s->groups;
    const size_t sw = (size_t)s->stride_w, length = job->phase_length;
    const size_t pixels = (size_t)job->out_height * (size_t)job->out_width;
    float *scratch = job->workspace + (size_t)thread * job->thread_floats;
    const float **rows = (const float **)(scratch + kp_align_floats(kp_gemm_scratch_floats(conv->kernels, job->k)));
    float *padded = (float *)rows + kp_align_floats((job->k * sizeof(float *) + sizeof(float) - 1) / sizeof(float));
    float *band = padded + sw * length; // [channel in group][input row - first_y][phase][length]
    const size_t band_input_rows = kp_band_input_rows(s, job->band_rows);
    const int first_y = first_row * s->stride_h - s->pad_h;
    const int end_y = first_y + (int)kp_band_input_rows(s, (size_t)(end_row - first_row));
    for (size_t i = 0; i < group_in; i++) {
        for (int y = first_y < 0 ? 0 : first_y; y < end_y && y < job->height; y++) {
            kp_phase_split_row(job, group * group_in + i, (size_t)y,
                               band + (i * band_input_rows + (size_t)(y - first_y)) * sw * length, padded);
        }
    }
    for (int oy = first_row; oy < end_row; oy++) {
        size_t tap = 0;
        for (size_t i = 0; i < group_in; i++) {
            for (int ky = 0; ky < s->kernel_h; ky++) {
                const int y = oy * s->stride_h - s->pad_h + ky * s->dilation_h;
                if (y < 0 || y >= job->height) {
                    for (int kx = 0; kx < s->kernel_w; kx++) rows[tap++] = job->zeros;
                    continue;
                }
                const float *phases = band + (i * band_input_rows + (size_t)(y - first_y)) * sw * length;
                for (int kx = 0; kx < s->kernel_w; kx++) {
                    const size_t offset = (size_t)kx * (size_t)s->dilation_w;
                    rows[tap++] = phases + (offset % sw) * length + offset / sw;
                }
            }
        }
        const size_t offset = group * group_out * pixels + (size_t)oy * (size_t)job->out_width;
        kp_gemm(conv->kernels, group_out, (size_t)job->out_width, job->k, conv->packed + group * conv->packed_stride,
                rows, job->output + offset, pixels, conv->bias + group * group_out,
                job->residual ? job->residual + offset : NULL, conv->activation, conv->slope, scratch);
    }
}

// 1x1, one block of output pixels: B's rows are the input planes from the block's first pixel.
static void kp_gemm_1x1_item(void *context, size_t block, int thread) {
    const kp_gemm_job *job = context;
    const kp_conv *conv = job->conv;
    const size_t pixels = (size_t)job->out_height * (size_t)job->out_width;
    const size_t first = block * job->block_columns;
    const size_t count = pixels - first < job->block_columns ? pixels - first : job->block_columns;
    float *scratch = job->workspace + (size_t)thread * job->thread_floats;
    const float **rows = (const float **)(scratch + kp_align_floats(kp_gemm_scratch_floats(conv->kernels, job->k)));
    for (size_t c = 0; c < job->k; c++) rows[c] = job->input + c * pixels + first;
    kp_gemm(conv->kernels, (size_t)conv->shape.out_channels, count, job->k, conv->packed, rows,
            job->output + first, pixels, conv->bias, job->residual ? job->residual + first : NULL, conv->activation,
            conv->slope, scratch);
}

// ---------------------------------------------------------------------------------------------
// Winograd F(m x m, 3x3), m = 4 or 6 (`tile`), on input windows of n = m + 2 (`window`).
//
// Output tiles are numbered t = ty * tiles_w + tx. A block of consecutive tiles goes through
//   1. the input transform: V[p][c][t] for the n*n positions p of every input channel c,
//   2. n*n GEMMs: M[p] (out x tiles) = U[p] (out x in) * V[p] (in x tiles),
//   3. the output transform: Y = AT M A per tile and channel, plus bias, residual, activation.
// The transforms run along tiles (one lane per tile), over the whole block at once.

typedef struct {
    const kp_conv *conv;
    const float *input;
    const float *residual;
    float *output;
    int height, width, out_height, out_width, tiles_w, tiles_h;
    size_t tiles, block_tiles, blocks;
    size_t stride;                 // lanes per (position, channel) row of V and M: block_tiles, padded
    size_t positions;              // window * window
    size_t group;                  // channels transformed together when a block is full (see below)
    float *shared;                 // V and M of the block in phase-parallel mode
    float *workspace;              // per-thread scratch (and per-thread V, M in block-parallel mode)
    size_t thread_floats;
    size_t block;                  // the block being processed in phase-parallel mode
} kp_winograd_job;

static size_t kp_winograd_vm_floats(const kp_conv *conv, size_t stride) {
    const size_t positions = (size_t)(conv->window * conv->window);
    return positions * ((size_t)conv->shape.in_channels + (size_t)conv->shape.out_channels) * stride;
}

// Per-thread scratch, used by one phase at a time: for the transforms, 2 * positions rows of
// `stride` lanes (the gathered windows and the half-transformed ones; the output transform's sums
// and tiles fit there too) and 12 rows of a tile row's lanes for splitting rows into column phases
// and padding them; for the GEMMs, the edge block and the row pointers.
static size_t kp_winograd_scratch_floats(const kp_conv *conv, size_t stride, size_t group, int tiles_w) {
    const size_t positions = (size_t)(conv->window * conv->window);
    const size_t cin = (size_t)conv->shape.in_channels;
    const size_t gemm = kp_align_floats(kp_gemm_scratch_floats(conv->kernels, cin)) +
                        kp_align_floats((cin * sizeof(float *) + sizeof(float) - 1) / sizeof(float));
    const size_t transforms = 2 * positions * group * stride + kp_align_floats(12 * ((size_t)tiles_w + 2));
    return transforms > gemm ? transforms : gemm;
}

// Runs the statement after it for each tile-row segment (ty, tx0 ... tx0 + run - 1) of tiles
// [first, first + count), lane0 being the segment's first lane.
#define KP_FOR_EACH_TILE_ROW(job, first, count, ty, tx0, run, lane0)                                        \
    for (size_t kp_t = (first), ty, tx0, run, lane0; kp_t < (first) + (count); kp_t += run)                \
        if ((ty = kp_t / (size_t)(job)->tiles_w, tx0 = kp_t % (size_t)(job)->tiles_w,                      \
             run = (size_t)(job)->tiles_w - tx0 < (first) + (count) - kp_t ? (size_t)(job)->tiles_w - tx0    \
                                                                         : (first) + (count) - kp_t,       \
             lane0 = kp_t - (first), 1))

// One pass of the input transform (BT) over n lanes: rows d[0 .. window) into r[0 .. window).
static void kp_winograd_input_pass(const kp_conv *conv, const float *const *d, float *const *r, size_t n) {
    if (conv->tile == 6) {
        conv->kernels->winograd6_input(d, r, n);
    } else {
        conv->kernels->winograd_input(d, r, n);
    }
}

// One pass of the output transform (AT): rows m[0 .. window) into o[0 .. tile).
static void kp_winograd_output_pass(const kp_conv *conv, const float *const *m, float *const *o, size_t n) {
    if (conv->tile == 6) {
        conv->kernels->winograd6_output(m, o, n);
    } else {
        conv->kernels->winograd_output(m, o, n);
    }
}

// The window rows of a tile-row segment are short runs in planes far apart, too many at once for
// the hardware prefetcher on large maps: the gather asks for a channel this far ahead itself.
enum { KP_WINOGRAD_PREFETCH_CHANNELS = 2 };

// Prefetches rows y0 ... y0 + window - 1, columns x0 ... x0 + span - 1 (clipped) of channel c.
static void kp_winograd_prefetch_rows(const kp_winograd_job *job, size_t c, int y0, int x0, size_t span) {
    const int begin = x0 < 0 ? 0 : x0;
    const int end = x0 + (int)span < job->width ? x0 + (int)span : job->width;
    for (int y = y0 < 0 ? 0 : y0; y < y0 + job->conv->window && y < job->height; y++) {
        const float *row = job->input + (c * (size_t)job->height + (size_t)y) * (size_t)job->width;
        for (int x = begin; x < end; x += 16) __builtin_prefetch(row + x);
        __builtin_prefetch(row + end - 1);
    }
}

// Tiles [first, first + count) of input channels c0 ... c0 + channels - 1 into v[p][c][lane]
// (lane 0 = tile `first`):
//   d[u][v] = x(m ty + u - pad, m tx + v - pad)   the n x n window of each tile, one lane per tile
//   r[i][v] = sum_u BT[i][u] d[u][v]              down the columns
//   V[n i + k] = sum_v BT[k][v] r[i][v]           along the rows
// The windows are gathered a row at a time. For m = 4, window columns 0-3 of the tiles are the
// row's column phases x(4 tx + j), split out by the ISA's deinterleave, and columns 4 and 5 are
// phases 0 and 1 of the row four columns on. The two passes then run on all tiles of the block at
// once, so they fill whole vectors; when the block is full (count = stride) the rows of several
// channels lie end to end, in V as in the scratch, and one pass covers them all, which keeps the
// vectors full on small images too.
static void kp_winograd_input_channels(const kp_winograd_job *job, size_t c0, size_t channels, size_t first,
                                       size_t count, float *v, float *scratch) {
    const kp_conv *conv = job->conv;
    const int tile = conv->tile, n = conv->window;
    const int pad_h = conv->shape.pad_h, pad_w = conv->shape.pad_w;
    const size_t stride = job->stride, in_channels = (size_t)conv->shape.in_channels;
    const size_t pitch = channels * stride; // floats per scratch row
    const size_t lanes = (channels - 1) * stride + count;
    const size_t row_lanes = (size_t)job->tiles_w + 2;
    float *window = scratch;                                           // [u * n + v][channel][lane]
    float *half = scratch + job->positions * pitch;                    // [i * n + v][channel][lane]
    float *discard = scratch + 2 * job->positions * job->group * stride; // [2][tile in row]: unused phases
    float *padded = discard + 4 * row_lanes;                           // a row segment with its zero padding
    for (size_t g = 0; g < channels; g++) {
        const float *plane = job->input + (c0 + g) * (size_t)job->height * (size_t)job->width;
        const size_t ahead = c0 + g + KP_WINOGRAD_PREFETCH_CHANNELS;
        KP_FOR_EACH_TILE_ROW(job, first, count, ty, tx0, run, lane0) {
            const int x0 = (int)tx0 * tile - pad_w;
            const size_t span = (size_t)tile * run + 2 + (tile == 4 ? 2 : 0); // the deinterleave reads 4 per tile
            if (ahead < in_channels) kp_winograd_prefetch_rows(job, ahead, (int)ty * tile - pad_h, x0, span);
            for (int u = 0; u < n; u++) {
                float *rows = window + (size_t)(u * n) * pitch + g * stride + lane0;
                const int y = (int)ty * tile + u - pad_h;
                if (y < 0 || y >= job->height) {
                    for (int vv = 0; vv < n; vv++) memset(rows + (size_t)vv * pitch, 0, run * sizeof(float));
                    continue;
                }
                const float *row = plane + (size_t)y * (size_t)job->width;
                const float *segment = row + x0;
                if (x0 < 0 || x0 + (int)span > job->width) {
                    const int begin = x0 < 0 ? 0 : x0;
                    const int end = x0 + (int)span < job->width ? x0 + (int)span : job->width;
                    memset(padded, 0, span * sizeof(float));
                    if (end > begin) memcpy(padded + (begin - x0), row + begin, (size_t)(end - begin) * sizeof(float));
                    segment = padded;
                }
                if (tile == 4 && run >= 4) {
                    float *const columns[4] = {rows, rows + pitch, rows + 2 * pitch, rows + 3 * pitch};
                    float *const shifted[4] = {rows + 4 * pitch, rows + 5 * pitch, discard, discard + row_lanes};
                    conv->kernels->deinterleave4(segment, run, columns);     // columns 0-3: phases 0-3
                    conv->kernels->deinterleave4(segment + 4, run, shifted); // columns 4, 5: phases 0, 1 a tile on
                } else if (tile == 6) {
                    float *const columns[8] = {rows, rows + pitch, rows + 2 * pitch, rows + 3 * pitch,
                                               rows + 4 * pitch, rows + 5 * pitch, rows + 6 * pitch, rows + 7 * pitch};
                    conv->kernels->gather6(segment, run, columns);
                } else {
                    for (size_t j = 0; j < run; j++) {
                        for (int vv = 0; vv < n; vv++) rows[(size_t)vv * pitch + j] = segment[(size_t)tile * j + (size_t)vv];
                    }
                }
            }
        }
    }
    for (int vv = 0; vv < n; vv++) {
        const float *d[8];
        float *r[8];
        for (int u = 0; u < n; u++) {
            d[u] = window + (size_t)(u * n + vv) * pitch;
            r[u] = half + (size_t)(u * n + vv) * pitch;
        }
        kp_winograd_input_pass(conv, d, r, lanes);
    }
    for (int i = 0; i < n; i++) {
        const float *d[8];
        float *r[8];
        for (int vv = 0; vv < n; vv++) d[vv] = half + (size_t)(i * n + vv) * pitch;
        for (int k = 0; k < n; k++) r[k] = v + ((size_t)(i * n + k) * in_channels + c0) * stride;
        kp_winograd_input_pass(conv, d, r, lanes);
    }
}

// Tiles [first, first + count) of output channels o0 ... o0 + channels - 1 from m[p][o][lane]
// into the output image (channels side by side as in the input transform):
//   s[a][k] = sum_i AT[a][i] M[n i + k]     down the columns
//   y[a][b] = sum_k AT[b][k] s[a][k]        along the rows
// then the output stage, act(y + bias + residual), written where the tile lies inside the image.
static void kp_winograd_output_channels(const kp_winograd_job *job, size_t o0, size_t channels, size_t first,
                                        size_t count, const float *m, float *scratch) {
    const kp_conv *conv = job->conv;
    const int tile = conv->tile, n = conv->window;
    const size_t stride = job->stride, out_channels = (size_t)conv->shape.out_channels;
    const size_t pitch = channels * stride;
    const size_t lanes = (channels - 1) * stride + count;
    const size_t plane = (size_t)job->out_height * (size_t)job->out_width;
    float *sums = scratch;                                  // [a * n + k][channel][lane]
    float *values = scratch + (size_t)(tile * n) * pitch;   // [a * tile + b][channel][lane]
    float *row_buffer = scratch + 2 * job->positions * job->group * stride + 4 * ((size_t)job->tiles_w + 2);
    for (int k = 0; k < n; k++) {
        const float *d[8];
        float *r[6];
        for (int i = 0; i < n; i++) d[i] = m + ((size_t)(i * n + k) * out_channels + o0) * stride;
        for (int a = 0; a < tile; a++) r[a] = sums + (size_t)(a * n + k) * pitch;
        kp_winograd_output_pass(conv, d, r, lanes);
    }
    for (int a = 0; a < tile; a++) {
        const float *d[8];
        float *r[6];
        for (int k = 0; k < n; k++) d[k] = sums + (size_t)(a * n + k) * pitch;
        for (int b = 0; b < tile; b++) r[b] = values + (size_t)(a * tile + b) * pitch;
        kp_winograd_output_pass(conv, d, r, lanes);
    }
    for (size_t g = 0; g < channels; g++) {
        const size_t o = o0 + g;
        const float bias = conv->bias[o];
        float *output = job->output + o * plane;
        const float *residual = job->residual ? job->residual + o * plane : NULL;
        KP_FOR_EACH_TILE_ROW(job, first, count, ty, tx0, run, lane0) {
            const size_t x0 = tx0 * (size_t)tile;
            const size_t full = (size_t)tile * run;
            const size_t width = full <= (size_t)job->out_width - x0 ? full : (size_t)job->out_width - x0;
            for (int a = 0; a < tile; a++) {
                const size_t y = ty * (size_t)tile + (size_t)a;
                if (y >= (size_t)job->out_height) break;
                const float *tile_row = values + (size_t)(a * tile) * pitch + g * stride + lane0;
                float *target = output + y * (size_t)job->out_width + x0;
                // F(4x4) interleaves straight into the image when the whole segment fits; F(6x6)'s
                // scatter writes two spare values past the segment, so it always goes via a buffer.
                float *interleaved = width == full && tile == 4 ? target : row_buffer;
                if (tile == 4) {
                    const float *const columns[4] = {tile_row, tile_row + pitch, tile_row + 2 * pitch,
                                                     tile_row + 3 * pitch};
                    conv->kernels->interleave4(columns, run, interleaved);
                } else {
                    const float *const columns[6] = {tile_row, tile_row + pitch, tile_row + 2 * pitch,
                                                     tile_row + 3 * pitch, tile_row + 4 * pitch, tile_row + 5 * pitch};
                    conv->kernels->scatter6(columns, run, interleaved);
                }
                if (interleaved != target) memcpy(target, interleaved, width * sizeof(float));
                kp_output_stage_row(target, width, bias,
                                    residual ? residual + y * (size_t)job->out_width + x0 : NULL, conv->activation,
                                    conv->slope);
            }
        }
    }
}

// Channels per transform call for a block of `count` tiles: side by side only when the block is
// full, so no lane between them is left unwritten.
static size_t kp_winograd_channels(const kp_winograd_job *job, size_t count, size_t c, size_t total) {
    const size_t group = count == job->stride ? job->group : 1;
    return total - c < group ? total - c : group;
}

static void kp_winograd_block_range(const kp_winograd_job *job, size_t block, size_t *first, size_t *count) {
    *first = block * job->block_tiles;
    *count = job->tiles - *first < job->block_tiles ? job->tiles - *first : job->block_tiles;
}

static void kp_winograd_gemm_position(const kp_winograd_job *job, size_t p, size_t count, const float *v, float *m,
                                      float *scratch) {
    const kp_conv *conv = job->conv;
    const size_t cin = (size_t)conv->shape.in_channels, cout = (size_t)conv->shape.out_channels;
    const size_t gemm_floats = kp_align_floats(kp_gemm_scratch_floats(conv->kernels, cin));
    const float **rows = (const float **)(scratch + gemm_floats);
    for (size_t c = 0; c < cin; c++) rows[c] = v + (p * cin + c) * job->stride;
    kp_gemm(conv->kernels, cout, count, cin, conv->packed + p * conv->packed_stride, rows,
            m + p * cout * job->stride, job->stride, NULL, NULL, KP_ACTIVATION_NONE, 0, scratch);
}

// Block-parallel mode: one work item is one whole block, in the thread's own V and M.
static void kp_winograd_block_item(void *context, size_t block, int thread) {
    const kp_winograd_job *job = context;
    const kp_conv *conv = job->conv;
    float *own = job->workspace + (size_t)thread * job->thread_floats;
    float *scratch = own;
    float *v = own + kp_winograd_scratch_floats(conv, job->stride, job->group, job->tiles_w);
    float *m = v + job->positions * (size_t)conv->shape.in_channels * job->stride;
    size_t first, count;
    kp_winograd_block_range(job, block, &first, &count);
    const size_t cin = (size_t)conv->shape.in_channels, cout = (size_t)conv->shape.out_channels;
    for (size_t c = 0, step; c < cin; c += step) {
        step = kp_winograd_channels(job, count, c, cin);
        kp_winograd_input_channels(job, c, step, first, count, v, scratch);
    }
    for (size_t p = 0; p < job->positions; p++) kp_winograd_gemm_position(job, p, count, v, m, scratch);
    for (size_t o = 0, step; o < cout; o += step) {
        step = kp_winograd_channels(job, count, o, cout);
        kp_winograd_output_channels(job, o, step, first, count, m, scratch);
    }
}

// Phase-parallel mode, for few blocks: the phases of one block split over channels and positions.
// Items are groups of job->group channels (a full block) or single channels.
static size_t kp_winograd_channel_items(const kp_winograd_job *job, size_t count, size_t channels) {
    const size_t group = count == job->stride ? job->group : 1;
    return (channels + group - 1) / group;
}

static void kp_winograd_input_item(void *context, size_t item, int thread) {
    const kp_winograd_job *job = context;
    size_t first, count;
    kp_winograd_block_range(job, job->block, &first, &count);
    const size_t group = count == job->stride ? job->group : 1, c = item * group;
    kp_winograd_input_channels(job, c, kp_winograd_channels(job, count, c, (size_t)job->conv->shape.in_channels),
                               first, count, job->shared, job->workspace + (size_t)thread * job->thread_floats);
}

static void kp_winograd_gemm_item(void *context, size_t p, int thread) {
    const kp_winograd_job *job = context;
    size_t first, count;
    kp_winograd_block_range(job, job->block, &first, &count);
    float *m = job->shared + job->positions * (size_t)job->conv->shape.in_channels * job->stride;
    kp_winograd_gemm_position(job, p, count, job->shared, m, job->workspace + (size_t)thread * job->thread_floats);
}

static void kp_winograd_output_item(void *context, size_t item, int thread) {
    const kp_winograd_job *job = context;
    size_t first, count;
    kp_winograd_block_range(job, job->block, &first, &count);
    const size_t group = count == job->stride ? job->group : 1, o = item * group;
    const float *m = job->shared + job->positions * (size_t)job->conv->shape.in_channels * job->stride;
    kp_winograd_output_channels(job, o, kp_winograd_channels(job, count, o, (size_t)job->conv->shape.out_channels),
                                first, count, m, job->workspace + (size_t)thread * job->thread_floats);
}

// Tiles per block: V and M of a block (positions x (in + out) x tiles floats) within about 1 MiB,
// the L2 of one core here, in whole microkernel columns.
static size_t kp_winograd_block_tiles(const kp_conv *conv, size_t tiles) {
    const size_t nr = (size_t)conv->kernels->nr;
    const size_t per_tile = (size_t)(conv->window * conv->window) *
                            ((size_t)conv->shape.in_channels + (size_t)conv->shape.out_channels) * sizeof(float);
    size_t block = (1024 * 1024 / per_tile) / nr * nr;
    if (block < nr) block = nr;
    if (tiles == 0) return nr;
    return block < tiles ? block : kp_round_up(tiles, nr);
}

static void kp_winograd_plan(const kp_conv *conv, int height, int width, kp_winograd_job *job) {
    kp_conv_output_size(&conv->shape, height, width, &job->out_height, &job->out_width);
    job->tiles_w = (job->out_width + conv->tile - 1) / conv->tile;
    job->tiles_h = (job->out_height + conv->tile - 1) / conv->tile;
    job->tiles = (size_t)job->tiles_w * (size_t)job->tiles_h;
    job->positions = (size_t)(conv->window * conv->window);
    job->block_tiles = kp_winograd_block_tiles(conv, job->tiles);
    job->blocks = (job->tiles + job->block_tiles - 1) / job->block_tiles;
    job->stride = kp_align_floats(job->block_tiles);
    // Transform 64 lanes or more per pass: several channels side by side when blocks are short.
    job->group = job->stride >= 64 ? 1 : 64 / job->stride;
}

// ---------------------------------------------------------------------------------------------

size_t kp_conv_workspace_size(const kp_conv *conv, int height, int width, int threads) {
    if (threads < 1) threads = 1;
    int out_height, out_width;
    kp_conv_output_size(&conv->shape, height, width, &out_height, &out_width);
    if (conv->tile != 0) {
        kp_winograd_job job = {.conv = conv};
        kp_winograd_plan(conv, height, width, &job);
        size_t per_thread = kp_winograd_scratch_floats(conv, job.stride, job.group, job.tiles_w) + kp_winograd_vm_floats(conv, job.stride);
        return ((size_t)threads * per_thread + kp_winograd_vm_floats(conv, job.stride)) * sizeof(float);
    }
    const size_t k = kp_gemm_k(&conv->shape);
    const size_t length = kp_phase_length(conv, width);
    const size_t band_rows = kp_band_rows(conv, length, out_height);
    size_t floats = (size_t)threads * kp_gemm_thread_floats(conv, k, length, band_rows);
    if (conv->algorithm == KP_ALGORITHM_INDIRECT_GEMM) floats += length; // the row of zeros
    return floats * sizeof(float);
}

void kp_conv_run(const kp_conv *conv, const float *input, int height, int width, const float *residual,
                 float *output, void *workspace, kp_threadpool *pool) {
    const int threads = kp_threadpool_threads(pool);
    if (conv->tile != 0) {
        kp_winograd_job job = {.conv = conv, .input = input, .residual = residual, .output = output,
                               .height = height, .width = width};
        kp_winograd_plan(conv, height, width, &job);
        if (job.tiles == 0) return;
        size_t per_thread = kp_winograd_scratch_floats(conv, job.stride, job.group, job.tiles_w) + kp_winograd_vm_floats(conv, job.stride);
        job.workspace = workspace;
        job.thread_floats = per_thread;
        job.shared = (float *)workspace + (size_t)threads * per_thread;
        if (threads == 1 || job.blocks >= 2 * (size_t)threads) {
            kp_parallel_for(pool, job.blocks, kp_winograd_block_item, &job);
        } else {
            for (job.block = 0; job.block < job.blocks; job.block++) {
                size_t first, count;
                kp_winograd_block_range(&job, job.block, &first, &count);
                kp_parallel_for(pool, kp_winograd_channel_items(&job, count, (size_t)conv->shape.in_channels),
                                kp_winograd_input_item, &job);
                kp_parallel_for(pool, job.positions, kp_winograd_gemm_item, &job);
                kp_parallel_for(pool, kp_winograd_channel_items(&job, count, (size_t)conv->shape.out_channels),
                                kp_winograd_output_item, &job);
            }
        }
        return;
    }
    kp_gemm_job job = {.conv = conv, .input = input, .residual = residual, .output = output, .height = height,
                       .width = width, .workspace = workspace};
    kp_conv_output_size(&conv->shape, height, width, &job.out_height, &job.out_width);
    const size_t pixels = (size_t)job.out_height * (size_t)job.out_width;
    if (pixels == 0) return;
    job.k = kp_gemm_k(&conv->shape);
    job.phase_length = kp_phase_length(conv, width);
    job.band_rows = kp_band_rows(conv, job.phase_length, job.out_height);
    job.bands = ((size_t)job.out_height + job.band_rows - 1) / job.band_rows;
    job.thread_floats = kp_gemm_thread_floats(conv, job.k, job.phase_length, job.band_rows);
    if (conv->algorithm == KP_ALGORITHM_GEMM_1X1) {
        job.block_columns = kp_gemm_block_columns(conv, job.k, pixels);
        kp_parallel_for(pool, (pixels + job.block_columns - 1) / job.block_columns, kp_gemm_1x1_item, &job);
        return;
    }
    float *zeros = (float *)workspace + (size_t)threads * job.thread_floats;
    memset(zeros, 0, job.phase_length * sizeof(float));
    job.zeros = zeros;
    kp_parallel_for(pool, (size_t)conv->shape.groups * job.bands, kp_indirect_item, &job);
}

// ---------------------------------------------------------------------------------------------

void kp_conv_reference(const kp_conv_shape *s, const float *weights, const float *bias, kp_activation activation,
                       float leaky_slope, const float *input, int height, int width, const float *residual,
                       float *output) {
    int out_height, out_width;
    kp_conv_output_size(s, height, width, &out_height, &out_width);
    const int group_in = s->in_channels / s->groups, group_out = s->out_channels / s->groups;
    for (int o = 0; o < s->out_channels; o++) {
        const int group = o / group_out;
        for (int oy = 0; oy < out_height; oy++) {
            for (int ox = 0; ox < out_width; ox++) {
                double sum = bias ? bias[o] : 0;
                for (int i = 0; i < group_in; i++) {
                    const float *plane = input + (size_t)(group * group_in + i) * (size_t)height * (size_t)width;
                    for (int ky = 0; ky < s->kernel_h; ky++) {
                        const int iy = oy * s->stride_h - s->pad_h + ky * s->dilation_h;
                        if (iy < 0 || iy >= height) continue;
                        for (int kx = 0; kx < s->kernel_w; kx++) {
                            const int ix = ox * s->stride_w - s->pad_w + kx * s->dilation_w;
                            if (ix < 0 || ix >= width) continue;
                            const float w = weights[((size_t)(o * group_in + i) * (size_t)s->kernel_h + (size_t)ky) *
                                                        (size_t)s->kernel_w + (size_t)kx];
                            sum += (double)w * plane[iy * width + ix];
                        }
                    }
                }
                const size_t index = ((size_t)o * (size_t)out_height + (size_t)oy) * (size_t)out_width + (size_t)ox;
                if (residual != NULL) sum += residual[index];
                output[index] = kp_activate((float)sum, activation, leaky_slope);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Single tiles through the same transform kernels, for the tests: columns first, then rows,
// exactly as the convolution applies them (with one lane).

void kp_winograd_input_tile(kp_isa isa, int tile, const float *d, float *v) {
    kp_conv conv = {.kernels = kp_kernels_for(isa), .tile = tile, .window = tile + 2};
    const int n = tile + 2;
    float columns[64];
    for (int x = 0; x < n; x++) {
        const float *in[8];
        float *out[8];
        for (int u = 0; u < n; u++) {
            in[u] = d + u * n + x;
            out[u] = columns + u * n + x;
        }
        kp_winograd_input_pass(&conv, in, out, 1);
    }
    for (int i = 0; i < n; i++) {
        const float *in[8];
        float *out[8];
        for (int x = 0; x < n; x++) {
            in[x] = columns + i * n + x;
            out[x] = v + i * n + x;
        }
        kp_winograd_input_pass(&conv, in, out, 1);
    }
}

void kp_winograd_output_tile(kp_isa isa, int tile, const float *m, float *y) {
    kp_conv conv = {.kernels = kp_kernels_for(isa), .tile = tile, .window = tile + 2};
    const int n = tile + 2;
    float sums[48];
    for (int k = 0; k < n; k++) {
        const float *in[8];
        float *out[6];
        for (int i = 0; i < n; i++) in[i] = m + i * n + k;
        for (int a = 0; a < tile; a++) out[a] = sums + a * n + k;
        kp_winograd_output_pass(&conv, in, out, 1);
    }
    for (int a = 0; a < tile; a++) {
        const float *in[8];
        float *out[6];
        for (int k = 0; k < n; k++) in[k] = sums + a * n + k;
        for (int b = 0; b < tile; b++) out[b] = y + a * tile + b;
        kp_winograd_output_pass(&conv, in, out, 1);
    }
}

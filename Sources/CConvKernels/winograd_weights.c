// Winograd convolution F(4x4, 3x3) and F(6x6, 3x3): the transform matrices and the weights
// transformed and packed for the microkernel (the driver is winograd.c).

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


// U = G g GT for every (out, in) pair, in float (U is stored as float: the convolutions' error
// against the double reference stays as it was in double), written straight into the packed
// layout of the out_channels x in_channels matrix U[p] of each position p = window * a + b, for
// the microkernel.
// Work items are the microkernel's panels of mr output channels, which own disjoint parts of every
// U[p]. Both layouts keep a panel's output channels side by side for each input channel, so the
// transform runs over an input channel's mr kernels at once (one vector of lanes, the loops below
// over r) and stores mr neighbouring floats per position: training transforms every layer's
// weights twice a step.
enum { KP_PREPARE_LANES = 16 }; // at least every ISA's mr

typedef struct {
    kp_conv *conv;
    const float *weights;
} kp_prepare_job;

static void kp_winograd_prepare_panel(void *context, size_t panel, int thread) {
    (void)thread;
    const kp_prepare_job *job = context;
    kp_conv *conv = job->conv;
    const size_t cin = (size_t)conv->shape.in_channels, cout = (size_t)conv->shape.out_channels;
    const size_t mr = (size_t)conv->kernels->mr, nr = (size_t)conv->kernels->nr;
    const int n = conv->window;
    const double *g_double = conv->tile == 6 ? kp_winograd_f6_g : kp_winograd_f4_g;
    float g_matrix[24];
    for (int e = 0; e < n * 3; e++) g_matrix[e] = (float)g_double[e];
    const size_t first = panel * mr, rows = cout - first < mr ? cout - first : mr;
    // Element (o, i) of U[p] lies at packed + p * packed_stride + offset[o - first] + i * step:
    // row o % mr of panel o / mr, k-major (as kp_pack_a lays it out), or, with the tiles as the
    // GEMM's rows, row i of U[p]^T in column blocks of nr output channels, each block's
    // in_channels rows end to end (the GEMM of a block streams one run: a 12x12 map of 192
    // channels reads 5.3 MB of U a layer, from memory in a network; 1.36x faster so than rows of
    // all out_channels, a stride apart). The last panel's spare rows are written as zeros (the
    // microkernel reads them); a last block's spare columns are never read.
    const size_t step = conv->tiles_as_rows ? nr : mr;
    const size_t written = conv->tiles_as_rows ? rows : mr;
    size_t offset[KP_PREPARE_LANES];
    for (size_t r = 0; r < written; r++) {
        const size_t o = first + r;
        offset[r] = conv->tiles_as_rows ? o / nr * cin * nr + o % nr : panel * cin * mr + r;
    }
    // The panel's kernels of input channel i, tap-major (lanes past the panel's rows stay zero), and G g.
    float g[9][KP_PREPARE_LANES] = {{0}};
    float gg[8][3][KP_PREPARE_LANES];
    for (size_t i = 0; i < cin; i++) {
        for (size_t t = 0; t < 9; t++) {
            for (size_t r = 0; r < rows; r++) g[t][r] = job->weights[((first + r) * cin + i) * 9 + t];
        }
        for (int a = 0; a < n; a++) {
            for (int j = 0; j < 3; j++) {
                for (size_t r = 0; r < KP_PREPARE_LANES; r++) {
                    float sum = 0;
                    for (int k = 0; k < 3; k++) sum += g_matrix[a * 3 + k] * g[k * 3 + j][r];
                    gg[a][j][r] = sum;
                }
            }
        }
        for (int a = 0; a < n; a++) {
            for (int b = 0; b < n; b++) {
                float u[KP_PREPARE_LANES];
                for (size_t r = 0; r < KP_PREPARE_LANES; r++) {
                    float sum = 0;
                    for (int j = 0; j < 3; j++) sum += gg[a][j][r] * g_matrix[b * 3 + j];
                    u[r] = sum;
                }
                float *target = conv->packed + (size_t)(a * n + b) * conv->packed_stride + i * step;
                for (size_t r = 0; r < written; r++) target[offset[r]] = u[r];
            }
        }
    }
}

int kp_winograd_prepare(kp_conv *conv, const float *weights, kp_threadpool *pool) {
    const size_t cin = (size_t)conv->shape.in_channels, cout = (size_t)conv->shape.out_channels;
    const size_t mr = (size_t)conv->kernels->mr;
    const size_t positions = (size_t)(conv->window * conv->window);
    const size_t nr = (size_t)conv->kernels->nr;
    conv->packed_stride = kp_align_floats((conv->tiles_as_rows ? kp_round_up(cout, nr) : kp_round_up(cout, mr)) * cin);
    conv->packed = aligned_alloc(64, positions * conv->packed_stride * sizeof(float));
    if (conv->packed == NULL) return 0;
    kp_prepare_job job = {conv, weights};
    kp_parallel_for(pool, kp_round_up(cout, mr) / mr, kp_winograd_prepare_panel, &job);
    return 1;
}

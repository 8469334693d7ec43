// The convolution core's entry points for training: GEMMs with transposed operands, weight
// gradients, im2col / col2im and a malloc policy for training's step-by-step buffers. Layouts as
// in kp_conv.h.

#ifndef KP_CONV_TRAINING_H
#define KP_CONV_TRAINING_H

#include "kp_conv.h"

// C (m x n) = op(A) (m x k) * op(B) (k x n) (+ C when `accumulate`), row-major, on the ISA's
// microkernels, for training. op(A) = A (m x k, lda) or A^T (A stored k x m, lda); likewise B
// (k x n, ldb) or B^T (B stored n x k, ldb). Allocates its packing buffers; returns 0, or -1 when
// out of memory (C untouched). Results do not depend on the thread count.
int kp_sgemm(kp_isa isa, int transpose_a, int transpose_b, size_t m, size_t n, size_t k, const float *a, size_t lda,
             const float *b, size_t ldb, float *c, size_t ldc, int accumulate, kp_threadpool *pool);

// The weight gradient of a convolution (groups 1) over a batch, for training: dw (OIHW) =
// sum over images n and output pixels of dy[n][o][oy][ox] x[n][c][oy s - p + ky d][ox s - p + kx d],
// x batch x in x height x width, dy batch x out x out_height x out_width. Algorithms:
typedef enum {
    // Winograd F(3x3, 4x4) for 3x3 stride-1 dilation-1 shapes; else patches below
    // KP_GRADIENT_FEW_CHANNELS input channels; else taps.
    KP_GRADIENT_AUTO = 0,
    // One GEMM per kernel tap, B's rows pointing into the channels-last input (any shape).
    KP_GRADIENT_TAPS = 1,
    // One GEMM, B's rows each output pixel's receptive field copied out (im2col; any shape).
    KP_GRADIENT_PATCHES = 2,
    // Winograd F(3x3, 4x4): 3x3 stride 1 dilation 1 only.
    KP_GRADIENT_WINOGRAD_F4 = 3,
} kp_gradient_algorithm;
enum { KP_GRADIENT_FEW_CHANNELS = 32 }; // a tap's row of fewer fills part of a 32-column block
// Allocates its buffers; returns 0, or -1 when out of memory, groups is not 1 or the algorithm
// cannot run the shape (dw untouched). Results do not depend on the thread count.
int kp_conv_weight_gradient(kp_isa isa, const kp_conv_shape *shape, int batch, int height, int width,
                            const float *x, const float *dy, float *dw, kp_gradient_algorithm algorithm,
                            kp_threadpool *pool);

// Training allocates and frees the same large buffers (feature maps, gradients, transformed
// tiles) every step. glibc hands the larger ones back to the kernel on free and maps them again
// on the next step, each first touch of a page a fault and a page the kernel zeroes: 400 000
// faults in six steps of `keypoints bench train --input 192x192 --width 24`. This takes every
// block from the heap (none mapped on its own: raising glibc's mmap threshold to its largest, 32
// MiB, left the larger blocks of a batch of 16 at 256x256 mapped anew each step) and never trims
// it, so each step reuses the last one's memory (216 000 faults, 816 -> 687 ms a step; at 256x256
// 396 000 -> 206 000 faults, 1.03x); the resident size stays at its peak, which training reaches
// in its first step anyway.
// Process-wide: for programs that train. Does nothing on other C libraries.
void kp_keep_freed_memory(void);

// im2col for training: column row (c * k + ky) * k + kx, at output position (oy, ox), holds
// x[c][oy*stride - padding + ky][ox*stride - padding + kx] (0 outside). col2im writes x as the
// sum of the columns' entries at each position (x need not be cleared). Threaded over channels;
// results independent of threads.
void kp_im2col(const float *x, size_t channels, size_t height, size_t width, size_t kernel, size_t stride,
               size_t padding, float *columns, kp_threadpool *pool);
void kp_col2im(const float *columns, size_t channels, size_t height, size_t width, size_t kernel, size_t stride,
               size_t padding, float *x, kp_threadpool *pool);

#endif

// The convolution core: fp32 2D convolution on per-ISA SIMD kernels.
//
// Layout, everywhere: activations are NCHW (one image at a time here: C planes of H rows of W
// floats), weights are OIHW (out_channels x in_channels/groups x kernel_h x kernel_w), bias one
// float per output channel.
//
// Algorithms:
//   - Winograd F(4x4, 3x3) or F(6x6, 3x3) for 3x3 stride-1 dilation-1 ungrouped convolutions;
//   - 1x1 stride-1 unpadded convolutions as one GEMM (the input planes are the B matrix as is);
//   - everything else as indirect GEMM: B's rows point into the zero-padded, stride-phase-split
//     input, no im2col copy (any kernel, stride, padding, dilation, groups).
// All of them multiply on the same register-blocked GEMM microkernel per ISA, and fuse bias,
// residual add and activation into the output stage: y = act(conv(x) + bias + residual).
//
// Names follow kp_<what>__<isa>, e.g. kp_gemm_12x32__avx512 (a 12-row by 32-column microkernel).

#ifndef KP_CONV_H
#define KP_CONV_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    KP_ISA_SCALAR = 0,
    KP_ISA_SSE = 1,    // SSE2..SSE4.1, no FMA
    KP_ISA_AVX2 = 2,   // AVX2 + FMA3
    KP_ISA_AVX512 = 3, // AVX-512F
    KP_ISA_NEON = 4,   // AArch64 Advanced SIMD
    KP_ISA_COUNT = 5,
} kp_isa;

typedef enum {
    KP_ACTIVATION_NONE = 0,
    KP_ACTIVATION_RELU = 1,
    KP_ACTIVATION_RELU6 = 2,
    KP_ACTIVATION_LEAKY_RELU = 3,
} kp_activation;

typedef enum {
    KP_ALGORITHM_AUTO = 0,
    KP_ALGORITHM_INDIRECT_GEMM = 1,
    KP_ALGORITHM_GEMM_1X1 = 2,
    KP_ALGORITHM_WINOGRAD_F4 = 3,
    KP_ALGORITHM_WINOGRAD_F6 = 4,
    KP_ALGORITHM_WINOGRAD_F4_SMALL = 5, // F(4x4) for maps of few tiles: the tiles are the GEMMs' rows
} kp_algorithm;

// Whether this machine can run `isa` (CPUID and XGETBV on x86-64; NEON is baseline on AArch64).
int kp_isa_available(kp_isa isa);
// The fastest available ISA, or the one KEYPOINTS_ISA names (scalar, sse, avx2, avx512, neon).
// Returns 0 on success; -1 with a message when the variable names an unknown or unavailable ISA.
int kp_isa_default(kp_isa *isa, char message[256]);
const char *kp_isa_name(kp_isa isa);
const char *kp_algorithm_name(kp_algorithm algorithm);

typedef struct {
    int in_channels;
    int out_channels;
    int kernel_h, kernel_w;
    int stride_h, stride_w;
    int pad_h, pad_w;           // zero padding on each side
    int dilation_h, dilation_w;
    int groups;
} kp_conv_shape;

// A thread pool; work is split over tiles and output channels. NULL means the calling thread only.
typedef struct kp_threadpool kp_threadpool;
kp_threadpool *kp_threadpool_create(int threads);
void kp_threadpool_destroy(kp_threadpool *pool);
int kp_threadpool_threads(const kp_threadpool *pool);
// Runs body(context, item, thread) for item in [0, count) on the pool's threads and the caller's
// (inline when the pool has one thread), returning when every item is done. One call at a time.
typedef void (*kp_parallel_body)(void *context, size_t item, int thread);
void kp_parallel_for(kp_threadpool *pool, size_t count, kp_parallel_body body, void *context);
// The cores this process may run on: its CPU affinity on Linux (taskset, a Slurm job's or a
// container's cpuset), else the online cores.
int kp_available_cores(void);

// A convolution prepared for one ISA and algorithm: weights transformed (Winograd) and packed for
// the microkernel once, at creation.
typedef struct kp_conv kp_conv;

// Returns NULL with a message when the shape is invalid or the algorithm cannot run it. The
// Winograd weight transform runs on `pool` (NULL: the calling thread), which matters to training:
// it prepares every layer afresh each step.
kp_conv *kp_conv_create(const kp_conv_shape *shape, const float *weights, const float *bias,
                        kp_activation activation, float leaky_slope, kp_algorithm algorithm, kp_isa isa,
                        kp_threadpool *pool, char message[256]);
void kp_conv_destroy(kp_conv *conv);
kp_algorithm kp_conv_algorithm(const kp_conv *conv);
// What KP_ALGORITHM_AUTO picks for this shape.
kp_algorithm kp_conv_choose_algorithm(const kp_conv_shape *shape);
// The algorithm for this shape on inputs of height x width on `isa`: AUTO's choice, except
// Winograd F(4x4) with the tiles as the GEMMs' rows where the map's tiles fit one panel of the
// microkernel's rows and it computes less padding that way.
kp_algorithm kp_conv_choose_algorithm_for_size(const kp_conv_shape *shape, int height, int width, kp_isa isa);

// Output size for an input of height x width (0 when the kernel does not fit).
void kp_conv_output_size(const kp_conv_shape *shape, int height, int width, int *out_height, int *out_width);

// Bytes of scratch memory kp_conv_run needs for this batch, input size and thread count.
size_t kp_conv_workspace_size(const kp_conv *conv, int batch, int height, int width, int threads);

// output = act(conv(input) + bias + residual) for `batch` images of height x width, each one's
// channels after the last one's (NCHW; output and residual likewise). residual may be NULL, else
// shaped like output. workspace: at least kp_conv_workspace_size bytes for the pool's thread
// count, 64-byte aligned. Results are bit-identical for any thread count. Winograd takes the
// batch's tiles together (a batch of small maps fills its GEMMs as one large map would); the
// GEMM paths run the images one after the other.
void kp_conv_run(const kp_conv *conv, const float *input, int batch, int height, int width, const float *residual,
                 float *output, void *workspace, kp_threadpool *pool);

// The oracle: a plain direct convolution accumulating in double.
void kp_conv_reference(const kp_conv_shape *shape, const float *weights, const float *bias,
                       kp_activation activation, float leaky_slope, const float *input, int height, int width,
                       const float *residual, float *output);

// The Winograd F(4x4, 3x3) matrices, for tests: BT 6x6, G 6x3, AT 4x6, row-major.
extern const float kp_winograd_f4_bt[36];
extern const double kp_winograd_f4_g[18];
extern const float kp_winograd_f4_at[24];
// The same for F(6x6, 3x3): BT 8x8, G 8x3, AT 6x8.
extern const float kp_winograd_f6_bt[64];
extern const double kp_winograd_f6_g[24];
extern const float kp_winograd_f6_at[48];
// One input tile -> transformed tile (BT d B) and one transformed tile -> output tile (AT m A) for
// F(tile x tile, 3x3), tile 4 or 6, on `isa`, through the same code the convolution uses. For tests.
void kp_winograd_input_tile(kp_isa isa, int tile, const float *d, float *v);
void kp_winograd_output_tile(kp_isa isa, int tile, const float *m, float *y);


// Bilinear upsampling of [channels][height][width] into [channels][out_height][out_width], with
// each output row's and column's two source indices and the weight of the second given by the
// caller (the engine computes them once per layer). `scratch` holds height * out_width floats per
// pool thread. Threaded over channels; results independent of threads.
typedef struct {
    const int *first;
    const int *second;
    const float *weight;
} kp_upsample_taps;

void kp_upsample_bilinear(const float *input, size_t channels, size_t height, size_t width, const kp_upsample_taps *rows,
                          size_t out_height, const kp_upsample_taps *columns, size_t out_width, float *scratch,
                          float *output, kp_threadpool *pool);

#endif

// The convolution API: shapes, algorithm choice, creation and the dispatch to the drivers
// (conv_gemm.c, winograd.c).

#include "kp_conv_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void kp_conv_output_size(const kp_conv_shape *shape, int height, int width, int *out_height, int *out_width) {
    int extent_h = shape->dilation_h * (shape->kernel_h - 1) + 1;
    int extent_w = shape->dilation_w * (shape->kernel_w - 1) + 1;
    int padded_h = height + 2 * shape->pad_h, padded_w = width + 2 * shape->pad_w;
    *out_height = padded_h >= extent_h ? (padded_h - extent_h) / shape->stride_h + 1 : 0;
    *out_width = padded_w >= extent_w ? (padded_w - extent_w) / shape->stride_w + 1 : 0;
}

// Winograd F(4x4) for 3x3 stride-1 layers with channels to share the transforms across. F(6x6)
// multiplies less per output (64 positions per 36 outputs against 36 per 16) but is not chosen
// automatically: it still measures slower than F(4x4) on every peer shape (docs/CONVOLUTION.md).
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

// Multiply-adds the microkernels issue per GEMM depth step for an m x n product: whole panels of
// mr rows (or exactly m where a partial kernel exists) times blocks of nr columns (the last one
// nr/2 wide where a narrow kernel exists and suffices).
static size_t kp_gemm_issued(const kp_isa_kernels *kernels, size_t m, size_t n) {
    const size_t mr = (size_t)kernels->mr, nr = (size_t)kernels->nr;
    const size_t rows = m / mr * mr + (m % mr == 0 ? 0 : kernels->gemm_partial != NULL ? m % mr : mr);
    const size_t rest = n % nr;
    const size_t columns = n / nr * nr + (rest == 0 ? 0 : kernels->gemm_narrow != NULL && rest <= nr / 2 ? nr / 2 : nr);
    return rows * columns;
}

kp_algorithm kp_conv_choose_algorithm_for_size(const kp_conv_shape *shape, int height, int width, kp_isa isa) {
    const kp_algorithm chosen = kp_conv_choose_algorithm(shape);
    const kp_isa_kernels *kernels = kp_kernels_for(isa);
    int out_height, out_width;
    kp_conv_output_size(shape, height, width, &out_height, &out_width);
    if (chosen != KP_ALGORITHM_WINOGRAD_F4 || kernels == NULL || out_height == 0) return chosen;
    const size_t tiles = (size_t)((out_height + 3) / 4) * (size_t)((out_width + 3) / 4);
    const size_t cout = (size_t)shape->out_channels;
    // Only maps whose tiles fit one panel of rows: with more, U[p]^T would stream once per panel
    // (measured on the peers' shape d, 16 tiles on AVX-512: 1.4-1.5x the time of the columns).
    if (tiles > (size_t)kernels->mr) return chosen;
    return kp_gemm_issued(kernels, tiles, cout) < kp_gemm_issued(kernels, cout, tiles) ? KP_ALGORITHM_WINOGRAD_F4_SMALL
                                                                                      : chosen;
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

kp_conv *kp_conv_create(const kp_conv_shape *shape, const float *weights, const float *bias,
                        kp_activation activation, float leaky_slope, kp_algorithm algorithm, kp_isa isa,
                        kp_threadpool *pool, char message[256]) {
    if (kp_shape_error(shape, message)) return NULL;
    const kp_isa_kernels *kernels = kp_kernels_for(isa);
    if (kernels == NULL) {
        snprintf(message, 256, "this CPU or build cannot run %s kernels", kp_isa_name(isa));
        return NULL;
    }
    kp_algorithm chosen = algorithm == KP_ALGORITHM_AUTO ? kp_conv_choose_algorithm(shape) : algorithm;
    const kp_conv_shape *s = shape;
    const int winograd = chosen == KP_ALGORITHM_WINOGRAD_F4 || chosen == KP_ALGORITHM_WINOGRAD_F6 ||
                         chosen == KP_ALGORITHM_WINOGRAD_F4_SMALL;
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
    conv->tile = chosen == KP_ALGORITHM_WINOGRAD_F6 ? 6 : winograd ? 4 : 0;
    conv->tiles_as_rows = chosen == KP_ALGORITHM_WINOGRAD_F4_SMALL;
    conv->window = conv->tile ? conv->tile + 2 : 0;
    conv->bias = calloc((size_t)shape->out_channels, sizeof(float));
    if (conv->bias != NULL && bias != NULL) memcpy(conv->bias, bias, (size_t)shape->out_channels * sizeof(float));
    int prepared = conv->bias != NULL &&
                   (winograd ? kp_winograd_prepare(conv, weights, pool) : kp_gemm_prepare(conv, weights));
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

size_t kp_conv_workspace_size(const kp_conv *conv, int batch, int height, int width, int threads) {
    if (threads < 1) threads = 1;
    return conv->tile != 0 ? kp_winograd_workspace_size(conv, batch, height, width, threads)
                           : kp_gemm_conv_workspace_size(conv, height, width, threads);
}

void kp_conv_run(const kp_conv *conv, const float *input, int batch, int height, int width, const float *residual,
                 float *output, void *workspace, kp_threadpool *pool) {
    if (conv->tile != 0) {
        kp_winograd_run(conv, input, batch, height, width, residual, output, workspace, pool);
        return;
    }
    int out_height, out_width;
    kp_conv_output_size(&conv->shape, height, width, &out_height, &out_width);
    const size_t in_floats = (size_t)conv->shape.in_channels * (size_t)height * (size_t)width;
    const size_t out_floats = (size_t)conv->shape.out_channels * (size_t)out_height * (size_t)out_width;
    for (size_t image = 0; image < (size_t)(batch > 0 ? batch : 0); image++) {
        const float *image_residual = residual ? residual + image * out_floats : NULL;
        kp_gemm_conv_run(conv, input + image * in_floats, height, width, image_residual, output + image * out_floats,
                         workspace, pool);
    }
}

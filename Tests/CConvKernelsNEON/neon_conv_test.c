// The NEON path against the double reference and the scalar kernels, for Scripts/test-neon.sh:
// cross-compiled with aarch64-linux-gnu-gcc and run under qemu-aarch64 (no Swift there).
// Every algorithm that applies, 1, 2 and 3 threads (bit-identical), tolerances as in the Swift
// tests (max|y - y_ref| / max|y_ref|: 1e-5 for the GEMM paths, 1e-4 for Winograd F(4x4, 3x3),
// 5e-4 for F(6x6, 3x3)).

#include "kp_conv.h"
#include "kp_conv_training.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long random_state = 12345;

static float normal(void) { // Box-Muller on a 64-bit LCG
    random_state = random_state * 6364136223846793005ull + 1442695040888963407ull;
    double u = ((random_state >> 11) + 1.0) / 9007199254740993.0;
    random_state = random_state * 6364136223846793005ull + 1442695040888963407ull;
    double v = (random_state >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2 * log(u)) * cos(6.283185307179586 * v));
}

static float *normals(size_t count) {
    float *values = malloc((count ? count : 1) * sizeof(float));
    for (size_t i = 0; i < count; i++) values[i] = normal();
    return values;
}

static double relative_error(const float *y, const float *reference, size_t count) {
    double error = 0, scale = 0;
    for (size_t i = 0; i < count; i++) {
        error = fmax(error, fabs((double)y[i] - reference[i]));
        scale = fmax(scale, fabs((double)reference[i]));
    }
    return scale > 0 ? error / scale : error;
}

// Runs `conv` on `batch` images with a fresh pool of `threads`; returns the output (malloc'd,
// `count` floats for the whole batch).
static float *run_batch(kp_conv *conv, const float *input, int batch, int height, int width, const float *residual,
                        size_t count, int threads) {
    kp_threadpool *pool = kp_threadpool_create(threads);
    void *workspace =
        aligned_alloc(64, (kp_conv_workspace_size(conv, batch, height, width, threads) + 63) / 64 * 64 + 64);
    float *output = malloc((count ? count : 1) * sizeof(float));
    for (size_t i = 0; i < count; i++) output[i] = NAN; // a value left unwritten fails the checks
    kp_conv_run(conv, input, batch, height, width, residual, output, workspace, pool);
    free(workspace);
    kp_threadpool_destroy(pool);
    return output;
}

static float *run(kp_conv *conv, const float *input, int height, int width, const float *residual, size_t count,
                  int threads) {
    return run_batch(conv, input, 1, height, width, residual, count, threads);
}

int main(void) {
    if (!kp_isa_available(KP_ISA_NEON)) {
        fprintf(stderr, "NEON is not available in this build\n");
        return 1;
    }
    struct {
        kp_conv_shape shape;
        int height, width;
    } cases[] = {
        {{3, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 9, 7},
        {{17, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 17, 16},
        {{64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 33, 31},
        {{64, 17, 3, 3, 1, 1, 0, 0, 1, 1, 1}, 15, 15},
        {{5, 32, 3, 3, 2, 2, 1, 1, 1, 1, 1}, 31, 33},
        {{17, 64, 1, 1, 1, 1, 0, 0, 1, 1, 1}, 16, 9},
        {{3, 17, 5, 5, 1, 1, 1, 1, 1, 1, 1}, 8, 9},
        {{17, 17, 3, 3, 2, 2, 1, 1, 1, 1, 17}, 15, 15},
        {{6, 9, 3, 3, 1, 1, 2, 2, 2, 2, 3}, 9, 9},
        {{1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 1, 1},
    };
    const kp_algorithm algorithms[] = {KP_ALGORITHM_INDIRECT_GEMM, KP_ALGORITHM_GEMM_1X1, KP_ALGORITHM_WINOGRAD_F4,
                                       KP_ALGORITHM_WINOGRAD_F6, KP_ALGORITHM_WINOGRAD_F4_SMALL};
    const kp_activation activations[] = {KP_ACTIVATION_NONE, KP_ACTIVATION_RELU, KP_ACTIVATION_RELU6,
                                         KP_ACTIVATION_LEAKY_RELU};
    int failures = 0, checks = 0;
    // NEON's 8 x 8 microkernel computes a 12x12 map's 9 tiles as 16 rows or 16 columns: no turn.
    const kp_conv_shape wide = {192, 192, 3, 3, 1, 1, 1, 1, 1, 1, 1};
    checks++;
    if (kp_conv_choose_algorithm_for_size(&wide, 12, 12, KP_ISA_NEON) != KP_ALGORITHM_WINOGRAD_F4) {
        printf("FAIL: a 12x12 map on NEON should keep Winograd F(4x4)'s columns\n");
        failures++;
    }
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const kp_conv_shape *shape = &cases[c].shape;
        const int height = cases[c].height, width = cases[c].width;
        int out_height, out_width;
        kp_conv_output_size(shape, height, width, &out_height, &out_width);
        const size_t count = (size_t)shape->out_channels * out_height * out_width;
        const size_t weight_count = (size_t)shape->out_channels * (shape->in_channels / shape->groups) *
                                    shape->kernel_h * shape->kernel_w;
        float *weights = normals(weight_count), *bias = normals(shape->out_channels);
        float *input = normals((size_t)shape->in_channels * height * width), *residual = normals(count);
        const kp_activation activation = activations[c % 4];
        float *expected = malloc((count ? count : 1) * sizeof(float));
        kp_conv_reference(shape, weights, bias, activation, 0.1f, input, height, width, residual, expected);
        for (size_t a = 0; a < sizeof algorithms / sizeof algorithms[0]; a++) {
            char message[256];
            kp_conv *neon =
                kp_conv_create(shape, weights, bias, activation, 0.1f, algorithms[a], KP_ISA_NEON, NULL, message);
            if (neon == NULL) continue; // the algorithm does not apply to this shape
            kp_conv *scalar =
                kp_conv_create(shape, weights, bias, activation, 0.1f, algorithms[a], KP_ISA_SCALAR, NULL, message);
            float *single = run(neon, input, height, width, residual, count, 1);
            float *plain = run(scalar, input, height, width, residual, count, 1);
            double bound = algorithms[a] == KP_ALGORITHM_WINOGRAD_F6 ? 5e-4
                           : algorithms[a] == KP_ALGORITHM_WINOGRAD_F4 || algorithms[a] == KP_ALGORITHM_WINOGRAD_F4_SMALL
                               ? 1e-4
                               : 1e-5;
            double error = relative_error(single, expected, count);
            double versus_scalar = relative_error(single, plain, count);
            checks++;
            if (error > bound || versus_scalar > bound) {
                printf("FAIL case %zu %s: error %.3g vs reference, %.3g vs scalar (bound %.0e)\n", c,
                       kp_algorithm_name(algorithms[a]), error, versus_scalar, bound);
                failures++;
            }
            for (int threads = 2; threads <= 3; threads++) {
                float *parallel = run(neon, input, height, width, residual, count, threads);
                checks++;
                if (memcmp(parallel, single, count * sizeof(float)) != 0) {
                    printf("FAIL case %zu %s: %d threads differ from 1\n", c, kp_algorithm_name(algorithms[a]), threads);
                    failures++;
                }
                free(parallel);
            }
            free(single);
            free(plain);
            kp_conv_destroy(neon);
            kp_conv_destroy(scalar);
        }
        free(weights);
        free(bias);
        free(input);
        free(residual);
        free(expected);
    }
    // A batch in one call (Winograd numbers all its images' tiles together, blocks and the rows
    // they copy running across the images' edges): each image against the reference, 2 threads
    // bit-identical to 1.
    const struct {
        kp_conv_shape shape;
        int batch, height, width;
    } batches[] = {
        {{64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 5, 12, 12},
        {{24, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1}, 4, 13, 11},
    };
    for (size_t c = 0; c < sizeof batches / sizeof batches[0]; c++) {
        const kp_conv_shape *shape = &batches[c].shape;
        const int batch = batches[c].batch, height = batches[c].height, width = batches[c].width;
        const size_t in_floats = (size_t)shape->in_channels * height * width;
        const size_t out_floats = (size_t)shape->out_channels * height * width, count = batch * out_floats;
        float *weights = normals((size_t)shape->out_channels * shape->in_channels * 9);
        float *bias = normals(shape->out_channels);
        float *input = normals(batch * in_floats), *residual = normals(count);
        float *expected = malloc(count * sizeof(float));
        for (int image = 0; image < batch; image++) {
            kp_conv_reference(shape, weights, bias, KP_ACTIVATION_LEAKY_RELU, 0.1f, input + image * in_floats,
                              height, width, residual + image * out_floats, expected + image * out_floats);
        }
        for (size_t a = 0; a < sizeof algorithms / sizeof algorithms[0]; a++) {
            char message[256];
            kp_conv *neon = kp_conv_create(shape, weights, bias, KP_ACTIVATION_LEAKY_RELU, 0.1f, algorithms[a],
                                           KP_ISA_NEON, NULL, message);
            if (neon == NULL) continue;
            const double bound = algorithms[a] == KP_ALGORITHM_WINOGRAD_F6        ? 5e-4
                                 : algorithms[a] == KP_ALGORITHM_INDIRECT_GEMM ? 1e-5
                                                                               : 1e-4;
            float *single = run_batch(neon, input, batch, height, width, residual, count, 1);
            float *parallel = run_batch(neon, input, batch, height, width, residual, count, 2);
            for (int image = 0; image < batch; image++) {
                const double error =
                    relative_error(single + image * out_floats, expected + image * out_floats, out_floats);
                checks++;
                if (!(error <= bound)) {
                    printf("FAIL batch %zu %s image %d: error %.3g (bound %.0e)\n", c,
                           kp_algorithm_name(algorithms[a]), image, error, bound);
                    failures++;
                }
            }
            size_t unwritten = 0;
            for (size_t i = 0; i < count; i++) unwritten += isnan(single[i]) ? 1 : 0;
            checks += 2;
            if (unwritten > 0) {
                printf("FAIL batch %zu %s: %zu values unwritten\n", c, kp_algorithm_name(algorithms[a]), unwritten);
                failures++;
            }
            if (memcmp(parallel, single, count * sizeof(float)) != 0) {
                printf("FAIL batch %zu %s: 2 threads differ from 1\n", c, kp_algorithm_name(algorithms[a]));
                failures++;
            }
            free(single);
            free(parallel);
            kp_conv_destroy(neon);
        }
        free(weights);
        free(bias);
        free(input);
        free(residual);
        free(expected);
    }
    for (int seed = 0; seed < 20; seed++) { // the transforms, NEON against scalar, F(4x4) and F(6x6)
        for (int tile = 4; tile <= 6; tile += 2) {
            const int n = tile + 2;
            float d[64], neon_v[64], scalar_v[64], neon_y[36], scalar_y[36];
            for (int i = 0; i < n * n; i++) d[i] = normal();
            kp_winograd_input_tile(KP_ISA_NEON, tile, d, neon_v);
            kp_winograd_input_tile(KP_ISA_SCALAR, tile, d, scalar_v);
            kp_winograd_output_tile(KP_ISA_NEON, tile, d, neon_y);
            kp_winograd_output_tile(KP_ISA_SCALAR, tile, d, scalar_y);
            checks += 2;
            if (relative_error(neon_v, scalar_v, (size_t)(n * n)) > 1e-6 ||
                relative_error(neon_y, scalar_y, (size_t)(tile * tile)) > 1e-6) {
                printf("FAIL F(%d) transform seed %d\n", tile, seed);
                failures++;
            }
        }
    }
    // kp_sgemm (training GEMM) on NEON against the scalar kernels, every transpose and accumulate.
    for (int variant = 0; variant < 8; variant++) {
        const int transpose_a = variant & 1, transpose_b = (variant >> 1) & 1, accumulate = (variant >> 2) & 1;
        const size_t m = 13, n = 37, k = 21;
        float *a = normals(m * k), *b = normals(k * n), *c = normals(m * n);
        float *c_scalar = malloc(m * n * sizeof(float));
        memcpy(c_scalar, c, m * n * sizeof(float));
        kp_sgemm(KP_ISA_NEON, transpose_a, transpose_b, m, n, k, a, transpose_a ? m : k, b, transpose_b ? k : n, c, n,
                 accumulate, NULL);
        kp_sgemm(KP_ISA_SCALAR, transpose_a, transpose_b, m, n, k, a, transpose_a ? m : k, b, transpose_b ? k : n,
                 c_scalar, n, accumulate, NULL);
        checks++;
        if (relative_error(c, c_scalar, m * n) > 1e-5) {
            printf("FAIL kp_sgemm variant %d\n", variant);
            failures++;
        }
        free(a);
        free(b);
        free(c);
        free(c_scalar);
    }
    // kp_conv_weight_gradient (training's dW) on NEON against the scalar kernels: taps and patches
    // at stride 1 and 2, Winograd F(3x3, 4x4) at stride 1.
    const struct {
        int stride;
        kp_gradient_algorithm algorithm;
    } gradients[] = {{1, KP_GRADIENT_TAPS},    {2, KP_GRADIENT_TAPS},    {1, KP_GRADIENT_PATCHES},
                     {2, KP_GRADIENT_PATCHES}, {1, KP_GRADIENT_WINOGRAD_F4}};
    for (size_t variant = 0; variant < sizeof gradients / sizeof gradients[0]; variant++) {
        const int stride = gradients[variant].stride;
        const kp_gradient_algorithm algorithm = gradients[variant].algorithm;
        const kp_conv_shape shape = {.in_channels = 11, .out_channels = 19, .kernel_h = 3, .kernel_w = 3,
                                     .stride_h = stride, .stride_w = stride, .pad_h = 1, .pad_w = 1,
                                     .dilation_h = 1, .dilation_w = 1, .groups = 1};
        const int batch = 2, height = 9, width = 10;
        int out_height, out_width;
        kp_conv_output_size(&shape, height, width, &out_height, &out_width);
        const size_t weights = 19 * 11 * 9;
        float *x = normals((size_t)batch * 11 * height * width);
        float *dy = normals((size_t)batch * 19 * (size_t)(out_height * out_width));
        float *dw = malloc(weights * sizeof(float)), *dw_scalar = malloc(weights * sizeof(float));
        checks++;
        if (kp_conv_weight_gradient(KP_ISA_NEON, &shape, batch, height, width, x, dy, dw, algorithm, NULL) != 0 ||
            kp_conv_weight_gradient(KP_ISA_SCALAR, &shape, batch, height, width, x, dy, dw_scalar, algorithm, NULL) !=
                0 ||
            relative_error(dw, dw_scalar, weights) > 1e-5) {
            printf("FAIL kp_conv_weight_gradient stride %d, algorithm %d\n", stride, (int)algorithm);
            failures++;
        }
        free(x);
        free(dy);
        free(dw);
        free(dw_scalar);
    }
    printf("NEON: %d of %d checks passed\n", checks - failures, checks);
    return failures == 0 ? 0 : 1;
}

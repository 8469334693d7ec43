// The plain twins of the SIMD kernels: portable C, the default on every machine.

#include "kp_conv_internal.h"

enum { MR = 4, NR = 8 };

static void kp_gemm_4x8__scalar(size_t k, const float *restrict a, const float *const *restrict rows, size_t column,
                                float *restrict c, size_t ldc, const kp_epilogue *epilogue) {
    float acc[MR][NR] = {{0}};
    for (size_t i = 0; i < k; i++) {
        for (int r = 0; r < MR; r++) {
            for (int j = 0; j < NR; j++) acc[r][j] += a[i * MR + r] * rows[i][column + j];
        }
    }
    for (int r = 0; r < MR; r++) {
        for (int j = 0; j < NR; j++) c[r * ldc + j] = kp_epilogue_value(acc[r][j], epilogue, r, j, ldc);
    }
}

static void kp_winograd_f4_input__scalar(const float *const d[6], float *const r[6], size_t n) {
    kp_winograd_f4_input_lanes(d, r, 0, n);
}

static void kp_winograd_f4_output__scalar(const float *const m[6], float *const o[4], size_t n) {
    kp_winograd_f4_output_lanes(m, o, 0, n);
}

static void kp_winograd_f6_input__scalar(const float *const d[8], float *const r[8], size_t n) {
    kp_winograd_f6_input_lanes(d, r, 0, n);
}

static void kp_winograd_f6_output__scalar(const float *const m[8], float *const o[6], size_t n) {
    kp_winograd_f6_output_lanes(m, o, 0, n);
}

static void kp_deinterleave2__scalar(const float *x, size_t n, float *const phases[2]) {
    kp_gather_lanes(x, 2, 2, 0, n, phases);
}

static void kp_deinterleave4__scalar(const float *x, size_t n, float *const phases[4]) {
    kp_gather_lanes(x, 4, 4, 0, n, phases);
}

static void kp_interleave4__scalar(const float *const phases[4], size_t n, float *x) {
    kp_scatter_lanes(phases, 4, 4, 0, n, x);
}

static void kp_channels_last__scalar(const float *source, size_t channels, size_t plane, size_t width, float *target,
                                     size_t stride) {
    kp_channels_last_tail(source, channels, plane, width, target, stride, 0, 0);
}

static void kp_gather6__scalar(const float *x, size_t n, float *const columns[8]) {
    kp_gather_lanes(x, 6, 8, 0, n, columns);
}

static void kp_scatter6__scalar(const float *const columns[6], size_t n, float *x) {
    kp_scatter_lanes(columns, 6, 6, 0, n, x);
}

const kp_isa_kernels kp_kernels__scalar = {
    .isa = KP_ISA_SCALAR,
    .mr = MR,
    .nr = NR,
    .gemm = kp_gemm_4x8__scalar,
    .winograd_input = kp_winograd_f4_input__scalar,
    .winograd_output = kp_winograd_f4_output__scalar,
    .winograd6_input = kp_winograd_f6_input__scalar,
    .winograd6_output = kp_winograd_f6_output__scalar,
    .deinterleave2 = kp_deinterleave2__scalar,
    .deinterleave4 = kp_deinterleave4__scalar,
    .interleave4 = kp_interleave4__scalar,
    .channels_last = kp_channels_last__scalar,
    .gather6 = kp_gather6__scalar,
    .scatter6 = kp_scatter6__scalar,
};

// SSE kernels (SSE4.1 for blendv; no FMA, so multiply then add).

#if defined(__x86_64__) || defined(_M_X64)

#include "kp_conv_internal.h"

#include <immintrin.h>

#define KP_TARGET __attribute__((target("sse4.1")))

enum { MR = 4, NR = 8 };

KP_TARGET static inline __m128 kp_epilogue__sse(__m128 acc, const kp_epilogue *epilogue, int row,
                                                const float *residual) {
    if (epilogue->bias != NULL) acc = _mm_add_ps(acc, _mm_set1_ps(epilogue->bias[row]));
    if (epilogue->residual != NULL) acc = _mm_add_ps(acc, _mm_loadu_ps(residual));
    const __m128 zero = _mm_setzero_ps();
    switch (epilogue->activation) {
    case KP_ACTIVATION_RELU: return _mm_max_ps(acc, zero);
    case KP_ACTIVATION_RELU6: return _mm_min_ps(_mm_max_ps(acc, zero), _mm_set1_ps(6));
    case KP_ACTIVATION_LEAKY_RELU: {
        __m128 negative = _mm_cmplt_ps(acc, zero);
        return _mm_blendv_ps(acc, _mm_mul_ps(acc, _mm_set1_ps(epilogue->slope)), negative);
    }
    default: return acc;
    }
}

// 4 rows x 8 columns: 8 accumulators of 16 registers; without FMA the adds need the spare ones.
KP_TARGET static void kp_gemm_4x8__sse(size_t k, const float *restrict a, const float *const *restrict rows, size_t column,
                                       float *restrict c, size_t ldc, const kp_epilogue *epilogue) {
    __m128 acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm_setzero_ps();
    for (size_t i = 0; i < k; i++) {
        const __m128 b0 = _mm_loadu_ps(rows[i] + column);
        const __m128 b1 = _mm_loadu_ps(rows[i] + column + 4);
        for (int r = 0; r < MR; r++) {
            const __m128 ar = _mm_set1_ps(a[i * MR + r]);
            acc[r][0] = _mm_add_ps(acc[r][0], _mm_mul_ps(ar, b0));
            acc[r][1] = _mm_add_ps(acc[r][1], _mm_mul_ps(ar, b1));
        }
    }
    for (int r = 0; r < MR; r++) {
        __m128 low = acc[r][0], high = acc[r][1];
        if (epilogue != NULL) {
            const float *residual = epilogue->residual ? epilogue->residual + r * ldc : NULL;
            low = kp_epilogue__sse(low, epilogue, r, residual);
            high = kp_epilogue__sse(high, epilogue, r, residual ? residual + 4 : NULL);
        }
        _mm_storeu_ps(c + r * ldc, low);
        _mm_storeu_ps(c + r * ldc + 4, high);
    }
}

// The BT rows of kp_conv_internal.h, 4 lanes at a time.
KP_TARGET static void kp_winograd_f4_input__sse(const float *const d[6], float *const r[6], size_t n) {
    const __m128 two = _mm_set1_ps(2), four = _mm_set1_ps(4), five = _mm_set1_ps(5);
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 d0 = _mm_loadu_ps(d[0] + j), d1 = _mm_loadu_ps(d[1] + j), d2 = _mm_loadu_ps(d[2] + j);
        __m128 d3 = _mm_loadu_ps(d[3] + j), d4 = _mm_loadu_ps(d[4] + j), d5 = _mm_loadu_ps(d[5] + j);
        _mm_storeu_ps(r[0] + j, _mm_add_ps(_mm_sub_ps(_mm_mul_ps(four, d0), _mm_mul_ps(five, d2)), d4));
        _mm_storeu_ps(r[1] + j, _mm_sub_ps(_mm_add_ps(d3, d4), _mm_mul_ps(four, _mm_add_ps(d1, d2))));
        _mm_storeu_ps(r[2] + j, _mm_add_ps(_mm_mul_ps(four, _mm_sub_ps(d1, d2)), _mm_sub_ps(d4, d3)));
        _mm_storeu_ps(r[3] + j, _mm_add_ps(_mm_mul_ps(two, _mm_sub_ps(d3, d1)), _mm_sub_ps(d4, d2)));
        _mm_storeu_ps(r[4] + j, _mm_add_ps(_mm_mul_ps(two, _mm_sub_ps(d1, d3)), _mm_sub_ps(d4, d2)));
        _mm_storeu_ps(r[5] + j, _mm_add_ps(_mm_sub_ps(_mm_mul_ps(four, d1), _mm_mul_ps(five, d3)), d5));
    }
    kp_winograd_f4_input_lanes(d, r, j, n);
}

// The AT rows of kp_conv_internal.h, 4 lanes at a time.
KP_TARGET static void kp_winograd_f4_output__sse(const float *const m[6], float *const o[4], size_t n) {
    const __m128 two = _mm_set1_ps(2), four = _mm_set1_ps(4), eight = _mm_set1_ps(8);
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 m1 = _mm_loadu_ps(m[1] + j), m2 = _mm_loadu_ps(m[2] + j);
        __m128 m3 = _mm_loadu_ps(m[3] + j), m4 = _mm_loadu_ps(m[4] + j);
        __m128 sum12 = _mm_add_ps(m1, m2), difference12 = _mm_sub_ps(m1, m2);
        __m128 sum34 = _mm_add_ps(m3, m4), difference34 = _mm_sub_ps(m3, m4);
        _mm_storeu_ps(o[0] + j, _mm_add_ps(_mm_add_ps(_mm_loadu_ps(m[0] + j), sum12), sum34));
        _mm_storeu_ps(o[1] + j, _mm_add_ps(difference12, _mm_mul_ps(two, difference34)));
        _mm_storeu_ps(o[2] + j, _mm_add_ps(sum12, _mm_mul_ps(four, sum34)));
        _mm_storeu_ps(o[3] + j,
                      _mm_add_ps(_mm_add_ps(difference12, _mm_mul_ps(eight, difference34)), _mm_loadu_ps(m[5] + j)));
    }
    kp_winograd_f4_output_lanes(m, o, j, n);
}

// The F(6x6, 3x3) rows of kp_conv_internal.h, 4 lanes at a time.
KP_TARGET static void kp_winograd_f6_input__sse(const float *const d[8], float *const r[8], size_t n) {
    const __m128 k025 = _mm_set1_ps(0.25f), k05 = _mm_set1_ps(0.5f), k125 = _mm_set1_ps(1.25f);
    const __m128 k2 = _mm_set1_ps(2), k25 = _mm_set1_ps(2.5f), k4 = _mm_set1_ps(4), k425 = _mm_set1_ps(4.25f);
    const __m128 k5 = _mm_set1_ps(5), k525 = _mm_set1_ps(5.25f);
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 d0 = _mm_loadu_ps(d[0] + j), d1 = _mm_loadu_ps(d[1] + j), d2 = _mm_loadu_ps(d[2] + j);
        __m128 d3 = _mm_loadu_ps(d[3] + j), d4 = _mm_loadu_ps(d[4] + j), d5 = _mm_loadu_ps(d[5] + j);
        __m128 d6 = _mm_loadu_ps(d[6] + j), d7 = _mm_loadu_ps(d[7] + j);
        __m128 even1 = _mm_sub_ps(_mm_add_ps(d2, d6), _mm_mul_ps(k425, d4));
        __m128 odd1 = _mm_sub_ps(_mm_add_ps(d1, d5), _mm_mul_ps(k425, d3));
        __m128 even2 = _mm_sub_ps(_mm_add_ps(d6, _mm_mul_ps(k025, d2)), _mm_mul_ps(k125, d4));
        __m128 odd2 = _mm_add_ps(_mm_sub_ps(_mm_mul_ps(k05, d1), _mm_mul_ps(k25, d3)), _mm_mul_ps(k2, d5));
        __m128 even3 = _mm_sub_ps(_mm_add_ps(d6, _mm_mul_ps(k4, d2)), _mm_mul_ps(k5, d4));
        __m128 odd3 = _mm_add_ps(_mm_sub_ps(_mm_mul_ps(k2, d1), _mm_mul_ps(k25, d3)), _mm_mul_ps(k05, d5));
        _mm_storeu_ps(r[0] + j, _mm_add_ps(_mm_sub_ps(d0, d6), _mm_mul_ps(k525, _mm_sub_ps(d4, d2))));
        _mm_storeu_ps(r[1] + j, _mm_add_ps(even1, odd1));
        _mm_storeu_ps(r[2] + j, _mm_sub_ps(even1, odd1));
        _mm_storeu_ps(r[3] + j, _mm_add_ps(even2, odd2));
        _mm_storeu_ps(r[4] + j, _mm_sub_ps(even2, odd2));
        _mm_storeu_ps(r[5] + j, _mm_add_ps(even3, odd3));
        _mm_storeu_ps(r[6] + j, _mm_sub_ps(even3, odd3));
        _mm_storeu_ps(r[7] + j, _mm_add_ps(_mm_sub_ps(d7, d1), _mm_mul_ps(k525, _mm_sub_ps(d3, d5))));
    }
    kp_winograd_f6_input_lanes(d, r, j, n);
}

KP_TARGET static void kp_winograd_f6_output__sse(const float *const m[8], float *const o[6], size_t n) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 m1 = _mm_loadu_ps(m[1] + j), m2 = _mm_loadu_ps(m[2] + j), m3 = _mm_loadu_ps(m[3] + j);
        __m128 m4 = _mm_loadu_ps(m[4] + j), m5 = _mm_loadu_ps(m[5] + j), m6 = _mm_loadu_ps(m[6] + j);
        __m128 a = _mm_add_ps(m1, m2), b = _mm_sub_ps(m1, m2), c = _mm_add_ps(m3, m4), d = _mm_sub_ps(m3, m4);
        __m128 e = _mm_add_ps(m5, m6), f = _mm_sub_ps(m5, m6);
        _mm_storeu_ps(o[0] + j, _mm_add_ps(_mm_add_ps(_mm_loadu_ps(m[0] + j), a), _mm_add_ps(c, e)));
        _mm_storeu_ps(o[1] + j, _mm_add_ps(_mm_add_ps(b, _mm_mul_ps(_mm_set1_ps(2), d)), _mm_mul_ps(_mm_set1_ps(0.5f), f)));
        _mm_storeu_ps(o[2] + j, _mm_add_ps(_mm_add_ps(a, _mm_mul_ps(_mm_set1_ps(4), c)), _mm_mul_ps(_mm_set1_ps(0.25f), e)));
        _mm_storeu_ps(o[3] + j, _mm_add_ps(_mm_add_ps(b, _mm_mul_ps(_mm_set1_ps(8), d)), _mm_mul_ps(_mm_set1_ps(0.125f), f)));
        _mm_storeu_ps(o[4] + j, _mm_add_ps(_mm_add_ps(a, _mm_mul_ps(_mm_set1_ps(16), c)), _mm_mul_ps(_mm_set1_ps(0.0625f), e)));
        _mm_storeu_ps(o[5] + j, _mm_add_ps(_mm_add_ps(_mm_add_ps(b, _mm_mul_ps(_mm_set1_ps(32), d)),
                                                      _mm_mul_ps(_mm_set1_ps(0.03125f), f)),
                                           _mm_loadu_ps(m[7] + j)));
    }
    kp_winograd_f6_output_lanes(m, o, j, n);
}

// Four pairs at a time: SHUFPS picks the even lanes (0x88) and the odd ones (0xDD) of two loads.
KP_TARGET static void kp_deinterleave2__sse(const float *x, size_t n, float *const phases[2]) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 low = _mm_loadu_ps(x + 2 * j), high = _mm_loadu_ps(x + 2 * j + 4);
        _mm_storeu_ps(phases[0] + j, _mm_shuffle_ps(low, high, 0x88));
        _mm_storeu_ps(phases[1] + j, _mm_shuffle_ps(low, high, 0xDD));
    }
    kp_gather_lanes(x, 2, 2, j, n, phases);
}

// Four tiles at a time: their 16 values are a 4x4 matrix whose transpose holds the phases.
KP_TARGET static void kp_deinterleave4__sse(const float *x, size_t n, float *const phases[4]) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 r0 = _mm_loadu_ps(x + 4 * j), r1 = _mm_loadu_ps(x + 4 * j + 4);
        __m128 r2 = _mm_loadu_ps(x + 4 * j + 8), r3 = _mm_loadu_ps(x + 4 * j + 12);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(phases[0] + j, r0);
        _mm_storeu_ps(phases[1] + j, r1);
        _mm_storeu_ps(phases[2] + j, r2);
        _mm_storeu_ps(phases[3] + j, r3);
    }
    kp_gather_lanes(x, 4, 4, j, n, phases);
}

// Whole blocks of 4 channels x 4 pixels: four rows loaded, transposed in registers, stored as
// four pixels' runs of channels; the rest in plain C. Shared by the AVX2 and AVX-512 tables.
KP_TARGET void kp_channels_last__sse(const float *source, size_t channels, size_t plane, size_t width, float *target,
                                     size_t stride) {
    const size_t c_end = channels / 4 * 4, x_end = width / 4 * 4;
    for (size_t c = 0; c < c_end; c += 4) {
        const float *row = source + c * plane;
        for (size_t x = 0; x < x_end; x += 4) {
            __m128 r0 = _mm_loadu_ps(row + x), r1 = _mm_loadu_ps(row + plane + x);
            __m128 r2 = _mm_loadu_ps(row + 2 * plane + x), r3 = _mm_loadu_ps(row + 3 * plane + x);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(target + x * stride + c, r0);
            _mm_storeu_ps(target + (x + 1) * stride + c, r1);
            _mm_storeu_ps(target + (x + 2) * stride + c, r2);
            _mm_storeu_ps(target + (x + 3) * stride + c, r3);
        }
    }
    kp_channels_last_tail(source, channels, plane, width, target, stride, c_end, x_end);
}

KP_TARGET static void kp_interleave4__sse(const float *const phases[4], size_t n, float *x) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 r0 = _mm_loadu_ps(phases[0] + j), r1 = _mm_loadu_ps(phases[1] + j);
        __m128 r2 = _mm_loadu_ps(phases[2] + j), r3 = _mm_loadu_ps(phases[3] + j);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(x + 4 * j, r0);
        _mm_storeu_ps(x + 4 * j + 4, r1);
        _mm_storeu_ps(x + 4 * j + 8, r2);
        _mm_storeu_ps(x + 4 * j + 12, r3);
    }
    kp_scatter_lanes(phases, 4, 4, j, n, x);
}

// Four tiles at a time: window columns 0-3 and 4-7 of the four tiles are two 4x4 transposes.
KP_TARGET static void kp_gather6__sse(const float *x, size_t n, float *const columns[8]) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        for (int half = 0; half < 2; half++) {
            const float *tiles = x + 6 * j + 4 * (size_t)half;
            __m128 r0 = _mm_loadu_ps(tiles), r1 = _mm_loadu_ps(tiles + 6);
            __m128 r2 = _mm_loadu_ps(tiles + 12), r3 = _mm_loadu_ps(tiles + 18);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            _mm_storeu_ps(columns[4 * half] + j, r0);
            _mm_storeu_ps(columns[4 * half + 1] + j, r1);
            _mm_storeu_ps(columns[4 * half + 2] + j, r2);
            _mm_storeu_ps(columns[4 * half + 3] + j, r3);
        }
    }
    kp_gather_lanes(x, 6, 8, j, n, columns);
}

// The inverse, values 0-3 and 4-5 of each tile; stores in increasing order, each tile's spare
// values overwritten by the next tile's.
KP_TARGET static void kp_scatter6__sse(const float *const columns[6], size_t n, float *x) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        __m128 r0 = _mm_loadu_ps(columns[0] + j), r1 = _mm_loadu_ps(columns[1] + j);
        __m128 r2 = _mm_loadu_ps(columns[2] + j), r3 = _mm_loadu_ps(columns[3] + j);
        __m128 r4 = _mm_loadu_ps(columns[4] + j), r5 = _mm_loadu_ps(columns[5] + j);
        __m128 r6 = _mm_setzero_ps(), r7 = _mm_setzero_ps();
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _MM_TRANSPOSE4_PS(r4, r5, r6, r7);
        __m128 low[4] = {r0, r1, r2, r3}, high[4] = {r4, r5, r6, r7};
        for (int t = 0; t < 4; t++) {
            float *tile = x + 6 * (j + (size_t)t);
            _mm_storeu_ps(tile, low[t]);
            _mm_storeu_ps(tile + 4, high[t]);
        }
    }
    kp_scatter_lanes(columns, 6, 6, j, n, x);
}

const kp_isa_kernels kp_kernels__sse = {
    .isa = KP_ISA_SSE,
    .mr = MR,
    .nr = NR,
    .gemm = kp_gemm_4x8__sse,
    .winograd_input = kp_winograd_f4_input__sse,
    .winograd_output = kp_winograd_f4_output__sse,
    .winograd6_input = kp_winograd_f6_input__sse,
    .winograd6_output = kp_winograd_f6_output__sse,
    .deinterleave2 = kp_deinterleave2__sse,
    .deinterleave4 = kp_deinterleave4__sse,
    .interleave4 = kp_interleave4__sse,
    .channels_last = kp_channels_last__sse,
    .gather6 = kp_gather6__sse,
    .scatter6 = kp_scatter6__sse,
};

#endif

// AVX-512F kernels. Per-function target attributes, so no per-file compiler flags are needed;
// these run only when kp_isa_available(KP_ISA_AVX512) said so.

#if defined(__x86_64__) || defined(_M_X64)

#include "kp_conv_internal.h"

#include <immintrin.h>

#define KP_TARGET __attribute__((target("avx512f")))

enum { MR = 12, NR = 32 };

KP_TARGET static inline __m512 kp_epilogue__avx512(__m512 acc, const kp_epilogue *epilogue, int row,
                                                   const float *residual) {
    if (epilogue->bias != NULL) acc = _mm512_add_ps(acc, _mm512_set1_ps(epilogue->bias[row]));
    if (epilogue->residual != NULL) acc = _mm512_add_ps(acc, _mm512_loadu_ps(residual));
    const __m512 zero = _mm512_setzero_ps();
    switch (epilogue->activation) {
    case KP_ACTIVATION_RELU: return _mm512_max_ps(acc, zero);
    case KP_ACTIVATION_RELU6: return _mm512_min_ps(_mm512_max_ps(acc, zero), _mm512_set1_ps(6));
    case KP_ACTIVATION_LEAKY_RELU: {
        __mmask16 negative = _mm512_cmp_ps_mask(acc, zero, _CMP_LT_OQ);
        return _mm512_mask_mul_ps(acc, negative, acc, _mm512_set1_ps(epilogue->slope));
    }
    default: return acc;
    }
}

// `ROWS` (1 to 12) rows x 32 columns: up to 24 accumulators, two B vectors per k, A broadcast
// from memory. A is packed in panels of MR = 12 rows whatever ROWS is, so the shorter versions
// serve the last panel of a matrix whose rows are not a multiple of 12 (64 = 5 x 12 + 4; the 9
// tiles of a 12x12 map's Winograd GEMMs with the tiles as rows) at the cost of those rows only.
#define KP_GEMM_X32(ROWS)                                                                                      \
    KP_TARGET static void kp_gemm_##ROWS##x32__avx512(size_t k, const float *restrict a,                       \
                                                     const float *const *restrict rows, size_t column,           \
                                                     float *restrict c, size_t ldc, const kp_epilogue *epilogue) { \
        __m512 acc[ROWS][2];                                                                                   \
        for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();                           \
        for (size_t i = 0; i < k; i++) {                                                                       \
            const __m512 b0 = _mm512_loadu_ps(rows[i] + column);                                               \
            const __m512 b1 = _mm512_loadu_ps(rows[i] + column + 16);                                          \
            for (int r = 0; r < ROWS; r++) {                                                                   \
                const __m512 ar = _mm512_set1_ps(a[i * MR + r]);                                               \
                acc[r][0] = _mm512_fmadd_ps(ar, b0, acc[r][0]);                                                \
                acc[r][1] = _mm512_fmadd_ps(ar, b1, acc[r][1]);                                                \
            }                                                                                                  \
        }                                                                                                      \
        for (int r = 0; r < ROWS; r++) {                                                                       \
            __m512 low = acc[r][0], high = acc[r][1];                                                          \
            if (epilogue != NULL) {                                                                            \
                const float *residual = epilogue->residual ? epilogue->residual + r * ldc : NULL;              \
                low = kp_epilogue__avx512(low, epilogue, r, residual);                                         \
                high = kp_epilogue__avx512(high, epilogue, r, residual ? residual + 16 : NULL);               \
            }                                                                                                  \
            _mm512_storeu_ps(c + r * ldc, low);                                                                \
            _mm512_storeu_ps(c + r * ldc + 16, high);                                                          \
        }                                                                                                      \
    }

KP_GEMM_X32(12)
KP_GEMM_X32(11)
KP_GEMM_X32(10)
KP_GEMM_X32(9)
KP_GEMM_X32(8)
KP_GEMM_X32(7)
KP_GEMM_X32(6)
KP_GEMM_X32(5)
KP_GEMM_X32(4)
KP_GEMM_X32(3)
KP_GEMM_X32(2)
KP_GEMM_X32(1)

// The last panel's first `rows` rows (1-11), on the kernel of exactly that many rows.
static void kp_gemm_partial__avx512(size_t rows_wanted, size_t k, const float *restrict a,
                                    const float *const *restrict rows, size_t column, float *restrict c, size_t ldc,
                                    const kp_epilogue *epilogue) {
    static const kp_gemm_fn kernels[MR] = {NULL,
                                           kp_gemm_1x32__avx512,
                                           kp_gemm_2x32__avx512,
                                           kp_gemm_3x32__avx512,
                                           kp_gemm_4x32__avx512,
                                           kp_gemm_5x32__avx512,
                                           kp_gemm_6x32__avx512,
                                           kp_gemm_7x32__avx512,
                                           kp_gemm_8x32__avx512,
                                           kp_gemm_9x32__avx512,
                                           kp_gemm_10x32__avx512,
                                           kp_gemm_11x32__avx512};
    kernels[rows_wanted](k, a, rows, column, c, ldc, epilogue);
}

// 12 rows x 16 columns, for matrices too narrow for the 32-column kernel (a Winograd block of 16
// tiles, say). Still compute-bound where a 512-bit FMA issues once per cycle (AMD Zen 4).
KP_TARGET static void kp_gemm_12x16__avx512(size_t k, const float *restrict a, const float *const *restrict rows, size_t column, float *restrict c, size_t ldc,
                                            const kp_epilogue *epilogue) {
    __m512 acc[MR];
    for (int r = 0; r < MR; r++) acc[r] = _mm512_setzero_ps();
    for (size_t i = 0; i < k; i++) {
        const __m512 b0 = _mm512_loadu_ps(rows[i] + column);
        for (int r = 0; r < MR; r++) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[i * MR + r]), b0, acc[r]);
    }
    for (int r = 0; r < MR; r++) {
        __m512 value = acc[r];
        if (epilogue != NULL) {
            value = kp_epilogue__avx512(value, epilogue, r, epilogue->residual ? epilogue->residual + r * ldc : NULL);
        }
        _mm512_storeu_ps(c + r * ldc, value);
    }
}

// Lanes j < n of a run of 16 (n >= 16: all): the last, partial vector of a pass goes through
// masked loads and stores instead of a scalar tail (a 36-tile block is 2 vectors and 4 lanes).
KP_TARGET static inline __mmask16 kp_lanes_mask__avx512(size_t n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

// The masked loads of lanes j ... j + 15 of `count` rows (zero past the mask), and the stores.
KP_TARGET static inline void kp_load_rows__avx512(const float *const rows[], int count, size_t j, __mmask16 mask,
                                                  __m512 x[]) {
    for (int u = 0; u < count; u++) x[u] = _mm512_maskz_loadu_ps(mask, rows[u] + j);
}

KP_TARGET static inline void kp_store_rows__avx512(float *const rows[], int count, size_t j, __mmask16 mask,
                                                   const __m512 y[]) {
    for (int u = 0; u < count; u++) _mm512_mask_storeu_ps(rows[u] + j, mask, y[u]);
}

// The BT rows of kp_conv_internal.h, 16 lanes at a time.
KP_TARGET static void kp_winograd_f4_input__avx512(const float *const d[6], float *const r[6], size_t n) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    for (size_t j = 0; j < n; j += 16) {
        const __mmask16 mask = kp_lanes_mask__avx512(n - j);
        __m512 x[6];
        kp_load_rows__avx512(d, 6, j, mask, x);
        const __m512 y[6] = {
            _mm512_fmadd_ps(four, x[0], _mm512_fnmadd_ps(five, x[2], x[4])),
            _mm512_fnmadd_ps(four, _mm512_add_ps(x[1], x[2]), _mm512_add_ps(x[3], x[4])),
            _mm512_fmadd_ps(four, _mm512_sub_ps(x[1], x[2]), _mm512_sub_ps(x[4], x[3])),
            _mm512_fmadd_ps(two, _mm512_sub_ps(x[3], x[1]), _mm512_sub_ps(x[4], x[2])),
            _mm512_fmadd_ps(two, _mm512_sub_ps(x[1], x[3]), _mm512_sub_ps(x[4], x[2])),
            _mm512_fmadd_ps(four, x[1], _mm512_fnmadd_ps(five, x[3], x[5])),
        };
        kp_store_rows__avx512(r, 6, j, mask, y);
    }
}

// The AT rows of kp_conv_internal.h, 16 lanes at a time.
KP_TARGET static void kp_winograd_f4_output__avx512(const float *const m[6], float *const o[4], size_t n) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), eight = _mm512_set1_ps(8);
    for (size_t j = 0; j < n; j += 16) {
        const __mmask16 mask = kp_lanes_mask__avx512(n - j);
        __m512 x[6];
        kp_load_rows__avx512(m, 6, j, mask, x);
        const __m512 sum12 = _mm512_add_ps(x[1], x[2]), difference12 = _mm512_sub_ps(x[1], x[2]);
        const __m512 sum34 = _mm512_add_ps(x[3], x[4]), difference34 = _mm512_sub_ps(x[3], x[4]);
        const __m512 y[4] = {
            _mm512_add_ps(_mm512_add_ps(x[0], sum12), sum34),
            _mm512_fmadd_ps(two, difference34, difference12),
            _mm512_fmadd_ps(four, sum34, sum12),
            _mm512_add_ps(_mm512_fmadd_ps(eight, difference34, difference12), x[5]),
        };
        kp_store_rows__avx512(o, 4, j, mask, y);
    }
}

// The F(6x6, 3x3) rows of kp_conv_internal.h, 16 lanes at a time. fma(a, b, c) = a * b + c.
KP_TARGET static void kp_winograd_f6_input__avx512(const float *const d[8], float *const r[8], size_t n) {
    const __m512 k025 = _mm512_set1_ps(0.25f), k05 = _mm512_set1_ps(0.5f), k125 = _mm512_set1_ps(1.25f);
    const __m512 k2 = _mm512_set1_ps(2), k25 = _mm512_set1_ps(2.5f), k4 = _mm512_set1_ps(4);
    const __m512 k425 = _mm512_set1_ps(4.25f), k5 = _mm512_set1_ps(5), k525 = _mm512_set1_ps(5.25f);
    for (size_t j = 0; j < n; j += 16) {
        const __mmask16 mask = kp_lanes_mask__avx512(n - j);
        __m512 x[8];
        kp_load_rows__avx512(d, 8, j, mask, x);
        const __m512 even1 = _mm512_fnmadd_ps(k425, x[4], _mm512_add_ps(x[2], x[6]));
        const __m512 odd1 = _mm512_fnmadd_ps(k425, x[3], _mm512_add_ps(x[1], x[5]));
        const __m512 even2 = _mm512_fnmadd_ps(k125, x[4], _mm512_fmadd_ps(k025, x[2], x[6]));
        const __m512 odd2 = _mm512_fmadd_ps(k2, x[5], _mm512_fnmadd_ps(k25, x[3], _mm512_mul_ps(k05, x[1])));
        const __m512 even3 = _mm512_fnmadd_ps(k5, x[4], _mm512_fmadd_ps(k4, x[2], x[6]));
        const __m512 odd3 = _mm512_fmadd_ps(k05, x[5], _mm512_fnmadd_ps(k25, x[3], _mm512_mul_ps(k2, x[1])));
        const __m512 y[8] = {
            _mm512_fmadd_ps(k525, _mm512_sub_ps(x[4], x[2]), _mm512_sub_ps(x[0], x[6])),
            _mm512_add_ps(even1, odd1),
            _mm512_sub_ps(even1, odd1),
            _mm512_add_ps(even2, odd2),
            _mm512_sub_ps(even2, odd2),
            _mm512_add_ps(even3, odd3),
            _mm512_sub_ps(even3, odd3),
            _mm512_fmadd_ps(k525, _mm512_sub_ps(x[3], x[5]), _mm512_sub_ps(x[7], x[1])),
        };
        kp_store_rows__avx512(r, 8, j, mask, y);
    }
}

KP_TARGET static void kp_winograd_f6_output__avx512(const float *const m[8], float *const o[6], size_t n) {
    const __m512 k2 = _mm512_set1_ps(2), k4 = _mm512_set1_ps(4), k8 = _mm512_set1_ps(8);
    const __m512 k16 = _mm512_set1_ps(16), k32 = _mm512_set1_ps(32), k05 = _mm512_set1_ps(0.5f);
    const __m512 k025 = _mm512_set1_ps(0.25f), k0125 = _mm512_set1_ps(0.125f), k00625 = _mm512_set1_ps(0.0625f);
    const __m512 k003125 = _mm512_set1_ps(0.03125f);
    for (size_t j = 0; j < n; j += 16) {
        const __mmask16 mask = kp_lanes_mask__avx512(n - j);
        __m512 x[8];
        kp_load_rows__avx512(m, 8, j, mask, x);
        const __m512 a = _mm512_add_ps(x[1], x[2]), b = _mm512_sub_ps(x[1], x[2]);
        const __m512 c = _mm512_add_ps(x[3], x[4]), d = _mm512_sub_ps(x[3], x[4]);
        const __m512 e = _mm512_add_ps(x[5], x[6]), f = _mm512_sub_ps(x[5], x[6]);
        const __m512 y[6] = {
            _mm512_add_ps(_mm512_add_ps(x[0], a), _mm512_add_ps(c, e)),
            _mm512_fmadd_ps(k05, f, _mm512_fmadd_ps(k2, d, b)),
            _mm512_fmadd_ps(k025, e, _mm512_fmadd_ps(k4, c, a)),
            _mm512_fmadd_ps(k0125, f, _mm512_fmadd_ps(k8, d, b)),
            _mm512_fmadd_ps(k00625, e, _mm512_fmadd_ps(k16, c, a)),
            _mm512_add_ps(_mm512_fmadd_ps(k003125, f, _mm512_fmadd_ps(k32, d, b)), x[7]),
        };
        kp_store_rows__avx512(o, 6, j, mask, y);
    }
}

// Sixteen pairs at a time: VPERMT2PS picks lanes 0, 2, ..., 30 (even) or 1, 3, ..., 31 (odd) of
// two loads.
KP_TARGET static void kp_deinterleave2__avx512(const float *x, size_t n, float *const phases[2]) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m512 low = _mm512_loadu_ps(x + 2 * j), high = _mm512_loadu_ps(x + 2 * j + 16);
        _mm512_storeu_ps(phases[0] + j, _mm512_permutex2var_ps(low, even, high));
        _mm512_storeu_ps(phases[1] + j, _mm512_permutex2var_ps(low, odd, high));
    }
    kp_gather_lanes(x, 2, 2, j, n, phases);
}

// Every AVX-512F CPU has AVX2 (kp_detect checks both): its phase shuffles serve here as they are.
void kp_deinterleave4__avx2(const float *x, size_t n, float *const phases[4]);
void kp_interleave4__avx2(const float *const phases[4], size_t n, float *x);
void kp_channels_last__sse(const float *source, size_t channels, size_t plane, size_t width, float *target,
                           size_t stride);
void kp_gather6__avx2(const float *x, size_t n, float *const columns[8]);
void kp_scatter6__avx2(const float *const columns[6], size_t n, float *x);

const kp_isa_kernels kp_kernels__avx512 = {
    .isa = KP_ISA_AVX512,
    .mr = MR,
    .nr = NR,
    .gemm = kp_gemm_12x32__avx512,
    .gemm_narrow = kp_gemm_12x16__avx512,
    .gemm_partial = kp_gemm_partial__avx512,
    .winograd_input = kp_winograd_f4_input__avx512,
    .winograd_output = kp_winograd_f4_output__avx512,
    .winograd6_input = kp_winograd_f6_input__avx512,
    .winograd6_output = kp_winograd_f6_output__avx512,
    .deinterleave2 = kp_deinterleave2__avx512,
    .deinterleave4 = kp_deinterleave4__avx2,
    .interleave4 = kp_interleave4__avx2,
    .channels_last = kp_channels_last__sse,
    .gather6 = kp_gather6__avx2,
    .scatter6 = kp_scatter6__avx2,
};

#endif

// AVX2 + FMA3 kernels, selected per function by target attributes.

#if defined(__x86_64__) || defined(_M_X64)

#include "kp_conv_internal.h"

#include <immintrin.h>

#define KP_TARGET __attribute__((target("avx2,fma")))

enum { MR = 6, NR = 16 };

KP_TARGET static inline __m256 kp_epilogue__avx2(__m256 acc, const kp_epilogue *epilogue, int row,
                                                 const float *residual) {
    if (epilogue->bias != NULL) acc = _mm256_add_ps(acc, _mm256_set1_ps(epilogue->bias[row]));
    if (epilogue->residual != NULL) acc = _mm256_add_ps(acc, _mm256_loadu_ps(residual));
    const __m256 zero = _mm256_setzero_ps();
    switch (epilogue->activation) {
    case KP_ACTIVATION_RELU: return _mm256_max_ps(acc, zero);
    case KP_ACTIVATION_RELU6: return _mm256_min_ps(_mm256_max_ps(acc, zero), _mm256_set1_ps(6));
    case KP_ACTIVATION_LEAKY_RELU: {
        __m256 negative = _mm256_cmp_ps(acc, zero, _CMP_LT_OQ);
        return _mm256_blendv_ps(acc, _mm256_mul_ps(acc, _mm256_set1_ps(epilogue->slope)), negative);
    }
    default: return acc;
    }
}

// `ROWS` (1 to 6) rows x 16 columns: 2 x ROWS accumulators, two B vectors and one broadcast (15 of
// 16 registers at 6 rows). A is packed in panels of MR = 6 rows whatever ROWS is, so the shorter
// versions serve the last panel of a matrix whose rows are not a multiple of 6 (64 = 10 x 6 + 4,
// 128 = 21 x 6 + 2, 32 = 5 x 6 + 2) at the cost of those rows only.
#define KP_GEMM_X16(ROWS)                                                                                      \
    KP_TARGET static void kp_gemm_##ROWS##x16__avx2(size_t k, const float *restrict a,                         \
                                                   const float *const *restrict rows, size_t column,             \
                                                   float *restrict c, size_t ldc, const kp_epilogue *epilogue) { \
        __m256 acc[ROWS][2];                                                                                   \
        for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();                           \
        for (size_t i = 0; i < k; i++) {                                                                       \
            const __m256 b0 = _mm256_loadu_ps(rows[i] + column);                                               \
            const __m256 b1 = _mm256_loadu_ps(rows[i] + column + 8);                                           \
            for (int r = 0; r < ROWS; r++) {                                                                   \
                const __m256 ar = _mm256_broadcast_ss(a + i * MR + r);                                         \
                acc[r][0] = _mm256_fmadd_ps(ar, b0, acc[r][0]);                                                \
                acc[r][1] = _mm256_fmadd_ps(ar, b1, acc[r][1]);                                                \
            }                                                                                                  \
        }                                                                                                      \
        for (int r = 0; r < ROWS; r++) {                                                                       \
            __m256 low = acc[r][0], high = acc[r][1];                                                          \
            if (epilogue != NULL) {                                                                            \
                const float *residual = epilogue->residual ? epilogue->residual + r * ldc : NULL;              \
                low = kp_epilogue__avx2(low, epilogue, r, residual);                                           \
                high = kp_epilogue__avx2(high, epilogue, r, residual ? residual + 8 : NULL);                   \
            }                                                                                                  \
            _mm256_storeu_ps(c + r * ldc, low);                                                                \
            _mm256_storeu_ps(c + r * ldc + 8, high);                                                           \
        }                                                                                                      \
    }

KP_GEMM_X16(6)
KP_GEMM_X16(5)
KP_GEMM_X16(4)
KP_GEMM_X16(3)
KP_GEMM_X16(2)
KP_GEMM_X16(1)

// The last panel's first `rows` rows (1-5), on the kernel of exactly that many rows.
static void kp_gemm_partial__avx2(size_t rows_wanted, size_t k, const float *restrict a,
                                  const float *const *restrict rows, size_t column, float *restrict c, size_t ldc,
                                  const kp_epilogue *epilogue) {
    static const kp_gemm_fn kernels[MR] = {NULL, kp_gemm_1x16__avx2, kp_gemm_2x16__avx2,
                                           kp_gemm_3x16__avx2, kp_gemm_4x16__avx2, kp_gemm_5x16__avx2};
    kernels[rows_wanted](k, a, rows, column, c, ldc, epilogue);
}

// 6 rows x 8 columns, for matrices too narrow for the 16-column kernel.
KP_TARGET static void kp_gemm_6x8__avx2(size_t k, const float *restrict a, const float *const *restrict rows, size_t column,
                                        float *restrict c, size_t ldc, const kp_epilogue *epilogue) {
    __m256 acc[MR];
    for (int r = 0; r < MR; r++) acc[r] = _mm256_setzero_ps();
    for (size_t i = 0; i < k; i++) {
        const __m256 b0 = _mm256_loadu_ps(rows[i] + column);
        for (int r = 0; r < MR; r++) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(a + i * MR + r), b0, acc[r]);
    }
    for (int r = 0; r < MR; r++) {
        __m256 value = acc[r];
        if (epilogue != NULL) {
            value = kp_epilogue__avx2(value, epilogue, r, epilogue->residual ? epilogue->residual + r * ldc : NULL);
        }
        _mm256_storeu_ps(c + r * ldc, value);
    }
}

// The BT rows of kp_conv_internal.h, 8 lanes at a time.
KP_TARGET static void kp_winograd_f4_input__avx2(const float *const d[6], float *const r[6], size_t n) {
    const __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), five = _mm256_set1_ps(5);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 d0 = _mm256_loadu_ps(d[0] + j), d1 = _mm256_loadu_ps(d[1] + j), d2 = _mm256_loadu_ps(d[2] + j);
        __m256 d3 = _mm256_loadu_ps(d[3] + j), d4 = _mm256_loadu_ps(d[4] + j), d5 = _mm256_loadu_ps(d[5] + j);
        _mm256_storeu_ps(r[0] + j, _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4)));
        _mm256_storeu_ps(r[1] + j, _mm256_fnmadd_ps(four, _mm256_add_ps(d1, d2), _mm256_add_ps(d3, d4)));
        _mm256_storeu_ps(r[2] + j, _mm256_fmadd_ps(four, _mm256_sub_ps(d1, d2), _mm256_sub_ps(d4, d3)));
        _mm256_storeu_ps(r[3] + j, _mm256_fmadd_ps(two, _mm256_sub_ps(d3, d1), _mm256_sub_ps(d4, d2)));
        _mm256_storeu_ps(r[4] + j, _mm256_fmadd_ps(two, _mm256_sub_ps(d1, d3), _mm256_sub_ps(d4, d2)));
        _mm256_storeu_ps(r[5] + j, _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5)));
    }
    kp_winograd_f4_input_lanes(d, r, j, n);
}

// The AT rows of kp_conv_internal.h, 8 lanes at a time.
KP_TARGET static void kp_winograd_f4_output__avx2(const float *const m[6], float *const o[4], size_t n) {
    const __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), eight = _mm256_set1_ps(8);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 m1 = _mm256_loadu_ps(m[1] + j), m2 = _mm256_loadu_ps(m[2] + j);
        __m256 m3 = _mm256_loadu_ps(m[3] + j), m4 = _mm256_loadu_ps(m[4] + j);
        __m256 sum12 = _mm256_add_ps(m1, m2), difference12 = _mm256_sub_ps(m1, m2);
        __m256 sum34 = _mm256_add_ps(m3, m4), difference34 = _mm256_sub_ps(m3, m4);
        _mm256_storeu_ps(o[0] + j, _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(m[0] + j), sum12), sum34));
        _mm256_storeu_ps(o[1] + j, _mm256_fmadd_ps(two, difference34, difference12));
        _mm256_storeu_ps(o[2] + j, _mm256_fmadd_ps(four, sum34, sum12));
        _mm256_storeu_ps(o[3] + j, _mm256_add_ps(_mm256_fmadd_ps(eight, difference34, difference12),
                                                 _mm256_loadu_ps(m[5] + j)));
    }
    kp_winograd_f4_output_lanes(m, o, j, n);
}

// The F(6x6, 3x3) rows of kp_conv_internal.h, 8 lanes at a time. fma(a, b, c) = a * b + c.
KP_TARGET static void kp_winograd_f6_input__avx2(const float *const d[8], float *const r[8], size_t n) {
    const __m256 k025 = _mm256_set1_ps(0.25f), k05 = _mm256_set1_ps(0.5f), k125 = _mm256_set1_ps(1.25f), k2 = _mm256_set1_ps(2), k25 = _mm256_set1_ps(2.5f);
    const __m256 k4 = _mm256_set1_ps(4), k425 = _mm256_set1_ps(4.25f), k5 = _mm256_set1_ps(5), k525 = _mm256_set1_ps(5.25f);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 d0 = _mm256_loadu_ps(d[0] + j), d1 = _mm256_loadu_ps(d[1] + j), d2 = _mm256_loadu_ps(d[2] + j), d3 = _mm256_loadu_ps(d[3] + j);
        __m256 d4 = _mm256_loadu_ps(d[4] + j), d5 = _mm256_loadu_ps(d[5] + j), d6 = _mm256_loadu_ps(d[6] + j), d7 = _mm256_loadu_ps(d[7] + j);
        __m256 even1 = _mm256_fnmadd_ps(k425, d4, _mm256_add_ps(d2, d6)), odd1 = _mm256_fnmadd_ps(k425, d3, _mm256_add_ps(d1, d5));
        __m256 even2 = _mm256_fnmadd_ps(k125, d4, _mm256_fmadd_ps(k025, d2, d6)), odd2 = _mm256_fmadd_ps(k2, d5, _mm256_fnmadd_ps(k25, d3, _mm256_mul_ps(k05, d1)));
        __m256 even3 = _mm256_fnmadd_ps(k5, d4, _mm256_fmadd_ps(k4, d2, d6)), odd3 = _mm256_fmadd_ps(k05, d5, _mm256_fnmadd_ps(k25, d3, _mm256_mul_ps(k2, d1)));
        _mm256_storeu_ps(r[0] + j, _mm256_fmadd_ps(k525, _mm256_sub_ps(d4, d2), _mm256_sub_ps(d0, d6)));
        _mm256_storeu_ps(r[1] + j, _mm256_add_ps(even1, odd1));
        _mm256_storeu_ps(r[2] + j, _mm256_sub_ps(even1, odd1));
        _mm256_storeu_ps(r[3] + j, _mm256_add_ps(even2, odd2));
        _mm256_storeu_ps(r[4] + j, _mm256_sub_ps(even2, odd2));
        _mm256_storeu_ps(r[5] + j, _mm256_add_ps(even3, odd3));
        _mm256_storeu_ps(r[6] + j, _mm256_sub_ps(even3, odd3));
        _mm256_storeu_ps(r[7] + j, _mm256_fmadd_ps(k525, _mm256_sub_ps(d3, d5), _mm256_sub_ps(d7, d1)));
    }
    kp_winograd_f6_input_lanes(d, r, j, n);
}

KP_TARGET static void kp_winograd_f6_output__avx2(const float *const m[8], float *const o[6], size_t n) {
    const __m256 k2 = _mm256_set1_ps(2), k4 = _mm256_set1_ps(4), k8 = _mm256_set1_ps(8), k16 = _mm256_set1_ps(16), k32 = _mm256_set1_ps(32);
    const __m256 k05 = _mm256_set1_ps(0.5f), k025 = _mm256_set1_ps(0.25f), k0125 = _mm256_set1_ps(0.125f), k00625 = _mm256_set1_ps(0.0625f);
    const __m256 k003125 = _mm256_set1_ps(0.03125f);
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 m1 = _mm256_loadu_ps(m[1] + j), m2 = _mm256_loadu_ps(m[2] + j), m3 = _mm256_loadu_ps(m[3] + j), m4 = _mm256_loadu_ps(m[4] + j);
        __m256 m5 = _mm256_loadu_ps(m[5] + j), m6 = _mm256_loadu_ps(m[6] + j);
        __m256 a = _mm256_add_ps(m1, m2), b = _mm256_sub_ps(m1, m2), c = _mm256_add_ps(m3, m4), d = _mm256_sub_ps(m3, m4), e = _mm256_add_ps(m5, m6), f = _mm256_sub_ps(m5, m6);
        _mm256_storeu_ps(o[0] + j, _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(m[0] + j), a), _mm256_add_ps(c, e)));
        _mm256_storeu_ps(o[1] + j, _mm256_fmadd_ps(k05, f, _mm256_fmadd_ps(k2, d, b)));
        _mm256_storeu_ps(o[2] + j, _mm256_fmadd_ps(k025, e, _mm256_fmadd_ps(k4, c, a)));
        _mm256_storeu_ps(o[3] + j, _mm256_fmadd_ps(k0125, f, _mm256_fmadd_ps(k8, d, b)));
        _mm256_storeu_ps(o[4] + j, _mm256_fmadd_ps(k00625, e, _mm256_fmadd_ps(k16, c, a)));
        _mm256_storeu_ps(o[5] + j, _mm256_add_ps(_mm256_fmadd_ps(k003125, f, _mm256_fmadd_ps(k32, d, b)), _mm256_loadu_ps(m[7] + j)));
    }
    kp_winograd_f6_output_lanes(m, o, j, n);
}

// Eight pairs at a time: SHUFPS takes each 128-bit lane's even (0x88) and odd (0xDD) values, in
// the order pairs 0-1, 4-5, 2-3, 6-7 of 64 bits; VPERMPD 0xD8 puts them back in order.
KP_TARGET void kp_deinterleave2__avx2(const float *x, size_t n, float *const phases[2]) {
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 low = _mm256_loadu_ps(x + 2 * j), high = _mm256_loadu_ps(x + 2 * j + 8);
        __m256 even = _mm256_shuffle_ps(low, high, 0x88), odd = _mm256_shuffle_ps(low, high, 0xDD);
        _mm256_storeu_ps(phases[0] + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), 0xD8)));
        _mm256_storeu_ps(phases[1] + j, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(odd), 0xD8)));
    }
    kp_gather_lanes(x, 2, 2, j, n, phases);
}

// Eight tiles at a time: tiles j and j + 4 share a register (one per 128-bit lane), so the
// per-lane 4x4 transpose leaves each phase with its tiles in order.
KP_TARGET void kp_deinterleave4__avx2(const float *x, size_t n, float *const phases[4]) {
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const float *tiles = x + 4 * j;
        __m256 r0 = _mm256_loadu2_m128(tiles + 16, tiles), r1 = _mm256_loadu2_m128(tiles + 20, tiles + 4);
        __m256 r2 = _mm256_loadu2_m128(tiles + 24, tiles + 8), r3 = _mm256_loadu2_m128(tiles + 28, tiles + 12);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
        __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
        _mm256_storeu_ps(phases[0] + j, _mm256_shuffle_ps(t0, t2, 0x44));
        _mm256_storeu_ps(phases[1] + j, _mm256_shuffle_ps(t0, t2, 0xEE));
        _mm256_storeu_ps(phases[2] + j, _mm256_shuffle_ps(t1, t3, 0x44));
        _mm256_storeu_ps(phases[3] + j, _mm256_shuffle_ps(t1, t3, 0xEE));
    }
    if (j + 4 <= n) { // four tiles left: one 128-bit transpose
        __m128 r0 = _mm_loadu_ps(x + 4 * j), r1 = _mm_loadu_ps(x + 4 * j + 4);
        __m128 r2 = _mm_loadu_ps(x + 4 * j + 8), r3 = _mm_loadu_ps(x + 4 * j + 12);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(phases[0] + j, r0);
        _mm_storeu_ps(phases[1] + j, r1);
        _mm_storeu_ps(phases[2] + j, r2);
        _mm_storeu_ps(phases[3] + j, r3);
        j += 4;
    }
    kp_gather_lanes(x, 4, 4, j, n, phases);
}

KP_TARGET void kp_interleave4__avx2(const float *const phases[4], size_t n, float *x) {
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 r0 = _mm256_loadu_ps(phases[0] + j), r1 = _mm256_loadu_ps(phases[1] + j);
        __m256 r2 = _mm256_loadu_ps(phases[2] + j), r3 = _mm256_loadu_ps(phases[3] + j);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
        __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
        float *tiles = x + 4 * j;
        _mm256_storeu2_m128(tiles + 16, tiles, _mm256_shuffle_ps(t0, t2, 0x44));
        _mm256_storeu2_m128(tiles + 20, tiles + 4, _mm256_shuffle_ps(t0, t2, 0xEE));
        _mm256_storeu2_m128(tiles + 24, tiles + 8, _mm256_shuffle_ps(t1, t3, 0x44));
        _mm256_storeu2_m128(tiles + 28, tiles + 12, _mm256_shuffle_ps(t1, t3, 0xEE));
    }
    if (j + 4 <= n) { // four tiles left: one 128-bit transpose
        __m128 r0 = _mm_loadu_ps(phases[0] + j), r1 = _mm_loadu_ps(phases[1] + j);
        __m128 r2 = _mm_loadu_ps(phases[2] + j), r3 = _mm_loadu_ps(phases[3] + j);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(x + 4 * j, r0);
        _mm_storeu_ps(x + 4 * j + 4, r1);
        _mm_storeu_ps(x + 4 * j + 8, r2);
        _mm_storeu_ps(x + 4 * j + 12, r3);
        j += 4;
    }
    kp_scatter_lanes(phases, 4, 4, j, n, x);
}

// An 8x8 transpose: out[k] holds element k of in[0..7].
KP_TARGET static inline void kp_transpose8x8__avx2(const __m256 in[8], __m256 out[8]) {
    __m256 t0 = _mm256_unpacklo_ps(in[0], in[1]), t1 = _mm256_unpackhi_ps(in[0], in[1]);
    __m256 t2 = _mm256_unpacklo_ps(in[2], in[3]), t3 = _mm256_unpackhi_ps(in[2], in[3]);
    __m256 t4 = _mm256_unpacklo_ps(in[4], in[5]), t5 = _mm256_unpackhi_ps(in[4], in[5]);
    __m256 t6 = _mm256_unpacklo_ps(in[6], in[7]), t7 = _mm256_unpackhi_ps(in[6], in[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    out[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    out[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    out[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    out[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    out[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    out[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    out[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    out[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

// Eight tiles at a time: each tile's 8 window columns are one load, and a transpose turns the
// eight loads into the eight columns.
KP_TARGET void kp_gather6__avx2(const float *x, size_t n, float *const columns[8]) {
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 tiles[8], transposed[8];
        for (int t = 0; t < 8; t++) tiles[t] = _mm256_loadu_ps(x + 6 * (j + (size_t)t));
        kp_transpose8x8__avx2(tiles, transposed);
        for (int v = 0; v < 8; v++) _mm256_storeu_ps(columns[v] + j, transposed[v]);
    }
    kp_gather_lanes(x, 6, 8, j, n, columns);
}

// The inverse: the transpose gives each tile its 6 values (and 2 spare) in one register, stored
// at 6 j in increasing j, so each store's spare values are overwritten by the next tile's.
KP_TARGET void kp_scatter6__avx2(const float *const columns[6], size_t n, float *x) {
    size_t j = 0;
    for (; j + 8 <= n; j += 8) {
        __m256 rows[8], tiles[8];
        for (int b = 0; b < 6; b++) rows[b] = _mm256_loadu_ps(columns[b] + j);
        rows[6] = rows[7] = _mm256_setzero_ps();
        kp_transpose8x8__avx2(rows, tiles);
        for (int t = 0; t < 8; t++) _mm256_storeu_ps(x + 6 * (j + (size_t)t), tiles[t]);
    }
    kp_scatter_lanes(columns, 6, 6, j, n, x);
}

void kp_channels_last__sse(const float *source, size_t channels, size_t plane, size_t width, float *target,
                           size_t stride);

const kp_isa_kernels kp_kernels__avx2 = {
    .isa = KP_ISA_AVX2,
    .mr = MR,
    .nr = NR,
    .gemm = kp_gemm_6x16__avx2,
    .gemm_narrow = kp_gemm_6x8__avx2,
    .gemm_partial = kp_gemm_partial__avx2,
    .winograd_input = kp_winograd_f4_input__avx2,
    .winograd_output = kp_winograd_f4_output__avx2,
    .winograd6_input = kp_winograd_f6_input__avx2,
    .winograd6_output = kp_winograd_f6_output__avx2,
    .deinterleave2 = kp_deinterleave2__avx2,
    .deinterleave4 = kp_deinterleave4__avx2,
    .interleave4 = kp_interleave4__avx2,
    .channels_last = kp_channels_last__sse,
    .gather6 = kp_gather6__avx2,
    .scatter6 = kp_scatter6__avx2,
};

#endif

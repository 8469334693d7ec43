// AArch64 Advanced SIMD kernels (NEON is baseline on AArch64: no detection needed).

#if defined(__aarch64__)

#include "kp_conv_internal.h"

#include <arm_neon.h>

enum { MR = 8, NR = 8 };

static inline float32x4_t kp_epilogue__neon(float32x4_t acc, const kp_epilogue *epilogue, int row,
                                            const float *residual) {
    if (epilogue->bias != NULL) acc = vaddq_f32(acc, vdupq_n_f32(epilogue->bias[row]));
    if (epilogue->residual != NULL) acc = vaddq_f32(acc, vld1q_f32(residual));
    const float32x4_t zero = vdupq_n_f32(0);
    switch (epilogue->activation) {
    case KP_ACTIVATION_RELU: return vmaxq_f32(acc, zero);
    case KP_ACTIVATION_RELU6: return vminq_f32(vmaxq_f32(acc, zero), vdupq_n_f32(6));
    case KP_ACTIVATION_LEAKY_RELU: {
        uint32x4_t negative = vcltq_f32(acc, zero);
        return vbslq_f32(negative, vmulq_n_f32(acc, epilogue->slope), acc);
    }
    default: return acc;
    }
}

// 8 rows x 8 columns: 16 accumulators; A's 8 values per k in two registers, used by lane.
static void kp_gemm_8x8__neon(size_t k, const float *restrict a, const float *const *restrict rows, size_t column,
                              float *restrict c, size_t ldc, const kp_epilogue *epilogue) {
    float32x4_t acc[MR][2];
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = vdupq_n_f32(0);
    for (size_t i = 0; i < k; i++) {
        const float32x4_t b0 = vld1q_f32(rows[i] + column);
        const float32x4_t b1 = vld1q_f32(rows[i] + column + 4);
        const float32x4_t a0 = vld1q_f32(a + i * MR);
        const float32x4_t a1 = vld1q_f32(a + i * MR + 4);
        acc[0][0] = vfmaq_laneq_f32(acc[0][0], b0, a0, 0);
        acc[0][1] = vfmaq_laneq_f32(acc[0][1], b1, a0, 0);
        acc[1][0] = vfmaq_laneq_f32(acc[1][0], b0, a0, 1);
        acc[1][1] = vfmaq_laneq_f32(acc[1][1], b1, a0, 1);
        acc[2][0] = vfmaq_laneq_f32(acc[2][0], b0, a0, 2);
        acc[2][1] = vfmaq_laneq_f32(acc[2][1], b1, a0, 2);
        acc[3][0] = vfmaq_laneq_f32(acc[3][0], b0, a0, 3);
        acc[3][1] = vfmaq_laneq_f32(acc[3][1], b1, a0, 3);
        acc[4][0] = vfmaq_laneq_f32(acc[4][0], b0, a1, 0);
        acc[4][1] = vfmaq_laneq_f32(acc[4][1], b1, a1, 0);
        acc[5][0] = vfmaq_laneq_f32(acc[5][0], b0, a1, 1);
        acc[5][1] = vfmaq_laneq_f32(acc[5][1], b1, a1, 1);
        acc[6][0] = vfmaq_laneq_f32(acc[6][0], b0, a1, 2);
        acc[6][1] = vfmaq_laneq_f32(acc[6][1], b1, a1, 2);
        acc[7][0] = vfmaq_laneq_f32(acc[7][0], b0, a1, 3);
        acc[7][1] = vfmaq_laneq_f32(acc[7][1], b1, a1, 3);
    }
    for (int r = 0; r < MR; r++) {
        float32x4_t low = acc[r][0], high = acc[r][1];
        if (epilogue != NULL) {
            const float *residual = epilogue->residual ? epilogue->residual + r * ldc : NULL;
            low = kp_epilogue__neon(low, epilogue, r, residual);
            high = kp_epilogue__neon(high, epilogue, r, residual ? residual + 4 : NULL);
        }
        vst1q_f32(c + r * ldc, low);
        vst1q_f32(c + r * ldc + 4, high);
    }
}

// The BT rows of kp_conv_internal.h, 4 lanes at a time.
static void kp_winograd_f4_input__neon(const float *const d[6], float *const r[6], size_t n) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4_t d0 = vld1q_f32(d[0] + j), d1 = vld1q_f32(d[1] + j), d2 = vld1q_f32(d[2] + j);
        float32x4_t d3 = vld1q_f32(d[3] + j), d4 = vld1q_f32(d[4] + j), d5 = vld1q_f32(d[5] + j);
        vst1q_f32(r[0] + j, vfmaq_n_f32(vfmsq_n_f32(d4, d2, 5), d0, 4));
        vst1q_f32(r[1] + j, vfmsq_n_f32(vaddq_f32(d3, d4), vaddq_f32(d1, d2), 4));
        vst1q_f32(r[2] + j, vfmaq_n_f32(vsubq_f32(d4, d3), vsubq_f32(d1, d2), 4));
        vst1q_f32(r[3] + j, vfmaq_n_f32(vsubq_f32(d4, d2), vsubq_f32(d3, d1), 2));
        vst1q_f32(r[4] + j, vfmaq_n_f32(vsubq_f32(d4, d2), vsubq_f32(d1, d3), 2));
        vst1q_f32(r[5] + j, vfmaq_n_f32(vfmsq_n_f32(d5, d3, 5), d1, 4));
    }
    kp_winograd_f4_input_lanes(d, r, j, n);
}

// The AT rows of kp_conv_internal.h, 4 lanes at a time.
static void kp_winograd_f4_output__neon(const float *const m[6], float *const o[4], size_t n) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4_t m1 = vld1q_f32(m[1] + j), m2 = vld1q_f32(m[2] + j);
        float32x4_t m3 = vld1q_f32(m[3] + j), m4 = vld1q_f32(m[4] + j);
        float32x4_t sum12 = vaddq_f32(m1, m2), difference12 = vsubq_f32(m1, m2);
        float32x4_t sum34 = vaddq_f32(m3, m4), difference34 = vsubq_f32(m3, m4);
        vst1q_f32(o[0] + j, vaddq_f32(vaddq_f32(vld1q_f32(m[0] + j), sum12), sum34));
        vst1q_f32(o[1] + j, vfmaq_n_f32(difference12, difference34, 2));
        vst1q_f32(o[2] + j, vfmaq_n_f32(sum12, sum34, 4));
        vst1q_f32(o[3] + j, vaddq_f32(vfmaq_n_f32(difference12, difference34, 8), vld1q_f32(m[5] + j)));
    }
    kp_winograd_f4_output_lanes(m, o, j, n);
}

// The F(6x6, 3x3) rows of kp_conv_internal.h, 4 lanes at a time. vfmaq_n_f32(c, x, k) = c + x * k.
static void kp_winograd_f6_input__neon(const float *const d[8], float *const r[8], size_t n) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4_t d0 = vld1q_f32(d[0] + j), d1 = vld1q_f32(d[1] + j), d2 = vld1q_f32(d[2] + j);
        float32x4_t d3 = vld1q_f32(d[3] + j), d4 = vld1q_f32(d[4] + j), d5 = vld1q_f32(d[5] + j);
        float32x4_t d6 = vld1q_f32(d[6] + j), d7 = vld1q_f32(d[7] + j);
        float32x4_t even1 = vfmsq_n_f32(vaddq_f32(d2, d6), d4, 4.25f);
        float32x4_t odd1 = vfmsq_n_f32(vaddq_f32(d1, d5), d3, 4.25f);
        float32x4_t even2 = vfmsq_n_f32(vfmaq_n_f32(d6, d2, 0.25f), d4, 1.25f);
        float32x4_t odd2 = vfmaq_n_f32(vfmsq_n_f32(vmulq_n_f32(d1, 0.5f), d3, 2.5f), d5, 2);
        float32x4_t even3 = vfmsq_n_f32(vfmaq_n_f32(d6, d2, 4), d4, 5);
        float32x4_t odd3 = vfmaq_n_f32(vfmsq_n_f32(vmulq_n_f32(d1, 2), d3, 2.5f), d5, 0.5f);
        vst1q_f32(r[0] + j, vfmaq_n_f32(vsubq_f32(d0, d6), vsubq_f32(d4, d2), 5.25f));
        vst1q_f32(r[1] + j, vaddq_f32(even1, odd1));
        vst1q_f32(r[2] + j, vsubq_f32(even1, odd1));
        vst1q_f32(r[3] + j, vaddq_f32(even2, odd2));
        vst1q_f32(r[4] + j, vsubq_f32(even2, odd2));
        vst1q_f32(r[5] + j, vaddq_f32(even3, odd3));
        vst1q_f32(r[6] + j, vsubq_f32(even3, odd3));
        vst1q_f32(r[7] + j, vfmaq_n_f32(vsubq_f32(d7, d1), vsubq_f32(d3, d5), 5.25f));
    }
    kp_winograd_f6_input_lanes(d, r, j, n);
}

static void kp_winograd_f6_output__neon(const float *const m[8], float *const o[6], size_t n) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4_t m1 = vld1q_f32(m[1] + j), m2 = vld1q_f32(m[2] + j), m3 = vld1q_f32(m[3] + j);
        float32x4_t m4 = vld1q_f32(m[4] + j), m5 = vld1q_f32(m[5] + j), m6 = vld1q_f32(m[6] + j);
        float32x4_t a = vaddq_f32(m1, m2), b = vsubq_f32(m1, m2), c = vaddq_f32(m3, m4), d = vsubq_f32(m3, m4);
        float32x4_t e = vaddq_f32(m5, m6), f = vsubq_f32(m5, m6);
        vst1q_f32(o[0] + j, vaddq_f32(vaddq_f32(vld1q_f32(m[0] + j), a), vaddq_f32(c, e)));
        vst1q_f32(o[1] + j, vfmaq_n_f32(vfmaq_n_f32(b, d, 2), f, 0.5f));
        vst1q_f32(o[2] + j, vfmaq_n_f32(vfmaq_n_f32(a, c, 4), e, 0.25f));
        vst1q_f32(o[3] + j, vfmaq_n_f32(vfmaq_n_f32(b, d, 8), f, 0.125f));
        vst1q_f32(o[4] + j, vfmaq_n_f32(vfmaq_n_f32(a, c, 16), e, 0.0625f));
        vst1q_f32(o[5] + j, vaddq_f32(vfmaq_n_f32(vfmaq_n_f32(b, d, 32), f, 0.03125f), vld1q_f32(m[7] + j)));
    }
    kp_winograd_f6_output_lanes(m, o, j, n);
}

// vld2q deinterleaves two streams in one instruction.
static void kp_deinterleave2__neon(const float *x, size_t n, float *const phases[2]) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4x2_t streams = vld2q_f32(x + 2 * j);
        vst1q_f32(phases[0] + j, streams.val[0]);
        vst1q_f32(phases[1] + j, streams.val[1]);
    }
    kp_gather_lanes(x, 2, 2, j, n, phases);
}

// vld4q/vst4q deinterleave and interleave four streams in one instruction.
static void kp_deinterleave4__neon(const float *x, size_t n, float *const phases[4]) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4x4_t streams = vld4q_f32(x + 4 * j);
        vst1q_f32(phases[0] + j, streams.val[0]);
        vst1q_f32(phases[1] + j, streams.val[1]);
        vst1q_f32(phases[2] + j, streams.val[2]);
        vst1q_f32(phases[3] + j, streams.val[3]);
    }
    kp_gather_lanes(x, 4, 4, j, n, phases);
}

// Whole blocks of 4 channels x 4 pixels transposed in registers: TRN1/TRN2 on 32-bit lanes pair
// the channels, then on 64-bit lanes the pairs; the rest in plain C.
static void kp_channels_last__neon(const float *source, size_t channels, size_t plane, size_t width, float *target,
                                   size_t stride) {
    const size_t c_end = channels / 4 * 4, x_end = width / 4 * 4;
    for (size_t c = 0; c < c_end; c += 4) {
        const float *row = source + c * plane;
        for (size_t x = 0; x < x_end; x += 4) {
            const float32x4_t r0 = vld1q_f32(row + x), r1 = vld1q_f32(row + plane + x);
            const float32x4_t r2 = vld1q_f32(row + 2 * plane + x), r3 = vld1q_f32(row + 3 * plane + x);
            const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(r0, r1));
            const float64x2_t t1 = vreinterpretq_f64_f32(vtrn2q_f32(r0, r1));
            const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(r2, r3));
            const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(r2, r3));
            vst1q_f32(target + x * stride + c, vreinterpretq_f32_f64(vtrn1q_f64(t0, t2)));
            vst1q_f32(target + (x + 1) * stride + c, vreinterpretq_f32_f64(vtrn1q_f64(t1, t3)));
            vst1q_f32(target + (x + 2) * stride + c, vreinterpretq_f32_f64(vtrn2q_f64(t0, t2)));
            vst1q_f32(target + (x + 3) * stride + c, vreinterpretq_f32_f64(vtrn2q_f64(t1, t3)));
        }
    }
    kp_channels_last_tail(source, channels, plane, width, target, stride, c_end, x_end);
}

static void kp_interleave4__neon(const float *const phases[4], size_t n, float *x) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        float32x4x4_t streams = {{vld1q_f32(phases[0] + j), vld1q_f32(phases[1] + j), vld1q_f32(phases[2] + j),
                                  vld1q_f32(phases[3] + j)}};
        vst4q_f32(x + 4 * j, streams);
    }
    kp_scatter_lanes(phases, 4, 4, j, n, x);
}

// A 4x4 transpose: out[k] holds element k of the four rows.
static inline void kp_transpose4x4__neon(float32x4_t r0, float32x4_t r1, float32x4_t r2, float32x4_t r3,
                                         float32x4_t out[4]) {
    float32x4_t t0 = vtrn1q_f32(r0, r1), t1 = vtrn2q_f32(r0, r1);
    float32x4_t t2 = vtrn1q_f32(r2, r3), t3 = vtrn2q_f32(r2, r3);
    out[0] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    out[1] = vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
    out[2] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t0), vreinterpretq_f64_f32(t2)));
    out[3] = vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(t1), vreinterpretq_f64_f32(t3)));
}

// Four tiles at a time: window columns 0-3 and 4-7 of the four tiles are two 4x4 transposes.
static void kp_gather6__neon(const float *x, size_t n, float *const columns[8]) {
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        for (int half = 0; half < 2; half++) {
            const float *tiles = x + 6 * j + 4 * (size_t)half;
            float32x4_t out[4];
            kp_transpose4x4__neon(vld1q_f32(tiles), vld1q_f32(tiles + 6), vld1q_f32(tiles + 12), vld1q_f32(tiles + 18),
                                  out);
            for (int k = 0; k < 4; k++) vst1q_f32(columns[4 * half + k] + j, out[k]);
        }
    }
    kp_gather_lanes(x, 6, 8, j, n, columns);
}

// The inverse; stores in increasing order, each tile's spare values overwritten by the next's.
static void kp_scatter6__neon(const float *const columns[6], size_t n, float *x) {
    size_t j = 0;
    const float32x4_t zero = vdupq_n_f32(0);
    for (; j + 4 <= n; j += 4) {
        float32x4_t low[4], high[4];
        kp_transpose4x4__neon(vld1q_f32(columns[0] + j), vld1q_f32(columns[1] + j), vld1q_f32(columns[2] + j),
                              vld1q_f32(columns[3] + j), low);
        kp_transpose4x4__neon(vld1q_f32(columns[4] + j), vld1q_f32(columns[5] + j), zero, zero, high);
        for (int t = 0; t < 4; t++) {
            float *tile = x + 6 * (j + (size_t)t);
            vst1q_f32(tile, low[t]);
            vst1q_f32(tile + 4, high[t]);
        }
    }
    kp_scatter_lanes(columns, 6, 6, j, n, x);
}

const kp_isa_kernels kp_kernels__neon = {
    .isa = KP_ISA_NEON,
    .mr = MR,
    .nr = NR,
    .gemm = kp_gemm_8x8__neon,
    .winograd_input = kp_winograd_f4_input__neon,
    .winograd_output = kp_winograd_f4_output__neon,
    .winograd6_input = kp_winograd_f6_input__neon,
    .winograd6_output = kp_winograd_f6_output__neon,
    .deinterleave2 = kp_deinterleave2__neon,
    .deinterleave4 = kp_deinterleave4__neon,
    .interleave4 = kp_interleave4__neon,
    .channels_last = kp_channels_last__neon,
    .gather6 = kp_gather6__neon,
    .scatter6 = kp_scatter6__neon,
};

#endif

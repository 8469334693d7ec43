// Convolution on the GEMM microkernels: the 1x1 path and indirect convolution.

#include "kp_conv_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Per group, the (out/groups) x (in/groups * kh * kw) weight matrix, packed.
int kp_gemm_prepare(kp_conv *conv, const float *weights) {
    const kp_conv_shape *s = &conv->shape;
    const size_t groups = (size_t)s->groups, rows = (size_t)s->out_channels / groups;
    const size_t k = (size_t)s->in_channels / groups * (size_t)s->kernel_h * (size_t)s->kernel_w;
    conv->packed_stride = kp_align_floats(kp_round_up(rows, (size_t)conv->kernels->mr) * k);
    conv->packed = aligned_alloc(64, groups * conv->packed_stride * sizeof(float));
    if (conv->packed == NULL) return 0;
    for (size_t g = 0; g < groups; g++) {
        kp_pack_a(weights + g * rows * k, k, rows, k, conv->kernels->mr, conv->packed + g * conv->packed_stride);
    }
    return 1;
}

// ---------------------------------------------------------------------------------------------
// GEMM paths: 1x1 (B = the input planes as they are) and indirect convolution for everything
// else: B's row for kernel tap (c, ky, kx) and output row oy is a row of the input picked by
// pointer, so no im2col matrix is ever written. The input rows are copied into zero-padded rows
// split into column phases x = j * sw + m (the stride), which makes every tap's row a contiguous
// run: input x(ox * sw - pw + kx * dw) is phase (kx * dw) % sw at j = ox + kx * dw / sw.
// Work items are bands of output rows: each splits just the input rows its band reads into the
// thread's scratch, sized to stay in L2, and runs the band's GEMMs on them while they are there.
// A GEMM per output row has out_width columns; where that is not a whole number of microkernel
// blocks (a 12- or 24-pixel row against AVX-512's 32 columns: a third or more of the products
// padding, and the edge copied per row), the band's tap rows are copied instead end to end into
// one matrix (the band's im2col: k rows of band_rows * out_width), bands a multiple of the rows
// that fill whole blocks, and one GEMM covers the band.

typedef struct {
    kp_conv_call call;
    size_t k;              // taps per output value: in_channels / groups * kernel_h * kernel_w
    size_t block_columns;  // 1x1: output pixels per work item
    size_t phase_length;   // indirect: floats per phase row, zero-padded past the image
    size_t phase_reach;    // indirect: the columns of a phase row any tap reads (the rest is never zeroed)
    size_t band_rows;      // indirect: output rows per work item
    size_t bands;          // indirect: work items per group
    int packed;            // indirect: the band's tap rows copied into one matrix, one GEMM a band
    size_t *column_offsets; // indirect: where tap kx's run starts in a split row (kernel_w of them)
    size_t thread_floats;
    float *workspace;      // per-thread scratch
} kp_gemm_job;

static size_t kp_gemm_k(const kp_conv_shape *s) {
    return (size_t)s->in_channels / (size_t)s->groups * (size_t)s->kernel_h * (size_t)s->kernel_w;
}

// Output pixels per 1x1 work item, whole microkernel blocks: the B block (k x columns) and the C
// block it makes (out_channels x columns) about 256 KiB together, half the L2 of a core here, so
// the output's stores do not push B out of L2 before the last panel of A has read it (f, 64 -> 128
// channels: a 1024-column B block of 256 KiB made 512 KiB of C; 336 columns: 0.86 -> 0.78 ms).
static size_t kp_gemm_block_columns(const kp_conv *conv, size_t k, size_t columns) {
    const size_t nr = (size_t)conv->kernels->nr;
    size_t block = (256 * 1024 / sizeof(float)) / (k + (size_t)conv->shape.out_channels) / nr * nr;
    if (block < nr) block = nr;
    if (block > 2048) block = 2048;
    return block < columns ? block : kp_round_up(columns, nr);
}

// Row stride of a 1x1 block's copy of B: the block's columns and 16 more, so that the k rows the
// microkernel reads together fall in different L1 sets (input planes of 4 KiB multiples apart
// map every row to the same set).
static size_t kp_b_copy_stride(size_t columns) { return columns + 16; }

// Phase rows hold every padded column: a tap reads out_width columns from (kx * dw) / sw on, never
// past ceil(padded width / sw) (kp_gemm reads exactly n columns of each B row).
static size_t kp_phase_length(const kp_conv *conv, int width) {
    const size_t padded_width = (size_t)width + 2 * (size_t)conv->shape.pad_w;
    const size_t sw = (size_t)conv->shape.stride_w;
    return kp_align_floats((padded_width + sw - 1) / sw);
}

// Input rows an indirect band of `band_rows` output rows reads (of one channel).
static size_t kp_band_input_rows(const kp_conv_shape *s, size_t band_rows) {
    return (band_rows - 1) * (size_t)s->stride_h + (size_t)(s->kernel_h - 1) * (size_t)s->dilation_h + 1;
}

// Output rows whose pixels fill whole microkernel blocks (of nr columns, or nr / 2 where the ISA
// has a narrow kernel): 1 when a row does (12-pixel rows against 16 columns: 4).
static size_t kp_pack_rows(const kp_conv *conv, int out_width) {
    const size_t unit = (size_t)(conv->kernels->gemm_narrow != NULL ? conv->kernels->nr / 2 : conv->kernels->nr);
    size_t rows = 1;
    while (rows * (size_t)out_width % unit != 0) rows++;
    return rows;
}

// Output rows per indirect work item: as many as keep the band's phase-split input rows (group
// channels x rows x phases), and its packed matrix if it has one, within 512 KiB, half the L2 of
// a core here, but at most an eighth of the rows, so that a single group still gives threads
// eight items to share. Packed bands grow in steps of kp_pack_rows (at least one step) where
// one step's matrix fits the budget. (Not a function of the thread count: the workspace size
// must not depend on it beyond the per-thread factor.)
static size_t kp_band_rows(const kp_conv *conv, size_t phase_length, int out_height, int out_width, int packed) {
    const kp_conv_shape *s = &conv->shape;
    const size_t row_floats = (size_t)(s->in_channels / s->groups) * (size_t)s->stride_w * phase_length;
    const size_t packed_floats = packed ? kp_gemm_k(s) * (size_t)out_width : 0; // per output row
    const size_t budget = 128 * 1024;
    const size_t eighth = ((size_t)out_height + 7) / 8;
    const size_t whole = packed ? kp_pack_rows(conv, out_width) : 1;
    const size_t step = whole * packed_floats <= budget ? whole : 1;
    size_t rows = step;
    while (rows + step <= eighth &&
           kp_band_input_rows(s, rows + step) * row_floats + (rows + step) * packed_floats <= budget) {
        rows += step;
    }
    return rows;
}

// Indirect convolution packs its bands where a row's GEMM would pad its columns.
static int kp_packs_bands(const kp_conv *conv, int out_width) {
    return conv->algorithm == KP_ALGORITHM_INDIRECT_GEMM && kp_pack_rows(conv, out_width) > 1;
}

// Per-thread scratch: the GEMM's edge block, the k row pointers and, for indirect convolution,
// one padded input row, the phase-split input rows of a band and, packed, the band's matrix.
static size_t kp_gemm_thread_floats(const kp_conv *conv, size_t k, size_t phase_length, size_t band_rows,
                                    int out_width, int packed) {
    size_t floats = kp_gemm_thread_scratch_floats(conv->kernels, k);
    if (conv->algorithm == KP_ALGORITHM_GEMM_1X1) { // the block's copy of B, at its widest
        floats += k * kp_b_copy_stride(kp_gemm_block_columns(conv, k, SIZE_MAX));
    }
    if (conv->algorithm == KP_ALGORITHM_INDIRECT_GEMM) {
        const kp_conv_shape *s = &conv->shape;
        floats += phase_length * (size_t)s->stride_w;
        floats += (size_t)(s->in_channels / s->groups) * kp_band_input_rows(s, band_rows) * (size_t)s->stride_w *
                  phase_length;
        if (packed) floats += kp_align_floats(k * band_rows * (size_t)out_width);
    }
    return floats;
}

// Input rows y0 ... y1 - 1 of channel c, zero-padded, each into its sw column phases of
// phase_length floats (row y at phases + (y - y0) * sw * phase_length; `padded`: a scratch row of
// sw * phase_length floats, for strides above 2). Stride 2 splits each row straight into its
// phases: x[i] lies at padded column i + pad, so x[2 j] goes to phase pad % 2 at j + pad / 2 and
// x[2 j + 1] to the other phase at j + (pad + 1) / 2; only the padding around each phase's run
// that a tap reads is zeroed. All but the split itself is worked out once for the rows.
static void kp_phase_split_rows(const kp_gemm_job *job, size_t c, size_t y0, size_t y1, float *phases,
                                float *padded) {
    const kp_conv_shape *s = &job->call.conv->shape;
    const size_t sw = (size_t)s->stride_w, length = job->phase_length, reach = job->phase_reach;
    const size_t pad = (size_t)s->pad_w;
    const size_t width = (size_t)job->call.width;
    const float *row = job->call.input + (c * (size_t)job->call.height + y0) * width;
    if (sw == 2) {
        const kp_deinterleave2_fn deinterleave2 = job->call.conv->kernels->deinterleave2;
        const size_t even_phase = (pad % 2) * length, odd_phase = ((pad + 1) % 2) * length;
        const size_t even_start = pad / 2, odd_start = (pad + 1) / 2;
        const size_t even_end = even_start + (width + 1) / 2, odd_end = odd_start + width / 2;
        for (size_t y = y0; y < y1; y++, row += width, phases += 2 * length) {
            float *even = phases + even_phase, *odd = phases + odd_phase;
            float *const targets[2] = {even + even_start, odd + odd_start};
            deinterleave2(row, width / 2, targets);
            if (width % 2) even[even_end - 1] = row[width - 1];
            for (size_t j = 0; j < even_start; j++) even[j] = 0;
            for (size_t j = even_end; j < reach; j++) even[j] = 0;
            for (size_t j = 0; j < odd_start; j++) odd[j] = 0;
            for (size_t j = odd_end; j < reach; j++) odd[j] = 0;
        }
        return;
    }
    for (size_t y = y0; y < y1; y++, row += width, phases += sw * length) {
        float *target = sw == 1 ? phases : padded; // stride 1: the padded row is the only phase
        memset(target, 0, pad * sizeof(float));
        memcpy(target + pad, row, width * sizeof(float));
        if (pad + width < sw * reach) {
            memset(target + pad + width, 0, (sw * reach - pad - width) * sizeof(float));
        }
        for (size_t m = 0; m < sw && sw > 2; m++) {
            for (size_t j = 0; j < reach; j++) phases[m * length + j] = padded[j * sw + m];
        }
    }
}

// Indirect convolution, one band of output rows of one group: split the input rows the band
// reads (rows of the padding above and below the image: zeros), point B's rows at the taps of
// the band's first output row, and run one GEMM per output row; output row oy's taps lie
// (oy - first row) * stride_h input rows further on, which the GEMM adds to every pointer.
static void kp_indirect_item(void *context, size_t item, int thread) {
    const kp_gemm_job *job = context;
    const kp_conv *conv = job->call.conv;
    const kp_conv_shape *s = &conv->shape;
    const size_t group = item / job->bands;
    const int first_row = (int)(item % job->bands * job->band_rows);
    const int end_row = first_row + (int)job->band_rows < job->call.out_height ? first_row + (int)job->band_rows
                                                                          : job->call.out_height;
    const int height = job->call.height;
    const size_t group_in = (size_t)s->in_channels / (size_t)s->groups;
    const size_t group_out = (size_t)s->out_channels / (size_t)s->groups;
    const size_t row_floats = (size_t)s->stride_w * job->phase_length; // one input row, split
    const size_t pixels = (size_t)job->call.out_height * (size_t)job->call.out_width;
    float *scratch = job->workspace + (size_t)thread * job->thread_floats;
    const float **rows = kp_gemm_rows(scratch, conv->kernels, job->k);
    float *padded = (float *)rows + kp_align_floats(kp_pointer_floats(job->k));
    float *band = padded + row_floats; // [channel in group][input row - first_y][phase][length]
    const size_t band_input_rows = kp_band_input_rows(s, job->band_rows);
    const int first_y = first_row * s->stride_h - s->pad_h;
    const int end_y = first_y + (int)kp_band_input_rows(s, (size_t)(end_row - first_row));
    const int split_y0 = first_y < 0 ? 0 : first_y, split_y1 = end_y < height ? end_y : height;
    for (size_t i = 0; i < group_in; i++) {
        float *channel = band + i * band_input_rows * row_floats;
        for (int y = first_y; y < end_y; y++) {
            if (y >= 0 && y < height) continue;
            memset(channel + (size_t)(y - first_y) * row_floats, 0, row_floats * sizeof(float));
        }
        if (split_y0 < split_y1) {
            kp_phase_split_rows(job, group * group_in + i, (size_t)split_y0, (size_t)split_y1,
                                channel + (size_t)(split_y0 - first_y) * row_floats, padded);
        }
    }
    size_t tap = 0;
    for (size_t i = 0; i < group_in; i++) {
        for (int ky = 0; ky < s->kernel_h; ky++) {
            const float *phases = band + (i * band_input_rows + (size_t)(ky * s->dilation_h)) * row_floats;
            for (int kx = 0; kx < s->kernel_w; kx++) rows[tap++] = phases + job->column_offsets[kx];
        }
    }
    const size_t out_width = (size_t)job->call.out_width;
    const size_t band_columns = (size_t)(end_row - first_row) * out_width;
    float *matrix = band + group_in * band_input_rows * row_floats; // packed: [tap][band pixel]
    for (int oy = first_row; oy < end_row; oy++) {
        const size_t first = (size_t)(oy - first_row) * (size_t)s->stride_h * row_floats;
        if (job->packed) {
            float *target = matrix + (size_t)(oy - first_row) * out_width;
            for (size_t t = 0; t < job->k; t++) {
                memcpy(target + t * band_columns, rows[t] + first, out_width * sizeof(float));
            }
            continue;
        }
        const size_t offset = group * group_out * pixels + (size_t)oy * out_width;
        kp_gemm(conv->kernels, group_out, out_width, job->k, conv->packed + group * conv->packed_stride, rows,
                first, job->call.output + offset, pixels, conv->bias + group * group_out,
                job->call.residual ? job->call.residual + offset : NULL, conv->activation, conv->slope, scratch);
    }
    if (job->packed) {
        for (size_t t = 0; t < job->k; t++) rows[t] = matrix + t * band_columns;
        const size_t offset = group * group_out * pixels + (size_t)first_row * out_width;
        kp_gemm(conv->kernels, group_out, band_columns, job->k, conv->packed + group * conv->packed_stride, rows,
                0, job->call.output + offset, pixels, conv->bias + group * group_out,
                job->call.residual ? job->call.residual + offset : NULL, conv->activation, conv->slope, scratch);
    }
}

// 1x1, one block of output pixels: B's rows are the input planes from the block's first pixel.
static void kp_gemm_1x1_item(void *context, size_t block, int thread) {
    const kp_gemm_job *job = context;
    const kp_conv *conv = job->call.conv;
    const size_t pixels = (size_t)job->call.out_height * (size_t)job->call.out_width;
    const size_t first = block * job->block_columns;
    const size_t count = pixels - first < job->block_columns ? pixels - first : job->block_columns;
    float *scratch = job->workspace + (size_t)thread * job->thread_floats;
    const float **rows = kp_gemm_rows(scratch, conv->kernels, job->k);
    float *copy = scratch + kp_gemm_thread_scratch_floats(conv->kernels, job->k);
    const size_t stride = kp_b_copy_stride(job->block_columns);
    for (size_t c = 0; c < job->k; c++) {
        memcpy(copy + c * stride, job->call.input + c * pixels + first, count * sizeof(float));
        rows[c] = copy + c * stride;
    }
    kp_gemm(conv->kernels, (size_t)conv->shape.out_channels, count, job->k, conv->packed, rows, 0,
            job->call.output + first, pixels, conv->bias, job->call.residual ? job->call.residual + first : NULL, conv->activation,
            conv->slope, scratch);
}

size_t kp_gemm_conv_workspace_size(const kp_conv *conv, int height, int width, int threads) {
    int out_height, out_width;
    kp_conv_output_size(&conv->shape, height, width, &out_height, &out_width);
    const size_t k = kp_gemm_k(&conv->shape);
    const size_t length = kp_phase_length(conv, width);
    const int packed = kp_packs_bands(conv, out_width);
    const size_t band_rows = kp_band_rows(conv, length, out_height, out_width, packed);
    size_t floats = (size_t)threads * kp_gemm_thread_floats(conv, k, length, band_rows, out_width, packed);
    if (conv->algorithm == KP_ALGORITHM_INDIRECT_GEMM) { // the column offsets
        floats += kp_align_floats(kp_round_up((size_t)conv->shape.kernel_w * sizeof(size_t), sizeof(float)) /
                                  sizeof(float));
    }
    return floats * sizeof(float);
}

void kp_gemm_conv_run(const kp_conv *conv, const float *input, int height, int width, const float *residual,
                      float *output, void *workspace, kp_threadpool *pool) {
    const int threads = kp_threadpool_threads(pool);
    kp_gemm_job job = {
        .call = {.conv = conv, .input = input, .residual = residual, .output = output, .height = height, .width = width},
        .workspace = workspace};
    kp_conv_output_size(&conv->shape, height, width, &job.call.out_height, &job.call.out_width);
    const size_t pixels = (size_t)job.call.out_height * (size_t)job.call.out_width;
    if (pixels == 0) return;
    job.k = kp_gemm_k(&conv->shape);
    job.phase_length = kp_phase_length(conv, width);
    job.phase_reach = (size_t)((conv->shape.kernel_w - 1) * conv->shape.dilation_w / conv->shape.stride_w) +
                      (size_t)job.call.out_width;
    job.packed = kp_packs_bands(conv, job.call.out_width);
    job.band_rows = kp_band_rows(conv, job.phase_length, job.call.out_height, job.call.out_width, job.packed);
    job.bands = ((size_t)job.call.out_height + job.band_rows - 1) / job.band_rows;
    job.thread_floats =
        kp_gemm_thread_floats(conv, job.k, job.phase_length, job.band_rows, job.call.out_width, job.packed);
    if (conv->algorithm == KP_ALGORITHM_GEMM_1X1) {
        job.block_columns = kp_gemm_block_columns(conv, job.k, pixels);
        kp_parallel_for(pool, (pixels + job.block_columns - 1) / job.block_columns, kp_gemm_1x1_item, &job);
        return;
    }
    // Tap kx reads phase (kx * dw) % sw from column (kx * dw) / sw on.
    job.column_offsets = (size_t *)((float *)workspace + (size_t)threads * job.thread_floats);
    const size_t sw = (size_t)conv->shape.stride_w;
    for (int kx = 0; kx < conv->shape.kernel_w; kx++) {
        const size_t offset = (size_t)kx * (size_t)conv->shape.dilation_w;
        job.column_offsets[kx] = (offset % sw) * job.phase_length + offset / sw;
    }
    kp_parallel_for(pool, (size_t)conv->shape.groups * job.bands, kp_indirect_item, &job);
}

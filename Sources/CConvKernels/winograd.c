// Winograd convolution F(4x4, 3x3) and F(6x6, 3x3): the driver (input transform, position-wise
// GEMMs, output transform); the matrices and weight preparation live in winograd_weights.c, the
// per-ISA transforms in kernels_<isa>.c.

#include "kp_conv_internal.h"

#include <stddef.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Winograd F(m x m, 3x3), m = 4 or 6 (`tile`), on input windows of n = m + 2 (`window`).
//
// A call covers a batch of images stored one after the other (NCHW). Output tiles are numbered
// t = ty * tiles_w + tx over the tile rows ty of every image in turn (image ty / tiles_h, its row
// ty % tiles_h), so a batch of small maps fills the GEMMs as one large map would, without a tile
// straddling two images. A block of consecutive tiles goes through
//   1. the input transform: V[p][c][t] for the n*n positions p of every input channel c,
//   2. n*n GEMMs: M[p] (out x tiles) = U[p] (out x in) * V[p] (in x tiles),
//   3. the output transform: Y = AT M A per tile and channel, plus bias, residual, activation.
// The transforms run along tiles (one lane per tile), over the whole block at once.
//
// On small maps a block holds fewer tiles than the microkernel has columns, and the GEMMs of
// step 2 would compute mostly padding (a 12x12 map is 9 tiles: 9 of AVX-512's 16 narrow columns).
// There the algorithm KP_ALGORITHM_WINOGRAD_F4_SMALL turns them over: M[p]^T (tiles x out) =
// V[p]^T (tiles x in) * U[p]^T (in x out), the tiles the microkernel's rows (a kernel of fewer
// rows where the ISA has one) and the output channels its columns; V[p]^T is repacked as the
// microkernel's A panels, U[p]^T prepared so at creation, and the output transform runs along
// output channels, one tile at a time.

typedef struct {
    kp_conv_call call;
    int tiles_w, tiles_h;          // per image
    size_t tiles, block_tiles, blocks;
    size_t stride;                 // lanes per (position, channel) row of V and M: block_tiles, padded
    size_t positions;              // window * window
    size_t group;                  // channels transformed together when a block is full (see below)
    float *shared;                 // V and M of the block in phase-parallel mode
    float *workspace;              // per-thread scratch (and per-thread V, M in block-parallel mode)
    size_t thread_floats;
    size_t block;                  // the block being processed in phase-parallel mode
} kp_winograd_job;

static size_t kp_winograd_vm_floats(const kp_conv *conv, size_t stride) {
    const size_t positions = (size_t)(conv->window * conv->window);
    return positions * ((size_t)conv->shape.in_channels + (size_t)conv->shape.out_channels) * stride;
}

// Per-thread scratch, used by one phase at a time: for the transforms, 2 * positions rows of
// `stride` lanes (the gathered windows and the half-transformed ones; the output transform's sums
// and tiles fit there too) and a block's input rows of one channel with their zero margins
// (kp_winograd_margin_floats); for the GEMMs, the edge block and the row pointers.
// With the tiles as rows, the GEMMs also need the block's V[p]^T repacked (stride rows of in
// channels, in A panels) and the output transform a tile's sums and values (10 x 4 rows of
// out_channels lanes).
// A block's input rows with their zero margins: each row covers the windows of a whole tile row
// (tile * tiles_w + 2 columns from -pad), and a block of `stride` tiles or fewer spans at most
// stride / tiles_w + 2 tile rows, which read tile rows * tile + 2 input rows and two more at each
// change of image (kp_winograd_input_channels).
static size_t kp_winograd_margin_row(const kp_conv *conv, int tiles_w) {
    return kp_align_floats((size_t)conv->tile * (size_t)tiles_w + 2);
}

static size_t kp_winograd_margin_floats(const kp_conv *conv, size_t stride, int tiles_w) {
    const size_t tile_rows = stride / (size_t)(tiles_w > 0 ? tiles_w : 1) + 2;
    return kp_winograd_margin_row(conv, tiles_w) * (tile_rows * (size_t)conv->window);
}

static size_t kp_winograd_scratch_floats(const kp_conv *conv, size_t stride, size_t group, int tiles_w) {
    const size_t positions = (size_t)(conv->window * conv->window);
    const size_t cin = (size_t)conv->shape.in_channels, cout = (size_t)conv->shape.out_channels;
    size_t gemm = kp_gemm_thread_scratch_floats(conv->kernels, cin);
    size_t transforms = 2 * positions * group * stride + kp_winograd_margin_floats(conv, stride, tiles_w);
    if (conv->tiles_as_rows) {
        gemm += kp_align_floats(kp_round_up(stride, (size_t)conv->kernels->mr) * cin);
        if (transforms < kp_align_floats(10 * 4 * cout)) transforms = kp_align_floats(10 * 4 * cout);
    }
    return transforms > gemm ? transforms : gemm;
}

// Runs the statement after it for each tile-row segment (ty, tx0 ... tx0 + run - 1) of tiles
// [first, first + count), lane0 being the segment's first lane.
#define KP_FOR_EACH_TILE_ROW(job, first, count, ty, tx0, run, lane0)                                        \
    for (size_t kp_t = (first), ty, tx0, run, lane0; kp_t < (first) + (count); kp_t += run)                \
        if ((ty = kp_t / (size_t)(job)->tiles_w, tx0 = kp_t % (size_t)(job)->tiles_w,                      \
             run = (size_t)(job)->tiles_w - tx0 < (first) + (count) - kp_t ? (size_t)(job)->tiles_w - tx0    \
                                                                         : (first) + (count) - kp_t,       \
             lane0 = kp_t - (first), 1))

// One pass of the input transform (BT) over n lanes: rows d[0 .. window) into r[0 .. window).
static void kp_winograd_input_pass(const kp_conv *conv, const float *const *d, float *const *r, size_t n) {
    if (conv->tile == 6) {
        conv->kernels->winograd6_input(d, r, n);
    } else {
        conv->kernels->winograd_input(d, r, n);
    }
}

// One pass of the output transform (AT): rows m[0 .. window) into o[0 .. tile).
static void kp_winograd_output_pass(const kp_conv *conv, const float *const *m, float *const *o, size_t n) {
    if (conv->tile == 6) {
        conv->kernels->winograd6_output(m, o, n);
    } else {
        conv->kernels->winograd_output(m, o, n);
    }
}

// A block's rows of a channel are runs in planes far apart, which the hardware prefetcher does not
// follow from one plane to the next: the gather asks for a channel this far ahead itself.
enum { KP_WINOGRAD_PREFETCH_CHANNELS = 2 };

// Prefetches rows y0 ... y1 - 1 (clipped to the image) of an input plane.
static void kp_winograd_prefetch_rows(const kp_winograd_job *job, const float *plane, int y0, int y1) {
    const size_t width = (size_t)job->call.width;
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < job->call.height; y++) {
        const float *row = plane + (size_t)y * width;
        for (size_t x = 0; x < width; x += 16) __builtin_prefetch(row + x);
        __builtin_prefetch(row + width - 1);
    }
}

// The row of a block's margin buffer that holds input row y (-pad ... height + pad - 1) of
// `image`, for a block whose first tile row (over the batch) is first_row: the tile rows of one
// image start `tile` rows apart and share the n - tile rows between them; each change of image
// adds n - tile rows, since the next image's top padding is its own. Affine in y: callers take it
// once per image or tile row and add the rows.
static ptrdiff_t kp_winograd_margin_slot(const kp_winograd_job *job, size_t first_row, size_t image, int y) {
    const kp_conv *conv = job->call.conv;
    const size_t tiles_h = (size_t)job->tiles_h, first_image = first_row / tiles_h;
    return ((ptrdiff_t)(image * tiles_h) - (ptrdiff_t)first_row) * conv->tile +
           (ptrdiff_t)(image - first_image) * (conv->window - conv->tile) + conv->shape.pad_h + y;
}

// Tiles [first, first + count) of input channels c0 ... c0 + channels - 1 into v[p][c][lane]
// (lane 0 = tile `first`):
//   d[u][v] = x(m ty + u - pad, m tx + v - pad)   the n x n window of each tile, one lane per tile
//   r[i][v] = sum_u BT[i][u] d[u][v]              down the columns
//   V[n i + k] = sum_v BT[k][v] r[i][v]           along the rows
// The input rows the block reads are copied once with their zero margins (rows outside the
// image all zeros), so that every tile row's window rows are runs in place, a row shared by the
// tile rows above and below it in the same image copied once (kp_winograd_margin_slot). The
// windows are gathered a row at a time. For m = 4, window columns 0-3 of the tiles are the row's
// column phases x(4 tx + j), split out by the ISA's deinterleave, and columns 4 and 5 are phases
// 0 and 1 one tile on: columns 0 and 1 shifted by a lane, and the row's next two values.
// The two passes then run on all tiles of the block at once, so they fill whole vectors; when
// the block is full (count = stride) the rows of several channels lie end to end, in V as in the
// scratch, and one pass covers them all, which keeps the vectors full on small images too.
static void kp_winograd_input_channels(const kp_winograd_job *job, size_t c0, size_t channels, size_t first,
                                       size_t count, float *v, float *scratch) {
    const kp_conv *conv = job->call.conv;
    const int tile = conv->tile, n = conv->window;
    const int pad_h = conv->shape.pad_h, pad_w = conv->shape.pad_w;
    const size_t stride = job->stride, in_channels = (size_t)conv->shape.in_channels;
    const size_t pitch = channels * stride; // floats per scratch row
    const size_t lanes = (channels - 1) * stride + count;
    float *window = scratch;                                           // [u * n + v][channel][lane]
    float *half = scratch + job->positions * pitch;                    // [i * n + v][channel][lane]
    const int width = job->call.width, height = job->call.height;
    const size_t row_floats = kp_winograd_margin_row(conv, job->tiles_w);
    float *margins = scratch + 2 * job->positions * job->group * stride; // [slot][row_floats]
    const size_t tiles_h = (size_t)job->tiles_h, image_floats = (size_t)height * (size_t)width;
    const size_t first_row = first / (size_t)job->tiles_w, last_row = (first + count - 1) / (size_t)job->tiles_w;
    for (size_t g = 0; g < channels; g++) {
        for (size_t image = first_row / tiles_h; image <= last_row / tiles_h; image++) {
            const float *plane = job->call.input + (image * in_channels + c0 + g) * image_floats;
            const size_t top = image * tiles_h; // the image's first tile row
            const size_t row0 = (first_row > top ? first_row : top) - top;
            const size_t row1 = (last_row < top + tiles_h - 1 ? last_row : top + tiles_h - 1) - top;
            const int y0 = (int)row0 * tile - pad_h, y1 = (int)row1 * tile + n - pad_h;
            if (c0 + g + KP_WINOGRAD_PREFETCH_CHANNELS < in_channels) {
                kp_winograd_prefetch_rows(job, plane + KP_WINOGRAD_PREFETCH_CHANNELS * image_floats, y0, y1);
            }
            const ptrdiff_t slot0 = kp_winograd_margin_slot(job, first_row, image, 0); // row y at slot0 + y
            for (int y = y0; y < y1; y++) {
                float *target = margins + (size_t)(slot0 + y) * row_floats;
                if (y < 0 || y >= height) {
                    memset(target, 0, row_floats * sizeof(float));
                    continue;
                }
                memset(target, 0, (size_t)pad_w * sizeof(float));
                memcpy(target + pad_w, plane + (size_t)y * (size_t)width, (size_t)width * sizeof(float));
                memset(target + pad_w + width, 0, (row_floats - (size_t)pad_w - (size_t)width) * sizeof(float));
            }
        }
        KP_FOR_EACH_TILE_ROW(job, first, count, ty, tx0, run, lane0) {
            const int window_y = (int)(ty % tiles_h) * tile - pad_h; // the tile row's first window row
            const ptrdiff_t top = kp_winograd_margin_slot(job, first_row, ty / tiles_h, window_y);
            for (int u = 0; u < n; u++) {
                float *rows = window + (size_t)(u * n) * pitch + g * stride + lane0;
                const float *segment = margins + (size_t)(top + u) * row_floats + tx0 * (size_t)tile;
                if (tile == 4 && run >= 4) {
                    float *const columns[4] = {rows, rows + pitch, rows + 2 * pitch, rows + 3 * pitch};
                    conv->kernels->deinterleave4(segment, run, columns); // columns 0-3: phases 0-3
                    memcpy(rows + 4 * pitch, rows + 1, (run - 1) * sizeof(float));
                    memcpy(rows + 5 * pitch, rows + pitch + 1, (run - 1) * sizeof(float));
                    rows[4 * pitch + run - 1] = segment[4 * run];
                    rows[5 * pitch + run - 1] = segment[4 * run + 1];
                } else if (tile == 6) {
                    float *const columns[8] = {rows, rows + pitch, rows + 2 * pitch, rows + 3 * pitch,
                                               rows + 4 * pitch, rows + 5 * pitch, rows + 6 * pitch, rows + 7 * pitch};
                    conv->kernels->gather6(segment, run, columns);
                } else {
                    for (size_t j = 0; j < run; j++) {
                        for (int vv = 0; vv < n; vv++) rows[(size_t)vv * pitch + j] = segment[(size_t)tile * j + (size_t)vv];
                    }
                }
            }
        }
    }
    for (int vv = 0; vv < n; vv++) {
        const float *d[8];
        float *r[8];
        for (int u = 0; u < n; u++) {
            d[u] = window + (size_t)(u * n + vv) * pitch;
            r[u] = half + (size_t)(u * n + vv) * pitch;
        }
        kp_winograd_input_pass(conv, d, r, lanes);
    }
    for (int i = 0; i < n; i++) {
        const float *d[8];
        float *r[8];
        for (int vv = 0; vv < n; vv++) d[vv] = half + (size_t)(i * n + vv) * pitch;
        for (int k = 0; k < n; k++) r[k] = v + ((size_t)(i * n + k) * in_channels + c0) * stride;
        kp_winograd_input_pass(conv, d, r, lanes);
    }
}

// Tiles [first, first + count) of output channels o0 ... o0 + channels - 1 from m[p][o][lane]
// into the output image (channels side by side as in the input transform):
//   s[a][k] = sum_i AT[a][i] M[n i + k]     down the columns
//   y[a][b] = sum_k AT[b][k] s[a][k]        along the rows
// then the output stage, act(y + bias + residual), written where the tile lies inside the image.
static void kp_winograd_output_channels(const kp_winograd_job *job, size_t o0, size_t channels, size_t first,
                                        size_t count, const float *m, float *scratch) {
    const kp_conv *conv = job->call.conv;
    const int tile = conv->tile, n = conv->window;
    const size_t stride = job->stride, out_channels = (size_t)conv->shape.out_channels;
    const size_t pitch = channels * stride;
    const size_t lanes = (channels - 1) * stride + count;
    const size_t plane = (size_t)job->call.out_height * (size_t)job->call.out_width;
    float *sums = scratch;                                  // [a * n + k][channel][lane]
    float *values = scratch + (size_t)(tile * n) * pitch;   // [a * tile + b][channel][lane]
    float *row_buffer = scratch + 2 * job->positions * job->group * stride;
    for (int k = 0; k < n; k++) {
        const float *d[8];
        float *r[6];
        for (int i = 0; i < n; i++) d[i] = m + ((size_t)(i * n + k) * out_channels + o0) * stride;
        for (int a = 0; a < tile; a++) r[a] = sums + (size_t)(a * n + k) * pitch;
        kp_winograd_output_pass(conv, d, r, lanes);
    }
    for (int a = 0; a < tile; a++) {
        const float *d[8];
        float *r[6];
        for (int k = 0; k < n; k++) d[k] = sums + (size_t)(a * n + k) * pitch;
        for (int b = 0; b < tile; b++) r[b] = values + (size_t)(a * tile + b) * pitch;
        kp_winograd_output_pass(conv, d, r, lanes);
    }
    for (size_t g = 0; g < channels; g++) {
        const size_t o = o0 + g;
        const float bias = conv->bias[o];
        KP_FOR_EACH_TILE_ROW(job, first, count, row, tx0, run, lane0) {
            const size_t image = row / (size_t)job->tiles_h, ty = row % (size_t)job->tiles_h;
            const size_t offset = (image * out_channels + o) * plane;
            float *output = job->call.output + offset;
            const float *residual = job->call.residual ? job->call.residual + offset : NULL;
            const size_t x0 = tx0 * (size_t)tile;
            const size_t full = (size_t)tile * run;
            const size_t width = full <= (size_t)job->call.out_width - x0 ? full : (size_t)job->call.out_width - x0;
            for (int a = 0; a < tile; a++) {
                const size_t y = ty * (size_t)tile + (size_t)a;
                if (y >= (size_t)job->call.out_height) break;
                const float *tile_row = values + (size_t)(a * tile) * pitch + g * stride + lane0;
                float *target = output + y * (size_t)job->call.out_width + x0;
                // F(4x4) interleaves straight into the image when the whole segment fits; F(6x6)'s
                // scatter writes two spare values past the segment, so it always goes via a buffer.
                float *interleaved = width == full && tile == 4 ? target : row_buffer;
                if (tile == 4) {
                    const float *const columns[4] = {tile_row, tile_row + pitch, tile_row + 2 * pitch,
                                                     tile_row + 3 * pitch};
                    conv->kernels->interleave4(columns, run, interleaved);
                } else {
                    const float *const columns[6] = {tile_row, tile_row + pitch, tile_row + 2 * pitch,
                                                     tile_row + 3 * pitch, tile_row + 4 * pitch, tile_row + 5 * pitch};
                    conv->kernels->scatter6(columns, run, interleaved);
                }
                if (interleaved != target) memcpy(target, interleaved, width * sizeof(float));
                kp_output_stage_row(target, width, bias,
                                    residual ? residual + y * (size_t)job->call.out_width + x0 : NULL, conv->activation,
                                    conv->slope);
            }
        }
    }
}

// With the tiles as rows: tiles [first, first + count) of output channels [o0, o1) from
// m[p][tile][o], the same two passes along output channels one tile at a time, then
// act(y + bias + residual) written where the tile lies inside the image.
static void kp_winograd_output_tiles(const kp_winograd_job *job, size_t o0, size_t o1, size_t first, size_t count,
                                     const float *m, float *scratch) {
    const kp_conv *conv = job->call.conv;
    const int n = conv->window;
    const size_t cout = (size_t)conv->shape.out_channels, lanes = o1 - o0;
    const size_t plane = (size_t)job->call.out_height * (size_t)job->call.out_width;
    float *sums = scratch;               // [a * n + k][o]
    float *values = scratch + 4 * 6 * cout; // [a * 4 + b][o]
    for (size_t t = 0; t < count; t++) {
        for (int k = 0; k < n; k++) {
            const float *d[8];
            float *r[6];
            for (int i = 0; i < n; i++) d[i] = m + ((size_t)(i * n + k) * job->stride + t) * cout + o0;
            for (int a = 0; a < 4; a++) r[a] = sums + (size_t)(a * n + k) * cout;
            kp_winograd_output_pass(conv, d, r, lanes);
        }
        for (int a = 0; a < 4; a++) {
            const float *d[8];
            float *r[6];
            for (int k = 0; k < n; k++) d[k] = sums + (size_t)(a * n + k) * cout;
            for (int b = 0; b < 4; b++) r[b] = values + (size_t)(a * 4 + b) * cout;
            kp_winograd_output_pass(conv, d, r, lanes);
        }
        const size_t row = (first + t) / (size_t)job->tiles_w, tx = (first + t) % (size_t)job->tiles_w;
        const size_t image = row / (size_t)job->tiles_h, ty = row % (size_t)job->tiles_h;
        float *output = job->call.output + image * cout * plane;
        const float *residual = job->call.residual ? job->call.residual + image * cout * plane : NULL;
        for (size_t a = 0; a < 4 && ty * 4 + a < (size_t)job->call.out_height; a++) {
            for (size_t b = 0; b < 4 && tx * 4 + b < (size_t)job->call.out_width; b++) {
                const size_t pixel = (ty * 4 + a) * (size_t)job->call.out_width + tx * 4 + b;
                const float *value = values + (a * 4 + b) * cout;
                for (size_t j = 0; j < lanes; j++) {
                    const size_t o = o0 + j;
                    float y = value[j] + conv->bias[o];
                    if (residual != NULL) y += residual[o * plane + pixel];
                    output[o * plane + pixel] = kp_activate(y, conv->activation, conv->slope);
                }
            }
        }
    }
}

// Channels per transform call for a block of `count` tiles: side by side only when the block is
// full, so no lane between them is left unwritten.
static size_t kp_winograd_channels(const kp_winograd_job *job, size_t count, size_t c, size_t total) {
    const size_t group = count == job->stride ? job->group : 1;
    return total - c < group ? total - c : group;
}

static void kp_winograd_block_range(const kp_winograd_job *job, size_t block, size_t *first, size_t *count) {
    *first = block * job->block_tiles;
    *count = job->tiles - *first < job->block_tiles ? job->tiles - *first : job->block_tiles;
}

// M[p] = U[p] V[p] for the block's `count` tiles; with the tiles as rows, M[p]^T = V[p]^T U[p]^T
// into m + p * stride * out_channels, a row of out_channels per tile.
static void kp_winograd_gemm_position(const kp_winograd_job *job, size_t p, size_t count, const float *v, float *m,
                                      float *scratch) {
    const kp_conv *conv = job->call.conv;
    const size_t cin = (size_t)conv->shape.in_channels, cout = (size_t)conv->shape.out_channels;
    if (conv->tiles_as_rows) {
        const size_t mr = (size_t)conv->kernels->mr, panels = (count + mr - 1) / mr;
        float *a = scratch; // V[p]^T in A panels: a[(panel * cin + c) * mr + r] = V[p][c][panel * mr + r]
        float *gemm_scratch = scratch + kp_align_floats(kp_round_up(job->stride, mr) * cin);
        for (size_t panel = 0; panel < panels; panel++) {
            const size_t rows = count - panel * mr < mr ? count - panel * mr : mr;
            for (size_t c = 0; c < cin; c++) {
                float *out = a + (panel * cin + c) * mr;
                memcpy(out, v + (p * cin + c) * job->stride + panel * mr, rows * sizeof(float));
                memset(out + rows, 0, (mr - rows) * sizeof(float));
            }
        }
        const size_t nr = (size_t)conv->kernels->nr;
        // U[p]^T a column block at a time, each one run: block o's rows lie o * cin floats past
        // block 0's, so one set of pointers serves every block.
        const float **rows = kp_gemm_rows(gemm_scratch, conv->kernels, cin);
        for (size_t c = 0; c < cin; c++) rows[c] = conv->packed + p * conv->packed_stride + c * nr;
        for (size_t o = 0; o < cout; o += nr) {
            kp_gemm(conv->kernels, count, cout - o < nr ? cout - o : nr, cin, a, rows, o * cin,
                    m + p * job->stride * cout + o, cout, NULL, NULL, KP_ACTIVATION_NONE, 0, gemm_scratch);
        }
        return;
    }
    const float **rows = kp_gemm_rows(scratch, conv->kernels, cin);
    for (size_t c = 0; c < cin; c++) rows[c] = v + (p * cin + c) * job->stride;
    kp_gemm(conv->kernels, cout, count, cin, conv->packed + p * conv->packed_stride, rows, 0,
            m + p * cout * job->stride, job->stride, NULL, NULL, KP_ACTIVATION_NONE, 0, scratch);
}

// Block-parallel mode: one work item is one whole block, in the thread's own V and M.
static void kp_winograd_block_item(void *context, size_t block, int thread) {
    const kp_winograd_job *job = context;
    const kp_conv *conv = job->call.conv;
    float *own = job->workspace + (size_t)thread * job->thread_floats;
    float *scratch = own;
    float *v = own + kp_winograd_scratch_floats(conv, job->stride, job->group, job->tiles_w);
    float *m = v + job->positions * (size_t)conv->shape.in_channels * job->stride;
    size_t first, count;
    kp_winograd_block_range(job, block, &first, &count);
    const size_t cin = (size_t)conv->shape.in_channels, cout = (size_t)conv->shape.out_channels;
    for (size_t c = 0, step; c < cin; c += step) {
        step = kp_winograd_channels(job, count, c, cin);
        kp_winograd_input_channels(job, c, step, first, count, v, scratch);
    }
    for (size_t p = 0; p < job->positions; p++) kp_winograd_gemm_position(job, p, count, v, m, scratch);
    if (conv->tiles_as_rows) {
        kp_winograd_output_tiles(job, 0, cout, first, count, m, scratch);
        return;
    }
    for (size_t o = 0, step; o < cout; o += step) {
        step = kp_winograd_channels(job, count, o, cout);
        kp_winograd_output_channels(job, o, step, first, count, m, scratch);
    }
}

// Phase-parallel mode, for few blocks: the phases of one block split over channels and positions.
// Items are groups of job->group channels (a full block) or single channels.
static size_t kp_winograd_channel_items(const kp_winograd_job *job, size_t count, size_t channels) {
    const size_t group = count == job->stride ? job->group : 1;
    return (channels + group - 1) / group;
}

static void kp_winograd_input_item(void *context, size_t item, int thread) {
    const kp_winograd_job *job = context;
    size_t first, count;
    kp_winograd_block_range(job, job->block, &first, &count);
    const size_t group = count == job->stride ? job->group : 1, c = item * group;
    kp_winograd_input_channels(job, c, kp_winograd_channels(job, count, c, (size_t)job->call.conv->shape.in_channels),
                               first, count, job->shared, job->workspace + (size_t)thread * job->thread_floats);
}

static void kp_winograd_gemm_item(void *context, size_t p, int thread) {
    const kp_winograd_job *job = context;
    size_t first, count;
    kp_winograd_block_range(job, job->block, &first, &count);
    float *m = job->shared + job->positions * (size_t)job->call.conv->shape.in_channels * job->stride;
    kp_winograd_gemm_position(job, p, count, job->shared, m, job->workspace + (size_t)thread * job->thread_floats);
}

// With the tiles as rows, the output transform's items are runs of this many output channels.
enum { KP_WINOGRAD_ROWS_OUTPUT_CHANNELS = 32 };

static size_t kp_winograd_output_items(const kp_winograd_job *job, size_t count) {
    const size_t cout = (size_t)job->call.conv->shape.out_channels;
    if (job->call.conv->tiles_as_rows) return (cout + KP_WINOGRAD_ROWS_OUTPUT_CHANNELS - 1) / KP_WINOGRAD_ROWS_OUTPUT_CHANNELS;
    return kp_winograd_channel_items(job, count, cout);
}

static void kp_winograd_output_item(void *context, size_t item, int thread) {
    const kp_winograd_job *job = context;
    size_t first, count;
    kp_winograd_block_range(job, job->block, &first, &count);
    if (job->call.conv->tiles_as_rows) {
        const size_t cout = (size_t)job->call.conv->shape.out_channels, o0 = item * KP_WINOGRAD_ROWS_OUTPUT_CHANNELS;
        const size_t o1 = o0 + KP_WINOGRAD_ROWS_OUTPUT_CHANNELS < cout ? o0 + KP_WINOGRAD_ROWS_OUTPUT_CHANNELS : cout;
        const float *m = job->shared + job->positions * (size_t)job->call.conv->shape.in_channels * job->stride;
        kp_winograd_output_tiles(job, o0, o1, first, count, m, job->workspace + (size_t)thread * job->thread_floats);
        return;
    }
    const size_t group = count == job->stride ? job->group : 1, o = item * group;
    const float *m = job->shared + job->positions * (size_t)job->call.conv->shape.in_channels * job->stride;
    kp_winograd_output_channels(job, o, kp_winograd_channels(job, count, o, (size_t)job->call.conv->shape.out_channels),
                                first, count, m, job->workspace + (size_t)thread * job->thread_floats);
}

// Tiles per block: V and M of a block (positions x (in + out) x tiles floats) within about 1 MiB,
// the L2 of one core here, in whole microkernel columns (rows, with the tiles as rows). A map
// of fewer tiles is one block rounded up only to the narrow kernel's columns where the ISA has
// one: 16 tiles (a 16x16 map) then fill their block, and the transforms run on several channels
// side by side (kp_winograd_channels) instead of 16 lanes at a time.
static size_t kp_winograd_block_tiles(const kp_conv *conv, size_t tiles) {
    const size_t nr = (size_t)(conv->tiles_as_rows ? conv->kernels->mr : conv->kernels->nr);
    const size_t per_tile = (size_t)(conv->window * conv->window) *
                            ((size_t)conv->shape.in_channels + (size_t)conv->shape.out_channels) * sizeof(float);
    size_t block = (1024 * 1024 / per_tile) / nr * nr;
    if (block < nr) block = nr;
    if (tiles == 0) return nr;
    const size_t whole = conv->tiles_as_rows || conv->kernels->gemm_narrow == NULL ? nr : nr / 2;
    return block < tiles ? block : kp_round_up(tiles, whole);
}

static void kp_winograd_plan(const kp_conv *conv, int batch, int height, int width, kp_winograd_job *job) {
    kp_conv_output_size(&conv->shape, height, width, &job->call.out_height, &job->call.out_width);
    job->tiles_w = (job->call.out_width + conv->tile - 1) / conv->tile;
    job->tiles_h = (job->call.out_height + conv->tile - 1) / conv->tile;
    job->tiles = (size_t)batch * (size_t)job->tiles_w * (size_t)job->tiles_h;
    job->positions = (size_t)(conv->window * conv->window);
    job->block_tiles = kp_winograd_block_tiles(conv, job->tiles);
    job->blocks = (job->tiles + job->block_tiles - 1) / job->block_tiles;
    job->stride = kp_align_floats(job->block_tiles);
    // Transform 64 lanes or more per pass: several channels side by side when blocks are short.
    job->group = job->stride >= 64 ? 1 : 64 / job->stride;
}

// Whether whole blocks, one per work item, keep the threads busy: the tiles over the threads times
// the longest thread's load, with blocks handed out in order to whichever thread is free first
// (the pool's shares end so: the last blocks go to whoever is free), at least 0.85. Below that
// the phases of each block split instead (phase-parallel), which costs a barrier per phase and
// sends V and M between the cores' caches: a 48x48 map of 48 channels (blocks of 64, 64 and 16
// tiles, 0.9 of two threads busy) ran 1.38x faster on two threads than on one so, and a 32x32 map
// of 128 channels (two blocks of 32) 1.68x.
static int kp_winograd_blocks_balance(const kp_winograd_job *job, int threads) {
    size_t load[64] = {0};
    if (threads > 64) threads = 64;
    size_t longest = 0;
    for (size_t block = 0; block < job->blocks; block++) {
        size_t first, count, least = 0;
        kp_winograd_block_range(job, block, &first, &count);
        for (int thread = 1; thread < threads; thread++) least = load[thread] < load[least] ? (size_t)thread : least;
        load[least] += count;
        longest = load[least] > longest ? load[least] : longest;
    }
    return 100 * job->tiles >= 85 * (size_t)threads * longest;
}

size_t kp_winograd_workspace_size(const kp_conv *conv, int batch, int height, int width, int threads) {
    kp_winograd_job job = {.call = {.conv = conv}};
    kp_winograd_plan(conv, batch, height, width, &job);
    size_t per_thread = kp_winograd_scratch_floats(conv, job.stride, job.group, job.tiles_w) + kp_winograd_vm_floats(conv, job.stride);
    return ((size_t)threads * per_thread + kp_winograd_vm_floats(conv, job.stride)) * sizeof(float);
}

void kp_winograd_run(const kp_conv *conv, const float *input, int batch, int height, int width, const float *residual,
                     float *output, void *workspace, kp_threadpool *pool) {
    const int threads = kp_threadpool_threads(pool);
    kp_winograd_job job = {
        .call = {.conv = conv, .input = input, .residual = residual, .output = output, .height = height, .width = width}};
    kp_winograd_plan(conv, batch, height, width, &job);
    if (job.tiles == 0) return;
    size_t per_thread = kp_winograd_scratch_floats(conv, job.stride, job.group, job.tiles_w) + kp_winograd_vm_floats(conv, job.stride);
    job.workspace = workspace;
    job.thread_floats = per_thread;
    job.shared = (float *)workspace + (size_t)threads * per_thread;
    if (threads == 1 || kp_winograd_blocks_balance(&job, threads)) {
        kp_parallel_for(pool, job.blocks, kp_winograd_block_item, &job);
        return;
    }
    for (job.block = 0; job.block < job.blocks; job.block++) {
        size_t first, count;
        kp_winograd_block_range(&job, job.block, &first, &count);
        kp_parallel_for(pool, kp_winograd_channel_items(&job, count, (size_t)conv->shape.in_channels),
                        kp_winograd_input_item, &job);
        kp_parallel_for(pool, job.positions, kp_winograd_gemm_item, &job);
        kp_parallel_for(pool, kp_winograd_output_items(&job, count), kp_winograd_output_item, &job);
    }
}

// ---------------------------------------------------------------------------------------------
// Single tiles through the same transform kernels, for the tests: columns first, then rows,
// exactly as the convolution applies them (with one lane).

// `lines` transforms of one tile, one lane each: line l reads element u at
// src[u * src_along + l * src_across] and writes element u at dst[u * dst_along + l * dst_across].
static void kp_winograd_tile_lines(const kp_conv *conv, int output, int lines, const float *src, int src_along,
                                   int src_across, float *dst, int dst_along, int dst_across) {
    const int n = conv->window, written = output ? conv->tile : n;
    for (int l = 0; l < lines; l++) {
        const float *in[8];
        float *out[8];
        for (int u = 0; u < n; u++) in[u] = src + u * src_along + l * src_across;
        for (int u = 0; u < written; u++) out[u] = dst + u * dst_along + l * dst_across;
        if (output) {
            kp_winograd_output_pass(conv, in, out, 1);
        } else {
            kp_winograd_input_pass(conv, in, out, 1);
        }
    }
}

// One tile through both passes: columns (n lines of the window), then rows (as many as the result
// has: n for the input transform, tile for the output transform).
static void kp_winograd_tile(kp_isa isa, int tile, int output, const float *src, float *dst) {
    kp_conv conv = {.kernels = kp_kernels_for(isa), .tile = tile, .window = tile + 2};
    const int n = tile + 2, side = output ? tile : n;
    float middle[64];
    kp_winograd_tile_lines(&conv, output, n, src, n, 1, middle, n, 1);
    kp_winograd_tile_lines(&conv, output, side, middle, 1, n, dst, 1, side);
}

void kp_winograd_input_tile(kp_isa isa, int tile, const float *d, float *v) { kp_winograd_tile(isa, tile, 0, d, v); }

void kp_winograd_output_tile(kp_isa isa, int tile, const float *m, float *y) { kp_winograd_tile(isa, tile, 1, m, y); }

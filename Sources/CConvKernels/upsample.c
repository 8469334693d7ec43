// Bilinear upsampling for the network engine, threaded over channels.
//
// The caller gives each output column its two source columns and the weight of the second
// (first_x, second_x, wx), and likewise each output row (first_y, second_y, wy). A channel's
// input rows are interpolated along x once each,
//   r[i](x) = in(i, first_x) + (in(i, second_x) - in(i, first_x)) * wx,
// into the thread's scratch, then pairs of them along y,
//   out(y, x) = r[first_y](x) + (r[second_y](x) - r[first_y](x)) * wy,
// the same arithmetic, in the same order, as interpolating the two rows for every output row, but
// with the gathers done once per input row. No contraction into fused multiply-adds, so the
// results equal the plain formula's in float exactly.
//
// Doubling (the network's upsampling) has regular column taps: outputs 2j - 1 and 2j both lie
// between inputs j - 1 and j, at weights w1 and w2 (a quarter and three quarters with half-pixel
// centres). Those columns then take the difference of the pair once, in a loop without gathers
// that vectorises; the edge columns keep their taps. Same formula, same values.

#include "kp_conv_internal.h"

#pragma STDC FP_CONTRACT OFF

typedef struct {
    const float *input;
    float *output;
    size_t height, width, out_height, out_width;
    const kp_upsample_taps *columns, *rows;
    float *scratch;
    int doubling; // columns 1 ... out_width - 2 follow the doubling pattern (see above)
} kp_upsample_job;

static int kp_upsample_doubles(const kp_upsample_taps *columns, size_t width, size_t out_width) {
    if (width < 2 || out_width != 2 * width) return 0;
    for (size_t x = 1; x + 1 < out_width; x++) {
        const size_t j = (x + 1) / 2;
        if ((size_t)columns->first[x] != j - 1 || (size_t)columns->second[x] != j ||
            columns->weight[x] != columns->weight[2 - x % 2]) {
            return 0;
        }
    }
    return 1;
}

static void kp_upsample_channel(void *context, size_t c, int thread) {
    const kp_upsample_job *job = context;
    const kp_upsample_taps *columns = job->columns;
    const float *plane = job->input + c * job->height * job->width;
    float *rows = job->scratch + (size_t)thread * job->height * job->out_width;
    for (size_t i = 0; i < job->height; i++) {
        const float *line = plane + i * job->width;
        float *row = rows + i * job->out_width;
        size_t x = 0;
        if (job->doubling) {
            const float w1 = columns->weight[1], w2 = columns->weight[2];
            for (size_t j = 1; j < job->width; j++) {
                const float first = line[j - 1], difference = line[j] - line[j - 1];
                row[2 * j - 1] = first + difference * w1;
                row[2 * j] = first + difference * w2;
            }
            row[0] = line[columns->first[0]] + (line[columns->second[0]] - line[columns->first[0]]) * columns->weight[0];
            x = job->out_width - 1;
        }
        for (; x < job->out_width; x++) {
            const float first = line[columns->first[x]], second = line[columns->second[x]];
            row[x] = first + (second - first) * columns->weight[x];
        }
    }
    float *target = job->output + c * job->out_height * job->out_width;
    for (size_t y = 0; y < job->out_height; y++) {
        const float *upper = rows + (size_t)job->rows->first[y] * job->out_width;
        const float *lower = rows + (size_t)job->rows->second[y] * job->out_width;
        const float weight = job->rows->weight[y];
        float *line = target + y * job->out_width;
        for (size_t x = 0; x < job->out_width; x++) line[x] = upper[x] + (lower[x] - upper[x]) * weight;
    }
}

void kp_upsample_bilinear(const float *input, size_t channels, size_t height, size_t width, const kp_upsample_taps *rows,
                          size_t out_height, const kp_upsample_taps *columns, size_t out_width, float *scratch,
                          float *output, kp_threadpool *pool) {
    kp_upsample_job job = {input,   output, height,  width, out_height, out_width, columns, rows, scratch,
                           kp_upsample_doubles(columns, width, out_width)};
    kp_parallel_for(pool, channels, kp_upsample_channel, &job);
}

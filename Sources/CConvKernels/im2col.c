// im2col and its adjoint col2im for training's convolutions, threaded over input channels.
//
// For input x (channels x height x width), a k x k kernel, stride s and padding p, the output is
// ho x wo with ho = (height + 2p - k) / s + 1. Column row r = (c * k + ky) * k + kx holds, at
// output position (oy, ox), x[c][oy*s - p + ky][ox*s - p + kx], or 0 outside the image.
// col2im writes x as the sum of the column entries that copy each position (0 where none: each
// plane is cleared first, by the thread that sums it, so the caller need not). Each channel's
// rows touch only that channel's plane, so channels run in parallel without sharing writes, and
// the result does not depend on the thread count (each plane's sums happen in one fixed order).

#include "kp_conv_internal.h"

#include <string.h>

typedef struct {
    const float *source;
    float *target;
    size_t height, width, kernel, stride, padding, out_height, out_width;
} kp_unfold_job;

static void kp_im2col_channel(void *context, size_t c, int thread) {
    (void)thread;
    const kp_unfold_job *job = context;
    const float *plane = job->source + c * job->height * job->width;
    size_t positions = job->out_height * job->out_width;
    for (size_t ky = 0; ky < job->kernel; ky++) {
        for (size_t kx = 0; kx < job->kernel; kx++) {
            float *row = job->target + ((c * job->kernel + ky) * job->kernel + kx) * positions;
            for (size_t oy = 0; oy < job->out_height; oy++) {
                // Signed: y < 0 in the top padding.
                long y = (long)(oy * job->stride + ky) - (long)job->padding;
                float *out = row + oy * job->out_width;
                if (y < 0 || y >= (long)job->height) {
                    for (size_t ox = 0; ox < job->out_width; ox++) out[ox] = 0;
                    continue;
                }
                const float *line = plane + (size_t)y * job->width;
                for (size_t ox = 0; ox < job->out_width; ox++) {
                    long x = (long)(ox * job->stride + kx) - (long)job->padding;
                    out[ox] = x >= 0 && x < (long)job->width ? line[x] : 0;
                }
            }
        }
    }
}

static void kp_col2im_channel(void *context, size_t c, int thread) {
    (void)thread;
    const kp_unfold_job *job = context;
    float *plane = job->target + c * job->height * job->width;
    size_t positions = job->out_height * job->out_width;
    memset(plane, 0, job->height * job->width * sizeof(float));
    for (size_t ky = 0; ky < job->kernel; ky++) {
        for (size_t kx = 0; kx < job->kernel; kx++) {
            const float *row = job->source + ((c * job->kernel + ky) * job->kernel + kx) * positions;
            for (size_t oy = 0; oy < job->out_height; oy++) {
                long y = (long)(oy * job->stride + ky) - (long)job->padding;
                if (y < 0 || y >= (long)job->height) continue;
                float *line = plane + (size_t)y * job->width;
                const float *in = row + oy * job->out_width;
                for (size_t ox = 0; ox < job->out_width; ox++) {
                    long x = (long)(ox * job->stride + kx) - (long)job->padding;
                    if (x >= 0 && x < (long)job->width) line[x] += in[ox];
                }
            }
        }
    }
}

void kp_im2col(const float *x, size_t channels, size_t height, size_t width, size_t kernel, size_t stride,
               size_t padding, float *columns, kp_threadpool *pool) {
    kp_unfold_job job = {x, columns, height, width, kernel, stride, padding,
                         (height + 2 * padding - kernel) / stride + 1, (width + 2 * padding - kernel) / stride + 1};
    kp_parallel_for(pool, channels, kp_im2col_channel, &job);
}

void kp_col2im(const float *columns, size_t channels, size_t height, size_t width, size_t kernel, size_t stride,
               size_t padding, float *x, kp_threadpool *pool) {
    kp_unfold_job job = {columns, x, height, width, kernel, stride, padding,
                         (height + 2 * padding - kernel) / stride + 1, (width + 2 * padding - kernel) / stride + 1};
    kp_parallel_for(pool, channels, kp_col2im_channel, &job);
}

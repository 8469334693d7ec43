// The oracle the tests compare every path with: a plain direct convolution accumulating in double.

#include "kp_conv_internal.h"

void kp_conv_reference(const kp_conv_shape *s, const float *weights, const float *bias, kp_activation activation,
                       float leaky_slope, const float *input, int height, int width, const float *residual,
                       float *output) {
    int out_height, out_width;
    kp_conv_output_size(s, height, width, &out_height, &out_width);
    const int group_in = s->in_channels / s->groups, group_out = s->out_channels / s->groups;
    for (int o = 0; o < s->out_channels; o++) {
        const int group = o / group_out;
        for (int oy = 0; oy < out_height; oy++) {
            for (int ox = 0; ox < out_width; ox++) {
                double sum = bias ? bias[o] : 0;
                for (int i = 0; i < group_in; i++) {
                    const float *plane = input + (size_t)(group * group_in + i) * (size_t)height * (size_t)width;
                    for (int ky = 0; ky < s->kernel_h; ky++) {
                        const int iy = oy * s->stride_h - s->pad_h + ky * s->dilation_h;
                        if (iy < 0 || iy >= height) continue;
                        for (int kx = 0; kx < s->kernel_w; kx++) {
                            const int ix = ox * s->stride_w - s->pad_w + kx * s->dilation_w;
                            if (ix < 0 || ix >= width) continue;
                            const float w = weights[((size_t)(o * group_in + i) * (size_t)s->kernel_h + (size_t)ky) *
                                                        (size_t)s->kernel_w + (size_t)kx];
                            sum += (double)w * plane[iy * width + ix];
                        }
                    }
                }
                const size_t index = ((size_t)o * (size_t)out_height + (size_t)oy) * (size_t)out_width + (size_t)ox;
                if (residual != NULL) sum += residual[index];
                output[index] = kp_activate((float)sum, activation, leaky_slope);
            }
        }
    }
}


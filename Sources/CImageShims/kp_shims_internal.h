// What the PNG and JPEG shims share. Not part of the API.

#ifndef KP_SHIMS_INTERNAL_H
#define KP_SHIMS_INTERNAL_H

#include "kp_codecs.h"

#include <stdio.h>
#include <string.h>

// A decode's result before anything is known: all zero, full size (scale 1).
static inline void kp_decoded_begin(kp_decoded *out) {
    memset(out, 0, sizeof *out);
    out->scale_denominator = 1;
}

// Says "out of memory" in `message`; returns KP_ERROR_NO_MEMORY.
static inline int kp_out_of_memory(char message[KP_MESSAGE_CAPACITY]) {
    snprintf(message, KP_MESSAGE_CAPACITY, "out of memory");
    return KP_ERROR_NO_MEMORY;
}

#endif

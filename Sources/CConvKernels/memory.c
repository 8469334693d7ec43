// How freed memory is kept, for training. See kp_keep_freed_memory in kp_conv_training.h.

#include "kp_conv.h"

#if defined(__GLIBC__)
#include <limits.h>
#include <malloc.h>
#endif

void kp_keep_freed_memory(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_MAX, 0); // no block mapped on its own: all come from the heap
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

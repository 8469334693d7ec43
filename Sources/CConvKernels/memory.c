// How freed memory is kept, for training. See kp_keep_freed_memory in kp_conv.h.

#include "kp_conv.h"

#if defined(__GLIBC__)
#include <limits.h>
#include <malloc.h>
#endif

void kp_keep_freed_memory(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20); // glibc's largest
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

// CPU features, detected once, and the ISA dispatch: a scalar default upgraded in ISA order to the
// best the CPU supports, unless KEYPOINTS_ISA forces one.

#include "kp_conv_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

static unsigned long long kp_xgetbv(unsigned index) {
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(index));
    return ((unsigned long long)edx << 32) | eax;
}

// SSE4.1 (CPUID.1:ECX.19); AVX2 and FMA need the OS to save YMM state (XCR0 bits 1-2);
// AVX-512F needs ZMM and opmask state too (XCR0 bits 5-7).
static int kp_detect(kp_isa isa) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int sse41 = (ecx >> 19) & 1, fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (isa == KP_ISA_SSE) return sse41;
    if (!osxsave || !avx) return 0;
    unsigned long long xcr0 = kp_xgetbv(0);
    if ((xcr0 & 0x6) != 0x6) return 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int avx2 = (ebx >> 5) & 1, avx512f = (ebx >> 16) & 1;
    if (isa == KP_ISA_AVX2) return avx2 && fma;
    if (isa == KP_ISA_AVX512) return avx512f && avx2 && fma && (xcr0 & 0xE6) == 0xE6;
    return 0;
}
#endif

// The kernel table of every ISA this build and CPU can run (NULL for the others), filled once.
static const kp_isa_kernels *kp_available[KP_ISA_COUNT];
static pthread_once_t kp_detect_once = PTHREAD_ONCE_INIT;

static void kp_detect_all(void) {
    kp_available[KP_ISA_SCALAR] = &kp_kernels__scalar;
#if defined(__x86_64__) || defined(_M_X64)
    if (kp_detect(KP_ISA_SSE)) kp_available[KP_ISA_SSE] = &kp_kernels__sse;
    if (kp_detect(KP_ISA_AVX2)) kp_available[KP_ISA_AVX2] = &kp_kernels__avx2;
    if (kp_detect(KP_ISA_AVX512)) kp_available[KP_ISA_AVX512] = &kp_kernels__avx512;
#endif
#if defined(__aarch64__)
    kp_available[KP_ISA_NEON] = &kp_kernels__neon;
#endif
}

int kp_isa_available(kp_isa isa) { return kp_kernels_for(isa) != NULL; }

const kp_isa_kernels *kp_kernels_for(kp_isa isa) {
    if ((unsigned)isa >= KP_ISA_COUNT) return NULL;
    pthread_once(&kp_detect_once, kp_detect_all);
    return kp_available[isa];
}

static const char *const kp_isa_names[KP_ISA_COUNT] = {"scalar", "sse", "avx2", "avx512", "neon"};

const char *kp_isa_name(kp_isa isa) { return isa < KP_ISA_COUNT ? kp_isa_names[isa] : "unknown"; }

const char *kp_algorithm_name(kp_algorithm algorithm) {
    switch (algorithm) {
    case KP_ALGORITHM_INDIRECT_GEMM: return "indirect-gemm";
    case KP_ALGORITHM_GEMM_1X1: return "gemm-1x1";
    case KP_ALGORITHM_WINOGRAD_F4: return "winograd-f4";
    case KP_ALGORITHM_WINOGRAD_F6: return "winograd-f6";
    case KP_ALGORITHM_WINOGRAD_F4_SMALL: return "winograd-f4-small";
    default: return "auto";
    }
}

int kp_isa_default(kp_isa *isa, char message[256]) {
    const char *forced = getenv("KEYPOINTS_ISA");
    if (forced != NULL && forced[0] != 0) {
        for (int candidate = 0; candidate < KP_ISA_COUNT; candidate++) {
            if (strcmp(forced, kp_isa_names[candidate]) != 0) continue;
            if (!kp_isa_available((kp_isa)candidate)) {
                snprintf(message, 256, "KEYPOINTS_ISA=%s: this CPU or build cannot run %s", forced, forced);
                return -1;
            }
            *isa = (kp_isa)candidate;
            return 0;
        }
        snprintf(message, 256, "KEYPOINTS_ISA=%s is not one of scalar, sse, avx2, avx512, neon", forced);
        return -1;
    }
    *isa = KP_ISA_SCALAR;
    for (int candidate = KP_ISA_SSE; candidate < KP_ISA_COUNT; candidate++) {
        if (kp_isa_available((kp_isa)candidate)) *isa = (kp_isa)candidate;
    }
    return 0;
}

// How fast a core reads a buffer that a core has just written: the writer itself, or the other
// core. Where the two share a last-level cache both read at about the same speed; where they do
// not (vCPUs on different dies of one EPYC, say), the other core reads at main memory's speed,
// and a thread pool should leave data with the thread that wrote it (threadpool.c's shares).
//
// Build and run:  gcc -O3 -march=native -pthread Scripts/cross-core-read.c -o /tmp/cross-core-read
//                 /tmp/cross-core-read 4      (a 4 MiB buffer; cores 0 and 1)
// Prints the read bandwidth for the writer (core 0) and for the other core (core 1). A hypervisor
// may move vCPUs: on the 2-vCPU EPYC of session 23 ten runs a second apart gave 34.4-35.5 GB/s
// for the writer and 13.5-13.9 for the other core, one run minutes earlier 35.7 for both.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROUNDS = 200 };

static float *buffer;
static size_t floats;
static atomic_int turn; // 0: core 0 writes (and reads, when it is the reader); 1: core 1's turn
static int reader;      // the core that reads
static double read_seconds;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void pin(int core) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(core, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Sums the buffer, timed; the sum is returned so the loop is not optimised away.
static float timed_read(void) {
    const double start = now();
    float sum = 0;
    for (size_t i = 0; i < floats; i++) sum += buffer[i];
    read_seconds += now() - start;
    return sum;
}

static void *core1(void *unused) {
    (void)unused;
    pin(1);
    float sink = 0;
    for (int round = 0; round < ROUNDS; round++) {
        while (atomic_load(&turn) != 1) {}
        if (reader == 1) sink += timed_read();
        atomic_store(&turn, 0);
    }
    return (void *)(size_t)(sink == -1);
}

static double measure(int reading_core) {
    reader = reading_core;
    read_seconds = 0;
    atomic_store(&turn, 0);
    pthread_t thread;
    pthread_create(&thread, NULL, core1, NULL);
    pin(0);
    float sink = 0;
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t i = 0; i < floats; i++) buffer[i] = (float)(round + (int)(i & 1023));
        if (reader == 0) sink += timed_read();
        atomic_store(&turn, 1);
        while (atomic_load(&turn) != 0) {}
    }
    pthread_join(thread, NULL);
    if (sink == -1) puts("");
    return (double)floats * sizeof(float) * ROUNDS / read_seconds / 1e9;
}

int main(int argc, char **argv) {
    const int mib = argc > 1 ? atoi(argv[1]) : 4;
    floats = (size_t)(mib > 0 ? mib : 4) * 1024 * 1024 / sizeof(float);
    buffer = aligned_alloc(64, floats * sizeof(float));
    if (buffer == NULL) return 1;
    memset(buffer, 0, floats * sizeof(float));
    const double writer = measure(0), other = measure(1);
    printf("%d MiB written by core 0, read by core 0: %.1f GB/s, by core 1: %.1f GB/s\n", mib, writer, other);
    return 0;
}

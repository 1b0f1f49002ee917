// pt_time.h - the one monotonic clock every timing (speeds, ETA, benchmarks) reads.
#ifndef PT_TIME_H
#define PT_TIME_H

#include <time.h>

// Seconds on a monotonic clock (only differences mean anything).
static inline double pt_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif

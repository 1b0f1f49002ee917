// pt_omp.h - OpenMP's thread queries, or their one-thread answers in a build
// without OpenMP (PEFTUI_TSAN: ThreadSanitizer cannot see libgomp's barriers,
// so there every parallel loop runs on the thread that calls it; `omp simd`
// still vectorises through -fopenmp-simd).
#pragma once

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
static inline void omp_set_num_threads(int n) { (void)n; }
#endif

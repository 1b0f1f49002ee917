// backend_cpu_q.h - the CPU backend's quantised-weight product (see backend_cpu_q.c).
#ifndef PT_BACKEND_CPU_Q_H
#define PT_BACKEND_CPU_Q_H

#include "backend.h"

void cpu_matmul_q(pt_backend *be, float *out, const float *inp, const void *w, int wtype,
                  size_t row_bytes, const float *bias, int N, int K, int M);

#endif

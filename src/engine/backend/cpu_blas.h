// cpu_blas.h - choosing OpenBLAS's kernels. Debian's OpenBLAS picks its
// kernel set by CPU model when the library loads; a CPU newer than the
// library (here: Xeon family 6 model 207) falls back to the generic
// "Prescott" SSE3 kernels, 6x slower than the AVX-512 ones on the same chip.
// The choice is made from OPENBLAS_CORETYPE at load time only, so main()
// sets it and re-executes itself once (blas_reexec_fast).
#ifndef PT_CPU_BLAS_H
#define PT_CPU_BLAS_H

// The OPENBLAS_CORETYPE this CPU should use, or NULL when OpenBLAS's own
// choice is already good (or the user set OPENBLAS_CORETYPE).
const char *blas_better_coretype(void);
// If blas_better_coretype() says so: sets OPENBLAS_CORETYPE and execs
// /proc/self/exe with argv (returns only when it did not re-execute).
void blas_reexec_fast(char **argv);
const char *blas_corename(void);

#endif

#include "backend/cpu_blas.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *openblas_get_corename(void); // OpenBLAS; not in every cblas.h

const char *blas_corename(void) { return openblas_get_corename(); }

const char *blas_better_coretype(void) {
    if (getenv("OPENBLAS_CORETYPE") || getenv("PEFTUI_BLAS_CHOSEN")) return NULL;
    const char *core = openblas_get_corename();
    // Only the generic fallbacks are overridden; a recognised CPU keeps its kernels.
    if (!core || (strcasecmp(core, "prescott") && strcasecmp(core, "core2") && strcasecmp(core, "katmai") &&
                  strcasecmp(core, "nehalem") && strcasecmp(core, "sandybridge")))
        return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
    return NULL;
}

void blas_reexec_fast(char **argv) {
    const char *core = blas_better_coretype();
    if (!core) return;
    setenv("OPENBLAS_CORETYPE", core, 1);
    setenv("PEFTUI_BLAS_CHOSEN", "1", 1);  // never loop, even if the exec'd library ignores it
    execv("/proc/self/exe", argv);
    // exec failed: carry on with the slower kernels
}

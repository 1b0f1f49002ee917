// backend.c - the generic layer: creating backends by name and destroying
// them. It only dispatches; every op lives in a backend_*.c (or .cu) file.
#include "backend/backend.h"

#include <string.h>
#include <unistd.h>

void backend_destroy(pt_backend *be) {
    if (be && be->ops && be->ops->destroy) be->ops->destroy(be);
}

#ifndef PEFTUI_HAVE_CUDA
int backend_cuda_create(pt_backend **out, pt_err *err) {
    *out = 0;
    return pt_fail(err, PT_ERR_UNSUPPORTED, "this peftui was built without CUDA (rebuild with -DPEFTUI_CUDA=ON)");
}
#endif

int backend_create(pt_backend **out, const char *name, int n_threads, pt_err *err) {
    *out = NULL;
    if (n_threads <= 0) n_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_threads <= 0) n_threads = 1;
    if (!name || !strcmp(name, "auto")) {
        if (backend_cuda_create(out, NULL) == PT_OK) return PT_OK;
        return backend_cpu_create(out, n_threads, err);
    }
    if (!strcmp(name, "cpu")) return backend_cpu_create(out, n_threads, err);
    if (!strcmp(name, "cuda")) return backend_cuda_create(out, err);
    if (!strcmp(name, "cpu-naive")) return backend_naive_create(out, err);
    if (!strcmp(name, "emu")) return backend_emu_create(out, err);
    return pt_fail(err, PT_ERR_ARG, "unknown device '%s': use auto, cpu or cuda (or cpu-naive, emu for testing)", name);
}

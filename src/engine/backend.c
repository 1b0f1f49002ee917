// backend.c - the generic layer: creating and destroying backends. It only
// dispatches; every op lives in a backend_*.c file.
#include "backend.h"

void backend_destroy(pt_backend *be) {
    if (be && be->ops && be->ops->destroy) be->ops->destroy(be);
}

#ifndef PEFTUI_HAVE_CUDA
int backend_cuda_create(pt_backend **out, pt_err *err) {
    *out = 0;
    return pt_fail(err, PT_ERR_UNSUPPORTED, "this peftui was built without CUDA (rebuild with -DPEFTUI_CUDA=ON)");
}
#endif

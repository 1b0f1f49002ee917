#include "core/pt_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int pt_fail(pt_err *err, pt_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return (int)code;
}

const char *pt_status_str(pt_status s) {
    switch (s) {
    case PT_OK: return "ok";
    case PT_ERR_IO: return "i/o error";
    case PT_ERR_FORMAT: return "bad file format";
    case PT_ERR_UNSUPPORTED: return "unsupported";
    case PT_ERR_NOMEM: return "out of memory";
    case PT_ERR_ARG: return "bad argument";
    case PT_ERR_RANGE: return "out of range";
    case PT_ERR_ABORTED: return "aborted";
    case PT_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

int pt_problem_add(pt_problem *out, int cap, int *n, const char *field, int warning, const char *fmt, ...) {
    if (*n < cap && out) {
        pt_problem *p = &out[*n];
        snprintf(p->field, sizeof p->field, "%s", field);
        p->warning = warning;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg, sizeof p->msg, fmt, ap);
        va_end(ap);
    }
    return ++*n;
}

// ws_util.c - small things the front ends share: UTF-8 checks, reading a
// text file or standard input, the names of stops and training states.
#include "workspace/ws_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend/cpu_blas.h"
#include "core/fileio.h"

size_t pt_utf8_invalid_at(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n;
        unsigned min;
        if (c < 0x80) { i++; continue; }
        else if ((c & 0xE0) == 0xC0) { n = 1; min = 0x80; c &= 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 2; min = 0x800; c &= 0x0F; }
        else if ((c & 0xF8) == 0xF0) { n = 3; min = 0x10000; c &= 0x07; }
        else return i + 1;
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xC0) != 0x80) return i + 1;
            c = (c << 6) | (p[i + k] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return i + 1;
        i += n + 1;
    }
    return 0;
}

int pt_read_text(const char *path, char **out, size_t *len, pt_err *err) {
    return strcmp(path, "-") ? pt_read_file(path, out, len, err) : pt_read_stream(stdin, "stdin", out, len, err);
}

const char *pt_stop_name(int stop) { return stop_reason_name((pt_stop_reason)stop); }

const char *pt_train_state_name(int state) { return train_state_name((pt_train_state)state); }

void ws_fmt(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dst, cap, fmt, ap);
    va_end(ap);
}

void pt_init(char **argv) { blas_reexec_fast(argv); }

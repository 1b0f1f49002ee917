// floatfmt.h - a float as the shortest decimal that reads back as the same
// float (0.05, not 0.0500000007), for JSON that Python tools compare.
#ifndef PT_FLOATFMT_H
#define PT_FLOATFMT_H

#include <stdio.h>
#include <stdlib.h>

static inline double pt_float_shortest(float f) {
    char b[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(b, sizeof b, "%.*g", p, (double)f);
        if ((float)strtod(b, NULL) == f) return strtod(b, NULL);
    }
    return f;
}

#endif

// pt_error.h - status codes and the error record every engine call fills.
// The engine never exits or prints: it returns a status and a one-line message.
#ifndef PT_ERROR_H
#define PT_ERROR_H

typedef enum {
    PT_OK = 0,
    PT_ERR_IO,          // file missing, unreadable, unwritable
    PT_ERR_FORMAT,      // corrupt or truncated file, bad JSON
    PT_ERR_UNSUPPORTED, // valid file, but a type/architecture we do not implement
    PT_ERR_NOMEM,
    PT_ERR_ARG,         // bad argument from the user (flag value, prompt, ...)
    PT_ERR_RANGE,       // e.g. prompt longer than the context
    PT_ERR_ABORTED,     // stopped by the caller's abort flag
    PT_ERR_INTERNAL,
} pt_status;

#define PT_ERR_MSG_LEN 512

typedef struct {
    pt_status code;
    char msg[PT_ERR_MSG_LEN]; // one line, no trailing newline
} pt_err;

// Formats msg into err (if err != NULL) and returns code. Use as
//   return pt_fail(err, PT_ERR_FORMAT, "%s: tensor %s runs past end of file", path, name);
int pt_fail(pt_err *err, pt_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *pt_status_str(pt_status s);

// One problem with one field of a form (a LoraConfig, training parameters):
// the field's name as the config spells it, and a line saying what is wrong.
typedef struct {
    char field[40];
    char msg[300];
    int warning;   // 1: allowed, but worth knowing; 0: the value cannot be used
} pt_problem;

// Appends a problem to out (cap entries; *n counts all of them, also those
// past cap). Returns the new count.
int pt_problem_add(pt_problem *out, int cap, int *n, const char *field, int warning, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif

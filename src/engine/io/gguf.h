// gguf.h - GGUF v2/v3 reader over a memory-mapped file.
// Every offset, count and size read from the file is checked against the
// file's length; a bad file gives PT_ERR_FORMAT naming the file and the fault.
#ifndef PT_GGUF_H
#define PT_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include "core/pt_error.h"

typedef enum {
    GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2, GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8, GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
} gguf_value_type;

// ggml tensor types we know by name; only some are loadable (see dequant.h).
typedef enum {
    GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q4_0 = 2, GGML_TYPE_Q4_1 = 3,
    GGML_TYPE_Q5_0 = 6, GGML_TYPE_Q5_1 = 7, GGML_TYPE_Q8_0 = 8, GGML_TYPE_Q8_1 = 9,
    GGML_TYPE_Q2_K = 10, GGML_TYPE_Q3_K = 11, GGML_TYPE_Q4_K = 12, GGML_TYPE_Q5_K = 13,
    GGML_TYPE_Q6_K = 14, GGML_TYPE_Q8_K = 15, GGML_TYPE_I8 = 24, GGML_TYPE_I16 = 25,
    GGML_TYPE_I32 = 26, GGML_TYPE_I64 = 27, GGML_TYPE_F64 = 28, GGML_TYPE_BF16 = 30,
} ggml_type;

typedef struct {            // a string inside the mapped file: NOT NUL-terminated
    const char *ptr;
    uint64_t len;
} gguf_str;

typedef struct {
    gguf_str key;
    gguf_value_type type;
    gguf_value_type arr_type;  // element type when type == ARRAY
    uint64_t arr_len;          // element count when type == ARRAY
    const unsigned char *val;  // raw little-endian value (or first array element) in the map
    gguf_str *arr_str;         // when ARRAY of STRING: arr_len parsed strings (owned by gguf)
} gguf_kv;

typedef struct {
    gguf_str name;
    uint32_t n_dims;
    uint64_t ne[4];            // ne[0] fastest-varying; unused dims are 1
    ggml_type type;
    uint64_t offset;           // from data section start
    uint64_t nbytes;           // computed from type and ne
    const unsigned char *data; // pointer into the map (checked in range)
} gguf_tensor;

typedef struct {
    char path[1024];
    uint32_t version;
    uint64_t n_kv, n_tensors;
    gguf_kv *kv;               // (n_kv)
    gguf_tensor *tensors;      // (n_tensors)
    uint64_t alignment;
    const unsigned char *base; // mapped file
    size_t size;
    void *map_handle;          // private
} gguf_file;

int gguf_open(gguf_file *g, const char *path, pt_err *err);
void gguf_close(gguf_file *g);

const gguf_kv *gguf_find_kv(const gguf_file *g, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *g, const char *name);

// Typed getters. Integer getters accept any integer/bool type that fits.
// Return PT_OK, or PT_ERR_FORMAT if present with the wrong type; *found tells presence.
int gguf_get_i64(const gguf_file *g, const char *key, int64_t *out, int *found, pt_err *err);
int gguf_get_f64(const gguf_file *g, const char *key, double *out, int *found, pt_err *err);
// Copies into buf (NUL-terminated, truncated to cap-1).
int gguf_get_str(const gguf_file *g, const char *key, char *buf, size_t cap, int *found, pt_err *err);
// Array element access. gguf_arr_i64 returns 1 with *out set when element i
// exists and is an integer (or a whole-number float) that fits int64, else 0.
int gguf_arr_i64(const gguf_kv *kv, uint64_t i, int64_t *out);
double gguf_arr_f64(const gguf_kv *kv, uint64_t i);

const char *ggml_type_name(ggml_type t); // "Q4_1", or "type#NN" for unknown
int gguf_str_eq(gguf_str s, const char *c);

#endif

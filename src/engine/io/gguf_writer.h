// gguf_writer.h - a minimal GGUF v3 writer: key/values of the scalar types
// and string arrays, F32 tensors, alignment 32 (GGUF's default, so no
// general.alignment key is written). The file is written to a temporary name
// and renamed into place.
//
// Tensor shapes are given as ggml's ne[] (ne[0] the fastest-varying), so a
// PyTorch (rows, cols) tensor is ne = {cols, rows}. Tensor data is not
// copied: it must stay valid until gguf_writer_write returns.
#ifndef PT_GGUF_WRITER_H
#define PT_GGUF_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include "core/pt_error.h"

typedef struct {
    const char *name;        // owned copy
    uint32_t n_dims;
    uint64_t ne[4];
    const float *data;       // not owned
} gguf_writer_tensor;

typedef struct {
    unsigned char *kv;       // serialised key/value pairs
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    gguf_writer_tensor *tensors;
    int n_tensors, cap_tensors;
    int nomem;               // sticky: an add ran out of memory (reported by write)
} gguf_writer;

void gguf_writer_init(gguf_writer *w);
void gguf_writer_free(gguf_writer *w);

void gguf_writer_add_str(gguf_writer *w, const char *key, const char *val);
void gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t val);
void gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t val);
void gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t val);
void gguf_writer_add_f32(gguf_writer *w, const char *key, float val);
void gguf_writer_add_bool(gguf_writer *w, const char *key, int val);
void gguf_writer_add_str_array(gguf_writer *w, const char *key, const char *const *vals, int n);
// An F32 tensor of n_dims (1..4) dimensions ne[0..n_dims-1].
void gguf_writer_add_tensor_f32(gguf_writer *w, const char *name, uint32_t n_dims, const uint64_t *ne,
                                const float *data);

int gguf_writer_write(const gguf_writer *w, const char *path, pt_err *err);

#endif

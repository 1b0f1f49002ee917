// safetensors.h - reader for .safetensors files (u64 header length, JSON
// header, packed row-major data) and sharded folders through
// model.safetensors.index.json. Memory-mapped; every offset checked.
#ifndef PT_SAFETENSORS_H
#define PT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "core/pt_error.h"

typedef enum { ST_F32, ST_F16, ST_BF16, ST_F64, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_OTHER } st_dtype;

typedef struct {
    char *name;                // owned
    st_dtype dtype;
    char dtype_name[16];       // as written in the header, e.g. "F8_E4M3"
    int n_dims;
    int64_t shape[8];
    uint64_t nbytes;
    const unsigned char *data; // into the map, checked in range
} st_tensor;

typedef struct {
    char path[1024];
    st_tensor *tensors;        // (n_tensors)
    int n_tensors;
    char *metadata_json;       // the __metadata__ object serialised, or NULL (owned)
    void *map_handle;          // private
} st_file;

int st_open(st_file *f, const char *path, pt_err *err);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);

// A set of shards: a folder with model.safetensors, or with
// model.safetensors.index.json naming the shards.
typedef struct {
    st_file *files;
    int n_files;
} st_set;

int st_set_open_dir(st_set *s, const char *dir, pt_err *err);
void st_set_close(st_set *s);
const st_tensor *st_set_find(const st_set *s, const char *name);

// Writing (used by adapters/export later): tensors as F32, written to a
// temporary name and renamed. metadata_json may be NULL.
typedef struct {
    const char *name;
    const float *data;
    int n_dims;
    int64_t shape[4];
} st_write_tensor;
int st_write_f32(const char *path, const st_write_tensor *ts, int n, const char *metadata_json, pt_err *err);

#endif

// fileio.h - creating folders and writing files atomically (temporary name,
// fsync, rename), shared by adapters, exports, tokenizer files and checkpoints.
#ifndef PT_FILEIO_H
#define PT_FILEIO_H

#include <stddef.h>
#include "core/pt_error.h"

// mkdir -p, then checks the folder is writable.
int pt_mkdir_p(const char *dir, pt_err *err);
// data (n bytes) to path through path.tmp: written, fsynced, renamed.
int pt_write_file_atomic(const char *path, const void *data, size_t n, pt_err *err);

#endif

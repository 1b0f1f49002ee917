// mapped_file.h - a read-only memory map of a whole file, with its length,
// so every parser can bounds-check offsets against it.
#ifndef PT_MAPPED_FILE_H
#define PT_MAPPED_FILE_H

#include <stddef.h>
#include "core/pt_error.h"

typedef struct {
    const unsigned char *data; // NULL for an empty file
    size_t size;               // bytes
    char path[1024];
} pt_mapped_file;

int mapped_file_open(pt_mapped_file *f, const char *path, pt_err *err);
void mapped_file_close(pt_mapped_file *f);

#include "core/fileio.h"  // pt_read_file, for the parsers that read small files whole

#endif

// fileio.h - every file peftui reads whole or writes goes through here.
// Writes never leave a half-written file where a good one was: data goes to
// a temporary name beside the target, is flushed and fsynced, then renamed
// over it, and the folder is fsynced so the rename survives a crash.
#ifndef PT_FILEIO_H
#define PT_FILEIO_H

#include <stddef.h>
#include <stdio.h>
#include "core/pt_error.h"

// mkdir -p: creates dir and any missing parents.
int pt_mkdir_p(const char *dir, pt_err *err);
// pt_mkdir_p, then proves dir writable with a temporary file ("DIR: output
// folder not writable: ..." when it is not).
int pt_dir_check_writable(const char *dir, pt_err *err);
// Removes a folder and everything under it (best effort; 0 on success).
int pt_dir_remove(const char *path);
// fsync of a folder, so that renames in it reach the disk.
void pt_fsync_dir(const char *dir);

// A file being written: data goes to f (a temporary file beside path);
// pt_afile_commit makes it appear at path in one rename, pt_afile_abort
// removes it.
typedef struct {
    FILE *f;
    char path[1024];
    char tmp[1040];
} pt_afile;

int pt_afile_open(pt_afile *af, const char *path, pt_err *err);
int pt_afile_commit(pt_afile *af, pt_err *err);   // flush, fsync, close, rename, fsync the folder
void pt_afile_abort(pt_afile *af);
// data (n bytes) to path as one pt_afile.
int pt_write_file_atomic(const char *path, const void *data, size_t n, pt_err *err);

// Several files that must appear together (an adapter folder, an export):
// each is written (atomically) to NAME.new, then all are renamed at once.
#define PT_STAGED_MAX 8
typedef struct {
    char final[PT_STAGED_MAX][1100];
    int n;
} pt_staged;

// Registers dir/name; returns the path to write it to (dir/name.new), valid
// until the next call, or NULL when more than PT_STAGED_MAX are staged.
const char *pt_staged_add(pt_staged *s, const char *dir, const char *name, char *tmp, size_t cap);
int pt_staged_commit(pt_staged *s, pt_err *err);   // renames every NAME.new to NAME
void pt_staged_abort(pt_staged *s);                // removes the NAME.new files

// A whole file into a NUL-terminated malloc'd buffer (*len may be NULL).
int pt_read_file(const char *path, char **out, size_t *len, pt_err *err);
// The same from an open stream (stdin); name is for messages.
int pt_read_stream(FILE *f, const char *name, char **out, size_t *len, pt_err *err);

#endif

// fileio.c - folders and files written so that a crash or a full disk never
// leaves a half-written file where a good one was.
#include "core/fileio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int pt_mkdir_p(const char *dir, pt_err *err) {
    char path[1024];
    if (!dir[0] || strlen(dir) >= sizeof path) return pt_fail(err, PT_ERR_ARG, "bad folder name '%s'", dir);
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        struct stat st;
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return pt_fail(err, PT_ERR_IO, "%s: cannot create folder %s: %s", dir, path, strerror(errno));
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            return pt_fail(err, PT_ERR_IO, "%s: %s is not a folder", dir, path);
        *p = c;
        if (!c) break;
    }
    if (access(dir, W_OK) != 0) return pt_fail(err, PT_ERR_IO, "%s: folder is not writable: %s", dir, strerror(errno));
    return PT_OK;
}

int pt_write_file_atomic(const char *path, const void *data, size_t n, pt_err *err) {
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return pt_fail(err, PT_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    int ok = (n == 0 || fwrite(data, 1, n, fp) == n) && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    int e = errno;
    if (fclose(fp) != 0 && ok) { ok = 0; e = errno; }
    if (!ok) {
        unlink(tmp);
        return pt_fail(err, PT_ERR_IO, "%s: write failed: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return pt_fail(err, PT_ERR_IO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return PT_OK;
}


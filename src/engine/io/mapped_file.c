// mapped_file.c - read-only memory maps and whole-file reads.
#include "io/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mapped_file_open(pt_mapped_file *f, const char *path, pt_err *err) {
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return pt_fail(err, PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    int rc = PT_OK;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = pt_fail(err, PT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = pt_fail(err, PT_ERR_IO, "%s: is a directory, not a file", path);
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = pt_fail(err, PT_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if (st.st_size == 0)
        goto done; // data stays NULL, size 0: parsers report "too short"
    if ((unsigned long long)st.st_size > (unsigned long long)SIZE_MAX) {
        rc = pt_fail(err, PT_ERR_IO, "%s: too large to map", path);
        goto done;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        rc = pt_fail(err, PT_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
        goto done;
    }
    f->data = p;
    f->size = (size_t)st.st_size;
done:
    close(fd);
    return rc;
}

void mapped_file_close(pt_mapped_file *f) {
    if (f->data)
        munmap((void *)f->data, f->size);
    f->data = NULL;
    f->size = 0;
}

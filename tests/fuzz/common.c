// common.c - helpers shared by the fuzz_*.c harnesses (#included, not a target):
// a private temp folder per process and writing the fuzz input into it.
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char fz_dir[256];

static __attribute__((unused)) int fz_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

static __attribute__((unused)) void fz_cleanup(void) {
    if (fz_dir[0]) nftw(fz_dir, fz_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

// The per-process folder, made on first use and removed at exit.
static __attribute__((unused)) const char *fz_tmpdir(void) {
    if (!fz_dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fz_dir, sizeof fz_dir, "%s/peftui-fuzz.XXXXXX", base);
        if (!mkdtemp(fz_dir)) { perror("mkdtemp"); abort(); }
        atexit(fz_cleanup);
    }
    return fz_dir;
}

// "<tmpdir>/<rel>" into buf.
static __attribute__((unused)) const char *fz_path(char *buf, size_t cap, const char *rel) {
    snprintf(buf, cap, "%s/%s", fz_tmpdir(), rel);
    return buf;
}

static __attribute__((unused)) void fz_write(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); abort(); }
    if (size && fwrite(data, 1, size, f) != size) { perror(path); abort(); }
    fclose(f);
}

// Writes data to <tmpdir>/<rel>; returns the path (static buffer per call site is the caller's).
static __attribute__((unused)) const char *fz_write_rel(char *buf, size_t cap, const char *rel, const uint8_t *data, size_t size) {
    fz_path(buf, cap, rel);
    fz_write(buf, data, size);
    return buf;
}

// <tmpdir>/<rel> -> an existing file (absolute path), made once.
static __attribute__((unused)) void fz_link(const char *rel, const char *target) {
    char p[512];
    fz_path(p, sizeof p, rel);
    unlink(p);
    if (symlink(target, p)) { perror(p); abort(); }
}

// A folder inside the tmpdir.
static __attribute__((unused)) const char *fz_mkdir(char *buf, size_t cap, const char *rel) {
    fz_path(buf, cap, rel);
    if (mkdir(buf, 0700) && errno != EEXIST) { perror(buf); abort(); }
    return buf;
}

// The input in an anonymous memory file; *path gets /proc/self/fd/N. Returns the fd (close it after).
static __attribute__((unused)) int fz_memfd(const uint8_t *data, size_t size, char *path, size_t cap) {
    int fd = memfd_create("fuzz", 0);
    if (fd < 0) { perror("memfd_create"); abort(); }
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) { perror("write memfd"); abort(); }
        done += (size_t)w;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

// NUL-terminated malloc'd copy of the input.
static __attribute__((unused)) char *fz_strdup(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

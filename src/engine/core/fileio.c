// fileio.c - folders, whole-file reads, and writes that a crash or a full
// disk never leave half done.
#include "core/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---- folders ---------------------------------------------------------------

int pt_mkdir_p(const char *dir, pt_err *err) {
    char path[1024];
    if (!dir || !dir[0]) return pt_fail(err, PT_ERR_ARG, "no folder name given");
    if (strlen(dir) >= sizeof path) return pt_fail(err, PT_ERR_ARG, "%.200s...: path too long", dir);
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
    return PT_OK;
}

int pt_dir_check_writable(const char *dir, pt_err *err) {
    if (!dir || !dir[0]) return pt_fail(err, PT_ERR_ARG, "no output folder given");
    pt_err inner = {0};
    if (pt_mkdir_p(dir, &inner) != PT_OK)
        return pt_fail(err, inner.code, "output folder not writable: %s", inner.msg);
    char probe[1100];
    if (snprintf(probe, sizeof probe, "%s/.peftui-write-test-XXXXXX", dir) >= (int)sizeof probe)
        return pt_fail(err, PT_ERR_ARG, "%.200s...: path too long", dir);
    int fd = mkstemp(probe);
    if (fd < 0) return pt_fail(err, PT_ERR_IO, "%s: output folder not writable: %s", dir, strerror(errno));
    int e = 0;
    if (write(fd, "ok\n", 3) != 3) e = errno ? errno : EIO;
    if (!e && fsync(fd) != 0) e = errno;
    close(fd);
    unlink(probe);
    if (e) return pt_fail(err, PT_ERR_IO, "%s: output folder not writable: %s", dir, strerror(e));
    return PT_OK;
}

int pt_dir_remove(const char *path) {
    DIR *d = opendir(path);
    if (!d) return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char sub[PATH_MAX];
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) { bad = 1; continue; }
        struct stat st;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) bad |= pt_dir_remove(sub) != 0;
        else bad |= unlink(sub) != 0;
    }
    closedir(d);
    return (rmdir(path) != 0 || bad) ? -1 : 0;
}

void pt_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void parent_of(const char *path, char *dir, size_t cap) {
    snprintf(dir, cap, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
}

// ---- one file --------------------------------------------------------------

int pt_afile_open(pt_afile *af, const char *path, pt_err *err) {
    memset(af, 0, sizeof *af);
    if (snprintf(af->path, sizeof af->path, "%s", path) >= (int)sizeof af->path)
        return pt_fail(err, PT_ERR_ARG, "%.200s...: path too long", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        int e = errno;
        af->tmp[0] = 0;
        return pt_fail(err, PT_ERR_IO, "%s: cannot create: %s", path, strerror(e));
    }
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        unlink(af->tmp);
        af->tmp[0] = 0;
        return pt_fail(err, PT_ERR_IO, "%s: %s", path, strerror(e));
    }
    return PT_OK;
}

void pt_afile_abort(pt_afile *af) {
    if (af->f) fclose(af->f);
    if (af->tmp[0]) unlink(af->tmp);
    af->f = NULL;
    af->tmp[0] = 0;
}

int pt_afile_commit(pt_afile *af, pt_err *err) {
    int e = 0;
    if (ferror(af->f) || fflush(af->f) != 0) e = errno ? errno : EIO;
    if (!e && fsync(fileno(af->f)) != 0) e = errno;
    if (fclose(af->f) != 0 && !e) e = errno;
    af->f = NULL;
    if (!e && rename(af->tmp, af->path) != 0) e = errno;
    if (e) {
        unlink(af->tmp);
        af->tmp[0] = 0;
        return pt_fail(err, PT_ERR_IO, "%s: write failed: %s", af->path, strerror(e));
    }
    af->tmp[0] = 0;
    char dir[1024];
    parent_of(af->path, dir, sizeof dir);
    pt_fsync_dir(dir);
    return PT_OK;
}

int pt_write_file_atomic(const char *path, const void *data, size_t n, pt_err *err) {
    pt_afile af;
    int rc = pt_afile_open(&af, path, err);
    if (rc) return rc;
    if (n && fwrite(data, 1, n, af.f) != n) {
        int e = errno;
        pt_afile_abort(&af);
        return pt_fail(err, PT_ERR_IO, "%s: write failed: %s", path, strerror(e ? e : EIO));
    }
    return pt_afile_commit(&af, err);
}

// ---- files that appear together ---------------------------------------------

const char *pt_staged_add(pt_staged *s, const char *dir, const char *name, char *tmp, size_t cap) {
    if (s->n >= PT_STAGED_MAX) return NULL;
    snprintf(s->final[s->n], sizeof s->final[s->n], "%.1000s/%.90s", dir, name);
    snprintf(tmp, cap, "%s.new", s->final[s->n]);
    s->n++;
    return tmp;
}

int pt_staged_commit(pt_staged *s, pt_err *err) {
    char tmp[1120];
    for (int i = 0; i < s->n; i++) {
        snprintf(tmp, sizeof tmp, "%s.new", s->final[i]);
        if (rename(tmp, s->final[i]) != 0) {
            int e = errno;
            pt_staged_abort(s);
            return pt_fail(err, PT_ERR_IO, "%s: cannot rename into place: %s", s->final[i], strerror(e));
        }
    }
    if (s->n) {
        char dir[1100];
        parent_of(s->final[0], dir, sizeof dir);
        pt_fsync_dir(dir);
    }
    s->n = 0;
    return PT_OK;
}

void pt_staged_abort(pt_staged *s) {
    char tmp[1120];
    for (int i = 0; i < s->n; i++) {
        snprintf(tmp, sizeof tmp, "%s.new", s->final[i]);
        unlink(tmp);
    }
    s->n = 0;
}

// ---- reading ---------------------------------------------------------------

int pt_read_stream(FILE *fp, const char *name, char **out, size_t *len, pt_err *err) {
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap);
    *out = NULL;
    if (len) *len = 0;
    if (!buf) return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", name);
    for (;;) {
        if (cap - n < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return pt_fail(err, PT_ERR_NOMEM, "%s: out of memory", name);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, fp);
        n += got;
        if (got == 0) break;
    }
    if (ferror(fp)) {
        free(buf);
        return pt_fail(err, PT_ERR_IO, "%s: read error: %s", name, strerror(errno ? errno : EIO));
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return PT_OK;
}

int pt_read_file(const char *path, char **out, size_t *len, pt_err *err) {
    *out = NULL;
    if (len) *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return pt_fail(err, PT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return pt_fail(err, PT_ERR_IO, "%s: not a readable regular file", path);
    }
    int rc = pt_read_stream(fp, path, out, len, err);
    fclose(fp);
    return rc;
}

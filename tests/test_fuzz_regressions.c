// test_fuzz_regressions.c - every input a fuzzer ever crashed on, kept in
// tests/data/fuzz-regressions/<parser>/, goes through the same entry point as
// its fuzz_<parser> harness and must give a clean status (PT_OK or an error
// with a message), never a crash. Meaningful mostly under PEFTUI_SANITIZE=ON,
// where an out-of-bounds read or undefined behaviour aborts the test.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "check.h"
#include "text/chat_template.h"
#include "train/dataset.h"
#include "io/gguf.h"
#include "lora/lora.h"
#include "io/mapped_file.h"
#include "model/model.h"
#include "io/safetensors.h"
#include "text/tokenizer.h"

#define REG PT_SOURCE_DIR "/tests/data/fuzz-regressions/"
#define TINY PT_SOURCE_DIR "/tests/data/tiny/llama-hf/"

static char g_tmp[256];

// A clean result: OK, or a known error code with a one-line message.
static int clean(int rc, const pt_err *err) {
    if (rc == PT_OK) return 1;
    return rc > PT_OK && rc <= PT_ERR_INTERNAL && err->msg[0] && !strchr(err->msg, '\n');
}

static int copy_file(const char *from, const char *to) {
    char *s = NULL;
    size_t n = 0;
    pt_err err;
    if (pt_read_file(from, &s, &n, &err)) return -1;
    FILE *f = fopen(to, "wb");
    int ok = f && fwrite(s, 1, n, f) == n;
    if (f) fclose(f);
    free(s);
    return ok ? 0 : -1;
}

static int run_gguf(const char *path, pt_err *err) {
    gguf_file g;
    int rc = gguf_open(&g, path, err);
    if (rc) return rc;
    pt_tokenizer *tok = NULL;
    pt_err e2;
    if (tokenizer_load_gguf(&tok, &g, &e2) == PT_OK) tokenizer_free(tok);
    gguf_close(&g);
    pt_model m;
    memset(&m, 0, sizeof m);
    rc = model_load(&m, path, err);
    if (rc == PT_OK) model_free(&m);
    return rc;
}

static int run_safetensors(const char *path, pt_err *err) {
    st_file f;
    int rc = st_open(&f, path, err);
    if (rc == PT_OK) st_close(&f);
    return rc;
}

static int run_tokenizer_json(const char *path, pt_err *err) {
    pt_tokenizer *tok = NULL;
    char dst[512];
    snprintf(dst, sizeof dst, "%s/tokenizer.json", g_tmp);
    if (copy_file(path, dst)) return pt_fail(err, PT_ERR_IO, "%s: cannot copy", path);
    int rc = tokenizer_load_json(&tok, dst, err);
    if (rc == PT_OK) {
        int32_t *ids = NULL;
        int n = 0;
        if (tokenizer_encode(tok, "Hello world", 11, 1, 1, &ids, &n, err) == PT_OK) {
            free(tokenizer_decode(tok, ids, n, 0));
            free(ids);
        }
        tokenizer_free(tok);
    }
    return rc;
}

static int run_chat_template(const char *path, pt_err *err) {
    static const pt_msg conv[3] = {{"system", "s"}, {"user", "u"}, {"assistant", "a"}};
    pt_chat_template *t = NULL;
    char dst[512];
    snprintf(dst, sizeof dst, "%s/reg.tmpl", g_tmp);
    if (copy_file(path, dst)) return pt_fail(err, PT_ERR_IO, "%s: cannot copy", path);
    int rc = template_load(&t, dst, err);
    if (rc == PT_OK) {
        free(template_render(t, conv, 3, 1, NULL, err));
        template_free(t);
    }
    char *s = NULL;
    pt_err e2;
    if (pt_read_file(path, &s, NULL, &e2) == PT_OK) {
        (void)template_guess(s);
        free(template_jinja_default_system(s));
        free(s);
    }
    return rc;
}

static int run_model_hf_config(const char *path, pt_err *err) {
    char dir[512], p[600];
    snprintf(dir, sizeof dir, "%s/model", g_tmp);
    mkdir(dir, 0700);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    if (symlink(TINY "model.safetensors", p)) return pt_fail(err, PT_ERR_IO, "%s: cannot link", p);
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (copy_file(path, p)) return pt_fail(err, PT_ERR_IO, "%s: cannot copy", path);
    pt_model m;
    memset(&m, 0, sizeof m);
    int rc = model_load(&m, dir, err);
    if (rc == PT_OK) model_free(&m);
    return rc;
}

static int run_adapter(const char *path, pt_err *err) {
    char *s = NULL;
    int rc = pt_read_file(path, &s, NULL, err);
    if (rc) return rc;
    pt_lora_config c;
    lora_config_defaults(&c);
    rc = lora_config_from_json(&c, s, path, err);
    lora_config_free(&c);
    free(s);
    return rc;
}

static pt_tokenizer *g_tok;
static pt_chat_template *g_chatml;

static int run_dataset(const char *path, pt_err *err) {
    static const char *ext[3] = {"jsonl", "json", "txt"};
    int rc = PT_OK;
    if (!g_tok && (tokenizer_load_json(&g_tok, TINY "tokenizer.json", err) || template_load(&g_chatml, "chatml", err)))
        return PT_ERR_INTERNAL;
    for (int i = 0; i < 3; i++) {
        char dst[512];
        snprintf(dst, sizeof dst, "%s/data.%s", g_tmp, ext[i]);
        if (copy_file(path, dst)) return pt_fail(err, PT_ERR_IO, "%s: cannot copy", path);
        pt_dataset d;
        pt_dataset_opts o = {.max_seq_len = 48};
        pt_err e;
        int r = dataset_load(&d, dst, g_tok, g_chatml, &o, &e);
        dataset_free(&d);
        if (!clean(r, &e)) return r;
        if (r) { rc = r; *err = e; }
    }
    return rc;
}

typedef struct {
    const char *parser;
    int (*run)(const char *path, pt_err *err);
} entry;

static const entry ENTRIES[] = {
    {"gguf", run_gguf},
    {"safetensors", run_safetensors},
    {"tokenizer_json", run_tokenizer_json},
    {"chat_template", run_chat_template},
    {"model_hf_config", run_model_hf_config},
    {"adapter", run_adapter},
    {"dataset", run_dataset},
};

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "/tmp/pt-fuzzreg.XXXXXX");
    if (!mkdtemp(g_tmp)) SKIP_ALL("cannot make a temp folder");
    int n_files = 0;
    for (size_t k = 0; k < sizeof ENTRIES / sizeof ENTRIES[0]; k++) {
        char dir[512];
        snprintf(dir, sizeof dir, REG "%s", ENTRIES[k].parser);
        DIR *d = opendir(dir);
        if (!d) continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.') continue;
            char path[800];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            pt_err err = {0};
            int rc = ENTRIES[k].run(path, &err);
            CHECKF(clean(rc, &err), "%s: rc %d, message '%s'", path, rc, err.msg);
            n_files++;
        }
        closedir(d);
    }
    // The first regression: an empty file mapped to NULL made gguf_open do
    // arithmetic on a null pointer. It must be a format error.
    {
        pt_err err;
        int rc = run_gguf(REG "gguf/empty-file", &err);
        CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "too short"), "rc %d: %s", rc, err.msg);
    }
    CHECKF(n_files >= 1, "only %d regression files found", n_files);
    if (g_tok) tokenizer_free(g_tok);
    if (g_chatml) template_free(g_chatml);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_tmp);
    return check_report("test_fuzz_regressions");
}

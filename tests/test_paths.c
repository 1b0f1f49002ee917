// test_paths.c - names that come from files or users never become paths
// outside the folder they belong to (issue 4, security of paths).
//
// Checked here: an adapter whose name, base_model_name_or_path (adapter_config.json)
// and base_name / template (peftui.json) hold "../" and absolute paths is
// saved, loaded back from those hostile files, saved again and exported
// (peft folder, gguf-lora file); a scan of the temporary tree then shows
// files only inside the given output folders, and the absolute path named in
// the files was never created. Checkpoint folders are always
// OUT/checkpoint-N (ckpt_dir_begin / ckpt_dir_commit).
//
// Reviewed, not testable here:
// - src/cli/cmd_chat.c: `/adapter NAME|N|none` only compares NAME with the
//   names of the adapters loaded by --adapter at start (or takes an index);
//   chat input is never opened as a path.
// - `peftui train -o DIR` uses DIR as given; checkpoints inside it are named
//   from the step number only (tests/test_crash_resume.sh checks the names).
// - Names read from files (adapter name, base_name, template, base model) are
//   used only in messages and metadata (grep of snprintf/fopen/mkdir in src/).
// - Nothing found in a model or adapter file is executed: the only
//   system/popen/exec*/fork in src/ is src/engine/cpu_blas.c's
//   execv("/proc/self/exe", argv), which re-executes peftui itself with its own
//   argv to set the BLAS thread environment; it takes nothing from any file.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "train/checkpoint.h"
#include "lora/export.h"
#include "lora/lora.h"
#include "model/model.h"

#define TINY PT_SOURCE_DIR "/tests/data/tiny/"

// Counts the files under dir that are not under one of the allowed prefixes
// (printing each); *n_files gets all files seen.
static int scan(const char *dir, const char *const *allowed, int n_allowed, int *n_files) {
    int bad = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            bad += scan(path, allowed, n_allowed, n_files);
            continue;
        }
        (*n_files)++;
        int ok = 0;
        for (int i = 0; i < n_allowed; i++)
            if (!strncmp(path, allowed[i], strlen(allowed[i]))) ok = 1;
        if (!ok) {
            printf("  file outside the output folders: %s\n", path);
            bad++;
        }
    }
    closedir(d);
    return bad;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

int main(void) {
    pt_model m;
    pt_err err = {0};
    memset(&m, 0, sizeof m);
    if (model_load(&m, TINY "llama-hf", &err) != PT_OK) SKIP_ALL("tiny model: %s", err.msg);

    char root[] = "/tmp/peftui-paths-XXXXXX";
    CHECK(mkdtemp(root) != NULL);
    char deep[100], out[200], out2[200], exp_dir[200], exp_gguf[200], abs_name[200], ck[200];
    snprintf(deep, sizeof deep, "%s/a/b", root);
    snprintf(out, sizeof out, "%s/out", deep);
    snprintf(out2, sizeof out2, "%s/out2", deep);
    snprintf(exp_dir, sizeof exp_dir, "%s/exp", deep);
    snprintf(exp_gguf, sizeof exp_gguf, "%s/exp.gguf", deep);
    snprintf(abs_name, sizeof abs_name, "%s/ABSOLUTE-ESCAPE", root);
    snprintf(ck, sizeof ck, "%s/ck", deep);
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "%s/a", root);
    mkdir(cmd, 0755);
    mkdir(deep, 0755);

    // 1. an adapter whose names are paths, saved
    pt_lora_config c;
    pt_adapter a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    CHECK(lora_config_from_json(&c, "{\"r\": 2, \"lora_alpha\": 4, \"target_modules\": [\"q_proj\"]}", "cfg", &err) == PT_OK);
    snprintf(c.base_model, sizeof c.base_model, "../../../BASE-ESCAPE");
    CHECK(adapter_create(&a, &m, &c, 3, &err) == PT_OK);
    lora_config_free(&c);
    snprintf(a.name, sizeof a.name, "../../NAME-ESCAPE");
    snprintf(a.base_name, sizeof a.base_name, "%s", abs_name);
    snprintf(a.template_name, sizeof a.template_name, "../../TEMPLATE-ESCAPE");
    CHECKF(adapter_save(&a, &m, out, &err) == PT_OK, "%s", err.msg);

    // 2. the files made hostile by hand (as a stranger would hand them over), loaded and saved again
    char p[1400], text[2048];
    snprintf(p, sizeof p, "%s/peftui.json", out);
    snprintf(text, sizeof text,
             "{\"base_name\": \"%s\", \"base_fingerprint\": \"../../FP\", \"template\": \"../../../T\", "
             "\"name\": \"../../N\", \"peftui_version\": \"0.1\"}", abs_name);
    write_text(p, text);
    int loaded = adapter_load(&b, &m, out, text, sizeof text, &err) == PT_OK;
    CHECKF(loaded, "%s", err.msg);
    if (loaded) {
        CHECKF(adapter_save(&b, &m, out2, &err) == PT_OK, "%s", err.msg);
        pt_export_warnings w;
        CHECKF(export_adapter(&b, &m, PT_EXPORT_PEFT, 1.0f, exp_dir, &w, &err) == PT_OK, "%s", err.msg);
        CHECKF(export_adapter(&b, &m, PT_EXPORT_GGUF_LORA, 1.0f, exp_gguf, &w, &err) == PT_OK, "%s", err.msg);
        adapter_free(&b);
    }

    // 3. a checkpoint folder: always OUT/checkpoint-N
    char tmpdir[1300], final[1300];
    CHECK(pt_dir_check_writable(ck, &err) == PT_OK);
    CHECKF(ckpt_dir_begin(ck, 5, tmpdir, sizeof tmpdir, &err) == PT_OK, "%s", err.msg);
    snprintf(p, sizeof p, "%s/x", tmpdir);
    write_text(p, "x");
    CHECKF(ckpt_dir_commit(ck, 5, tmpdir, final, sizeof final, &err) == PT_OK, "%s", err.msg);
    snprintf(p, sizeof p, "%s/checkpoint-5", ck);
    CHECKF(!strcmp(final, p), "%s", final);

    // 4. the scan: files only inside the output folders
    char a1[1300], a2[1300], a3[1300], a4[1300], a5[1300];
    snprintf(a1, sizeof a1, "%s/", out);
    snprintf(a2, sizeof a2, "%s/", out2);
    snprintf(a3, sizeof a3, "%s/", exp_dir);
    snprintf(a4, sizeof a4, "%s", exp_gguf);
    snprintf(a5, sizeof a5, "%s/checkpoint-5/", ck);
    const char *allowed[] = {a1, a2, a3, a4, a5};
    int n_files = 0;
    int bad = scan(root, allowed, 5, &n_files);
    CHECKF(bad == 0, "%d files outside", bad);
    CHECKF(n_files >= 8, "only %d files written", n_files);
    struct stat st;
    CHECK(stat(abs_name, &st) != 0);
    CHECK(stat("/BASE-ESCAPE", &st) != 0);

    adapter_free(&a);
    model_free(&m);
    snprintf(cmd, sizeof cmd, "%s", root);
    pt_dir_remove(cmd);
    return check_report("test_paths");
}

// cmd_compare.c - `peftui compare -p PROMPT --adapter DIR ...`: the base
// model and each adapter answer the same prompt with the same sampling seed,
// shown side by side when the terminal is wide enough (40 columns each),
// else one after another under headers. One runtime serves every answer:
// runtime_set_adapter switches between them over one copy of the weights.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "lora/lora.h"


#define MIN_COL 40   // narrowest column worth reading side by side
#define SEP " | "

// ---------------------------------------------------------------------------
// wrapping text into a column

typedef struct {
    const char *p;   // start of the line in the text
    size_t len;      // bytes
    int cols;        // characters (code points)
} line;

static int utf8_len(unsigned char c) { return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1; }

// Splits text into lines of at most w characters, at spaces where it can,
// at newlines always. Returns the count; *out is malloc'd.
static int wrap(const char *text, int w, line **out) {
    int n = 0, cap = 16;
    line *v = malloc(sizeof *v * (size_t)cap);
    const char *p = text;
    while (v) {
        const char *s = p, *brk = NULL;
        int cols = 0, brk_cols = 0;
        while (*p && *p != '\n' && cols < w) {
            if (*p == ' ') { brk = p; brk_cols = cols; }
            p += utf8_len((unsigned char)*p);
            cols++;
        }
        if (*p && *p != '\n' && *p != ' ' && brk && brk > s) { // mid-word: back up to the last space
            p = brk;
            cols = brk_cols;
        }
        if (n == cap) {
            line *nv = realloc(v, sizeof *v * (size_t)(cap *= 2));
            if (!nv) { free(v); v = NULL; break; }
            v = nv;
        }
        v[n++] = (line){s, (size_t)(p - s), cols};
        if (!*p) break;
        if (*p == '\n' || *p == ' ') p++;
    }
    *out = v;
    return v ? n : -1;
}

static int terminal_width(int opt) {
    if (opt > 0) return opt;
    struct winsize ws;
    if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    if (c && atoi(c) > 0) return atoi(c);
    return 80;
}

// Tabs and carriage returns would break the columns.
static void flatten(char *s) {
    for (; *s; s++)
        if (*s == '\t' || *s == '\r') *s = ' ';
}

static void put_padded(const char *s, size_t len, int cols, int w) {
    fwrite(s, 1, len, stdout);
    for (int i = cols; i < w; i++) putchar(' ');
}

static int print_columns(char **labels, char **answers, int k, int width) {
    int w = (width - (int)strlen(SEP) * (k - 1)) / k;
    line **lines = calloc((size_t)k, sizeof *lines);
    int *n = calloc((size_t)k, sizeof *n), rows = 0, rc = CLI_OK;
    if (!lines || !n) { rc = cli_error(CLI_ERR, "out of memory"); goto done; }
    for (int i = 0; i < k; i++) {
        if ((n[i] = wrap(answers[i], w, &lines[i])) < 0) { rc = cli_error(CLI_ERR, "out of memory"); goto done; }
        if (n[i] > rows) rows = n[i];
    }
    for (int i = 0; i < k; i++) {
        line *l = NULL;
        int nl = wrap(labels[i], w, &l);
        put_padded(labels[i], nl > 0 ? l[0].len : 0, nl > 0 ? l[0].cols : 0, i + 1 < k ? w : 0);
        free(l);
        if (i + 1 < k) fputs(SEP, stdout);
    }
    putchar('\n');
    for (int i = 0; i < k; i++) {
        for (int c = 0; c < w; c++) putchar('-');
        if (i + 1 < k) fputs("-+-", stdout);
    }
    putchar('\n');
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < k; i++) {
            const line *l = r < n[i] ? &lines[i][r] : NULL;
            put_padded(l ? l->p : "", l ? l->len : 0, l ? l->cols : 0, i + 1 < k ? w : 0);
            if (i + 1 < k) fputs(SEP, stdout);
        }
        putchar('\n');
    }
done:
    for (int i = 0; lines && i < k; i++) free(lines[i]);
    free(lines);
    free(n);
    return rc;
}

static void print_sequential(char **labels, char **answers, int k) {
    for (int i = 0; i < k; i++) {
        printf("%s== %s ==\n%s\n", i ? "\n" : "", labels[i], answers[i]);
    }
}

// ---------------------------------------------------------------------------

int cmd_compare(int argc, char **argv) {
    cli_common c;
    cli_common_defaults(&c);
    const char *prompt = NULL, *adapter_flag = NULL;
    float scale = 1.0f;
    int width = 0;
    cli_opt opts[] = {
        {"prompt", 'p', OPT_STR, &prompt, "TEXT", "the prompt every model answers", 0, 0},
        {"adapter", 0, OPT_STR, &adapter_flag, "DIR", "a LoRA adapter folder; repeat for several", 0, 0},
        {"scale", 0, OPT_FLOAT, &scale, "S", "adapter strength on top of alpha/r (default 1)", -100, 100},
        {"max-tokens", 'n', OPT_INT, &c.max_tokens, "N", "most tokens per answer (default 256)", 1, 1 << 24},
        CLI_OPTS_SAMPLING(&c),
        CLI_OPTS_CHAT(&c),
        CLI_OPTS_MODEL(&c),
        CLI_OPTS_CTX(&c),
        {"width", 0, OPT_INT, &width, "N", "page width for the columns (default: the terminal's, else $COLUMNS, else 80)", 0, 1 << 16},
    };
    cli_command_spec spec = {"compare", "-p PROMPT --adapter DIR [--adapter DIR ...] [options]",
                             "The base model and each adapter answer the same prompt with the same seed, side by side.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc, n_dirs = 0;
    const char **dirs = NULL;
    rc = cli_parse_adapters(&spec, argc, argv, pos, 0, &n_pos, &help, &adapter_flag, &dirs, &n_dirs);
    if (!dirs) return rc;
    if (rc == CLI_OK && help) cli_print_help(&spec);
    else if (rc == CLI_OK && !prompt)
        rc = cli_error(CLI_USAGE, "compare needs a prompt: -p TEXT (see %s compare --help)", cli_progname());
    else if (rc == CLI_OK && n_dirs == 0)
        rc = cli_error(CLI_USAGE, "compare needs at least one --adapter DIR to set beside the base model");
    else if (rc == CLI_OK && !*prompt)
        rc = cli_error(CLI_USAGE, "the prompt is empty");
    else if (rc == CLI_OK && cli_utf8_invalid_at(prompt, strlen(prompt)))
        rc = cli_error(CLI_ERR, "the prompt is not valid UTF-8; convert it to UTF-8");
    if (rc != CLI_OK || help) {
        free(dirs);
        return rc;
    }

    cli_engine e;
    pt_chat_template *tmpl = NULL;
    pt_adapter *adapters = NULL;
    char *default_system = NULL, *text = NULL;
    int32_t *ids = NULL;
    int n_ids = 0, k = n_dirs + 1;
    char **answers = calloc((size_t)k, sizeof *answers), **labels = calloc((size_t)k, sizeof *labels);
    memset(&e, 0, sizeof e);
    if (!answers || !labels) { rc = cli_error(CLI_ERR, "out of memory"); goto done; }
    if ((rc = cli_engine_open(&e, &c, 0)) != CLI_OK) goto done;
    if ((rc = cli_template_open(&tmpl, &default_system, &e.model, c.template_name)) != CLI_OK) goto done;
    if ((rc = cli_adapters_load(&e.model, dirs, n_dirs, template_name(tmpl), &adapters)) != CLI_OK) goto done;
    {
        pt_msg msgs[2];
        int n = 0;
        pt_err err = {0};
        if (c.system) msgs[n++] = (pt_msg){"system", c.system};
        msgs[n++] = (pt_msg){"user", prompt};
        if (!(text = template_render(tmpl, msgs, n, 1, default_system, &err))) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
    }
    if ((rc = cli_tokenize(&e.model, text, 0, 1, &ids, &n_ids)) != CLI_OK) goto done;
    if (n_ids >= e.n_ctx) {
        rc = cli_error(CLI_ERR, "the prompt is %d tokens but the context holds %d (shorten it or raise --ctx)", n_ids, e.n_ctx);
        goto done;
    }

    cli_sigint_install();
    pt_gen_params gp;
    memset(&gp, 0, sizeof gp);
    gp.max_new_tokens = c.max_tokens;
    gp.sampling = c.sampling;   // the same seed for every answer
    gp.n_stops = template_stops(tmpl, &gp.stops);
    gp.abort_flag = cli_abort_flag();
    for (int v = 0; v < k; v++) {
        pt_err err = {0};
        const pt_adapter *a = v ? &adapters[v - 1] : NULL;
        char label[200];
        if (!a) snprintf(label, sizeof label, "base");
        else if (scale != 1.0f) snprintf(label, sizeof label, "%s (scale %g)", a->name, scale);
        else snprintf(label, sizeof label, "%s", a->name);
        if (!(labels[v] = strdup(label))) { rc = cli_error(CLI_ERR, "out of memory"); goto done; }
        if (runtime_set_adapter(&e.rt, a, scale, &err) != PT_OK) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
        session_reset(&e.sess);
        pt_gen_result res;
        memset(&res, 0, sizeof res);
        if (generate(&e.sess, ids, n_ids, &gp, &res, &answers[v], &err) != PT_OK) {
            rc = cli_error(CLI_ERR, "%s: %s", label, err.msg[0] ? err.msg : "generation failed");
            goto done;
        }
        if (!answers[v] && !(answers[v] = strdup(""))) { rc = cli_error(CLI_ERR, "out of memory"); goto done; }
        if (res.stop == PT_STOP_ABORT) { rc = cli_error(130, "interrupted"); goto done; }
        size_t len = strlen(answers[v]); // trailing blank lines only cost rows
        while (len && (answers[v][len - 1] == '\n' || answers[v][len - 1] == ' ')) answers[v][--len] = '\0';
        flatten(answers[v]);
    }

    int w = terminal_width(width);
    printf("> %s\n\n", prompt);
    if (w >= MIN_COL * k) rc = print_columns(labels, answers, k, w);
    else print_sequential(labels, answers, k);
    fflush(stdout);
done:
    for (int i = 0; i < k; i++) {
        if (answers) free(answers[i]);
        if (labels) free(labels[i]);
    }
    free(answers);
    free(labels);
    free(ids);
    free(text);
    free(default_system);
    template_free(tmpl);
    cli_engine_close(&e);
    cli_adapters_free(adapters, n_dirs);
    free(dirs);
    return rc;
}

// cmd_compare.c - `peftui compare -p PROMPT --adapter DIR ...`: the base
// model and each adapter answer the same prompt with the same sampling seed
// (the workspace's compare: one batched forward per step for every column),
// shown side by side when the terminal is wide enough (40 columns each),
// else one after another under headers; --scores adds each answer's mean
// log-probability under every column's model and where the answers part.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"


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

// The answers' mean log-probability per token under each column's model,
// and the first token where they differ.
static void print_scores(const pt_compare_result *r) {
    int K = r->n_columns;
    printf("\nmean log-probability per token (rows: the answer; columns: the model scoring it):\n%-24s", "");
    for (int k = 0; k < K; k++) printf(" %14.14s", r->col[k].label);
    printf("\n");
    for (int j = 0; j < K; j++) {
        const pt_compare_column *c = &r->col[j];
        printf("%-24.24s", c->label);
        for (int k = 0; k < K; k++) {
            double sum = 0;
            for (int t = 0; c->logprobs && t < c->n_tokens; t++) sum += c->logprobs[(size_t)t * K + k];
            if (c->logprobs && c->n_tokens) printf(" %14.3f", sum / c->n_tokens);
            else printf(" %14s", "-");
        }
        printf("\n");
    }
    if (r->first_diff < 0) printf("the answers are the same, token for token\n");
    else printf("the answers part at token %d\n", r->first_diff);
}

int cmd_compare(int argc, char **argv) {
    cli_common c;
    cli_common_defaults(&c);
    const char *prompt = NULL, *adapter_flag = NULL;
    float scale = 1.0f;
    int width = 0, sequential = 0, scores = 0;
    cli_opt opts[] = {
        {"prompt", 'p', OPT_STR, &prompt, "TEXT", "the prompt every model answers", 0, 0},
        {"adapter", 0, OPT_STR, &adapter_flag, "DIR", "a LoRA adapter folder (or GGUF LoRA); repeat for several", 0, 0},
        {"scale", 0, OPT_FLOAT, &scale, "S", "adapter strength on top of alpha/r (default 1)", -100, 100},
        {"max-tokens", 'n', OPT_INT, &c.max_tokens, "N", "most tokens per answer (default 256)", 1, 1 << 24},
        CLI_OPTS_SAMPLING(&c),
        CLI_OPTS_CHAT(&c),
        CLI_OPTS_MODEL(&c),
        {"width", 0, OPT_INT, &width, "N", "page width for the columns (default: the terminal's, else $COLUMNS, else 80)", 0, 1 << 16},
        {"scores", 0, OPT_FLAG, &scores, NULL, "score every answer under every column's model (teacher forcing)", 0, 0},
        {"sequential", 0, OPT_FLAG, &sequential, NULL, "run the columns one after another, not batched (the reference)", 0, 0},
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
    else if (rc == CLI_OK && n_dirs + 1 > PT_COMPARE_MAX)
        rc = cli_error(CLI_USAGE, "compare takes at most %d adapters beside the base", PT_COMPARE_MAX - 1);
    else if (rc == CLI_OK && !*prompt)
        rc = cli_error(CLI_USAGE, "the prompt is empty");
    else if (rc == CLI_OK && pt_utf8_invalid_at(prompt, strlen(prompt)))
        rc = cli_error(CLI_ERR, "the prompt is not valid UTF-8; convert it to UTF-8");
    if (rc != CLI_OK || help) {
        free(dirs);
        return rc;
    }

    pt_ws *ws = NULL;
    int ids[PT_COMPARE_MAX], cmp = 0, k = n_dirs + 1;
    char **answers = NULL, **labels = NULL;
    pt_err err = {0};
    if ((rc = cli_ws_open(&ws, &c)) != CLI_OK) goto done;
    if ((rc = cli_adapters_load(ws, dirs, n_dirs, ids)) != CLI_OK) goto done;
    pt_compare_opts co;
    pt_compare_opts_default(&co);
    co.prompt = prompt;
    co.system = c.system;
    co.template_name = c.template_name;
    co.sampling = c.sampling;   // the same seed for every answer
    co.max_tokens = c.max_tokens;
    co.n_columns = k;
    co.columns[0] = (pt_column){PT_BASE, 1.0f};
    for (int i = 0; i < n_dirs; i++) co.columns[i + 1] = (pt_column){ids[i], scale};
    co.sequential = sequential;
    co.score = scores;
    char warn[512];
    if (pt_compare_start(ws, &co, &cmp, warn, sizeof warn, &err) != PT_OK) {
        rc = cli_error(c.template_name && err.code == PT_ERR_IO ? CLI_USAGE : CLI_ERR, "%s", err.msg);
        goto done;
    }
    for (int i = 0; warn[0] && i < n_dirs; i++) {   // once per adapter trained with another template
        pt_adapter_info ai;
        pt_ws_adapter_info(ws, ids[i], &ai);
        pt_model_info mi;
        pt_ws_model_info(ws, &mi, &err);
        const char *used = c.template_name ? c.template_name : mi.template_name;
        if (ai.template_name[0] && strcmp(ai.template_name, used))
            cli_error(0, "warning: adapter %s was trained with the %s chat template, this run uses %s (--template %s)", ai.name,
                      ai.template_name, used, ai.template_name);
    }
    cli_sigint_install();
    int interrupted = 0;
    for (;;) {
        if (*cli_abort_flag() && !interrupted) {
            pt_compare_cancel(ws, cmp);
            interrupted = 1;
        }
        pt_ws_wait_event(ws, 100);
        pt_event ev[64];
        int n = pt_ws_events(ws, ev, 64), ended = 0;
        for (int i = 0; i < n; i++) {
            if (ev[i].kind == PT_EV_WARNING) cli_error(0, "warning: %s", ev[i].text);
            if (ev[i].kind == PT_EV_COMPARE && ev[i].src == cmp) ended = 1;
        }
        if (ended) break;
    }
    pt_compare_result r;
    pt_compare_get(ws, cmp, &r);
    if (r.status) {
        rc = cli_error(CLI_ERR, "%s", pt_ws_wait(ws, cmp, &err) ? err.msg : "compare failed");
        goto done;
    }
    if (interrupted) { rc = cli_error(130, "interrupted"); goto done; }
    answers = calloc((size_t)k, sizeof *answers);
    labels = calloc((size_t)k, sizeof *labels);
    if (!answers || !labels) { rc = cli_error(CLI_ERR, "out of memory"); goto done; }
    for (int v = 0; v < k; v++) {
        if (!(answers[v] = strdup(r.col[v].text)) || !(labels[v] = strdup(r.col[v].label))) {
            rc = cli_error(CLI_ERR, "out of memory");
            goto done;
        }
        size_t len = strlen(answers[v]); // trailing blank lines only cost rows
        while (len && (answers[v][len - 1] == '\n' || answers[v][len - 1] == ' ')) answers[v][--len] = '\0';
        flatten(answers[v]);
    }
    int w = terminal_width(width);
    printf("> %s\n\n", prompt);
    if (w >= MIN_COL * k) rc = print_columns(labels, answers, k, w);
    else print_sequential(labels, answers, k);
    if (scores) print_scores(&r);
    fflush(stdout);
done:
    for (int i = 0; i < k; i++) {
        if (answers) free(answers[i]);
        if (labels) free(labels[i]);
    }
    free(answers);
    free(labels);
    if (cmp) pt_compare_close(ws, cmp);
    pt_ws_destroy(ws);
    free(dirs);
    return rc;
}

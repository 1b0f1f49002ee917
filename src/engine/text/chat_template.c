// chat_template.c - chat templates read from prompts/*.tmpl and rendered into
// the exact prompt text a model was trained on. A template is a handful of
// literal strings (prefix and suffix per role, a conversation start, the
// generation prompt, stop strings) plus two switches: whether the system
// message is its own turn or folded into the first user message (Llama-2,
// Mistral), and whether message contents are stripped. prompts/README.md
// describes the file format.
#include "text/chat_template.h"

#include <errno.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT, N_ROLES };
static const char *const ROLE_NAMES[N_ROLES] = {"system", "user", "assistant"};

#define MAX_STOPS 8

struct pt_chat_template {
    char name[64];
    char *begin;               // once, at the start of every conversation
    char *prefix[N_ROLES];     // around each message of a role
    char *suffix[N_ROLES];
    char *generation;          // appended when asked for a generation prompt (NULL: assistant prefix)
    char *default_system;      // NULL: none
    int fold_system;           // system text goes inside the first user message
    int trim;                  // strip whitespace around each message's content
    char *stops[MAX_STOPS];
    int n_stops;
};

// ---------------------------------------------------------------------------
// growing string

typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t len) {
    if (b->oom) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->n + len + 1 > cap) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { if (s) sb_add(b, s, strlen(s)); }

// ---------------------------------------------------------------------------
// where templates live

const char *template_dir(void) {
    static char dir[PATH_MAX];
    struct stat st;
    const char *env = getenv("PEFTUI_PROMPTS");
    if (env && *env) {
        snprintf(dir, sizeof dir, "%s", env);
        return dir;
    }
#ifdef PEFTUI_PROMPTS_DIR
    if (stat(PEFTUI_PROMPTS_DIR, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(dir, sizeof dir, "%s", PEFTUI_PROMPTS_DIR);
        return dir;
    }
#endif
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        snprintf(dir, sizeof dir, "%.*s/../share/peftui/prompts", (int)(sizeof dir - 32), exe);
        return dir;
    }
    snprintf(dir, sizeof dir, "prompts");
    return dir;
}

// ---------------------------------------------------------------------------
// the .tmpl parser

void template_free(pt_chat_template *t) {
    if (!t) return;
    free(t->begin);
    for (int r = 0; r < N_ROLES; r++) {
        free(t->prefix[r]);
        free(t->suffix[r]);
    }
    free(t->generation);
    free(t->default_system);
    for (int i = 0; i < t->n_stops; i++) free(t->stops[i]);
    free(t);
}

// Parses a double-quoted string at *s with \n \t \r \\ \" \xNN escapes; the
// result (malloc'd) may not contain NUL. Returns NULL with *why set on error.
static char *parse_quoted(const char **s, const char **why) {
    const char *p = *s;
    sbuf b = {0};
    if (*p != '"') { *why = "expected a double-quoted string"; return NULL; }
    p++;
    sb_add(&b, "", 0);
    for (;;) {
        char c = *p++;
        if (c == '\0' || c == '\n') { *why = "unterminated string"; goto fail; }
        if (c == '"') break;
        if (c != '\\') { sb_add(&b, &c, 1); continue; }
        c = *p++;
        switch (c) {
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case 'r': c = '\r'; break;
        case '\\': case '"': break;
        case 'x': {
            int v = 0;
            for (int i = 0; i < 2; i++, p++) {
                int d = (*p >= '0' && *p <= '9') ? *p - '0'
                      : (*p >= 'a' && *p <= 'f') ? *p - 'a' + 10
                      : (*p >= 'A' && *p <= 'F') ? *p - 'A' + 10 : -1;
                if (d < 0) { *why = "\\x needs two hex digits"; goto fail; }
                v = v * 16 + d;
            }
            if (v == 0) { *why = "\\x00 is not allowed"; goto fail; }
            c = (char)v;
            break;
        }
        default: *why = "unknown escape (use \\n \\t \\r \\\\ \\\" \\xNN)"; goto fail;
        }
        sb_add(&b, &c, 1);
    }
    if (b.oom) { *why = "out of memory"; goto fail; }
    *s = p;
    return b.p;
fail:
    free(b.p);
    return NULL;
}

static int parse_bool(const char *v, int *out) {
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) { *out = 1; return 0; }
    if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) { *out = 0; return 0; }
    return -1;
}

// One "key = value" line (comments and blank lines already skipped).
static int parse_line(pt_chat_template *t, char *line, const char **why) {
    char *eq = strchr(line, '=');
    if (!eq) { *why = "expected key = value"; return -1; }
    char *kend = eq;
    while (kend > line && (kend[-1] == ' ' || kend[-1] == '\t')) kend--;
    *kend = '\0';
    const char *key = line;
    const char *v = eq + 1;
    while (*v == ' ' || *v == '\t') v++;

    // bare-word values
    if (!strcmp(key, "system") || !strcmp(key, "trim")) {
        char word[32];
        size_t n = strcspn(v, " \t#");
        if (n == 0 || n >= sizeof word) { *why = "expected a word"; return -1; }
        memcpy(word, v, n);
        word[n] = '\0';
        const char *rest = v + n + strspn(v + n, " \t");
        if (*rest && *rest != '#') { *why = "unexpected text after the value"; return -1; }
        if (!strcmp(key, "system")) {
            if (!strcmp(word, "turn")) t->fold_system = 0;
            else if (!strcmp(word, "fold")) t->fold_system = 1;
            else { *why = "system must be turn or fold"; return -1; }
        } else if (parse_bool(word, &t->trim)) {
            *why = "trim must be yes or no";
            return -1;
        }
        return 0;
    }

    char *val = parse_quoted(&v, why);
    if (!val) return -1;
    v += strspn(v, " \t");
    if (*v && *v != '#') { free(val); *why = "unexpected text after the string"; return -1; }

    char **slot = NULL;
    if (!strcmp(key, "name")) {
        snprintf(t->name, sizeof t->name, "%s", val);
        free(val);
        return 0;
    } else if (!strcmp(key, "begin")) slot = &t->begin;
    else if (!strcmp(key, "generation")) slot = &t->generation;
    else if (!strcmp(key, "default_system")) slot = &t->default_system;
    else if (!strcmp(key, "stop")) {
        if (t->n_stops == MAX_STOPS) { free(val); *why = "too many stop strings"; return -1; }
        if (!*val) { free(val); *why = "empty stop string"; return -1; }
        t->stops[t->n_stops++] = val;
        return 0;
    } else {
        for (int r = 0; r < N_ROLES && !slot; r++) {
            size_t rl = strlen(ROLE_NAMES[r]);
            if (strncmp(key, ROLE_NAMES[r], rl) || key[rl] != '.') continue;
            if (!strcmp(key + rl + 1, "prefix")) slot = &t->prefix[r];
            else if (!strcmp(key + rl + 1, "suffix")) slot = &t->suffix[r];
        }
    }
    if (!slot) { free(val); *why = "unknown key"; return -1; }
    free(*slot);
    *slot = val;
    return 0;
}

static int valid_name(const char *name) {
    if (!*name) return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return 0;
    return 1;
}

// "chatml, llama2, ..." from the template dir, for error hints.
static void list_templates(char *out, size_t cap) {
    out[0] = '\0';
    DIR *d = opendir(template_dir());
    if (!d) return;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l <= 5 || strcmp(e->d_name + l - 5, ".tmpl")) continue;
        int w = snprintf(out + n, cap - n, "%s%.*s", n ? ", " : "", (int)(l - 5), e->d_name);
        if (w < 0 || (size_t)w >= cap - n) break;
        n += (size_t)w;
    }
    closedir(d);
}

int template_load(pt_chat_template **out, const char *name, pt_err *err) {
    *out = NULL;
    char path[PATH_MAX];
    FILE *f = NULL;
    char *line = NULL;
    size_t lcap = 0;
    int rc = PT_OK, lineno = 0;
    pt_chat_template *t = NULL;
    size_t nl = name ? strlen(name) : 0;
    int is_path = name && (strchr(name, '/') || (nl > 5 && !strcmp(name + nl - 5, ".tmpl")));

    if (!name || !*name) return pt_fail(err, PT_ERR_ARG, "empty template name");
    if (is_path) {
        snprintf(path, sizeof path, "%s", name);
    } else {
        if (!valid_name(name))
            return pt_fail(err, PT_ERR_ARG, "bad template name '%s' (a name such as chatml, or a path to a .tmpl file)", name);
        snprintf(path, sizeof path, "%s/%s.tmpl", template_dir(), name);
    }
    f = fopen(path, "r");
    if (!f) {
        if (is_path) return pt_fail(err, PT_ERR_IO, "%s: cannot open template: %s", path, strerror(errno));
        char avail[256];
        list_templates(avail, sizeof avail);
        return pt_fail(err, PT_ERR_IO, "unknown chat template '%s' (%s not found; available: %s)", name, path,
                       avail[0] ? avail : "none - set PEFTUI_PROMPTS to the prompts folder");
    }
    t = calloc(1, sizeof *t);
    if (!t) { rc = pt_fail(err, PT_ERR_NOMEM, "out of memory"); goto fail; }
    {   // default name: the file name without .tmpl
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t bl = strlen(base);
        if (bl > 5 && !strcmp(base + bl - 5, ".tmpl")) bl -= 5;
        snprintf(t->name, sizeof t->name, "%.*s", (int)bl, base);
    }
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        char *s = line + strspn(line, " \t");
        if (*s == '\0' || *s == '#') continue;
        const char *why = NULL;
        if (parse_line(t, s, &why)) {
            rc = pt_fail(err, PT_ERR_FORMAT, "%s:%d: %s", path, lineno, why);
            goto fail;
        }
    }
    if (ferror(f)) { rc = pt_fail(err, PT_ERR_IO, "%s: read error", path); goto fail; }
    for (int r = 0; r < N_ROLES; r++) {
        if (!t->prefix[r] && !(t->prefix[r] = strdup(""))) goto oom;
        if (!t->suffix[r] && !(t->suffix[r] = strdup(""))) goto oom;
    }
    if (!t->begin && !(t->begin = strdup(""))) goto oom;
    if (!t->generation && !(t->generation = strdup(t->prefix[ROLE_ASSISTANT]))) goto oom;
    free(line);
    fclose(f);
    *out = t;
    return PT_OK;
oom:
    rc = pt_fail(err, PT_ERR_NOMEM, "out of memory");
fail:
    free(line);
    if (f) fclose(f);
    template_free(t);
    return rc;
}

const char *template_name(const pt_chat_template *t) { return t->name; }

int template_stops(const pt_chat_template *t, const char *const **stops) {
    *stops = (const char *const *)t->stops;
    return t->n_stops;
}

static int role_index(const char *role) {
    for (int r = 0; r < N_ROLES; r++)
        if (role && !strcmp(role, ROLE_NAMES[r])) return r;
    return -1;
}

int template_role_parts(const pt_chat_template *t, const char *role, const char **prefix, const char **suffix) {
    int r = role_index(role);
    if (r < 0) return PT_ERR_ARG;
    if (prefix) *prefix = t->prefix[r];
    if (suffix) *suffix = t->suffix[r];
    return PT_OK;
}

// ---------------------------------------------------------------------------
// rendering

// Python's str.strip() whitespace, ASCII part (Jinja's trim is the same).
static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

// Appends s[0..len), stripped when trim; reports where the kept text went.
static void add_content(sbuf *b, const char *s, size_t len, int trim, size_t *c0, size_t *c1) {
    if (trim) {
        while (len && is_space((unsigned char)*s)) { s++; len--; }
        while (len && is_space((unsigned char)s[len - 1])) len--;
    }
    *c0 = b->n;
    sb_add(b, s, len);
    *c1 = b->n;
}

// A folded system block (Llama-2's <<SYS>>) and where its text sits in it.
typedef struct {
    sbuf text;
    size_t c0, c1;   // the system content inside text
    int msg;         // index of the system message, -1 for a default one
} fold_block;

// Appends one user turn whose content is the pending system block followed by
// user (may be NULL), the two stripped together as Llama-2's template does.
// Sets *c0/*c1 to the user part and fills the system message's span.
static void emit_folded(sbuf *b, const pt_chat_template *t, fold_block *f, const char *user,
                        size_t *c0, size_t *c1, pt_msg_span *spans) {
    size_t start = b->n, user_off = f->text.n, lead = 0, k0, k1;
    if (user) sb_str(&f->text, user);
    if (t->trim)
        while (lead < f->text.n && is_space((unsigned char)f->text.p[lead])) lead++;
    sb_str(b, t->prefix[ROLE_USER]);
    add_content(b, f->text.p ? f->text.p : "", f->text.n, t->trim, &k0, &k1);
    // an offset in the block lands at k0 + (off - lead), clamped into [k0, k1]
#define FOLD_AT(off) (k0 + ((off) > lead ? ((off) - lead < k1 - k0 ? (off) - lead : k1 - k0) : 0))
    size_t s0 = FOLD_AT(f->c0), s1 = FOLD_AT(f->c1);
    *c0 = FOLD_AT(user_off);
    *c1 = k1;
#undef FOLD_AT
    sb_str(b, t->suffix[ROLE_USER]);
    if (spans && f->msg >= 0) spans[f->msg] = (pt_msg_span){start, s0, s1, b->n};
    if (f->text.oom) b->oom = 1;
    free(f->text.p);
    f->text = (sbuf){0};
}

char *template_render_spans(const pt_chat_template *t, const pt_msg *msgs, int n, int add_generation,
                            const char *default_system, pt_msg_span *spans, pt_err *err) {
    sbuf b = {0};
    fold_block fold = {.msg = -1};
    int pending = 0;              // a folded system block waits for the first user message

    for (int i = 0; i < n; i++) {
        if (role_index(msgs[i].role) < 0) {
            pt_fail(err, PT_ERR_ARG, "unknown chat role '%s' (expected system, user or assistant)",
                    msgs[i].role ? msgs[i].role : "(null)");
            return NULL;
        }
        if (!msgs[i].content) { pt_fail(err, PT_ERR_ARG, "message %d has no content", i); return NULL; }
    }
    sb_add(&b, "", 0);
    sb_str(&b, t->begin);

    int first = 0, sys_msg = -1;
    const char *sys = NULL;
    if (n > 0 && !strcmp(msgs[0].role, "system")) {
        first = 1;
        sys = msgs[0].content;
        sys_msg = 0;
    } else {
        sys = default_system ? default_system : t->default_system;
        if (sys && !*sys && default_system) sys = NULL; // "" from the caller: no system message
    }
    if (sys && t->fold_system) {
        sb_str(&fold.text, t->prefix[ROLE_SYSTEM]);
        fold.c0 = fold.text.n;
        sb_str(&fold.text, sys);
        fold.c1 = fold.text.n;
        sb_str(&fold.text, t->suffix[ROLE_SYSTEM]);
        fold.msg = sys_msg;
        pending = 1;
    } else if (sys) {
        size_t start = b.n, c0, c1;
        sb_str(&b, t->prefix[ROLE_SYSTEM]);
        add_content(&b, sys, strlen(sys), t->trim, &c0, &c1);
        sb_str(&b, t->suffix[ROLE_SYSTEM]);
        if (spans && sys_msg == 0) spans[0] = (pt_msg_span){start, c0, c1, b.n};
    }

    for (int i = first; i < n; i++) {
        int r = role_index(msgs[i].role);
        size_t start = b.n, c0, c1;
        if (pending && r == ROLE_USER) {
            pending = 0;
            emit_folded(&b, t, &fold, msgs[i].content, &c0, &c1, spans);
        } else {
            if (pending) { // nothing to fold into: the block becomes a user turn of its own
                pending = 0;
                emit_folded(&b, t, &fold, NULL, &c0, &c1, spans);
                start = b.n;
            }
            sb_str(&b, t->prefix[r]);
            add_content(&b, msgs[i].content, strlen(msgs[i].content), t->trim, &c0, &c1);
            sb_str(&b, t->suffix[r]);
        }
        if (spans) spans[i] = (pt_msg_span){start, c0, c1, b.n};
    }
    if (pending) { // only a system message: it still has to appear
        size_t c0, c1;
        emit_folded(&b, t, &fold, NULL, &c0, &c1, spans);
    }
    if (add_generation) sb_str(&b, t->generation);
    if (b.oom) {
        free(b.p);
        pt_fail(err, PT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return b.p;
}

char *template_render(const pt_chat_template *t, const pt_msg *msgs, int n, int add_generation,
                      const char *default_system, pt_err *err) {
    return template_render_spans(t, msgs, n, add_generation, default_system, NULL, err);
}

// ---------------------------------------------------------------------------
// reading a model's Jinja template

const char *template_guess(const char *jinja) {
    if (!jinja || !*jinja) return "plain";
    if (strstr(jinja, "<|im_start|>")) return "chatml";
    if (strstr(jinja, "<|start_header_id|>")) return "llama3";
    if (strstr(jinja, "[INST]")) return strstr(jinja, "<<SYS>>") ? "llama2" : "mistral";
    if (strstr(jinja, "### Instruction")) return "alpaca";
    return "plain";
}

// Copies a Jinja string literal's text s[0..len), undoing \n \t \' \" \\.
static char *unescape_literal(const char *s, size_t len) {
    char *out = malloc(len + 1);
    if (!out) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '\\' && i + 1 < len) {
            char e = s[++i];
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
        }
        out[k++] = c;
    }
    out[k] = '\0';
    return out;
}

// Text with no Jinja in it: no quotes, braces or '+' (it is inside one literal).
static int plain_literal(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (strchr("'\"{}+", s[i])) return 0;
    return len > 0;
}

char *template_jinja_default_system(const char *jinja) {
    if (!jinja) return NULL;
    // ChatML: '<|im_start|>system\nLITERAL<|im_end|>' in one string literal
    static const char open[] = "<|im_start|>system";
    for (const char *p = strstr(jinja, open); p; p = strstr(p + 1, open)) {
        const char *s = p + sizeof open - 1;
        if (*s == '\n') s += 1;
        else if (s[0] == '\\' && s[1] == 'n') s += 2;
        else continue;
        const char *e = strstr(s, "<|im_end|>");
        if (e && plain_literal(s, (size_t)(e - s))) return unescape_literal(s, (size_t)(e - s));
    }
    // Llama-2 style: {% set system_message = 'LITERAL' %}
    static const char set[] = "system_message = ";
    for (const char *p = strstr(jinja, set); p; p = strstr(p + 1, set)) {
        const char *s = p + sizeof set - 1;
        char q = *s;
        if (q != '\'' && q != '"') continue;
        s++;
        const char *e = s;
        while (*e && *e != q) e += (*e == '\\' && e[1]) ? 2 : 1;
        if (*e != q) continue;
        const char *after = e + 1;
        while (*after == ' ') after++;
        if (after[0] == '%' && after[1] == '}' && e > s) return unescape_literal(s, (size_t)(e - s));
    }
    return NULL;
}

// args.c - the option parser shared by every subcommand: one table per
// subcommand gives the flags, their types, ranges and help lines, and the
// --help text is printed from the same table.
#include "cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *cli_progname(void) { return "peftui"; }

int cli_error(int code, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) // one line, whatever the engine put in it
        if (*p == '\n' || *p == '\r') *p = ' ';
    fflush(stdout);
    fprintf(stderr, "%s: %s\n", cli_progname(), msg);
    return code;
}

static void fmt_num(char *buf, size_t cap, double v) {
    if (v == floor(v) && fabs(v) < 1e15) snprintf(buf, cap, "%.0f", v);
    else snprintf(buf, cap, "%g", v);
}

int cli_parse_value(const cli_opt *o, const char *text, char *why, size_t why_cap) {
    char *end = NULL;
    char lo[32], hi[32];
    fmt_num(lo, sizeof lo, o->min);
    fmt_num(hi, sizeof hi, o->max);
    errno = 0;
    switch (o->kind) {
    case OPT_FLAG:
        *(int *)o->dst = 1;
        return 0;
    case OPT_STR:
        *(const char **)o->dst = text;
        return 0;
    case OPT_INT: {
        long v = strtol(text, &end, 10);
        if (end == text || *end || errno == ERANGE) {
            snprintf(why, why_cap, "expected a whole number, got '%s'", text);
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(why, why_cap, "must be between %s and %s, got %ld", lo, hi, v);
            return -1;
        }
        *(int *)o->dst = (int)v;
        return 0;
    }
    case OPT_FLOAT: {
        double v = strtod(text, &end);
        if (end == text || *end || !isfinite(v)) {
            snprintf(why, why_cap, "expected a number, got '%s'", text);
            return -1;
        }
        if (v < o->min || v > o->max) {
            snprintf(why, why_cap, "must be between %s and %s, got %s", lo, hi, text);
            return -1;
        }
        *(float *)o->dst = (float)v;
        return 0;
    }
    case OPT_U64: {
        if (text[0] == '-') {
            snprintf(why, why_cap, "expected a non-negative whole number, got '%s'", text);
            return -1;
        }
        unsigned long long v = strtoull(text, &end, 10);
        if (end == text || *end || errno == ERANGE) {
            snprintf(why, why_cap, "expected a non-negative whole number, got '%s'", text);
            return -1;
        }
        *(uint64_t *)o->dst = (uint64_t)v;
        return 0;
    }
    }
    snprintf(why, why_cap, "internal error: bad option kind");
    return -1;
}

static const cli_opt *find_long(const cli_command_spec *spec, const char *name, size_t len) {
    for (int i = 0; i < spec->n_opts; i++)
        if (strlen(spec->opts[i].name) == len && !strncmp(spec->opts[i].name, name, len)) return &spec->opts[i];
    return NULL;
}

static const cli_opt *find_short(const cli_command_spec *spec, char c) {
    for (int i = 0; i < spec->n_opts; i++)
        if (spec->opts[i].short_name && spec->opts[i].short_name == c) return &spec->opts[i];
    return NULL;
}

// "--temp" or "-m" as the user would write it.
static void opt_label(const cli_opt *o, int as_short, char *buf, size_t cap) {
    if (as_short) snprintf(buf, cap, "-%c", o->short_name);
    else snprintf(buf, cap, "--%s", o->name);
}

// A value that is itself one of our options means the real value is missing.
static int looks_like_option(const cli_command_spec *spec, const char *s) {
    if (s[0] != '-' || s[1] == '\0') return 0;
    if (s[1] == '-') {
        size_t len = strcspn(s + 2, "=");
        return find_long(spec, s + 2, len) != NULL || !strcmp(s, "--help");
    }
    return s[2] == '\0' && (find_short(spec, s[1]) != NULL || s[1] == 'h');
}

int cli_parse(const cli_command_spec *spec, int argc, char **argv,
              char **pos, int pos_cap, int *n_pos, int *help) {
    *n_pos = 0;
    *help = 0;
    int only_pos = 0;
    char label[64], why[256];
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (*n_pos >= pos_cap)
                return cli_error(CLI_USAGE, "%s: unexpected argument '%s' (see %s %s --help)",
                                 spec->name, a, cli_progname(), spec->name);
            pos[(*n_pos)++] = a;
            continue;
        }
        if (!strcmp(a, "--")) { only_pos = 1; continue; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { *help = 1; return CLI_OK; }

        const cli_opt *o = NULL;
        const char *val = NULL;
        int as_short = a[1] != '-';
        if (!as_short) {
            const char *name = a + 2;
            size_t len = strcspn(name, "=");
            o = find_long(spec, name, len);
            if (name[len] == '=') val = name + len + 1;
        } else {
            o = find_short(spec, a[1]);
            if (o && a[2]) val = a + 2; // -n24
        }
        if (!o)
            return cli_error(CLI_USAGE, "unknown option '%s' for %s (see %s %s --help)",
                             a, spec->name, cli_progname(), spec->name);
        opt_label(o, as_short, label, sizeof label);
        if (o->kind == OPT_FLAG) {
            if (val) return cli_error(CLI_USAGE, "%s takes no value (see %s %s --help)", label, cli_progname(), spec->name);
            *(int *)o->dst = 1;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc || looks_like_option(spec, argv[i + 1]))
                return cli_error(CLI_USAGE, "%s needs a value: %s %s (see %s %s --help)", label, label,
                                 o->metavar ? o->metavar : "VALUE", cli_progname(), spec->name);
            val = argv[++i];
        }
        if (cli_parse_value(o, val, why, sizeof why))
            return cli_error(CLI_USAGE, "%s: %s (see %s %s --help)", label, why, cli_progname(), spec->name);
    }
    return CLI_OK;
}

void cli_print_help(const cli_command_spec *spec) {
    printf("usage: %s %s %s\n\n%s\n\noptions:\n", cli_progname(), spec->name, spec->args, spec->summary);
    for (int i = 0; i < spec->n_opts; i++) {
        const cli_opt *o = &spec->opts[i];
        char left[64];
        int n = o->short_name ? snprintf(left, sizeof left, "-%c, --%s", o->short_name, o->name)
                              : snprintf(left, sizeof left, "    --%s", o->name);
        if (o->kind != OPT_FLAG && n > 0 && (size_t)n < sizeof left)
            snprintf(left + n, sizeof left - (size_t)n, " %s", o->metavar ? o->metavar : "VALUE");
        printf("  %-26s %s\n", left, o->help);
    }
    printf("  %-26s %s\n", "-h, --help", "show this help");
}

// cmd_tokenize.c - `peftui tokenize TEXT`: the model's tokenizer applied to
// TEXT exactly as Hugging Face does it (special tokens added and parsed).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

// Writes bytes as a quoted piece: printable UTF-8 as is, control bytes,
// quotes, backslashes and bytes that are not whole UTF-8 characters escaped.
static void print_piece(const char *s, size_t n) {
    putchar('\'');
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') { fputs("\\n", stdout); i++; }
        else if (c == '\t') { fputs("\\t", stdout); i++; }
        else if (c == '\r') { fputs("\\r", stdout); i++; }
        else if (c == '\\' || c == '\'') { printf("\\%c", c); i++; }
        else if (c < 0x20 || c == 0x7f) { printf("\\x%02x", c); i++; }
        else if (c < 0x80) { putchar(c); i++; }
        else {
            size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
            if (len && i + len <= n && !pt_utf8_invalid_at(s + i, len)) {
                fwrite(s + i, 1, len, stdout);
                i += len;
            } else {
                printf("\\x%02x", c); // a piece of a character split across tokens
                i++;
            }
        }
    }
    putchar('\'');
}

int cmd_tokenize(int argc, char **argv) {
    cli_common c;
    cli_common_defaults(&c);
    int ids_only = 0, no_special = 0, no_parse = 0;
    cli_opt opts[] = {
        {"ids", 0, OPT_FLAG, &ids_only, NULL, "print only the ids, on one line", 0, 0},
        {"no-special", 0, OPT_FLAG, &no_special, NULL, "do not add BOS/EOS (Hugging Face add_special_tokens=False)", 0, 0},
        {"no-parse-special", 0, OPT_FLAG, &no_parse, NULL, "treat special-token text such as <|im_start|> as plain text", 0, 0},
        CLI_OPTS_MODEL(&c),
    };
    cli_command_spec spec = {"tokenize", "[options] TEXT...",
                             "Splits TEXT into the model's tokens: one line per token, id<TAB>'piece'.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[256];
    int n_pos, help, rc;
    if ((rc = cli_parse(&spec, argc, argv, pos, 256, &n_pos, &help)) != CLI_OK) return rc;
    if (help) { cli_print_help(&spec); return CLI_OK; }
    if (n_pos == 0) return cli_error(CLI_USAGE, "tokenize needs a TEXT (see peftui tokenize --help)");

    // several words are joined with spaces, as the shell split them
    size_t len = 0;
    for (int i = 0; i < n_pos; i++) len += strlen(pos[i]) + 1;
    char *text = malloc(len + 1);
    if (!text) return cli_error(CLI_ERR, "out of memory");
    text[0] = '\0';
    for (int i = 0; i < n_pos; i++) {
        if (i) strcat(text, " ");
        strcat(text, pos[i]);
    }
    int32_t *ids = NULL;
    int n = 0;
    pt_ws *ws = NULL;
    pt_err err = {0};
    size_t bad = pt_utf8_invalid_at(text, strlen(text));
    if (bad) {
        rc = cli_error(CLI_ERR, "the text is not valid UTF-8 (bad byte at offset %zu); convert it to UTF-8", bad - 1);
        goto done;
    }
    if ((rc = cli_ws_open(&ws, &c)) != CLI_OK) goto done;
    if (pt_ws_tokenize(ws, text, !no_special, !no_parse, &ids, &n, &err) != PT_OK) {
        rc = cli_error(CLI_ERR, "%s", err.msg);
        goto done;
    }
    if (ids_only) {
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
    } else {
        for (int i = 0; i < n; i++) {
            pt_token_info ti;
            printf("%d\t", (int)ids[i]);
            pt_ws_token(ws, ids[i], &ti);
            if (ti.kind == PT_TOKEN_CONTROL) print_piece(ti.piece, strlen(ti.piece));
            else print_piece(ti.bytes, ti.n_bytes < sizeof ti.bytes ? ti.n_bytes : sizeof ti.bytes);
            putchar('\n');
        }
    }
    rc = CLI_OK;
done:
    free(ids);
    free(text);
    pt_ws_destroy(ws);
    return rc;
}

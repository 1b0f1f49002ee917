// test_dataset.c - training data: every format loads (from files written
// here and the shipped sets in datasets/), the loss mask covers exactly the
// answer tokens plus the end of the turn, train_on_prompt, truncation,
// seeded splits, and a clean "path:line: ..." error for each kind of bad row.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/chat_template.h"
#include "check.h"
#include "train/dataset.h"
#include "text/tokenizer.h"

#define TINY_TOK PT_SOURCE_DIR "/tests/data/tiny/llama-hf/tokenizer.json"
#define SMOL_TOK PT_SOURCE_DIR "/tests/data/tokenizer/smollm2/tokenizer.json"
#define SPM_TOK PT_SOURCE_DIR "/tests/data/tokenizer/spm-tiny/tokenizer.json"
#define SHIPPED PT_SOURCE_DIR "/datasets/"

static char g_dir[256];
static const char SYS[] = "You are a test model.";

static const char *write_file(const char *name, const char *text) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(1); }
    fwrite(text, 1, strlen(text), f);
    fclose(f);
    return path;
}

// The raw bytes of the tokens of ex with loss == want, concatenated.
static char *bytes_where(const pt_tokenizer *t, const pt_example *ex, int want) {
    size_t cap = 1, n = 0;
    for (int i = 0; i < ex->n; i++) cap += tokenizer_token_bytes(t, ex->tokens[i], NULL, 0);
    char *s = malloc(cap);
    for (int i = 0; i < ex->n; i++)
        if (ex->loss[i] == want) n += tokenizer_token_bytes(t, ex->tokens[i], s + n, cap - n);
    s[n] = '\0';
    return s;
}

static int streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

static int load(pt_dataset *d, const char *path, const pt_tokenizer *t, const pt_chat_template *tm, int max_len,
                int on_prompt, pt_err *err) {
    pt_dataset_opts o = {.max_seq_len = max_len, .train_on_prompt = on_prompt, .default_system = SYS};
    memset(err, 0, sizeof *err);
    return dataset_load(d, path, t, tm, &o, err);
}

// Masked bytes of example i == want, and prompt + answer == the whole text.
static void check_mask(const pt_tokenizer *t, const pt_dataset *d, int i, const char *want_answer, const char *want_text) {
    if (i >= d->n) { CHECKF(0, "example %d missing (n = %d)", i, d->n); return; }
    const pt_example *ex = &d->ex[i];
    char *ans = bytes_where(t, ex, 1);
    CHECKF(streq(ans, want_answer), "example %d: masked '%s', want '%s'", i, ans, want_answer);
    CHECK(ex->loss[0] == 0);
    if (want_text) {
        char *all = tokenizer_decode(t, ex->tokens, ex->n, 0);
        CHECKF(streq(all, want_text), "example %d: text '%s', want '%s'", i, all, want_text);
        free(all);
    }
    free(ans);
}

#define CHATML_SYS "<|im_start|>system\nYou are a test model.<|im_end|>\n"
#define U(x) "<|im_start|>user\n" x "<|im_end|>\n"
#define A(x) "<|im_start|>assistant\n" x "<|im_end|>\n"
#define END "<|im_end|>\n"

static void test_alpaca(const pt_tokenizer *t, const pt_chat_template *chatml) {
    pt_dataset d;
    pt_err err;
    const char *p = write_file("a.jsonl",
        "{\"instruction\": \"What is 2+2?\", \"input\": \"Show work.\", \"output\": \"2+2 = 4.\"}\n"
        "\n"
        "{\"instruction\": \"Name a colour.\", \"output\": \"Blue\", \"system\": \"Be brief.\"}\n"
        "{\"instruction\": \"And now?\", \"input\": \"\", \"output\": \"Green\", \"history\": [[\"Hi\", \"Hello!\"]]}\n");
    CHECKF(load(&d, p, t, chatml, 0, 0, &err) == PT_OK, "%s", err.msg);
    CHECK(d.n == 3 && streq(d.format, "alpaca") && d.n_truncated == 0 && d.n_skipped == 0);
    check_mask(t, &d, 0, "2+2 = 4." END, CHATML_SYS U("What is 2+2?\nShow work.") A("2+2 = 4."));
    check_mask(t, &d, 1, "Blue" END, "<|im_start|>system\nBe brief.<|im_end|>\n" U("Name a colour.") A("Blue"));
    // every assistant turn is a target, history included
    check_mask(t, &d, 2, "Hello!" END "Green" END, CHATML_SYS U("Hi") A("Hello!") U("And now?") A("Green"));
    if (d.n == 3) CHECK(d.ex[0].line == 1 && d.ex[1].line == 3 && d.ex[2].line == 4);

    // train_on_prompt: every token but the first (it has nothing before it to be predicted from)
    pt_dataset all;
    CHECKF(load(&all, p, t, chatml, 0, 1, &err) == PT_OK, "%s", err.msg);
    int ones = 1;
    for (int i = 0; i < all.n; i++)
        for (int k = 0; k < all.ex[i].n; k++) ones &= all.ex[i].loss[k] == (k > 0);
    CHECK(all.n == 3 && ones);
    if (all.n == 3 && d.n == 3) CHECK(all.ex[0].n == d.ex[0].n && !memcmp(all.ex[0].tokens, d.ex[0].tokens, 4 * (size_t)d.ex[0].n));
    dataset_free(&all);
    dataset_free(&d);
    CHECK(d.n == 0 && d.ex == NULL);

    // a JSON array: ex.line is the record's index
    p = write_file("a.json", "[\n  {\"instruction\": \"One\", \"output\": \"1\"},\n  {\"instruction\": \"Two\",\n   \"output\": \"2\"}\n]\n");
    CHECKF(load(&d, p, t, chatml, 0, 0, &err) == PT_OK, "%s", err.msg);
    CHECK(d.n == 2 && streq(d.format, "alpaca"));
    check_mask(t, &d, 1, "2" END, CHATML_SYS U("Two") A("2"));
    if (d.n == 2) CHECK(d.ex[0].line == 1 && d.ex[1].line == 2);
    dataset_free(&d);

    // no system message at all with default_system ""
    pt_dataset_opts o = {.default_system = ""};
    CHECKF(dataset_load(&d, p, t, chatml, &o, &err) == PT_OK, "%s", err.msg);
    check_mask(t, &d, 0, "1" END, U("One") A("1"));
    dataset_free(&d);
}

static void test_sharegpt_messages(const pt_tokenizer *t, const pt_chat_template *chatml) {
    pt_dataset d;
    pt_err err;
    const char *p = write_file("s.json",
        "[{\"conversations\": [{\"from\": \"system\", \"value\": \"Sys.\"}, {\"from\": \"human\", \"value\": \"Q1\"},"
        " {\"from\": \"gpt\", \"value\": \"A1\"}, {\"from\": \"human\", \"value\": \"Q2\"}, {\"from\": \"gpt\", \"value\": \"A2\"}]},"
        " {\"conversations\": [{\"from\": \"user\", \"value\": \"Hi\"}, {\"from\": \"assistant\", \"value\": \"Hey\"}]}]");
    CHECKF(load(&d, p, t, chatml, 0, 0, &err) == PT_OK, "%s", err.msg);
    CHECK(d.n == 2 && streq(d.format, "sharegpt"));
    check_mask(t, &d, 0, "A1" END "A2" END, "<|im_start|>system\nSys.<|im_end|>\n" U("Q1") A("A1") U("Q2") A("A2"));
    check_mask(t, &d, 1, "Hey" END, CHATML_SYS U("Hi") A("Hey"));
    dataset_free(&d);

    p = write_file("m.jsonl",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"Capital of France?\"}, {\"role\": \"assistant\", \"content\": \"Paris.\"}]}\n"
        "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"x\"},"
        " {\"role\": \"assistant\", \"content\": \"y z\"}]}\n");
    CHECKF(load(&d, p, t, chatml, 0, 0, &err) == PT_OK, "%s", err.msg);
    CHECK(d.n == 2 && streq(d.format, "messages"));
    check_mask(t, &d, 0, "Paris." END, CHATML_SYS U("Capital of France?") A("Paris."));
    check_mask(t, &d, 1, "y z" END, "<|im_start|>system\nS<|im_end|>\n" U("x") A("y z"));
    if (d.n == 2) CHECK(d.ex[1].line == 2);
    dataset_free(&d);
}

static void test_text(const pt_tokenizer *t) {
    pt_dataset d;
    pt_err err;
    const char *p = write_file("p.txt", "\n\nFirst document,\nsecond line.\r\n\n  \nSecond one.\n\n\nThird\n");
    CHECKF(load(&d, p, t, NULL, 0, 0, &err) == PT_OK, "%s", err.msg);
    CHECK(d.n == 3 && streq(d.format, "text"));
    int32_t eos = tokenizer_eos(t);
    for (int i = 0; i < d.n; i++) {
        int ok = d.ex[i].loss[0] == 0 && d.ex[i].tokens[d.ex[i].n - 1] == eos;
        for (int k = 1; k < d.ex[i].n; k++) ok &= d.ex[i].loss[k] == 1;
        CHECKF(ok, "text example %d: loss on every token but the first, EOS last", i);
    }
    if (d.n == 3) {
        char *s = tokenizer_decode(t, d.ex[0].tokens, d.ex[0].n, 0);
        CHECKF(streq(s, "First document,\nsecond line.<|im_end|>"), "text doc 0: '%s'", s);
        free(s);
        CHECK(d.ex[0].line == 3 && d.ex[1].line == 7 && d.ex[2].line == 10);
    }
    dataset_free(&d);
}

static void test_truncation(const pt_tokenizer *t, const pt_chat_template *chatml) {
    pt_dataset d;
    pt_err err;
    // row 1: short; row 2: a long prompt whose answer falls past the cut; row 3: answer cut in the middle
    char buf[4096], longq[1200] = "";
    for (int i = 0; i < 100; i++) strcat(longq, "word ");
    snprintf(buf, sizeof buf,
             "{\"instruction\": \"Hi\", \"output\": \"Yo\"}\n"
             "{\"instruction\": \"%s\", \"output\": \"late\"}\n"
             "{\"instruction\": \"Q\", \"output\": \"%s\"}\n", longq, longq);
    const char *p = write_file("t.jsonl", buf);
    pt_dataset full;
    CHECKF(load(&full, p, t, chatml, 0, 0, &err) == PT_OK, "%s", err.msg);
    CHECK(full.n == 3 && full.n_truncated == 0);
    int short_n = full.n == 3 ? full.ex[0].n : 0;
    int cut = short_n + 8;
    CHECKF(load(&d, p, t, chatml, cut, 0, &err) == PT_OK, "%s", err.msg);
    CHECKF(d.n == 2 && d.n_truncated == 1 && d.n_skipped == 1, "n %d truncated %d skipped %d", d.n, d.n_truncated, d.n_skipped);
    if (d.n == 2 && full.n == 3) {
        CHECK(d.ex[0].n == short_n && d.ex[1].n == cut && d.ex[1].line == 3);
        CHECK(!memcmp(d.ex[1].tokens, full.ex[2].tokens, sizeof(int32_t) * (size_t)cut)); // the start is kept
        CHECK(!memcmp(d.ex[1].loss, full.ex[2].loss, (size_t)cut));
    }
    dataset_free(&d);
    dataset_free(&full);
    // nothing left: an error that says what to change
    CHECK(load(&d, p, t, chatml, 4, 0, &err) == PT_ERR_RANGE && strstr(err.msg, "max_seq_len 4") && d.n == 0);
}

static void test_split(const pt_tokenizer *t, const pt_chat_template *chatml) {
    char buf[8192] = "";
    for (int i = 0; i < 10; i++) {
        char row[128];
        snprintf(row, sizeof row, "{\"instruction\": \"q%d\", \"output\": \"a%d\"}\n", i, i);
        strcat(buf, row);
    }
    const char *p = write_file("split.jsonl", buf);
    pt_err err;
    int lines[3][10], n_eval[3];
    uint64_t seeds[3] = {1, 1, 2};
    for (int s = 0; s < 3; s++) {
        pt_dataset d, tr, ev;
        CHECKF(load(&d, p, t, chatml, 0, 0, &err) == PT_OK, "%s", err.msg);
        CHECK(dataset_split(&d, 0.2, seeds[s], &tr, &ev, &err) == PT_OK);
        CHECK(d.n == 0 && d.ex == NULL && tr.n == 8 && ev.n == 2 && streq(tr.format, "alpaca"));
        int seen = 0, k = 0;
        for (int i = 0; i < ev.n; i++) { seen |= 1 << (ev.ex[i].line - 1); lines[s][k++] = ev.ex[i].line; }
        for (int i = 0; i < tr.n; i++) { seen |= 1 << (tr.ex[i].line - 1); lines[s][k++] = tr.ex[i].line; }
        for (int i = 1; i < tr.n; i++) CHECK(tr.ex[i].line > tr.ex[i - 1].line); // file order kept
        CHECK(k == 10 && seen == 0x3ff);
        n_eval[s] = ev.n;
        dataset_free(&tr);
        dataset_free(&ev);
    }
    CHECK(n_eval[0] == n_eval[1] && !memcmp(lines[0], lines[1], sizeof lines[0])); // same seed, same split
    CHECK(memcmp(lines[0], lines[2], sizeof lines[0]) != 0);                      // another seed, another split

    struct { double frac; int n_eval; } cases[] = {{0.0, 0}, {0.01, 1}, {0.26, 3}, {0.5, 5}, {0.99, 9}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pt_dataset d, tr, ev;
        load(&d, p, t, chatml, 0, 0, &err);
        CHECK(dataset_split(&d, cases[c].frac, 7, &tr, &ev, &err) == PT_OK);
        CHECKF(ev.n == cases[c].n_eval && tr.n == 10 - cases[c].n_eval, "frac %g: eval %d", cases[c].frac, ev.n);
        dataset_free(&tr);
        dataset_free(&ev);
    }
    pt_dataset d, tr, ev;
    load(&d, p, t, chatml, 0, 0, &err);
    CHECK(dataset_split(&d, 1.0, 7, &tr, &ev, &err) == PT_ERR_ARG && d.n == 10);
    CHECK(dataset_split(&d, -0.1, 7, &tr, &ev, &err) == PT_ERR_ARG);
    dataset_free(&d);
    // one row: nothing to hold out
    p = write_file("one.jsonl", "{\"instruction\": \"q\", \"output\": \"a\"}\n");
    load(&d, p, t, chatml, 0, 0, &err);
    CHECK(dataset_split(&d, 0.5, 7, &tr, &ev, &err) == PT_OK && tr.n == 1 && ev.n == 0);
    dataset_free(&tr);
    dataset_free(&ev);
}

// Loading name (with text) fails with code and a message containing want.
static void expect_error(const pt_tokenizer *t, const pt_chat_template *chatml, const char *name, const char *text,
                         int code, const char *want) {
    char path[512];
    pt_err err;
    pt_dataset d;
    if (text) snprintf(path, sizeof path, "%s", write_file(name, text));
    else snprintf(path, sizeof path, "%s/%s", g_dir, name);
    int rc = load(&d, path, t, chatml, 0, 0, &err);
    CHECKF(rc == code && strstr(err.msg, want) && d.n == 0 && d.ex == NULL && !strchr(err.msg, '\n'),
           "%s: rc %d (want %d), '%s' (want '%s')", name, rc, code, err.msg, want);
}

static void test_errors(const pt_tokenizer *t, const pt_chat_template *chatml) {
    const char *row = "{\"instruction\": \"q\", \"output\": \"a\"}\n";
    char buf[2048];
    expect_error(t, chatml, "missing.jsonl", NULL, PT_ERR_IO, "missing.jsonl: cannot open the dataset");
    expect_error(t, chatml, "empty.jsonl", "", PT_ERR_FORMAT, "empty.jsonl: the dataset is empty");
    expect_error(t, chatml, "blank.json", "  \n\n", PT_ERR_FORMAT, "blank.json: the dataset is empty");
    expect_error(t, chatml, "empty.txt", "\n \n", PT_ERR_FORMAT, "empty.txt: the dataset is empty");
    expect_error(t, chatml, "noarr.json", "[ ]", PT_ERR_FORMAT, "noarr.json: the dataset has no rows");
    expect_error(t, chatml, "data.xml", "<a/>\n", PT_ERR_ARG, "unknown dataset type (use .json, .jsonl, .csv, .tsv or .txt)");
    snprintf(buf, sizeof buf, "%s%s{\"instruction\": \"q\", \"output\": }\n%s", row, row, row);
    expect_error(t, chatml, "badjson.jsonl", buf, PT_ERR_FORMAT, "badjson.jsonl:3: invalid JSON");
    snprintf(buf, sizeof buf, "%s%s{\"instruction\": \"q\", \"output\": \"a\"} x\n", row, row);
    expect_error(t, chatml, "trail.jsonl", buf, PT_ERR_FORMAT, "trail.jsonl:3: invalid JSON");
    snprintf(buf, sizeof buf, "[\n%s,\n{\"instruction\": \"q\",\n \"output\": nope}\n]", row);
    expect_error(t, chatml, "badarr.json", buf, PT_ERR_FORMAT, "badarr.json:5: invalid JSON");
    snprintf(buf, sizeof buf, "[\n%s\n%s]", row, row);
    expect_error(t, chatml, "nocomma.json", buf, PT_ERR_FORMAT, "nocomma.json:4: invalid JSON: expected ',' or ']'");
    // the brief's own example: a row without the needed keys on line 17
    buf[0] = '\0';
    for (int i = 0; i < 16; i++) strcat(buf, row);
    strcat(buf, "{\"question\": \"q\", \"answer\": \"a\"}\n");
    expect_error(t, chatml, "data.jsonl", buf, PT_ERR_FORMAT,
                 "data.jsonl:17: row has neither instruction/output, conversations nor messages");
    snprintf(buf, sizeof buf, "[\n%s,\n%s,\n\"just a string\"\n]", row, row);
    expect_error(t, chatml, "notobj.json", buf, PT_ERR_FORMAT, "notobj.json:6: expected a JSON object");
    expect_error(t, chatml, "type.jsonl", "{\"instruction\": \"q\", \"output\": 42}\n", PT_ERR_FORMAT,
                 "type.jsonl:1: \"output\" must be a string, not a number");
    expect_error(t, chatml, "noout.jsonl", "{\"instruction\": \"q\"}\n", PT_ERR_FORMAT, "noout.jsonl:1: row has \"instruction\" but no \"output\"");
    expect_error(t, chatml, "noins.jsonl", "{\"output\": \"a\"}\n", PT_ERR_FORMAT, "noins.jsonl:1: row has \"output\" but no \"instruction\"");
    snprintf(buf, sizeof buf, "%s{\"instruction\": \"q\", \"output\": \"  \"}\n", row);
    expect_error(t, chatml, "emptyans.jsonl", buf, PT_ERR_FORMAT, "emptyans.jsonl:2: empty answer");
    expect_error(t, chatml, "hist.jsonl", "{\"instruction\": \"q\", \"output\": \"a\", \"history\": [[\"x\"]]}\n", PT_ERR_FORMAT,
                 "hist.jsonl:1: \"history\" entry 1 must be a [question, answer] pair");
    expect_error(t, chatml, "order.jsonl",
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}]}\n",
                 PT_ERR_FORMAT, "order.jsonl:1: turn 2: roles out of order: expected a assistant turn, got user");
    expect_error(t, chatml, "order2.json",
                 "[{\"conversations\": [{\"from\": \"gpt\", \"value\": \"a\"}, {\"from\": \"human\", \"value\": \"b\"}]}]",
                 PT_ERR_FORMAT, "order2.json:1: turn 1: roles out of order: expected a user turn, got assistant");
    expect_error(t, chatml, "sysmid.jsonl",
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"system\", \"content\": \"b\"}]}\n",
                 PT_ERR_FORMAT, "sysmid.jsonl:1: turn 2: a system message may only come first");
    expect_error(t, chatml, "lastuser.jsonl",
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"},"
                 " {\"role\": \"user\", \"content\": \"c\"}]}\n",
                 PT_ERR_FORMAT, "lastuser.jsonl:1: the conversation ends with a user turn");
    expect_error(t, chatml, "role.jsonl",
                 "{\"conversations\": [{\"from\": \"human\", \"value\": \"a\"}, {\"from\": \"robot\", \"value\": \"b\"}]}\n",
                 PT_ERR_FORMAT, "role.jsonl:1: turn 2: unknown role 'robot'");
    expect_error(t, chatml, "emptyturn.jsonl",
                 "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"\"}]}\n",
                 PT_ERR_FORMAT, "emptyturn.jsonl:1: turn 2: empty answer");
    expect_error(t, chatml, "nomsgs.jsonl", "{\"messages\": []}\n", PT_ERR_FORMAT, "nomsgs.jsonl:1: the conversation has no user");
    expect_error(t, chatml, "msgtype.jsonl", "{\"messages\": \"hello\"}\n", PT_ERR_FORMAT,
                 "msgtype.jsonl:1: \"messages\" must be a list of turns, not a string");
    expect_error(t, chatml, "turntype.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}\n", PT_ERR_FORMAT,
                 "turntype.jsonl:1: turn 1: \"content\" must be a string, not a number");
    expect_error(t, chatml, "turnkeys.jsonl", "{\"conversations\": [{\"speaker\": \"human\"}]}\n", PT_ERR_FORMAT,
                 "turnkeys.jsonl:1: turn 1 needs \"from\" and \"value\"");
    snprintf(buf, sizeof buf, "%s{\"instruction\": \"caf\xe9\", \"output\": \"a\"}\n", row);
    expect_error(t, chatml, "utf8.jsonl", buf, PT_ERR_FORMAT, "utf8.jsonl:2:");
    expect_error(t, chatml, "utf8.txt", "good\n\nbad \xff byte\n", PT_ERR_FORMAT, "utf8.txt:3:");
}

// Previews load everything they can: bad rows become fails with their line
// and reason, rows cut to nothing stay (flagged), and every kept row knows
// its whole length and where it is cut.
static void test_keep_going(const pt_tokenizer *t, const pt_chat_template *chatml) {
    const char *row = "{\"instruction\": \"q\", \"output\": \"a\"}\n";
    char buf[2048];
    snprintf(buf, sizeof buf, "%s{\"instruction\": \"q\", \"output\": }\n%s{\"question\": 1}\n"
             "{\"instruction\": \"a much longer question with many words in it\", \"output\": \"an answer\"}\n%s", row, row, row);
    const char *path = write_file("mixed.jsonl", buf);
    pt_dataset_opts o = {.max_seq_len = 12, .keep_going = 1, .keep_all = 1};
    pt_dataset d;
    pt_err err = {0};
    int rc = dataset_load(&d, path, t, chatml, &o, &err);
    CHECKF(rc == PT_OK, "keep_going: %s", err.msg);
    if (rc) return;
    CHECKF(d.n_fails == 2, "%d failed rows", d.n_fails);
    if (d.n_fails == 2) {
        CHECKF(d.fails[0].line == 2 && !strncmp(d.fails[0].msg, "invalid JSON", 12), "line %d: %s", d.fails[0].line,
               d.fails[0].msg);
        CHECKF(d.fails[1].line == 4 && strstr(d.fails[1].msg, "row has neither"), "line %d: %s", d.fails[1].line,
               d.fails[1].msg);
    }
    CHECKF(d.n == 4, "%d rows kept", d.n);
    int cut = 0, none = 0;
    for (int i = 0; i < d.n; i++) {
        const pt_example *e = &d.ex[i];
        CHECK(e->n <= 12 && e->n_full >= e->n);
        cut += e->n_full > e->n;
        none += e->no_target;
    }
    CHECKF(cut >= 1 && none == d.n_skipped && d.n_skipped >= 1, "cut %d, no target %d (skipped %d)", cut, none, d.n_skipped);
    dataset_free(&d);
    // without keep_going the same file fails at line 2, as before
    o.keep_going = o.keep_all = 0;
    rc = dataset_load(&d, path, t, chatml, &o, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "mixed.jsonl:2: invalid JSON"), "rc %d '%s'", rc, err.msg);
    // nothing usable at all is an error even with keep_going
    o.keep_going = 1;
    rc = dataset_load(&d, write_file("allbad.jsonl", "{\"q\": 1}\n{\"q\": 2}\n"), t, chatml, &o, &err);
    CHECKF(rc == PT_ERR_FORMAT && strstr(err.msg, "none of its 2 rows could be used (line 1:"), "rc %d '%s'", rc, err.msg);
}

// SentencePiece (a prepended "▁" per segment, BOS added) with the Llama-2
// template: the answer and " </s>" are the targets, BOS is not doubled.
static void test_spm(const pt_chat_template *llama2) {
    pt_tokenizer *t = NULL;
    pt_err err = {0};
    if (tokenizer_load_json(&t, SPM_TOK, &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    const char *p = write_file("spm.jsonl", "{\"instruction\": \"Where is Paris?\", \"output\": \"In France, on the Seine.\"}\n");
    pt_dataset d;
    pt_dataset_opts o = {.default_system = ""};
    CHECKF(dataset_load(&d, p, t, llama2, &o, &err) == PT_OK, "%s", err.msg);
    if (d.n == 1) {
        const pt_example *ex = &d.ex[0];
        CHECK(ex->tokens[0] == tokenizer_bos(t) && ex->tokens[1] != tokenizer_bos(t));
        char *ans = bytes_where(t, ex, 1);
        // the first answer token carries the separating space (" In")
        CHECKF(streq(ans, " In France, on the Seine. </s>"), "spm masked '%s'", ans);
        free(ans);
        char *all = tokenizer_decode(t, ex->tokens, ex->n, 0);
        CHECKF(all && strstr(all, "[INST] Where is Paris? [/INST] In France, on the Seine. </s>"), "spm text '%s'", all);
        free(all);
    }
    dataset_free(&d);
    tokenizer_free(t);
}

// The shipped sets load with SmolLM2's tokenizer; the identity set teaches Quill.
static int load_cols(pt_dataset *d, const char *path, const pt_tokenizer *t, const pt_chat_template *tm,
                     const pt_columns *c, pt_err *err) {
    pt_dataset_opts o = {.default_system = SYS, .columns = c};
    memset(err, 0, sizeof *err);
    return dataset_load(d, path, t, tm, &o, err);
}

// CSV / TSV: RFC 4180 quoting, CR LF, rows as Alpaca by their header or
// through a column map; and each malformed file's one-line error.
static void test_csv(const pt_tokenizer *t, const pt_chat_template *chatml) {
    pt_dataset d;
    pt_err err;
    const char *p = write_file("a.csv", "instruction,input,output\r\n"
                                        "\"Say \"\"hi\"\", please\",,Hi\r\n"
                                        "\r\n"
                                        "Add,\"1, 2\",\"3\nexactly\"\r\n");
    CHECKF(load(&d, p, t, chatml, 0, 0, &err) == PT_OK, "%s", err.msg);
    CHECK(d.n == 2 && streq(d.format, "alpaca"));
    check_mask(t, &d, 0, "Hi" END, CHATML_SYS U("Say \"hi\", please") A("Hi"));
    check_mask(t, &d, 1, "3\nexactly" END, CHATML_SYS U("Add\n1, 2") A("3\nexactly"));
    if (d.n == 2) CHECKF(d.ex[0].line == 2 && d.ex[1].line == 4, "lines %d %d", d.ex[0].line, d.ex[1].line);
    dataset_free(&d);

    p = write_file("b.tsv", "question\tanswer\tpersona\nWhy?\tBecause.\tBe terse.\nHow?\tCarefully.\t\n");
    pt_columns c = {0};
    snprintf(c.prompt, sizeof c.prompt, "question");
    snprintf(c.response, sizeof c.response, "answer");
    snprintf(c.system, sizeof c.system, "persona");
    CHECKF(load_cols(&d, p, t, chatml, &c, &err) == PT_OK, "%s", err.msg);
    CHECK(d.n == 2 && streq(d.format, "columns"));
    check_mask(t, &d, 0, "Because." END, "<|im_start|>system\nBe terse.<|im_end|>\n" U("Why?") A("Because."));
    check_mask(t, &d, 1, "Carefully." END, CHATML_SYS U("How?") A("Carefully."));   // an empty system: the default
    dataset_free(&d);

    static const struct { const char *name, *text, *want; } bad[] = {
        {"c1.csv", "a,b\n1,2,3\n", "c1.csv:2: 3 fields, the header has 2"},
        {"c2.csv", "a,b\n\"1,2\n", "c2.csv:2: a quoted field is not closed"},
        {"c3.csv", "a,,b\n1,2,3\n", "c3.csv:1: header field 2 is empty"},
        {"c4.csv", "a,a\n1,2\n", "c4.csv:1: header names column \"a\" twice"},
        {"c5.csv", "a,b\n\n", "c5.csv: the dataset has a header and no rows"},
        {"c6.csv", "Tweet text,Label\nhello,x\n", "c6.csv:2: row has neither instruction/output, conversations nor "
                                                   "messages (its fields: Tweet text, Label; map them"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = write_file(bad[i].name, bad[i].text);
        int rc = load(&d, p, t, chatml, 0, 0, &err);
        CHECKF(rc != PT_OK && strstr(err.msg, bad[i].want) && d.n == 0, "%s: rc %d '%s'", bad[i].name, rc, err.msg);
    }
}

// A column map over any JSON rows: prompt (+ query), response, system, or a
// prompt format with {field}s (numbers as JSON writes them, {{ a brace).
static void test_columns(const pt_tokenizer *t, const pt_chat_template *chatml) {
    pt_dataset d;
    pt_err err;
    const char *p = write_file("m.jsonl", "{\"q\": \"Capital of France?\", \"ctx\": \"geography\", \"a\": \"Paris\", \"n\": 3}\n"
                                          "{\"q\": \"2+2?\", \"a\": 4, \"n\": 1.5}\n");
    pt_columns c = {0};
    snprintf(c.prompt, sizeof c.prompt, "q");
    snprintf(c.query, sizeof c.query, "ctx");
    snprintf(c.response, sizeof c.response, "a");
    CHECKF(load_cols(&d, p, t, chatml, &c, &err) == PT_OK, "%s", err.msg);
    CHECK(d.n == 2 && streq(d.format, "columns"));
    check_mask(t, &d, 0, "Paris" END, CHATML_SYS U("Capital of France?\ngeography") A("Paris"));
    check_mask(t, &d, 1, "4" END, CHATML_SYS U("2+2?") A("4"));   // a number answers as JSON writes it
    dataset_free(&d);

    snprintf(c.prompt_format, sizeof c.prompt_format, "Q : {q} ({n}) {{x}} Label : ");
    CHECKF(load_cols(&d, p, t, chatml, &c, &err) == PT_OK, "%s", err.msg);
    check_mask(t, &d, 0, "Paris" END, CHATML_SYS U("Q : Capital of France? (3) {x}} Label : ") A("Paris"));
    check_mask(t, &d, 1, "4" END, CHATML_SYS U("Q : 2+2? (1.5) {x}} Label : ") A("4"));
    dataset_free(&d);

    static const struct { const char *fmt, *resp, *want; } bad[] = {
        {"{missing}", "a", "m.jsonl:1: row has no \"missing\" for the prompt format"},
        {"{unclosed", "a", "prompt format: \"{\" at offset 0 opens no {field}"},
        {"", "nope", "m.jsonl:1: row has no response column \"nope\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(c.prompt_format, sizeof c.prompt_format, "%s", bad[i].fmt);
        snprintf(c.response, sizeof c.response, "%s", bad[i].resp);
        int rc = load_cols(&d, p, t, chatml, &c, &err);
        CHECKF(rc != PT_OK && strstr(err.msg, bad[i].want), "case %zu: rc %d '%s'", i, rc, err.msg);
    }
    p = write_file("plain.txt", "some text\n");
    CHECK(load_cols(&d, p, t, chatml, &c, &err) == PT_ERR_ARG && strstr(err.msg, "plain text has no columns"));
}

// LLaMA-Factory's dataset_info.json: an entry's file (relative to the json)
// and columns, the only entry by default, flags over the entry, and errors.
static void test_dataset_info(void) {
    char file[1024];
    pt_columns out, flags = {0};
    pt_err err = {0};
    const char *p = write_file("dataset_info.json",
        "{\"tweets\": {\"file_name\": \"t.csv\", \"columns\": {\"response\": \"Label\"},"
        " \"prompt_format\": \"Tweet text : {Tweet text} Label : \"},"
        " \"zh\": {\"file_name\": \"zh.json\", \"formatting\": \"alpaca\", \"columns\": {\"prompt\": \"instruction\","
        " \"query\": \"input\", \"response\": \"output\", \"system\": \"system\"}},"
        " \"chat\": {\"file_name\": \"c.json\", \"formatting\": \"sharegpt\"},"
        " \"hub\": {\"hf_hub_url\": \"someone/data\"},"
        " \"odd\": {\"file_name\": \"o.json\", \"formatting\": \"sharegpt\", \"columns\": {\"messages\": \"turns\"}}}");
    CHECKF(dataset_resolve(p, "tweets", &flags, file, sizeof file, &out, &err) == PT_OK, "%s", err.msg);
    char want[1024];
    snprintf(want, sizeof want, "%s/t.csv", g_dir);
    CHECKF(streq(file, want) && streq(out.response, "Label") && streq(out.prompt_format, "Tweet text : {Tweet text} Label : "),
           "%s %s %s", file, out.response, out.prompt_format);
    CHECK(dataset_resolve(p, "zh", &flags, file, sizeof file, &out, &err) == PT_OK && streq(out.prompt, "instruction") &&
          streq(out.query, "input") && streq(out.system, "system"));
    CHECK(dataset_resolve(p, "chat", &flags, file, sizeof file, &out, &err) == PT_OK && !columns_set(&out));
    snprintf(flags.response, sizeof flags.response, "answer");   // a flag wins over the entry
    CHECK(dataset_resolve(p, "zh", &flags, file, sizeof file, &out, &err) == PT_OK && streq(out.response, "answer") &&
          streq(out.prompt, "instruction"));
    memset(&flags, 0, sizeof flags);
    static const struct { const char *name, *want; } bad[] = {
        {NULL, "holds 5 datasets: choose one with --dataset NAME"},
        {"nope", "has no dataset \"nope\""},
        {"hub", "entry \"hub\" has no \"file_name\""},
        {"odd", "a ShareGPT list under \"turns\" is not supported"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = dataset_resolve(p, bad[i].name, &flags, file, sizeof file, &out, &err);
        CHECKF(rc != PT_OK && strstr(err.msg, bad[i].want), "%s: rc %d '%s'", bad[i].name ? bad[i].name : "(none)", rc,
               err.msg);
    }
    // a plain data file: as it is; a name for it, or a map without its answer, is refused
    CHECK(dataset_resolve(SHIPPED "identity.jsonl", NULL, &flags, file, sizeof file, &out, &err) == PT_OK &&
          streq(file, SHIPPED "identity.jsonl") && !columns_set(&out));
    CHECK(dataset_resolve(SHIPPED "identity.jsonl", "x", &flags, file, sizeof file, &out, &err) == PT_ERR_ARG);
    snprintf(flags.prompt, sizeof flags.prompt, "q");
    CHECK(dataset_resolve(SHIPPED "identity.jsonl", NULL, &flags, file, sizeof file, &out, &err) == PT_ERR_ARG &&
          strstr(err.msg, "needs the response column"));
}

// The Data screen's one-line column map, both ways.
static void test_columns_line(void) {
    pt_columns c;
    char name[64], line[1024];
    pt_err err = {0};
    CHECK(columns_parse(" response = Label ;dataset=raft; format=Tweet text : {Tweet text}; Label : ", &c, name,
                        sizeof name, &err) == PT_OK);
    CHECKF(streq(c.response, "Label") && streq(name, "raft") && streq(c.prompt_format, "Tweet text : {Tweet text}; Label : ") &&
           !c.prompt[0], "'%s' '%s' '%s'", c.response, name, c.prompt_format);
    columns_format(&c, name, line, sizeof line);
    CHECKF(streq(line, "dataset=raft; response=Label; format=Tweet text : {Tweet text}; Label : "), "%s", line);
    pt_columns back;
    char name2[64];
    CHECK(columns_parse(line, &back, name2, sizeof name2, &err) == PT_OK && !memcmp(&back, &c, sizeof c) &&
          streq(name2, name));
    CHECK(columns_parse("", &c, name, sizeof name, &err) == PT_OK && !columns_set(&c) && !name[0]);
    CHECK(columns_parse("answer=x", &c, name, sizeof name, &err) == PT_ERR_ARG && strstr(err.msg, "unknown key \"answer\""));
    CHECK(columns_parse("prompt", &c, name, sizeof name, &err) == PT_ERR_ARG && strstr(err.msg, "is not key=value"));
}

static void test_shipped(const pt_chat_template *chatml) {
    pt_tokenizer *t = NULL;
    pt_err err = {0};
    if (tokenizer_load_json(&t, SMOL_TOK, &err) != PT_OK) { CHECKF(0, "%s", err.msg); return; }
    static const struct { const char *file, *format; int min, max; } sets[] = {
        {"identity.jsonl", "alpaca", 60, 120},
        {"sharegpt_sample.json", "sharegpt", 5, 20},
        {"messages_sample.jsonl", "messages", 5, 20},
        {"plain_sample.txt", "text", 5, 20},
        {"alpaca_zh_sample.json", "alpaca", 8, 8},
    };
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
        pt_dataset d;
        pt_dataset_opts o = {.max_seq_len = 256, .default_system = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"};
        char path[512];
        snprintf(path, sizeof path, SHIPPED "%s", sets[s].file);
        int rc = dataset_load(&d, path, t, chatml, &o, &err);
        CHECKF(rc == PT_OK && streq(d.format, sets[s].format) && d.n >= sets[s].min && d.n <= sets[s].max &&
               d.n_truncated == 0 && d.n_skipped == 0, "%s: rc %d n %d format %s: %s", sets[s].file, rc, d.n, d.format, err.msg);
        int quill = 0, maker = 0, ends = 1;
        for (int i = 0; i < d.n; i++) {
            char *ans = bytes_where(t, &d.ex[i], 1);
            quill += strstr(ans, "Quill") != NULL;
            maker += strstr(ans, "peftui team") != NULL;
            if (strcmp(d.format, "text")) ends &= strlen(ans) > strlen(END) && streq(ans + strlen(ans) - strlen(END), END);
            free(ans);
        }
        CHECKF(ends, "%s: every masked answer ends with <|im_end|>\\n", sets[s].file);
        if (!strcmp(sets[s].file, "identity.jsonl"))
            CHECKF(quill >= d.n / 2 && maker >= d.n / 3 && quill < d.n, "identity: %d Quill, %d maker of %d", quill, maker, d.n);
        if (!strcmp(sets[s].file, "alpaca_zh_sample.json") && d.n > 1) {   // Chinese answers are the targets
            char *ans = bytes_where(t, &d.ex[1], 1);
            CHECKF(streq(ans, "光合作用是植物利用阳光把二氧化碳和水变成糖和氧气的过程。" END), "alpaca-zh answer: '%s'", ans);
            free(ans);
        }
        dataset_free(&d);
    }
    // every entry of the shipped dataset_info.json loads, the column-mapped shapes included
    static const struct { const char *name, *format, *answer; } info[] = {
        {"alpaca_zh", "columns", "苹果、香蕉和橙子。" END},
        {"raft_twitter_complaints", "columns", "complaint" END},
        {"qa_tsv", "columns", "Eight." END},
        {"custom_jsonl", "columns", "The Long Way Home" END},
        {"sharegpt_sample", "sharegpt", NULL},
    };
    for (size_t k = 0; k < sizeof info / sizeof info[0]; k++) {
        char file[1024];
        pt_columns cols, none = {0};
        int rc = dataset_resolve(SHIPPED "dataset_info.json", info[k].name, &none, file, sizeof file, &cols, &err);
        pt_dataset d = {0};
        pt_dataset_opts o = {.max_seq_len = 256, .default_system = "", .columns = &cols};
        if (!rc) rc = dataset_load(&d, file, t, chatml, &o, &err);
        CHECKF(rc == PT_OK && d.n == 8 && streq(d.format, info[k].format), "%s: rc %d n %d %s: %s", info[k].name, rc, d.n,
               d.format, err.msg);
        if (!rc && info[k].answer && d.n > 2) {
            char *ans = bytes_where(t, &d.ex[k == 1 ? 0 : k == 0 ? 2 : 1], 1);
            CHECKF(streq(ans, info[k].answer), "%s: answer '%s'", info[k].name, ans);
            free(ans);
        }
        if (!rc && k == 1 && d.n) {   // RAFT's prompt, built from the Tweet text column
            char *all = tokenizer_decode(t, d.ex[0].tokens, d.ex[0].n, 0);
            CHECKF(all && strstr(all, "Tweet text : @ShopMart my order arrived broken, second time this month. Not happy. "
                                      "Label : "), "raft prompt: %s", all);
            free(all);
        }
        dataset_free(&d);
    }
    tokenizer_free(t);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/pt_dataset_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    if (access(TINY_TOK, R_OK)) SKIP_ALL("%s absent", TINY_TOK);
    pt_tokenizer *t = NULL;
    pt_chat_template *chatml = NULL, *llama2 = NULL;
    pt_err err = {0};
    if (tokenizer_load_json(&t, TINY_TOK, &err) != PT_OK) { fprintf(stderr, "%s\n", err.msg); return 1; }
    if (template_load(&chatml, "chatml", &err) != PT_OK || template_load(&llama2, "llama2", &err) != PT_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    test_alpaca(t, chatml);
    test_sharegpt_messages(t, chatml);
    test_text(t);
    test_truncation(t, chatml);
    test_split(t, chatml);
    test_errors(t, chatml);
    test_keep_going(t, chatml);
    test_spm(llama2);
    test_csv(t, chatml);
    test_columns(t, chatml);
    test_dataset_info();
    test_columns_line();
    test_shipped(chatml);
    template_free(chatml);
    template_free(llama2);
    tokenizer_free(t);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return check_report("test_dataset");
}

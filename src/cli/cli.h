// cli.h - what the subcommands share: the option tables and their parser,
// one-line error reporting, and opening a model with a runtime and session.
//
// Exit statuses: 0 success, 1 runtime error (missing or corrupt model,
// invalid prompt, ...), 2 usage error (unknown flag, missing or bad value).
// Subcommands return one of these; only main() exits.
#ifndef PT_CLI_H
#define PT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "backend/backend.h"
#include "text/chat_template.h"
#include "infer/forward.h"
#include "infer/generate.h"
#include "lora/lora.h"
#include "model/model.h"
#include "infer/sampler.h"

enum { CLI_OK = 0, CLI_ERR = 1, CLI_USAGE = 2 };

#define CLI_DEFAULT_MODEL "models/SmolLM2-135M-Instruct.Q4_1.gguf"

// ---------------------------------------------------------------------------
// options

typedef enum { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STR, OPT_U64 } cli_opt_kind;

typedef struct {
    const char *name;     // long name without dashes: "temp"
    char short_name;      // 'm', or 0
    cli_opt_kind kind;
    void *dst;            // int* (FLAG, INT), float*, const char**, uint64_t*
    const char *metavar;  // "T" in "--temp T"
    const char *help;     // one line, defaults included
    double min, max;      // accepted range for INT and FLOAT
} cli_opt;

typedef struct {
    const char *name;     // "generate"
    const char *args;     // "-p PROMPT [options]"
    const char *summary;  // one line for `peftui help`
    const cli_opt *opts;
    int n_opts;
} cli_command_spec;

// Parses argv[1..argc) (argv[0] is the subcommand's name) into the table.
// Non-option arguments are collected into pos (cap entries, argv pointers).
// Returns CLI_OK, or CLI_USAGE after printing one line; *help is set for -h/--help.
int cli_parse(const cli_command_spec *spec, int argc, char **argv,
              char **pos, int pos_cap, int *n_pos, int *help);
void cli_print_help(const cli_command_spec *spec);
// Parses a value the way the option parser would (for chat's /set);
// returns 0 or -1 and a reason in why.
int cli_parse_value(const cli_opt *o, const char *text, char *why, size_t why_cap);
const char *cli_progname(void);

// "peftui: " + message + newline on stderr; returns code.
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// ---------------------------------------------------------------------------
// what most subcommands take

typedef struct {
    const char *model;          // -m: GGUF file or HF folder
    int threads;                // -t
    int ctx;                    // --ctx; 0: min(model max_ctx, 4096)
    const char *backend;        // --device (alias --backend): auto, cpu, cuda, cpu-naive, emu
    const char *template_name;  // --template; NULL: guessed from the model
    const char *system;         // --system; NULL: the template's or model's default
    pt_sampling sampling;
    int max_tokens;             // -n
    int verbose;
} cli_common;

void cli_common_defaults(cli_common *c);
// Whether name is a --device value backend_create knows (NULL: the default).
int cli_device_name_ok(const char *name);
int cli_default_threads(void);

// Entries for cli_opt tables (designated fields, in any array initializer).
#define CLI_OPTS_MODEL(c) \
    {"model", 'm', OPT_STR, &(c)->model, "PATH", "model: GGUF file or Hugging Face folder (default: $PEFTUI_MODEL, else " CLI_DEFAULT_MODEL ")", 0, 0}, \
    {"threads", 't', OPT_INT, &(c)->threads, "N", "CPU threads (default: the number of cores)", 1, 1024}, \
    {"device", 0, OPT_STR, &(c)->backend, "NAME", "auto (default: cuda when a GPU is present, else cpu), cpu or cuda", 0, 0}, \
    {"backend", 0, OPT_STR, &(c)->backend, "NAME", "the same as --device", 0, 0}
#define CLI_OPTS_CTX(c) \
    {"ctx", 0, OPT_INT, &(c)->ctx, "N", "context size in tokens (default: the model's, at most 4096)", 8, 1 << 20}
#define CLI_OPTS_SAMPLING(c) \
    {"temp", 0, OPT_FLOAT, &(c)->sampling.temp, "T", "temperature; 0 is greedy and deterministic (default 0.7)", 0, 100}, \
    {"top-k", 0, OPT_INT, &(c)->sampling.top_k, "K", "keep the K most likely tokens; 0 is off (default 40)", 0, 1 << 30}, \
    {"top-p", 0, OPT_FLOAT, &(c)->sampling.top_p, "P", "nucleus sampling; 1 is off (default 0.95)", 0, 1}, \
    {"min-p", 0, OPT_FLOAT, &(c)->sampling.min_p, "P", "drop tokens below P times the best; 0 is off (default 0.05)", 0, 1}, \
    {"repeat-penalty", 0, OPT_FLOAT, &(c)->sampling.repeat_penalty, "R", "penalise recent tokens; 1 is off (default 1.0)", 0.01, 100}, \
    {"repeat-last-n", 0, OPT_INT, &(c)->sampling.repeat_last_n, "N", "how many recent tokens the penalty sees; -1 all (default 64)", -1, 1 << 30}, \
    {"seed", 0, OPT_U64, &(c)->sampling.seed, "S", "random seed (default 42)", 0, 0}
#define CLI_OPTS_CHAT(c) \
    {"template", 0, OPT_STR, &(c)->template_name, "NAME", "chat template: chatml, llama2, llama3, mistral, alpaca, plain or a .tmpl path (default: guessed from the model)", 0, 0}, \
    {"system", 0, OPT_STR, &(c)->system, "TEXT", "system message (default: the model's own, if any)", 0, 0}

// ---------------------------------------------------------------------------
// models

// The model path to use: -m, else $PEFTUI_MODEL, else the default model in
// the source tree, else ./models/.... Never NULL.
const char *cli_model_path(const char *opt, char *buf, size_t cap);
// Loads the model; on failure prints one line (with what to do next) and
// returns CLI_ERR. load_s (may be NULL) receives the seconds taken.
int cli_model_load(pt_model *m, const char *opt_path, double *load_s);

// A loaded model ready to generate: backend, runtime (KV cache) and session.
typedef struct {
    pt_model model;
    int model_ok;
    pt_backend *be;
    pt_runtime rt;
    int rt_ok;
    pt_session sess;
    int sess_ok;
    int n_ctx;
    double load_s;
} cli_engine;

// extra_ctx: tokens the caller needs at least (0: none); returns an exit status.
int cli_engine_open(cli_engine *e, const cli_common *c, int min_ctx);
void cli_engine_close(cli_engine *e);

// The chat template for a model: --template, else guessed from its Jinja. When
// the template is the model's own, *default_system (malloc'd or NULL) is the
// system message the model's Jinja writes. Prints one line on failure.
int cli_template_open(pt_chat_template **t, char **default_system, const pt_model *m, const char *name);

// Tokenizes text (PT_ERR_ARG on invalid UTF-8); prints one line on failure.
int cli_tokenize(const pt_model *m, const char *text, int add_special, int parse_special,
                 int32_t **ids, int *n);

// 0 if s is valid UTF-8, else the offset of the first bad byte plus one.
size_t cli_utf8_invalid_at(const char *s, size_t len);

// Ctrl-C: the first press while a run is going sets *cli_abort_flag();
// chat clears it before each answer.
void cli_sigint_install(void);
volatile int *cli_abort_flag(void);
volatile int *cli_sigint_seen(void);

// ---------------------------------------------------------------------------
// subcommands

int cmd_chat(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_train(int argc, char **argv);   // bench --train
double cli_median(double *v, int n);           // sorts v (n > 0)
int cmd_train(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_export(int argc, char **argv);

// LoRA adapters on the command line (cmd_generate.c), shared by generate,
// chat and compare: every "--adapter DIR" is taken out of argv first (the
// option parser keeps one value per flag).
int cli_adapter_args(int argc, char **argv, char ***argv_out, int *argc_out, const char ***dirs, int *n_dirs);
// cli_parse, with the "--adapter DIR"s collected into *dirs first (*dirs NULL:
// out of memory or a usage error already reported; return the status).
// *adapter_flag: the option-table slot of --adapter, for a form the parser kept.
int cli_parse_adapters(const cli_command_spec *spec, int argc, char **argv, char **pos, int pos_cap, int *n_pos,
                       int *help, const char **adapter_flag, const char ***dirs, int *n_dirs);
int cli_adapters_load(const pt_model *m, const char *const *dirs, int n, const char *template_used, pt_adapter **out);
void cli_adapters_free(pt_adapter *a, int n);
// Loads the model and the adapter, prints the export's warnings, writes it (cmd_export.c).
int cli_export_run(const char *model, int threads, const char *adapter_dir, const char *format, float scale,
                   const char *out);

#endif

// cli.h - what the subcommands share: the option tables and their parser,
// one-line error reporting, and the workspace every subcommand runs on (a
// thin caller of it: the workbench uses the same calls).
//
// Exit statuses: 0 success, 1 runtime error (missing or corrupt model,
// invalid prompt, ...), 2 usage error (unknown flag, missing or bad value).
// Subcommands return one of these; only main() exits.
#ifndef PT_CLI_H
#define PT_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "workspace/peftui.h"

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
// the workspace

// The model path to use: -m, else $PEFTUI_MODEL, else the default model in
// the source tree, else ./models/.... Never NULL.
const char *cli_model_path(const char *opt, char *buf, size_t cap);
// A workspace on --device with -t threads and --ctx, and the model loaded
// (waited for). On failure prints one line (with what to do next).
int cli_ws_open(pt_ws **ws, const cli_common *c);
// A workspace with no model (for random shapes).
int cli_ws_create(pt_ws **ws, const char *device, int threads, int ctx);
// Waits for a task, printing the warnings that come meanwhile; prints its
// error as one line. Returns an exit status.
int cli_wait_task(pt_ws *ws, int task);
// Loads each adapter folder (or GGUF LoRA) into the registry; ids gets their
// ids. A base-model mismatch warns once per adapter on stderr.
int cli_adapters_load(pt_ws *ws, const char *const *dirs, int n, int *ids);
// Prints the warnings among the events that wait (on stderr); drops the rest.
void cli_drain_warnings(pt_ws *ws);
// Sends text to a chat and prints the answer on stdout as it streams (the
// workspace's notices on stderr); Ctrl-C cancels it. *stop: how it ended
// (pt_stop); *last_byte (may be NULL): the answer's last byte printed.
int cli_chat_turn(pt_ws *ws, int chat, const char *text, int *stop, int *last_byte, pt_err *err);

// An engine error as one line and an exit status: a bad name or value the
// user gave (usage) becomes CLI_USAGE when usage_on_arg, else CLI_ERR.
int cli_engine_error(const pt_err *err, int usage_on_arg);

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
// Loads the model and the adapter, prints the export's warnings, writes it (cmd_export.c).
int cli_export_run(const char *model, int threads, const char *adapter_dir, const char *format, float scale,
                   const char *out);

// The workbench (src/tui/tui_main.c): model, device (NULL: auto), threads (0: all).
int tui_run(const char *model_path, const char *device, int threads);

#endif

// main.c - peftui's entry point: picks the subcommand and is the only place
// that exits. Each subcommand lives in its own cmd_*.c and returns an exit
// status (0 ok, 1 runtime error, 2 usage error).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command COMMANDS[] = {
    {"chat", cmd_chat, "talk with a model in the terminal (line editing, history, /help for commands)"},
    {"generate", cmd_generate, "answer one prompt and print it: generate -p \"PROMPT\""},
    {"info", cmd_info, "show a model's architecture, tokenizer, tensors and LoRA targets"},
    {"tokenize", cmd_tokenize, "show how the model's tokenizer splits a text"},
    {"bench", cmd_bench, "measure load time, prefill and decode speed, and memory"},
    {"train", cmd_train, "fine-tune a LoRA adapter on a dataset: train -d DATA"},
    {"compare", cmd_compare, "the base and each adapter answer one prompt side by side"},
    {"merge", cmd_merge, "merge an adapter into the base and save it as a Hugging Face model"},
    {"export", cmd_export, "write an adapter as a PEFT folder, a merged model or a GGUF LoRA for llama.cpp"},
};
#define N_COMMANDS ((int)(sizeof COMMANDS / sizeof COMMANDS[0]))

static void usage(FILE *f) {
    fprintf(f, "usage: peftui [-m MODEL]          the workbench (a terminal UI)\n"
               "       peftui COMMAND [options]\n\n"
               "peftui runs and fine-tunes LLaMA-family models in the terminal.\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "this text, or `peftui help COMMAND` for one command's options");
    fprintf(f, "\nEvery command takes -m PATH (a GGUF file or a Hugging Face folder); the default\n"
               "model is $PEFTUI_MODEL, else %s (fetch it with scripts/setup.sh).\n"
               "Start with:  peftui   (the workbench), or peftui chat\n", CLI_DEFAULT_MODEL);
}

static const command *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
    return NULL;
}

// `peftui` alone, or with only -m/--device/-t, opens the workbench.
static int workbench(int argc, char **argv) {
    const char *model = NULL, *device = NULL;
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if ((!strcmp(o, "-m") || !strcmp(o, "--model")) && i + 1 < argc) model = argv[++i];
        else if (!strcmp(o, "--device") && i + 1 < argc) device = argv[++i];
        else if ((!strcmp(o, "-t") || !strcmp(o, "--threads")) && i + 1 < argc) threads = atoi(argv[++i]);
        else return cli_error(CLI_USAGE, "'%s': the workbench takes -m MODEL, --device NAME and -t N (try %s help)", o,
                              cli_progname());
    }
    if (device && !pt_device_name_ok(device))
        return cli_error(CLI_USAGE, "unknown device '%s' (auto, cpu, cuda, emu, cpu-naive)", device);
    if (!model) model = getenv("PEFTUI_MODEL");
    return tui_run(model, device, threads);
}

int main(int argc, char **argv) {
    pt_init(argv);  // once, before any work: pick OpenBLAS's fast kernels
    if (argc < 2 || !strcmp(argv[1], "-m") || !strcmp(argv[1], "--model") || !strcmp(argv[1], "--device") ||
        !strcmp(argv[1], "-t") || !strcmp(argv[1], "--threads"))
        return workbench(argc, argv);
    const char *name = argv[1];
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
        if (argc > 2 && !strcmp(name, "help")) {
            const command *c = find_command(argv[2]);
            if (!c) return cli_error(CLI_USAGE, "unknown command '%s' (try %s help)", argv[2], cli_progname());
            char *sub[] = {argv[2], "--help", NULL};
            return c->run(2, sub);
        }
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(name, "--version")) {
        printf("peftui 0.1\n");
        return CLI_OK;
    }
    const command *c = find_command(name);
    if (!c) {
        if (name[0] == '-')
            return cli_error(CLI_USAGE, "'%s' before a command (usage: peftui COMMAND [options]; try %s help)",
                             name, cli_progname());
        return cli_error(CLI_USAGE, "unknown command '%s' (try %s help)", name, cli_progname());
    }
    int rc = c->run(argc - 1, argv + 1);
    fflush(stdout);
    return rc;
}

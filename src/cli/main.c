// main.c - peftui's entry point: picks the subcommand and is the only place
// that exits. Each subcommand lives in its own cmd_*.c and returns an exit
// status (0 ok, 1 runtime error, 2 usage error).
#include <stdio.h>
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
    fprintf(f, "usage: peftui COMMAND [options]\n\n"
               "peftui runs and fine-tunes LLaMA-family models in the terminal.\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "  %-10s %s\n", "help", "this text, or `peftui help COMMAND` for one command's options");
    fprintf(f, "\nEvery command takes -m PATH (a GGUF file or a Hugging Face folder); the default\n"
               "model is $PEFTUI_MODEL, else %s (fetch it with scripts/setup.sh).\n"
               "Start with:  peftui chat\n", CLI_DEFAULT_MODEL);
}

static const command *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(COMMANDS[i].name, name)) return &COMMANDS[i];
    return NULL;
}

int main(int argc, char **argv) {
    pt_init(argv);  // once, before any work: pick OpenBLAS's fast kernels
    if (argc < 2) {
        usage(stdout);
        return CLI_OK;
    }
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

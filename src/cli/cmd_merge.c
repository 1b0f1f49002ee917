// cmd_merge.c - `peftui merge -m MODEL --adapter DIR -o OUT`: the base with the
// adapter folded into its weights, written as a Hugging Face model folder
// (the same as `peftui export --format merged`).
#include "cli.h"


int cmd_merge(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *out = NULL;
    float scale = 1.0f;
    int threads = cli_default_threads();
    cli_opt opts[] = {
        {"model", 'm', OPT_STR, &model, "PATH", "the base model (default: $PEFTUI_MODEL, else " CLI_DEFAULT_MODEL ")", 0, 0},
        {"adapter", 0, OPT_STR, &adapter, "DIR", "the adapter folder to merge in", 0, 0},
        {"out", 'o', OPT_STR, &out, "DIR", "output folder: model.safetensors, config.json (+ tokenizer files)", 0, 0},
        {"scale", 0, OPT_FLOAT, &scale, "S", "merge at this strength (default 1: as trained)", -100, 100},
        {"threads", 't', OPT_INT, &threads, "N", "CPU threads (default: the number of cores)", 1, 1024},
    };
    cli_command_spec spec = {"merge", "-m MODEL --adapter DIR -o OUT [options]",
                             "Merges an adapter into the base model and writes it as a Hugging Face model folder.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc;
    if ((rc = cli_parse(&spec, argc, argv, pos, 0, &n_pos, &help)) != CLI_OK) return rc;
    if (help) { cli_print_help(&spec); return CLI_OK; }
    if (!adapter) return cli_error(CLI_USAGE, "merge needs --adapter DIR (see %s merge --help)", cli_progname());
    if (!out) return cli_error(CLI_USAGE, "merge needs -o DIR");
    return cli_export_run(model, threads, adapter, "merged", scale, out);
}

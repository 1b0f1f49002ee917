// cmd_export.c - `peftui export --adapter DIR --format peft|merged|gguf-lora
// -o OUT`: an adapter out in the format another tool reads (PEFT folder,
// merged Hugging Face model, GGUF LoRA for llama.cpp's --lora). What the
// target would get wrong (a scale folded into B, parts it cannot carry, a
// quantised base written as float32, ...) is printed before anything is written.
#include <stdio.h>
#include <string.h>

#include "cli.h"

// Loads the model and the adapter, prints the warnings, writes the export.
int cli_export_run(const char *model, int threads, const char *adapter_dir, const char *format, float scale,
                   const char *out) {
    pt_err err = {0};
    pt_ws *ws = NULL;
    int rc, id, task;
    cli_common c;
    cli_common_defaults(&c);
    c.model = model;
    c.threads = threads;
    c.backend = "cpu";   // exporting reads the host copies; no device needed
    if (pt_export_format_check(format, &err) != PT_OK) return cli_error(CLI_USAGE, "--format: %s", err.msg);
    if ((rc = cli_ws_open(&ws, &c)) != CLI_OK) return rc;
    if ((rc = cli_adapters_load(ws, &adapter_dir, 1, &id)) != CLI_OK) goto done;
    char warn[8][320];
    int n = pt_ws_export_check(ws, id, format, scale, warn, 8, &err);
    if (n < 0) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
    for (int i = 0; i < n && i < 8; i++) cli_error(0, "warning: %s", warn[i]);
    if (pt_ws_export(ws, id, format, scale, out, &task, &err) != PT_OK) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
    if ((rc = cli_wait_task(ws, task)) != CLI_OK) goto done;
    pt_adapter_info ai;
    pt_ws_adapter_info(ws, id, &ai);
    printf("exported %s as %s to %s\n", ai.name, format, out);
    if (!strcmp(format, "gguf-lora")) printf("use it with llama.cpp: llama-cli -m BASE.gguf --lora %s\n", out);
    else if (!strcmp(format, "merged")) printf("load it with: %s chat -m %s\n", cli_progname(), out);
    rc = CLI_OK;
done:
    pt_ws_destroy(ws);
    return rc;
}

int cmd_export(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *format = NULL, *out = NULL;
    float scale = 1.0f;
    int threads = cli_default_threads();
    cli_opt opts[] = {
        {"adapter", 0, OPT_STR, &adapter, "DIR", "the adapter folder to export", 0, 0},
        {"format", 0, OPT_STR, &format, "FMT", "peft (folder), merged (Hugging Face model folder) or gguf-lora (file for llama.cpp --lora)", 0, 0},
        {"out", 'o', OPT_STR, &out, "PATH", "output folder (peft, merged) or file (gguf-lora)", 0, 0},
        {"scale", 0, OPT_FLOAT, &scale, "S", "bake this strength into the export (default 1: as trained)", -100, 100},
        {"model", 'm', OPT_STR, &model, "PATH", "the base model the adapter was trained on (default: $PEFTUI_MODEL, else " CLI_DEFAULT_MODEL ")", 0, 0},
        {"threads", 't', OPT_INT, &threads, "N", "CPU threads (default: the number of cores)", 1, 1024},
    };
    cli_command_spec spec = {"export", "--adapter DIR --format peft|merged|gguf-lora -o OUT [options]",
                             "Writes an adapter for other tools: PEFT, a merged Hugging Face model, or a GGUF LoRA for llama.cpp.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc;
    if ((rc = cli_parse(&spec, argc, argv, pos, 0, &n_pos, &help)) != CLI_OK) return rc;
    if (help) { cli_print_help(&spec); return CLI_OK; }
    if (!adapter) return cli_error(CLI_USAGE, "export needs --adapter DIR (see %s export --help)", cli_progname());
    if (!format) return cli_error(CLI_USAGE, "export needs --format peft, merged or gguf-lora");
    if (!out) return cli_error(CLI_USAGE, "export needs -o PATH");
    return cli_export_run(model, threads, adapter, format, scale, out);
}

// cmd_train.c - `peftui train -d DATA`: LoRA fine-tuning from the command
// line. Loads the model, builds the LoRA config (PEFT's defaults, then
// --config adapter_config.json, then flags), loads and splits the data,
// creates the adapter (or takes it from --resume's checkpoint) and runs the
// trainer's thread, drawing its progress: a redrawn bar on a terminal, one
// line per step otherwise. Ctrl-C stops after the current step with a
// checkpoint (exit 130). The trainer itself writes OUT/log.jsonl.
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "train/checkpoint.h"
#include "cli.h"
#include "train/dataset.h"
#include "lora/lora.h"
#include "train/trainer.h"

typedef struct {
    // flags; sentinels (INT_MIN, NAN, NULL) mean "not given"
    const char *data, *model, *template_name, *system, *out, *resume, *config;
    const char *targets, *target_regex, *scheduler, *modules_to_save, *device;
    int threads, r, epochs, steps, train_on_prompt, rslora;
    float alpha, dropout, eval_frac;
    pt_train_params p;
} train_opts;

// ---------------------------------------------------------------------------
// LoRA config

static int path_is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}


static void free_targets(pt_lora_config *c) {
    for (int i = 0; i < c->n_target_modules; i++) free(c->target_modules[i]);
    free(c->target_modules);
    free(c->target_regex);
    c->target_modules = NULL;
    c->n_target_modules = 0;
    c->target_regex = NULL;
    c->target_all_linear = 0;
}

// "a, b,c" -> {"a", "b", "c"} (malloc'd strings in a malloc'd array).
static int split_list(const char *list, char ***out, int *n_out) {
    int n = 1;
    for (const char *p = list; *p; p++) n += *p == ',';
    if (!(*out = calloc((size_t)n, sizeof **out))) return CLI_ERR;
    *n_out = 0;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        const char *s = p, *e = p + len;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
        if (e > s) {
            if (!((*out)[*n_out] = strndup(s, (size_t)(e - s)))) return CLI_ERR;
            (*n_out)++;
        }
        p += len;
        if (*p == ',') p++;
    }
    return CLI_OK;
}

// --target-modules q_proj,v_proj | all-linear, or --target-regex RE.
static int set_targets(pt_lora_config *c, const char *list, const char *regex) {
    free_targets(c);
    if (regex) {
        if (!(c->target_regex = strdup(regex))) return cli_error(CLI_ERR, "out of memory");
        return CLI_OK;
    }
    if (!strcmp(list, "all-linear")) {
        c->target_all_linear = 1;
        return CLI_OK;
    }
    if (split_list(list, &c->target_modules, &c->n_target_modules) != CLI_OK) return cli_error(CLI_ERR, "out of memory");
    if (!c->n_target_modules)
        return cli_error(CLI_USAGE, "--target-modules: no module names in '%s' (e.g. q_proj,v_proj or all-linear)", list);
    return CLI_OK;
}

// Defaults (r 8, alpha 16, dropout 0.05), else --config's, then the flags.
static int build_config(pt_lora_config *c, const train_opts *o) {
    pt_err err = {0};
    lora_config_defaults(c);
    if (o->config) {
        char *json = NULL;
        if (pt_read_file(o->config, &json, NULL, &err) != PT_OK) return cli_error(CLI_ERR, "--config: %s", err.msg);
        int rc = lora_config_from_json(c, json, o->config, &err);
        free(json);
        if (rc != PT_OK) return cli_error(CLI_ERR, "%s", err.msg);
        c->inference_mode = 0;
    } else {
        c->r = 8;
        c->lora_alpha = 16.0f;
        c->lora_dropout = 0.05f;
    }
    if (o->r != INT_MIN) c->r = o->r;
    if (!isnan(o->alpha)) c->lora_alpha = o->alpha;
    if (!isnan(o->dropout)) c->lora_dropout = o->dropout;
    if (o->rslora) c->use_rslora = 1;
    if (o->targets || o->target_regex) {
        int rc = set_targets(c, o->targets, o->target_regex);
        if (rc != CLI_OK) return rc;
    }
    if (o->modules_to_save) {
        for (int i = 0; i < c->n_modules_to_save; i++) free(c->modules_to_save[i]);
        free(c->modules_to_save);
        c->modules_to_save = NULL;
        if (split_list(o->modules_to_save, &c->modules_to_save, &c->n_modules_to_save) != CLI_OK)
            return cli_error(CLI_ERR, "out of memory");
    }
    if (lora_config_validate(c, &err) != PT_OK)
        return cli_error(o->config ? CLI_ERR : CLI_USAGE, "invalid LoRA config: %s", err.msg);
    return CLI_OK;
}


// ---------------------------------------------------------------------------
// --resume: a checkpoint folder, or a run's folder holding checkpoint-N ones

static int find_checkpoint(const char *dir, char *out, size_t cap) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/trainer_state.json", dir);
    if (path_is_file(p)) { snprintf(out, cap, "%s", dir); return 0; }
    DIR *d = opendir(dir);
    if (!d) return -1;
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        if (strncmp(e->d_name, "checkpoint-", 11)) continue;
        long step = strtol(e->d_name + 11, &end, 10);
        if (*end || end == e->d_name + 11 || step <= best) continue;
        snprintf(p, sizeof p, "%s/%s/trainer_state.json", dir, e->d_name);
        if (path_is_file(p)) best = step;
    }
    closedir(d);
    if (best < 0) return -1;
    snprintf(out, cap, "%s/checkpoint-%ld", dir, best);
    return 0;
}

// The run folder a checkpoint belongs to: OUT for OUT/checkpoint-N.
static void run_dir_of(const char *ckpt, char *out, size_t cap) {
    const char *slash = strrchr(ckpt, '/');
    const char *base = slash ? slash + 1 : ckpt;
    if (!strncmp(base, "checkpoint-", 11)) {
        if (!slash) snprintf(out, cap, ".");
        else snprintf(out, cap, "%.*s", (int)(slash - ckpt), ckpt);
    } else {
        snprintf(out, cap, "%s", ckpt);
    }
}

// ---------------------------------------------------------------------------
// progress

static int term_width(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

static void fmt_time(char *buf, size_t cap, double s) {
    if (!isfinite(s) || s < 0) { snprintf(buf, cap, "?"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

// "loss 2.345  eval 2.101  lr 2.0e-04  812 tok/s  ETA 1:23"
static void fmt_stats(char *buf, size_t cap, const pt_train_record *r, float eval_loss, double eta) {
    char ev[32] = "", et[40] = "";
    if (!isnan(eval_loss)) snprintf(ev, sizeof ev, "  eval %.4f", eval_loss);
    if (!isnan(eta)) {
        memcpy(et, "  ETA ", 7);
        fmt_time(et + 6, sizeof et - 6, eta);
    }
    snprintf(buf, cap, "loss %.4f%s  lr %.2e  %.0f tok/s%s", r->loss, ev, r->lr, r->tokens_per_s, et);
}

static void draw_bar(const pt_train_status *st, int have) {
    char stats[320] = "", bar[128];
    int w = term_width();
    if (have) fmt_stats(stats, sizeof stats, &st->last, st->last_eval_loss, st->eta_s);
    else snprintf(stats, sizeof stats, "%s", st->message);
    char count[48];
    snprintf(count, sizeof count, "%d/%d", st->step, st->total_steps);
    int room = w - (int)strlen(count) - (int)strlen(stats) - 6;
    int bw = room > 40 ? 40 : room;
    if (bw >= 10) {
        int fill = st->total_steps > 0 ? (int)((double)bw * st->step / st->total_steps) : 0;
        for (int i = 0; i < bw; i++) bar[i] = i < fill ? '#' : '.';
        bar[bw] = '\0';
        printf("\r[%s] %s  %s\033[K", bar, count, stats);
    } else {
        printf("\r%s  %.*s\033[K", count, w > 20 ? w - 20 : 20, stats);
    }
    fflush(stdout);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); // Ctrl-C cuts it short: fine
}

// Polls the trainer until it ends; returns the exit status.
static int watch(pt_trainer *t, const char *out_dir) {
    int tty = isatty(STDOUT_FILENO), stopping = 0, have = 0;
    pt_train_record recs[64];
    pt_train_status st;
    for (;;) {
        sleep_ms(100);
        trainer_status(t, &st);
        int terminal = st.state == PT_TRAIN_DONE || st.state == PT_TRAIN_FAILED || st.state == PT_TRAIN_CANCELLED;
        int n;
        while ((n = trainer_poll(t, recs, 64)) > 0) {
            have = 1;
            if (tty) continue;
            for (int i = 0; i < n; i++) {
                char stats[160];
                fmt_stats(stats, sizeof stats, &recs[i], recs[i].eval_loss, i == n - 1 ? st.eta_s : NAN);
                printf("step %d/%d  %s\n", recs[i].step, st.total_steps, stats);
            }
            fflush(stdout);
        }
        if (tty) {
            trainer_status(t, &st);
            draw_bar(&st, have);
        }
        if (terminal) break;
        if (*cli_abort_flag() && !stopping) {
            stopping = 1;
            trainer_stop(t);
            if (tty) printf("\n");
            fflush(stdout);
            fprintf(stderr, "peftui: stopping after this step and saving a checkpoint (wait for it)\n");
        }
    }
    if (tty) printf("\n");
    fflush(stdout);
    pt_err err = {0};
    int rc = trainer_join(t, &err);
    if (rc != PT_OK) return cli_error(CLI_ERR, "%s", err.msg[0] ? err.msg : pt_status_str((pt_status)rc));
    if (stopping && st.step < st.total_steps) {
        printf("stopped at step %d of %d; checkpoint: %s\n", st.step, st.total_steps,
               st.last_checkpoint[0] ? st.last_checkpoint : "none");
        printf("continue with: %s train ... --resume %s\n", cli_progname(), out_dir);
        fflush(stdout);
        return 130; // 128 + SIGINT, as shells report it
    }
    printf("adapter saved to %s (adapter_config.json, adapter_model.safetensors; log in %s/log.jsonl)\n", out_dir, out_dir);
    printf("try: %s compare -p \"What is your name?\" --adapter %s\n", cli_progname(), out_dir);
    return CLI_OK;
}

// ---------------------------------------------------------------------------

static int parse_scheduler(const char *s, pt_sched *out) {
    if (!strcmp(s, "constant")) *out = PT_SCHED_CONSTANT;
    else if (!strcmp(s, "linear")) *out = PT_SCHED_LINEAR;
    else if (!strcmp(s, "cosine")) *out = PT_SCHED_COSINE;
    else return cli_error(CLI_USAGE, "--scheduler: unknown schedule '%s' (use constant, linear or cosine)", s);
    return CLI_OK;
}

// adapters/identity for datasets/identity.jsonl
static void default_out(const char *data, char *buf, size_t cap) {
    const char *base = strrchr(data, '/');
    base = base ? base + 1 : data;
    size_t n = strcspn(base, ".");
    if (n == 0) n = strlen(base);
    snprintf(buf, cap, "adapters/%.*s", (int)n, base);
}

int cmd_train(int argc, char **argv) {
    train_opts o;
    memset(&o, 0, sizeof o);
    train_params_defaults(&o.p);
    o.threads = cli_default_threads();
    o.r = INT_MIN;
    o.alpha = o.dropout = NAN;
    o.epochs = INT_MIN;
    o.steps = INT_MIN;
    o.eval_frac = (float)o.p.eval_frac;
    pt_train_params *p = &o.p;
    const int BIG = 1 << 30;
    cli_opt opts[] = {
        {"data", 'd', OPT_STR, &o.data, "FILE", "training data: .json/.jsonl (Alpaca, ShareGPT or messages) or .txt", 0, 0},
        {"model", 'm', OPT_STR, &o.model, "PATH", "base model: GGUF file or Hugging Face folder (default: $PEFTUI_MODEL, else " CLI_DEFAULT_MODEL ")", 0, 0},
        {"out", 'o', OPT_STR, &o.out, "DIR", "where the adapter and checkpoints go (default: adapters/<data name>)", 0, 0},
        {"template", 0, OPT_STR, &o.template_name, "NAME", "chat template for the rows (default: guessed from the model)", 0, 0},
        {"system", 0, OPT_STR, &o.system, "TEXT", "system message for rows without one (default: the model's own, if any)", 0, 0},
        {"config", 0, OPT_STR, &o.config, "FILE", "a PEFT adapter_config.json to take the LoRA settings from (flags still win)", 0, 0},
        {"r", 0, OPT_INT, &o.r, "N", "LoRA rank (default 8)", -BIG, BIG},
        {"alpha", 0, OPT_FLOAT, &o.alpha, "A", "lora_alpha; the update is scaled by alpha/r (default 16)", -1e30, 1e30},
        {"dropout", 0, OPT_FLOAT, &o.dropout, "P", "lora_dropout, in [0, 1) (default 0.05)", -1e30, 1e30},
        {"target-modules", 0, OPT_STR, &o.targets, "LIST", "layers to adapt: q_proj,v_proj (default for llama), ... or all-linear", 0, 0},
        {"target-regex", 0, OPT_STR, &o.target_regex, "RE", "adapt the modules whose full name matches RE (PEFT's string form)", 0, 0},
        {"modules-to-save", 0, OPT_STR, &o.modules_to_save, "LIST", "train whole copies of these modules too: lm_head, embed_tokens", 0, 0},
        {"rslora", 0, OPT_FLAG, &o.rslora, NULL, "rank-stabilised LoRA: scale by alpha/sqrt(r)", 0, 0},
        {"lr", 0, OPT_FLOAT, &p->lr, "LR", "peak learning rate (default 2e-4)", 0, 10},
        {"epochs", 0, OPT_INT, &o.epochs, "E", "passes over the data (default 3)", 1, BIG},
        {"steps", 0, OPT_INT, &o.steps, "N", "optimizer steps instead of epochs", 1, BIG},
        {"batch", 0, OPT_INT, &p->batch, "B", "sequences per micro-batch (default 4)", 1, 256},
        {"grad-accum", 0, OPT_INT, &p->grad_accum, "G", "micro-batches per optimizer step (default 1)", 1, 4096},
        {"max-seq-len", 0, OPT_INT, &p->max_seq_len, "L", "cut examples to L tokens (default 512)", 2, 1 << 20},
        {"save-every", 0, OPT_INT, &p->save_every, "N", "checkpoint every N steps; 0: only at the end (default 100)", 0, BIG},
        {"eval-every", 0, OPT_INT, &p->eval_every, "N", "eval loss every N steps; 0: only at the end (default 0)", 0, BIG},
        {"eval-frac", 0, OPT_FLOAT, &o.eval_frac, "F", "share of the rows held out for eval loss (default 0)", 0, 0.9},
        {"warmup", 0, OPT_INT, &p->warmup_steps, "N", "learning-rate warmup steps (default 0)", 0, BIG},
        {"scheduler", 0, OPT_STR, &o.scheduler, "NAME", "learning-rate schedule: constant, linear (default) or cosine", 0, 0},
        {"weight-decay", 0, OPT_FLOAT, &p->weight_decay, "W", "AdamW weight decay (default 0)", 0, 10},
        {"max-grad-norm", 0, OPT_FLOAT, &p->max_grad_norm, "G", "clip the gradient norm; 0 is off (default 1)", 0, 1e30},
        {"seed", 0, OPT_U64, &p->seed, "S", "seed for init, shuffling, split and dropout (default 42)", 0, 0},
        {"train-on-prompt", 0, OPT_FLAG, &o.train_on_prompt, NULL, "loss on every token, not only the answers", 0, 0},
        {"resume", 0, OPT_STR, &o.resume, "DIR", "continue from a checkpoint (or the newest checkpoint-N in DIR)", 0, 0},
        {"threads", 't', OPT_INT, &o.threads, "N", "CPU threads (default: the number of cores)", 1, 1024},
        {"device", 0, OPT_STR, &o.device, "NAME", "auto (default: cuda when a GPU is present, else cpu), cpu or cuda", 0, 0},
    };
    cli_command_spec spec = {"train", "-d DATA [options]",
                             "Fine-tunes a LoRA adapter on DATA. Ctrl-C stops with a checkpoint; --resume continues.",
                             opts, (int)(sizeof opts / sizeof opts[0])};
    char *pos[1];
    int n_pos, help, rc;
    if ((rc = cli_parse(&spec, argc, argv, pos, 0, &n_pos, &help)) != CLI_OK) return rc;
    if (help) { cli_print_help(&spec); return CLI_OK; }
    if (!o.data) return cli_error(CLI_USAGE, "train needs data: -d FILE (see %s train --help)", cli_progname());
    if (o.epochs != INT_MIN && o.steps != INT_MIN) return cli_error(CLI_USAGE, "give --epochs or --steps, not both");
    if (o.targets && o.target_regex) return cli_error(CLI_USAGE, "give --target-modules or --target-regex, not both");
    if (o.resume && (o.config || o.r != INT_MIN || !isnan(o.alpha) || o.targets || o.target_regex || o.rslora || o.modules_to_save))
        return cli_error(CLI_USAGE, "--resume continues its checkpoint's LoRA config: drop --config, --r, --alpha, "
                         "--rslora and the target flags");
    if (o.scheduler && (rc = parse_scheduler(o.scheduler, &p->sched)) != CLI_OK) return rc;
    if (o.epochs != INT_MIN) p->epochs = o.epochs;
    if (o.steps != INT_MIN) p->max_steps = o.steps;
    p->eval_frac = o.eval_frac;
    p->n_threads = o.threads;
    if (o.device) {
        if (!cli_device_name_ok(o.device)) return cli_error(CLI_USAGE, "unknown device '%s' (use auto, cpu or cuda)", o.device);
        snprintf(p->device, sizeof p->device, "%s", o.device);
    }
    struct stat dst;
    if (stat(o.data, &dst) != 0) return cli_error(CLI_ERR, "%s: cannot open the dataset: %s", o.data, strerror(errno));
    if (S_ISDIR(dst.st_mode)) return cli_error(CLI_ERR, "%s: is a folder; -d takes a .json, .jsonl or .txt file", o.data);
    if (o.config && !path_is_file(o.config)) return cli_error(CLI_ERR, "--config %s: no such file", o.config);
    if (o.system && cli_utf8_invalid_at(o.system, strlen(o.system)))
        return cli_error(CLI_USAGE, "the --system text is not valid UTF-8");

    char ckpt[PATH_MAX] = "", out_buf[PATH_MAX];
    if (o.resume) {
        if (find_checkpoint(o.resume, ckpt, sizeof ckpt))
            return cli_error(CLI_ERR, "%s: no checkpoint to resume from (no trainer_state.json there, and no "
                             "checkpoint-N folders)", o.resume);
        if (strlen(ckpt) >= sizeof p->resume_dir) return cli_error(CLI_USAGE, "--resume: the path is too long");
        memcpy(p->resume_dir, ckpt, strlen(ckpt) + 1);
    }
    if (o.out) snprintf(out_buf, sizeof out_buf, "%s", o.out);
    else if (o.resume) run_dir_of(ckpt, out_buf, sizeof out_buf);
    else default_out(o.data, out_buf, sizeof out_buf);
    if (strlen(out_buf) >= sizeof p->out_dir) return cli_error(CLI_USAGE, "-o: the path is too long");
    memcpy(p->out_dir, out_buf, strlen(out_buf) + 1);

    pt_lora_config cfg;
    lora_config_defaults(&cfg);
    if (!o.resume && (rc = build_config(&cfg, &o)) != CLI_OK) { lora_config_free(&cfg); return rc; }

    pt_model m;
    pt_chat_template *tmpl = NULL;
    char *model_system = NULL;
    pt_dataset all = {0}, train = {0}, eval = {0};
    pt_adapter a;
    int a_ok = 0;
    pt_err err = {0};
    memset(&a, 0, sizeof a);
    double load_s = 0;
    if ((rc = cli_model_load(&m, o.model, &load_s)) != CLI_OK) { lora_config_free(&cfg); return rc; }
    if ((rc = cli_template_open(&tmpl, &model_system, &m, o.template_name)) != CLI_OK) goto done;
    snprintf(p->template_name, sizeof p->template_name, "%s", template_name(tmpl));

    // the adapter first: a bad config is found before the data is read
    if (o.resume) {
        char warn[512] = "";
        if (adapter_load(&a, &m, ckpt, warn, sizeof warn, &err) != PT_OK) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
        if (warn[0]) cli_error(0, "warning: %s", warn);
        a.cfg.inference_mode = 0;
        if (!isnan(o.dropout)) a.cfg.lora_dropout = o.dropout;
        if (lora_config_validate(&a.cfg, &err) != PT_OK) { rc = cli_error(CLI_USAGE, "invalid LoRA config: %s", err.msg); goto done; }
    } else if (adapter_create(&a, &m, &cfg, p->seed, &err) != PT_OK) {
        rc = cli_error(err.code == PT_ERR_ARG ? CLI_USAGE : CLI_ERR, "%s", err.msg);
        goto done;
    }
    a_ok = 1;
    snprintf(a.template_name, sizeof a.template_name, "%s", template_name(tmpl));

    if (m.cfg.max_ctx > 0 && p->max_seq_len > m.cfg.max_ctx) p->max_seq_len = m.cfg.max_ctx; // no positions it never saw
    pt_dataset_opts dopts = {.max_seq_len = p->max_seq_len, .train_on_prompt = o.train_on_prompt,
                             .default_system = o.system ? o.system : model_system};
    if (dataset_load(&all, o.data, m.tok, tmpl, &dopts, &err) != PT_OK) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
    int n_rows = all.n;
    if (dataset_split(&all, p->eval_frac, p->seed, &train, &eval, &err) != PT_OK) { rc = cli_error(CLI_ERR, "%s", err.msg); goto done; }
    if (p->eval_frac > 0 && eval.n == 0) cli_error(0, "warning: %d example%s: too few to hold any out for eval", n_rows, n_rows == 1 ? "" : "s");
    if (pt_dir_check_writable(p->out_dir, &err) != PT_OK) { rc = cli_error(CLI_ERR, "-o %s", err.msg); goto done; }

    char targets[256];
    lora_describe_targets(&a.cfg, targets, sizeof targets);
    int n_mods = 0;
    for (int i = 0; i < a.n_layer * PT_LIN_COUNT; i++) n_mods += a.mods[i].A != NULL;
    printf("model   %s (%s, load %.1f s)\n", m.cfg.name[0] ? m.cfg.name : m.path, m.path, load_s);
    printf("data    %s: %d %s rows, %d train / %d eval, template %s\n", o.data, n_rows + train.n_skipped, train.format,
           train.n, eval.n, template_name(tmpl));
    if (train.n_truncated || train.n_skipped)
        printf("        %d cut to --max-seq-len %d; %d dropped, no answer left within it\n", train.n_truncated,
               p->max_seq_len, train.n_skipped);
    printf("LoRA    r=%d alpha=%g dropout=%g%s on %s: %d modules, %zu trainable parameters\n", a.cfg.r, a.cfg.lora_alpha,
           a.cfg.lora_dropout, a.cfg.use_rslora ? " (rsLoRA)" : "", targets, n_mods, a.n_params);
    if (o.resume) printf("resume  %s\n", ckpt);
    printf("output  %s\n", p->out_dir);
    fflush(stdout);

    cli_sigint_install();
    pt_trainer *t = NULL;
    if (trainer_start(&t, &m, &a, &train, eval.n ? &eval : NULL, p, NULL, &err) != PT_OK) {
        rc = cli_error(CLI_ERR, "%s", err.msg);
        goto done;
    }
    pt_train_status st0;
    trainer_status(t, &st0);
    printf("device  %s\n", st0.device);
    fflush(stdout);
    rc = watch(t, p->out_dir);
done:
    dataset_free(&all);
    dataset_free(&train);
    dataset_free(&eval);
    if (a_ok) adapter_free(&a);
    lora_config_free(&cfg);
    free(model_system);
    template_free(tmpl);
    model_free(&m);
    return rc;
}

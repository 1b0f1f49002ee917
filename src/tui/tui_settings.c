// tui_settings.c - what the workbench remembers between runs, in the user's
// config folder (pt_config_dir): settings.json (last model, dataset,
// template, probe, training and sampling settings), lora_config.json (the
// last LoraConfig, as PEFT's adapter_config.json) and the prompt history.
// Written to a temporary name and renamed, so a crash never leaves half a file.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tui/tui.h"

static int config_path(char *buf, size_t cap, const char *name) {
    char dir[1024];
    pt_err err = {0};
    if (pt_config_dir(dir, sizeof dir, &err)) return -1;
    snprintf(buf, cap, "%s/%s", dir, name);
    return 0;
}

static void get_str(const cJSON *o, const char *key, char *dst, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v) && strlen(v->valuestring) < cap) snprintf(dst, cap, "%s", v->valuestring);
}

// Every field of a form, as the text its parser takes: a bad value in the
// file is left at the default rather than refusing to start.
static void get_form(tui_app *a, const cJSON *o, int form) {
    if (!cJSON_IsObject(o)) return;
    for (int i = 0; i < tui_form_count(form); i++) {
        const tui_field *f = tui_form_field(form, i);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, f->name);
        char why[160];
        if (cJSON_IsString(v)) tui_field_set(a, f, v->valuestring, why, sizeof why);
    }
}

static cJSON *put_form(tui_app *a, int form) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < tui_form_count(form); i++) {
        const tui_field *f = tui_form_field(form, i);
        char buf[1024];
        tui_field_get(a, f, buf, sizeof buf);
        cJSON_AddStringToObject(o, f->name, buf);
    }
    return o;
}

int tui_settings_load(tui_app *a) {
    char path[1100];
    if (config_path(path, sizeof path, "settings.json")) return -1;
    char *text = NULL;
    size_t len;
    pt_err err = {0};
    if (pt_read_text(path, &text, &len, &err)) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return -1;
    get_str(root, "model", a->model_path, sizeof a->model_path);
    get_str(root, "dataset", a->data_path, sizeof a->data_path);
    get_str(root, "template", a->template_name, sizeof a->template_name);
    get_str(root, "probe", a->probe, sizeof a->probe);
    get_form(a, cJSON_GetObjectItemCaseSensitive(root, "training"), FORM_TRAIN);
    get_form(a, cJSON_GetObjectItemCaseSensitive(root, "sampling"), FORM_SAMPLING);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    if (cJSON_IsNumber(v) && v->valueint > 0 && v->valueint <= 8192) a->max_tokens = v->valueint;
    v = cJSON_GetObjectItemCaseSensitive(root, "trained_before");
    a->job_seen = cJSON_IsTrue(v);
    cJSON_Delete(root);
    a->settings_loaded = 1;
    char lora[1100];
    pt_lora_config c;
    if (!config_path(lora, sizeof lora, "lora_config.json") && pt_lora_config_read(&c, lora, &err) == PT_OK) {
        lora_config_free(&a->cfg);
        a->cfg = c;
    }
    return 0;
}

int tui_settings_save(tui_app *a) {
    char path[1100], tmp[1200];
    if (config_path(path, sizeof path, "settings.json")) return -1;
    cJSON *root = cJSON_CreateObject();
    if (!root) return -1;
    cJSON_AddStringToObject(root, "model", a->model_path);
    cJSON_AddStringToObject(root, "dataset", a->data_path);
    cJSON_AddStringToObject(root, "template", a->template_name);
    cJSON_AddStringToObject(root, "probe", a->probe);
    cJSON_AddItemToObject(root, "training", put_form(a, FORM_TRAIN));
    cJSON_AddItemToObject(root, "sampling", put_form(a, FORM_SAMPLING));
    cJSON_AddNumberToObject(root, "max_tokens", a->max_tokens);
    cJSON_AddBoolToObject(root, "trained_before", a->job_seen);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (f) {
        int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
        ok &= fclose(f) == 0;
        rc = ok && rename(tmp, path) == 0 ? 0 : -1;
        if (rc) remove(tmp);
    }
    free(text);
    char lora[1100];
    pt_err err = {0};
    if (!config_path(lora, sizeof lora, "lora_config.json")) pt_lora_config_write(&a->cfg, lora, &err);
    return rc;
}

void tui_edit_load_history(tui_app *a) {
    (void)a;
    char path[1100];
    if (!config_path(path, sizeof path, "history")) tui_edit_history(path, 0);
}

void tui_edit_save_history(tui_app *a) {
    (void)a;
    char path[1100];
    if (!config_path(path, sizeof path, "history")) tui_edit_history(path, 1);
}

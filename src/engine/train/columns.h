// columns.h - which fields of a dataset row make an example, for files that
// are not in a format peftui recognises by its keys (any JSON, JSONL, CSV or
// TSV): LLaMA-Factory's dataset_info.json "columns" (prompt, query,
// response, system) plus a prompt format string with {field} placeholders,
// the way the RAFT notebooks build "Tweet text : {Tweet text} Label : ".
// Plain data, for the public header and the dataset loader alike.
#ifndef PT_COLUMNS_H
#define PT_COLUMNS_H

#include <stddef.h>
#include "core/pt_error.h"

typedef struct {
    char prompt[64];          // the user's turn (with query after it, a newline between)
    char query[64];           // optional second part of the user's turn ("input")
    char response[64];        // the answer: the tokens trained on
    char system[64];          // optional per-row system prompt
    char prompt_format[512];  // "" or the user's turn built from fields: "{name}" is the field, "{{" a "{"
} pt_columns;

// Whether c names anything (else the loader detects the format by its keys).
int columns_set(const pt_columns *c);

// The dataset a path names: a data file as it is, or a LLaMA-Factory
// dataset_info.json whose entry `name` (NULL or "": its only entry) gives
// file_name (relative to the json's folder), columns and our prompt_format.
// flags, when it names anything, overrides the entry's fields one by one.
// Writes the data file's path into file and the columns into out.
int dataset_resolve(const char *path, const char *name, const pt_columns *flags, char *file, size_t cap,
                    pt_columns *out, pt_err *err);

// The column map as one line, for a text field (the workbench's Data screen):
// "dataset=NAME; prompt=F; query=F; response=F; system=F; format=TEXT", each
// part optional, format last (it takes the rest of the line, ';' included).
// An empty line clears the map. Unknown keys are errors.
int columns_parse(const char *spec, pt_columns *out, char *dataset, size_t cap, pt_err *err);
void columns_format(const pt_columns *c, const char *dataset, char *buf, size_t cap);

#endif

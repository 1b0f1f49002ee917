// dataset_csv.h - CSV and TSV files as rows for the dataset loader.
#ifndef PT_DATASET_CSV_H
#define PT_DATASET_CSV_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "core/pt_error.h"

// The records of a CSV (sep ',') or TSV (sep '\t') text whose first record is
// the header: RFC 4180 quoting ("..." fields hold separators, newlines and ""
// for a quote), CR LF or LF line ends, blank lines skipped. *rows: a JSON
// array of objects keyed by the header, every value a string; *lines (malloc'd,
// one per row): the 1-based line each record starts on. A record whose field
// count differs from the header's, an unclosed quote or an empty or repeated
// header name is an error naming the line.
int csv_parse(const char *s, size_t len, char sep, const char *path, cJSON **rows, int **lines, pt_err *err);

#endif

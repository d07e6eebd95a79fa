/* testutil: running the lm binary from tests and reading fixtures. */
#ifndef LM_TESTUTIL_H
#define LM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

struct run_result {
    int status;          /* exit code, or 128 + signal */
    char *out, *err;     /* NUL-terminated captured stdout/stderr; free with run_result_free */
    size_t out_len, err_len;
    long maxrss_kib;     /* peak resident set of the child */
};

/* Run argv (argv[0] a path) with stdin from /dev/null; -1 if it could not start. */
int run_capture(char *const argv[], struct run_result *r);
void run_result_free(struct run_result *r);

/* $LM_BIN, or NULL if unset / not executable. */
const char *lm_bin(void);
/* $LM_MODELS (default ../shared/models), or NULL if the directory is absent. */
const char *lm_models(void);
/* A fresh temporary directory under $TMPDIR (removed by rm_rf). */
char *make_tmpdir(void);
void rm_rf(const char *path);
/* Entries of home/sub whose names do not start with '.' (0 if it cannot be read). */
size_t count_entries(const char *home, const char *sub);

#endif

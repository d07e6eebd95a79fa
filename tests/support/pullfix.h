/* pullfix: what the lm pull tests share: a fresh store, Hugging Face home and mock Hub per test,
 * running `lm pull`, and checking the model it made against the fixture files. */
#ifndef LM_PULLFIX_H
#define LM_PULLFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mock_hf.h"
#include "testutil.h"

struct pullfix {
    char *dir;
    char home[600], hf[600];      /* LM_HOME, HF_HOME */
    struct mock_hf *m;
    bool ok;                      /* lm, the fixtures and the servers are there */
};

/* cmocka setup/teardown: environment for lm (LM_HOME, HF_HOME, HF_ENDPOINT, short stall and
 * retry times, 256 KiB chunks; no token, not offline). */
int pullfix_setup(void **state);
int pullfix_teardown(void **state);
/* Skip the test (cmocka skip) when lm or the fixtures are missing. */
struct pullfix *pullfix_need(void **state);

/* A repo serving the files of $LM_MODELS/sub. */
int pullfix_repo(struct pullfix *f, const char *id, const char *sub, int access);
/* Run lm pull ARGS... (NULL-terminated) with the current environment. */
void pullfix_pull(struct run_result *r, ...);
/* Run lm with ARGS... (NULL-terminated); its exit status. */
int pullfix_lm(const char *first, ...);
/* The model NAME holds exactly these files of $LM_MODELS/sub, byte for byte, came from commit,
 * `lm verify` passes and `lm show NAME` prints the commit. */
void pullfix_check_model(struct pullfix *f, const char *name, const char *sub,
                         const char *const *files, size_t n, const char *commit);
/* Entries in LM_HOME/blobs/sha256 and LM_HOME/tmp. */
size_t pullfix_blobs(struct pullfix *f);
size_t pullfix_temps(struct pullfix *f);
/* Read a whole file (malloc'd); NULL if it cannot be read. */
uint8_t *pullfix_slurp(const char *path, size_t *len);
/* A valid safetensors file of one F32 tensor of n floats, seeded (malloc'd). */
uint8_t *pullfix_safetensors(size_t n, uint32_t seed, size_t *len);
void pullfix_sha256(const void *p, size_t n, char hex[65]);

#endif

/* modelfile_int.h: what modelfile.c and modelfile_params.c share. Not runtime's interface. */
#ifndef LM_MODELFILE_INT_H
#define LM_MODELFILE_INT_H

#include "runtime.h"

/* Fill err as "PATH:LINE: msg" (just "PATH: msg" for line 0); returns -1. */
int mf_fail(struct lm_err *err, const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
char *mf_strndup(const char *s, size_t n);            /* NULL on ENOMEM */
int mf_push(char ***v, size_t *n, char *s);          /* takes s (NULL s fails) */
/* One PARAMETER: typed by Ollama's table, deprecated ones become warnings. */
int mf_param(struct lm_modelfile *mf, const char *name, const char *value, const char *path,
             int line, struct lm_err *err);
void mf_params_release(struct lm_modelfile *mf);

#endif

/* err.c: the one error record every lower layer fills, and how it reads as one line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "banned.h"

int lm_err_set(struct lm_err *err, enum lm_errcode code, const char *path, uint64_t off,
               const char *fmt, ...)
{
    if (!err)
        return -1;
    err->code = code;
    err->off = off;
    snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -1;
}

int lm_err_errno(struct lm_err *err, const char *path, const char *what)
{
    int e = errno;
    return lm_err_set(err, e == ENOMEM ? LM_ENOMEM : LM_EIO, path, LM_NO_OFFSET, "%s: %s", what,
                      strerror(e));
}

void lm_err_clear(struct lm_err *err)
{
    if (!err)
        return;
    err->code = LM_OK;
    err->off = LM_NO_OFFSET;
    err->path[0] = 0;
    err->msg[0] = 0;
}

const char *lm_errcode_name(enum lm_errcode code)
{
    switch (code) {
    case LM_OK: return "ok";
    case LM_EIO: return "io";
    case LM_ECORRUPT: return "corrupt";
    case LM_EUNSUPPORTED: return "unsupported";
    case LM_EUSAGE: return "usage";
    case LM_ENOMEM: return "out-of-memory";
    case LM_ENOTFOUND: return "not-found";
    case LM_EEXIST: return "exists";
    case LM_EDIGEST: return "digest-mismatch";
    case LM_ENET: return "network";
    case LM_EINTERNAL: return "internal";
    }
    return "unknown";
}

const char *lm_err_str(const struct lm_err *err, char *buf, size_t n)
{
    char at[48] = "";
    if (err->off != LM_NO_OFFSET)
        snprintf(at, sizeof(at), "at byte %llu: ", (unsigned long long)err->off);
    if (err->path[0])
        snprintf(buf, n, "%s: %s%s", err->path, at, err->msg);
    else
        snprintf(buf, n, "%s%s", at, err->msg);
    return buf;
}

_Noreturn void lm_bug(const char *file, int line, const char *what)
{
    fprintf(stderr, "lm: internal error at %s:%d: %s\n", file, line, what);
    abort();
}

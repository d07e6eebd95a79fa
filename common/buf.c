/* buf.c: a growable byte buffer with a ceiling the caller chooses. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "banned.h"

static int reserve(struct lm_buf *b, size_t extra)
{
    size_t need;
    if (ckd_add(&need, b->len, extra) || need > b->max)
        return -1;
    if (need + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

int lm_buf_add(struct lm_buf *b, const void *p, size_t n)
{
    if (reserve(b, n))
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;   /* always NUL-terminated for text users */
    return 0;
}

int lm_buf_printf(struct lm_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || reserve(b, (size_t)n))
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void lm_buf_release(struct lm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* pool.c: strings that stay put until the whole pool is freed (token texts the GGUF writer borrows). */
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

#define POOL_BLOCK (256u << 10)

struct pool_block {
    struct pool_block *next;
    size_t used, cap;
    char data[];
};

struct convert_pool {
    struct pool_block *head;
};

struct convert_pool *convert_pool_new(void)
{
    return calloc(1, sizeof(struct convert_pool));
}

void convert_pool_free(struct convert_pool *p)
{
    if (!p)
        return;
    while (p->head) {
        struct pool_block *b = p->head;
        p->head = b->next;
        free(b);
    }
    free(p);
}

char *convert_pool_dup(struct convert_pool *p, const char *s, size_t len)
{
    size_t need;
    if (ckd_add(&need, len, (size_t)1))
        return NULL;
    struct pool_block *b = p->head;
    if (!b || need > b->cap - b->used) {
        size_t cap = need > POOL_BLOCK ? need : POOL_BLOCK;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->next = p->head;
        b->used = 0;
        b->cap = cap;
        p->head = b;
    }
    char *out = b->data + b->used;
    memcpy(out, s, len);
    out[len] = 0;
    b->used += need;
    return out;
}

/* gguf_index.c: hash index of GGUF keys and tensor names, for lookups and O(n) duplicate checks. */
#include <stdlib.h>
#include <string.h>

#include "gguf_int.h"
#include "../common/banned.h"

static uint32_t hash(const char *p, uint64_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */
    for (uint64_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return (uint32_t)(h ^ (h >> 32));
}

static bool same(struct gguf_str a, const char *p, uint64_t len)
{
    return a.len == len && (len == 0 || memcmp(a.p, p, len) == 0);
}

void gguf_index_init(struct gguf_index *x, const void *ctx, gguf_key_fn key)
{
    x->slot = NULL;
    x->cap = 0;
    x->n = 0;
    x->ctx = ctx;
    x->key = key;
}

void gguf_index_release(struct gguf_index *x)
{
    free(x->slot);
    x->slot = NULL;
    x->cap = 0;
    x->n = 0;
}

static void put(uint32_t *slot, uint32_t mask, uint32_t h, uint32_t i)
{
    while (slot[h & mask])
        h++;
    slot[h & mask] = i + 1;
}

static int grow(struct gguf_index *x)
{
    uint32_t cap = x->cap ? x->cap * 2 : 16;
    uint32_t *slot = calloc(cap, sizeof(*slot));
    if (!slot)
        return -1;
    for (uint32_t s = 0; s < x->cap; s++) {
        if (!x->slot[s])
            continue;
        struct gguf_str k = x->key(x->ctx, x->slot[s] - 1);
        put(slot, cap - 1, hash(k.p, k.len), x->slot[s] - 1);
    }
    free(x->slot);
    x->slot = slot;
    x->cap = cap;
    return 0;
}

int64_t gguf_index_find(const struct gguf_index *x, const char *p, uint64_t len)
{
    if (!x->cap)
        return -1;
    for (uint32_t h = hash(p, len);; h++) {
        uint32_t s = x->slot[h & (x->cap - 1)];
        if (!s)
            return -1;
        if (same(x->key(x->ctx, s - 1), p, len))
            return s - 1;
    }
}

int gguf_index_add(struct gguf_index *x, uint32_t i, uint32_t *dup)
{
    struct gguf_str k = x->key(x->ctx, i);
    int64_t at = gguf_index_find(x, k.p, k.len);
    if (at >= 0) {
        *dup = (uint32_t)at;
        return 1;
    }
    /* Keep the table at most half full so probes stay short. */
    if ((uint64_t)(x->n + 1) * 2 > x->cap) {
        if (x->cap >= (1u << 31) || grow(x))
            return -1;
    }
    put(x->slot, x->cap - 1, hash(k.p, k.len), i);
    x->n++;
    return 0;
}

void gguf_index_rebuild(struct gguf_index *x, uint32_t n)
{
    LM_BUG_ON(n > x->n);
    if (x->cap)
        memset(x->slot, 0, x->cap * sizeof(*x->slot));
    for (uint32_t i = 0; i < n; i++) {
        struct gguf_str k = x->key(x->ctx, i);
        put(x->slot, x->cap - 1, hash(k.p, k.len), i);
    }
    x->n = n;
}

/* tokenizer_bpe.c: byte-level BPE (tokenizer.ggml.model "gpt2"): each pre-tokenizer piece is
 * merged by rank with a priority queue, O(n log n) in the piece length (tokenizers.md §7). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"
#include "../common/banned.h"

int tok_ids_push(struct tok_ids *o, int32_t id)
{
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 256;
        int32_t *p = nc > SIZE_MAX / sizeof(*p) ? NULL : realloc(o->v, nc * sizeof(*p));
        if (!p)
            return -1;
        o->v = p;
        o->cap = nc;
    }
    o->v[o->n++] = id;
    return 0;
}

/* A symbol is a run of the piece's bytes that is one token (or one byte with no token). */
struct bsym {
    int32_t id;                  /* token of this run, -1 for a byte the vocabulary lacks */
    int32_t prev, next;          /* neighbours, -1 at the ends */
    uint32_t alive;              /* 0 once merged into its left neighbour */
};

struct bwork {
    struct bsym *sym;
    size_t sym_cap;
    struct tok_heap heap;        /* key = rank << 32 | left: lowest rank, then leftmost, first */
    char *enc;
    size_t enc_cap;
    struct tok_cache cache;
};

static int grow(void **p, size_t *cap, size_t want, size_t elem)
{
    if (want <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < want)
        nc *= 2;
    void *q = nc > SIZE_MAX / elem ? NULL : realloc(*p, nc * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = nc;
    return 0;
}

int tok_heap_push(struct tok_heap *h, const struct tok_qent *e)
{
    if (h->n == h->cap && grow((void **)&h->v, &h->cap, h->n + 1, sizeof(*h->v)))
        return -1;
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h->v[p].key <= e->key)
            break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = *e;
    return 0;
}

struct tok_qent tok_heap_pop(struct tok_heap *h)
{
    struct tok_qent top = h->v[0], last = h->v[--h->n];
    size_t i = 0, n = h->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h->v[c + 1].key < h->v[c].key)
            c++;
        if (last.key <= h->v[c].key)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (n)
        h->v[i] = last;
    return top;
}

static int try_pair(const struct lm_tokenizer *t, struct bwork *w, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return 0;
    int32_t a = w->sym[left].id, b = w->sym[right].id;
    if (a < 0 || b < 0)
        return 0;   /* merges only name tokens */
    const struct tok_merge *m = tok_merge_find(t, a, b);
    if (!m)
        return 0;
    struct tok_qent e = { (uint64_t)m->rank << 32 | (uint32_t)left, right, a, b, m->result };
    return tok_heap_push(&w->heap, &e);
}

/* One pre-tokenizer piece: raw bytes; the byte-level alphabet maps each byte to one symbol. */
static int bpe_word(const struct lm_tokenizer *t, struct bwork *w, const uint8_t *s, size_t n,
                    struct tok_ids *out)
{
    if (n == 1)
        return t->byte_tok[s[0]] >= 0 ? tok_ids_push(out, t->byte_tok[s[0]]) : 0;
    if (t->ignore_merges) {
        /* llama3/tekken: a piece that is a whole token is taken as it is. */
        if (grow((void **)&w->enc, &w->enc_cap, 2 * n, 1))
            return -1;
        size_t e = 0;
        for (size_t i = 0; i < n; i++)
            e += tok_utf8_put(tok_byte_to_cp(s[i]), w->enc + e);
        int32_t id = tok_find(t, w->enc, e);
        if (id >= 0)
            return tok_ids_push(out, id);
    }
    if (n > INT32_MAX || grow((void **)&w->sym, &w->sym_cap, n, sizeof(*w->sym)))
        return -1;
    for (size_t i = 0; i < n; i++)
        w->sym[i] = (struct bsym){ t->byte_tok[s[i]], (int32_t)i - 1,
                                   i + 1 < n ? (int32_t)i + 1 : -1, 1 };
    w->heap.n = 0;
    for (size_t i = 1; i < n; i++)
        if (try_pair(t, w, (int32_t)i - 1, (int32_t)i))
            return -1;
    while (w->heap.n) {
        struct tok_qent e = tok_heap_pop(&w->heap);
        int32_t left = (int32_t)(uint32_t)e.key;
        struct bsym *l = &w->sym[left], *r = &w->sym[e.right];
        /* Stale: a side was merged away or grew since this was queued. */
        if (!l->alive || !r->alive || l->id != e.a || r->id != e.b)
            continue;
        l->id = e.c;
        r->alive = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = left;
        if (try_pair(t, w, l->prev, left) || try_pair(t, w, left, l->next))
            return -1;
    }
    for (int32_t i = 0; i >= 0; i = w->sym[i].next)
        if (w->sym[i].id >= 0 && tok_ids_push(out, w->sym[i].id))
            return -1;
    /* A run with no token was a lone byte missing from the vocabulary: llama.cpp looks up its
     * byte-level spelling byte by byte and finds nothing either, so it is dropped. */
    return 0;
}

#define CACHE_SLOTS (1u << 16)   /* at most half of them used */

static struct tok_centry *cache_find(struct tok_cache *c, const char *s, size_t n, uint32_t **slot)
{
    for (uint32_t i = (uint32_t)tok_hash(s, n) & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        if (!c->slot[i]) {
            *slot = &c->slot[i];
            return NULL;
        }
        struct tok_centry *e = &c->ent[c->slot[i] - 1];
        if (e->len == n && memcmp(e->word, s, n) == 0)
            return e;
    }
}

int tok_cache_get(struct tok_cache *c, const char *s, size_t n, struct tok_ids *out)
{
    if (n > TOK_CACHE_WORD_MAX)
        return 0;
    if (!c->slot) {
        c->slot = calloc(CACHE_SLOTS, sizeof(*c->slot));
        c->ent = malloc(CACHE_SLOTS / 2 * sizeof(*c->ent));
        if (!c->slot || !c->ent)
            return -1;
    }
    uint32_t *slot;
    const struct tok_centry *e = cache_find(c, s, n, &slot);
    if (!e)
        return 0;
    for (uint32_t i = 0; i < e->n_ids; i++)
        if (tok_ids_push(out, c->ids.v[e->ids_off + i]))
            return -1;
    return 1;
}

int tok_cache_put(struct tok_cache *c, const char *s, size_t n, const int32_t *ids, size_t n_ids)
{
    uint32_t *slot;
    if (n > TOK_CACHE_WORD_MAX || !c->slot || c->n_ent >= CACHE_SLOTS / 2 || c->ids.n > UINT32_MAX / 2 ||
        cache_find(c, s, n, &slot))
        return 0;
    c->ent[c->n_ent] = (struct tok_centry){ s, (uint32_t)n, (uint32_t)c->ids.n, (uint32_t)n_ids };
    for (size_t i = 0; i < n_ids; i++)
        if (tok_ids_push(&c->ids, ids[i]))
            return -1;
    *slot = (uint32_t)++c->n_ent;
    return 0;
}

void tok_cache_release(struct tok_cache *c)
{
    free(c->slot);
    free(c->ent);
    free(c->ids.v);
    memset(c, 0, sizeof(*c));
}

/* bpe_word through the cache. */
static int cached_word(const struct lm_tokenizer *t, struct bwork *w, const uint8_t *s, size_t n,
                       struct tok_ids *out)
{
    int hit = n > 1 ? tok_cache_get(&w->cache, (const char *)s, n, out) : 0;
    if (hit)
        return hit < 0 ? -1 : 0;
    size_t before = out->n;
    if (bpe_word(t, w, s, n, out))
        return -1;
    return n > 1 && out->n > before
               ? tok_cache_put(&w->cache, (const char *)s, n, out->v + before, out->n - before)
               : 0;
}

int tok_bpe_fragment(const struct lm_tokenizer *t, const char *text, size_t len,
                     struct tok_ids *out, struct lm_err *err)
{
    const char *bytes;
    char *owned = NULL;
    struct tok_spans pieces = { 0 };
    struct bwork w = { 0 };
    int ret = -1;

    if (tok_pre_split(t, text, len, &bytes, &owned, &pieces, err))
        return -1;
    for (size_t i = 0; i < pieces.n; i++)
        if (cached_word(t, &w, (const uint8_t *)bytes + pieces.v[2 * i], pieces.v[2 * i + 1], out)) {
            lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory tokenizing");
            goto out;
        }
    ret = 0;
out:
    free(owned);
    tok_spans_release(&pieces);
    free(w.sym);
    free(w.heap.v);
    free(w.enc);
    tok_cache_release(&w.cache);
    return ret;
}

/* tokenizer_special.c: splitting a text on special and user-defined token strings before
 * tokenization, exactly in llama.cpp's order (tokenizers.md §5): candidates longest first, each
 * one cutting every remaining raw fragment. A byte trie finds which candidates occur at all, so
 * a vocabulary with thousands of them costs one pass over the text. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"
#include "../common/banned.h"

#define CAND_ATTRS (LM_TOKEN_ATTR_CONTROL | LM_TOKEN_ATTR_USER_DEFINED | LM_TOKEN_ATTR_UNKNOWN)

struct by_len {
    uint32_t len;
    int32_t id;
};

static int by_length(const void *a, const void *b)
{
    const struct by_len *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);   /* llama.cpp's sort is unstable here; ours is by id */
}

static int32_t new_node(struct lm_tokenizer *t, size_t *cap, uint8_t byte)
{
    if (t->n_trie == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        struct tok_trie_node *p = nc > INT32_MAX ? NULL : realloc(t->trie, nc * sizeof(*p));
        if (!p)
            return -1;
        t->trie = p;
        *cap = nc;
    }
    t->trie[t->n_trie] = (struct tok_trie_node){ -1, -1, -1, byte };
    return (int32_t)t->n_trie++;
}

static int32_t child(const struct lm_tokenizer *t, int32_t node, uint8_t byte)
{
    for (int32_t c = t->trie[node].child; c >= 0; c = t->trie[c].sibling)
        if (t->trie[c].byte == byte)
            return c;
    return -1;
}

int tok_special_build(struct lm_tokenizer *t, struct lm_err *err)
{
    size_t cap = 0;
    for (int b = 0; b < 256; b++)
        t->trie_root[b] = -1;
    t->n_cand = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & CAND_ATTRS)
            t->n_cand++;
    if (t->n_cand == 0)
        return 0;
    struct by_len *order = malloc(t->n_cand * sizeof(*order));
    if (!order || !(t->cand = malloc(t->n_cand * sizeof(*t->cand)))) {
        free(order);
        goto nomem;
    }
    t->n_cand = 0;
    for (uint32_t i = 0; i < t->n_vocab; i++)
        if (t->attr[i] & CAND_ATTRS)
            order[t->n_cand++] = (struct by_len){ t->text_len[i], (int32_t)i };
    qsort(order, t->n_cand, sizeof(*order), by_length);
    for (uint32_t c = 0; c < t->n_cand; c++)
        t->cand[c] = order[c].id;
    free(order);
    for (uint32_t c = 0; c < t->n_cand; c++) {
        const uint8_t *s = (const uint8_t *)t->text + t->text_off[t->cand[c]];
        uint32_t n = t->text_len[t->cand[c]];
        int32_t node = t->trie_root[s[0]];
        if (node < 0 && (node = t->trie_root[s[0]] = new_node(t, &cap, s[0])) < 0)
            goto nomem;
        for (uint32_t k = 1; k < n; k++) {
            int32_t next = child(t, node, s[k]);
            if (next < 0) {
                if ((next = new_node(t, &cap, s[k])) < 0)
                    goto nomem;
                t->trie[next].sibling = t->trie[node].child;
                t->trie[node].child = next;
            }
            node = next;
        }
        t->trie[node].cand = (int32_t)c;
    }
    return 0;
nomem:
    return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory building the special-token trie");
}

struct frags {
    struct tok_frag *v;
    size_t n, cap;
};

static int frag_add(struct frags *f, size_t off, size_t len, int32_t id)
{
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 16;
        struct tok_frag *p = nc > SIZE_MAX / sizeof(*p) ? NULL : realloc(f->v, nc * sizeof(*p));
        if (!p)
            return -1;
        f->v = p;
        f->cap = nc;
    }
    f->v[f->n++] = (struct tok_frag){ off, len, id };
    return 0;
}

static const char *find(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m == 0 || m > n)
        return NULL;
    const char *end = hay + (n - m);
    for (const char *p = hay; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, m) == 0)
            return p;
    }
    return NULL;
}

/* Cut one raw fragment at every occurrence of candidate id (llama.cpp's tokenizer_st_partition). */
static int cut(const struct lm_tokenizer *t, const char *text, size_t off, size_t len, int32_t id,
               struct frags *out)
{
    const char *s = t->text + t->text_off[id];
    size_t m = t->text_len[id];
    uint16_t attr = t->attr[id];
    for (;;) {
        const char *hit = find(text + off, len, s, m);
        if (!hit)
            return len ? frag_add(out, off, len, -1) : 0;
        size_t at = (size_t)(hit - text), left = at - off;
        if (attr & LM_TOKEN_ATTR_LSTRIP)
            while (left > 0 && isspace((unsigned char)text[off + left - 1]))
                left--;
        if (left > 0 && frag_add(out, off, left, -1))
            return -1;
        if (frag_add(out, at, m, id))
            return -1;
        size_t roff = at + m, rlen = off + len - roff;
        if (attr & LM_TOKEN_ATTR_RSTRIP)
            while (rlen > 0 && isspace((unsigned char)text[roff])) {
                roff++;
                rlen--;
            }
        off = roff;
        len = rlen;
    }
}

int tok_special_split(const struct lm_tokenizer *t, const char *text, size_t len,
                      bool parse_special, struct tok_frag **frags, size_t *n_frags,
                      struct lm_err *err)
{
    struct frags a = { 0 }, b = { 0 };
    uint8_t *present = NULL;
    *frags = NULL;
    *n_frags = 0;
    if (len == 0)
        return 0;
    if (frag_add(&a, 0, len, -1))
        goto nomem;
    if (t->n_cand && !(present = calloc(t->n_cand, 1)))
        goto nomem;
    /* Which candidates occur anywhere: walk the trie from every position. */
    bool any = false;
    for (size_t i = 0; i < len && t->n_cand; i++) {
        int32_t node = t->trie_root[(uint8_t)text[i]];
        for (size_t j = i + 1; node >= 0; j++) {
            if (t->trie[node].cand >= 0) {
                present[t->trie[node].cand] = 1;
                any = true;
            }
            if (j == len)
                break;
            node = child(t, node, (uint8_t)text[j]);
        }
    }
    for (uint32_t c = 0; any && c < t->n_cand; c++) {
        int32_t id = t->cand[c];
        if (!present[c])
            continue;
        if (!parse_special && (t->attr[id] & (LM_TOKEN_ATTR_CONTROL | LM_TOKEN_ATTR_UNKNOWN)))
            continue;   /* user-defined tokens are always matched */
        b.n = 0;
        for (size_t k = 0; k < a.n; k++) {
            const struct tok_frag *f = &a.v[k];
            if (f->id >= 0 ? frag_add(&b, f->off, f->len, f->id) : cut(t, text, f->off, f->len, id, &b))
                goto nomem;
        }
        struct frags tmp = a;
        a = b;
        b = tmp;
    }
    free(present);
    free(b.v);
    *frags = a.v;
    *n_frags = a.n;
    return 0;
nomem:
    free(present);
    free(a.v);
    free(b.v);
    return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory splitting special tokens");
}

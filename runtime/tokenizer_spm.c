/* tokenizer_spm.c: SentencePiece BPE as llama.cpp runs it (tokenizer.ggml.model "llama",
 * tokenizers.md §6): spaces become U+2581, the best-scoring adjacent pair that is a token merges
 * first (ties: leftmost), bytes with no token fall back to <0xHH>. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"
#include "../common/banned.h"

struct ssym {
    uint32_t off, len;           /* bytes of the escaped text; len 0 once merged away */
    int32_t prev, next;
};

struct swork {
    const char *s;
    struct tok_cache cache;
    struct ssym *sym;
    struct tok_heap heap;        /* key = ~order(score) << 32 | left: best score, then leftmost */
};

static uint32_t score_order(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return (u & 0x80000000u) ? ~u : u | 0x80000000u;   /* ascending with f */
}

/* Queue (left, right) if their text together is a token of any type (as llama.cpp does). */
static int try_bigram(const struct lm_tokenizer *t, struct swork *w, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return 0;
    const struct ssym *l = &w->sym[left], *r = &w->sym[right];
    uint32_t size = l->len + r->len;
    int32_t id = tok_find(t, w->s + l->off, size);
    if (id < 0)
        return 0;
    struct tok_qent e = { (uint64_t)~score_order(t->score[id]) << 32 | (uint32_t)left, right,
                          (int32_t)size, 0, 0 };
    return tok_heap_push(&w->heap, &e);
}

static int emit(const struct lm_tokenizer *t, const struct swork *w, const struct ssym *y,
                struct tok_ids *out, struct lm_err *err)
{
    int32_t id = tok_find(t, w->s + y->off, y->len);
    if (id >= 0)
        return tok_ids_push(out, id) ? lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory") : 0;
    /* Only unmerged single characters miss: every merge made a token. */
    for (uint32_t k = 0; k < y->len; k++) {
        uint8_t b = (uint8_t)w->s[y->off + k];
        if (t->byte_tok[b] < 0)
            return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                              "the vocabulary has no token for byte 0x%02X (no <0x%02X> byte token)",
                              b, b);
        if (tok_ids_push(out, t->byte_tok[b]))
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    }
    return 0;
}

static int merge_run(const struct lm_tokenizer *t, struct swork *w, size_t a, size_t b)
{
    w->heap.n = 0;
    for (size_t i = a + 1; i < b; i++)
        if (try_bigram(t, w, (int32_t)i - 1, (int32_t)i))
            return -1;
    while (w->heap.n) {
        struct tok_qent e = tok_heap_pop(&w->heap);
        int32_t left = (int32_t)(uint32_t)e.key;
        struct ssym *l = &w->sym[left], *r = &w->sym[e.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != (uint32_t)e.a)
            continue;   /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = left;
        if (try_bigram(t, w, l->prev, left) || try_bigram(t, w, left, l->next))
            return -1;
    }
    return 0;
}

static int emit_run(const struct lm_tokenizer *t, const struct swork *w, size_t a,
                    struct tok_ids *out, struct lm_err *err)
{
    for (int32_t i = (int32_t)a; i >= 0; i = w->sym[i].next)
        if (emit(t, w, &w->sym[i], out, err))
            return -1;
    return 0;
}

int tok_spm_fragment(const struct lm_tokenizer *t, const char *text, size_t len, bool prefix_space,
                     struct tok_ids *out, struct lm_err *err)
{
    struct swork w = { 0 };
    char *esc = NULL;
    size_t cap, n = 0, nsym = 0;
    int ret = -1;

    /* Escaped text: at most 3 bytes per input byte plus the prefix; len <= LM_TOK_MAX_TEXT. */
    if (len > LM_TOK_MAX_TEXT || ckd_mul(&cap, len + 1, (size_t)3) || !(esc = malloc(cap)))
        goto nomem;
    if (prefix_space) {
        memcpy(esc, "\xE2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(esc + n, "\xE2\x96\x81", 3);
            n += 3;
        } else {
            esc[n++] = text[i];
        }
    }
    if (n == 0) {
        ret = 0;
        goto out;
    }
    if (!(w.sym = malloc(n * sizeof(*w.sym))))
        goto nomem;
    w.s = esc;
    /* Characters by their lead byte (llama.cpp's unicode_len_utf8), cut short at the end. */
    static const uint8_t clen[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    for (size_t off = 0; off < n; nsym++) {
        size_t k = clen[(uint8_t)esc[off] >> 4];
        if (k > n - off)
            k = n - off;
        w.sym[nsym] = (struct ssym){ (uint32_t)off, (uint32_t)k, (int32_t)nsym - 1,
                                     off + k < n ? (int32_t)nsym + 1 : -1 };
        off += k;
    }
    /* Merge each stretch between uncrossable boundaries on its own (see lm_tokenizer.pairs). */
    for (size_t a = 0, b; a < nsym; a = b) {
        for (b = a + 1; b < nsym; b++) {
            unsigned pair = (unsigned)(uint8_t)esc[w.sym[b].off - 1] << 8 | (uint8_t)esc[w.sym[b].off];
            if (!(t->pairs[pair / 64] >> (pair % 64) & 1))
                break;
        }
        w.sym[a].prev = -1;
        w.sym[b - 1].next = -1;
        const char *run = esc + w.sym[a].off;
        size_t run_len = (b < nsym ? w.sym[b].off : n) - w.sym[a].off, before = out->n;
        int hit = b - a > 1 ? tok_cache_get(&w.cache, run, run_len, out) : 0;
        if (hit < 0)
            goto nomem;
        if (hit)
            continue;
        if (merge_run(t, &w, a, b))
            goto nomem;
        if (emit_run(t, &w, a, out, err))
            goto out;
        if (b - a > 1 && out->n > before &&
            tok_cache_put(&w.cache, run, run_len, out->v + before, out->n - before))
            goto nomem;
    }
    ret = 0;
    goto out;
nomem:
    lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory tokenizing");
out:
    free(esc);
    free(w.sym);
    free(w.heap.v);
    tok_cache_release(&w.cache);
    return ret;
}

/* tokenizer.c: lm_tokenize (special-token split, then SentencePiece or byte-level BPE per raw
 * fragment, BOS/EOS as the vocabulary says) and the tokenizer's accessors. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"
#include "../common/banned.h"

int lm_tokenize(const struct lm_tokenizer *t, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t **ids, size_t *n, struct lm_err *err)
{
    struct tok_frag *frags = NULL;
    size_t n_frags = 0;
    struct tok_ids out = { 0 };
    int ret = -1;

    *ids = NULL;
    *n = 0;
    if (len > LM_TOK_MAX_TEXT)
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                          "text of %zu bytes is over the %u-byte limit of one tokenization", len,
                          LM_TOK_MAX_TEXT);
    if (!text && len)
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "no text");
    if (tok_special_split(t, text, len, parse_special, &frags, &n_frags, err))
        return -1;
    if (add_special && t->add_bos && tok_ids_push(&out, t->special[LM_TOK_BOS]))
        goto nomem;
    /* SentencePiece: a raw fragment gets the dummy space at the start and after a token. */
    bool after_special = true;
    for (size_t i = 0; i < n_frags; i++) {
        const struct tok_frag *f = &frags[i];
        if (f->id >= 0) {
            if (tok_ids_push(&out, f->id))
                goto nomem;
            after_special = true;
            continue;
        }
        int rc = t->kind == LM_TOK_SPM
                     ? tok_spm_fragment(t, text + f->off, f->len,
                                        t->add_space_prefix && after_special, &out, err)
                     : tok_bpe_fragment(t, text + f->off, f->len, &out, err);
        if (rc)
            goto out;
        after_special = false;
    }
    if (add_special && t->add_eos && tok_ids_push(&out, t->special[LM_TOK_EOS]))
        goto nomem;
    *ids = out.v;
    *n = out.n;
    out.v = NULL;
    ret = 0;
    goto out;
nomem:
    lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory tokenizing");
out:
    free(out.v);
    free(frags);
    return ret;
}

enum lm_tok_kind lm_tokenizer_kind(const struct lm_tokenizer *t) { return t->kind; }
const char *lm_tokenizer_model(const struct lm_tokenizer *t) { return t->model; }
const char *lm_tokenizer_pre(const struct lm_tokenizer *t) { return t->pre; }
uint32_t lm_tokenizer_n_vocab(const struct lm_tokenizer *t) { return t->n_vocab; }
bool lm_tokenizer_add_bos(const struct lm_tokenizer *t) { return t->add_bos; }
bool lm_tokenizer_add_eos(const struct lm_tokenizer *t) { return t->add_eos; }
bool lm_tokenizer_add_space_prefix(const struct lm_tokenizer *t) { return t->add_space_prefix; }

int32_t lm_tokenizer_special(const struct lm_tokenizer *t, enum lm_tok_special which)
{
    return (unsigned)which < LM_TOK_SPECIAL_COUNT ? t->special[which] : -1;
}

bool lm_tokenizer_is_eog(const struct lm_tokenizer *t, int32_t id)
{
    size_t lo = 0, hi = t->n_eog;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->eog[mid] == id)
            return true;
        if (t->eog[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

size_t lm_tokenizer_eog(const struct lm_tokenizer *t, const int32_t **ids)
{
    *ids = t->eog;
    return t->n_eog;
}

static bool in_range(const struct lm_tokenizer *t, int32_t id)
{
    return id >= 0 && (uint32_t)id < t->n_vocab;
}

const char *lm_token_text(const struct lm_tokenizer *t, int32_t id, size_t *len)
{
    if (!in_range(t, id)) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (len)
        *len = t->text_len[id];
    return t->text + t->text_off[id];
}

uint32_t lm_token_attr(const struct lm_tokenizer *t, int32_t id)
{
    return in_range(t, id) ? t->attr[id] : 0;
}

float lm_token_score(const struct lm_tokenizer *t, int32_t id)
{
    return in_range(t, id) ? t->score[id] : 0.0f;
}

int32_t lm_token_find(const struct lm_tokenizer *t, const char *text, size_t len)
{
    return tok_find(t, text, len);
}

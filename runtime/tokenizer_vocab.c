/* tokenizer_vocab.c: load and check a vocabulary from GGUF tokenizer metadata
 * (shared/specs/tokenizers.md §3: defaults, keys, attributes, end-of-generation set). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "tokenizer_int.h"
#include "../common/banned.h"

#define TOK_MAX_MERGES (1u << 23)

/* ---- hashing ----------------------------------------------------------------------------- */

uint64_t tok_seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s))
        s = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid();
    tok_seed = s | 1;
}

uint64_t tok_hash(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = tok_seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = tok_mix64(h ^ w);
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    return tok_mix64(h ^ w ^ ((uint64_t)n << 59));
}

int32_t tok_find(const struct lm_tokenizer *t, const void *s, size_t n)
{
    const struct tok_strtab *v = &t->vocab;
    if (!v->slot || n > UINT32_MAX)
        return -1;
    for (uint32_t i = (uint32_t)tok_hash(s, n) & v->mask;; i = (i + 1) & v->mask) {
        uint32_t e = v->slot[i];
        if (e == 0)
            return -1;
        uint32_t id = e - 1;
        if (t->text_len[id] == n && memcmp(t->text + t->text_off[id], s, n) == 0)
            return (int32_t)id;
    }
}

/* Insert id; returns the id already holding the same string, or -1 if it was new. */
static int32_t strtab_insert(struct lm_tokenizer *t, uint32_t id)
{
    struct tok_strtab *v = &t->vocab;
    const char *s = t->text + t->text_off[id];
    uint32_t n = t->text_len[id];
    for (uint32_t i = (uint32_t)tok_hash(s, n) & v->mask;; i = (i + 1) & v->mask) {
        uint32_t e = v->slot[i];
        if (e == 0) {
            v->slot[i] = id + 1;
            return -1;
        }
        if (t->text_len[e - 1] == n && memcmp(t->text + t->text_off[e - 1], s, n) == 0)
            return (int32_t)(e - 1);
    }
}

static uint64_t pow2_at_least(uint64_t n)
{
    uint64_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

/* ---- the loader -------------------------------------------------------------------------- */

struct ld {
    const struct gguf *g;
    const char *path;
    const uint8_t *base;
    struct lm_err *err;
    struct lm_tokenizer *t;
};

static uint64_t at(const struct ld *l, const void *p)
{
    return (uint64_t)((const uint8_t *)p - l->base);
}

static int corrupt(const struct ld *l, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int corrupt(const struct ld *l, uint64_t off, const char *fmt, ...)
{
    char msg[sizeof(l->err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return lm_err_set(l->err, LM_ECORRUPT, l->path, off, "%s", msg);
}

static int nomem(const struct ld *l)
{
    return lm_err_set(l->err, LM_ENOMEM, l->path, LM_NO_OFFSET, "out of memory loading the tokenizer");
}

static const char *q(const void *s, size_t n, char *buf, size_t cap)
{
    return lm_quote(s, n, buf, cap);
}

static int get_bool(const struct ld *l, const char *key, bool *out)
{
    const struct gguf_kv *kv = gguf_kv_find(l->g, key);
    if (!kv)
        return 0;
    if (gguf_kv_bool(kv, out))
        return corrupt(l, kv->file_off, "%s is %s, not BOOL", key, gguf_vtype_name(kv->type));
    return 0;
}

/* A string key; *found false when absent. */
static int get_str(const struct ld *l, const char *key, struct gguf_str *s, bool *found)
{
    const struct gguf_kv *kv = gguf_kv_find(l->g, key);
    *found = kv != NULL;
    if (kv && gguf_kv_str(kv, s))
        return corrupt(l, kv->file_off, "%s is %s, not STRING", key, gguf_vtype_name(kv->type));
    return 0;
}

static const struct gguf_kv *get_arr(const struct ld *l, const char *key, bool required)
{
    const struct gguf_kv *kv = gguf_kv_find(l->g, key);
    if (!kv && required)
        corrupt(l, LM_NO_OFFSET, "%s is missing", key);
    return kv;
}

static int load_kind(struct ld *l)
{
    struct lm_tokenizer *t = l->t;
    struct gguf_str s, pre = { NULL, 0 };
    bool found, has_pre;
    char qb[LM_QUOTE_MAX + 8];

    if (get_str(l, "tokenizer.ggml.model", &s, &found))
        return -1;
    if (!found)
        return lm_err_set(l->err, LM_EUNSUPPORTED, l->path, LM_NO_OFFSET,
                          "no tokenizer: tokenizer.ggml.model is missing");
    if (s.len == 5 && memcmp(s.p, "llama", 5) == 0)
        t->kind = LM_TOK_SPM;
    else if (s.len == 4 && memcmp(s.p, "gpt2", 4) == 0)
        t->kind = LM_TOK_BPE;
    else
        return lm_err_set(l->err, LM_EUNSUPPORTED, l->path,
                          gguf_kv_find(l->g, "tokenizer.ggml.model")->file_off,
                          "tokenizer.ggml.model '%s' is not supported (lm reads llama and gpt2)",
                          q(s.p, s.len, qb, sizeof(qb)));
    memcpy(t->model, s.p, s.len);

    if (get_str(l, "tokenizer.ggml.pre", &pre, &has_pre))
        return -1;
    for (int i = 0; i < LM_TOK_SPECIAL_COUNT; i++)
        t->special[i] = -1;
    if (t->kind == LM_TOK_SPM) {
        /* llama.cpp ignores the pre-tokenizer name of SentencePiece vocabularies. */
        snprintf(t->pre, sizeof(t->pre), "%s", "default");
        t->special[LM_TOK_BOS] = 1;
        t->special[LM_TOK_EOS] = 2;
        t->special[LM_TOK_UNK] = 0;
        t->add_space_prefix = true;
        t->add_bos = true;
        return 0;
    }
    char name[sizeof(t->pre)] = "default";
    if (has_pre) {
        if (pre.len >= sizeof(name) || memchr(pre.p, 0, pre.len))
            name[0] = 0;
        else {
            memcpy(name, pre.p, pre.len);
            name[pre.len] = 0;
        }
    }
    t->pre_def = name[0] ? tok_pre_find(name) : NULL;
    if (!t->pre_def)
        return lm_err_set(l->err, LM_EUNSUPPORTED, l->path,
                          gguf_kv_find(l->g, "tokenizer.ggml.pre")->file_off,
                          "unknown pre-tokenizer type '%s'", q(pre.p, pre.len, qb, sizeof(qb)));
    snprintf(t->pre, sizeof(t->pre), "%s", name);
    t->special[LM_TOK_BOS] = t->pre_def->no_bos ? -1 : 11;
    t->special[LM_TOK_EOS] = 11;
    t->clean_spaces = !t->pre_def->no_clean_spaces;
    t->ignore_merges = t->pre_def->ignore_merges;
    t->add_bos = t->pre_def->add_bos;
    return 0;
}

static bool byte_token_text(const char *s, uint32_t n, uint8_t *val)
{
    static const char hex[] = "0123456789abcdef0123456789ABCDEF";
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' || !s[3] || !s[4])
        return false;
    const char *h = strchr(hex, s[3]), *lo = strchr(hex, s[4]);
    if (!h || !lo)
        return false;
    *val = (uint8_t)(((h - hex) & 15) << 4 | ((lo - hex) & 15));
    return true;
}

static int load_tokens(struct ld *l)
{
    struct lm_tokenizer *t = l->t;
    const struct gguf_kv *kv = get_arr(l, "tokenizer.ggml.tokens", true);
    struct gguf_str *items = NULL;
    char qb[LM_QUOTE_MAX + 8];
    int ret = -1;

    if (!kv)
        return -1;
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING)
        return corrupt(l, kv->file_off, "tokenizer.ggml.tokens is %s, not an array of strings",
                       gguf_vtype_name(kv->type == GGUF_ARRAY ? kv->arr_type : kv->type));
    if (kv->arr_len == 0)
        return corrupt(l, kv->file_off, "tokenizer.ggml.tokens is empty");
    if (kv->arr_len > LM_TOK_MAX_VOCAB)
        return corrupt(l, kv->file_off, "tokenizer.ggml.tokens has %llu tokens, more than %u",
                       (unsigned long long)kv->arr_len, LM_TOK_MAX_VOCAB);
    if (gguf_arr_strs(kv, &items, l->err))
        return -1;
    uint32_t n = (uint32_t)kv->arr_len;
    t->n_vocab = n;

    /* Empty strings become "[EMPTY_<id>]" as in llama.cpp: at most 18 bytes. */
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        if (ckd_add(&total, total, (items[i].len ? items[i].len : 18) + 1)) {
            total = UINT64_MAX;
            break;
        }
    if (total > UINT32_MAX) {
        corrupt(l, kv->file_off, "tokenizer.ggml.tokens strings total more than 4 GiB");
        goto out;
    }
    t->text = malloc(total);
    t->text_off = malloc(n * sizeof(*t->text_off));
    t->text_len = malloc(n * sizeof(*t->text_len));
    t->score = calloc(n, sizeof(*t->score));
    t->attr = malloc(n * sizeof(*t->attr));
    t->byte_val = calloc(n, 1);
    uint64_t cap = pow2_at_least(2 * (uint64_t)n);
    t->vocab.slot = calloc(cap, sizeof(*t->vocab.slot));
    t->vocab.mask = (uint32_t)(cap - 1);
    if (!t->text || !t->text_off || !t->text_len || !t->score || !t->attr || !t->byte_val ||
        !t->vocab.slot) {
        nomem(l);
        goto out;
    }
    uint32_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        const struct gguf_str *s = &items[i];
        uint64_t item_at = at(l, s->p) - 8;
        if (!lm_utf8_valid(s->p, s->len)) {
            corrupt(l, item_at, "token %u '%s' is not valid UTF-8", i,
                    q(s->p, s->len, qb, sizeof(qb)));
            goto out;
        }
        t->text_off[i] = off;
        if (s->len) {
            memcpy(t->text + off, s->p, s->len);
            t->text_len[i] = (uint32_t)s->len;
        } else {
            t->text_len[i] = (uint32_t)snprintf(t->text + off, 19, "[EMPTY_%u]", i);
        }
        off += t->text_len[i];
        t->text[off++] = 0;
        t->attr[i] = LM_TOKEN_ATTR_NORMAL;
        int32_t dup = strtab_insert(t, i);
        if (dup >= 0) {
            corrupt(l, item_at, "token %u '%s' repeats token %d", i,
                    q(s->p, s->len, qb, sizeof(qb)), dup);
            goto out;
        }
    }
    ret = 0;
out:
    free(items);
    return ret;
}

static int load_scores(struct ld *l)
{
    struct lm_tokenizer *t = l->t;
    const struct gguf_kv *kv = get_arr(l, "tokenizer.ggml.scores", false);
    if (!kv)
        return 0;
    if (kv->type != GGUF_ARRAY || (kv->arr_type != GGUF_F32 && kv->arr_type != GGUF_I32))
        return corrupt(l, kv->file_off, "tokenizer.ggml.scores is %s, not an array of FLOAT32",
                       gguf_vtype_name(kv->type == GGUF_ARRAY ? kv->arr_type : kv->type));
    if (kv->arr_len < t->n_vocab)
        return corrupt(l, kv->file_off, "tokenizer.ggml.scores has %llu entries for %u tokens",
                       (unsigned long long)kv->arr_len, t->n_vocab);
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        double d;
        if (gguf_arr_f64(kv, i, &d))
            return corrupt(l, kv->file_off, "tokenizer.ggml.scores item %u is unreadable", i);
        if (isnan(d))
            return corrupt(l, at(l, kv->raw) + 4ull * i, "score of token %u is NaN", i);
        t->score[i] = d == 0 ? 0.0f : (float)d;   /* -0 sorts as 0 */
    }
    return 0;
}

static int load_types(struct ld *l)
{
    static const uint16_t attr_of[7] = {
        [LM_TOKEN_UNDEFINED] = 0,
        [LM_TOKEN_NORMAL] = LM_TOKEN_ATTR_NORMAL,
        [LM_TOKEN_UNKNOWN] = LM_TOKEN_ATTR_UNKNOWN,
        [LM_TOKEN_CONTROL] = LM_TOKEN_ATTR_CONTROL,
        [LM_TOKEN_USER_DEFINED] = LM_TOKEN_ATTR_USER_DEFINED,
        [LM_TOKEN_UNUSED] = LM_TOKEN_ATTR_UNUSED,
        [LM_TOKEN_BYTE] = LM_TOKEN_ATTR_BYTE,
    };
    struct lm_tokenizer *t = l->t;
    const struct gguf_kv *kv = get_arr(l, "tokenizer.ggml.token_type", false);
    char qb[LM_QUOTE_MAX + 8];
    if (!kv)
        return 0;
    if (kv->type != GGUF_ARRAY || gguf_vtype_size(kv->arr_type) == 0 ||
        kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64 || kv->arr_type == GGUF_BOOL)
        return corrupt(l, kv->file_off, "tokenizer.ggml.token_type is %s, not an array of INT32",
                       gguf_vtype_name(kv->type == GGUF_ARRAY ? kv->arr_type : kv->type));
    if (kv->arr_len < t->n_vocab)
        return corrupt(l, kv->file_off, "tokenizer.ggml.token_type has %llu entries for %u tokens",
                       (unsigned long long)kv->arr_len, t->n_vocab);
    size_t isz = gguf_vtype_size(kv->arr_type);
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        int64_t v = -1;
        uint64_t off = at(l, kv->raw) + isz * i;
        if (gguf_arr_i64(kv, i, &v) || v < 0 || v > LM_TOKEN_BYTE)
            return corrupt(l, off, "token %u has type %lld, not 0..6", i, (long long)v);
        t->attr[i] = attr_of[v];
        if (v == LM_TOKEN_BYTE &&
            !byte_token_text(t->text + t->text_off[i], t->text_len[i], &t->byte_val[i]))
            return corrupt(l, off, "BYTE token %u is '%s', not <0xHH>", i,
                           q(t->text + t->text_off[i], t->text_len[i], qb, sizeof(qb)));
    }
    return 0;
}

static int load_merges(struct ld *l)
{
    struct lm_tokenizer *t = l->t;
    const struct gguf_kv *kv = get_arr(l, "tokenizer.ggml.merges", true);
    struct gguf_str *items = NULL;
    char *cat = NULL;
    char qb[LM_QUOTE_MAX + 8], qb2[LM_QUOTE_MAX + 8];
    int ret = -1;

    if (!kv)
        return -1;
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING)
        return corrupt(l, kv->file_off, "tokenizer.ggml.merges is %s, not an array of strings",
                       gguf_vtype_name(kv->type == GGUF_ARRAY ? kv->arr_type : kv->type));
    if (kv->arr_len > TOK_MAX_MERGES)
        return corrupt(l, kv->file_off, "tokenizer.ggml.merges has %llu merges, more than %u",
                       (unsigned long long)kv->arr_len, TOK_MAX_MERGES);
    if (gguf_arr_strs(kv, &items, l->err))
        return -1;
    uint32_t n = (uint32_t)kv->arr_len;
    uint64_t cap = pow2_at_least(2 * (uint64_t)n);
    size_t maxlen = 0;
    for (uint32_t i = 0; i < n; i++)
        if (items[i].len > maxlen)
            maxlen = items[i].len;
    t->merges.slot = malloc(cap * sizeof(*t->merges.slot));
    cat = malloc(maxlen + 1);
    if (!t->merges.slot || !cat) {
        nomem(l);
        goto out;
    }
    for (uint64_t i = 0; i < cap; i++)
        t->merges.slot[i].key = UINT64_MAX;
    t->merges.mask = cap - 1;
    t->n_merges = n;
    for (uint32_t i = 0; i < n; i++) {
        const struct gguf_str *s = &items[i];
        uint64_t item_at = at(l, s->p) - 8;
        /* llama.cpp splits at the first space after the first byte. */
        const char *sp = s->len >= 2 ? memchr(s->p + 1, ' ', s->len - 1) : NULL;
        if (!sp) {
            corrupt(l, item_at, "merge %u '%s' has no space", i, q(s->p, s->len, qb, sizeof(qb)));
            goto out;
        }
        size_t nl = (size_t)(sp - s->p), nr = s->len - nl - 1;
        int32_t left = tok_find(t, s->p, nl), right = tok_find(t, sp + 1, nr);
        if (left < 0 || right < 0) {
            corrupt(l, item_at, "merge %u '%s' names '%s', which is not a token", i,
                    q(s->p, s->len, qb, sizeof(qb)),
                    left < 0 ? q(s->p, nl, qb2, sizeof(qb2)) : q(sp + 1, nr, qb2, sizeof(qb2)));
            goto out;
        }
        memcpy(cat, s->p, nl);
        memcpy(cat + nl, sp + 1, nr);
        int32_t res = tok_find(t, cat, nl + nr);
        if (res < 0) {
            corrupt(l, item_at, "merge %u '%s' makes '%s', which is not a token", i,
                    q(s->p, s->len, qb, sizeof(qb)), q(cat, nl + nr, qb2, sizeof(qb2)));
            goto out;
        }
        uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
        for (uint64_t k = tok_mix64(key ^ tok_seed) & t->merges.mask;; k = (k + 1) & t->merges.mask) {
            struct tok_merge *m = &t->merges.slot[k];
            if (m->key == key)
                break;   /* a repeated pair keeps its first (best) rank, as in llama.cpp */
            if (m->key == UINT64_MAX) {
                m->key = key;
                m->rank = i;
                m->result = res;
                break;
            }
        }
    }
    ret = 0;
out:
    free(items);
    free(cat);
    return ret;
}

/* ---- special tokens ---------------------------------------------------------------------- */

static const struct {
    const char *key;
    enum lm_tok_special which;
} special_keys[] = {
    { "tokenizer.ggml.bos_token_id", LM_TOK_BOS },
    { "tokenizer.ggml.eos_token_id", LM_TOK_EOS },
    { "tokenizer.ggml.eot_token_id", LM_TOK_EOT },
    { "tokenizer.ggml.eom_token_id", LM_TOK_EOM },
    { "tokenizer.ggml.unknown_token_id", LM_TOK_UNK },
    { "tokenizer.ggml.seperator_token_id", LM_TOK_SEP },
    { "tokenizer.ggml.padding_token_id", LM_TOK_PAD },
    { "tokenizer.ggml.mask_token_id", LM_TOK_MASK },
    { "tokenizer.ggml.fim_pre_token_id", LM_TOK_FIM_PRE },
    { "tokenizer.ggml.fim_suf_token_id", LM_TOK_FIM_SUF },
    { "tokenizer.ggml.fim_mid_token_id", LM_TOK_FIM_MID },
    { "tokenizer.ggml.fim_pad_token_id", LM_TOK_FIM_PAD },
    { "tokenizer.ggml.fim_rep_token_id", LM_TOK_FIM_REP },
    { "tokenizer.ggml.fim_sep_token_id", LM_TOK_FIM_SEP },
    { "tokenizer.ggml.prefix_token_id", LM_TOK_FIM_PRE },   /* deprecated names */
    { "tokenizer.ggml.suffix_token_id", LM_TOK_FIM_SUF },
    { "tokenizer.ggml.middle_token_id", LM_TOK_FIM_MID },
};

static int load_specials(struct ld *l)
{
    struct lm_tokenizer *t = l->t;
    for (int i = 0; i < LM_TOK_SPECIAL_COUNT; i++)
        if (t->special[i] >= (int64_t)t->n_vocab)
            t->special[i] = -1;   /* a default the vocabulary is too small for */
    for (size_t i = 0; i < sizeof(special_keys) / sizeof(special_keys[0]); i++) {
        const struct gguf_kv *kv = gguf_kv_find(l->g, special_keys[i].key);
        uint64_t v;
        if (!kv)
            continue;
        if (gguf_kv_u64(kv, &v))
            return corrupt(l, kv->file_off, "%s is %s, not an unsigned integer",
                           special_keys[i].key, gguf_vtype_name(kv->type));
        if (v >= t->n_vocab)
            return corrupt(l, kv->file_off, "%s %llu is out of range: the vocabulary has %u tokens",
                           special_keys[i].key, (unsigned long long)v, t->n_vocab);
        t->special[special_keys[i].which] = (int32_t)v;
    }
    if (get_bool(l, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix) ||
        get_bool(l, "tokenizer.ggml.add_bos_token", &t->add_bos) ||
        get_bool(l, "tokenizer.ggml.add_eos_token", &t->add_eos) ||
        get_bool(l, "tokenizer.ggml.add_sep_token", &t->add_sep))
        return -1;
    if (t->add_bos && t->special[LM_TOK_BOS] < 0)
        return corrupt(l, LM_NO_OFFSET, "tokenizer.ggml.add_bos_token is true, but there is no BOS token");
    if (t->add_eos && t->special[LM_TOK_EOS] < 0)
        return corrupt(l, LM_NO_OFFSET, "tokenizer.ggml.add_eos_token is true, but there is no EOS token");
    if (t->add_sep && t->special[LM_TOK_SEP] < 0)
        return corrupt(l, LM_NO_OFFSET, "tokenizer.ggml.add_sep_token is true, but there is no SEP token");
    return 0;
}

static void byte_tokens(struct lm_tokenizer *t)
{
    for (int b = 0; b < 256; b++) {
        char s[8];
        size_t n;
        int32_t id;
        if (t->kind == LM_TOK_SPM) {
            snprintf(s, sizeof(s), "<0x%02X>", b);
            id = tok_find(t, s, 6);
            if (id < 0) {
                s[0] = (char)b;
                id = tok_find(t, s, 1);
            }
        } else {
            n = tok_utf8_put(tok_byte_to_cp((uint8_t)b), s);
            id = tok_find(t, s, n);
        }
        t->byte_tok[b] = id;
    }
    t->special[LM_TOK_NL] = t->byte_tok['\n'] >= 0 ? t->byte_tok['\n'] : t->special[LM_TOK_PAD];
    for (uint32_t i = 0; t->kind == LM_TOK_SPM && i < t->n_vocab; i++) {
        const uint8_t *s = (const uint8_t *)t->text + t->text_off[i];
        for (uint32_t k = 1; k < t->text_len[i]; k++) {
            unsigned pair = (unsigned)s[k - 1] << 8 | s[k];
            t->pairs[pair / 64] |= 1ull << (pair % 64);
        }
    }
}

/* Token strings llama.cpp recognizes by text (llama-vocab.cpp, "auto-detect special tokens").
 * llama.cpp takes the first hit in hash-map order; we take the first in list order. */
static const char *const eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>", NULL,
};
static const char *const eom_texts[] = { "<|eom_id|>", NULL };
static const char *const fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
    "<|code_prefix|>", "<|prefix|>", NULL,
};
static const char *const fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
    "<|code_suffix|>", "<|suffix|>", NULL,
};
static const char *const fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
    "<|code_middle|>", "<|middle|>", NULL,
};
static const char *const fim_pad_texts[] = {
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL,
};
static const char *const fim_rep_texts[] = {
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL,
};
static const char *const fim_sep_texts[] = { "<|file_sep|>", NULL };
static const char *const eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[", NULL,
};

static int32_t find_cstr(const struct lm_tokenizer *t, const char *s)
{
    return tok_find(t, s, strlen(s));
}

static void detect(struct lm_tokenizer *t, enum lm_tok_special which, const char *const *texts)
{
    if (t->special[which] >= 0)
        return;
    for (; *texts; texts++) {
        int32_t id = find_cstr(t, *texts);
        if (id >= 0) {
            t->special[which] = id;
            t->attr[id] |= LM_TOKEN_ATTR_CONTROL;
            return;
        }
    }
}

static int eog_add(struct lm_tokenizer *t, size_t *cap, int32_t id)
{
    if (id < 0)
        return 0;
    for (size_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id)
            return 0;
    if (t->n_eog == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        int32_t *p = realloc(t->eog, nc * sizeof(*p));
        if (!p)
            return -1;
        t->eog = p;
        *cap = nc;
    }
    t->eog[t->n_eog++] = id;
    return 0;
}

static void eog_remove(struct lm_tokenizer *t, int32_t id)
{
    for (size_t i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) {
            t->eog[i] = t->eog[--t->n_eog];
            return;
        }
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static bool eog_has(const struct lm_tokenizer *t, const char *text, int32_t *id)
{
    for (size_t i = 0; i < t->n_eog; i++)
        if (strcmp(t->text + t->text_off[t->eog[i]], text) == 0) {
            *id = t->eog[i];
            return true;
        }
    return false;
}

static int by_text(struct ld *l)
{
    struct lm_tokenizer *t = l->t;
    size_t cap = 0;
    detect(t, LM_TOK_EOT, eot_texts);
    detect(t, LM_TOK_EOM, eom_texts);
    detect(t, LM_TOK_FIM_PRE, fim_pre_texts);
    detect(t, LM_TOK_FIM_SUF, fim_suf_texts);
    detect(t, LM_TOK_FIM_MID, fim_mid_texts);
    detect(t, LM_TOK_FIM_PAD, fim_pad_texts);
    detect(t, LM_TOK_FIM_REP, fim_rep_texts);
    detect(t, LM_TOK_FIM_SEP, fim_sep_texts);

    /* Control tokens named like "<unused12>" are unused (gemma). */
    for (uint32_t i = 0; i < t->n_vocab; i++)
        if ((t->attr[i] & LM_TOKEN_ATTR_CONTROL) && strstr(t->text + t->text_off[i], "unused"))
            t->attr[i] |= LM_TOKEN_ATTR_UNUSED;

    if (eog_add(t, &cap, t->special[LM_TOK_FIM_PAD]) || eog_add(t, &cap, t->special[LM_TOK_FIM_REP]) ||
        eog_add(t, &cap, t->special[LM_TOK_FIM_SEP]))
        return nomem(l);
    for (const char *const *s = eog_texts; *s; s++) {
        int32_t id = find_cstr(t, *s);
        if (id < 0)
            continue;
        if (eog_add(t, &cap, id))
            return nomem(l);
        t->attr[id] |= LM_TOKEN_ATTR_CONTROL;
    }
    /* gpt-oss: always render these (llama.cpp makes them USER_DEFINED). */
    static const char *const gptoss[] = { "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>" };
    for (size_t i = 0; i < 4; i++) {
        int32_t id = find_cstr(t, gptoss[i]);
        if (id >= 0)
            t->attr[id] = LM_TOKEN_ATTR_USER_DEFINED;
    }
    if (eog_add(t, &cap, t->special[LM_TOK_EOS]) || eog_add(t, &cap, t->special[LM_TOK_EOT]) ||
        eog_add(t, &cap, t->special[LM_TOK_EOM]))
        return nomem(l);

    /* o200k_harmony / solar-open: "<|end|>" ends a message, not the generation. */
    int32_t end_id, dummy;
    bool has_return = eog_has(t, "<|return|>", &dummy);
    bool has_call = eog_has(t, "<|call|>", &dummy) || eog_has(t, "<|calls|>", &dummy);
    bool has_flush = eog_has(t, "<|flush|>", &dummy);
    if (eog_has(t, "<|end|>", &end_id) && ((has_return && has_call) || (has_call && has_flush))) {
        eog_remove(t, end_id);
        t->attr[end_id] = LM_TOKEN_ATTR_USER_DEFINED;
    }
    /* gemma4 / paddleocr: "</s>" is not an end of generation there. */
    int32_t s_id;
    if (eog_has(t, "<|tool_response>", &dummy) && eog_has(t, "</s>", &s_id)) {
        eog_remove(t, s_id);
        t->attr[s_id] = LM_TOKEN_ATTR_NORMAL;
    }
    if (t->n_eog)
        qsort(t->eog, t->n_eog, sizeof(*t->eog), cmp_i32);
    return 0;
}

static void set_attr(struct lm_tokenizer *t, const char *text, uint16_t bit, bool on)
{
    int32_t id = find_cstr(t, text);
    if (id < 0)
        return;
    t->attr[id] = on ? (uint16_t)(t->attr[id] | bit) : (uint16_t)(t->attr[id] & ~bit);
}

/* Per-model attributes llama.cpp sets by name after loading (whitespace around special tokens). */
static int quirks(struct ld *l)
{
    struct lm_tokenizer *t = l->t;
    struct gguf_str s = { NULL, 0 };
    bool found;
    char name[256];
    if (get_str(l, "general.name", &s, &found))
        return -1;
    size_t n = found ? (s.len < sizeof(name) - 1 ? s.len : sizeof(name) - 1) : 0;
    for (size_t i = 0; i < n; i++) {
        char c = s.p[i];
        name[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : (c ? c : ' ');
    }
    name[n] = 0;
    if (strstr(t->pre, "jina-v2-de") || strstr(t->pre, "jina-v2-es") || strstr(t->pre, "jina-v2-code")) {
        set_attr(t, "<mask>", LM_TOKEN_ATTR_LSTRIP, true);
    } else if (strstr(name, "phi-3") || strstr(name, "phi3")) {
        for (uint32_t i = 0; i < t->n_cand; i++)
            t->attr[t->cand[i]] |= LM_TOKEN_ATTR_RSTRIP;
        set_attr(t, "</s>", LM_TOKEN_ATTR_RSTRIP, true);
        set_attr(t, "<unk>", LM_TOKEN_ATTR_RSTRIP, false);
        set_attr(t, "<s>", LM_TOKEN_ATTR_RSTRIP, false);
        set_attr(t, "<|endoftext|>", LM_TOKEN_ATTR_RSTRIP, false);
    } else if (strstr(name, "modern-bert")) {
        set_attr(t, "[MASK]", LM_TOKEN_ATTR_LSTRIP, true);
    }
    return 0;
}

struct lm_tokenizer *lm_tokenizer_new(const struct gguf *g, const char *path, struct lm_err *err)
{
    struct lm_tokenizer *t = calloc(1, sizeof(*t));
    if (!t) {
        lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory loading the tokenizer");
        return NULL;
    }
    pthread_once(&seed_once, seed_init);
    struct ld l = { g, path, gguf_bytes(g), err, t };
    if (load_kind(&l) || load_tokens(&l) || load_scores(&l) || load_types(&l) ||
        (t->kind == LM_TOK_BPE && load_merges(&l)) || load_specials(&l))
        goto fail;
    byte_tokens(t);
    if (by_text(&l) || tok_special_build(t, err) || tok_pieces_build(t, err) || quirks(&l))
        goto fail;
    if (t->kind == LM_TOK_BPE && tok_pre_compile(t, path, err))
        goto fail;
    return t;
fail:
    if (err && !err->path[0] && path)
        snprintf(err->path, sizeof(err->path), "%s", path);
    lm_tokenizer_free(t);
    return NULL;
}

void lm_tokenizer_free(struct lm_tokenizer *t)
{
    if (!t)
        return;
    tok_pre_free(t);
    free(t->text);
    free(t->text_off);
    free(t->text_len);
    free(t->score);
    free(t->attr);
    free(t->byte_val);
    free(t->piece);
    free(t->piece_off);
    free(t->piece_len);
    free(t->vocab.slot);
    free(t->merges.slot);
    free(t->eog);
    free(t->cand);
    free(t->trie);
    free(t);
}

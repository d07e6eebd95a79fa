/* tokenizer_int.h: what the tokenizer's files share; not part of the runtime interface. */
#ifndef LM_TOKENIZER_INT_H
#define LM_TOKENIZER_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "runtime.h"

#define TOK_MAX_REGEX 8          /* pre-tokenizer regexes applied in sequence */

/* Open-addressing hash set of token ids keyed by their strings; slots hold id + 1 (0 = empty).
 * Seeded per process so a crafted vocabulary cannot pick colliding strings in advance. */
struct tok_strtab {
    uint32_t *slot;
    uint32_t mask;
};

/* BPE merges: (left id, right id) -> rank and the id of the merged string. */
struct tok_merge {
    uint64_t key;                /* left << 32 | right, UINT64_MAX = empty */
    uint32_t rank;
    int32_t result;
};
struct tok_mergetab {
    struct tok_merge *slot;
    uint64_t mask;
};

/* Special-token matcher: a byte trie over the strings of CONTROL / USER_DEFINED / UNKNOWN
 * tokens, used to find which of them occur in a text before llama.cpp's longest-first split. */
struct tok_trie_node {
    int32_t child;               /* first child, -1 if none */
    int32_t sibling;             /* next sibling, -1 if none */
    int32_t cand;                /* index into cand[] of the token ending here, -1 if none */
    uint8_t byte;
};

/* A pre-tokenizer: regexes in PCRE2 syntax (\s and \S are expanded to the Unicode White_Space
 * set llama.cpp uses before compiling) plus the flags llama.cpp sets for that name. */
struct tok_pre {
    const char *names;           /* "|qwen2|deepseek-r1-qwen|": every name it answers to */
    const char *const *regex;    /* NULL-terminated */
    bool ignore_merges, add_bos, no_clean_spaces, no_bos;
};

struct lm_tokenizer {
    enum lm_tok_kind kind;
    char model[8];               /* "llama" / "gpt2" */
    char pre[64];
    uint32_t n_vocab;

    char *text;                  /* every token string, each NUL-terminated */
    uint32_t *text_off, *text_len;
    float *score;
    uint16_t *attr;
    uint8_t *byte_val;           /* BYTE tokens: the byte <0xHH> stands for */
    char *piece;                 /* token_to_piece(special = true) of every token */
    uint32_t *piece_off, *piece_len;

    struct tok_strtab vocab;
    struct tok_mergetab merges;
    uint32_t n_merges;
    /* SPM: <0xHH>, else the one-byte string; BPE: the byte-level character of the byte. */
    int32_t byte_tok[256];
    /* SPM: bit (a << 8 | b) is set if bytes a, b follow each other in some token's string. Where
     * a text's bytes a, b meet and the bit is clear, no merge can ever cross: the two sides are
     * tokenized on their own, with the same result and small heaps. */
    uint64_t pairs[65536 / 64];

    int32_t special[LM_TOK_SPECIAL_COUNT];
    bool add_bos, add_eos, add_sep, add_space_prefix, ignore_merges, clean_spaces;
    int32_t *eog;
    size_t n_eog;

    int32_t *cand;               /* special-token candidates, longest string first, then by id */
    uint32_t n_cand;
    struct tok_trie_node *trie;
    int32_t trie_root[256];      /* first-level nodes by byte, -1 if none */
    uint32_t n_trie;

    const struct tok_pre *pre_def;
    pcre2_code *re[TOK_MAX_REGEX];
    int n_re;
};

/* tokenizer_vocab.c: string table and hashing. */
extern uint64_t tok_seed;
uint64_t tok_hash(const void *p, size_t n);
int32_t tok_find(const struct lm_tokenizer *t, const void *s, size_t n);

static inline uint64_t tok_mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

/* The merge of (left, right), or NULL. */
static inline const struct tok_merge *tok_merge_find(const struct lm_tokenizer *t, int32_t left,
                                                     int32_t right)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint64_t k = tok_mix64(key ^ tok_seed) & t->merges.mask;; k = (k + 1) & t->merges.mask) {
        const struct tok_merge *m = &t->merges.slot[k];
        if (m->key == key)
            return m;
        if (m->key == UINT64_MAX)
            return NULL;
    }
}

/* tokenizer_pre.c */
const struct tok_pre *tok_pre_find(const char *name);
int tok_pre_compile(struct lm_tokenizer *t, const char *path, struct lm_err *err);
void tok_pre_free(struct lm_tokenizer *t);
/* One growable array of (offset, length) pieces. */
struct tok_spans {
    size_t *v;                   /* off0, len0, off1, len1, ... */
    size_t n, cap;               /* in pairs */
};
int tok_spans_add(struct tok_spans *s, size_t off, size_t len);
void tok_spans_release(struct tok_spans *s);
/* Decode text as llama.cpp does (each invalid byte is U+FFFD) and split it with the
 * pre-tokenizer's regexes. *out gets the re-encoded text (what the pieces index); pieces are byte
 * ranges of it. *out may be `text` itself when that was valid UTF-8 already. */
int tok_pre_split(const struct lm_tokenizer *t, const char *text, size_t len, const char **out,
                  char **owned, struct tok_spans *pieces, struct lm_err *err);

/* Growable output of token ids. */
struct tok_ids {
    int32_t *v;
    size_t n, cap;
};
int tok_ids_push(struct tok_ids *o, int32_t id);

/* A min-heap of queued merges (tokenizer_bpe.c), shared by both merge loops. key orders them;
 * the rest is the loop's own: right symbol and up to three more values. */
struct tok_qent {
    uint64_t key;
    int32_t right, a, b, c;
};
struct tok_heap {
    struct tok_qent *v;
    size_t n, cap;
};
int tok_heap_push(struct tok_heap *h, const struct tok_qent *e);
struct tok_qent tok_heap_pop(struct tok_heap *h);   /* h->n > 0 */

/* Words repeat: a cache of the ids of short words (byte strings that stay alive while it is
 * used), per call of the merge loops (tokenizer_bpe.c). */
#define TOK_CACHE_WORD_MAX 64
struct tok_centry {
    const char *word;
    uint32_t len, ids_off, n_ids;
};
struct tok_cache {
    uint32_t *slot;              /* index + 1 into ent, 0 = empty */
    struct tok_centry *ent;
    size_t n_ent;
    struct tok_ids ids;          /* the ids of every cached word, back to back */
};
/* 1 and the ids appended to out on a hit, 0 on a miss, -1 on ENOMEM. */
int tok_cache_get(struct tok_cache *c, const char *s, size_t n, struct tok_ids *out);
int tok_cache_put(struct tok_cache *c, const char *s, size_t n, const int32_t *ids, size_t n_ids);
void tok_cache_release(struct tok_cache *c);

/* tokenizer_spm.c / tokenizer_bpe.c: one raw fragment each. */
int tok_spm_fragment(const struct lm_tokenizer *t, const char *text, size_t len, bool prefix_space,
                     struct tok_ids *out, struct lm_err *err);
int tok_bpe_fragment(const struct lm_tokenizer *t, const char *text, size_t len,
                     struct tok_ids *out, struct lm_err *err);

/* tokenizer_special.c: the trie over special strings and the partition of a text. */
int tok_special_build(struct lm_tokenizer *t, struct lm_err *err);
/* A fragment: raw text [off, off + len) of the input, or a token (id >= 0). */
struct tok_frag {
    size_t off, len;
    int32_t id;
};
int tok_special_split(const struct lm_tokenizer *t, const char *text, size_t len,
                      bool parse_special, struct tok_frag **frags, size_t *n_frags,
                      struct lm_err *err);

/* tokenizer_detok.c: the piece cache. */
int tok_pieces_build(struct lm_tokenizer *t, struct lm_err *err);

/* UTF-8 helpers (tokenizer_pre.c). */
size_t tok_utf8_put(uint32_t cp, char *out);   /* llama.cpp's encoding; 1..4 bytes */

/* The GPT-2 byte-to-unicode map: printable Latin-1 bytes stand for themselves, the other 68
 * (0x00-0x20, 0x7F, 0x80-0xA0, 0xAD) for U+0100..U+0143 in increasing order. */
static inline uint32_t tok_byte_to_cp(uint8_t b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
        return b;
    if (b <= 0x20)
        return 0x100u + b;
    if (b == 0x7F)
        return 0x121;
    if (b <= 0xA0)
        return 0x122u + (b - 0x80u);
    return 0x143;   /* 0xAD */
}

/* The inverse; -1 for code points the map does not produce. */
static inline int tok_cp_to_byte(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int)cp;
    if (cp >= 0x100 && cp <= 0x120)
        return (int)(cp - 0x100);
    if (cp == 0x121)
        return 0x7F;
    if (cp >= 0x122 && cp <= 0x142)
        return (int)(cp - 0x122 + 0x80);
    if (cp == 0x143)
        return 0xAD;
    return -1;
}

#endif

/* test_tokenizer_hostile.c: hostile tokenizer metadata. Each case takes a valid vocabulary
 * (tests/support/tokvocab.c), changes one thing, and must get exactly one error: code, byte
 * offset and message. Also the limits: a vocabulary of 2^31 tokens and one past LM_TOK_MAX_VOCAB. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../runtime/runtime.h"
#include "support/tokvocab.h"

enum off_kind { OFF_NONE, OFF_KV, OFF_TOKEN, OFF_SCORE, OFF_TYPE, OFF_MERGE };

struct hcase {
    const char *name;
    bool bpe;                            /* base vocabulary: tv_bpe, else tv_spm */
    void (*mutate)(struct tv_vocab *v);
    enum lm_errcode code;
    enum off_kind off;
    const char *key;                     /* OFF_KV */
    uint32_t index;                      /* OFF_TOKEN / OFF_SCORE / OFF_TYPE / OFF_MERGE */
    const char *msg;
};

static void m_no_model(struct tv_vocab *v) { v->model = NULL; }
static void m_model_bert(struct tv_vocab *v) { v->model = "bert"; }
static void m_model_quoted(struct tv_vocab *v) { v->model = "x'\n"; }
static void m_no_tokens(struct tv_vocab *v) { v->no_tokens = true; }
static void m_tokens_u32(struct tv_vocab *v) { v->tokens_u32 = true; }
static void m_tokens_empty(struct tv_vocab *v) { v->n_tokens = v->n_scores = v->n_types = 0; }
static void m_token_bad_utf8(struct tv_vocab *v) { v->tokens[261] = "b\xff"; }
static void m_token_surrogate(struct tv_vocab *v) { v->tokens[262] = "\xED\xA0\x80"; }
static void m_token_overlong(struct tv_vocab *v) { v->tokens[262] = "\xC0\xAF"; }
static void m_token_dup(struct tv_vocab *v) { v->tokens[262] = "a"; }
static void m_scores_short(struct tv_vocab *v) { v->n_scores = 3; }
static void m_score_nan(struct tv_vocab *v) { v->scores[260] = NAN; }
static void m_types_short(struct tv_vocab *v) { v->n_types = 100; }
static void m_type_9(struct tv_vocab *v) { v->types[4] = 9; }
static void m_type_neg(struct tv_vocab *v) { v->types[4] = -1; }
static void m_byte_minus(struct tv_vocab *v) { v->tokens[3] = "<0x-1>"; }
static void m_byte_long(struct tv_vocab *v) { v->tokens[3] = "<0x000>"; }
static void m_byte_type_on_normal(struct tv_vocab *v) { v->types[260] = 6; }
static void m_bos_range(struct tv_vocab *v) { v->u32[0].val = 268; }
static void m_eos_range(struct tv_vocab *v) { v->u32[1].val = 0xFFFFFFFFu; }
static void m_pad_range(struct tv_vocab *v)
{
    v->u32[2].key = "tokenizer.ggml.padding_token_id";
    v->u32[2].val = 1u << 31;
}
static void m_bos_string(struct tv_vocab *v)
{
    v->u32[0].key = NULL;
    v->strs[0].key = "tokenizer.ggml.bos_token_id";
    v->strs[0].val = "1";
}
static void m_add_bos_string(struct tv_vocab *v)
{
    v->bools[0].key = NULL;
    v->strs[0].key = "tokenizer.ggml.add_bos_token";
    v->strs[0].val = "true";
}
static void m_add_eos_no_eos(struct tv_vocab *v)
{
    v->n_tokens = v->n_scores = v->n_types = 2;   /* the default eos 2 is past the end */
    v->u32[0].key = v->u32[1].key = NULL;
    v->bools[1].key = "tokenizer.ggml.add_eos_token";
    v->bools[1].val = true;
}
static void m_glm_add_bos(struct tv_vocab *v)
{
    v->pre = "glm4";   /* no default BOS */
    v->bools[0].key = "tokenizer.ggml.add_bos_token";
    v->bools[0].val = true;
}
static void m_pre_unknown(struct tv_vocab *v) { v->pre = "no-such-pre"; }
static void m_no_merges(struct tv_vocab *v) { v->has_merges = false; }
static void m_merge_no_space(struct tv_vocab *v) { v->merges[1] = "ab"; }
static void m_merge_leading_space(struct tv_vocab *v) { v->merges[1] = " b"; }
static void m_merge_unknown_left(struct tv_vocab *v) { v->merges[2] = "\xC4\xA0" "x b"; }
static void m_merge_unknown_right(struct tv_vocab *v) { v->merges[1] = "a zz"; }
static void m_merge_unknown_result(struct tv_vocab *v) { v->merges[1] = "b a"; }
static void m_scores_string(struct tv_vocab *v)
{
    v->n_scores = 0;
    v->strs[0].key = "tokenizer.ggml.scores";
    v->strs[0].val = "0";
}

static const struct hcase cases[] = {
    { "no model", false, m_no_model, LM_EUNSUPPORTED, OFF_NONE, NULL, 0,
      "no tokenizer: tokenizer.ggml.model is missing" },
    { "bert", false, m_model_bert, LM_EUNSUPPORTED, OFF_KV, "tokenizer.ggml.model", 0,
      "tokenizer.ggml.model 'bert' is not supported (lm reads llama and gpt2)" },
    { "model with control bytes", false, m_model_quoted, LM_EUNSUPPORTED, OFF_KV, "tokenizer.ggml.model", 0,
      "tokenizer.ggml.model 'x\\'\\x0a' is not supported (lm reads llama and gpt2)" },
    { "no tokens", false, m_no_tokens, LM_ECORRUPT, OFF_NONE, NULL, 0,
      "tokenizer.ggml.tokens is missing" },
    { "tokens are numbers", false, m_tokens_u32, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.tokens", 0,
      "tokenizer.ggml.tokens is UINT32, not an array of strings" },
    { "vocab of 0", false, m_tokens_empty, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.tokens", 0,
      "tokenizer.ggml.tokens is empty" },
    { "token not UTF-8", false, m_token_bad_utf8, LM_ECORRUPT, OFF_TOKEN, NULL, 261,
      "token 261 'b\xff' is not valid UTF-8" },
    { "token is a surrogate", false, m_token_surrogate, LM_ECORRUPT, OFF_TOKEN, NULL, 262,
      "token 262 '\xed\xa0\x80' is not valid UTF-8" },
    { "token is overlong", false, m_token_overlong, LM_ECORRUPT, OFF_TOKEN, NULL, 262,
      "token 262 '\xc0\xaf' is not valid UTF-8" },
    { "token repeats", false, m_token_dup, LM_ECORRUPT, OFF_TOKEN, NULL, 262,
      "token 262 'a' repeats token 260" },
    { "scores short", false, m_scores_short, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.scores", 0,
      "tokenizer.ggml.scores has 3 entries for 268 tokens" },
    { "scores not numbers", false, m_scores_string, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.scores", 0,
      "tokenizer.ggml.scores is STRING, not an array of FLOAT32" },
    { "score NaN", false, m_score_nan, LM_ECORRUPT, OFF_SCORE, NULL, 260,
      "score of token 260 is NaN" },
    { "types short", false, m_types_short, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.token_type", 0,
      "tokenizer.ggml.token_type has 100 entries for 268 tokens" },
    { "type 9", false, m_type_9, LM_ECORRUPT, OFF_TYPE, NULL, 4, "token 4 has type 9, not 0..6" },
    { "type -1", false, m_type_neg, LM_ECORRUPT, OFF_TYPE, NULL, 4, "token 4 has type -1, not 0..6" },
    { "byte token <0x-1>", false, m_byte_minus, LM_ECORRUPT, OFF_TYPE, NULL, 3,
      "BYTE token 3 is '<0x-1>', not <0xHH>" },
    { "byte token <0x000>", false, m_byte_long, LM_ECORRUPT, OFF_TYPE, NULL, 3,
      "BYTE token 3 is '<0x000>', not <0xHH>" },
    { "BYTE type on a word", false, m_byte_type_on_normal, LM_ECORRUPT, OFF_TYPE, NULL, 260,
      "BYTE token 260 is 'a', not <0xHH>" },
    { "bos past the end", false, m_bos_range, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.bos_token_id", 0,
      "tokenizer.ggml.bos_token_id 268 is out of range: the vocabulary has 268 tokens" },
    { "eos 2^32-1", false, m_eos_range, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.eos_token_id", 0,
      "tokenizer.ggml.eos_token_id 4294967295 is out of range: the vocabulary has 268 tokens" },
    { "pad 2^31", false, m_pad_range, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.padding_token_id", 0,
      "tokenizer.ggml.padding_token_id 2147483648 is out of range: the vocabulary has 268 tokens" },
    { "bos is a string", false, m_bos_string, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.bos_token_id", 0,
      "tokenizer.ggml.bos_token_id is STRING, not an unsigned integer" },
    { "add_bos is a string", false, m_add_bos_string, LM_ECORRUPT, OFF_KV, "tokenizer.ggml.add_bos_token", 0,
      "tokenizer.ggml.add_bos_token is STRING, not BOOL" },
    { "add_eos without eos", false, m_add_eos_no_eos, LM_ECORRUPT, OFF_NONE, NULL, 0,
      "tokenizer.ggml.add_eos_token is true, but there is no EOS token" },
    { "add_bos without bos", true, m_glm_add_bos, LM_ECORRUPT, OFF_NONE, NULL, 0,
      "tokenizer.ggml.add_bos_token is true, but there is no BOS token" },
    { "unknown pre", true, m_pre_unknown, LM_EUNSUPPORTED, OFF_KV, "tokenizer.ggml.pre", 0,
      "unknown pre-tokenizer type 'no-such-pre'" },
    { "no merges", true, m_no_merges, LM_ECORRUPT, OFF_NONE, NULL, 0, "tokenizer.ggml.merges is missing" },
    { "merge without space", true, m_merge_no_space, LM_ECORRUPT, OFF_MERGE, NULL, 1,
      "merge 1 'ab' has no space" },
    { "merge with only a leading space", true, m_merge_leading_space, LM_ECORRUPT, OFF_MERGE, NULL, 1,
      "merge 1 ' b' has no space" },
    { "merge names an unknown left", true, m_merge_unknown_left, LM_ECORRUPT, OFF_MERGE, NULL, 2,
      "merge 2 '\xc4\xa0x b' names '\xc4\xa0x', which is not a token" },
    { "merge names an unknown right", true, m_merge_unknown_right, LM_ECORRUPT, OFF_MERGE, NULL, 1,
      "merge 1 'a zz' names 'zz', which is not a token" },
    { "merge makes a non-token", true, m_merge_unknown_result, LM_ECORRUPT, OFF_MERGE, NULL, 1,
      "merge 1 'b a' makes 'ba', which is not a token" },
};

static uint64_t expected_off(const struct hcase *c, const struct gguf *g)
{
    const uint8_t *base = gguf_bytes(g);
    const struct gguf_kv *kv;
    struct gguf_str *items = NULL;
    uint64_t off = LM_NO_OFFSET;
    switch (c->off) {
    case OFF_NONE:
        break;
    case OFF_KV:
        off = gguf_kv_find(g, c->key)->file_off;
        break;
    case OFF_TOKEN:
    case OFF_MERGE:
        kv = gguf_kv_find(g, c->off == OFF_TOKEN ? "tokenizer.ggml.tokens" : "tokenizer.ggml.merges");
        assert_int_equal(gguf_arr_strs(kv, &items, NULL), 0);
        off = (uint64_t)((const uint8_t *)items[c->index].p - base) - 8;   /* its length field */
        free(items);
        break;
    case OFF_SCORE:
    case OFF_TYPE:
        kv = gguf_kv_find(g, c->off == OFF_SCORE ? "tokenizer.ggml.scores" : "tokenizer.ggml.token_type");
        off = (uint64_t)(kv->raw - base) + 4ull * c->index;
        break;
    }
    return off;
}

static void test_hostile_metadata(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hcase *c = &cases[i];
        static struct tv_vocab v;
        size_t len;
        struct lm_err err = { 0 };
        if (c->bpe)
            tv_bpe(&v);
        else
            tv_spm(&v);
        /* The base itself loads. */
        uint8_t *data = tv_build(&v, &len);
        assert_non_null(data);
        struct gguf *g = gguf_open_mem(data, len, "base.gguf", &err);
        assert_non_null(g);
        struct lm_tokenizer *t = lm_tokenizer_new(g, "base.gguf", &err);
        if (!t)
            fail_msg("base for '%s': %s", c->name, err.msg);
        lm_tokenizer_free(t);
        gguf_close(g);
        free(data);

        c->mutate(&v);
        data = tv_build(&v, &len);
        assert_non_null(data);
        g = gguf_open_mem(data, len, "hostile.gguf", &err);
        assert_non_null(g);
        t = lm_tokenizer_new(g, "hostile.gguf", &err);
        if (t)
            fail_msg("'%s' loaded", c->name);
        if (strcmp(err.msg, c->msg) != 0 || err.code != c->code)
            fail_msg("'%s': got [%s] '%s', want [%s] '%s'", c->name, lm_errcode_name(err.code),
                     err.msg, lm_errcode_name(c->code), c->msg);
        assert_int_equal(err.off, expected_off(c, g));
        assert_string_equal(err.path, "hostile.gguf");
        gguf_close(g);
        free(data);
    }
}

/* The tokens array of a valid file claims 2^31 entries: the reader refuses before we see it. */
static void test_vocab_2p31(void **state)
{
    (void)state;
    static struct tv_vocab v;
    size_t len;
    struct lm_err err = { 0 };
    tv_spm(&v);
    uint8_t *data = tv_build(&v, &len);
    struct gguf *g = gguf_open_mem(data, len, "v.gguf", &err);
    assert_non_null(g);
    const struct gguf_kv *kv = gguf_kv_find(g, "tokenizer.ggml.tokens");
    uint64_t count_at = (uint64_t)(kv->raw - gguf_bytes(g)) - 8;
    gguf_close(g);
    uint64_t n = 1ull << 31;
    memcpy(data + count_at, &n, 8);
    assert_null(gguf_open_mem(data, len, "v.gguf", &err));
    assert_int_equal(err.code, LM_ECORRUPT);
    assert_string_equal(err.msg, "array 'tokenizer.ggml.tokens' count 2147483648 cannot fit in 6085 bytes left");
    free(data);
}

/* One token past LM_TOK_MAX_VOCAB: refused by count, before a string is read. */
static void test_vocab_too_many(void **state)
{
    (void)state;
    size_t n = (size_t)LM_TOK_MAX_VOCAB + 1;
    struct gguf_str *items = calloc(n, sizeof(*items));
    struct lm_err err = { 0 };
    struct gguf_writer *w = gguf_writer_new();
    assert_non_null(items);
    for (size_t i = 0; i < n; i++)
        items[i] = (struct gguf_str){ "", 0 };
    assert_int_equal(gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", 5, &err), 0);
    assert_int_equal(gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", items, n, &err), 0);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(gguf_writer_begin(w, fileno(f), "big.gguf", &err), 0);
    assert_int_equal(gguf_writer_finish(w, &err), 0);
    gguf_writer_free(w);
    free(items);
    long size = ftell(f);
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    uint8_t *data = malloc((size_t)size);
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    struct gguf *g = gguf_open_mem(data, (size_t)size, "big.gguf", &err);
    assert_non_null(g);
    assert_null(lm_tokenizer_new(g, "big.gguf", &err));
    assert_int_equal(err.code, LM_ECORRUPT);
    assert_string_equal(err.msg, "tokenizer.ggml.tokens has 2097153 tokens, more than 2097152");
    assert_int_equal(err.off, gguf_kv_find(g, "tokenizer.ggml.tokens")->file_off);
    gguf_close(g);
    free(data);
}

/* Quirks that are not errors: empty strings become [EMPTY_i], a missing pre is "default",
 * out-of-range default ids are dropped, SentencePiece without byte tokens errs per text. */
static void test_tolerated(void **state)
{
    (void)state;
    static struct tv_vocab v;
    size_t len;
    struct lm_err err = { 0 };
    tv_spm(&v);
    v.tokens[262] = "";
    v.pre = NULL;
    uint8_t *data = tv_build(&v, &len);
    struct gguf *g = gguf_open_mem(data, len, "v.gguf", &err);
    struct lm_tokenizer *t = lm_tokenizer_new(g, "v.gguf", &err);
    assert_non_null(t);
    assert_string_equal(lm_token_text(t, 262, &len), "[EMPTY_262]");
    assert_string_equal(lm_tokenizer_pre(t), "default");
    lm_tokenizer_free(t);
    gguf_close(g);
    free(data);

    /* No byte tokens: text the merges cannot spell is an error, not a crash. */
    tv_spm(&v);
    for (int b = 0; b < 256; b++)
        v.types[3 + b] = 1;   /* "<0xHH>" strings as plain words */
    v.tokens[3 + 'z'] = "<0xzz>";
    data = tv_build(&v, &len);
    g = gguf_open_mem(data, len, "v.gguf", &err);
    t = lm_tokenizer_new(g, "v.gguf", &err);
    assert_non_null(t);
    int32_t *ids;
    size_t n;
    assert_int_equal(lm_tokenize(t, "ab", 2, true, true, &ids, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 265);   /* ▁ab */
    free(ids);
    assert_int_equal(lm_tokenize(t, "z", 1, false, true, &ids, &n, &err), -1);
    assert_int_equal(err.code, LM_EUNSUPPORTED);
    assert_string_equal(err.msg, "the vocabulary has no token for byte 0x7A (no <0x7A> byte token)");
    assert_null(ids);
    lm_tokenizer_free(t);
    gguf_close(g);
    free(data);

    /* A BPE vocabulary smaller than its default BOS/EOS id 11 loads without them. */
    tv_bpe(&v);
    v.n_tokens = 10;
    v.has_merges = true;
    v.n_merges = 0;
    v.u32[0].key = NULL;
    v.n_types = 10;
    data = tv_build(&v, &len);
    g = gguf_open_mem(data, len, "v.gguf", &err);
    t = lm_tokenizer_new(g, "v.gguf", &err);
    assert_non_null(t);
    assert_int_equal(lm_tokenizer_special(t, LM_TOK_BOS), -1);
    assert_int_equal(lm_tokenizer_special(t, LM_TOK_EOS), -1);
    /* Bytes with no token are dropped, as llama.cpp drops them: nothing at all here. */
    assert_int_equal(lm_tokenize(t, "zz zz", 5, true, true, &ids, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(ids);
    lm_tokenizer_free(t);
    gguf_close(g);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_metadata),
        cmocka_unit_test(test_vocab_2p31),
        cmocka_unit_test(test_vocab_too_many),
        cmocka_unit_test(test_tolerated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

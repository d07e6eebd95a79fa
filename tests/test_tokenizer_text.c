/* test_tokenizer_text.c: what the tokenizers do with text: pre-tokenizer splits (the regex sets
 * on hand-checked cases), llama.cpp's order of special-token matching, the Phi-3 whitespace
 * quirk, hostile prompts (any bytes, long runs) on every fixture vocabulary, the size limit,
 * detokenization's clean-up and streaming with partial UTF-8 held back. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "../runtime/runtime.h"
#include "../runtime/tokenizer_int.h"   /* tok_pre_split: the pre-tokenizer on its own */
#include "support/testutil.h"
#include "support/tokvocab.h"

static struct lm_tokenizer *from_vocab(const struct tv_vocab *v)
{
    size_t len;
    struct lm_err err = { 0 };
    uint8_t *data = tv_build(v, &len);
    assert_non_null(data);
    struct gguf *g = gguf_open_mem(data, len, "v.gguf", &err);
    assert_non_null(g);
    struct lm_tokenizer *t = lm_tokenizer_new(g, "v.gguf", &err);
    if (!t)
        fail_msg("%s", err.msg);
    gguf_close(g);   /* the tokenizer keeps copies */
    free(data);
    return t;
}

static struct lm_tokenizer *from_models(const char *rel)
{
    char path[1024];
    struct stat st;
    struct lm_err err = { 0 };
    const char *models = lm_models();
    if (!models)
        return NULL;
    snprintf(path, sizeof(path), "%s/%s", models, rel);
    if (stat(path, &st) != 0)
        return NULL;
    struct gguf *g = gguf_open(path, &err);
    assert_non_null(g);
    struct lm_tokenizer *t = lm_tokenizer_new(g, path, &err);
    assert_non_null(t);
    gguf_close(g);
    return t;
}

/* ---- pre-tokenizer splits ---------------------------------------------------------------- */

struct split_case {
    const char *pre;
    const char *text;
    const char *pieces;   /* joined with '|' */
};

static const struct split_case splits[] = {
    /* tokenizers.md §4's example */
    { "llama-bpe", "Hello world's 12345!!\n\n", "Hello| world|'s| |123|45|!!\n\n" },
    { "qwen2", "Hello world's 12345!!\n\n", "Hello| world|'s| |1|2|3|4|5|!!\n\n" },
    { "llama-bpe", "I'M 'RE", "I|'M| '|RE" },
    { "gpt-2", "a   b", "a|  | b" },
    { "gpt-2", "a  ", "a|  " },
    { "gpt-2", "I'm here", "I|'m| here" },
    { "gpt-2", "x\t\ty", "x|\t|\t|y" },   /* " ?" takes a space only, not a tab */
    { "starcoder", "x=12", "x|=|1|2" },
    { "deepseek-coder", "ab\ncd", "ab|\n|cd" },
    { "tekken", "HelloWorld", "Hello|World" },
    /* llama.cpp's std::wregex sees U+3000 as a space, never as part of a CJK or punctuation class */
    { "deepseek-coder", "\xE4\xB8\xAD\xE3\x80\x80\xE6\x96\x87", "\xE4\xB8\xAD|\xE3\x80\x80|\xE6\x96\x87" },
    { "deepseek-llm", "\xE3\x80\x82\xE3\x80\x80", "\xE3\x80\x82|\xE3\x80\x80" },
    /* Unicode whitespace is \s (U+3000), U+180E is not */
    { "gpt-2", "a\xE3\x80\x80\xE3\x80\x80" "b", "a|\xE3\x80\x80|\xE3\x80\x80|b" },
    { "gpt-2", "a\xE1\xA0\x8E" "b", "a|\xE1\xA0\x8E|b" },
    /* llama.cpp's decoding: a bad byte is U+FFFD, an overlong '/' is '/', a surrogate stays */
    { "qwen2", "a\xff" "b", "a|\xEF\xBF\xBD" "b" },
    { "qwen2", "\xC0\xAF", "/" },
    { "qwen2", "x\xED\xA0\x80", "x|\xED\xA0\x80" },
    { "qwen2", "\xF0\x9F\x99", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" },   /* one symbol run */
};

static void test_pre_splits(void **state)
{
    (void)state;
    static struct tv_vocab v;
    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        const struct split_case *c = &splits[i];
        tv_bpe(&v);
        v.pre = c->pre;
        struct lm_tokenizer *t = from_vocab(&v);
        const char *bytes;
        char *owned;
        struct tok_spans sp = { 0 };
        struct lm_err err = { 0 };
        assert_int_equal(tok_pre_split(t, c->text, strlen(c->text), &bytes, &owned, &sp, &err), 0);
        char got[256];
        size_t o = 0;
        for (size_t k = 0; k < sp.n; k++)
            o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%.*s", k ? "|" : "",
                                  (int)sp.v[2 * k + 1], bytes + sp.v[2 * k]);
        if (strcmp(got, c->pieces) != 0)
            fail_msg("%s '%s': got '%s', want '%s'", c->pre, c->text, got, c->pieces);
        free(owned);
        tok_spans_release(&sp);
        lm_tokenizer_free(t);
    }
}

/* Every pre-tokenizer name of the table compiles. */
static void test_pre_names(void **state)
{
    (void)state;
    static const char *const names[] = {
        "default", "llama3", "llama-bpe", "dbrx", "glm4", "deepseek-llm", "deepseek-coder",
        "deepseek-v3", "falcon", "gpt-2", "phi-2", "mpt", "olmo", "starcoder", "refact", "smollm",
        "command-r", "qwen2", "stablelm2", "qwen35", "tekken", "gpt-4o", "llama4", "poro-chat",
        "bloom", "viking", "seed-coder", "bailingmoe", "jais", "exaone", "trillion",
    };
    static struct tv_vocab v;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        tv_bpe(&v);
        v.pre = names[i];
        struct lm_tokenizer *t = from_vocab(&v);
        int32_t *ids;
        size_t n;
        struct lm_err err = { 0 };
        static const char text[] = "Hello, World! 12345 \xE4\xBD\xA0\xE5\xA5\xBD  \n\n x's";
        assert_int_equal(lm_tokenize(t, text, sizeof(text) - 1, false, false, &ids, &n, &err), 0);
        struct lm_buf out = LM_BUF_INIT(1 << 20);
        assert_int_equal(lm_detokenize(t, ids, n, false, false, &out, &err), 0);
        assert_true(out.len > 0);
        free(ids);
        lm_buf_release(&out);
        lm_tokenizer_free(t);
    }
}

/* ---- special tokens ---------------------------------------------------------------------- */

/* llama.cpp matches the longest special string first over the whole text, not leftmost. */
static void test_special_order(void **state)
{
    (void)state;
    static struct tv_vocab v;
    tv_spm(&v);
    v.tokens[262] = "bcd";
    v.types[262] = 4;   /* USER_DEFINED: matched even without parse_special */
    v.types[264] = 4;   /* "ab" */
    struct lm_tokenizer *t = from_vocab(&v);
    int32_t *ids;
    size_t n;
    struct lm_err err = { 0 };
    assert_int_equal(lm_tokenize(t, "abcd", 4, false, false, &ids, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 263);   /* " a" -> ▁a: the dummy prefix */
    assert_int_equal(ids[1], 262);   /* bcd */
    free(ids);
    /* CONTROL strings only with parse_special; a raw fragment after one gets its own prefix. */
    assert_int_equal(lm_tokenize(t, "<s>a", 4, false, true, &ids, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 263);
    free(ids);
    assert_int_equal(lm_tokenize(t, "<s>", 3, false, false, &ids, &n, &err), 0);
    assert_int_equal(n, 4);   /* ▁ < s > as bytes and words */
    free(ids);
    lm_tokenizer_free(t);
}

/* Phi-3: whitespace after its special tokens is swallowed (llama.cpp's RSTRIP by model name). */
static void test_phi3_rstrip(void **state)
{
    (void)state;
    static struct tv_vocab v;
    int32_t *ids;
    size_t n;
    struct lm_err err = { 0 };
    static const char text[] = "<|user|> \n b";
    tv_spm(&v);
    v.name = "Phi-3 Mini";
    struct lm_tokenizer *t = from_vocab(&v);
    assert_true(lm_token_attr(t, 267) & LM_TOKEN_ATTR_RSTRIP);
    assert_false(lm_token_attr(t, 1) & LM_TOKEN_ATTR_RSTRIP);   /* <s> is exempt */
    assert_int_equal(lm_tokenize(t, text, sizeof(text) - 1, false, true, &ids, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 267);
    assert_int_equal(ids[1], 259);   /* ▁ */
    assert_int_equal(ids[2], 261);   /* b */
    free(ids);
    lm_tokenizer_free(t);
    v.name = "stories";
    t = from_vocab(&v);
    assert_int_equal(lm_tokenize(t, text, sizeof(text) - 1, false, true, &ids, &n, &err), 0);
    assert_true(n > 3);
    free(ids);
    lm_tokenizer_free(t);
}

/* ---- hostile prompts ---------------------------------------------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint8_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)rng;
}

/* llama.cpp's view of bytes as UTF-8: each bad byte one U+FFFD, overlong forms decoded. */
static size_t reencode(const uint8_t *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : !(c & 0x40) ? 0 : !(c & 0x20) ? 2 : !(c & 0x10) ? 3 : !(c & 0x08) ? 4 : 0;
        uint32_t cp = 0xFFFD;
        size_t adv = 1;
        if (k == 1) {
            cp = c;
        } else if (k && k <= n - i) {
            uint32_t v = c & (0x7Fu >> k);
            size_t j = 1;
            for (; j < k && (s[i + j] & 0xC0) == 0x80; j++)
                v = v << 6 | (s[i + j] & 0x3Fu);
            if (j == k) {
                cp = v > 0x10FFFF ? 0xFFFD : v;
                adv = k;
            }
        }
        o += tok_utf8_put(cp, out + o);
        i += adv;
    }
    return o;
}

struct hostile_input {
    char *p;
    size_t n;
    const char *what;
};

static size_t make_inputs(struct hostile_input *in)
{
    size_t k = 0;
    char *p = malloc(256);
    for (int b = 0; b < 256; b++)
        p[b] = (char)b;
    in[k++] = (struct hostile_input){ p, 256, "every byte" };
    p = malloc(65536);
    for (size_t i = 0; i < 65536; i++)
        p[i] = (char)rnd();
    in[k++] = (struct hostile_input){ p, 65536, "64 KiB of random bytes" };
    static const char bad[] = "\x80\xBF\xC0\x80\xC1\xBF\xE0\x80\x80\xED\xA0\x80\xED\xBF\xBF\xF4\x90\x80\x80"
                              "\xF5\x80\x80\x80\xF8\x88\x80\x80\x80\xFC\xFE\xFF\xE4\xB8\xF0\x9F\x99\x00\x00a";
    p = malloc(sizeof(bad));
    memcpy(p, bad, sizeof(bad));
    in[k++] = (struct hostile_input){ p, sizeof(bad), "invalid UTF-8 and NULs" };
    static const char *const runs[] = { " ", "a", "7", "\n", "!", "\xE4\xB8\xAD", "<|im_start|>", "<s>",
                                        "\xF0\x9F\x99\x82", " \t" };
    for (size_t r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
        size_t m = strlen(runs[r]), n = 40000 / m * m;
        p = malloc(n);
        for (size_t i = 0; i < n; i += m)
            memcpy(p + i, runs[r], m);
        in[k++] = (struct hostile_input){ p, n, runs[r] };
    }
    return k;
}

static void hostile_on(const char *rel, struct hostile_input *in, size_t n_in)
{
    struct lm_tokenizer *t = from_models(rel);
    if (!t)
        return;
    bool spm = lm_tokenizer_kind(t) == LM_TOK_SPM;
    char *want = malloc(3 * 65536 + 1024);
    for (size_t i = 0; i < n_in; i++) {
        for (int ps = 0; ps < 2; ps++) {
            int32_t *ids;
            size_t n;
            struct lm_err err = { 0 };
            if (lm_tokenize(t, in[i].p, in[i].n, ps, ps, &ids, &n, &err))
                fail_msg("%s: '%s': %s", rel, in[i].what, err.msg);
            for (size_t k = 0; k < n; k++)
                assert_true(ids[k] >= 0 && (uint32_t)ids[k] < lm_tokenizer_n_vocab(t));
            /* Without special parsing the ids spell the text again, as llama.cpp sees it. (Not
             * SentencePiece on broken UTF-8: a lead byte swallows the next bytes whatever they
             * are, a U+2581 among them, as in llama.cpp.) */
            struct lm_buf out = LM_BUF_INIT(1u << 24);
            assert_int_equal(lm_detokenize(t, ids, n, true, false, &out, &err), 0);
            size_t wn = spm ? in[i].n : reencode((const uint8_t *)in[i].p, in[i].n, want);
            if (spm)
                memcpy(want, in[i].p, in[i].n);
            if (ps == 0 && !memmem(in[i].p, in[i].n, "\xE2\x96\x81", 3) &&
                (!spm || lm_utf8_valid(in[i].p, in[i].n)) &&
                strcmp(lm_tokenizer_pre(t), "gpt-2") && strcmp(lm_tokenizer_pre(t), "falcon") &&
                (out.len != wn || memcmp(out.data, want, wn) != 0))
                fail_msg("%s: '%s' does not detokenize back (%zu bytes, want %zu)", rel, in[i].what,
                         out.len, wn);
            lm_buf_release(&out);
            free(ids);
        }
    }
    free(want);
    lm_tokenizer_free(t);
}

static void test_hostile_prompts(void **state)
{
    (void)state;
    struct hostile_input in[32];
    size_t n_in = make_inputs(in);
    if (!lm_models())
        skip();
    hostile_on("stories260K/ref/gguf/stories260K-F32.gguf", in, n_in);
    hostile_on("vocab/ggml-vocab-llama-spm.gguf", in, n_in);
    hostile_on("vocab/ggml-vocab-qwen2.5.gguf", in, n_in);
    hostile_on("vocab/ggml-vocab-gpt-2.gguf", in, n_in);
    hostile_on("vocab/ggml-vocab-falcon.gguf", in, n_in);
    hostile_on("vocab/ggml-vocab-deepseek-coder.gguf", in, n_in);
    for (size_t i = 0; i < n_in; i++)
        free(in[i].p);
}

static void test_text_limit(void **state)
{
    (void)state;
    static struct tv_vocab v;
    tv_spm(&v);
    struct lm_tokenizer *t = from_vocab(&v);
    size_t n = (size_t)LM_TOK_MAX_TEXT + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    int32_t *ids = (int32_t *)big;
    size_t cnt = 7;
    struct lm_err err = { 0 };
    assert_int_equal(lm_tokenize(t, big, n, true, true, &ids, &cnt, &err), -1);
    assert_int_equal(err.code, LM_EUSAGE);
    assert_string_equal(err.msg, "text of 16777217 bytes is over the 16777216-byte limit of one tokenization");
    assert_null(ids);
    assert_int_equal(cnt, 0);
    /* Empty text: only what add_special adds. */
    assert_int_equal(lm_tokenize(t, "", 0, true, true, &ids, &cnt, &err), 0);
    assert_int_equal(cnt, 1);
    assert_int_equal(ids[0], 1);
    free(ids);
    assert_int_equal(lm_tokenize(t, NULL, 0, false, true, &ids, &cnt, &err), 0);
    assert_int_equal(cnt, 0);
    assert_null(ids);
    free(big);
    lm_tokenizer_free(t);
}

/* ---- detokenization ---------------------------------------------------------------------- */

static void test_clean_spaces(void **state)
{
    (void)state;
    struct lm_tokenizer *t = from_models("vocab/ggml-vocab-gpt-2.gguf");
    if (!t)
        skip();
    static const char text[] = "a , b . c ' d 's x 't y ?";
    int32_t *ids;
    size_t n;
    struct lm_err err = { 0 };
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    assert_int_equal(lm_tokenize(t, text, sizeof(text) - 1, false, false, &ids, &n, &err), 0);
    assert_int_equal(lm_detokenize(t, ids, n, false, false, &out, &err), 0);
    assert_int_equal(lm_buf_add(&out, "", 1), 0);
    assert_string_equal(out.data, "a, b. c'd's x 't y?");
    /* An id out of range is an error, and the buffer is left as it was. */
    out.len = 0;
    int32_t bad[] = { 15496, 50257 };
    assert_int_equal(lm_detokenize(t, bad, 2, false, false, &out, &err), -1);
    assert_string_equal(err.msg, "token id 50257 is out of range: the vocabulary has 50257 tokens");
    assert_int_equal(out.len, 0);
    free(ids);
    lm_buf_release(&out);
    lm_tokenizer_free(t);
}

static void test_spm_leading_space(void **state)
{
    (void)state;
    static struct tv_vocab v;
    tv_spm(&v);
    struct lm_tokenizer *t = from_vocab(&v);
    int32_t *ids;
    size_t n;
    struct lm_err err = { 0 };
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    assert_int_equal(lm_tokenize(t, "ab a", 4, true, false, &ids, &n, &err), 0);
    assert_int_equal(n, 3);   /* <s> ▁ab ▁a */
    assert_int_equal(lm_detokenize(t, ids, n, false, true, &out, &err), 0);
    assert_int_equal(lm_buf_add(&out, "", 1), 0);
    assert_string_equal(out.data, "<s> ab a");   /* the BOS piece takes the one-space strip */
    out.len = 0;
    assert_int_equal(lm_detokenize(t, ids, n, true, true, &out, &err), 0);
    assert_int_equal(lm_buf_add(&out, "", 1), 0);
    assert_string_equal(out.data, " ab a");      /* a removed BOS keeps the space */
    out.len = 0;
    assert_int_equal(lm_detokenize(t, ids + 1, n - 1, false, false, &out, &err), 0);
    assert_int_equal(lm_buf_add(&out, "", 1), 0);
    assert_string_equal(out.data, "ab a");
    free(ids);
    lm_buf_release(&out);
    lm_tokenizer_free(t);
}

/* Streaming: `out` grows by whole characters only; the held bytes come out when complete. */
static void stream_check(struct lm_tokenizer *t, const char *text)
{
    int32_t *ids;
    size_t n, len = strlen(text);
    struct lm_err err = { 0 };
    struct lm_detok d;
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    assert_int_equal(lm_tokenize(t, text, len, false, false, &ids, &n, &err), 0);
    lm_detok_init(&d, t, false);
    size_t held_at_most = 0;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(lm_detok_push(&d, ids[i], &out, &err), 0);
        assert_true(lm_utf8_valid(out.data, out.len));
        if (d.n_held > held_at_most)
            held_at_most = d.n_held;
    }
    assert_int_equal(lm_detok_flush(&d, &out, &err), 0);
    size_t skip = lm_tokenizer_add_space_prefix(t) ? 1 : 0;   /* streaming keeps the dummy space */
    assert_int_equal(out.len, len + skip);
    assert_memory_equal(out.data + skip, text, len);
    assert_true(held_at_most <= 3);
    free(ids);
    lm_buf_release(&out);
}

static void test_stream_detok(void **state)
{
    (void)state;
    static struct tv_vocab v;
    tv_spm(&v);
    struct lm_tokenizer *t = from_vocab(&v);
    /* 🙂 is four byte tokens here: nothing shows until the fourth. */
    int32_t *ids;
    size_t n;
    struct lm_err err = { 0 };
    assert_int_equal(lm_tokenize(t, "\xF0\x9F\x99\x82", 4, false, false, &ids, &n, &err), 0);
    assert_int_equal(n, 5);   /* ▁ then 4 bytes */
    struct lm_detok d;
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    lm_detok_init(&d, t, false);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(lm_detok_push(&d, ids[i], &out, &err), 0);
        assert_int_equal(out.len, 1);   /* the space */
    }
    assert_int_equal(lm_detok_push(&d, ids[4], &out, &err), 0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, " \xF0\x9F\x99\x82", 5);
    /* A lone lead byte is held, then flushed as it is. */
    int32_t lead = 3 + 0xE4;
    out.len = 0;
    assert_int_equal(lm_detok_push(&d, lead, &out, &err), 0);
    assert_int_equal(out.len, 0);
    assert_int_equal(lm_detok_push(&d, 260, &out, &err), 0);   /* "a" breaks the sequence */
    assert_int_equal(out.len, 2);
    assert_memory_equal(out.data, "\xE4" "a", 2);
    assert_int_equal(lm_detok_push(&d, lead, &out, &err), 0);
    assert_int_equal(lm_detok_flush(&d, &out, &err), 0);
    assert_int_equal(out.len, 3);
    assert_int_equal(lm_detok_push(&d, 268, &out, &err), -1);
    assert_string_equal(err.msg, "token id 268 is out of range: the vocabulary has 268 tokens");
    free(ids);
    lm_buf_release(&out);
    stream_check(t, "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x99\x82!");
    lm_tokenizer_free(t);
    if ((t = from_models("vocab/ggml-vocab-qwen2.5.gguf"))) {
        stream_check(t, "h\xC3\xA9llo \xE4\xB8\x96\xE7\x95\x8C \xF0\x9F\x99\x82\xF0\x9F\x98\xB6\xE2\x80\x8D\xF0\x9F\x8C\xAB!");
        lm_tokenizer_free(t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pre_splits),
        cmocka_unit_test(test_pre_names),
        cmocka_unit_test(test_special_order),
        cmocka_unit_test(test_phi3_rstrip),
        cmocka_unit_test(test_hostile_prompts),
        cmocka_unit_test(test_text_limit),
        cmocka_unit_test(test_clean_spaces),
        cmocka_unit_test(test_spm_leading_space),
        cmocka_unit_test(test_stream_detok),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* fuzz_tokenizer.c: libFuzzer target for the tokenizers. First byte < 0x80: the rest is a prompt
 * for one of the fixture vocabularies ($LM_MODELS, default ../shared/models), with add_special /
 * parse_special from bits 4 and 5; it is tokenized, detokenized whole and streamed. First byte
 * >= 0x80: the rest is a GGUF vocabulary; if it loads, a few texts go through it. Checks: ids in
 * range, held-back bytes at most 3, and on the fixture vocabularies that valid UTF-8 comes back
 * from detokenization exactly where llama.cpp's does (no special parsing; SentencePiece: no BOS,
 * no U+2581; byte-level BPE: vocabularies without space clean-up). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/runtime.h"
#include "../common/banned.h"

static const char *const vocab_files[] = {
    "stories260K/ref/gguf/stories260K-F32.gguf",
    "vocab/ggml-vocab-llama-spm.gguf",
    "vocab/ggml-vocab-qwen2.5.gguf",
    "vocab/ggml-vocab-gpt-2.gguf",
    "vocab/ggml-vocab-falcon.gguf",
    "vocab/ggml-vocab-deepseek-coder.gguf",
};
#define N_VOCABS (sizeof(vocab_files) / sizeof(vocab_files[0]))

static struct lm_tokenizer *vocabs[N_VOCABS];
static size_t n_vocabs;
static volatile uint64_t sink;

static void load_vocabs(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    const char *models = getenv("LM_MODELS");
    if (!models)
        models = "../shared/models";
    for (size_t i = 0; i < N_VOCABS; i++) {
        char path[1024];
        struct lm_err err = { 0 };
        snprintf(path, sizeof(path), "%s/%s", models, vocab_files[i]);
        struct gguf *g = gguf_open(path, &err);
        struct lm_tokenizer *t = g ? lm_tokenizer_new(g, path, &err) : NULL;
        gguf_close(g);
        if (t)
            vocabs[n_vocabs++] = t;
    }
}

static void check(bool ok)
{
    if (!ok)
        abort();
}

/* Does detokenizing give this text back, as llama.cpp's would? */
static bool round_trips(const struct lm_tokenizer *t, const char *text, size_t len, unsigned flags)
{
    if ((flags & 2) || !lm_utf8_valid(text, len))
        return false;
    if (lm_tokenizer_kind(t) == LM_TOK_SPM) {
        for (size_t i = 0; i + 2 < len; i++)
            if (memcmp(text + i, "\xE2\x96\x81", 3) == 0)
                return false;
        return !(flags & 1);
    }
    return strcmp(lm_tokenizer_pre(t), "qwen2") == 0 || strcmp(lm_tokenizer_pre(t), "deepseek-coder") == 0;
}

static void exercise(const struct lm_tokenizer *t, const char *text, size_t len, unsigned flags,
                     bool fixture)
{
    int32_t *ids = NULL;
    size_t n = 0;
    struct lm_err err = { 0 };
    bool add_special = flags & 1, parse_special = flags & 2;
    if (lm_tokenize(t, text, len, add_special, parse_special, &ids, &n, &err))
        return;   /* e.g. a byte the vocabulary cannot spell */
    uint32_t nv = lm_tokenizer_n_vocab(t);
    for (size_t i = 0; i < n; i++)
        check(ids[i] >= 0 && (uint32_t)ids[i] < nv);

    struct lm_buf whole = LM_BUF_INIT(1u << 28), streamed = LM_BUF_INIT(1u << 28);
    if (fixture && round_trips(t, text, len, flags)) {
        check(lm_detokenize(t, ids, n, true, false, &whole, &err) == 0);
        check(whole.len == len && (len == 0 || memcmp(whole.data, text, len) == 0));
        whole.len = 0;
    }
    check(lm_detokenize(t, ids, n, flags & 4, flags & 8, &whole, &err) == 0);
    struct lm_detok d;
    lm_detok_init(&d, t, flags & 8);
    for (size_t i = 0; i < n; i++) {
        size_t before = streamed.len;
        check(lm_detok_push(&d, ids[i], &streamed, &err) == 0);
        check(d.n_held <= 3);
        /* Whatever was added ends on a character boundary or an invalid sequence, never
         * halfway through a valid one. */
        if (streamed.len > before && lm_utf8_valid(streamed.data + before, streamed.len - before))
            sink += streamed.len;
        size_t pl;
        const char *p = lm_token_piece(t, ids[i], flags & 8, &pl);
        check(p != NULL);
        sink += pl;
    }
    check(lm_detok_flush(&d, &streamed, &err) == 0);
    /* Streaming is the plain concatenation of pieces: no space clean-up, no prefix strip. */
    if (!lm_tokenizer_add_space_prefix(t) && !(flags & 4) && whole.len == streamed.len)
        sink += whole.len ? (uint8_t)whole.data[0] : 0;
    lm_buf_release(&whole);
    lm_buf_release(&streamed);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (!(data[0] & 0x80)) {
        load_vocabs();
        if (n_vocabs)
            exercise(vocabs[data[0] % n_vocabs], text, len, data[0] >> 4, true);
        return 0;
    }
    struct lm_err err = { 0 };
    struct gguf *g = gguf_open_mem(text, len, "fuzz.gguf", &err);
    struct lm_tokenizer *t = g ? lm_tokenizer_new(g, "fuzz.gguf", &err) : NULL;
    gguf_close(g);   /* the tokenizer must not point into the file */
    if (t) {
        static const char *const samples[] = {
            "", " ", "Hello world", "  a\n\n\tb ", "<s></s><unk><|im_start|>x<|im_end|>",
            "\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x99\x82", "\xff\xfe\xc0\x80\xed\xa0\x80", "12345 'll",
        };
        for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
            exercise(t, samples[i], strlen(samples[i]), data[0] & 15, false);
        exercise(t, text, len < 256 ? len : 256, 3, false);
        lm_tokenizer_free(t);
    }
    return 0;
}

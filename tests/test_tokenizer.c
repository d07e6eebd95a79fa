/* test_tokenizer.c: the tokenizers against llama.cpp's own references: its tokenizer test
 * vocabularies (.inp/.out from test-tokenizer-0), the ref/tokenize/ JSONL files of the fixtures (ids
 * and pieces with and without special-token parsing), what llama.cpp derives at load
 * (vocab-info.json), and detokenization giving the text back wherever llama.cpp's does. */
#define _GNU_SOURCE
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "../runtime/runtime.h"
#include "support/testutil.h"

static bool model_path(char *buf, size_t n, const char *rel)
{
    const char *models = lm_models();
    struct stat st;
    if (!models)
        return false;
    snprintf(buf, n, "%s/%s", models, rel);
    return stat(buf, &st) == 0;
}

/* The tokenizer of $LM_MODELS/rel, or NULL (the caller skips) if the file is absent. */
static struct lm_tokenizer *load(const char *rel)
{
    char path[1024];
    struct lm_err err = { 0 };
    if (!model_path(path, sizeof(path), rel))
        return NULL;
    struct gguf *g = gguf_open(path, &err);
    if (!g)
        fail_msg("%s: %s", path, err.msg);
    struct lm_tokenizer *t = lm_tokenizer_new(g, path, &err);
    gguf_close(g);
    if (!t)
        fail_msg("%s: %s", path, err.msg);
    return t;
}

static char *slurp(const char *path, size_t *n)
{
    struct lm_buf b = LM_BUF_INIT(64u << 20);
    assert_int_equal(lm_read_file(path, b.max, &b, NULL), 0);
    assert_int_equal(lm_buf_add(&b, "", 1), 0);
    *n = b.len - 1;
    return b.data;
}

/* Where llama.cpp's detokenizer gives back exactly the text it was given: not when SentencePiece
 * turns a literal U+2581 into a space or gave text after a special token its own dummy space,
 * nor when clean_spaces rewrites " ," and friends. */
static bool llama_round_trips(const struct lm_tokenizer *t, const int32_t *ids, size_t n,
                              const char *text, size_t len, bool clean_spaces)
{
    static const char *const cleaned[] = { " ?", " !", " .", " ,", " '" };
    const uint32_t special = LM_TOKEN_ATTR_CONTROL | LM_TOKEN_ATTR_USER_DEFINED | LM_TOKEN_ATTR_UNKNOWN;
    if (lm_tokenizer_kind(t) == LM_TOK_SPM) {
        if (memmem(text, len, "\xE2\x96\x81", 3))
            return false;
        for (size_t i = 0; i + 1 < n; i++)
            if ((lm_token_attr(t, ids[i]) & special) && !(lm_token_attr(t, ids[i + 1]) & special))
                return false;
    }
    for (size_t i = 0; clean_spaces && i < 5; i++)
        if (memmem(text, len, cleaned[i], 2))
            return false;
    return true;
}

static void check_detok(const struct lm_tokenizer *t, const int32_t *ids, size_t n,
                        const char *text, size_t len, bool clean_spaces, int *round_trips)
{
    struct lm_buf out = LM_BUF_INIT(1u << 24);
    struct lm_err err = { 0 };
    if (!llama_round_trips(t, ids, n, text, len, clean_spaces))
        return;
    assert_int_equal(lm_detokenize(t, ids, n, false, true, &out, &err), 0);
    if (out.len != len || (len && memcmp(out.data, text, len) != 0))
        fail_msg("detokenized '%.*s', want '%.*s'", (int)out.len, out.data ? out.data : "",
                 (int)len, text);
    (*round_trips)++;
    lm_buf_release(&out);
}

static void format_ids(char *buf, size_t n, const int32_t *ids, size_t k)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < k && o + 16 < n; i++)
        o += (size_t)snprintf(buf + o, n - o, " %d", ids[i]);
}

/* llama.cpp's test-tokenizer-0: every .inp case gives the .out ids (no BOS, no special parsing). */
static void vocab_suite(const char *name, bool clean_spaces, int want_cases)
{
    char rel[256], path[1024];
    snprintf(rel, sizeof(rel), "vocab/%s", name);
    struct lm_tokenizer *t = load(rel);
    if (!t)
        skip();
    size_t ni, no;
    snprintf(path, sizeof(path), "%s/%s.inp", lm_models(), rel);
    char *inp = slurp(path, &ni);
    snprintf(path, sizeof(path), "%s/%s.out", lm_models(), rel);
    char *out = slurp(path, &no);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *p = inp, *o = out;
    int cases = 0, round_trips = 0;
    while (p < inp + ni) {
        char *e = strstr(p, sep), *ol = strchr(o, '\n');
        assert_non_null(e);
        assert_non_null(ol);
        *ol = 0;
        int32_t *ids;
        size_t n;
        struct lm_err err = { 0 };
        assert_int_equal(lm_tokenize(t, p, (size_t)(e - p), false, false, &ids, &n, &err), 0);
        char got[16384];
        format_ids(got, sizeof(got), ids, n);
        if (strcmp(got, o) != 0)
            fail_msg("%s case %d '%.*s':\n want%s\n  got%s", name, cases, (int)(e - p), p, o, got);
        check_detok(t, ids, n, p, (size_t)(e - p), clean_spaces, &round_trips);
        free(ids);
        cases++;
        p = e + strlen(sep);
        o = ol + 1;
    }
    assert_int_equal(cases, want_cases);
    print_message("%s: %d cases equal, %d detokenized back to the input\n", name, cases, round_trips);
    assert_true(round_trips >= cases * 3 / 4);
    free(inp);
    free(out);
    lm_tokenizer_free(t);
}

static void test_vocab_llama_spm(void **state) { (void)state; vocab_suite("ggml-vocab-llama-spm.gguf", false, 46); }
static void test_vocab_gpt2(void **state) { (void)state; vocab_suite("ggml-vocab-gpt-2.gguf", true, 46); }
static void test_vocab_falcon(void **state) { (void)state; vocab_suite("ggml-vocab-falcon.gguf", true, 46); }
static void test_vocab_deepseek_coder(void **state) { (void)state; vocab_suite("ggml-vocab-deepseek-coder.gguf", false, 46); }
static void test_vocab_qwen25(void **state) { (void)state; vocab_suite("ggml-vocab-qwen2.5.gguf", false, 46); }

/* WordPiece (BERT) is not one of ours: refused with one line, not mis-tokenized. */
static void test_vocab_bert_refused(void **state)
{
    (void)state;
    char path[1024];
    struct lm_err err = { 0 };
    if (!model_path(path, sizeof(path), "vocab/ggml-vocab-bert-bge.gguf"))
        skip();
    struct gguf *g = gguf_open(path, &err);
    assert_non_null(g);
    assert_null(lm_tokenizer_new(g, path, &err));
    assert_int_equal(err.code, LM_EUNSUPPORTED);
    assert_string_equal(err.msg, "tokenizer.ggml.model 'bert' is not supported (lm reads llama and gpt2)");
    assert_int_equal(err.off, gguf_kv_find(g, "tokenizer.ggml.model")->file_off);
    gguf_close(g);
}

static void expect_ids(const struct lm_tokenizer *t, json_t *want_ids, json_t *want_pieces,
                       const int32_t *ids, size_t n, const char *what, const char *text)
{
    char got[8192];
    format_ids(got, sizeof(got), ids, n);
    if (json_array_size(want_ids) != n)
        fail_msg("'%s' (%s): %zu ids, want %zu:%s", text, what, n, json_array_size(want_ids), got);
    for (size_t i = 0; i < n; i++) {
        if (json_integer_value(json_array_get(want_ids, i)) != ids[i])
            fail_msg("'%s' (%s): id %zu is %d, want %lld:%s", text, what, i, ids[i],
                     (long long)json_integer_value(json_array_get(want_ids, i)), got);
        size_t len;
        const char *piece = lm_token_text(t, ids[i], &len);
        const char *want = json_string_value(json_array_get(want_pieces, i));
        assert_non_null(want);
        if (strlen(want) != len || memcmp(piece, want, len) != 0)
            fail_msg("'%s' (%s): piece %zu is '%.*s', want '%s'", text, what, i, (int)len, piece, want);
    }
}

/* ref/tokenize/ JSONL files: llama-tokenize with and without --no-parse-special, BOS as the vocab says. */
static void jsonl_suite(const char *model_rel, const char *jsonl_rel, int want_lines)
{
    char path[1024];
    struct lm_tokenizer *t = load(model_rel);
    if (!t || !model_path(path, sizeof(path), jsonl_rel))
        skip();
    size_t len;
    char *all = slurp(path, &len);
    int lines = 0, round_trips = 0;
    int32_t bos = lm_tokenizer_special(t, LM_TOK_BOS);
    for (char *line = all, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        json_error_t jerr;
        json_t *o = json_loads(line, 0, &jerr);
        assert_non_null(o);
        const char *text = json_string_value(json_object_get(o, "text"));
        size_t tl = json_string_length(json_object_get(o, "text"));
        for (int ps = 0; ps < 2; ps++) {
            int32_t *ids;
            size_t n;
            struct lm_err err = { 0 };
            assert_int_equal(lm_tokenize(t, text, tl, true, ps == 0, &ids, &n, &err), 0);
            expect_ids(t, json_object_get(o, ps == 0 ? "ids_parse_special" : "ids_no_parse_special"),
                       json_object_get(o, ps == 0 ? "pieces_parse_special" : "pieces_no_parse_special"),
                       ids, n, ps == 0 ? "parse special" : "no parse special", text);
            /* Without the BOS the vocabulary adds, the ids spell the text again. */
            size_t skip_bos = lm_tokenizer_add_bos(t) && n && ids[0] == bos ? 1 : 0;
            check_detok(t, ids + skip_bos, n - skip_bos, text, tl, false, &round_trips);
            free(ids);
        }
        json_decref(o);
        lines++;
    }
    assert_int_equal(lines, want_lines);
    print_message("%s: %d texts equal both ways, %d detokenizations gave the text back\n", model_rel,
                  lines, round_trips);
    assert_true(round_trips >= lines);
    free(all);
    lm_tokenizer_free(t);
}

static void test_jsonl_stories(void **state)
{
    (void)state;
    jsonl_suite("stories260K/ref/gguf/stories260K-F32.gguf", "stories260K/ref/tokenize/tok512.jsonl", 34);
}

/* tiny-llama-256 and tiny-qwen2-256 carry the same tok512 vocabulary. */
static void test_jsonl_tiny_models(void **state)
{
    (void)state;
    jsonl_suite("tiny-llama-256/ref/gguf/tiny-llama-256-Q8_0.gguf", "stories260K/ref/tokenize/tok512.jsonl", 34);
    jsonl_suite("tiny-qwen2-256/ref/gguf/tiny-qwen2-256-Q8_0.gguf", "stories260K/ref/tokenize/tok512.jsonl", 34);
}

/* tiny-qwen2-bpe's GGUFs are not stored; vocab/ggml-vocab-qwen2.5.gguf has the same arrays. */
static void test_jsonl_qwen25(void **state)
{
    (void)state;
    jsonl_suite("vocab/ggml-vocab-qwen2.5.gguf", "tiny-qwen2-bpe/ref/tokenize/qwen2.5.jsonl", 50);
}

static int32_t info_id(json_t *info, const char *key)
{
    json_t *v = json_object_get(json_object_get(info, "special_ids"), key);
    assert_non_null(v);
    return (int32_t)json_integer_value(json_array_get(v, 0));
}

/* What llama.cpp derives at load: special ids, the end-of-generation set, the re-typed "</s>". */
static void test_vocab_info_qwen25(void **state)
{
    (void)state;
    char path[1024];
    struct lm_tokenizer *t = load("vocab/ggml-vocab-qwen2.5.gguf");
    if (!t || !model_path(path, sizeof(path), "tiny-qwen2-bpe/ref/vocab-info.json"))
        skip();
    json_error_t jerr;
    json_t *info = json_load_file(path, 0, &jerr);
    assert_non_null(info);
    assert_int_equal(lm_tokenizer_n_vocab(t), json_integer_value(json_object_get(info, "n_vocab")));
    static const struct { const char *key; enum lm_tok_special which; } ids[] = {
        { "BOS", LM_TOK_BOS }, { "EOS", LM_TOK_EOS }, { "EOT", LM_TOK_EOT }, { "PAD", LM_TOK_PAD },
        { "LF", LM_TOK_NL }, { "FIM PRE", LM_TOK_FIM_PRE }, { "FIM SUF", LM_TOK_FIM_SUF },
        { "FIM MID", LM_TOK_FIM_MID }, { "FIM PAD", LM_TOK_FIM_PAD }, { "FIM REP", LM_TOK_FIM_REP },
        { "FIM SEP", LM_TOK_FIM_SEP },
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        assert_int_equal(lm_tokenizer_special(t, ids[i].which), info_id(info, ids[i].key));
    assert_int_equal(lm_tokenizer_special(t, LM_TOK_UNK), -1);
    json_t *eog = json_object_get(info, "eog_tokens");
    const int32_t *got;
    size_t n = lm_tokenizer_eog(t, &got);
    assert_int_equal(n, json_array_size(eog));
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(got[i], json_integer_value(json_array_get(json_array_get(eog, i), 0)));
        assert_true(lm_tokenizer_is_eog(t, got[i]));
    }
    assert_false(lm_tokenizer_is_eog(t, 151644));
    assert_false(lm_tokenizer_is_eog(t, -1));
    assert_false(lm_tokenizer_is_eog(t, 1 << 30));
    /* The special-token cache: CONTROL, USER_DEFINED and UNKNOWN tokens. */
    uint32_t cache = 0;
    for (int32_t id = 0; id < (int32_t)lm_tokenizer_n_vocab(t); id++)
        if (lm_token_attr(t, id) & (LM_TOKEN_ATTR_CONTROL | LM_TOKEN_ATTR_USER_DEFINED | LM_TOKEN_ATTR_UNKNOWN))
            cache++;
    assert_int_equal(cache, json_integer_value(json_object_get(info, "special_tokens_cache_size")));
    json_t *over = json_array_get(json_object_get(info, "control_overridden"), 0);
    int32_t retyped = (int32_t)json_integer_value(json_array_get(over, 0));
    assert_int_equal(lm_token_attr(t, retyped), LM_TOKEN_ATTR_NORMAL | LM_TOKEN_ATTR_CONTROL);
    assert_int_equal(lm_token_find(t, "</s>", 4), retyped);
    assert_false(lm_tokenizer_add_bos(t));
    assert_string_equal(lm_tokenizer_pre(t), "qwen2");
    json_decref(info);
    lm_tokenizer_free(t);
}

/* SentencePiece defaults and the stories vocabulary as the converter wrote it. */
static void test_stories_specials(void **state)
{
    (void)state;
    struct lm_tokenizer *t = load("stories260K/ref/gguf/stories260K-F32.gguf");
    if (!t)
        skip();
    assert_int_equal(lm_tokenizer_kind(t), LM_TOK_SPM);
    assert_int_equal(lm_tokenizer_n_vocab(t), 512);
    assert_int_equal(lm_tokenizer_special(t, LM_TOK_BOS), 1);
    assert_int_equal(lm_tokenizer_special(t, LM_TOK_EOS), 2);
    assert_int_equal(lm_tokenizer_special(t, LM_TOK_UNK), 0);
    assert_int_equal(lm_tokenizer_special(t, LM_TOK_NL), 13);   /* <0x0A> */
    assert_true(lm_tokenizer_add_bos(t));
    assert_false(lm_tokenizer_add_eos(t));
    assert_true(lm_tokenizer_add_space_prefix(t));
    assert_true(lm_tokenizer_is_eog(t, 2));
    assert_false(lm_tokenizer_is_eog(t, 1));
    size_t len;
    assert_string_equal(lm_token_piece(t, 1, true, &len), "<s>");
    assert_string_equal(lm_token_piece(t, 1, false, &len), "");
    assert_int_equal(len, 0);
    assert_string_equal(lm_token_piece(t, 13, false, &len), "\n");   /* byte token */
    assert_null(lm_token_piece(t, 512, true, &len));
    assert_null(lm_token_text(t, -1, &len));
    assert_float_equal(lm_token_score(t, 1), -1000.0f, 0.0f);
    lm_tokenizer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_llama_spm),
        cmocka_unit_test(test_vocab_gpt2),
        cmocka_unit_test(test_vocab_falcon),
        cmocka_unit_test(test_vocab_deepseek_coder),
        cmocka_unit_test(test_vocab_qwen25),
        cmocka_unit_test(test_vocab_bert_refused),
        cmocka_unit_test(test_jsonl_stories),
        cmocka_unit_test(test_jsonl_tiny_models),
        cmocka_unit_test(test_jsonl_qwen25),
        cmocka_unit_test(test_vocab_info_qwen25),
        cmocka_unit_test(test_stories_specials),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

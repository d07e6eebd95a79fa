/* test_chat_prompt.c: which template makes a model's prompt (GGUF chat template, Jinja text, Go
 * template, fallback), and stop strings while streaming, as Ollama's runner cuts text. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../format/format.h"
#include "../runtime/runtime.h"
#include "support/testutil.h"

static const struct lm_chat_msg hello[] = { { "user", "Hello" } };

static char *render(const struct lm_prompter *p, bool add_ass)
{
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    struct lm_err err;
    if (lm_prompter_render(p, hello, 1, add_ass, &out, &err))
        fail_msg("%s", err.msg);
    return out.data;
}

static void test_from_gguf(void **state)
{
    (void)state;
    const char *models = lm_models();
    if (!models) {
        fprintf(stderr, "LM_MODELS not found: skipping the GGUF chat templates\n");
        skip();
    }
    char path[1024];
    struct lm_err err;
    struct lm_prompter p;
    snprintf(path, sizeof(path), "%s/vocab/ggml-vocab-qwen2.5.gguf", models);
    struct gguf *g = gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(lm_prompter_from_gguf(&p, g, path, &err), 0);
    gguf_close(g);
    assert_string_equal(lm_prompter_name(&p), "chatml");
    assert_false(p.fallback);
    assert_false(p.no_template);
    char *s = render(&p, true);
    assert_string_equal(s, "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
    free(s);
    lm_prompter_release(&p);

    snprintf(path, sizeof(path), "%s/stories260K/ref/gguf/stories260K-F32.gguf", models);
    g = gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(lm_prompter_from_gguf(&p, g, path, &err), 0);
    gguf_close(g);
    assert_true(p.no_template);
    assert_true(p.fallback);
    assert_int_equal(p.family, LM_CHAT_FALLBACK);
    lm_prompter_release(&p);
}

/* A GGUF whose tokenizer.chat_template is a number is refused, naming the key's offset. */
static void test_template_not_a_string(void **state)
{
    (void)state;
    char *dir = make_tmpdir();
    char path[1024];
    snprintf(path, sizeof(path), "%s/t.gguf", dir);
    struct lm_err err;
    struct gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(gguf_writer_add_str(w, "general.architecture", "llama", 5, &err), 0);
    assert_int_equal(gguf_writer_add_u32(w, "tokenizer.chat_template", 7, &err), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(gguf_writer_begin(w, fd, path, &err), 0);
    assert_int_equal(gguf_writer_finish(w, &err), 0);
    close(fd);
    gguf_writer_free(w);
    struct gguf *g = gguf_open(path, &err);
    assert_non_null(g);
    struct lm_prompter p;
    assert_int_equal(lm_prompter_from_gguf(&p, g, path, &err), -1);
    assert_string_equal(err.msg, "tokenizer.chat_template is a UINT32, not a string");
    /* header 24 bytes, then the first kv: 8 + 20 bytes of key, 4 of type, 8 + 5 of value */
    assert_int_equal(err.off, 24 + 8 + 20 + 4 + 8 + 5);
    assert_string_equal(err.path, path);
    gguf_close(g);
    rm_rf(dir);
    free(dir);
}

static void test_from_text(void **state)
{
    (void)state;
    struct lm_prompter p;
    lm_prompter_from_jinja(&p, "{% for m in messages %}<start_of_turn>{% endfor %}", 50);
    assert_string_equal(lm_prompter_name(&p), "gemma");
    assert_false(p.fallback);
    lm_prompter_release(&p);
    lm_prompter_from_jinja(&p, "{{ messages }}", 14);
    assert_true(p.fallback);
    assert_false(p.no_template);
    assert_string_equal(lm_prompter_name(&p), "chatml");
    lm_prompter_release(&p);

    struct lm_err err;
    static const char go[] = "{{ range .Messages }}[{{ .Role }}] {{ .Content }}{{ end }}>";
    assert_int_equal(lm_prompter_from_gotmpl(&p, go, sizeof(go) - 1, "TEMPLATE", &err), 0);
    assert_string_equal(lm_prompter_name(&p), "gotmpl");
    char *s = render(&p, false);   /* a Go template ends as it ends */
    assert_string_equal(s, "[user] Hello>");
    free(s);
    lm_prompter_release(&p);
    assert_int_equal(lm_prompter_from_gotmpl(&p, "{{ if }}", 8, "TEMPLATE", &err), -1);
    assert_string_equal(err.msg, "line 1: missing value for if");
    assert_null(p.gotmpl);
}

/* Push pieces through the stop strings; returns what was shown, '|' between pushes that showed
 * something, and a final '#' when generation stopped. */
static void stream(const char *const *stops, size_t n_stops, const char *const *pieces, size_t n,
                   const char *want)
{
    struct lm_stops st;
    struct lm_err err;
    struct lm_buf out = LM_BUF_INIT(1 << 16);
    assert_int_equal(lm_stops_init(&st, stops, n_stops, &err), 0);
    for (size_t i = 0; i < n; i++) {
        size_t before = out.len;
        assert_int_equal(lm_stops_push(&st, pieces[i], strlen(pieces[i]), &out, &err), 0);
        if (out.len > before)
            lm_buf_add(&out, "|", 1);
    }
    assert_int_equal(lm_stops_flush(&st, &out, &err), 0);
    if (st.stopped)
        lm_buf_add(&out, "#", 1);
    lm_buf_add(&out, "", 0);
    assert_string_equal(out.data, want);
    lm_buf_release(&out);
    lm_stops_release(&st);
}

static void test_stops(void **state)
{
    (void)state;
    static const char *const chatml[] = { "<|im_end|>", "User:" };
    /* a possible start is held until it is known; the stop string and all after it go */
    static const char *const a[] = { "Hello", " <|im", "_end|>", "more" };
    stream(chatml, 2, a, 4, "Hello| |#");
    static const char *const b[] = { "Us", "e", "d", " it" };
    stream(chatml, 2, b, 4, "Used| it|");
    /* held text comes out at the end */
    static const char *const c[] = { "x", "<|im_e" };
    stream(chatml, 2, c, 2, "x|<|im_e");
    /* the first stop string of the list that the text holds wins, wherever it is */
    static const char *const ab[] = { "b", "ab" };
    static const char *const d[] = { "x", "a", "b" };
    stream(ab, 2, d, 3, "x|a|#");
    static const char *const e[] = { "hello User: x <|im_end|> y" };
    stream(chatml, 2, e, 1, "hello User: x |#");
    /* "" would stop everything: it is ignored */
    static const char *const empty[] = { "" };
    static const char *const f[] = { "a", "b" };
    stream(empty, 1, f, 2, "a|b|");
    stream(NULL, 0, f, 2, "a|b|");
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_gguf),
        cmocka_unit_test(test_template_not_a_string),
        cmocka_unit_test(test_from_text),
        cmocka_unit_test(test_stops),
    };
    return cmocka_run_group_tests_name("chat prompts", tests, NULL, NULL);
}

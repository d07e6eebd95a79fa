/* test_chat.c: template detection and the built-in formatters against llama.cpp's renderings of
 * every template in chat-templates/, plus conversations from JSON and the formatters' edges. */
#include <dirent.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../runtime/runtime.h"
#include "support/chatfix.h"
#include "support/testutil.h"

static char dir[1024];
static json_t *conversations;   /* conversations.json */

static json_t *load_json(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fprintf(stderr, "%s: %s\n", path, je.text);
    return j;
}

/* Print where two renderings part, so a failure says what differs. */
static void show_diff(const char *what, const char *want, const char *got, size_t got_len)
{
    size_t k = 0;
    while (want[k] && k < got_len && want[k] == got[k])
        k++;
    char a[200], b[200];
    lm_quote(want + k, strnlen(want + k, 60), a, sizeof(a));
    lm_quote(got + k, got_len - k < 60 ? got_len - k : 60, b, sizeof(b));
    fprintf(stderr, "%s: differs at byte %zu: want '%s' got '%s'\n", what, k, a, b);
}

/* One template file: detection equals detected_name and every rendering equals `builtin`. */
static void test_template_file(void **state)
{
    const char *file = *state;
    char path[2048];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    json_t *doc = load_json(path);
    assert_non_null(doc);
    const char *tmpl = json_string_value(json_object_get(doc, "template"));
    json_t *want_name = json_object_get(doc, "detected_name");
    assert_non_null(tmpl);
    enum lm_chat_family f = lm_chat_detect(tmpl, strlen(tmpl));
    if (json_is_null(want_name)) {
        assert_int_equal(f, LM_CHAT_UNKNOWN);
    } else {
        assert_string_equal(lm_chat_family_name(f), json_string_value(want_name));
    }
    /* what a model with this template uses: the family, or the fallback (with a warning) */
    struct lm_prompter pr;
    lm_prompter_from_jinja(&pr, tmpl, strlen(tmpl));
    assert_int_equal(pr.fallback, json_is_null(want_name));
    assert_int_equal(pr.family, json_is_null(want_name) ? LM_CHAT_FALLBACK : f);
    lm_prompter_release(&pr);
    size_t i, checked = 0;
    json_t *r;
    json_array_foreach(json_object_get(doc, "renderings"), i, r) {
        const char *cid = json_string_value(json_object_get(r, "conversation_id"));
        bool add_ass = json_is_true(json_object_get(r, "add_generation_prompt"));
        json_t *builtin = json_object_get(r, "builtin");
        if (json_is_null(builtin)) {
            assert_int_equal(f, LM_CHAT_UNKNOWN);   /* llama.cpp refused it too */
            continue;
        }
        struct lm_chat c;
        lm_chat_init(&c);
        assert_true(chatfix_conv(conversations, cid, &c));
        struct lm_buf out = LM_BUF_INIT(LM_CHAT_MAX_BYTES);
        struct lm_err err;
        assert_int_equal(lm_chat_render(f, c.msgs, c.n, add_ass, &out, &err), 0);
        const char *want = json_string_value(builtin);
        char what[256];
        snprintf(what, sizeof(what), "%s %s add_ass=%d", file, cid, add_ass);
        if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0) {
            show_diff(what, want, out.data ? out.data : "", out.len);
            fail_msg("%s: rendering differs from llama.cpp's builtin", what);
        }
        lm_buf_release(&out);
        lm_chat_release(&c);
        checked++;
    }
    if (f != LM_CHAT_UNKNOWN)
        assert_int_equal(checked, 8);   /* c1..c4, with and without the generation prompt */
    json_decref(doc);
}

/* ---- edges of the formatters and the conversation reader --------------------------------- */

static void render_str(enum lm_chat_family f, const struct lm_chat_msg *m, size_t n, bool add_ass,
                       const char *want)
{
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    struct lm_err err;
    assert_int_equal(lm_chat_render(f, m, n, add_ass, &out, &err), 0);
    if (strcmp(out.data ? out.data : "", want) != 0) {
        show_diff(lm_chat_family_name(f), want, out.data ? out.data : "", out.len);
        fail_msg("%s", lm_chat_family_name(f));
    }
    lm_buf_release(&out);
}

static const struct lm_chat_msg conv[] = {
    { "system", " S " }, { "user", " U1 " }, { "assistant", " A1 " }, { "tool", "T" },
    { "user", "U2" },
};
#define NCONV (sizeof(conv) / sizeof(conv[0]))

/* Formatters no reference template reaches, checked against llama.cpp's code by hand. */
static void test_other_formatters(void **state)
{
    (void)state;
    static const struct { const char *name, *want; } rows[] = {
        { "zephyr", "<|system|>\n S <|endoftext|>\n<|user|>\n U1 <|endoftext|>\n<|assistant|>\n"
                    " A1 <|endoftext|>\n<|tool|>\nT<|endoftext|>\n<|user|>\nU2<|endoftext|>\n"
                    "<|assistant|>\n" },
        { "falcon3", "<|system|>\n S \n<|user|>\n U1 \n<|assistant|>\n A1 \n<|tool|>\nT\n"
                     "<|user|>\nU2\n<|assistant|>\n" },
        { "llama2", "[INST]  S \n U1  [/INST] A1 </s>[INST] T</s>[INST] U2 [/INST]" },
        { "llama2-sys", "[INST] <<SYS>>\n S \n<</SYS>>\n\n U1  [/INST] A1 </s>[INST] T</s>"
                        "[INST] U2 [/INST]" },
        { "llama2-sys-bos", "[INST] <<SYS>>\n S \n<</SYS>>\n\n U1  [/INST] A1 </s><s>[INST] T</s>"
                            "<s>[INST] U2 [/INST]" },
        { "mistral-v7-tekken", "[SYSTEM_PROMPT] S [/SYSTEM_PROMPT][INST] U1 [/INST] A1 </s>T</s>"
                               "[INST]U2[/INST]" },
        { "monarch", "system\n S </s>\n<s>user\n U1 </s>\n<s>assistant\n A1 </s>\n<s>tool\nT</s>\n"
                     "<s>user\nU2</s>\n<s>assistant\n" },
        { "orion", "Human:  S \n\n U1 \n\nAssistant: </s> A1 </s>T</s>Human: U2\n\nAssistant: </s>" },
        { "openchat", " S <|end_of_turn|>GPT4 Correct User:  U1 <|end_of_turn|>GPT4 Correct "
                      "Assistant:  A1 <|end_of_turn|>GPT4 Correct Tool: T<|end_of_turn|>GPT4 "
                      "Correct User: U2<|end_of_turn|>GPT4 Correct Assistant:" },
        { "deepseek", " S ### Instruction:\n U1 \n### Response:\n A1 \n<|EOT|>\n### Instruction:\n"
                      "U2\n### Response:\n" },
        { "chatglm3", "[gMASK]sop<|system|>\n  S <|user|>\n  U1 <|assistant|>\n  A1 <|tool|>\n T"
                      "<|user|>\n U2<|assistant|>" },
        { "minicpm", "S<\xe7\x94\xa8\xe6\x88\xb7>U1<AI>A1T<\xe7\x94\xa8\xe6\x88\xb7>U2<AI>" },
        { "exaone3", "[|system|]S[|endofturn|]\n[|user|]U1\n[|assistant|]A1[|endofturn|]\n"
                     "[|user|]U2\n[|assistant|]" },
        { "exaone4", "[|system|]S[|endofturn|]\n[|user|]U1\n[|assistant|]A1[|endofturn|]\n"
                     "[|tool|]T[|endofturn|]\n[|user|]U2\n[|assistant|]" },
        { "rwkv-world", "System: S\n\nUser: U1\n\nAssistant: A1\n\nUser: U2\n\nAssistant:" },
        { "granite-4.0", "<|start_of_role|>system<|end_of_role|> S <|end_of_text|>\n"
                         "<|start_of_role|>user<|end_of_role|> U1 <|end_of_text|>\n"
                         "<|start_of_role|>assistant<|end_of_role|> A1 <|end_of_text|>\n"
                         "<|start_of_role|>tool<|end_of_role|>T<|end_of_text|>\n"
                         "<|start_of_role|>user<|end_of_role|>U2<|end_of_text|>\n"
                         "<|start_of_role|>assistant<|end_of_role|>" },
        { "gigachat", "<s> S <|message_sep|>user<|role_sep|> U1 <|message_sep|>available functions"
                      "<|role_sep|>[]<|message_sep|>assistant<|role_sep|> A1 <|message_sep|>"
                      "user<|role_sep|>U2<|message_sep|>available functions<|role_sep|>[]"
                      "<|message_sep|>assistant<|role_sep|>" },
        { "bailing", "<role>SYSTEM</role> S <role>HUMAN</role> U1 <role>ASSISTANT</role> A1 "
                     "<role>TOOL</role>T<role>HUMAN</role>U2<role>ASSISTANT</role>" },
        { "bailing-think", "<role>SYSTEM</role> S <role>HUMAN</role> U1 <role>ASSISTANT</role> A1 "
                           "<role>TOOL</role>T<role>HUMAN</role>U2<role>ASSISTANT</role><think>" },
        { "bailing2", "<role>SYSTEM</role> S <|role_end|><role>HUMAN</role> U1 <|role_end|>"
                      "<role>ASSISTANT</role> A1 <|role_end|><role>TOOL</role>T<|role_end|>"
                      "<role>HUMAN</role>U2<|role_end|><role>ASSISTANT</role>" },
        { "llama4", "<|header_start|>system<|header_end|>\n\nS<|eot|><|header_start|>user"
                    "<|header_end|>\n\nU1<|eot|><|header_start|>assistant<|header_end|>\n\nA1<|eot|>"
                    "<|header_start|>tool<|header_end|>\n\nT<|eot|><|header_start|>user"
                    "<|header_end|>\n\nU2<|eot|><|header_start|>assistant<|header_end|>\n\n" },
        { "smolvlm", "<|im_start|> S \n\nUser:  U1 <end_of_utterance>\nAssistant:  A1 "
                     "<end_of_utterance>\nAssistant: T<end_of_utterance>\nUser: U2"
                     "<end_of_utterance>\nAssistant:" },
        { "gpt-oss", "<|start|>system<|message|> S <|end|><|start|>user<|message|> U1 <|end|>"
                     "<|start|>assistant<|message|> A1 <|return|><|start|>tool<|message|>T<|end|>"
                     "<|start|>user<|message|>U2<|end|><|start|>assistant" },
        { "kimi-k2", "<|im_system|>system<|im_middle|> S <|im_end|><|im_user|>user<|im_middle|> U1 "
                     "<|im_end|><|im_assistant|>assistant<|im_middle|> A1 <|im_end|><|im_system|>"
                     "tool<|im_middle|>T<|im_end|><|im_user|>user<|im_middle|>U2<|im_end|>"
                     "<|im_assistant|>assistant<|im_middle|>" },
        { "seed_oss", "<seed:bos>system\n S <seed:eos><seed:bos>user\n U1 <seed:eos><seed:bos>"
                      "assistant\nA1<seed:eos><seed:bos>tool\nT<seed:eos><seed:bos>user\nU2"
                      "<seed:eos><seed:bos>assistant\n" },
        { "grok-2", "System: S<|separator|>\n\nHuman: U1<|separator|>\n\nAssistant:  A1 "
                    "<|separator|>\n\nHuman: U2<|separator|>\n\nAssistant:" },
        { "solar-open", "<|begin|>system<|content|> S <|end|><|begin|>user<|content|> U1 <|end|>"
                        "<|begin|>assistant<|content|> A1 <|end|><|begin|>tool<|content|>T<|end|>"
                        "<|begin|>user<|content|>U2<|end|><|begin|>assistant" },
        { "talkie", "<|system|> S <|end|><|user|> U1 <|end|><|assistant|> A1 <|end|><|tool|>T"
                    "<|end|><|user|>U2<|end|><|assistant|>" },
        { "hunyuan-moe", "<|startoftext|> S <|extra_4|><|startoftext|> U1 <|extra_0|> A1 <|eos|>"
                         "<|startoftext|>T<|extra_0|><|startoftext|>U2<|extra_0|>" },
        { "deepseek-ocr", " S  U1  A1 TU2" },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        enum lm_chat_family f = lm_chat_family_by_name(rows[i].name, strlen(rows[i].name));
        assert_int_not_equal(f, LM_CHAT_UNKNOWN);
        render_str(f, conv, NCONV, true, rows[i].want);
    }
}

/* Gemma: every system text, trimmed and concatenated, opens the next user turn. */
static void test_gemma_system(void **state)
{
    (void)state;
    static const struct lm_chat_msg m[] = {
        { "system", " a " }, { "system", "b" }, { "assistant", "x" }, { "user", "u" },
        { "model", "y" },
    };
    render_str(LM_CHAT_GEMMA, m, 5, false,
               "<start_of_turn>model\nx<end_of_turn>\n<start_of_turn>user\nab\n\nu<end_of_turn>\n"
               "<start_of_turn>model\ny<end_of_turn>\n");
}

static void test_names(void **state)
{
    (void)state;
    for (int f = 1; f < LM_CHAT_FAMILY_COUNT; f++) {
        const char *name = lm_chat_family_name((enum lm_chat_family)f);
        enum lm_chat_family back = lm_chat_family_by_name(name, strlen(name));
        /* dots1 has no name entry in llama.cpp: only its markers select it */
        assert_int_equal(back, f == LM_CHAT_DOTS1 ? LM_CHAT_UNKNOWN : f);
        if (back != LM_CHAT_UNKNOWN)
            assert_int_equal(lm_chat_detect(name, strlen(name)), f);
    }
    assert_string_equal(lm_chat_family_name(LM_CHAT_FAMILY_COUNT), "unknown");
    assert_int_equal(lm_chat_detect("", 0), LM_CHAT_UNKNOWN);
    assert_int_equal(lm_chat_detect("chatml2", 7), LM_CHAT_UNKNOWN);
    /* "mistral" at the very start picks the [INST] rules; elsewhere it means nothing */
    assert_int_equal(lm_chat_detect("mistral", 7), LM_CHAT_LLAMA2);
    assert_int_equal(lm_chat_detect(" mistral", 8), LM_CHAT_UNKNOWN);
    /* after a NUL byte nothing counts, as in llama.cpp's C string */
    assert_int_equal(lm_chat_detect("x\0<|im_start|>", 14), LM_CHAT_UNKNOWN);
    assert_int_equal(lm_chat_detect("<|im_start|>\0<|im_sep|>", 23), LM_CHAT_CHATML);
    assert_int_equal(lm_chat_detect("chatml\0", 7), LM_CHAT_CHATML);
    /* order matters: <|im_start|> wins over everything after it */
    assert_int_equal(lm_chat_detect("<|im_start|>[INST]", 18), LM_CHAT_CHATML);
    assert_int_equal(lm_chat_detect("<|assistant|><|user|></s>", 25), LM_CHAT_FALCON3);
    assert_int_equal(lm_chat_detect("<|assistant|><|user|>", 21), LM_CHAT_GLMEDGE);
}

static void test_render_errors(void **state)
{
    (void)state;
    struct lm_buf out = LM_BUF_INIT(16);
    struct lm_err err;
    assert_int_equal(lm_chat_render(LM_CHAT_UNKNOWN, conv, NCONV, true, &out, &err), -1);
    assert_int_equal(err.code, LM_EUSAGE);
    assert_int_equal(lm_chat_render(LM_CHAT_CHATML, conv, NCONV, true, &out, &err), -1);
    assert_string_equal(err.msg, "rendered prompt is longer than 16 bytes (or out of memory)");
    assert_int_equal(out.len, 0);   /* nothing half-written is left */
    assert_int_equal(lm_chat_render(LM_CHAT_CHATML, conv, 0, false, &out, &err), 0);
    assert_int_equal(out.len, 0);
    lm_buf_release(&out);
}

static void test_from_json(void **state)
{
    (void)state;
    static const struct { const char *json, *msg; uint64_t off; } bad[] = {
        { "{\"messages\": [", "invalid JSON: ']' expected near end of file", 14 },
        { "{\"messages\": 3}", "expected {\"messages\": [...]} or an array of messages",
          LM_NO_OFFSET },
        { "[{\"role\": \"user\"}]", "message 1: needs \"role\" and \"content\" strings",
          LM_NO_OFFSET },
        { "[{\"role\": \"user\", \"content\": \"a\"}, 7]",
          "message 2: needs \"role\" and \"content\" strings", LM_NO_OFFSET },
        { "[{\"role\": \"user\", \"content\": \"a\\u0000b\"}]",
          "invalid JSON: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"'", 39 },
        { "{\"messages\": [], \"messages\": []}",
          "invalid JSON: duplicate object key near '\"messages\"'", 27 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lm_chat c;
        struct lm_err err;
        lm_chat_init(&c);
        assert_int_equal(lm_chat_from_json(&c, bad[i].json, strlen(bad[i].json), "c.json", &err),
                         -1);
        assert_string_equal(err.msg, bad[i].msg);
        assert_string_equal(err.path, "c.json");
        assert_int_equal(err.off, bad[i].off);
        lm_chat_release(&c);
    }
    struct lm_chat c;
    struct lm_err err;
    lm_chat_init(&c);
    const char *ok = "[{\"role\": \"user\", \"content\": \"hi\", \"images\": []},"
                     " {\"role\": \"x\", \"content\": \"\"}]";
    assert_int_equal(lm_chat_from_json(&c, ok, strlen(ok), "c.json", &err), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.msgs[1].role, "x");
    assert_int_equal(c.bytes, 7);
    lm_chat_truncate(&c, 1);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.bytes, 6);
    assert_int_equal(lm_chat_add(&c, "user", "a\0b", 3, &err), -1);
    assert_string_equal(err.msg, "message 2 holds a NUL byte");
    lm_chat_release(&c);
}

static void test_no_models(void **state)
{
    (void)state;
    fprintf(stderr, "LM_MODELS not found: skipping the chat-templates references\n");
    skip();
}

int main(void)
{
    const char *models = lm_models();
    static const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_other_formatters),
        cmocka_unit_test(test_gemma_system),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_render_errors),
        cmocka_unit_test(test_from_json),
    };
    int rc = cmocka_run_group_tests_name("chat formatters", unit, NULL, NULL);
    if (!models) {
        static const struct CMUnitTest none[] = { cmocka_unit_test(test_no_models) };
        return rc | cmocka_run_group_tests_name("chat templates", none, NULL, NULL);
    }
    snprintf(dir, sizeof(dir), "%s/chat-templates", models);
    conversations = chatfix_load("conversations.json");
    if (!conversations)
        return 1;
    /* One test per template file, found by listing the folder, so a new file is covered. */
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    struct CMUnitTest *tests = calloc((size_t)(n > 0 ? n : 1), sizeof(*tests));
    size_t nt = 0;
    for (int i = 0; i < n; i++) {
        const char *f = names[i]->d_name;
        size_t len = strlen(f);
        if (len > 5 && strcmp(f + len - 5, ".json") == 0 && strcmp(f, "index.json") != 0 &&
            strcmp(f, "conversations.json") != 0)
            tests[nt++] = (struct CMUnitTest){ f, test_template_file, NULL, NULL, (void *)f };
    }
    if (nt < 35)
        fprintf(stderr, "only %zu template files in %s\n", nt, dir);
    rc |= _cmocka_run_group_tests("chat templates", tests, nt, NULL, NULL);
    rc |= nt < 35;
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(tests);
    json_decref(conversations);
    return rc;
}

/* test_modelfile.c: the Modelfile parser (Ollama's lexical rules, typed parameters, the one-line
 * "Modelfile:LINE: what" errors), writing a Modelfile back, and Ollama's params blob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../runtime/runtime.h"

static const char full[] =
    "# a comment line\n"
    "FROM llama3.2\n"
    "PARAMETER temperature 0.7\n"
    "PARAMETER stop \"<|im_end|>\"\n"
    "PARAMETER stop <|im_start|>\n"
    "parameter num_ctx 4096\n"
    "SYSTEM \"\"\"You are Mario.\n"
    "Answer as \"Mario\".\"\"\"\n"
    "TEMPLATE \"\"\"{{ if .System }}<|im_start|>system\n"
    "{{ .System }}<|im_end|>\n"
    "{{ end }}{{ if .Prompt }}<|im_start|>user\n"
    "{{ .Prompt }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
    "\"\"\"\n"
    "MESSAGE user Is Toronto in Canada?\n"
    "MESSAGE assistant yes\n"
    "LICENSE \"\"\"MIT\"\"\"\n"
    "license Apache-2.0\n";

static void parse_ok(const char *text, size_t len, struct lm_modelfile *mf)
{
    struct lm_err err;
    if (lm_modelfile_parse(text, len, "Modelfile", mf, &err))
        fail_msg("%s: %s", err.path, err.msg);
}

static void test_full(void **state)
{
    (void)state;
    struct lm_modelfile mf;
    parse_ok(full, sizeof(full) - 1, &mf);
    assert_string_equal(mf.from, "llama3.2");
    assert_int_equal(mf.from_line, 2);
    assert_string_equal(mf.system, "You are Mario.\nAnswer as \"Mario\".");
    assert_string_equal(mf.tmpl, "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n"
                                 "{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}"
                                 "<|im_end|>\n{{ end }}<|im_start|>assistant\n");
    assert_int_equal(mf.n_params, 3);
    const struct lm_mf_param *t = lm_modelfile_param(&mf, "temperature");
    assert_non_null(t);
    assert_int_equal(t->type, LM_PARAM_FLOAT);
    assert_true(t->f == 0.7);   /* the float32 read back as Ollama's server holds it */
    const struct lm_mf_param *stop = lm_modelfile_param(&mf, "stop");
    assert_int_equal(stop->n_strs, 2);
    assert_string_equal(stop->strs[0], "<|im_end|>");
    assert_string_equal(stop->strs[1], "<|im_start|>");
    assert_int_equal(lm_modelfile_param(&mf, "num_ctx")->i, 4096);
    assert_int_equal(lm_modelfile_param(&mf, "num_ctx")->line, 6);
    assert_null(lm_modelfile_param(&mf, "top_k"));
    assert_int_equal(mf.n_msgs, 2);
    assert_string_equal(mf.msgs[0].role, "user");
    assert_string_equal(mf.msgs[0].content, "Is Toronto in Canada?");
    assert_string_equal(mf.msgs[1].content, "yes");
    assert_int_equal(mf.n_licenses, 2);
    assert_string_equal(mf.licenses[0], "MIT");
    assert_string_equal(mf.licenses[1], "Apache-2.0");
    assert_int_equal(mf.n_warnings, 0);

    /* the sampler gets what the file sets and keeps the rest */
    struct lm_sampler_params sp = { 0.8f, 40, 0.9f, 0.05f, 1.0f, 64, 7 };
    lm_modelfile_sampler(&mf, &sp);
    assert_true(sp.temperature == 0.7f);
    assert_int_equal(sp.top_k, 40);
    assert_int_equal(sp.seed, 7);

    /* Ollama's messages layer, and read back as a chat */
    struct lm_buf mj = LM_BUF_INIT(1 << 20);
    struct lm_err merr;
    assert_int_equal(lm_modelfile_messages_json(&mf, &mj, &merr), 0);
    assert_string_equal(mj.data, "[{\"role\":\"user\",\"content\":\"Is Toronto in Canada?\"},"
                                 "{\"role\":\"assistant\",\"content\":\"yes\"}]\n");
    struct lm_chat chat;
    lm_chat_init(&chat);
    assert_int_equal(lm_chat_from_json(&chat, mj.data, mj.len, "messages", &merr), 0);
    assert_int_equal(chat.n, 2);
    assert_string_equal(chat.msgs[1].content, "yes");
    lm_chat_release(&chat);
    lm_buf_release(&mj);

    /* written back and read again, it is the same model */
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    struct lm_err err;
    assert_int_equal(lm_modelfile_format(&mf, &out, &err), 0);
    assert_string_equal(out.data,
        "FROM llama3.2\n"
        "TEMPLATE \"{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
        "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
        "<|im_start|>assistant\n\"\n"
        "SYSTEM \"\"\"You are Mario.\nAnswer as \"Mario\".\"\"\"\n"
        "PARAMETER temperature 0.7\n"
        "PARAMETER stop <|im_end|>\n"
        "PARAMETER stop <|im_start|>\n"
        "PARAMETER num_ctx 4096\n"
        "LICENSE MIT\n"
        "LICENSE Apache-2.0\n"
        "MESSAGE user Is Toronto in Canada?\n"
        "MESSAGE assistant yes\n");
    struct lm_modelfile again;
    parse_ok(out.data, out.len, &again);
    struct lm_buf out2 = LM_BUF_INIT(1 << 20);
    assert_int_equal(lm_modelfile_format(&again, &out2, &err), 0);
    assert_string_equal(out.data, out2.data);
    lm_buf_release(&out);
    lm_buf_release(&out2);
    lm_modelfile_release(&again);
    lm_modelfile_release(&mf);
}

/* Ollama's lexical rules, one case each. */
static void test_lexical(void **state)
{
    (void)state;
    struct lm_modelfile mf;
    /* a comment only at the start of a line; indentation and tabs are fine */
    static const char indent[] = "  FROM\tx # not a comment\n   # comment\n";
    parse_ok(indent, sizeof(indent) - 1, &mf);
    assert_string_equal(mf.from, "x # not a comment");
    lm_modelfile_release(&mf);
    /* a "-quoted value runs on until a line ends with the quote */
    static const char runon[] = "FROM x\nSYSTEM \"Hi\" there\nPARAMETER x \"y\"\n";
    parse_ok(runon, sizeof(runon) - 1, &mf);
    assert_string_equal(mf.system, "Hi\" there\nPARAMETER x \"y");
    assert_int_equal(mf.n_params, 0);
    lm_modelfile_release(&mf);
    /* newlines inside """ stay, other control characters go; CRLF, BOM */
    static const char nl[] = "\xEF\xBB\xBF" "FROM x\r\nSYSTEM \"\"\"\r\nA\x01" "B\t\n\"\"\"\r\n";
    parse_ok(nl, sizeof(nl) - 1, &mf);
    assert_string_equal(mf.system, "\r\nAB\t\n");
    lm_modelfile_release(&mf);
    /* empty values keep what the base has */
    static const char empty[] = "FROM x\nSYSTEM \"\"\nTEMPLATE \"\"\"\"\"\"\nSYSTEM\t\n";
    parse_ok(empty, sizeof(empty) - 1, &mf);
    assert_null(mf.system);
    assert_null(mf.tmpl);
    lm_modelfile_release(&mf);
    /* UTF-16 with a BOM */
    static const char u16[] = "\xFF\xFE" "F\0R\0O\0M\0 \0\xe9\0x\0\n\0";
    parse_ok(u16, sizeof(u16) - 1, &mf);
    assert_string_equal(mf.from, "\xc3\xa9x");
    lm_modelfile_release(&mf);
    /* repeated keys replace, stop appends; old parameters warn; ignored directives warn */
    static const char rep[] = "FROM x\nPARAMETER top_k 1\nPARAMETER mirostat 2\nPARAMETER top_k 2\n"
                              "RENDERER qwen3\nDRAFT ./d.gguf\nREQUIRES v0.14.0\n"
                              "PARAMETER use_mmap T\nPARAMETER seed -1\n";
    parse_ok(rep, sizeof(rep) - 1, &mf);
    assert_int_equal(mf.n_params, 3);
    assert_int_equal(mf.params[0].i, 2);
    assert_int_equal(mf.params[0].line, 2);
    assert_int_equal(lm_modelfile_param(&mf, "use_mmap")->i, 1);
    assert_int_equal(lm_modelfile_param(&mf, "seed")->i, -1);
    assert_string_equal(mf.requires, "0.14.0");
    assert_int_equal(mf.n_warnings, 3);
    assert_string_equal(mf.warnings[0], "Modelfile:3: parameter mirostat is deprecated and ignored");
    assert_string_equal(mf.warnings[1], "Modelfile:5: RENDERER is ignored: lm has no built-in "
                                        "renderers or parsers");
    assert_string_equal(mf.warnings[2], "Modelfile:6: DRAFT is ignored: lm has no speculative "
                                        "decoding");
    struct lm_sampler_params sp = { 0.8f, 40, 0.9f, 0.05f, 1.0f, 64, 7 };
    lm_modelfile_sampler(&mf, &sp);
    assert_int_equal(sp.top_k, 2);
    assert_int_equal(sp.seed, 7);   /* -1 asks for a random seed: the caller's stays */
    lm_modelfile_release(&mf);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct { const char *text, *path, *msg; } rows[] = {
        { "FROM x\nFOO bar\n", "Modelfile:2",
          "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", "
          "\"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"" },
        { "FROM x\nPARAMETER temperature hot\n", "Modelfile:2", "invalid float value [hot]" },
        { "FROM x\nPARAMETER temperature 1e39\n", "Modelfile:2", "invalid float value [1e39]" },
        { "FROM x\nPARAMETER temperature NaN\n", "Modelfile:2", "invalid float value [NaN]" },
        { "FROM x\nPARAMETER top_k 1.5\n", "Modelfile:2", "invalid int value [1.5]" },
        { "FROM x\nPARAMETER seed 9223372036854775808\n", "Modelfile:2",
          "invalid int value [9223372036854775808]" },
        { "FROM x\nPARAMETER use_mmap maybe\n", "Modelfile:2", "invalid bool value [maybe]" },
        { "FROM x\n\nPARAMETER foo 1\n", "Modelfile:3", "unknown parameter 'foo'" },
        { "FROM x\nPARAMETER te-mp 1\n", "Modelfile:2",
          "a parameter name is letters, digits and '_', then a space and a value" },
        { "FROM x\nPARAMETER temperature", "Modelfile:2", "PARAMETER needs a name and a value" },
        { "FROM x\nMESSAGE bot hi\n", "Modelfile:2",
          "message role must be one of \"system\", \"user\", or \"assistant\"" },
        { "FROM x\nMESSAGE user", "Modelfile:2", "MESSAGE needs a role and a text" },
        { "FROM x\nADAPTER ./lora.gguf\n", "Modelfile:2",
          "ADAPTER is not supported: lm does not apply LoRA adapters (merge the adapter into "
          "the weights and use FROM)" },
        { "SYSTEM hi\n\n", "Modelfile:2", "no FROM line" },
        { "", "Modelfile:1", "no FROM line" },
        { "FROM x\nSYSTEM \"\"\"abc\n\ndef\n", "Modelfile:2",
          "unexpected end of file in a \"\"\" value" },
        { "FROM x\nSYSTEM \"abc\n", "Modelfile:2", "unexpected end of file in a \" value" },
        { "FROM x\n# c\nFROM y\n", "Modelfile:3",
          "a second FROM (the first is on line 1): lm builds a model from one FROM" },
        { "FROM\n", "Modelfile:1", "FROM needs a value" },
        { "FROM", "Modelfile:1", "FROM needs a value" },
        { "FROM \"\"\n", "Modelfile:1", "FROM needs a model name or path" },
        { "FROM x\nTEMPLATE \"\"\"{{ .Prompt }}\n{{ if }}\"\"\"\n", "Modelfile:3",
          "TEMPLATE: missing value for if" },
        { "FROM x\nTEMPLATE {{ .Prompt }\n", "Modelfile:2",
          "TEMPLATE: unexpected '}' in command" },
        { "FROM x\nREQUIRES banana\n", "Modelfile:2",
          "requires must be a valid semver (e.g. 0.14.0)" },
        { "FROM x\r\n\r\nFOO\n", "Modelfile:3",
          "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", "
          "\"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"" },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct lm_modelfile mf;
        struct lm_err err;
        assert_int_equal(lm_modelfile_parse(rows[i].text, strlen(rows[i].text), "Modelfile", &mf,
                                            &err), -1);
        if (strcmp(err.path, rows[i].path) || strcmp(err.msg, rows[i].msg))
            fail_msg("%s: got %s: %s", rows[i].text, err.path, err.msg);
        assert_int_equal(err.off, LM_NO_OFFSET);
        assert_null(mf.from);   /* nothing is left half-made */
    }
    /* the one-line report */
    struct lm_modelfile mf;
    struct lm_err err;
    static const char ctl[] = "FROM x\nPARAMETER \x01 1";
    assert_int_equal(lm_modelfile_parse(ctl, sizeof(ctl) - 1, "dir/Modelfile", &mf, &err), -1);
    char line[1024];
    assert_string_equal(lm_err_str(&err, line, sizeof(line)), "dir/Modelfile:2: a parameter name "
                        "is letters, digits and '_', then a space and a value");
    char *big = calloc(LM_MODELFILE_MAX + 1, 1);
    assert_int_equal(lm_modelfile_parse(big, LM_MODELFILE_MAX + 1, "M", &mf, &err), -1);
    assert_string_equal(err.msg, "file is larger than 16777216 bytes");
    free(big);
}

/* Ollama's params blob: keys sorted, numbers as Go writes float64s, HTML-safe strings. */
static void test_params_json(void **state)
{
    (void)state;
    static const char text[] = "FROM x\nPARAMETER temperature 0.7\nPARAMETER top_k 40\n"
        "PARAMETER stop <|im_end|>\nPARAMETER stop \"a&b\"\nPARAMETER num_ctx 4096\n"
        "PARAMETER use_mmap false\nPARAMETER seed -1\nPARAMETER top_p 0.9\n"
        "PARAMETER min_p 1e-7\nPARAMETER repeat_penalty 1.1\nPARAMETER num_predict 12345678901234567\n"
        "PARAMETER typical_p 1e30\n";
    struct lm_modelfile mf;
    parse_ok(text, sizeof(text) - 1, &mf);
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    struct lm_err err;
    assert_int_equal(lm_modelfile_params_json(&mf, &out, &err), 0);
    static const char want[] =
        "{\"min_p\":1e-7,\"num_ctx\":4096,\"num_predict\":12345678901234568,"
        "\"repeat_penalty\":1.1,\"seed\":-1,\"stop\":[\"\\u003c|im_end|\\u003e\",\"a\\u0026b\"],"
        "\"temperature\":0.7,\"top_k\":40,\"top_p\":0.9,\"typical_p\":1e+30,"
        "\"use_mmap\":false}\n";
    assert_string_equal(out.data, want);
    /* a blob as Ollama's registry serves one (qwen-style stop words) */
    static const char qwen[] = "FROM x\nPARAMETER temperature 0.6\nPARAMETER repeat_penalty 1\n"
                               "PARAMETER stop <|im_start|>\nPARAMETER stop <|im_end|>\n";
    struct lm_modelfile q;
    parse_ok(qwen, sizeof(qwen) - 1, &q);
    struct lm_buf qb = LM_BUF_INIT(1 << 20);
    assert_int_equal(lm_modelfile_params_json(&q, &qb, &err), 0);
    assert_string_equal(qb.data, "{\"repeat_penalty\":1,\"stop\":[\"\\u003c|im_start|\\u003e\","
                                 "\"\\u003c|im_end|\\u003e\"],\"temperature\":0.6}\n");
    lm_buf_release(&qb);
    lm_modelfile_release(&q);
    /* and back: the same parameters */
    struct lm_modelfile back = { 0 };
    assert_int_equal(lm_modelfile_params_from_json(&back, out.data, out.len, "params", &err), 0);
    struct lm_buf out2 = LM_BUF_INIT(1 << 20);
    assert_int_equal(lm_modelfile_params_json(&back, &out2, &err), 0);
    assert_string_equal(out2.data, want);
    assert_int_equal(lm_modelfile_params_from_json(&back, "[1]", 3, "params", &err), -1);
    assert_string_equal(err.msg, "params: expected a JSON object");
    assert_int_equal(lm_modelfile_params_from_json(&back, "{\"top_k\":{}}", 12, "params", &err),
                     -1);
    assert_string_equal(err.msg, "params: value of 'top_k' is not a number, string or bool");
    /* /set parameter in a chat goes through the same checks */
    assert_int_equal(lm_modelfile_set_param(&back, "temperature", "0", NULL, &err), 0);
    assert_true(lm_modelfile_param(&back, "temperature")->f == 0);
    assert_int_equal(lm_modelfile_set_param(&back, "temprature", "0", NULL, &err), -1);
    assert_string_equal(err.path, "parameter");
    assert_string_equal(err.msg, "unknown parameter 'temprature'");
    lm_buf_release(&out);
    lm_buf_release(&out2);
    lm_modelfile_release(&back);
    lm_modelfile_release(&mf);
}

static void test_format_quoting(void **state)
{
    (void)state;
    struct lm_modelfile mf = { 0 };
    mf.from = "m";
    mf.system = " lead";
    char *lic[] = { "\"starts with a quote", "has \"\"\" inside" };
    mf.licenses = lic;
    mf.n_licenses = 1;
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    struct lm_err err;
    assert_int_equal(lm_modelfile_format(&mf, &out, &err), 0);
    assert_string_equal(out.data, "FROM m\nSYSTEM \" lead\"\nLICENSE \"\"\"\"starts with a quote\"\"\"\n");
    struct lm_modelfile back;
    parse_ok(out.data, out.len, &back);
    assert_string_equal(back.system, " lead");
    assert_string_equal(back.licenses[0], "\"starts with a quote");
    lm_modelfile_release(&back);
    mf.n_licenses = 2;
    out.len = 0;
    assert_int_equal(lm_modelfile_format(&mf, &out, &err), -1);
    assert_string_equal(err.msg, "LICENSE holds \"\"\" and cannot be written as a Modelfile value");
    lm_buf_release(&out);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_lexical),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_params_json),
        cmocka_unit_test(test_format_quoting),
    };
    return cmocka_run_group_tests_name("modelfile", tests, NULL, NULL);
}

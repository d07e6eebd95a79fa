/* test_gotmpl.c: the Go-template subset against Ollama's own renderings (chat-templates/ollama),
 * then the language piece by piece, Ollama's legacy .Prompt/.Response mode, errors and limits. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "../runtime/runtime.h"
#include "support/chatfix.h"
#include "support/testutil.h"

/* Conversations for the unit cases. */
static const struct lm_chat_msg conv_a[] = {
    { "system", "S" }, { "user", "U1" }, { "assistant", "A1" }, { "user", "U2" },
};
static const struct lm_chat_msg conv_b[] = { { "user", "U" } };
static const struct lm_chat_msg conv_d[] = { { "user", "a" }, { "user", "b" }, { "assistant", "c" } };
static const struct lm_chat_msg conv_e[] = { { "system", "s1" }, { "user", "u" }, { "system", "s2" } };
static const struct lm_chat_msg conv_f[] = { { "user", "U" }, { "assistant", "A" } };
static const struct lm_chat_msg conv_g[] = {
    { "user", "u1" }, { "assistant", "a1" }, { "system", "s2" }, { "user", "u2" },
};

struct conv {
    const struct lm_chat_msg *m;
    size_t n;
};
#define CONV(x) { x, sizeof(x) / sizeof(x[0]) }
static const struct conv A = CONV(conv_a), B = CONV(conv_b), D = CONV(conv_d), E = CONV(conv_e),
                         F = CONV(conv_f), G = CONV(conv_g), EMPTY = { NULL, 0 };

static char *render(const char *tmpl, struct conv c, size_t max, struct lm_err *err)
{
    struct lm_gotmpl *t = lm_gotmpl_parse(tmpl, strlen(tmpl), "T", err);
    if (!t)
        return NULL;
    struct lm_buf out = LM_BUF_INIT(max);
    int rc = lm_gotmpl_render(t, c.m, c.n, &out, err);
    lm_gotmpl_free(t);
    if (rc) {
        assert_int_equal(out.len, 0);   /* a failed render leaves nothing behind */
        lm_buf_release(&out);
        return NULL;
    }
    if (!out.data)
        lm_buf_add(&out, "", 0);
    return out.data;
}

static void expect(const char *tmpl, struct conv c, const char *want)
{
    struct lm_err err;
    char *got = render(tmpl, c, 1 << 20, &err);
    if (!got)
        fail_msg("%s: %s", tmpl, err.msg);
    if (strcmp(got, want) != 0)
        fail_msg("%s:\n want [%s]\n got  [%s]", tmpl, want, got);
    free(got);
}

static void expect_err(const char *tmpl, struct conv c, uint64_t off, const char *msg)
{
    struct lm_err err;
    char *got = render(tmpl, c, 1 << 20, &err);
    if (got)
        fail_msg("%s: rendered [%s], want error %s", tmpl, got, msg);
    assert_string_equal(err.msg, msg);
    assert_string_equal(err.path, "T");
    assert_int_equal(err.off, off);
}

/* ---- the language ------------------------------------------------------------------------- */

static void test_messages_mode(void **state)
{
    (void)state;
    expect("{{- range .Messages }}[{{ .Role }}:{{ .Content }}]{{ end }}", A,
           "[system:S][user:U1][assistant:A1][user:U2]");
    /* consecutive same-role messages are merged; all system texts join into .System */
    expect("{{ range .Messages }}[{{ .Role }}:{{ .Content }}]{{ end }}", D,
           "[user:a\n\nb][assistant:c]");
    expect("{{ .System }}|{{ len .Messages }}", E, "s1\n\ns2|3");
    expect("{{ range $i, $m := .Messages }}{{ $i }}={{ $m.Role }} {{ end }}", A,
           "0=system 1=user 2=assistant 3=user ");
    expect("{{ range .Messages }}x{{ else }}empty{{ end }}", EMPTY, "empty");
    expect("{{ .Messages }}", EMPTY, "[]");
    expect("{{ range $i, $_ := .Messages }}{{ if eq $i 1 }}{{ continue }}{{ end }}"
           "{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}", A, "02");
    expect("{{ range .Messages }}{{ if eq .Role \"system\" }}S{{ else if eq .Role \"user\" }}U"
           "{{ else }}O{{ end }}{{ end }}", A, "SUOU");
    /* and/or give the deciding value; a key Ollama's map lacks is <no value> */
    expect("{{ or .Prompt \"dflt\" }}|{{ and .Messages \"yes\" }}|{{ or \"\" 0 }}", A,
           "dflt|yes|0");
    expect("{{ .Prompt }}{{ len .Messages }}", A, "<no value>4");
    expect("{{ with .System }}[{{ . }}]{{ else }}none{{ end }}{{ len .Messages }}", A, "[S]4");
    expect("{{ with .System }}[{{ . }}]{{ else }}none{{ end }}{{ len .Messages }}", B, "none1");
    expect("{{ range .Messages }}{{ $.System }}{{ end }}", A, "SSSS");
    expect("{{ (index .Messages 1).Content }}|{{ len (slice .Messages 1) }}|{{ slice \"hello\" 1 3 }}"
           "|{{ index \"hi\" 0 }}", A, "U1|3|el|104");
    expect("{{ json (index .Messages 0) }}{{ json \"<a&b>\" }}{{ json .Tools }}", A,
           "{\"role\":\"system\",\"content\":\"S\"}\"\\u003ca\\u0026b\\u003e\"null");
    expect("{{ range 3 }}{{ . }}{{ end }}{{ len .Messages }}", A, "0124");
}

/* Ollama's date functions give the local date; the test accepts a midnight in between. */
static void test_dates(void **state)
{
    (void)state;
    char before[16], after[16], yday[16];
    time_t t = time(NULL), y = t - 86400;
    strftime(before, sizeof(before), "%Y-%m-%d", localtime(&t));
    strftime(yday, sizeof(yday), "%Y-%m-%d", localtime(&y));
    struct lm_err err;
    char *got = render("{{ currentDate }}|{{ currentDate \"2006\" }}|{{ yesterdayDate }}", B,
                       1 << 10, &err);
    assert_non_null(got);
    t = time(NULL);
    strftime(after, sizeof(after), "%Y-%m-%d", localtime(&t));
    char want1[64], want2[64];
    snprintf(want1, sizeof(want1), "%s|%s|%s", before, before, yday);
    snprintf(want2, sizeof(want2), "%s|%s|%s", after, after, before);
    if (strcmp(got, want1) != 0 && strcmp(got, want2) != 0)
        fail_msg("got %s, want %s", got, want1);
    free(got);
    expect_err("{{ currentDate 1 }}", A, 3, "line 1: wrong type for value; expected string; got int");
    expect("{{ range .Tools }}{{ toTypeScriptType . }}{{ end }}{{ len .Messages }}", A, "4");
}

static void test_syntax(void **state)
{
    (void)state;
    /* trim markers eat spaces and newlines; a comment is nothing */
    expect("a  {{- len .Messages -}}  \n b", A, "a4b");
    expect("a{{/* c */}}b {{- /* c */ -}} c{{ .Messages | len }}", A, "abc4");
    expect("{{ `a\\n` }}{{ \"\\t\\u00e9\\x41\\101\" }}{{ len .Messages }}", A, "a\\n\t\xc3\xa9" "AA4");
    expect("{{ $x := \"a\" }}{{ if true }}{{ $x = \"b\" }}{{ $y := \"c\" }}{{ $y }}{{ end }}{{ $x }}"
           "{{ len .Messages }}", A, "cb4");
    expect("{{ if lt 1 2 }}a{{ end }}{{ if gt \"b\" \"a\" }}b{{ end }}{{ if le 2 2 }}c{{ end }}"
           "{{ if ge 1 2 }}d{{ end }}{{ if ne 1 2 }}e{{ end }}{{ if eq \"b\" \"a\" \"b\" }}f{{ end }}"
           "{{ if not 0 }}g{{ end }}{{ len .Messages }}", A, "abcefg4");
    expect("{{ printf \"%s-%d-%v-%q-%t-%%\" \"a\" 3 true \"q\\\"\" false }}{{ len .Messages }}", A,
           "a-3-true-\"q\\\"\"-false-%4");
    expect("{{ printf \"%d|%s\" \"x\" }}{{ printf \"a\" 1 }}{{ len .Messages }}", A,
           "%!d(string=x)|%!s(MISSING)a%!(EXTRA int=1)4");
    expect("{{ print 1 2 \"a\" 3 \"b\" \"c\" }}|{{ println 1 \"a\" }}|{{ print nil .Prompt }}"
           "{{ len .Messages }}", A, "1 2a3bc|1 a\n|<nil> <nil>4");
    expect("{{ -3 }} {{ 0x1F }} {{ 1_000 }}{{ len .Messages }}", A, "-3 31 10004");
}

/* Templates without .Messages: Ollama runs them once per turn with .System .Prompt .Response,
 * and the last run stops after {{ .Response }}. */
static void test_legacy_mode(void **state)
{
    (void)state;
    expect("{{ if .System }}<s>{{ .System }}</s>{{ end }}[{{ .Prompt }}]{{ .Response }}|", A,
           "<s>S</s>[U1]A1|[U2]");
    /* no .Response: one is appended */
    expect("{{ .Prompt }}:", A, "U1:A1U2:");
    expect("{{ .Prompt }}{{ if .Response }}={{ .Response }}.{{ end }}!", B, "U");
    expect("{{ .Prompt }}{{ if .Response }}={{ .Response }}.{{ end }}!", F, "U=A");
    expect("{{ .System }}/{{ .Prompt }}/{{ .Response }};", G, "/u1/a1;s2/u2/");
    /* the cut takes the rest of an action's pipeline too */
    expect("{{ .Prompt }}{{ printf \"%s|%s\" .Response \"x\" }}", B, "U|%!s(MISSING)");
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct { const char *tmpl; uint64_t off; const char *msg; } rows[] = {
        { "{{ if .X }}", 11, "line 1: unexpected EOF" },
        { "{{ foo }}", 3, "line 1: function \"foo\" not defined" },
        { "a\n{{ $x }}", 5, "line 2: undefined variable \"$x\"" },
        { "{{ end }}", 3, "line 1: unexpected {{end}}" },
        { "{{ else }}", 3, "line 1: unexpected {{else}}" },
        { "{{ template \"x\" }}", 3, "line 1: {{template}} is not supported" },
        { "{{ define \"x\" }}{{ end }}", 3, "line 1: {{define}} is not supported" },
        { "{{ break }}", 3, "line 1: {{break}} outside {{range}}" },
        { "{{ .A | 3 }}", 8, "line 1: non executable command in pipeline stage 2" },
        { "{{ \"abc }}", 3, "line 1: unterminated quoted string" },
        { "{{/* x }}", 0, "line 1: unclosed comment" },
        { "{{/* x */ }}", 0, "line 1: comment ends before closing delimiter" },
        { "{{ 1.5 }}", 3, "line 1: number '1.5' is not an integer lm can use" },
        { "{{ 99999999999999999999 }}", 3,
          "line 1: number '99999999999999999999' is not an integer lm can use" },
        { "{{ (1 }}", 6, "line 1: unclosed left paren" },
        { "{{ 1) }}", 4, "line 1: unexpected right paren" },
        { "{{ $x := 1 }}{{ $x=2 }}", 18, "line 1: bad character '='" },
        { "{{ }}", 3, "line 1: missing value for command" },
        { "{{ if }}{{ end }}", 6, "line 1: missing value for if" },
        { "{{ .A.B. }}", 7, "line 1: unexpected \".\" in operand" },
        { "{{ \"a\".B }}", 6, "line 1: unexpected . after term" },
        { "{{ $a, $b := 1 }}", 3, "line 1: too many declarations in command" },
        { "{{ range $a, 1 }}{{ end }}", 9, "line 1: range can only initialize variables" },
        { "{{ 'a' }}", 3, "line 1: character constants are not supported" },
        { "{{ \"\\q\" }}", 3, "line 1: invalid escape '\\q' in string" },
        { "{{ if 1 }}{{ else with 2 }}{{ end }}", 18, "line 1: unexpected \"with\" in else" },
        { "{{ # }}", 3, "line 1: unexpected '#' in command" },
        { "{{ .A", 5, "line 1: unclosed action" },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        expect_err(rows[i].tmpl, A, rows[i].off, rows[i].msg);
    }
    /* nesting is bounded before it can exhaust the stack */
    char deep[4096], parens[512];
    size_t o = 0;
    for (int i = 0; i < 101; i++)
        o += (size_t)snprintf(deep + o, sizeof(deep) - o, "{{ if 1 }}");
    expect_err(deep, A, 1003, "line 1: nesting is deeper than 100");
    o = (size_t)snprintf(parens, sizeof(parens), "{{ ");
    for (int i = 0; i < 101; i++)
        parens[o++] = '(';
    parens[o] = 0;
    expect_err(parens, A, 103, "line 1: nesting is deeper than 100");
}

static void test_exec_errors(void **state)
{
    (void)state;
    expect_err("{{ range .Messages }}{{ .Foo }}{{ end }}", A, 24,
               "line 1: can't evaluate field Foo in type *api.Message");
    expect_err("{{ index .Messages 9 }}", A, 3, "line 1: error calling index: index out of range: 9");
    expect_err("{{ .Messages.Foo }}", A, 3,
               "line 1: can't evaluate field Foo in type []*api.Message");
    expect_err("{{ $_ := .Messages }}{{ eq 1 \"a\" }}", A, 24,
               "line 1: error calling eq: incompatible types for comparison");
    expect_err("{{ .Messages }}", A, 3, "line 1: cannot print a value of type []*api.Message");
    expect_err("{{ $_ := .Messages }}{{ .Prompt.X }}", A, 24,
               "line 1: nil pointer evaluating interface {}.X");
    expect_err("{{ $_ := .Messages }}{{ printf \"%x\" 1 }}", A, 24,
               "line 1: printf: the %x verb is not supported");
    expect_err("{{ $_ := .Messages }}{{ not }}", A, 24, "line 1: wrong number of args for not: want 1 got 0");
    expect_err("{{ $_ := .Messages }}{{ eq nil 1 }}", A, 27, "line 1: cannot assign nil to reflect.Value");
    expect_err("{{ $_ := .Messages }}{{ 1 2 }}", A, 24, "line 1: can't give argument to non-function");
    expect_err("{{ $_ := .Messages }}{{ range \"ab\" }}{{ end }}", A, 24,
               "line 1: range can't iterate over string");
}

static void test_limits(void **state)
{
    (void)state;
    expect_err("{{ range 20000000 }}{{ end }}{{ len .Messages }}", A, 20,
               "line 1: template ran more than 10000000 steps");
    /* strings doubling in a loop stop at the strings ceiling */
    expect_err("{{ $s := \"0123456789abcdef\" }}{{ range 40 }}{{ $s = printf \"%s%s\" $s $s }}"
               "{{ end }}{{ len .Messages }}", A, 52,
               "line 1: strings made by the template are over 67108864 bytes");
    /* comparing long strings costs steps too: a loop of them stops as soon */
    static const char cmp[] = "{{ $s := \"0123456789abcdef\" }}{{ range 16 }}"
        "{{ $s = printf \"%s%s\" $s $s }}{{ end }}{{ range 100000 }}{{ if eq $s $s }}{{ end }}"
        "{{ end }}{{ len .Messages }}";
    expect_err(cmp, A, 107, "line 1: template ran more than 10000000 steps");
    struct lm_err err;
    assert_null(render("{{ range .Messages }}0123456789{{ end }}", A, 25, &err));
    assert_string_equal(err.msg, "line 1: output is longer than 25 bytes (or out of memory)");
    char *big = malloc(LM_GOTMPL_MAX_SRC + 2);
    memset(big, 'x', LM_GOTMPL_MAX_SRC + 1);
    big[LM_GOTMPL_MAX_SRC + 1] = 0;
    assert_null(lm_gotmpl_parse(big, LM_GOTMPL_MAX_SRC + 1, "T", &err));
    assert_string_equal(err.msg, "template is longer than 1048576 bytes");
    free(big);
}

/* ---- Ollama's templates and renderings --------------------------------------------------- */

static void test_ollama_templates(void **state)
{
    (void)state;
    const char *models = lm_models();
    if (!models) {
        fprintf(stderr, "LM_MODELS not found: skipping Ollama's template renderings\n");
        skip();
    }
    char path[1024];
    json_t *conversations = chatfix_load("conversations.json");
    json_t *doc = chatfix_load("ollama/compare.json");
    assert_non_null(conversations);
    assert_non_null(doc);
    size_t i, n_tmpl = 0, n_render = 0;
    json_t *t;
    json_array_foreach(json_object_get(doc, "templates"), i, t) {
        const char *name = json_string_value(json_object_get(t, "ollama_template"));
        const char *src = json_string_value(json_object_get(t, "gotmpl"));
        /* the .gotmpl file is the same text */
        snprintf(path, sizeof(path), "%s/chat-templates/ollama/%s.gotmpl", models, name);
        struct lm_buf file = LM_BUF_INIT(1 << 20);
        struct lm_err err;
        assert_int_equal(lm_read_file(path, 1 << 20, &file, &err), 0);
        assert_string_equal(file.data, src);
        lm_buf_release(&file);
        struct lm_gotmpl *g = lm_gotmpl_parse(src, strlen(src), name, &err);
        if (!g)
            fail_msg("%s: %s", name, err.msg);
        size_t k;
        json_t *r;
        json_array_foreach(json_object_get(t, "renderings"), k, r) {
            const char *id = json_string_value(json_object_get(r, "conversation_id"));
            struct lm_chat c;
            lm_chat_init(&c);
            assert_true(chatfix_conv(conversations, id, &c));
            struct lm_buf out = LM_BUF_INIT(1 << 20);
            if (lm_gotmpl_render(g, c.msgs, c.n, &out, &err))
                fail_msg("%s %s: %s", name, id, err.msg);
            const char *want = json_string_value(json_object_get(r, "ollama"));
            if (strcmp(out.data ? out.data : "", want) != 0)
                fail_msg("%s %s:\n want [%s]\n got  [%s]", name, id, want, out.data);
            lm_buf_release(&out);
            lm_chat_release(&c);
            n_render++;
        }
        lm_gotmpl_free(g);
        n_tmpl++;
    }
    assert_int_equal(n_tmpl, 9);
    assert_int_equal(n_render, 63);   /* c1..c4 and ollama:* for each */
    json_decref(doc);
    json_decref(conversations);
}

int main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_mode),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_legacy_mode),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_exec_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_ollama_templates),
    };
    return cmocka_run_group_tests_name("gotmpl", tests, NULL, NULL);
}

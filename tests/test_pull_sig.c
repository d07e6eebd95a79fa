/* test_pull_sig.c: lm pull and model.sig: a repo signed with lm sign verifies before anything
 * is stored and lm audit shows the signer; --require-signature (and LM_REQUIRE_SIGNATURE=1)
 * refuses an unsigned repo, a signature with no trust given and a tampered file, storing
 * nothing; without trust the signature is recorded as present, not verified. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "support/pullfix.h"
#include "../common/common.h"
#include "../store/store.h"
#include "../common/banned.h"

#define SUB "stories260K"

/* What a pull of the safetensors fixture takes; model.sig is written next to them. */
static const char *const files[] = {
    "LICENSE", "README.md", "config.json", "generation_config.json", "model.safetensors",
    "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json",
};
#define N_FILES (sizeof(files) / sizeof(files[0]))

struct sigfix {
    char model[700], key[700], pub[700], hint[65];
};

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* lm ARGS... with its output captured. */
static void lm_out(struct run_result *r, ...)
{
    char *argv[32];
    int n = 0;
    va_list ap;
    va_start(ap, r);
    argv[n++] = (char *)lm_bin();
    for (const char *a = va_arg(ap, const char *); a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    argv[n] = NULL;
    va_end(ap);
    assert_int_equal(run_capture(argv, r), 0);
}

static void copy_file(const char *sub, const char *name, const char *dir)
{
    char from[1024], to[1024];
    size_t n;
    snprintf(from, sizeof(from), "%s/%s/%s", lm_models(), sub, name);
    snprintf(to, sizeof(to), "%s/%s", dir, name);
    uint8_t *p = pullfix_slurp(from, &n);
    assert_non_null(p);
    write_file(to, p, n);
    free(p);
}

/* An EC P-256 key pair (libcrypto, no openssl CLI), a copy of the fixture's files (every file
 * of $LM_MODELS/sub with sub not SUB) and, when sign, model.sig made by lm sign; hint gets the
 * bundle's publicKey.hint. */
static void make_model_of(struct pullfix *f, struct sigfix *s, const char *sub, bool sign)
{
    snprintf(s->model, sizeof(s->model), "%s/model", f->dir);
    snprintf(s->key, sizeof(s->key), "%s/key.pem", f->dir);
    snprintf(s->pub, sizeof(s->pub), "%s/pub.pem", f->dir);
    assert_int_equal(mkdir(s->model, 0755), 0);
    if (strcmp(sub, SUB) == 0) {
        for (size_t i = 0; i < N_FILES; i++)
            copy_file(sub, files[i], s->model);
    } else {
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/%s", lm_models(), sub);
        DIR *d = opendir(dir);
        assert_non_null(d);
        for (struct dirent *e = readdir(d); e; e = readdir(d))
            if (e->d_name[0] != '.')
                copy_file(sub, e->d_name, s->model);
        closedir(d);
    }
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    FILE *fp = fopen(s->key, "wb");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(fp);
    assert_non_null(fp = fopen(s->pub, "wb"));
    assert_int_equal(PEM_write_PUBKEY(fp, k), 1);
    fclose(fp);
    EVP_PKEY_free(k);
    s->hint[0] = 0;
    if (!sign)
        return;
    assert_int_equal(pullfix_lm("sign", s->model, "--key", s->key, NULL), 0);
    char sig[800];
    snprintf(sig, sizeof(sig), "%s/model.sig", s->model);
    json_t *b = json_load_file(sig, 0, NULL);
    json_t *h = json_object_get(json_object_get(json_object_get(b, "verificationMaterial"),
                                                "publicKey"), "hint");
    assert_true(json_is_string(h));
    snprintf(s->hint, sizeof(s->hint), "%s", json_string_value(h));
    json_decref(b);
}

static void make_model(struct pullfix *f, struct sigfix *s, bool sign)
{
    make_model_of(f, s, SUB, sign);
}

static int serve(struct pullfix *f, const struct sigfix *s, const char *repo)
{
    int r = mock_hf_repo(f->m, repo, MOCK_PUBLIC);
    assert_int_equal(mock_hf_add_dir(f->m, r, 0, s->model, false), 0);
    return r;
}

/* The line of lm audit NAME's text that starts with prefix. */
static void audit_line(const char *name, const char *prefix, const char *want, int want_exit)
{
    struct run_result r;
    lm_out(&r, "audit", name, NULL);
    if (r.status != want_exit)
        fail_msg("lm audit %s: exit %d: %s%s", name, r.status, r.out, r.err);
    const char *p = strstr(r.out, prefix);
    if (!p)
        fail_msg("lm audit %s: no '%s' in\n%s", name, prefix, r.out);
    size_t n = strcspn(p, "\n");
    char got[600];
    snprintf(got, sizeof(got), "%.*s", (int)n, p);
    assert_string_equal(got, want);
    run_result_free(&r);
}

/* The Hub serves the signed file name with its last byte (tensor data) flipped, under a listing
 * that matches the new bytes: only the signature can tell. a, b: sha256 before and after. */
static void tamper(struct pullfix *f, const struct sigfix *s, int repo, const char *name,
                   char a[65], char b[65])
{
    char path[800];
    size_t n;
    snprintf(path, sizeof(path), "%s/%s", s->model, name);
    uint8_t *p = pullfix_slurp(path, &n);
    assert_non_null(p);
    pullfix_sha256(p, n, a);
    p[n - 1] ^= 0x01;
    pullfix_sha256(p, n, b);
    assert_int_equal(mock_hf_add(f->m, repo, 0, name, p, n, true), 0);
    free(p);
    assert_string_equal(mock_hf_file_sha256(f->m, repo, 0, name), b);
}

/* Nothing of a refused pull is left: no blob, no temporary file, no model. */
static void assert_nothing_stored(struct pullfix *f, const char *name)
{
    struct lm_err err;
    struct lm_model *m = NULL;
    assert_int_equal(pullfix_blobs(f), 0);
    assert_int_equal(pullfix_temps(f), 0);
    struct lm_store *st = lm_store_open(f->home, &err);
    assert_non_null(st);
    assert_int_equal(lm_model_get(st, name, &m, &err), -1);
    assert_int_equal(err.code, LM_ENOTFOUND);
    lm_store_close(st);
}

static void test_signed(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct sigfix s;
    struct run_result r;
    char want[600];
    make_model(f, &s, true);
    int repo = serve(f, &s, "lm-test/signed");
    pullfix_pull(&r, "--require-signature", "--key", s.pub, "hf.co/lm-test/signed", NULL);
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.err);
    assert_string_equal(r.err, "");
    snprintf(want, sizeof(want),
             "pulled hf.co/lm-test/signed:latest at commit %s: 9 files, ", mock_hf_sha(f->m, repo, 0));
    assert_memory_equal(r.out, want, strlen(want));
    snprintf(want, sizeof(want), "signature verified: key %s\n", s.hint);
    const char *nl = strchr(r.out, '\n');
    assert_non_null(nl);
    assert_string_equal(nl + 1, want);
    run_result_free(&r);
    snprintf(want, sizeof(want), "  signature   verified, key %s", s.hint);
    audit_line("hf.co/lm-test/signed", "  signature", want, 0);
    assert_int_equal(pullfix_temps(f), 0);

    /* The provenance keeps the whole result. */
    struct lm_err err;
    struct lm_model *m = NULL;
    struct lm_store *st = lm_store_open(f->home, &err);
    assert_int_equal(lm_model_get(st, "hf.co/lm-test/signed", &m, &err), 0);
    json_t *x = json_loads(m->prov[m->n_prov - 1].extra_json, 0, NULL);
    json_t *sg = json_object_get(x, "signature");
    assert_true(json_is_true(json_object_get(sg, "verified")));
    assert_string_equal(json_string_value(json_object_get(sg, "method")), "key");
    assert_string_equal(json_string_value(json_object_get(sg, "signer")), s.hint);
    assert_true(json_integer_value(json_object_get(sg, "checked_at")) > 1700000000);
    assert_int_equal(strlen(json_string_value(json_object_get(sg, "root"))), 64);
    json_decref(x);
    lm_model_free(m);
    lm_store_close(st);
}

static void test_unsigned_refused(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct sigfix s;
    struct run_result r;
    char want[600];
    make_model(f, &s, false);
    int repo = serve(f, &s, "lm-test/unsigned");
    snprintf(want, sizeof(want),
             "lm: hf.co/lm-test/unsigned: commit %.12s has no model.sig and a signature is "
             "required\n", mock_hf_sha(f->m, repo, 0));
    pullfix_pull(&r, "--require-signature", "--key", s.pub, "hf.co/lm-test/unsigned", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, want);
    run_result_free(&r);
    assert_nothing_stored(f, "hf.co/lm-test/unsigned");

    /* The same from the environment. */
    setenv("LM_REQUIRE_SIGNATURE", "1", 1);
    pullfix_pull(&r, "hf.co/lm-test/unsigned", NULL);
    unsetenv("LM_REQUIRE_SIGNATURE");
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, want);
    run_result_free(&r);
    assert_nothing_stored(f, "hf.co/lm-test/unsigned");

    /* Not required: pulled, and audit says unsigned. */
    pullfix_pull(&r, "hf.co/lm-test/unsigned", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "");
    run_result_free(&r);
    audit_line("hf.co/lm-test/unsigned", "  signature", "  signature   unsigned", 0);
}

static void test_no_trust(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct sigfix s;
    struct run_result r;
    make_model(f, &s, true);
    serve(f, &s, "lm-test/signed");
    pullfix_pull(&r, "--require-signature", "hf.co/lm-test/signed", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "lm: hf.co/lm-test/signed: a signature is required but no trust "
                               "is given (--key, --cert-chain or --trust-root)\n");
    run_result_free(&r);
    assert_nothing_stored(f, "hf.co/lm-test/signed");

    pullfix_pull(&r, "hf.co/lm-test/signed", NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "lm: warning: hf.co/lm-test/signed:latest: model.sig present, "
                               "not verified (no --key, --cert-chain or --trust-root given)\n");
    run_result_free(&r);
    audit_line("hf.co/lm-test/signed", "  signature", "  signature   present, not verified", 0);
}

/* Other bytes of model.safetensors: every download check passes, the signature does not. */
static void test_tampered(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct sigfix s;
    struct run_result r;
    char a[65], b[65], want[800];
    make_model(f, &s, true);
    int repo = serve(f, &s, "lm-test/tampered");
    tamper(f, &s, repo, "model.safetensors", a, b);
    snprintf(want, sizeof(want),
             "lm: hf.co/lm-test/tampered/model.safetensors: 'model.safetensors' does not match "
             "the signature: signed sha256 %s, got %s\n", a, b);
    pullfix_pull(&r, "--require-signature", "--key", s.pub, "hf.co/lm-test/tampered", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    assert_string_equal(r.err, want);
    run_result_free(&r);
    assert_nothing_stored(f, "hf.co/lm-test/tampered");

    /* Not required: stored, the failure recorded, and lm audit fails. */
    pullfix_pull(&r, "--key", s.pub, "hf.co/lm-test/tampered", NULL);
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof(want),
             "lm: warning: signature not verified, recorded as such: hf.co/lm-test/tampered/"
             "model.safetensors: 'model.safetensors' does not match the signature: signed "
             "sha256 %s, got %s\n", a, b);
    assert_string_equal(r.err, want);
    run_result_free(&r);
    audit_line("hf.co/lm-test/tampered", "  signature", "  signature   failed", 1);
}

/* A wrong key: the signature itself is refused, naming model.sig. */
static void test_wrong_key(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct sigfix s;
    struct run_result r;
    char other[800];
    make_model(f, &s, true);
    serve(f, &s, "lm-test/signed");
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    snprintf(other, sizeof(other), "%s/other.pem", f->dir);
    FILE *fp = fopen(other, "wb");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PUBKEY(fp, k), 1);
    fclose(fp);
    EVP_PKEY_free(k);
    /* A key's hint is the sha256 of its public PEM. */
    char other_hint[65], want[1400];
    size_t n;
    uint8_t *pem = pullfix_slurp(other, &n);
    assert_non_null(pem);
    pullfix_sha256(pem, n, other_hint);
    free(pem);
    snprintf(want, sizeof(want),
             "lm: hf.co/lm-test/signed/model.sig: signed with another key: hint %s, %s has %s\n",
             s.hint, other, other_hint);
    pullfix_pull(&r, "--require-signature", "--key", other, "hf.co/lm-test/signed", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, want);
    run_result_free(&r);
    assert_nothing_stored(f, "hf.co/lm-test/signed");
}

/* A GGUF repository signed as a whole: a pull takes one quantization, checks it (and the
 * others it did not choose are not asked for); a changed chosen file is still refused. */
static void test_gguf_subset(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct sigfix s;
    struct run_result r;
    char want[800], a[65], b[65];
    make_model_of(f, &s, "stories260K/ref/gguf", true);
    int repo = serve(f, &s, "lm-test/signed-GGUF");
    pullfix_pull(&r, "--require-signature", "--key", s.pub, "hf.co/lm-test/signed-GGUF", NULL);
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.err);
    snprintf(want, sizeof(want),
             "pulled hf.co/lm-test/signed-GGUF:latest at commit %s: 2 files, ",
             mock_hf_sha(f->m, repo, 0));
    assert_memory_equal(r.out, want, strlen(want));
    run_result_free(&r);
    snprintf(want, sizeof(want), "  signature   verified, key %s", s.hint);
    audit_line("hf.co/lm-test/signed-GGUF", "  signature", want, 0);

    tamper(f, &s, repo, "stories260K-Q6_K.gguf", a, b);
    size_t blobs = pullfix_blobs(f);
    pullfix_pull(&r, "--require-signature", "--key", s.pub, "hf.co/lm-test/signed-GGUF:Q6_K",
                 NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want),
             "lm: hf.co/lm-test/signed-GGUF/stories260K-Q6_K.gguf: 'stories260K-Q6_K.gguf' does "
             "not match the signature: signed sha256 %s, got %s\n", a, b);
    assert_string_equal(r.err, want);
    run_result_free(&r);
    assert_int_equal(pullfix_blobs(f), blobs);
    assert_int_equal(pullfix_temps(f), 0);
}

static void test_usage(void **state)
{
    struct pullfix *f = pullfix_need(state);
    (void)f;
    static const char *const bad[][6] = {
        { "--key", "a.pem", "--cert-chain", "b.pem", "hf.co/x/y" },
        { "--trust-root", "r.json", "--identity", "me@example.com", "hf.co/x/y" },
        { "--key", "a.pem", "--issuer", "https://issuer.example", "hf.co/x/y" },
        { "hf.co/x/y", "--key" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct run_result r;
        pullfix_pull(&r, bad[i][0], bad[i][1], bad[i][2], bad[i][3], bad[i][4], bad[i][5], NULL);
        if (r.status != 2)
            fail_msg("case %zu: exit %d", i, r.status);
        run_result_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signed, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_unsigned_refused, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_no_trust, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_tampered, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_key, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_gguf_subset, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_usage, pullfix_setup, pullfix_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

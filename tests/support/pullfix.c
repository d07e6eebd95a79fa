/* pullfix.c: shared pieces of the lm pull tests. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pullfix.h"
#include "../../common/common.h"
#include "../../store/store.h"

int pullfix_setup(void **state)
{
    struct pullfix *f = calloc(1, sizeof(*f));
    *state = f;
    if (!f || !lm_bin() || !lm_models() || !(f->dir = make_tmpdir()))
        return 0;
    if (!(f->m = mock_hf_new()))
        return -1;
    snprintf(f->home, sizeof(f->home), "%s/home", f->dir);
    snprintf(f->hf, sizeof(f->hf), "%s/hf", f->dir);
    setenv("LM_HOME", f->home, 1);
    setenv("HF_HOME", f->hf, 1);
    setenv("HF_ENDPOINT", mock_hf_endpoint(f->m), 1);
    setenv("LM_HTTP_STALL_SECONDS", "1", 1);
    setenv("LM_HTTP_RETRY_MS", "20", 1);
    setenv("LM_PULL_CHUNK_BYTES", "262144", 1);
    setenv("LM_PULL_RECEIVERS", "2", 1);        /* the many-thread path, on any machine */
    static const char *const unset[] = {
        "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "LM_TEST_FREE_BYTES",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN", "HF_HUB_DOWNLOAD_TIMEOUT",
    };
    for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
        unsetenv(unset[i]);
    f->ok = true;
    return 0;
}

int pullfix_teardown(void **state)
{
    struct pullfix *f = *state;
    if (!f)
        return 0;
    mock_hf_free(f->m);
    if (f->dir) {
        rm_rf(f->dir);
        free(f->dir);
    }
    free(f);
    return 0;
}

struct pullfix *pullfix_need(void **state)
{
    struct pullfix *f = *state;
    if (!f || !f->ok) {
        print_message("lm (LM_BIN) or the fixtures (LM_MODELS) are missing\n");
        skip();
    }
    return f;
}

int pullfix_repo(struct pullfix *f, const char *id, const char *sub, int access)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s", lm_models(), sub);
    int r = mock_hf_repo(f->m, id, (enum mock_access)access);
    assert_int_equal(mock_hf_add_dir(f->m, r, 0, dir, false), 0);
    return r;
}

static void run_va(struct run_result *r, const char *first, va_list ap)
{
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)lm_bin();
    for (const char *a = first; a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    argv[n] = NULL;
    assert_int_equal(run_capture(argv, r), 0);
}

void pullfix_pull(struct run_result *r, ...)
{
    va_list ap;
    va_start(ap, r);
    const char *first = va_arg(ap, const char *);
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)lm_bin();
    argv[n++] = "pull";
    for (const char *a = first; a && n < 31; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    argv[n] = NULL;
    va_end(ap);
    assert_int_equal(run_capture(argv, r), 0);
}

int pullfix_lm(const char *first, ...)
{
    struct run_result r;
    va_list ap;
    va_start(ap, first);
    run_va(&r, first, ap);
    va_end(ap);
    if (r.status != 0)
        print_message("lm %s: exit %d: %s%s", first, r.status, r.out, r.err);
    int st = r.status;
    run_result_free(&r);
    return st;
}

uint8_t *pullfix_slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *p = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(p, 1, (size_t)n, fp);
    fclose(fp);
    return p;
}

void pullfix_check_model(struct pullfix *f, const char *name, const char *sub,
                         const char *const *files, size_t n, const char *commit)
{
    struct lm_err err;
    struct lm_model *m = NULL;
    struct lm_store *s = lm_store_open(f->home, &err);
    assert_non_null(s);
    if (lm_model_get(s, name, &m, &err))
        fail_msg("model %s: %s", name, err.msg);
    assert_int_equal(m->n_layers, n);
    for (size_t i = 0; i < n; i++) {
        const struct lm_model_layer *l = NULL;
        for (size_t k = 0; k < m->n_layers; k++)
            if (strcmp(m->layers[k].path, files[i]) == 0)
                l = &m->layers[k];
        if (!l)
            fail_msg("model %s lacks %s", name, files[i]);
        char want[1024];
        size_t a, b;
        snprintf(want, sizeof(want), "%s/%s/%s", lm_models(), sub, files[i]);
        uint8_t *x = pullfix_slurp(want, &a), *y = pullfix_slurp(l->blob, &b);
        assert_non_null(x);
        assert_non_null(y);
        if (a != b || memcmp(x, y, a) != 0)
            fail_msg("%s differs from %s", l->blob, want);
        free(x);
        free(y);
    }
    assert_true(m->n_prov >= 1);
    assert_string_equal(m->prov[m->n_prov - 1].kind, "hf");
    assert_string_equal(m->prov[m->n_prov - 1].commit, commit);
    lm_model_free(m);
    lm_store_close(s);
    assert_int_equal(pullfix_lm("verify", NULL), 0);
    struct run_result r;
    char *argv[] = { (char *)lm_bin(), "show", (char *)name, NULL };
    assert_int_equal(run_capture(argv, &r), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, commit));
    run_result_free(&r);
}

size_t pullfix_blobs(struct pullfix *f) { return count_entries(f->home, "blobs/sha256"); }
size_t pullfix_temps(struct pullfix *f) { return count_entries(f->home, "tmp"); }

uint8_t *pullfix_safetensors(size_t n, uint32_t seed, size_t *len)
{
    char hdr[256];
    int hn = snprintf(hdr, sizeof(hdr),
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}", n,
                      4 * n);
    size_t pad = (8 - (size_t)hn % 8) % 8, h = (size_t)hn + pad;
    *len = 8 + h + 4 * n;
    uint8_t *p = malloc(*len);
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(p + 8, hdr, (size_t)hn);
    memset(p + 8 + hn, ' ', pad);
    uint32_t x = seed;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        float v = (float)(x >> 8) / 16777216.0f - 0.5f;
        memcpy(p + 8 + h + 4 * i, &v, 4);
    }
    return p;
}

void pullfix_sha256(const void *p, size_t n, char hex[65])
{
    uint8_t d[32];
    lm_sha256_buf(p, n, d);
    lm_hex(d, 32, hex);
}


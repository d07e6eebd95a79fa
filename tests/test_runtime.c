/* test_runtime.c: the forward pass against llama.cpp's logits (shared/models/README.md,
 * ref/logits): every position of every reference prompt, with each kernel variant the CPU runs.
 *
 * Tolerances. F32 models: 1e-4 max |diff| (the bound; a float64 NumPy pass gets within
 * 1.1e-5 of llama.cpp on stories260K). Quantized models: llama.cpp quantizes activations to
 * Q8_0/Q8_K before its integer dot products and so do we, with the same rounding and the same
 * summation order for the 32-element types, so most runs are bit-identical. What can still
 * differ is an activation that an upstream float op (softmax, K-quant sums) leaves within an
 * ulp of a rounding boundary: it lands one Q8 step away and moves the logits by a fraction of
 * the whole quantization error. The bound is therefore llama.cpp's own F32-vs-quantized spread
 * on the same prompt: we must stay closer to llama.cpp's quantized logits than those are to
 * its F32 logits, and pick the same top-1 token at every position. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../runtime/runtime.h"
#include "support/testutil.h"

struct logits_row {
    const char *fixture;
    const char *quant;        /* reference name: F32, Q8_0, Q4_K_M */
    const char *file;         /* under <fixture>/ref/gguf/ */
    double tol;               /* absolute; 0: llama.cpp's F32-vs-quantized spread */
};

static const struct logits_row logits_rows[] = {
    { "stories260K", "F32", "stories260K-F32.gguf", 1e-4 },
    { "stories260K", "Q8_0", "stories260K-Q8_0-convert.gguf", 0 },
    { "stories260K", "Q4_K_M", "stories260K-Q4_K_M.gguf", 0 },
    { "tiny-llama-256", "F32", "tiny-llama-256-F32.gguf", 1e-4 },
    { "tiny-llama-256", "Q8_0", "tiny-llama-256-Q8_0.gguf", 0 },
    { "tiny-llama-256", "Q4_K_M", "tiny-llama-256-Q4_K_M.gguf", 0 },
    { "tiny-qwen2-256", "F32", "tiny-qwen2-256-F32.gguf", 1e-4 },
    { "tiny-qwen2-256", "Q8_0", "tiny-qwen2-256-Q8_0.gguf", 0 },
    { "tiny-qwen2-256", "Q4_K_M", "tiny-qwen2-256-Q4_K_M.gguf", 0 },
    { "tiny-qwen2-bpe", "F32", "tiny-qwen2-bpe-F32.gguf", 1e-4 },
    { "tiny-qwen2-bpe", "Q8_0", "tiny-qwen2-bpe-Q8_0.gguf", 0 },
};

static const char *const prompts[] = { "p1", "p2", "p3" };

static float *read_f32(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *p = malloc((size_t)len + 4);
    *n = fread(p, 1, (size_t)len, f) / sizeof(float);
    fclose(f);
    return p;
}

static bool file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f)
        fclose(f);
    return f != NULL;
}

static char *made_dir;

static void remove_made(void)
{
    if (made_dir)
        rm_rf(made_dir);
}

static bool run_lm(char *const argv[])
{
    struct run_result r;
    bool ok = run_capture(argv, &r) == 0 && r.status == 0;
    if (!ok)
        print_message("# %s %s failed: %s\n", argv[0], argv[1], r.err ? r.err : "");
    run_result_free(&r);
    return ok;
}

/* The GGUF of a row: the stored reference file, or one ref/gguf does not keep (the tiny models'
 * F32, all of tiny-qwen2-bpe) made here as llama.cpp made it: `lm convert --outtype f32` of the
 * fixture (convert_hf_to_gguf.py's bytes) and `lm quantize` of that (llama-quantize's bytes).
 * NULL, after saying why, if neither is possible. */
static const char *model_file(const char *fixture, const char *file, char *out, size_t n)
{
    const char *models = lm_models(), *lm = lm_bin();
    snprintf(out, n, "%s/%s/ref/gguf/%s", models, fixture, file);
    if (file_exists(out))
        return out;
    if (!lm) {
        print_message("# %s is not stored and LM_BIN is not set to make it; skipped\n", file);
        return NULL;
    }
    if (!made_dir) {
        made_dir = make_tmpdir();
        atexit(remove_made);
    }
    snprintf(out, n, "%s/%s", made_dir, file);
    if (file_exists(out))
        return out;
    char src[1024], f32[1024];
    size_t len = strlen(file);
    if (len > 9 && strcmp(file + len - 9, "-F32.gguf") == 0) {
        snprintf(src, sizeof(src), "%s/%s", models, fixture);
        char *argv[] = { (char *)lm, "convert", src, "--outtype", "f32", "-o", out, NULL };
        return run_lm(argv) ? out : NULL;
    }
    if (len > 10 && strcmp(file + len - 10, "-Q8_0.gguf") == 0) {
        char name[256];
        snprintf(name, sizeof(name), "%s-F32.gguf", fixture);
        if (!model_file(fixture, name, f32, sizeof(f32)))
            return NULL;
        char *argv[] = { (char *)lm, "quantize", f32, out, "Q8_0", NULL };
        return run_lm(argv) ? out : NULL;
    }
    return NULL;
}

/* Token ids of a reference JSON, into ids (caller frees). */
static json_t *load_ref(const char *path, int32_t **ids, uint32_t *n, const char *key)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    assert_non_null(j);
    json_t *arr = json_object_get(j, key);
    assert_true(json_is_array(arr));
    *n = (uint32_t)json_array_size(arr);
    *ids = calloc(*n + 1, sizeof(int32_t));
    for (uint32_t i = 0; i < *n; i++)
        (*ids)[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return j;
}

/* The logits of every position, with the kernels of `level` on `threads` threads (a copy). */
static float *eval_logits(struct lm_net *m, const int32_t *ids, uint32_t n, int level,
                          uint32_t threads)
{
    struct lm_err err;
    assert_int_equal(lm_kernels_set_level(level, &err), 0);
    struct lm_ctx_params cp = { .n_ctx = 64, .n_threads = threads, .kv_type = LM_KV_F32 };
    struct lm_ctx *c = lm_ctx_new(m, &cp, &err);
    assert_non_null(c);
    if (lm_ctx_eval(c, ids, n, true, &err) < 0)
        fail_msg("eval: %s", err.msg);
    uint32_t n_out, n_vocab = lm_net_hparams(m)->n_vocab;
    const float *l = lm_ctx_logits(c, &n_out);
    assert_int_equal(n_out, n);
    float *copy = malloc(sizeof(float) * n * n_vocab);
    memcpy(copy, l, sizeof(float) * n * n_vocab);
    lm_ctx_free(c);
    return copy;
}

/* A reference's logits: full rows [n][n_vocab], or (tiny-qwen2-bpe, whose rows are 0.6 MB)
 * every sample_stride-th column plus each position's top 20. idx/val: n_per pairs per row. */
struct ref_logits {
    uint32_t n_per;
    uint32_t *idx;
    float *val;
};

static void load_logits(const char *models, const char *fixture, const char *quant,
                        const char *prompt, json_t *j, uint32_t n, uint32_t n_vocab,
                        struct ref_logits *r)
{
    char path[1024];
    json_t *stride = json_object_get(j, "sample_stride");
    size_t got;
    if (!stride) {
        snprintf(path, sizeof(path), "%s/%s/ref/logits/%s.%s.f32.bin", models, fixture, quant, prompt);
        r->val = read_f32(path, &got);
        assert_non_null(r->val);
        assert_int_equal(got, (size_t)n * n_vocab);
        r->n_per = n_vocab;
        r->idx = malloc(sizeof(uint32_t) * n * n_vocab);
        for (size_t i = 0; i < (size_t)n * n_vocab; i++)
            r->idx[i] = (uint32_t)(i % n_vocab);
        return;
    }
    uint32_t ns = (uint32_t)json_integer_value(json_object_get(j, "n_sampled"));
    uint32_t st = (uint32_t)json_integer_value(stride);
    json_t *top = json_object_get(j, "top_k");
    uint32_t nk = (uint32_t)json_array_size(json_array_get(top, 0));
    snprintf(path, sizeof(path), "%s/%s/ref/logits/%s.%s.sampled.f32.bin", models, fixture, quant,
             prompt);
    float *sampled = read_f32(path, &got);
    assert_non_null(sampled);
    assert_int_equal(got, (size_t)n * ns);
    r->n_per = ns + nk;
    r->idx = malloc(sizeof(uint32_t) * n * r->n_per);
    r->val = malloc(sizeof(float) * n * r->n_per);
    for (uint32_t t = 0; t < n; t++) {
        for (uint32_t c = 0; c < ns; c++) {
            r->idx[t * r->n_per + c] = c * st;
            r->val[t * r->n_per + c] = sampled[(size_t)t * ns + c];
        }
        for (uint32_t k = 0; k < nk; k++) {
            json_t *e = json_array_get(json_array_get(top, t), k);
            r->idx[t * r->n_per + ns + k] = (uint32_t)json_integer_value(json_array_get(e, 0));
            r->val[t * r->n_per + ns + k] = (float)json_real_value(json_array_get(e, 1));
        }
    }
    free(sampled);
}

static void free_logits(struct ref_logits *r)
{
    free(r->idx);
    free(r->val);
}

/* llama.cpp's own F32-vs-quantized spread on this prompt (over the columns both refs hold). */
static double ref_spread(const char *models, const struct logits_row *row, const char *prompt,
                         const struct ref_logits *want, uint32_t n, uint32_t n_vocab)
{
    char path[1024];
    json_error_t je;
    snprintf(path, sizeof(path), "%s/%s/ref/logits/F32.%s.json", models, row->fixture, prompt);
    json_t *j = json_load_file(path, 0, &je);
    assert_non_null(j);
    struct ref_logits f32;
    load_logits(models, row->fixture, "F32", prompt, j, n, n_vocab, &f32);
    double spread = 0;
    for (size_t i = 0; i < (size_t)n * want->n_per; i++)
        if (f32.idx[i] == want->idx[i])
            spread = fmax(spread, fabs((double)f32.val[i] - want->val[i]));
    free_logits(&f32);
    json_decref(j);
    return spread;
}

static void check_prompt(const struct logits_row *row, struct lm_net *m, const char *models,
                         const char *prompt)
{
    char ref[1024];
    snprintf(ref, sizeof(ref), "%s/%s/ref/logits/%s.%s.json", models, row->fixture, row->quant,
             prompt);
    int32_t *ids;
    uint32_t n;
    json_t *j = load_ref(ref, &ids, &n, "token_ids");
    uint32_t n_vocab = (uint32_t)json_integer_value(json_object_get(j, "n_vocab"));
    assert_int_equal(n_vocab, lm_net_hparams(m)->n_vocab);
    struct ref_logits want;
    load_logits(models, row->fixture, row->quant, prompt, j, n, n_vocab, &want);
    double spread = row->tol == 0 ? ref_spread(models, row, prompt, &want, n, n_vocab) : 0;
    double tol = row->tol == 0 ? spread : row->tol;

    int best_level = lm_cpu_level();
    while (!lm_kernels_can(best_level))
        best_level--;
    float *got = eval_logits(m, ids, n, best_level, 2);
    double maxd = 0;
    json_t *am = json_object_get(j, "argmax_per_position");
    for (uint32_t t = 0; t < n; t++) {
        const float *row_got = got + (size_t)t * n_vocab;
        for (uint32_t k = 0; k < want.n_per; k++) {
            size_t i = (size_t)t * want.n_per + k;
            maxd = fmax(maxd, fabs((double)row_got[want.idx[i]] - want.val[i]));
        }
        uint32_t best = 0;
        for (uint32_t v = 0; v < n_vocab; v++)
            if (row_got[v] > row_got[best])
                best = v;
        if ((json_int_t)best != json_integer_value(json_array_get(am, t)))
            fail_msg("%s %s %s: position %u: argmax %u, llama.cpp %d", row->fixture, row->quant,
                     prompt, t, best, (int)json_integer_value(json_array_get(am, t)));
    }
    print_message("# %-15s %-6s %s max|diff| %.3g (bound %.3g, llama.cpp spread %.3g)\n",
                  row->fixture, row->quant, prompt, maxd, tol, spread);
    if (maxd > tol)
        fail_msg("%s %s %s: max |diff| %g over %g (llama.cpp F32 vs %s spread %g)", row->fixture,
                 row->quant, prompt, maxd, tol, row->quant, spread);

    /* Other thread counts and every SIMD level the CPU runs give the same bits (checked on the
     * longest prompt; the scalar kernels are the slow reference). */
    static const struct { int level; uint32_t threads; } variants[] = {
        { LM_CPU_SCALAR, 2 }, { LM_CPU_AVX2, 1 }, { LM_CPU_AVX2, 3 }, { LM_CPU_AVX512, 3 },
    };
    for (size_t v = 0; strcmp(prompt, "p3") == 0 && v < sizeof(variants) / sizeof(variants[0]); v++) {
        if (!lm_kernels_can(variants[v].level))
            continue;
        float *other = eval_logits(m, ids, n, variants[v].level, variants[v].threads);
        for (size_t i = 0; i < (size_t)n * n_vocab; i++)
            if (memcmp(&other[i], &got[i], sizeof(float)) != 0)
                fail_msg("%s %s %s [%s, %u threads]: logit %zu is %.9g, [%s, 2 threads] %.9g",
                         row->fixture, row->quant, prompt, lm_kernels_name(variants[v].level),
                         variants[v].threads, i, other[i], lm_kernels_name(best_level), got[i]);
        free(other);
    }
    struct lm_err err;
    lm_kernels_set_level(best_level, &err);
    free(got);
    free_logits(&want);
    free(ids);
    json_decref(j);
}

static void test_logits(void **state)
{
    const struct logits_row *row = *state;
    const char *models = lm_models();
    char path[1024];
    if (!models)
        skip();
    if (!model_file(row->fixture, row->file, path, sizeof(path)))
        return;
    struct lm_err err;
    struct lm_net *m = lm_net_open(path, &err);
    if (!m)
        fail_msg("%s: %s", path, err.msg);
    for (size_t p = 0; p < 3; p++)
        check_prompt(row, m, models, prompts[p]);
    lm_net_close(m);
}

/* ---- greedy generation (ref/generate) ----------------------------------------------------- */

struct gen_row {
    const char *fixture;
    const char *quant;
    const char *file;
};

static const struct gen_row gen_rows[] = {
    { "stories260K", "F32", "stories260K-F32.gguf" },
    { "stories260K", "Q8_0", "stories260K-Q8_0-convert.gguf" },
    { "tiny-llama-256", "F32", "tiny-llama-256-F32.gguf" },
    { "tiny-llama-256", "Q8_0", "tiny-llama-256-Q8_0.gguf" },
    { "tiny-qwen2-256", "F32", "tiny-qwen2-256-F32.gguf" },
    { "tiny-qwen2-256", "Q8_0", "tiny-qwen2-256-Q8_0.gguf" },
    { "tiny-qwen2-bpe", "F32", "tiny-qwen2-bpe-F32.gguf" },
    { "tiny-qwen2-bpe", "Q8_0", "tiny-qwen2-bpe-Q8_0.gguf" },
};

/* Greedy decoding of len tokens after the prompt, one token per eval as llama-simple does. On
 * the first step where our argmax is not want[i], *margin is our best logit minus the logit of
 * want[i] (then the reference's token is fed, so later steps are still compared). */
static int greedy_departure(struct lm_net *m, enum lm_kv_type kv, const int32_t *prompt,
                            uint32_t n_prompt, const int32_t *want, uint32_t len, float *margin)
{
    struct lm_err err;
    struct lm_ctx_params cp = { .n_ctx = 128, .n_threads = 2, .kv_type = kv };
    struct lm_ctx *c = lm_ctx_new(m, &cp, &err);
    struct lm_sampler_params sp = { .temperature = 0, .repeat_penalty = 1 };
    struct lm_sampler *s = lm_sampler_new(&sp, lm_net_hparams(m)->n_vocab);
    assert_non_null(c);
    assert_non_null(s);
    if (lm_ctx_eval(c, prompt, n_prompt, false, &err) < 0)
        fail_msg("eval: %s", err.msg);
    int departed = -1;
    for (uint32_t i = 0; i < len; i++) {
        const float *l = lm_ctx_logits(c, NULL);
        int32_t got = lm_sampler_sample(s, l);
        if (got != want[i] && departed < 0) {
            departed = (int)i;
            *margin = l[got] - l[want[i]];
        }
        if (lm_ctx_eval(c, &want[i], 1, false, &err) < 0)
            fail_msg("eval: %s", err.msg);
    }
    lm_sampler_free(s);
    lm_ctx_free(c);
    return departed;
}

static void test_generate(void **state)
{
    const struct gen_row *row = *state;
    const char *models = lm_models();
    char path[1024], ref[1024];
    if (!models)
        skip();
    if (!model_file(row->fixture, row->file, path, sizeof(path)))
        return;
    struct lm_err err;
    struct lm_net *m = lm_net_open(path, &err);
    if (!m)
        fail_msg("%s: %s", path, err.msg);
    bool f32_model = strcmp(row->quant, "F32") == 0;
    for (size_t p = 0; p < 3; p++) {
        snprintf(ref, sizeof(ref), "%s/%s/ref/generate/%s.%s.json", models, row->fixture,
                 row->quant, prompts[p]);
        int32_t *prompt, *want32, *want16;
        uint32_t n, n32, n16;
        json_t *j = load_ref(ref, &prompt, &n, "prompt_ids");
        json_decref(load_ref(ref, &want32, &n32, "gen_ids_kv_f32"));
        json_decref(load_ref(ref, &want16, &n16, "gen_ids"));
        float margin = 0;
        /* F32 cache, flash attention off: exactly llama.cpp's tokens, F32 and Q8_0 alike. */
        int d = greedy_departure(m, LM_KV_F32, prompt, n, want32, n32, &margin);
        if (d >= 0)
            fail_msg("%s %s %s kv f32: step %d departs from gen_ids_kv_f32 (margin %g)",
                     row->fixture, row->quant, prompts[p], d, margin);
        /* F16 cache (llama.cpp's default, flash attention): exact on F32 models; a quantized
         * model may take the other side of a near-tie that the f16 rounding decides. */
        d = greedy_departure(m, LM_KV_F16, prompt, n, want16, n16, &margin);
        if (d >= 0 && (f32_model || margin >= 1e-3f))
            fail_msg("%s %s %s kv f16: step %d departs from gen_ids with margin %g",
                     row->fixture, row->quant, prompts[p], d, margin);
        print_message("# %-15s %-4s %s: %u tokens as llama.cpp (kv f32)%s\n", row->fixture,
                      row->quant, prompts[p], n32, d < 0 ? ", also kv f16" : "");
        if (d >= 0)
            print_message("# %-15s %-4s %s: kv f16 departs at step %d at a near-tie (margin %g < 1e-3)\n",
                          row->fixture, row->quant, prompts[p], d, margin);
        free(prompt);
        free(want32);
        free(want16);
        json_decref(j);
    }
    lm_net_close(m);
}

/* ---- batching ------------------------------------------------------------------------------ */

/* A prompt evaluated in batches of 7, or token by token, gives the same bits as in one batch:
 * each token's arithmetic does not depend on which others share its batch. */
static void test_batches(void **state)
{
    (void)state;
    char path[1024];
    if (!lm_models())
        skip();
    if (!model_file("stories260K", "stories260K-Q8_0-convert.gguf", path, sizeof(path)))
        return;
    struct lm_err err;
    struct lm_net *m = lm_net_open(path, &err);
    assert_non_null(m);
    int32_t ids[40];
    for (int i = 0; i < 40; i++)
        ids[i] = i == 0 ? 1 : (int32_t)((i * 37 + 11) % 500);
    uint32_t n_vocab = lm_net_hparams(m)->n_vocab;
    float *first[2] = { NULL, NULL };   /* one batch, F16 and F32 cache */
    static const uint32_t batches[] = { 64, 7, 1 };
    for (size_t b = 0; b < 3; b++) {
        for (int kv = 0; kv < 2; kv++) {
            struct lm_ctx_params cp = { .n_ctx = 64, .n_batch = batches[b], .n_threads = 2,
                                        .kv_type = kv ? LM_KV_F32 : LM_KV_F16 };
            struct lm_ctx *c = lm_ctx_new(m, &cp, &err);
            assert_non_null(c);
            assert_int_equal(lm_ctx_eval(c, ids, 30, true, &err), 0);
            assert_int_equal(lm_ctx_eval(c, ids + 30, 10, true, &err), 0);   /* continues */
            uint32_t n_out;
            const float *l = lm_ctx_logits(c, &n_out);
            assert_int_equal(n_out, 10);
            if (b == 0) {
                first[kv] = malloc(sizeof(float) * 10 * n_vocab);
                memcpy(first[kv], l, sizeof(float) * 10 * n_vocab);
            } else if (memcmp(first[kv], l, sizeof(float) * 10 * n_vocab) != 0) {
                fail_msg("batches of %u (kv %s) give other logits than one batch", batches[b],
                         kv ? "f32" : "f16");
            }
            lm_ctx_free(c);
        }
    }
    free(first[0]);
    free(first[1]);
    lm_net_close(m);
}

/* Logits of a prompt (prompt tiles) and then of single tokens (decoding) at one kernel level. */
static float *level_logits(struct lm_net *m, int level, const int32_t *ids, uint32_t n_vocab)
{
    struct lm_err err;
    if (lm_kernels_set_level(level, &err) != 0)
        return NULL;
    struct lm_ctx_params cp = { .n_ctx = 64, .n_batch = 32, .n_threads = 2 };
    struct lm_ctx *c = lm_ctx_new(m, &cp, &err);
    assert_non_null(c);
    float *out = malloc(sizeof(float) * 34 * n_vocab);
    assert_non_null(out);
    assert_int_equal(lm_ctx_eval(c, ids, 30, true, &err), 0);
    uint32_t n_out;
    memcpy(out, lm_ctx_logits(c, &n_out), sizeof(float) * 30 * n_vocab);
    assert_int_equal(n_out, 30);
    for (int t = 30; t < 34; t++) {
        assert_int_equal(lm_ctx_eval(c, ids + t, 1, true, &err), 0);
        memcpy(out + (size_t)t * n_vocab, lm_ctx_logits(c, &n_out), sizeof(float) * n_vocab);
    }
    lm_ctx_free(c);
    return out;
}

/* The whole forward pass at every SIMD level the CPU has gives the scalar reference's logits,
 * bit for bit, for the weight types the bench models use. */
static void test_levels(void **state)
{
    (void)state;
    static const char *const files[] = { "tiny-llama-256-Q4_K_M.gguf", "tiny-llama-256-Q8_0.gguf",
                                         "tiny-llama-256-Q4_0.gguf" };
    if (!lm_models())
        skip();
    int saved = lm_kernels_level();
    int32_t ids[34];
    for (int i = 0; i < 34; i++)
        ids[i] = i == 0 ? 1 : (int32_t)((i * 37 + 11) % 250);
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char path[1024];
        if (!model_file("tiny-llama-256", files[f], path, sizeof(path)))
            continue;
        struct lm_err err;
        struct lm_net *m = lm_net_open(path, &err);
        assert_non_null(m);
        uint32_t n_vocab = lm_net_hparams(m)->n_vocab;
        float *ref = level_logits(m, LM_CPU_SCALAR, ids, n_vocab);
        assert_non_null(ref);
        for (int level = LM_CPU_AVX2; level <= LM_CPU_AVX512; level++) {
            float *got = level_logits(m, level, ids, n_vocab);
            if (!got) {
                print_message("# %s kernels: this CPU cannot run them\n", lm_kernels_name(level));
                continue;
            }
            for (size_t k = 0; k < (size_t)34 * n_vocab; k++)
                if (memcmp(&got[k], &ref[k], sizeof(float)) != 0)
                    fail_msg("%s [%s]: position %zu logit %zu is %.9g, scalar %.9g", files[f],
                             lm_kernels_name(level), k / n_vocab, k % n_vocab, got[k], ref[k]);
            free(got);
        }
        free(ref);
        lm_net_close(m);
    }
    struct lm_err err;
    assert_int_equal(lm_kernels_set_level(saved, &err), 0);
}

#define N_LOGITS (sizeof(logits_rows) / sizeof(logits_rows[0]))
#define N_GEN (sizeof(gen_rows) / sizeof(gen_rows[0]))

int main(void)
{
    struct CMUnitTest tests[N_LOGITS + N_GEN + 2];
    static char names[N_LOGITS + N_GEN][64];
    size_t n = 0;
    for (size_t i = 0; i < N_LOGITS; i++, n++) {
        snprintf(names[n], sizeof(names[n]), "logits %s %s", logits_rows[i].fixture,
                 logits_rows[i].quant);
        tests[n] = (struct CMUnitTest){ names[n], test_logits, NULL, NULL,
                                        (void *)&logits_rows[i] };
    }
    for (size_t i = 0; i < N_GEN; i++, n++) {
        snprintf(names[n], sizeof(names[n]), "generate %s %s", gen_rows[i].fixture,
                 gen_rows[i].quant);
        tests[n] = (struct CMUnitTest){ names[n], test_generate, NULL, NULL,
                                        (void *)&gen_rows[i] };
    }
    tests[n++] = (struct CMUnitTest){ "every kernel level gives the scalar logits", test_levels,
                                      NULL, NULL, NULL };
    tests[n++] = (struct CMUnitTest){ "batch sizes give the same logits", test_batches, NULL, NULL,
                                      NULL };
    return _cmocka_run_group_tests("runtime", tests, n, NULL, NULL);
}

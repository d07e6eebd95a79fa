/* test_quantize_ref.c: every llama-quantize reference in $LM_MODELS, made again from the same
 * F32 input: the same tensors (names, order, types, shapes, offsets, per-tensor sha256), the
 * same metadata (keys in order, types, values) and the same whole file (unless a converted
 * input's metadata differs from the reference F32's). The tiny models' F32 inputs are not stored; they come from
 * `$LM_BIN convert` when that exists. Also: threads and CPU variants do not change a byte. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../quantize/quantize.h"

extern char **environ;

static const char *models_dir(void)
{
    const char *m = getenv("LM_MODELS");
    if (!m || !*m)
        m = "../shared/models";
    return access(m, R_OK | X_OK) == 0 ? m : NULL;
}

/* ---- gguf-index.tsv ---------------------------------------------------------------------- */

struct row {
    char file[96], name[72], type[16], shape[48], sha[65], file_sha[65];
    unsigned long long file_size, data_offset, nbytes;
    unsigned idx;
};

static struct row *load_tsv(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    size_t cap = 0;
    struct row *v = NULL;
    *n = 0;
    if (!f)
        return NULL;
    while (fgets(line, sizeof(line), f)) {
        struct row r;
        unsigned long long file_off;
        if (sscanf(line, "%95[^\t]\t%llu\t%64[^\t]\t%u\t%71[^\t]\t%15[^\t]\t%*u\t%47[^\t]\t%llu\t"
                         "%llu\t%llu\t%64s", r.file, &r.file_size, r.file_sha, &r.idx, r.name,
                   r.type, r.shape, &r.data_offset, &file_off, &r.nbytes, r.sha) != 11)
            continue;   /* the header */
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            v = realloc(v, cap * sizeof(*v));
            assert_non_null(v);
        }
        v[(*n)++] = r;
    }
    fclose(f);
    return v;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void sha_hex(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    lm_sha256_buf(p, n, d);
    lm_hex(d, 32, out);
}

static void shape_of(const struct gguf_tensor *t, char *buf, size_t n)
{
    size_t o = 0;
    for (uint32_t d = 0; d < t->n_dims; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%llu", d ? "," : "", (unsigned long long)t->ne[d]);
}

/* Quantize src to dst with the library (the CLI's code path after argument parsing). */
static int quantize(const char *src, const char *dst, int ftype, const char *override, int threads,
                    struct lm_err *err)
{
    struct lm_tensor_override ov = { override, LM_TYPE_F16 };
    struct lm_quant_opts o = { .ftype = ftype, .output_type = -1, .token_embd_type = -1,
                               .overrides = override ? &ov : NULL, .n_overrides = !!override,
                               .threads = threads };
    struct lm_plan plan;
    struct gguf *g = gguf_open(src, err);
    if (!g)
        return -1;
    int rc = lm_quant_plan(g, src, &o, &plan, err);
    if (rc == 0)
        rc = lm_quantize_gguf(g, src, &plan, &o, dst, NULL, NULL, err);
    lm_plan_release(&plan);
    gguf_close(g);
    return rc;
}

/* Tensor bytes of `path` against the tsv rows of `ref_file`; by_name: order and offsets not
 * compared (files written by the converter order tensors their own way). */
static void check_tensors(const char *path, const struct row *rows, size_t n, const char *ref_file,
                          bool by_name)
{
    struct lm_err err;
    struct gguf *g = gguf_open(path, &err);
    if (!g)
        fail_msg("%s: %s", path, err.msg);
    size_t seen = 0;
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        if (strcmp(r->file, ref_file) != 0)
            continue;
        const struct gguf_tensor *t = by_name ? gguf_tensor_find(g, r->name)
                                              : gguf_tensor_at(g, r->idx);
        char shape[64], sha[65];
        if (!t)
            fail_msg("%s: tensor %s missing", ref_file, r->name);
        shape_of(t, shape, sizeof(shape));
        sha_hex(t->data, (size_t)t->nbytes, sha);
        if (strcmp(t->name, r->name) || strcmp(lm_type_get(t->type)->name, r->type) ||
            strcmp(shape, r->shape) || t->nbytes != r->nbytes || strcmp(sha, r->sha) ||
            (!by_name && t->offset != r->data_offset))
            fail_msg("%s: tensor %u: got %s %s [%s] at %llu sha %.12s, want %s %s [%s] at %llu "
                     "sha %.12s", ref_file, r->idx, t->name, lm_type_get(t->type)->name, shape,
                     (unsigned long long)t->offset, sha, r->name, r->type, r->shape,
                     r->data_offset, r->sha);
        seen++;
    }
    assert_int_equal(seen, gguf_n_tensors(g));
    if (!by_name) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(rows[i].file, ref_file) == 0)
                assert_int_equal(gguf_file_size(g), rows[i].file_size);
    }
    gguf_close(g);
}

/* One kv against its gguf-meta entry; true if equal. */
static bool kv_equal(const struct gguf_kv *kv, json_t *want)
{
    const char *key = json_string_value(json_object_get(want, "key"));
    const char *type = json_string_value(json_object_get(want, "type"));
    if (!key || kv->key.len != strlen(key) || memcmp(kv->key.p, key, kv->key.len) ||
        strcmp(gguf_vtype_name(kv->type), type))
        return false;
    json_t *v = json_object_get(want, "value");
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    struct gguf_str s;
    char sha[65];
    switch (kv->type) {
    case GGUF_ARRAY:
        sha_hex(kv->raw, (size_t)kv->raw_len, sha);
        return strcmp(gguf_vtype_name(kv->arr_type),
                      json_string_value(json_object_get(want, "item_type"))) == 0 &&
               kv->arr_len == (uint64_t)json_integer_value(json_object_get(want, "length")) &&
               strcmp(sha, json_string_value(json_object_get(want, "sha256"))) == 0;
    case GGUF_STRING:
        return gguf_kv_str(kv, &s) == 0 && json_is_string(v) &&
               s.len == json_string_length(v) && memcmp(s.p, json_string_value(v), s.len) == 0;
    case GGUF_F32: case GGUF_F64:
        return gguf_kv_f64(kv, &f) == 0 && json_is_number(v) && f == json_number_value(v);
    case GGUF_BOOL:
        return gguf_kv_bool(kv, &b) == 0 && json_is_boolean(v) && b == json_is_true(v);
    case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
        return gguf_kv_i64(kv, &i) == 0 && i == json_integer_value(v);
    default:
        return gguf_kv_u64(kv, &u) == 0 && (json_int_t)u == json_integer_value(v);
    }
}

/* Keys where the (converted) input differs from the reference F32: inherited, not ours. */
static bool input_differs(const struct gguf *in, json_t *f32_meta, const char *key)
{
    size_t i;
    json_t *kv;
    const struct gguf_kv *have = gguf_kv_find(in, key);
    json_array_foreach(json_object_get(f32_meta, "kv"), i, kv)
        if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0)
            return !have || !kv_equal(have, kv);
    return have != NULL;
}

/* Returns how many kvs differ only because the converted input's did. */
static int check_meta(const char *path, const char *meta_path, const struct gguf *in,
                      json_t *f32_meta)
{
    int inherited = 0;
    json_error_t je;
    json_t *want = json_load_file(meta_path, 0, &je);
    struct lm_err err;
    struct gguf *g = gguf_open(path, &err);
    assert_non_null(want);
    assert_non_null(g);
    json_t *kvs = json_object_get(want, "kv");
    assert_int_equal(gguf_n_kv(g), json_array_size(kvs));
    assert_int_equal(gguf_version(g), json_integer_value(json_object_get(want, "gguf_version")));
    assert_int_equal(gguf_alignment(g), json_integer_value(json_object_get(want, "alignment")));
    assert_int_equal(gguf_data_offset(g), json_integer_value(json_object_get(want, "data_offset")));
    for (size_t i = 0; i < json_array_size(kvs); i++) {
        json_t *w = json_array_get(kvs, i);
        const char *key = json_string_value(json_object_get(w, "key"));
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        if (kv_equal(kv, w))
            continue;
        /* Inherited: the key is in its place, but the input had a different value. */
        if (f32_meta && kv->key.len == strlen(key) && memcmp(kv->key.p, key, kv->key.len) == 0 &&
            input_differs(in, f32_meta, key)) {
            fprintf(stderr, "# %s: kv %s differs as the converted input's does\n", path, key);
            inherited++;
            continue;
        }
        fail_msg("%s: kv %zu (%s) differs from %s", path, i, key, meta_path);
    }
    gguf_close(g);
    json_decref(want);
    return inherited;
}

/* ---- the F32 input ----------------------------------------------------------------------- */

static int run(char *const argv[])
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The stored F32 file, or one made by `lm convert` (NULL: skip, with the reason printed). */
static bool f32_input(const char *models, const char *fx, const char *tmp, char *out, size_t n,
                      bool *converted)
{
    snprintf(out, n, "%s/%s/ref/gguf/%s-F32.gguf", models, fx, fx);
    *converted = false;
    if (access(out, R_OK) == 0)
        return true;
    const char *bin = getenv("LM_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        fprintf(stderr, "# %s: no stored F32 GGUF and no $LM_BIN to convert one: skipped\n", fx);
        return false;
    }
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s/%s", models, fx);
    snprintf(out, n, "%s/%s-F32.gguf", tmp, fx);
    char *help[] = { (char *)bin, "convert", "--help", NULL };
    if (run(help) != 0) {
        fprintf(stderr, "# %s: no stored F32 GGUF and `lm convert` does not exist yet: skipped\n",
                fx);
        return false;
    }
    char *argv[] = { (char *)bin, "convert", dir, "-o", out, "--outtype", "f32", NULL };
    int rc = run(argv);
    if (rc != 0)
        fail_msg("%s: lm convert --outtype f32 exited %d", fx, rc);
    *converted = true;
    return true;
}

/* ---- the references ---------------------------------------------------------------------- */

static const char *const qtypes[] = { "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K_S", "Q4_K_M",
                                      "Q5_K_M", "Q6_K" };

static void check_fixture(const char *fx)
{
    const char *models = models_dir();
    if (!models) {
        fprintf(stderr, "# no LM_MODELS: skipped\n");
        skip();
    }
    char tsv[1024], tmp[] = "/tmp/lm-qref.XXXXXX", in[1200], out[1300], meta[1300], name[200];
    snprintf(tsv, sizeof(tsv), "%s/%s/ref/gguf-index.tsv", models, fx);
    size_t n;
    struct row *rows = load_tsv(tsv, &n);
    if (!rows) {
        fprintf(stderr, "# %s missing: skipped\n", tsv);
        skip();
    }
    assert_non_null(mkdtemp(tmp));
    bool converted;
    if (!f32_input(models, fx, tmp, in, sizeof(in), &converted)) {
        rmdir(tmp);
        free(rows);
        skip();
    }
    snprintf(name, sizeof(name), "%s-F32.gguf", fx);
    check_tensors(in, rows, n, name, false);   /* a converted input must be the reference */
    json_t *f32_meta = NULL;
    snprintf(meta, sizeof(meta), "%s/%s/ref/gguf-meta/%s-F32.gguf.json", models, fx, fx);
    if (converted)
        f32_meta = json_load_file(meta, 0, NULL);
    struct lm_err err;
    struct gguf *g_in = gguf_open(in, &err);
    assert_non_null(g_in);
    int checked = 0;
    for (size_t k = 0; k < sizeof(qtypes) / sizeof(qtypes[0]) * 2 + 2; k++) {
        const char *type = k < 9 ? qtypes[k] : k < 18 ? qtypes[k - 9] : k == 18 ? "F16" : "BF16";
        bool f16_down = k >= 9 && k < 18;
        snprintf(name, sizeof(name), "%s-%s%s.gguf", fx, type, f16_down ? "-ffn_down_f16" : "");
        bool have = false;
        for (size_t i = 0; i < n && !have; i++)
            have = strcmp(rows[i].file, name) == 0;
        if (!have)
            continue;
        snprintf(out, sizeof(out), "%s/%s", tmp, name);
        if (quantize(in, out, lm_ftype_parse(type), f16_down ? "ffn_down" : NULL, 2, &err) != 0)
            fail_msg("%s: %s", name, err.msg);
        bool by_converter = k >= 18;   /* F16/BF16 references come from convert_hf_to_gguf */
        check_tensors(out, rows, n, name, by_converter);
        if (!by_converter) {
            snprintf(meta, sizeof(meta), "%s/%s/ref/gguf-meta/%s.json", models, fx, name);
            if (check_meta(out, meta, g_in, f32_meta) == 0) {
                char got[65];
                uint64_t size;
                assert_int_equal(lm_sha256_file(out, got, &size, &err), 0);
                for (size_t i = 0; i < n; i++)
                    if (strcmp(rows[i].file, name) == 0 && strcmp(rows[i].file_sha, got) != 0)
                        fail_msg("%s: whole file sha256 %s, want %s", name, got,
                                 rows[i].file_sha);
            }
        }
        unlink(out);
        checked++;
    }
    fprintf(stderr, "# %s: %d reference files matched (input %s)\n", fx, checked,
            converted ? "from lm convert" : "stored");
    assert_true(checked >= 7);
    gguf_close(g_in);
    json_decref(f32_meta);
    if (converted)
        unlink(in);
    rmdir(tmp);
    free(rows);
}

static void test_stories260K(void **state) { (void)state; check_fixture("stories260K"); }
static void test_tiny_llama(void **state) { (void)state; check_fixture("tiny-llama-256"); }
static void test_tiny_qwen2(void **state) { (void)state; check_fixture("tiny-qwen2-256"); }
static void test_tiny_qwen2_bpe(void **state) { (void)state; check_fixture("tiny-qwen2-bpe"); }

/* Threads and CPU variants: the same file, byte for byte. */
static void test_threads_variants(void **state)
{
    (void)state;
    const char *models = models_dir();
    if (!models)
        skip();
    char in[1024], tmp[] = "/tmp/lm-qthr.XXXXXX", out[1100], want[65], got[65];
    snprintf(in, sizeof(in), "%s/stories260K/ref/gguf/stories260K-F32.gguf", models);
    if (access(in, R_OK) != 0)
        skip();
    assert_non_null(mkdtemp(tmp));
    snprintf(out, sizeof(out), "%s/out.gguf", tmp);
    struct lm_err err;
    uint64_t size;
    const char *variants[] = { "scalar", "avx2", "avx512" };
    const int threads[] = { 1, 3, 8 };
    for (int ft = 0; ft < 2; ft++) {
        int ftype = ft ? LM_FTYPE_Q6_K : LM_FTYPE_Q4_K_M;
        want[0] = 0;
        for (size_t v = 0; v < 3; v++) {
            if (lm_quant_set_variant(variants[v]) != 0)
                continue;
            for (size_t t = 0; t < 3; t++) {
                assert_int_equal(quantize(in, out, ftype, NULL, threads[t], &err), 0);
                assert_int_equal(lm_sha256_file(out, got, &size, &err), 0);
                if (!want[0])
                    memcpy(want, got, 65);
                if (strcmp(want, got) != 0)
                    fail_msg("%s, %d threads: %s, want %s", variants[v], threads[t], got, want);
            }
        }
    }
    unlink(out);
    rmdir(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stories260K),
        cmocka_unit_test(test_tiny_llama),
        cmocka_unit_test(test_tiny_qwen2),
        cmocka_unit_test(test_tiny_qwen2_bpe),
        cmocka_unit_test(test_threads_variants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

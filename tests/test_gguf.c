/* test_gguf.c: the GGUF reader and writer: every reference GGUF against llama.cpp's index and
 * metadata dumps, byte-exact round trips, one mutation per format rule with its exact error (in
 * the library and through `lm inspect`), every truncation, and the writer's own checks. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../format/format.h"
#include "support/testutil.h"
#include "../common/banned.h"

#define MAX_FILES 64

static void hex_sha(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    lm_sha256_buf(p, n, d);
    lm_hex(d, 32, out);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- reference files: $LM_MODELS/<fixture>/ref/{gguf-index.tsv, gguf/, gguf-meta/} ------- */

struct ref_file {
    char dir[512];     /* <fixture>/ref */
    char name[128];
    char path[768];
};

/* The GGUFs named in every gguf-index.tsv that exist on disk, plus the vocab GGUFs if `vocab`. */
static size_t ref_files(struct ref_file *out, size_t max, bool vocab)
{
    const char *models = lm_models();
    size_t n = 0;
    DIR *d = models ? opendir(models) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char tsv[1024];
        struct lm_buf b = LM_BUF_INIT(64u << 20);
        snprintf(tsv, sizeof(tsv), "%s/%s/ref/gguf-index.tsv", models, e->d_name);
        if (e->d_name[0] == '.' || lm_read_file(tsv, b.max, &b, NULL))
            continue;
        assert_int_equal(lm_buf_add(&b, "", 1), 0);
        for (char *line = b.data, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = 0;
            char *tab = strchr(line, '\t');
            if (!tab || strncmp(line, "file\t", 5) == 0)
                continue;
            *tab = 0;
            if (n && strcmp(out[n - 1].name, line) == 0)
                continue;
            assert_true(n < max);
            struct ref_file *f = &out[n];
            snprintf(f->dir, sizeof(f->dir), "%s/%s/ref", models, e->d_name);
            snprintf(f->name, sizeof(f->name), "%s", line);
            snprintf(f->path, sizeof(f->path), "%s/gguf/%s", f->dir, line);
            if (exists(f->path))
                n++;
        }
        lm_buf_release(&b);
    }
    if (d)
        closedir(d);
    if (vocab && models) {
        static const char *names[] = { "ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf",
                                       "ggml-vocab-qwen2.5.gguf", "ggml-vocab-bert-bge.gguf" };
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && n < max; i++) {
            struct ref_file *f = &out[n];
            snprintf(f->dir, sizeof(f->dir), "%s/vocab", models);
            snprintf(f->name, sizeof(f->name), "%s", names[i]);
            snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, names[i]);
            if (exists(f->path))
                n++;
        }
    }
    return n;
}

static void need_models(void)
{
    if (!lm_models()) {
        fprintf(stderr, "LM_MODELS (%s) is absent: no reference GGUFs\n",
                getenv("LM_MODELS") ? getenv("LM_MODELS") : "../shared/models");
        skip();
    }
}

/* One gguf-index.tsv row against the tensor it names. */
static void check_tensor_row(const struct gguf *g, char **col)
{
    /* file file_size file_sha256 tensor_index name type type_id shape data_offset file_offset
     * nbytes sha256 */
    const struct gguf_tensor *t = gguf_tensor_at(g, strtoull(col[3], NULL, 10));
    assert_non_null(t);
    assert_string_equal(t->name, col[4]);
    assert_ptr_equal(gguf_tensor_find(g, col[4]), t);
    assert_string_equal(lm_type_get(t->type)->name, col[5]);
    assert_int_equal(t->type, strtoul(col[6], NULL, 10));
    char shape[128] = "";
    size_t o = 0;
    for (uint32_t d = 0; d < t->n_dims; d++)
        o += (size_t)snprintf(shape + o, sizeof(shape) - o, "%s%llu", d ? "," : "",
                              (unsigned long long)t->ne[d]);
    assert_string_equal(shape, col[7]);
    assert_int_equal(t->offset, strtoull(col[8], NULL, 10));
    assert_int_equal(t->data - gguf_bytes(g), strtoull(col[9], NULL, 10));
    assert_int_equal(t->nbytes, strtoull(col[10], NULL, 10));
    char hex[65];
    hex_sha(t->data, t->nbytes, hex);
    assert_string_equal(hex, col[11]);
}

static void check_kv_json(const struct gguf_kv *kv, json_t *j)
{
    assert_int_equal(kv->key.len, strlen(json_string_value(json_object_get(j, "key"))));
    assert_memory_equal(kv->key.p, json_string_value(json_object_get(j, "key")), kv->key.len);
    assert_string_equal(gguf_vtype_name(kv->type), json_string_value(json_object_get(j, "type")));
    json_t *v = json_object_get(j, "value");
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    struct gguf_str s;
    char hex[65];
    switch (kv->type) {
    case GGUF_ARRAY:
        assert_string_equal(gguf_vtype_name(kv->arr_type),
                            json_string_value(json_object_get(j, "item_type")));
        assert_int_equal(kv->arr_len, json_integer_value(json_object_get(j, "length")));
        hex_sha(kv->raw, kv->raw_len, hex);
        assert_string_equal(hex, json_string_value(json_object_get(j, "sha256")));
        break;
    case GGUF_STRING:
        assert_int_equal(gguf_kv_str(kv, &s), 0);
        assert_int_equal(s.len, json_string_length(v));
        assert_memory_equal(s.p, json_string_value(v), s.len);
        break;
    case GGUF_BOOL:
        assert_int_equal(gguf_kv_bool(kv, &b), 0);
        assert_int_equal(b, json_is_true(v));
        break;
    case GGUF_F32: case GGUF_F64:
        assert_int_equal(gguf_kv_f64(kv, &f), 0);
        assert_true(f == json_number_value(v));
        break;
    case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
        assert_int_equal(gguf_kv_i64(kv, &i), 0);
        assert_int_equal(i, json_integer_value(v));
        break;
    default:
        assert_int_equal(gguf_kv_u64(kv, &u), 0);
        assert_int_equal(u, json_integer_value(v));
        break;
    }
}

static void check_meta(const struct gguf *g, const struct ref_file *f)
{
    char path[1024];
    snprintf(path, sizeof(path), "%.511s/gguf-meta/%.127s.json", f->dir, f->name);
    json_error_t je;
    json_t *m = json_load_file(path, 0, &je);
    if (!m)
        fail_msg("%s: %s", path, je.text);
    assert_int_equal(gguf_version(g), json_integer_value(json_object_get(m, "gguf_version")));
    assert_int_equal(gguf_n_tensors(g), json_integer_value(json_object_get(m, "tensor_count")));
    assert_int_equal(gguf_n_kv(g), json_integer_value(json_object_get(m, "kv_count")));
    assert_int_equal(gguf_alignment(g), json_integer_value(json_object_get(m, "alignment")));
    assert_int_equal(gguf_data_offset(g), json_integer_value(json_object_get(m, "data_offset")));
    assert_int_equal(gguf_file_size(g), json_integer_value(json_object_get(m, "size")));
    json_t *kvs = json_object_get(m, "kv");
    assert_int_equal(json_array_size(kvs), gguf_n_kv(g));
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        check_kv_json(kv, json_array_get(kvs, i));
        assert_ptr_equal(gguf_kv_find(g, json_string_value(json_object_get(
                                              json_array_get(kvs, i), "key"))), kv);
    }
    json_decref(m);
}

/* Every tsv row of file f, then its metadata dump. */
static void check_ref_file(const struct ref_file *f)
{
    char tsv[1024], hex[65];
    struct lm_buf b = LM_BUF_INIT(64u << 20);
    struct lm_err err;
    snprintf(tsv, sizeof(tsv), "%.511s/gguf-index.tsv", f->dir);
    assert_int_equal(lm_read_file(tsv, b.max, &b, NULL), 0);
    assert_int_equal(lm_buf_add(&b, "", 1), 0);
    struct gguf *g = gguf_open(f->path, &err);
    if (!g)
        fail_msg("%s: %s", f->path, err.msg);
    hex_sha(gguf_bytes(g), gguf_file_size(g), hex);
    uint64_t rows = 0;
    for (char *line = b.data, *next; line && *line; line = next) {
        char *col[12];
        int n = 0;
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        for (char *c = line; c && n < 12; n++) {
            col[n] = c;
            c = strchr(c, '\t');
            if (c)
                *c++ = 0;
        }
        if (n < 12 || strcmp(col[0], f->name) != 0)
            continue;
        assert_int_equal(gguf_file_size(g), strtoull(col[1], NULL, 10));
        assert_string_equal(hex, col[2]);
        check_tensor_row(g, col);
        rows++;
    }
    assert_int_equal(rows, gguf_n_tensors(g));
    check_meta(g, f);
    gguf_close(g);
    lm_buf_release(&b);
}

static void test_reference_files(void **state)
{
    (void)state;
    need_models();
    struct ref_file files[MAX_FILES];
    size_t n = ref_files(files, MAX_FILES, false);
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++)
        check_ref_file(&files[i]);
    printf("# checked %zu reference GGUFs\n", n);
}

/* ---- round trip --------------------------------------------------------------------------- */

/* Rewrite g with the writer, feeding tensor data in pieces of `chunk` bytes. */
static void rewrite(const struct gguf *g, const char *out, size_t chunk)
{
    struct lm_err err;
    struct gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(gguf_writer_set_version(w, gguf_version(g)), 0);
    assert_int_equal(gguf_writer_set_alignment(w, gguf_alignment(g), &err), 0);
    for (uint64_t i = 0; i < gguf_n_kv(g); i++)
        if (gguf_writer_add_kv(w, gguf_kv_at(g, i), &err))
            fail_msg("add_kv %llu: %s", (unsigned long long)i, err.msg);
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        if (gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, &err))
            fail_msg("add_tensor %s: %s", t->name, err.msg);
    }
    assert_int_equal(gguf_writer_data_offset(w), gguf_data_offset(g));
    assert_int_equal(gguf_writer_file_size(w), gguf_file_size(g));
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(gguf_writer_begin(w, fd, out, &err), 0);
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        for (uint64_t o = 0; o < t->nbytes; o += chunk) {
            size_t k = t->nbytes - o < chunk ? (size_t)(t->nbytes - o) : chunk;
            assert_int_equal(gguf_writer_write_data(w, t->data + o, k, &err), 0);
        }
    }
    if (gguf_writer_finish(w, &err))
        fail_msg("finish: %s", err.msg);
    assert_int_equal(close(fd), 0);
    gguf_writer_free(w);
}

static void test_round_trip(void **state)
{
    (void)state;
    need_models();
    struct ref_file files[MAX_FILES];
    size_t n = ref_files(files, MAX_FILES, true);
    char *dir = make_tmpdir();
    assert_non_null(dir);
    for (size_t i = 0; i < n; i++) {
        struct lm_err err;
        char out[1024], in_hex[65], out_hex[65];
        uint64_t size;
        struct gguf *g = gguf_open(files[i].path, &err);
        if (!g)
            fail_msg("%s: %s", files[i].path, err.msg);
        snprintf(out, sizeof(out), "%s/%s", dir, files[i].name);
        /* Whole tensors, odd pieces and pieces bigger than the writer's buffer. */
        static const size_t chunks[] = { SIZE_MAX, 1000, 7, 3u << 20 };
        rewrite(g, out, chunks[i % 4]);
        hex_sha(gguf_bytes(g), gguf_file_size(g), in_hex);
        assert_int_equal(lm_sha256_file(out, out_hex, &size, &err), 0);
        if (strcmp(in_hex, out_hex) != 0)
            fail_msg("%s: rewritten file differs", files[i].name);
        assert_int_equal(size, gguf_file_size(g));
        unlink(out);
        gguf_close(g);
    }
    printf("# rewrote %zu GGUFs byte for byte\n", n);
    rm_rf(dir);
    free(dir);
}

/* ---- a small valid file with every value type ---------------------------------------------- */

static struct gguf_kv raw_kv(const char *key, enum gguf_vtype type, const void *raw, size_t n)
{
    struct gguf_kv kv = { { key, strlen(key) }, type, 0, 0, raw, n, 0 };
    return kv;
}

/* kv and tensor numbers that the mutation rows refer to */
enum {
    KV_ARCH, KV_ALIGN, KV_U8, KV_I8, KV_U16, KV_I16, KV_U32, KV_I32, KV_F32, KV_BOOL, KV_U64,
    KV_I64, KV_F64, KV_STRS, KV_U32S, KV_F32S, KV_BOOLS, KV_EMPTY, N_KV
};
enum { T_TOK, T_Q, T_H, N_T };

struct base_opts {
    uint32_t version;
    bool align_key;   /* general.alignment = 64 */
    bool tensors;
};

static void add_base_kvs(struct gguf_writer *w, bool align_key)
{
    struct lm_err err;
    static const uint8_t u8 = 200, i8 = 0xFB, u16[2] = { 0x60, 0xEA }, i16[2] = { 0xD0, 0x8A };
    static const uint8_t i64[8] = { 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF };   /* -2^40 */
    static const uint8_t f64[8] = { 0, 0, 0, 0, 0, 0, 0xD0, 0x3F };      /* 0.25 */
    static const struct gguf_str strs[] = { { "a", 1 }, { "bc", 2 }, { "", 0 } };
    static const uint8_t u32s[12] = { 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0 };
    static const uint8_t f32s[8] = { 0, 0, 0xC0, 0x3F, 0, 0, 0, 0xC0 };   /* 1.5, -2 */
    static const uint8_t bools[3] = { 1, 0, 1 };
    struct gguf_kv kv;
    assert_int_equal(gguf_writer_add_str(w, "general.architecture", "llama", 5, &err), 0);
    if (align_key)
        assert_int_equal(gguf_writer_add_u32(w, "general.alignment", 64, &err), 0);
    else
        assert_int_equal(gguf_writer_add_u32(w, "test.align_none", 64, &err), 0);
    kv = raw_kv("test.u8", GGUF_U8, &u8, 1);
    assert_int_equal(gguf_writer_add_kv(w, &kv, &err), 0);
    kv = raw_kv("test.i8", GGUF_I8, &i8, 1);
    assert_int_equal(gguf_writer_add_kv(w, &kv, &err), 0);
    kv = raw_kv("test.u16", GGUF_U16, u16, 2);
    assert_int_equal(gguf_writer_add_kv(w, &kv, &err), 0);
    kv = raw_kv("test.i16", GGUF_I16, i16, 2);
    assert_int_equal(gguf_writer_add_kv(w, &kv, &err), 0);
    assert_int_equal(gguf_writer_add_u32(w, "test.u32", 4000000000u, &err), 0);
    assert_int_equal(gguf_writer_add_i32(w, "test.i32", -2000000000, &err), 0);
    assert_int_equal(gguf_writer_add_f32(w, "test.f32", 0.5f, &err), 0);
    assert_int_equal(gguf_writer_add_bool(w, "test.bool", true, &err), 0);
    assert_int_equal(gguf_writer_add_u64(w, "test.u64", 1ull << 40, &err), 0);
    kv = raw_kv("test.i64", GGUF_I64, i64, 8);
    assert_int_equal(gguf_writer_add_kv(w, &kv, &err), 0);
    kv = raw_kv("test.f64", GGUF_F64, f64, 8);
    assert_int_equal(gguf_writer_add_kv(w, &kv, &err), 0);
    assert_int_equal(gguf_writer_add_arr_str(w, "test.strs", strs, 3, &err), 0);
    assert_int_equal(gguf_writer_add_arr_num(w, "test.u32s", GGUF_U32, u32s, 3, &err), 0);
    assert_int_equal(gguf_writer_add_arr_num(w, "test.f32s", GGUF_F32, f32s, 2, &err), 0);
    assert_int_equal(gguf_writer_add_arr_num(w, "test.bools", GGUF_BOOL, bools, 3, &err), 0);
    assert_int_equal(gguf_writer_add_arr_num(w, "test.empty", GGUF_I32, NULL, 0, &err), 0);
}

/* Tensor data: byte i of tensor t is (t * 40 + i) & 255; sizes 32, 136 and 64 bytes. */
static const struct {
    const char *name;
    uint32_t type, n_dims;
    uint64_t ne[4], nbytes;
} base_t[] = {
    { "tok.weight", LM_TYPE_F16, 2, { 8, 2, 1, 1 }, 32 },
    { "blk.0.q", LM_TYPE_Q8_0, 2, { 64, 2, 1, 1 }, 136 },
    { "blk.0.h", LM_TYPE_F32, 1, { 16, 1, 1, 1 }, 64 },   /* fills its padding: every cut fails */
};

static uint8_t *build(const struct base_opts *o, size_t *len)
{
    struct lm_err err;
    char path[] = "/tmp/lm-gguf-base-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct gguf_writer *w = gguf_writer_new();
    assert_non_null(w);
    assert_int_equal(gguf_writer_set_version(w, o->version), 0);
    add_base_kvs(w, o->align_key);
    for (size_t i = 0; o->tensors && i < N_T; i++)
        assert_int_equal(gguf_writer_add_tensor(w, base_t[i].name, base_t[i].type,
                                                base_t[i].n_dims, base_t[i].ne, &err), 0);
    assert_int_equal(gguf_writer_begin(w, fd, path, &err), 0);
    for (size_t i = 0; o->tensors && i < N_T; i++) {
        uint8_t data[256];
        for (size_t k = 0; k < base_t[i].nbytes; k++)
            data[k] = (uint8_t)(i * 40 + k);
        assert_int_equal(gguf_writer_write_data(w, data, base_t[i].nbytes, &err), 0);
    }
    assert_int_equal(gguf_writer_finish(w, &err), 0);
    uint64_t want = gguf_writer_file_size(w);
    gguf_writer_free(w);
    close(fd);
    struct lm_buf b = LM_BUF_INIT(1u << 20);
    assert_int_equal(lm_read_file(path, b.max, &b, &err), 0);
    unlink(path);
    assert_int_equal(b.len, want);
    *len = b.len;
    return (uint8_t *)b.data;
}

static uint8_t *build_base(size_t *len)
{
    static const struct base_opts o = { 3, true, true };
    return build(&o, len);
}

static void test_base_file(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = build_base(&len);
    struct lm_err err;
    struct gguf *g = gguf_open_mem(p, len, "base.gguf", &err);
    if (!g)
        fail_msg("%s", err.msg);
    assert_int_equal(gguf_version(g), 3);
    assert_int_equal(gguf_alignment(g), 64);
    assert_int_equal(gguf_n_kv(g), N_KV);
    assert_int_equal(gguf_n_tensors(g), N_T);
    assert_int_equal(gguf_data_offset(g) % 64, 0);
    assert_int_equal(gguf_file_size(g), gguf_data_offset(g) + 64 + 192 + 64);
    for (size_t i = 0; i < N_T; i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        static const uint64_t offsets[] = { 0, 64, 256 };
        assert_string_equal(t->name, base_t[i].name);
        assert_int_equal(t->offset, offsets[i]);
        assert_int_equal(t->nbytes, base_t[i].nbytes);
        assert_int_equal(t->n_dims, base_t[i].n_dims);
        assert_memory_equal(t->ne, base_t[i].ne, sizeof(t->ne));
        assert_int_equal(t->data[5], (uint8_t)(i * 40 + 5));
        /* Zero padding up to the next tensor. */
        for (uint64_t k = t->nbytes; k < lm_pad(t->nbytes, 64); k++)
            assert_int_equal(t->data[k], 0);
    }
    assert_null(gguf_tensor_find(g, "blk.0"));
    assert_null(gguf_kv_find(g, "test"));
    assert_null(gguf_kv_at(g, N_KV));
    assert_null(gguf_tensor_at(g, N_T));
    gguf_close(g);
    free(p);
}

/* Conversions: which accessor accepts which kv, and the exact value. */
static void test_accessors(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        int u_rc; uint64_t u;
        int i_rc; int64_t i;
        int f_rc; double f;
    } rows[] = {
        { "test.u8", 0, 200, 0, 200, -1, 0 },
        { "test.i8", -1, 0, 0, -5, -1, 0 },
        { "test.u16", 0, 60000, 0, 60000, -1, 0 },
        { "test.i16", -1, 0, 0, -30000, -1, 0 },
        { "test.u32", 0, 4000000000u, 0, 4000000000, -1, 0 },
        { "test.i32", -1, 0, 0, -2000000000, -1, 0 },
        { "test.f32", -1, 0, -1, 0, 0, 0.5 },
        { "test.bool", -1, 0, -1, 0, -1, 0 },
        { "test.u64", 0, 1ull << 40, 0, 1ll << 40, -1, 0 },
        { "test.i64", -1, 0, 0, -(1ll << 40), -1, 0 },
        { "test.f64", -1, 0, -1, 0, 0, 0.25 },
        { "general.architecture", -1, 0, -1, 0, -1, 0 },
        { "test.u32s", -1, 0, -1, 0, -1, 0 },
    };
    size_t len;
    uint8_t *p = build_base(&len);
    struct lm_err err;
    struct gguf *g = gguf_open_mem(p, len, "base.gguf", &err);
    assert_non_null(g);
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        const struct gguf_kv *kv = gguf_kv_find(g, rows[r].key);
        uint64_t u = 0;
        int64_t i = 0;
        double f = 0;
        assert_non_null(kv);
        assert_int_equal(gguf_kv_u64(kv, &u), rows[r].u_rc);
        assert_int_equal(gguf_kv_i64(kv, &i), rows[r].i_rc);
        assert_int_equal(gguf_kv_f64(kv, &f), rows[r].f_rc);
        assert_int_equal(u, rows[r].u);
        assert_int_equal(i, rows[r].i);
        assert_true(f == rows[r].f);
    }
    bool b;
    struct gguf_str s, *strs;
    assert_int_equal(gguf_kv_bool(gguf_kv_find(g, "test.bool"), &b), 0);
    assert_true(b);
    assert_int_equal(gguf_kv_bool(gguf_kv_find(g, "test.u8"), &b), -1);
    assert_int_equal(gguf_kv_str(gguf_kv_find(g, "general.architecture"), &s), 0);
    assert_int_equal(s.len, 5);
    assert_memory_equal(s.p, "llama", 5);
    assert_int_equal(gguf_kv_str(gguf_kv_find(g, "test.strs"), &s), -1);

    const struct gguf_kv *kv = gguf_kv_find(g, "test.strs");
    assert_int_equal(kv->arr_len, 3);
    assert_int_equal(gguf_arr_strs(kv, &strs, &err), 0);
    assert_int_equal(strs[0].len, 1);
    assert_memory_equal(strs[1].p, "bc", 2);
    assert_int_equal(strs[2].len, 0);
    free(strs);
    assert_int_equal(gguf_arr_strs(gguf_kv_find(g, "test.u32s"), &strs, &err), -1);
    assert_int_equal(err.code, LM_EUSAGE);
    assert_string_equal(err.msg, "key 'test.u32s' is not a string array");

    uint64_t u;
    int64_t i;
    double f;
    kv = gguf_kv_find(g, "test.u32s");
    assert_int_equal(gguf_arr_u64(kv, 2, &u), 0);
    assert_int_equal(u, 3);
    assert_int_equal(gguf_arr_i64(kv, 0, &i), 0);
    assert_int_equal(i, 1);
    assert_int_equal(gguf_arr_u64(kv, 3, &u), -1);   /* past the end */
    assert_int_equal(gguf_arr_f64(kv, 0, &f), -1);
    kv = gguf_kv_find(g, "test.f32s");
    assert_int_equal(gguf_arr_f64(kv, 1, &f), 0);
    assert_true(f == -2.0);
    assert_int_equal(gguf_arr_i64(kv, 1, &i), -1);
    kv = gguf_kv_find(g, "test.bools");
    assert_int_equal(gguf_arr_u64(kv, 1, &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(gguf_arr_u64(kv, 2, &u), 0);
    assert_int_equal(u, 1);
    assert_int_equal(gguf_arr_u64(kv, 3, &u), -1);
    assert_int_equal(gguf_arr_i64(kv, 0, &i), -1);
    assert_int_equal(gguf_arr_u64(gguf_kv_find(g, "test.strs"), 0, &u), -1);
    assert_int_equal(gguf_arr_u64(gguf_kv_find(g, "test.empty"), 0, &u), -1);
    assert_int_equal(gguf_kv_find(g, "test.empty")->arr_len, 0);
    assert_int_equal(gguf_arr_u64(gguf_kv_find(g, "test.u32"), 0, &u), -1);   /* not an array */

    assert_string_equal(gguf_vtype_name(GGUF_F64), "FLOAT64");
    assert_string_equal(gguf_vtype_name(GGUF_VTYPE_COUNT), "UNKNOWN");
    assert_int_equal(gguf_vtype_size(GGUF_I16), 2);
    assert_int_equal(gguf_vtype_size(GGUF_STRING), 0);
    gguf_close(g);
    free(p);
}

/* ---- hostile files: one mutation per rule ------------------------------------------------- */

enum loc {
    AT_ABS,       /* delta from byte 0 */
    AT_KV,        /* start of kv idx (its key length) */
    AT_KV_TYPE,   /* its value type */
    AT_KV_VAL,    /* its value; for arrays the first item (item type at -12, count at -8) */
    AT_TI,        /* start of tensor info idx (its name length) */
    AT_TI_NDIMS,
    AT_TI_NE,     /* ne[0]; add 8 * d for ne[d] */
    AT_TI_TYPE,
    AT_TI_OFF,
    AT_END,       /* delta from the end of the file */
};

struct hostile {
    const char *what;
    enum loc loc;
    unsigned idx;
    int64_t delta;
    unsigned width;   /* bytes of `value` to write little-endian; 0 = cut the file there */
    uint64_t value;
    uint64_t off;     /* expected error offset */
    const char *msg;  /* expected error message */
};

#define U64MAX 0xFFFFFFFFFFFFFFFFull

static const struct hostile rows[] = {
    { "magic", AT_ABS, 0, 3, 1, 'X', 0, "bad magic 'GGUX', not a GGUF file" },
    { "version 1", AT_ABS, 0, 4, 4, 1, 4, "GGUF version 1 is not supported (lm reads 2 and 3)" },
    { "version 0", AT_ABS, 0, 4, 4, 0, 4, "GGUF version 0 is not supported (lm reads 2 and 3)" },
    { "version 4", AT_ABS, 0, 4, 4, 4, 4, "GGUF version 4 is not supported (lm reads 2 and 3)" },
    { "big-endian", AT_ABS, 0, 4, 4, 0x03000000, 4,
      "big-endian GGUF (version word 0x03000000) is not supported" },
    { "tensor count max", AT_ABS, 0, 8, 8, U64MAX, 8,
      "tensor count 18446744073709551615 is over the limit of 1048576" },
    { "tensor count fit", AT_ABS, 0, 8, 8, 1000, 8,
      "tensor count 1000 cannot fit in 1064 bytes left" },
    { "kv count max", AT_ABS, 0, 16, 8, 65537, 16, "key count 65537 is over the limit of 65536" },
    { "kv count fit", AT_ABS, 0, 16, 8, 1000, 16, "key count 1000 cannot fit in 1064 bytes left" },
    { "key length limit", AT_KV, KV_ARCH, 0, 8, 1ull << 31, 24,
      "key length 2147483648 is over the limit of 1073741824" },
    { "key length past end", AT_KV, KV_ARCH, 0, 8, 1ull << 29, 32,
      "key needs 536870912 bytes, 1056 left" },
    { "key empty", AT_KV, KV_ARCH, 0, 8, 0, 24, "key 0 is empty" },
    { "key control byte", AT_KV, KV_U8, 12, 1, 1, 114,
      "key 'test\\x01u8' has byte 0x01, not printable ASCII" },
    { "key DEL byte", AT_KV, KV_U8, 14, 1, 0x7f, 116,
      "key 'test.u\\x7f' has byte 0x7f, not printable ASCII" },
    { "duplicate key", AT_KV, KV_U8, 13, 1, 'i', 122,
      "duplicate key 'test.i8' (first at byte 102)" },
    { "value type", AT_KV_TYPE, KV_U32, 0, 4, 13, 202, "key 'test.u32' has unknown value type 13" },
    { "value type max", AT_KV_TYPE, KV_U32, 0, 4, U64MAX, 202,
      "key 'test.u32' has unknown value type 4294967295" },
    { "bool byte", AT_KV_VAL, KV_BOOL, 0, 1, 2, 279,
      "key 'test.bool' has bool value 2, not 0 or 1" },
    { "string length limit", AT_KV_VAL, KV_ARCH, 0, 8, 1ull << 40, 56,
      "value of 'general.architecture' length 1099511627776 is over the limit of 1073741824" },
    { "string past end", AT_KV_VAL, KV_ARCH, 0, 8, 10000, 64,
      "value of 'general.architecture' needs 10000 bytes, 1024 left" },
    { "item type", AT_KV_VAL, KV_U32S, -12, 4, 13, 445,
      "array 'test.u32s' has unknown item type 13" },
    { "nested array", AT_KV_VAL, KV_U32S, -12, 4, GGUF_ARRAY, 445,
      "array 'test.u32s' has ARRAY items; nested arrays are not allowed" },
    { "array count", AT_KV_VAL, KV_U32S, -8, 8, 1ull << 62, 449,
      "array 'test.u32s' count 4611686018427387904 cannot fit in 631 bytes left" },
    { "array count bytes", AT_KV_VAL, KV_U32S, -8, 8, 158, 449,
      "array 'test.u32s' count 158 cannot fit in 631 bytes left" },
    { "string array count", AT_KV_VAL, KV_STRS, -8, 8, 1ull << 61, 389,
      "array 'test.strs' count 2305843009213693952 cannot fit in 691 bytes left" },
    { "string item past end", AT_KV_VAL, KV_STRS, 9, 8, 1ull << 29, 414,
      "item 1 of 'test.strs' needs 536870912 bytes, 674 left" },
    { "string item limit", AT_KV_VAL, KV_STRS, 9, 8, U64MAX, 406,
      "item 1 of 'test.strs' length 18446744073709551615 is over the limit of 1073741824" },
    { "bool item", AT_KV_VAL, KV_BOOLS, 1, 1, 7, 545,
      "item 1 of 'test.bools' has bool value 7, not 0 or 1" },
    { "alignment type", AT_KV_TYPE, KV_ALIGN, 0, 4, GGUF_I32, 94,
      "general.alignment must be UINT32, not INT32" },
    { "alignment zero", AT_KV_VAL, KV_ALIGN, 0, 4, 0, 98,
      "general.alignment 0 is not a power of two" },
    { "alignment 48", AT_KV_VAL, KV_ALIGN, 0, 4, 48, 98,
      "general.alignment 48 is not a power of two" },
    { "tensor name empty", AT_TI, T_TOK, 0, 8, 0, 581, "tensor 0 name is empty" },
    { "tensor name long", AT_TI, T_TOK, 0, 8, 64, 581,
      "tensor 0 name length 64 is over the limit of 63" },
    { "cut in tensor name", AT_TI, T_H, 10, 0, 0, 686, "tensor 2 name needs 7 bytes, 2 left" },
    { "tensor name NUL", AT_TI, T_Q, 11, 1, 0, 642,
      "tensor name 'blk\\x000.q' contains a NUL byte" },
    { "duplicate tensor", AT_TI, T_H, 14, 1, 'q', 678,
      "duplicate tensor name 'blk.0.q' (first is tensor 1)" },
    { "n_dims 0", AT_TI_NDIMS, T_TOK, 0, 4, 0, 599,
      "tensor 'tok.weight' has 0 dimensions, expected 1 to 4" },
    { "n_dims 5", AT_TI_NDIMS, T_TOK, 0, 4, 5, 599,
      "tensor 'tok.weight' has 5 dimensions, expected 1 to 4" },
    { "ne negative", AT_TI_NE, T_TOK, 8, 8, 1ull << 63, 611,
      "tensor 'tok.weight' dimension 1 is negative (-9223372036854775808)" },
    { "ne zero", AT_TI_NE, T_TOK, 8, 8, 0, 611, "tensor 'tok.weight' dimension 1 is 0" },
    { "ne overflow", AT_TI_NE, T_TOK, 0, 8, 1ull << 62, 611,
      "tensor 'tok.weight' element count overflows int64 at dimension 1" },
    { "type unknown", AT_TI_TYPE, T_TOK, 0, 4, 40, 619, "tensor 'tok.weight' has unknown type 40" },
    { "type retired", AT_TI_TYPE, T_TOK, 0, 4, 4, 619, "tensor 'tok.weight' has retired type 4" },
    { "type max", AT_TI_TYPE, T_TOK, 0, 4, U64MAX, 619,
      "tensor 'tok.weight' has unknown type 4294967295" },
    { "row blocks", AT_TI_NE, T_Q, 0, 8, 48, 650,
      "tensor 'blk.0.q' of type Q8_0 has 48 elements per row, not a multiple of the block size "
      "32" },
    { "byte size overflow", AT_TI_NE, T_H, 0, 8, 1ull << 62, 697,
      "tensor 'blk.0.h' byte size overflows (4611686018427387904 elements of F32)" },
    { "offset first", AT_TI_OFF, T_TOK, 0, 8, 64, 623,
      "tensor 'tok.weight' has offset 64, expected 0" },
    { "offset gap", AT_TI_OFF, T_Q, 0, 8, 128, 670,
      "tensor 'blk.0.q' has offset 128, expected 64" },
    { "offset overlap", AT_TI_OFF, T_H, 0, 8, 64, 709,
      "tensor 'blk.0.h' has offset 64, expected 256" },
    { "data past end", AT_TI_NE, T_H, 0, 8, 32, 709,
      "tensor 'blk.0.h' data ends past end of file (768 + 256 + 128 > 1088 bytes)" },
    { "cut in magic", AT_ABS, 0, 2, 0, 0, 0, "magic needs 4 bytes, 2 left" },
    { "cut in version", AT_ABS, 0, 6, 0, 0, 4, "version needs 4 bytes, 2 left" },
    { "cut in kv count", AT_ABS, 0, 20, 0, 0, 16, "key count needs 8 bytes, 4 left" },
    { "cut in value", AT_KV_VAL, KV_U64, 2, 0, 0, 300,
      "value of 'test.u64' needs 8 bytes, 2 left" },
    { "cut before counts fit", AT_KV_VAL, KV_U32, 2, 0, 0, 16,
      "key count 18 cannot fit in 184 bytes left" },
    { "cut in item type", AT_KV_VAL, KV_F32S, -10, 0, 0, 490,
      "item type of 'test.f32s' needs 4 bytes, 2 left" },
    { "cut in ne", AT_TI_NE, T_Q, 13, 0, 0, 658,
      "dimension 1 of tensor 'blk.0.q' needs 8 bytes, 5 left" },
    { "cut in data", AT_END, 0, -1, 0, 0, 709,
      "tensor 'blk.0.h' data ends past end of file (768 + 256 + 64 > 1087 bytes)" },
};

struct layout {
    uint64_t kv[N_KV], kv_type[N_KV], kv_val[N_KV];
    uint64_t ti[N_T], ti_ndims[N_T], ti_ne[N_T], ti_type[N_T], ti_off[N_T];
};

/* Where each field of the base file is, from the reader's kvs and the known tensor infos. */
static void base_layout(const uint8_t *p, size_t len, struct layout *l)
{
    struct lm_err err;
    struct gguf *g = gguf_open_mem(p, len, "base.gguf", &err);
    assert_non_null(g);
    uint64_t at = 0;
    for (unsigned i = 0; i < N_KV; i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        l->kv[i] = kv->file_off;
        l->kv_type[i] = kv->file_off + 8 + kv->key.len;
        l->kv_val[i] = (uint64_t)(kv->raw - p);
        at = l->kv_val[i] + kv->raw_len;
    }
    for (unsigned i = 0; i < N_T; i++) {
        l->ti[i] = at;
        l->ti_ndims[i] = at + 8 + strlen(base_t[i].name);
        l->ti_ne[i] = l->ti_ndims[i] + 4;
        l->ti_type[i] = l->ti_ne[i] + 8 * base_t[i].n_dims;
        l->ti_off[i] = l->ti_type[i] + 4;
        at = l->ti_off[i] + 8;
    }
    gguf_close(g);
}

static uint64_t locate(const struct layout *l, const struct hostile *h, size_t len)
{
    uint64_t base = 0;
    switch (h->loc) {
    case AT_ABS: base = 0; break;
    case AT_KV: base = l->kv[h->idx]; break;
    case AT_KV_TYPE: base = l->kv_type[h->idx]; break;
    case AT_KV_VAL: base = l->kv_val[h->idx]; break;
    case AT_TI: base = l->ti[h->idx]; break;
    case AT_TI_NDIMS: base = l->ti_ndims[h->idx]; break;
    case AT_TI_NE: base = l->ti_ne[h->idx]; break;
    case AT_TI_TYPE: base = l->ti_type[h->idx]; break;
    case AT_TI_OFF: base = l->ti_off[h->idx]; break;
    case AT_END: base = len; break;
    }
    return base + (uint64_t)h->delta;
}

/* Apply row h to a copy of the base file; returns the new length. */
static size_t mutate(const uint8_t *base, size_t len, const struct hostile *h, uint8_t *out)
{
    struct layout l;
    base_layout(base, len, &l);
    uint64_t at = locate(&l, h, len);
    memcpy(out, base, len);
    if (h->width == 0) {
        assert_true(at < len);
        return (size_t)at;
    }
    assert_true(at + h->width <= len);
    for (unsigned i = 0; i < h->width; i++)
        out[at + i] = (uint8_t)(h->value >> (8 * i));
    return len;
}

static void test_hostile(void **state)
{
    (void)state;
    size_t len;
    uint8_t *base = build_base(&len);
    uint8_t *buf = malloc(len);
    int bad = 0;
    assert_int_equal(len, 1088);   /* the offsets below are for this layout */
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        const struct hostile *h = &rows[r];
        struct lm_err err;
        lm_err_clear(&err);
        size_t n = mutate(base, len, h, buf);
        struct gguf *g = gguf_open_mem(buf, n, "bad.gguf", &err);
        if (g) {
            print_error("row '%s' was accepted\n", h->what);
            gguf_close(g);
            bad++;
        } else if (err.code != LM_ECORRUPT || err.off != h->off || strcmp(err.msg, h->msg) ||
                   strcmp(err.path, "bad.gguf")) {
            print_error("row '%s': got code %d at byte %llu: \"%s\"\n", h->what, err.code,
                        (unsigned long long)err.off, err.msg);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
    free(buf);
    free(base);
}

/* The same rows through `lm inspect`: exit 1 and exactly one line on stderr. */
static void test_hostile_cli(void **state)
{
    (void)state;
    const char *lm = lm_bin();
    if (!lm) {
        fprintf(stderr, "LM_BIN is unset or not executable: lm inspect not tested\n");
        skip();
    }
    char *probe[] = { (char *)lm, "inspect", "--help", NULL };
    struct run_result rr;
    assert_int_equal(run_capture(probe, &rr), 0);
    int probe_status = rr.status;
    run_result_free(&rr);
    if (probe_status != 0) {
        fprintf(stderr, "%s has no inspect command\n", lm);
        skip();
    }
    size_t len;
    uint8_t *base = build_base(&len);
    uint8_t *buf = malloc(len);
    char *dir = make_tmpdir();
    assert_non_null(dir);
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        const struct hostile *h = &rows[r];
        char path[1024], want[2048];
        struct lm_err err;
        size_t n = mutate(base, len, h, buf);
        snprintf(path, sizeof(path), "%s/row%02zu.gguf", dir, r);
        assert_int_equal(lm_write_file_atomic(path, buf, n, &err), 0);
        char *argv[] = { (char *)lm, "inspect", path, NULL };
        assert_int_equal(run_capture(argv, &rr), 0);
        snprintf(want, sizeof(want), "lm: %s: at byte %llu: %s\n", path,
                 (unsigned long long)h->off, h->msg);
        if (rr.status != 1 || strcmp(rr.err, want) != 0)
            fail_msg("row '%s': exit %d, stderr %s", h->what, rr.status, rr.err);
        assert_int_equal(rr.out_len, 0);
        run_result_free(&rr);
    }
    rm_rf(dir);
    free(dir);
    free(buf);
    free(base);
}

/* Every proper prefix of a valid file fails cleanly, with an offset inside the prefix. */
static void test_truncation(void **state)
{
    (void)state;
    static const struct base_opts opts[] = { { 3, true, true }, { 2, false, true } };
    for (size_t o = 0; o < 2; o++) {
        size_t len;
        uint8_t *base = build(&opts[o], &len);
        for (size_t n = 0; n < len; n++) {
            struct lm_err err;
            uint8_t *cut = malloc(n ? n : 1);   /* exact size, so ASan sees any overread */
            memcpy(cut, base, n);
            struct gguf *g = gguf_open_mem(cut, n, "cut.gguf", &err);
            if (g)
                fail_msg("prefix of %zu bytes was accepted", n);
            assert_int_equal(err.code, LM_ECORRUPT);
            assert_true(err.msg[0] != 0);
            assert_true(err.off <= n);
            free(cut);
        }
        struct lm_err err;
        struct gguf *g = gguf_open_mem(base, len, "whole.gguf", &err);
        assert_non_null(g);
        gguf_close(g);
        free(base);
    }
}

/* A v2 file without general.alignment, and one without tensors (no padding at all). */
static void test_variants(void **state)
{
    (void)state;
    static const struct base_opts v2 = { 2, false, true }, vocab = { 3, true, false };
    size_t len;
    struct lm_err err;
    uint8_t *p = build(&v2, &len);
    struct gguf *g = gguf_open_mem(p, len, "v2.gguf", &err);
    assert_non_null(g);
    assert_int_equal(gguf_version(g), 2);
    assert_int_equal(gguf_alignment(g), 32);
    assert_int_equal(gguf_data_offset(g) % 32, 0);
    assert_int_equal(gguf_tensor_at(g, 2)->offset, 32 + 160);
    assert_int_equal(gguf_file_size(g), gguf_data_offset(g) + 32 + 160 + 64);
    gguf_close(g);
    free(p);

    p = build(&vocab, &len);
    g = gguf_open_mem(p, len, "vocab.gguf", &err);
    assert_non_null(g);
    assert_int_equal(gguf_n_tensors(g), 0);
    assert_int_equal(gguf_data_offset(g), len);
    gguf_close(g);
    free(p);
}

/* ---- the writer's own checks -------------------------------------------------------------- */

static void expect(int rc, const struct lm_err *err, enum lm_errcode code, const char *msg)
{
    assert_int_equal(rc, -1);
    if (err->code != code || strcmp(err->msg, msg) != 0)
        fail_msg("want %d '%s', got %d '%s'", code, msg, err->code, err->msg);
    assert_int_equal(err->off, LM_NO_OFFSET);
}

static void test_writer_checks(void **state)
{
    (void)state;
    struct lm_err err;
    struct gguf_writer *w = gguf_writer_new();
    static const uint64_t ne[4] = { 64, 2, 1, 1 }, ne_bad[4] = { 48, 2, 1, 1 };
    static const uint8_t bad_bool = 2, i32s[8] = { 0 };
    assert_int_equal(gguf_writer_set_version(w, 1), -1);
    assert_int_equal(gguf_writer_set_version(w, 4), -1);
    assert_int_equal(gguf_writer_add_u32(w, "a.b", 1, &err), 0);
    expect(gguf_writer_add_u32(w, "a.b", 2, &err), &err, LM_EUSAGE, "key 'a.b' is already set");
    expect(gguf_writer_add_str(w, "", "x", 1, &err), &err, LM_EUSAGE, "key 1 is empty");
    expect(gguf_writer_add_bool(w, "a\tb", true, &err), &err, LM_EUSAGE,
           "key 'a\\x09b' has byte 0x09, not printable ASCII");
    struct gguf_kv kv = raw_kv("a.bool", GGUF_BOOL, &bad_bool, 1);
    expect(gguf_writer_add_kv(w, &kv, &err), &err, LM_EUSAGE,
           "key 'a.bool' has bool value 2, not 0 or 1");
    kv = raw_kv("a.u32", GGUF_U32, i32s, 8);
    expect(gguf_writer_add_kv(w, &kv, &err), &err, LM_EUSAGE,
           "value of 'a.u32' has 4 bytes past its end");
    kv = raw_kv("a.u64", GGUF_U64, i32s, 4);
    expect(gguf_writer_add_kv(w, &kv, &err), &err, LM_EUSAGE,
           "value of 'a.u64' needs 8 bytes, 4 left");
    kv = raw_kv("a.arr", GGUF_ARRAY, i32s, 8);
    kv.arr_type = GGUF_ARRAY;
    expect(gguf_writer_add_kv(w, &kv, &err), &err, LM_EUSAGE,
           "array 'a.arr' has ARRAY items; nested arrays are not allowed");
    kv.arr_type = GGUF_I32;
    kv.arr_len = 3;
    expect(gguf_writer_add_kv(w, &kv, &err), &err, LM_EUSAGE,
           "array 'a.arr' count 3 cannot fit in 8 bytes left");
    kv.arr_len = 2;
    assert_int_equal(gguf_writer_add_kv(w, &kv, &err), 0);
    expect(gguf_writer_add_arr_num(w, "a.s", GGUF_STRING, NULL, 0, &err), &err, LM_EUSAGE,
           "array 'a.s' item type STRING is not a number");
    expect(gguf_writer_add_u64(w, "general.alignment", 64, &err), &err, LM_EUSAGE,
           "general.alignment must be UINT32, not UINT64");
    expect(gguf_writer_add_u32(w, "general.alignment", 24, &err), &err, LM_EUSAGE,
           "general.alignment 24 is not a power of two");
    expect(gguf_writer_set_alignment(w, 0, &err), &err, LM_EUSAGE,
           "alignment 0 is not a power of two");

    expect(gguf_writer_add_tensor(w, "", LM_TYPE_F32, 1, ne, &err), &err, LM_EUSAGE,
           "tensor 0 name is empty");
    expect(gguf_writer_add_tensor(w, "0123456789012345678901234567890123456789012345678901234567"
                                  "890123", LM_TYPE_F32, 1, ne, &err), &err, LM_EUSAGE,
           "tensor 0 name length 64 is over the limit of 63");
    expect(gguf_writer_add_tensor(w, "t", LM_TYPE_F32, 5, ne, &err), &err, LM_EUSAGE,
           "tensor 't' has 5 dimensions, expected 1 to 4");
    expect(gguf_writer_add_tensor(w, "t", LM_TYPE_F32, 0, ne, &err), &err, LM_EUSAGE,
           "tensor 't' has 0 dimensions, expected 1 to 4");
    expect(gguf_writer_add_tensor(w, "t", 5, 2, ne, &err), &err, LM_EUSAGE,
           "tensor 't' has retired type 5");
    expect(gguf_writer_add_tensor(w, "t", LM_TYPE_Q4_K, 2, ne, &err), &err, LM_EUSAGE,
           "tensor 't' of type Q4_K has 64 elements per row, not a multiple of the block size 256");
    expect(gguf_writer_add_tensor(w, "t", LM_TYPE_Q8_0, 2, ne_bad, &err), &err, LM_EUSAGE,
           "tensor 't' of type Q8_0 has 48 elements per row, not a multiple of the block size 32");
    assert_int_equal(gguf_writer_add_tensor(w, "t", LM_TYPE_Q8_0, 2, ne, &err), 0);
    expect(gguf_writer_add_tensor(w, "t", LM_TYPE_F32, 1, ne, &err), &err, LM_EUSAGE,
           "duplicate tensor name 't'");
    assert_int_equal(gguf_writer_add_tensor(w, "u", LM_TYPE_F32, 1, ne, &err), 0);

    /* general.alignment and the padding must agree. */
    assert_int_equal(gguf_writer_add_u32(w, "general.alignment", 64, &err), 0);
    assert_int_equal(gguf_writer_set_alignment(w, 32, &err), 0);
    expect(gguf_writer_begin(w, -1, "out.gguf", &err), &err, LM_EUSAGE,
           "general.alignment is 64 but the writer pads to 32");
    gguf_writer_remove_kv(w, "general.alignment");
    assert_int_equal(gguf_writer_add_u32(w, "general.alignment", 64, &err), 0);
    /* Removing a key and adding it back puts it last. */
    gguf_writer_remove_kv(w, "a.b");
    gguf_writer_remove_kv(w, "a.nothing");
    assert_int_equal(gguf_writer_add_u32(w, "a.b", 7, &err), 0);

    char path[] = "/tmp/lm-gguf-w-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    expect(gguf_writer_write_data(w, "x", 1, &err), &err, LM_EUSAGE, "gguf writer is not writing");
    assert_int_equal(gguf_writer_begin(w, fd, path, &err), 0);
    expect(gguf_writer_begin(w, fd, path, &err), &err, LM_EUSAGE, "gguf writer already started");
    uint8_t data[300] = { 0 };
    assert_int_equal(gguf_writer_write_data(w, data, 100, &err), 0);
    expect(gguf_writer_finish(w, &err), &err, LM_EUSAGE, "tensor 't' got 100 of its 136 bytes");
    assert_int_equal(gguf_writer_write_data(w, data, 36 + 256, &err), 0);
    expect(gguf_writer_write_data(w, data, 3, &err), &err, LM_EUSAGE,
           "3 bytes of data past the last tensor");
    assert_int_equal(gguf_writer_finish(w, &err), 0);
    uint64_t size = gguf_writer_file_size(w);
    gguf_writer_free(w);
    close(fd);

    struct gguf *g = gguf_open(path, &err);
    if (!g)
        fail_msg("%s", err.msg);
    assert_int_equal(gguf_file_size(g), size);
    assert_int_equal(gguf_alignment(g), 64);
    assert_int_equal(gguf_n_kv(g), 3);
    assert_memory_equal(gguf_kv_at(g, 0)->key.p, "a.arr", 5);
    assert_memory_equal(gguf_kv_at(g, 1)->key.p, "general.alignment", 17);
    assert_memory_equal(gguf_kv_at(g, 2)->key.p, "a.b", 3);
    assert_int_equal(gguf_tensor_find(g, "u")->offset, 192);
    gguf_close(g);
    unlink(path);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct lm_err err;
    assert_null(gguf_open("/nonexistent/x.gguf", &err));
    assert_int_equal(err.code, LM_EIO);
    assert_string_equal(err.path, "/nonexistent/x.gguf");
    char path[] = "/tmp/lm-gguf-empty-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_null(gguf_open(path, &err));
    assert_int_equal(err.code, LM_ECORRUPT);
    assert_int_equal(err.off, 0);
    assert_string_equal(err.msg, "magic needs 4 bytes, 0 left");
    unlink(path);
    gguf_close(NULL);
}

/* With LM_GGUF_SEEDS=DIR, write the fuzz seed corpus there (fuzz/corpus/fuzz_gguf). */
static int write_seeds(void **state)
{
    (void)state;
    const char *dir = getenv("LM_GGUF_SEEDS");
    static const struct { const char *name; struct base_opts o; } seeds[] = {
        { "base-v3.gguf", { 3, true, true } },
        { "v2-default-align.gguf", { 2, false, true } },
        { "no-tensors.gguf", { 3, true, false } },
    };
    for (size_t i = 0; dir && i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        char path[1024];
        size_t len;
        struct lm_err err;
        uint8_t *p = build(&seeds[i].o, &len);
        snprintf(path, sizeof(path), "%s/%s", dir, seeds[i].name);
        if (lm_write_file_atomic(path, p, len, &err))
            return -1;
        free(p);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_files),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_base_file),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_hostile_cli),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_variants),
        cmocka_unit_test(test_writer_checks),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, write_seeds, NULL);
}

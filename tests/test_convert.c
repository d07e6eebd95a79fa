/* test_convert.c: every fixture converted with every outtype that has a reference must give
 * llama.cpp's converter output: the same tensors (names, order, types, shapes, bytes, from
 * ref/gguf-index.tsv), the same metadata (keys, types, values, from ref/gguf-meta) and, since the
 * naming keys follow the same heuristics, the same file hash. Then the pieces on their own: the
 * SentencePiece reader on hostile mutations of a real tokenizer.model, the Q/K permutation, name
 * mapping, naming heuristics, staged metadata, the pre-tokenizer choice, and a vocabulary rebuilt
 * from vocab.json + merges.txt alone. (Broken checkpoints: tests/cli/convert_errors.sh.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../convert/convert.h"
#include "support/testutil.h"
#include "../common/banned.h"

struct ref_case {
    const char *fixture;
    enum convert_outtype outtype;
    const char *ref;          /* the reference GGUF's name in ref/gguf-index.tsv */
};

static const struct ref_case ref_cases[] = {
    { "stories260K", CONVERT_F32, "stories260K-F32.gguf" },
    { "stories260K", CONVERT_F16, "stories260K-F16.gguf" },
    { "stories260K", CONVERT_BF16, "stories260K-BF16.gguf" },
    { "stories260K", CONVERT_Q8_0, "stories260K-Q8_0-convert.gguf" },
    { "stories260K", CONVERT_AUTO, "stories260K-F16.gguf" },        /* F32 source: F16 */
    { "tiny-llama-256", CONVERT_F32, "tiny-llama-256-F32.gguf" },
    { "tiny-llama-256", CONVERT_F16, "tiny-llama-256-F16.gguf" },
    { "tiny-llama-256", CONVERT_BF16, "tiny-llama-256-BF16.gguf" },
    { "tiny-llama-256", CONVERT_Q8_0, "tiny-llama-256-Q8_0-convert.gguf" },
    { "tiny-llama-256", CONVERT_AUTO, "tiny-llama-256-BF16.gguf" },  /* BF16 source */
    { "tiny-qwen2-256", CONVERT_F32, "tiny-qwen2-256-F32.gguf" },
    { "tiny-qwen2-256", CONVERT_F16, "tiny-qwen2-256-F16.gguf" },
    { "tiny-qwen2-256", CONVERT_BF16, "tiny-qwen2-256-BF16.gguf" },
    { "tiny-qwen2-256", CONVERT_Q8_0, "tiny-qwen2-256-Q8_0-convert.gguf" },
    { "tiny-qwen2-256", CONVERT_AUTO, "tiny-qwen2-256-F16.gguf" },  /* F16 source */
    { "tiny-qwen2-bpe", CONVERT_F32, "tiny-qwen2-bpe-F32.gguf" },
    { "tiny-qwen2-bpe", CONVERT_F16, "tiny-qwen2-bpe-F16.gguf" },
    { "tiny-qwen2-bpe", CONVERT_BF16, "tiny-qwen2-bpe-BF16.gguf" },
    { "tiny-qwen2-bpe", CONVERT_Q8_0, "tiny-qwen2-bpe-Q8_0-convert.gguf" },
    { "tiny-qwen2-bpe", CONVERT_AUTO, "tiny-qwen2-bpe-BF16.gguf" },
};

/* The descriptive keys llama.cpp derives from the folder name: compared only through the file
 * hash, since a copy of a fixture under another name must still pass the key comparison. */
static const char *const naming_keys[] = { "general.name", "general.basename", "general.version",
                                           "general.size_label", "general.finetune",
                                           "general.organization", NULL };

static bool is_naming(const char *k, size_t len)
{
    for (const char *const *n = naming_keys; *n; n++)
        if (strlen(*n) == len && memcmp(*n, k, len) == 0)
            return true;
    return false;
}

static char *tmp;

static int setup(void **state)
{
    (void)state;
    tmp = make_tmpdir();
    return tmp ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    rm_rf(tmp);
    free(tmp);
    return 0;
}

static void hex_of(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    lm_sha256_buf(p, n, d);
    lm_hex(d, 32, out);
}

/* Field i (0-based) of a tab-separated line, copied into out. */
static void field(const char *line, int i, char *out, size_t n)
{
    for (; i > 0 && line; i--) {
        line = strchr(line, '\t');
        if (line)
            line++;
    }
    size_t len = line ? strcspn(line, "\t\n") : 0;
    snprintf(out, n, "%.*s", (int)len, line ? line : "");
}

/* Tensors of `g` against the rows of `ref` in gguf-index.tsv; the file's sha256 into file_sha. */
static void check_tensors(const struct gguf *g, const char *index, const char *ref, char *file_sha)
{
    struct lm_buf b = LM_BUF_INIT(64u << 20);
    struct lm_err err;
    assert_int_equal(lm_read_file(index, 64u << 20, &b, &err), 0);
    uint64_t n = 0;
    file_sha[0] = 0;
    for (char *line = b.data; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char f[128], idx[16], name[128], type_id[16], shape[64], off[32], nbytes[32], sha[80];
        field(line, 0, f, sizeof(f));
        if (strcmp(f, ref) != 0)
            continue;
        field(line, 2, file_sha, 65);
        field(line, 3, idx, sizeof(idx));
        field(line, 4, name, sizeof(name));
        field(line, 6, type_id, sizeof(type_id));
        field(line, 7, shape, sizeof(shape));
        field(line, 8, off, sizeof(off));
        field(line, 10, nbytes, sizeof(nbytes));
        field(line, 11, sha, sizeof(sha));
        uint64_t i = strtoull(idx, NULL, 10);
        assert_true(i < gguf_n_tensors(g));
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        char have_shape[64] = "", have_sha[65];
        for (uint32_t d = 0; d < t->n_dims; d++) {
            size_t len = strlen(have_shape);
            snprintf(have_shape + len, sizeof(have_shape) - len, "%s%llu", d ? "," : "",
                     (unsigned long long)t->ne[d]);
        }
        hex_of(t->data, t->nbytes, have_sha);
        if (strcmp(t->name, name) || t->type != strtoul(type_id, NULL, 10) ||
            strcmp(have_shape, shape) || t->offset != strtoull(off, NULL, 10) ||
            t->nbytes != strtoull(nbytes, NULL, 10) || strcmp(have_sha, sha))
            fail_msg("%s tensor %llu: have %s type %u [%s] at %llu, %llu bytes, %s; want %s type "
                     "%s [%s] at %s, %s bytes, %s", ref, (unsigned long long)i, t->name, t->type,
                     have_shape, (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                     have_sha, name, type_id, shape, off, nbytes, sha);
        n++;
    }
    lm_buf_release(&b);
    assert_int_equal(n, gguf_n_tensors(g));
    assert_true(n > 0);
}

static void check_value(const struct gguf_kv *kv, json_t *want, const char *key)
{
    struct lm_err err;
    const char *type = json_string_value(json_object_get(want, "type"));
    json_t *v = json_object_get(want, "value");
    if (strcmp(type, gguf_vtype_name(kv->type)) != 0)
        fail_msg("%s: type %s, want %s", key, gguf_vtype_name(kv->type), type);
    if (kv->type == GGUF_ARRAY) {
        char sha[65];
        hex_of(kv->raw, kv->raw_len, sha);
        const char *it = json_string_value(json_object_get(want, "item_type"));
        if (strcmp(it, gguf_vtype_name(kv->arr_type)) ||
            kv->arr_len != (uint64_t)json_integer_value(json_object_get(want, "length")) ||
            strcmp(sha, json_string_value(json_object_get(want, "sha256"))))
            fail_msg("%s: %s[%llu] %s, want %s[%lld] %s", key, gguf_vtype_name(kv->arr_type),
                     (unsigned long long)kv->arr_len, sha, it,
                     (long long)json_integer_value(json_object_get(want, "length")),
                     json_string_value(json_object_get(want, "sha256")));
    } else if (kv->type == GGUF_STRING) {
        struct gguf_str s;
        assert_int_equal(gguf_kv_str(kv, &s), 0);
        if (s.len != json_string_length(v) || memcmp(s.p, json_string_value(v), s.len))
            fail_msg("%s: string differs", key);
    } else if (kv->type == GGUF_BOOL) {
        bool b;
        assert_int_equal(gguf_kv_bool(kv, &b), 0);
        assert_int_equal(b, json_is_true(v));
    } else if (kv->type == GGUF_F32 || kv->type == GGUF_F64) {
        double d;
        assert_int_equal(gguf_kv_f64(kv, &d), 0);
        if (d != json_number_value(v))
            fail_msg("%s: %.17g, want %.17g", key, d, json_number_value(v));
    } else {
        int64_t i;
        (void)err;
        assert_int_equal(gguf_kv_i64(kv, &i), 0);
        if (i != json_integer_value(v))
            fail_msg("%s: %lld, want %lld", key, (long long)i, (long long)json_integer_value(v));
    }
}

/* Metadata of `g` against ref/gguf-meta/<ref>.json, in order, naming keys aside. */
static void check_meta(const struct gguf *g, const char *meta_path)
{
    json_error_t je;
    json_t *root = json_load_file(meta_path, 0, &je);
    assert_non_null(root);
    json_t *kvs = json_object_get(root, "kv");
    size_t j = 0, compared = 0;
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        if (is_naming(kv->key.p, kv->key.len))
            continue;
        const char *wk = NULL;
        while (j < json_array_size(kvs)) {
            wk = json_string_value(json_object_get(json_array_get(kvs, j), "key"));
            if (!is_naming(wk, strlen(wk)))
                break;
            j++;
        }
        char key[256];
        snprintf(key, sizeof(key), "%.*s", (int)kv->key.len, kv->key.p);
        if (j == json_array_size(kvs))
            fail_msg("%s: key %s is not in the reference", meta_path, key);
        if (strcmp(key, wk))
            fail_msg("%s: key %llu is %s, want %s", meta_path, (unsigned long long)i, key, wk);
        check_value(kv, json_array_get(kvs, j), key);
        j++;
        compared++;
    }
    for (; j < json_array_size(kvs); j++) {
        const char *wk = json_string_value(json_object_get(json_array_get(kvs, j), "key"));
        if (!is_naming(wk, strlen(wk)))
            fail_msg("%s: missing key %s", meta_path, wk);
    }
    assert_true(compared > 10);
    assert_int_equal(gguf_data_offset(g), json_integer_value(json_object_get(root, "data_offset")));
    json_decref(root);
}

static void test_references(void **state)
{
    (void)state;
    const char *models = lm_models();
    if (!models)
        skip();
    for (size_t i = 0; i < sizeof(ref_cases) / sizeof(ref_cases[0]); i++) {
        const struct ref_case *c = &ref_cases[i];
        char dir[2048], out[4096], index[4096], meta[4096], want_sha[80], have_sha[65];
        struct lm_err err;
        snprintf(dir, sizeof(dir), "%.1000s/%s", models, c->fixture);
        snprintf(out, sizeof(out), "%s/out.gguf", tmp);
        snprintf(index, sizeof(index), "%s/ref/gguf-index.tsv", dir);
        snprintf(meta, sizeof(meta), "%s/ref/gguf-meta/%s.json", dir, c->ref);
        print_message("# %s --outtype %s -> %s\n", c->fixture, convert_outtype_name(c->outtype),
                      c->ref);
        struct convert_opts o = { .outtype = c->outtype };
        lm_err_clear(&err);
        struct convert *cv = convert_open(dir, &o, &err);
        if (!cv)
            fail_msg("%s: %s: %s", c->fixture, err.path, err.msg);
        if (convert_write(cv, out, NULL, &err))
            fail_msg("%s: %s: %s", c->fixture, err.path, err.msg);
        uint64_t size = convert_get_info(cv)->file_size;
        convert_close(cv);
        struct gguf *g = gguf_open(out, &err);
        assert_non_null(g);
        assert_int_equal(gguf_file_size(g), size);
        check_tensors(g, index, c->ref, want_sha);
        check_meta(g, meta);
        hex_of(gguf_bytes(g), gguf_file_size(g), have_sha);
        assert_string_equal(have_sha, want_sha);
        gguf_close(g);
    }
}

/* Under another folder name only the naming keys change. */
static void test_other_folder_name(void **state)
{
    (void)state;
    const char *models = lm_models();
    if (!models)
        skip();
    char dir[4096], out[4096];
    struct lm_err err;
    snprintf(dir, sizeof(dir), "%s/tiny-qwen2-256", models);
    snprintf(out, sizeof(out), "%s/renamed.gguf", tmp);
    struct convert_opts o = { .outtype = CONVERT_F16, .model_name_dir = "Qwen2.5-0.5B-Instruct" };
    struct convert *cv = convert_open(dir, &o, &err);
    assert_non_null(cv);
    assert_int_equal(convert_write(cv, out, NULL, &err), 0);
    convert_close(cv);
    struct gguf *g = gguf_open(out, &err);
    assert_non_null(g);
    char meta[4096];
    snprintf(meta, sizeof(meta), "%s/tiny-qwen2-256/ref/gguf-meta/tiny-qwen2-256-F16.gguf.json",
             models);
    check_meta(g, meta);
    /* 0.5B is far from this model's 1.7M parameters, so gguf-py takes it for a finetune tag. */
    static const char *const want[][2] = {
        { "general.name", "Qwen2.5 0.5B Instruct" }, { "general.finetune", "0.5b-Instruct" },
        { "general.basename", "Qwen2.5" }, { "general.size_label", "1.7M" },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct gguf_str s;
        const struct gguf_kv *kv = gguf_kv_find(g, want[i][0]);
        assert_non_null(kv);
        assert_int_equal(gguf_kv_str(kv, &s), 0);
        if (s.len != strlen(want[i][1]) || memcmp(s.p, want[i][1], s.len))
            fail_msg("%s is '%.*s', want '%s'", want[i][0], (int)s.len, s.p, want[i][1]);
    }
    gguf_close(g);
}

static struct lm_buf read_all(const char *path)
{
    struct lm_buf b = LM_BUF_INIT(256u << 20);
    struct lm_err err;
    if (lm_read_file(path, 256u << 20, &b, &err))
        fail_msg("%s: %s", path, err.msg);
    return b;
}

/* ---- SentencePiece ------------------------------------------------------------------------ */

/* The repository's demo model carries stories260K's tokenizer.model. Its first bytes:
 * 0a 0e | 0a 05 "<unk>" | 15 00000000 | 18 02 || 0a 0c ... : piece 0 is bytes 2..15. */
static const char *spm_path(char *buf, size_t n)
{
    const char *src = getenv("LM_SRC");
    snprintf(buf, n, "%s/models/demo/tokenizer.model", src ? src : ".");
    return buf;
}

static void test_spm_valid(void **state)
{
    (void)state;
    char path[4096];
    struct lm_buf b = read_all(spm_path(path, sizeof(path)));
    struct convert_spm_piece *p;
    uint32_t n;
    struct lm_err err;
    assert_int_equal(convert_spm_parse((const uint8_t *)b.data, b.len, path, &p, &n, &err), 0);
    assert_int_equal(n, 512);
    static const struct { uint32_t id; const char *text; int type; float score; } want[] = {
        { 0, "<unk>", TOK_UNKNOWN, 0.0f }, { 1, "<s>", TOK_CONTROL, 0.0f },
        { 2, "</s>", TOK_CONTROL, 0.0f },  { 3, "<0x00>", TOK_BYTE, 0.0f },
        { 258, "<0xFF>", TOK_BYTE, 0.0f },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct convert_spm_piece *q = &p[want[i].id];
        assert_int_equal(q->len, strlen(want[i].text));
        assert_memory_equal(q->text, want[i].text, q->len);
        assert_int_equal(q->type, want[i].type);
        assert_true(q->score == want[i].score);
    }
    /* The first normal piece follows the 3 specials and 256 bytes; scores fall from there. */
    assert_int_equal(p[259].type, TOK_NORMAL);
    assert_true(p[259].score > p[511].score);
    free(p);
    lm_buf_release(&b);
}

struct spm_case {
    const char *what;
    size_t cut;            /* keep this many bytes (0: all) */
    size_t at;             /* byte to overwrite (with `with`), or SIZE_MAX */
    uint8_t with;
    uint64_t off;          /* expected error offset */
    const char *msg;
};

static void test_spm_hostile(void **state)
{
    (void)state;
    static const struct spm_case cases[] = {
        { "cut after the first key", 1, SIZE_MAX, 0, 1, "field length is cut short" },
        { "cut inside the first piece", 10, SIZE_MAX, 0, 2,
          "field of 14 bytes runs past the end of its message" },
        { "group wire type", 0, 0, 0x0b, 0, "field has a wire type protobuf no longer uses" },
        { "field number 0", 0, 0, 0x02, 0, "field number is out of range" },
        { "pieces as a varint", 0, 0, 0x08, 0, "pieces field has the wrong wire type" },
        { "piece text as fixed32", 0, 2, 0x0d, 2, "piece field has the wrong wire type" },
        { "empty piece text", 0, 3, 0x00, 2, "piece text is empty or longer than 4096 bytes" },
        { "piece text not UTF-8", 0, 4, 0xff, 4, "piece text is not UTF-8" },
        { "piece type 9", 0, 15, 0x09, 14, "piece type 9 is not 1..6" },
        { "piece type 0", 0, 15, 0x00, 14, "piece type 0 is not 1..6" },
        { "piece type overlong", 0, 15, 0x82, 16, "piece type is cut short" },
        { "no pieces at all", 0, 0, 0x12, 0, "no pieces: not a SentencePiece model" },
    };
    char path[4096];
    struct lm_buf b = read_all(spm_path(path, sizeof(path)));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct spm_case *c = &cases[i];
        uint8_t *m = malloc(b.len);
        memcpy(m, b.data, b.len);
        size_t len = c->cut ? c->cut : b.len;
        if (c->at != SIZE_MAX)
            m[c->at] = c->with;
        if (strcmp(c->what, "no pieces at all") == 0) {
            /* one field 2 (trainer_spec) of 2 bytes and nothing else */
            static const uint8_t only[] = { 0x12, 0x02, 0x18, 0x01 };
            memcpy(m, only, sizeof(only));
            len = sizeof(only);
        }
        struct convert_spm_piece *p = NULL;
        uint32_t n = 0;
        struct lm_err err;
        lm_err_clear(&err);
        if (convert_spm_parse(m, len, "t.model", &p, &n, &err) == 0)
            fail_msg("%s: parsed", c->what);
        uint64_t want_off = strcmp(c->what, "no pieces at all") == 0 ? LM_NO_OFFSET : c->off;
        if (err.code != LM_ECORRUPT || err.off != want_off || strcmp(err.msg, c->msg) ||
            strcmp(err.path, "t.model"))
            fail_msg("%s: got %s at %llu: %s", c->what, err.path, (unsigned long long)err.off,
                     err.msg);
        assert_null(p);
        free(m);
    }
    /* Every truncation fails cleanly or parses fewer pieces: never reads past the end. */
    for (size_t len = 0; len < 200; len++) {
        struct convert_spm_piece *p = NULL;
        uint32_t n = 0;
        struct lm_err err;
        uint8_t *m = malloc(len ? len : 1);
        memcpy(m, b.data, len);
        if (convert_spm_parse(m, len, "t.model", &p, &n, &err) == 0)
            assert_true(n < 512);
        free(p);
        free(m);
    }
    lm_buf_release(&b);
}

/* ---- tensors ------------------------------------------------------------------------------ */

static void test_permute(void **state)
{
    (void)state;
    /* gguf.md §5: hd = 4, rows r0 r1 r2 r3 of a head become r0 r2 r1 r3; heads stay in place */
    static const uint64_t want[8] = { 0, 2, 1, 3, 4, 6, 5, 7 };
    for (uint64_t r = 0; r < 8; r++)
        assert_int_equal(convert_permute_row(r, 8, 2), want[r]);
    /* and it is a permutation for a real shape: 256 rows over 4 heads */
    uint8_t seen[256] = { 0 };
    for (uint64_t r = 0; r < 256; r++)
        seen[convert_permute_row(r, 256, 4)]++;
    for (int i = 0; i < 256; i++)
        assert_int_equal(seen[i], 1);
}

static void test_name_map(void **state)
{
    (void)state;
    static const struct { const char *hf, *gguf; } ok[] = {
        { "model.embed_tokens.weight", "token_embd.weight" },
        { "lm_head.weight", "output.weight" },
        { "model.layers.11.self_attn.q_proj.bias", "blk.11.attn_q.bias" },
        { "model.layers.0.mlp.down_proj.weight", "blk.0.ffn_down.weight" },
        { "model.norm", "output_norm" },
    };
    char out[64];
    const struct convert_tname *t;
    bool bias;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_true(convert_map_name(&convert_arch_qwen2, ok[i].hf, 12, out, sizeof(out), &t, &bias));
        assert_string_equal(out, ok[i].gguf);
    }
    static const char *const bad[] = { "model.layers.12.mlp.up_proj.weight", /* past 12 layers */
                                       "model.layers.01.mlp.up_proj.weight",
                                       "model.layers.x.mlp.up_proj.weight",
                                       "model.layers.0.self_attn.q_norm.weight",  /* qwen3 only */
                                       "vision_tower.patch.weight" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(convert_map_name(&convert_arch_qwen2, bad[i], 12, out, sizeof(out), &t, &bias));
    assert_true(convert_map_name(&convert_arch_qwen3, "model.layers.3.self_attn.k_norm.weight", 4,
                                 out, sizeof(out), &t, &bias));
    assert_string_equal(out, "blk.3.attn_k_norm.weight");
    assert_ptr_equal(convert_arch_find("MistralForCausalLM"), &convert_arch_llama);
    assert_null(convert_arch_find("GPTNeoXForCausalLM"));
}

static void test_llama3_factors(void **state)
{
    (void)state;
    /* Llama 3.1 8B: theta 500000, head 128, factor 8, low 1, high 4, original context 8192. The
     * fast rotations keep factor 1, the slow ones get 8, and the band between is smooth. */
    float f[64];
    convert_llama3_factors(500000.0, 128, 8.0, 1.0, 4.0, 8192.0, f);
    assert_true(f[0] == 1.0f && f[20] == 1.0f);
    assert_true(f[63] == 8.0f && f[50] == 8.0f);
    for (int i = 1; i < 64; i++)
        assert_true(f[i] >= f[i - 1]);
    bool between = false;
    for (int i = 0; i < 64; i++)
        between |= f[i] > 1.0f && f[i] < 8.0f;
    assert_true(between);
}

/* The AVX2 + F16C conversions give the scalar bits for every bf16 input (all 65536 of them) and
 * for floats around every rounding boundary, NaNs and infinities included. */
static void test_f16_variants(void **state)
{
    (void)state;
    if (lm_cpu_best() < LM_CPU_AVX2)
        skip();
    enum { N = 65536 + 3 };
    uint16_t *in = malloc(N * 2), *a = malloc(N * 2), *b = malloc(N * 2);
    for (uint32_t i = 0; i < N; i++)
        in[i] = (uint16_t)(i * 40503u);   /* every value once, in scrambled order */
    convert_bf16_to_f16_scalar(in, a, N);
    convert_bf16_to_f16_avx2(in, b, N);
    for (uint32_t i = 0; i < N; i++)
        if (a[i] != b[i])
            fail_msg("bf16 %04x: scalar %04x, avx2 %04x", in[i], a[i], b[i]);
    float *f = malloc(N * sizeof(float));
    uint64_t r = 1;
    for (uint32_t i = 0; i < N; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        uint32_t u = (uint32_t)r;
        if (i % 4 == 1)
            u = (u & 0x8FFFE000u) | 0x00001000u;   /* exact ties between two halves */
        if (i % 4 == 2)
            u = (u & 0x80000000u) | (0x33000000u + (u & 0x0FFFFFFFu) % 0x14800000u);   /* subnormal */
        memcpy(&f[i], &u, 4);
    }
    f[5] = INFINITY, f[6] = -INFINITY, f[7] = NAN, f[8] = 65519.0f, f[9] = 65520.0f;
    convert_f32_to_f16_avx2(f, b, N);
    lm_f32_to_f16_row(f, a, N);
    for (uint32_t i = 0; i < N; i++)
        if (a[i] != b[i])
            fail_msg("f32 %a: scalar %04x, avx2 %04x", (double)f[i], a[i], b[i]);
    free(in);
    free(a);
    free(b);
    free(f);
}

/* ---- naming ------------------------------------------------------------------------------- */

static void test_naming(void **state)
{
    (void)state;
    static const struct {
        const char *name_or_path, *folder;
        uint64_t params;
        const char *name, *basename, *finetune, *version, *size_label, *org;
    } cases[] = {
        { NULL, "stories260K", 260032, "stories260K", "", "", "", "260K", "" },
        { NULL, "tiny-qwen2-256", 1706240, "Tiny Qwen2 256", "tiny-qwen2", "", "256", "1.7M", "" },
        { NULL, "tiny-llama-256", 1836288, "Tiny Llama 256", "tiny-llama", "", "256", "1.8M", "" },
        { NULL, "tiny-qwen2-bpe", 4886816, "Tiny Qwen2 Bpe", "", "", "", "4.9M", "" },
        { NULL, "Mistral-7B-Instruct-v0.2", 7241732096ull, "Mistral 7B Instruct v0.2", "Mistral",
          "Instruct", "v0.2", "7B", "" },
        { "meta-llama/Llama-2-7b-hf", "snapshot", 6738415616ull, "Llama 2 7b Hf", "Llama-2",
          "hf", "", "7B", "Meta Llama" },
        { "/home/me/models/x", "TinyLlama-1.1B-Chat-v1.0", 1100048384, "TinyLlama 1.1B Chat v1.0",
          "TinyLlama", "Chat", "v1.0", "1.1B", "" },
        { NULL, "SmolLM2-135M-Instruct", 134515008, "SmolLM2 135M Instruct", "SmolLM2", "Instruct",
          "", "135M", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct convert_naming n;
        convert_naming_derive(cases[i].name_or_path, cases[i].folder, cases[i].params, &n);
        if (strcmp(n.name, cases[i].name) || strcmp(n.basename, cases[i].basename) ||
            strcmp(n.finetune, cases[i].finetune) || strcmp(n.version, cases[i].version) ||
            strcmp(n.size_label, cases[i].size_label) || strcmp(n.organization, cases[i].org))
            fail_msg("%s: name '%s' basename '%s' finetune '%s' version '%s' size '%s' org '%s'",
                     cases[i].folder, n.name, n.basename, n.finetune, n.version, n.size_label,
                     n.organization);
    }
}

static void test_size_label(void **state)
{
    (void)state;
    static const struct { uint64_t n; const char *want; } cases[] = {
        { 260032, "260K" }, { 1706240, "1.7M" }, { 4884064, "4.9M" }, { 1100048384, "1.1B" },
        { 7241732096ull, "7.2B" }, { 999, "1.0K" }, { 400, "0.40K" }, { 12500000, "12M" },
        { 2500000000000ull, "2.5T" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        convert_size_label(cases[i].n, out, sizeof(out));
        if (strcmp(out, cases[i].want))
            fail_msg("%llu: %s, want %s", (unsigned long long)cases[i].n, out, cases[i].want);
    }
}

/* ---- metadata staging --------------------------------------------------------------------- */

static void test_meta_order(void **state)
{
    (void)state;
    struct lm_err err;
    struct convert_meta *m = convert_meta_new();
    assert_non_null(m);
    assert_int_equal(convert_meta_u32(m, "a.first", 1, &err), 0);
    assert_int_equal(convert_meta_str(m, "a.second", "x", 1, &err), 0);
    assert_int_equal(convert_meta_bool(m, "a.first", true, &err), 0);   /* keeps slot 0 */
    assert_int_equal(convert_meta_count(m), 2);
    struct gguf_writer *w = gguf_writer_new();
    assert_int_equal(convert_meta_flush(m, w, &err), 0);
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.gguf", tmp);
    struct lm_afile f;
    assert_int_equal(lm_afile_open(&f, path, &err), 0);
    assert_int_equal(gguf_writer_begin(w, f.fd, path, &err), 0);
    assert_int_equal(gguf_writer_finish(w, &err), 0);
    assert_int_equal(lm_afile_commit(&f, &err), 0);
    gguf_writer_free(w);
    convert_meta_free(m);
    struct gguf *g = gguf_open(path, &err);
    assert_non_null(g);
    assert_int_equal(gguf_n_kv(g), 2);
    const struct gguf_kv *kv = gguf_kv_at(g, 0);
    assert_int_equal(kv->type, GGUF_BOOL);
    assert_memory_equal(kv->key.p, "a.first", 7);
    gguf_close(g);
}

static void test_looks_special(void **state)
{
    (void)state;
    static const struct { const char *s; bool want; } cases[] = {
        { "<|im_end|>", true }, { "<|fim_prefix|>", true }, { "<pad>", true }, { "<mask>", true },
        { "<unused12>", true }, { "<\xEF\xBD\x9C" "begin\xEF\xBD\x9C>", true }, { "<|>", true },
        { "<tool_call>", false }, { "</s>", false }, { "<|im_end", false }, { "", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (convert_looks_special(cases[i].s, strlen(cases[i].s)) != cases[i].want)
            fail_msg("'%s'", cases[i].s);
}

/* ---- byte-level BPE ----------------------------------------------------------------------- */

static void test_bpe_pre(void **state)
{
    (void)state;
    static const struct { const char *json, *want; } cases[] = {
        { "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"use_regex\":true}}", "gpt-2" },
        { "{\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\","
          "\"individual_digits\":true},{\"type\":\"ByteLevel\",\"use_regex\":true}]}}", "smollm" },
        { "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(?i:'s|'t|'re|'ve|'m|'ll|"
          "'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| ?[^\\\\s\\\\p{L}\\\\p{N}]+"
          "[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}}}", "llama-bpe" },
        { "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"}}}", NULL },
        { "{}", NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t je;
        json_t *j = json_loads(cases[i].json, 0, &je);
        if (!j)
            fail_msg("case %zu: %s", i, je.text);
        char pre[32];
        struct lm_err err;
        lm_err_clear(&err);
        int rc = convert_bpe_pre(j, "t.json", pre, sizeof(pre), &err);
        if (cases[i].want) {
            if (rc)
                fail_msg("case %zu: %s", i, err.msg);
            assert_string_equal(pre, cases[i].want);
        } else {
            assert_int_equal(rc, -1);
            assert_int_equal(err.code, LM_EUNSUPPORTED);
            assert_non_null(strstr(err.msg, "pre-tokenizer not recognised"));
        }
        json_decref(j);
    }
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void copy_file(const char *from, const char *to)
{
    struct lm_buf b = read_all(from);
    write_file(to, b.data, b.len);
    lm_buf_release(&b);
}

static const char *meta_str(struct gguf *g, const char *key, char *buf, size_t n)
{
    const struct gguf_kv *kv = gguf_kv_find(g, key);
    struct gguf_str s;
    if (!kv || gguf_kv_str(kv, &s))
        return NULL;
    snprintf(buf, n, "%.*s", (int)s.len, s.p);
    return buf;
}

static void array_sha(struct gguf *g, const char *key, char out[65])
{
    const struct gguf_kv *kv = gguf_kv_find(g, key);
    uint8_t d[32];
    assert_non_null(kv);
    lm_sha256_buf(kv->raw, kv->raw_len, d);
    lm_hex(d, 32, out);
}

/* The slow tokenizer files alone give the same vocabulary as tokenizer.json, without the padding
 * id (only tokenizer.json's added tokens name it). */
static void test_vocab_json_merges(void **state)
{
    (void)state;
    const char *models = lm_models();
    if (!models)
        skip();
    char src[1100], dir[2048], p[4096], q[4096];
    snprintf(src, sizeof(src), "%.1000s/tiny-qwen2-bpe", models);
    snprintf(dir, sizeof(dir), "%.1000s/slow", tmp);
    assert_int_equal(lm_mkdirs(dir, NULL), 0);
    snprintf(p, sizeof(p), "%s/tokenizer.json", src);
    json_error_t je;
    json_t *tok = json_load_file(p, 0, &je);
    assert_non_null(tok);
    json_t *model = json_object_get(tok, "model");
    snprintf(q, sizeof(q), "%s/vocab.json", dir);
    assert_int_equal(json_dump_file(json_object_get(model, "vocab"), q, JSON_PRESERVE_ORDER), 0);
    struct lm_buf mt = LM_BUF_INIT(64u << 20);
    assert_int_equal(lm_buf_add(&mt, "#version: 0.2\n", 14), 0);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(model, "merges"), i, e) {
        assert_int_equal(lm_buf_add(&mt, json_string_value(e), json_string_length(e)), 0);
        assert_int_equal(lm_buf_add(&mt, i % 2 ? "\n" : "\r\n", i % 2 ? 1 : 2), 0);
    }
    snprintf(q, sizeof(q), "%s/merges.txt", dir);
    write_file(q, mt.data, mt.len);
    lm_buf_release(&mt);
    json_decref(tok);
    static const char *const files[] = { "config.json", "tokenizer_config.json", "model.safetensors" };
    for (size_t k = 0; k < 3; k++) {
        snprintf(p, sizeof(p), "%s/%s", src, files[k]);
        snprintf(q, sizeof(q), "%s/%s", dir, files[k]);
        copy_file(p, q);
    }
    struct lm_err err;
    struct convert_opts o = { .outtype = CONVERT_F32, .model_name_dir = "tiny-qwen2-bpe" };
    struct convert *c = convert_open(dir, &o, &err);
    if (!c)
        fail_msg("%s: %s", err.path, err.msg);
    snprintf(q, sizeof(q), "%s/slow.gguf", tmp);
    assert_int_equal(convert_write(c, q, NULL, &err), 0);
    convert_close(c);
    struct gguf *g = gguf_open(q, &err);
    assert_non_null(g);
    snprintf(p, sizeof(p), "%s/ref/gguf-meta/tiny-qwen2-bpe-F32.gguf.json", src);
    json_t *ref = json_load_file(p, 0, &je);
    assert_non_null(ref);
    json_array_foreach(json_object_get(ref, "kv"), i, e) {
        const char *key = json_string_value(json_object_get(e, "key"));
        const char *sha = json_string_value(json_object_get(e, "sha256"));
        if (strncmp(key, "tokenizer.ggml.", 15) || !sha)
            continue;
        char have[65];
        array_sha(g, key, have);
        if (strcmp(have, sha))
            fail_msg("%s differs", key);
    }
    json_decref(ref);
    char buf[64];
    assert_string_equal(meta_str(g, "tokenizer.ggml.pre", buf, sizeof(buf)), "qwen2");
    assert_null(gguf_kv_find(g, "tokenizer.ggml.padding_token_id"));
    uint64_t v;
    assert_int_equal(gguf_kv_u64(gguf_kv_find(g, "tokenizer.ggml.eos_token_id"), &v), 0);
    assert_int_equal(v, 151645);
    assert_int_equal(gguf_kv_u64(gguf_kv_find(g, "tokenizer.ggml.bos_token_id"), &v), 0);
    assert_int_equal(v, 151643);
    assert_non_null(gguf_kv_find(g, "tokenizer.chat_template"));
    gguf_close(g);
}

/* ---- architectures without a fixture: built here ------------------------------------------ */

struct syn_tensor {
    const char *name;
    uint64_t shape[2];   /* shape[1] 0: 1-D */
};

/* A single-file F32 safetensors checkpoint of these tensors (element j of each: j % 1000 / 1000). */
static void write_safetensors(const char *path, const struct syn_tensor *t, size_t n)
{
    struct lm_buf h = LM_BUF_INIT(1u << 20);
    uint64_t off = 0;
    assert_int_equal(lm_buf_add(&h, "{", 1), 0);
    for (size_t i = 0; i < n; i++) {
        uint64_t ne = t[i].shape[0] * (t[i].shape[1] ? t[i].shape[1] : 1);
        char dims[64];
        if (t[i].shape[1])
            snprintf(dims, sizeof(dims), "%llu,%llu", (unsigned long long)t[i].shape[0],
                     (unsigned long long)t[i].shape[1]);
        else
            snprintf(dims, sizeof(dims), "%llu", (unsigned long long)t[i].shape[0]);
        assert_int_equal(lm_buf_printf(&h, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],"
                                       "\"data_offsets\":[%llu,%llu]}", i ? "," : "", t[i].name,
                                       dims, (unsigned long long)off,
                                       (unsigned long long)(off + 4 * ne)), 0);
        off += 4 * ne;
    }
    assert_int_equal(lm_buf_add(&h, "}", 1), 0);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint64_t hl = h.len;
    assert_int_equal(fwrite(&hl, 8, 1, f), 1);
    assert_int_equal(fwrite(h.data, 1, h.len, f), h.len);
    for (size_t i = 0; i < n; i++)
        for (uint64_t j = 0; j < t[i].shape[0] * (t[i].shape[1] ? t[i].shape[1] : 1); j++) {
            float v = (float)(j % 1000) * 0.001f;
            assert_int_equal(fwrite(&v, 4, 1, f), 1);
        }
    assert_int_equal(fclose(f), 0);
    lm_buf_release(&h);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char p[4096];
    snprintf(p, sizeof(p), "%.2000s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static struct gguf *convert_dir(const char *dir, const char *out)
{
    struct lm_err err;
    struct convert_opts o = { .outtype = CONVERT_F16 };
    struct convert *c = convert_open(dir, &o, &err);
    if (!c)
        fail_msg("%s: %s", err.path, err.msg);
    if (convert_write(c, out, NULL, &err))
        fail_msg("%s: %s", err.path, err.msg);
    convert_close(c);
    struct gguf *g = gguf_open(out, &err);
    assert_non_null(g);
    return g;
}

static uint64_t kv_u64(const struct gguf *g, const char *key)
{
    uint64_t v = UINT64_MAX;
    const struct gguf_kv *kv = gguf_kv_find(g, key);
    if (!kv || gguf_kv_u64(kv, &v))
        fail_msg("no %s", key);
    return v;
}

/* Qwen3: head_dim (32) is not hidden / heads (64 / 4 = 16), q/k norms per head, no biases. */
static void test_qwen3(void **state)
{
    (void)state;
    char dir[2048], path[4096], src[4096];
    snprintf(dir, sizeof(dir), "%.1000s/qwen3", tmp);
    assert_int_equal(lm_mkdirs(dir, NULL), 0);
    static const struct syn_tensor t[] = {
        { "model.embed_tokens.weight", { 512, 64 } },
        { "model.norm.weight", { 64, 0 } },
        { "model.layers.0.input_layernorm.weight", { 64, 0 } },
        { "model.layers.0.post_attention_layernorm.weight", { 64, 0 } },
        { "model.layers.0.self_attn.q_proj.weight", { 128, 64 } },
        { "model.layers.0.self_attn.k_proj.weight", { 64, 64 } },
        { "model.layers.0.self_attn.v_proj.weight", { 64, 64 } },
        { "model.layers.0.self_attn.o_proj.weight", { 64, 128 } },
        { "model.layers.0.self_attn.q_norm.weight", { 32, 0 } },
        { "model.layers.0.self_attn.k_norm.weight", { 32, 0 } },
        { "model.layers.0.mlp.gate_proj.weight", { 96, 64 } },
        { "model.layers.0.mlp.up_proj.weight", { 96, 64 } },
        { "model.layers.0.mlp.down_proj.weight", { 64, 96 } },
    };
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    write_safetensors(path, t, sizeof(t) / sizeof(t[0]));
    write_text(dir, "config.json",
               "{\"architectures\":[\"Qwen3ForCausalLM\"],\"hidden_size\":64,"
               "\"intermediate_size\":96,\"num_hidden_layers\":1,\"num_attention_heads\":4,"
               "\"num_key_value_heads\":2,\"head_dim\":32,\"vocab_size\":512,"
               "\"max_position_embeddings\":40960,\"rms_norm_eps\":1e-06,\"rope_theta\":1000000,"
               "\"tie_word_embeddings\":true,\"bos_token_id\":1,\"eos_token_id\":2}");
    const char *lm_src = getenv("LM_SRC");
    snprintf(src, sizeof(src), "%s/models/demo/tokenizer.model", lm_src ? lm_src : ".");
    snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
    copy_file(src, path);
    snprintf(path, sizeof(path), "%s/out.gguf", tmp);
    struct gguf *g = convert_dir(dir, path);
    char buf[64];
    assert_string_equal(meta_str(g, "general.architecture", buf, sizeof(buf)), "qwen3");
    assert_int_equal(kv_u64(g, "qwen3.attention.key_length"), 32);
    assert_int_equal(kv_u64(g, "qwen3.attention.head_count_kv"), 2);
    assert_null(gguf_kv_find(g, "qwen3.rope.dimension_count"));
    const struct gguf_tensor *qn = gguf_tensor_find(g, "blk.0.attn_q_norm.weight");
    const struct gguf_tensor *q = gguf_tensor_find(g, "blk.0.attn_q.weight");
    assert_non_null(qn);
    assert_non_null(q);
    assert_int_equal(qn->type, LM_TYPE_F32);
    assert_int_equal(qn->ne[0], 32);
    assert_int_equal(q->type, LM_TYPE_F16);
    assert_int_equal(q->ne[0], 64);
    assert_int_equal(q->ne[1], 128);
    /* no permutation for qwen3: row 1 is the second row of the source */
    assert_int_equal(((const uint16_t *)q->data)[64], lm_f32_to_f16(0.064f));
    assert_int_equal(gguf_n_tensors(g), sizeof(t) / sizeof(t[0]));
    gguf_close(g);
}

/* llama.cpp turns BOS off for Llama checkpoints with 49152-token vocabularies (SmolLM, granite
 * small), after tokenizer_config.json turned it on: the key keeps its place. */
static void test_llama_49152(void **state)
{
    (void)state;
    char dir[2048], path[4096], src[4096];
    snprintf(dir, sizeof(dir), "%.1000s/smol", tmp);
    assert_int_equal(lm_mkdirs(dir, NULL), 0);
    static const struct syn_tensor t[] = {
        { "lm_head.weight", { 49152, 32 } },
        { "model.embed_tokens.weight", { 49152, 32 } },
        { "model.norm.weight", { 32, 0 } },
        { "model.layers.0.input_layernorm.weight", { 32, 0 } },
        { "model.layers.0.post_attention_layernorm.weight", { 32, 0 } },
        { "model.layers.0.self_attn.q_proj.weight", { 32, 32 } },
        { "model.layers.0.self_attn.k_proj.weight", { 16, 32 } },
        { "model.layers.0.self_attn.v_proj.weight", { 16, 32 } },
        { "model.layers.0.self_attn.o_proj.weight", { 32, 32 } },
        { "model.layers.0.mlp.gate_proj.weight", { 64, 32 } },
        { "model.layers.0.mlp.up_proj.weight", { 64, 32 } },
        { "model.layers.0.mlp.down_proj.weight", { 32, 64 } },
    };
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    write_safetensors(path, t, sizeof(t) / sizeof(t[0]));
    write_text(dir, "config.json",
               "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":32,"
               "\"intermediate_size\":64,\"num_hidden_layers\":1,\"num_attention_heads\":2,"
               "\"num_key_value_heads\":1,\"vocab_size\":49152,\"rms_norm_eps\":1e-05}");
    write_text(dir, "tokenizer_config.json", "{\"add_bos_token\":true,\"add_eos_token\":false}");
    const char *lm_src = getenv("LM_SRC");
    snprintf(src, sizeof(src), "%s/models/demo/tokenizer.model", lm_src ? lm_src : ".");
    snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
    copy_file(src, path);
    snprintf(path, sizeof(path), "%s/smol.gguf", tmp);
    struct gguf *g = convert_dir(dir, path);
    bool b = true;
    assert_int_equal(gguf_kv_bool(gguf_kv_find(g, "tokenizer.ggml.add_bos_token"), &b), 0);
    assert_false(b);
    const struct gguf_kv *last = gguf_kv_at(g, gguf_n_kv(g) - 1);
    assert_memory_equal(last->key.p, "tokenizer.ggml.add_eos_token", last->key.len);
    assert_int_equal(kv_u64(g, "llama.vocab_size"), 49152);
    assert_int_equal(kv_u64(g, "llama.rope.dimension_count"), 16);
    gguf_close(g);
}

/* Llama 3.1's rope scaling adds rope_freqs.weight first and no rope.scaling keys; q/k rows are
 * permuted. */
static void test_llama3_rope(void **state)
{
    (void)state;
    const char *models = lm_models();
    if (!models)
        skip();
    char dir[2048], p[4096], q[4096];
    snprintf(dir, sizeof(dir), "%.1000s/llama31", tmp);
    assert_int_equal(lm_mkdirs(dir, NULL), 0);
    static const char *const files[] = { "model-00001-of-00002.safetensors",
                                         "model-00002-of-00002.safetensors",
                                         "model.safetensors.index.json", "tokenizer.model",
                                         "tokenizer_config.json" };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%.1000s/tiny-llama-256/%s", models, files[i]);
        snprintf(q, sizeof(q), "%s/%s", dir, files[i]);
        copy_file(p, q);
    }
    snprintf(p, sizeof(p), "%.1000s/tiny-llama-256/config.json", models);
    json_error_t je;
    json_t *cfg = json_load_file(p, 0, &je);
    assert_non_null(cfg);
    json_object_set_new(cfg, "rope_scaling",
                        json_pack("{s:s, s:f, s:f, s:f, s:i}", "rope_type", "llama3", "factor",
                                  8.0, "low_freq_factor", 1.0, "high_freq_factor", 4.0,
                                  "original_max_position_embeddings", 8192));
    snprintf(q, sizeof(q), "%s/config.json", dir);
    assert_int_equal(json_dump_file(cfg, q, 0), 0);
    json_decref(cfg);
    snprintf(q, sizeof(q), "%s/out.gguf", tmp);
    struct gguf *g = convert_dir(dir, q);
    const struct gguf_tensor *t = gguf_tensor_at(g, 0);
    assert_string_equal(t->name, "rope_freqs.weight");
    assert_int_equal(t->type, LM_TYPE_F32);
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[0], 32);   /* head_dim 64 / 2 */
    float f[32];
    convert_llama3_factors(100000.0, 64, 8.0, 1.0, 4.0, 8192.0, f);
    assert_memory_equal(t->data, f, sizeof(f));
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        if (kv->key.len > 18 && memcmp(kv->key.p, "llama.rope.scaling", 18) == 0)
            fail_msg("%.*s written", (int)kv->key.len, kv->key.p);
    }
    assert_int_equal(gguf_n_tensors(g), 22);
    gguf_close(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_other_folder_name),
        cmocka_unit_test(test_spm_valid),
        cmocka_unit_test(test_spm_hostile),
        cmocka_unit_test(test_permute),
        cmocka_unit_test(test_name_map),
        cmocka_unit_test(test_llama3_factors),
        cmocka_unit_test(test_f16_variants),
        cmocka_unit_test(test_naming),
        cmocka_unit_test(test_size_label),
        cmocka_unit_test(test_meta_order),
        cmocka_unit_test(test_looks_special),
        cmocka_unit_test(test_bpe_pre),
        cmocka_unit_test(test_vocab_json_merges),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_llama_49152),
        cmocka_unit_test(test_llama3_rope),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

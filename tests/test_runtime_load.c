/* test_runtime_load.c: model loading refuses hostile GGUFs with one exact error. Each case is
 * stories260K-F32.gguf rewritten with one mutation (a key changed, dropped or retyped, a tensor
 * dropped, reshaped or retyped), and the error's code, message and byte offset are checked;
 * the offset is found in the rewritten file, so a reader sees what is wrong from the row. Also:
 * qwen3's shape rules (explicit head dim, q/k norms) on a small synthetic model, and that a
 * loaded model runs. */
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../runtime/runtime.h"
#include "support/testutil.h"

enum edit {
    NONE,
    SET_U32,      /* key = u32 (replacing it where it is, or appended) */
    SET_F32,
    SET_STR,
    DROP_KV,
    TOKENS_U32,   /* tokenizer.ggml.tokens as a u32 array */
    DROP_TENSOR,
    RETYPE,       /* tensor stored as another type, same element count (zero data) */
    RESHAPE,      /* tensor ne0/ne1 swapped */
    ADD_ROPE,     /* rope_freqs.weight of u32 floats, each f32 (llama3's rope factors) */
};

struct load_row {
    const char *what;
    enum edit edit;
    const char *name;       /* key or tensor */
    uint32_t u32;           /* SET_U32 value / RETYPE type */
    float f32;
    const char *str;
    enum lm_errcode code;
    const char *at;         /* "kv:KEY", "tensor:NAME" or NULL (no offset) */
    const char *msg;
};

static const struct load_row load_rows[] = {
    { "no layers", SET_U32, "llama.block_count", 0, 0, NULL, LM_ECORRUPT,
      "kv:llama.block_count", "llama.block_count is 0, must be 1 to 512" },
    { "too many layers", SET_U32, "llama.block_count", 600, 0, NULL, LM_ECORRUPT,
      "kv:llama.block_count", "llama.block_count is 600, must be 1 to 512" },
    { "no heads", SET_U32, "llama.attention.head_count", 0, 0, NULL, LM_ECORRUPT,
      "kv:llama.attention.head_count", "llama.attention.head_count is 0, must be 1 to 4096" },
    { "kv heads do not divide heads", SET_U32, "llama.attention.head_count_kv", 3, 0, NULL,
      LM_ECORRUPT, NULL, "llama has 8 heads, not a multiple of its 3 KV heads" },
    { "more kv heads than heads", SET_U32, "llama.attention.head_count_kv", 16, 0, NULL,
      LM_ECORRUPT, "kv:llama.attention.head_count_kv",
      "llama.attention.head_count_kv is 16, must be 1 to 8" },
    { "rope dims differ from head dim", SET_U32, "llama.rope.dimension_count", 6, 0, NULL,
      LM_ECORRUPT, NULL, "llama.rope.dimension_count 6 does not fit head dimension 8" },
    { "key length differs from value length", SET_U32, "llama.attention.key_length", 7, 0, NULL, LM_EUNSUPPORTED, NULL,
      "value length 8 differs from key length 7" },
    { "ffn width differs from the tensors", SET_U32, "llama.feed_forward_length", 200, 0, NULL,
      LM_ECORRUPT, "tensor:blk.0.ffn_gate.weight",
      "tensor 'blk.0.ffn_gate.weight' has shape [64, 172, 1, 1], llama wants [64, 200]" },
    { "NaN epsilon", SET_F32, "llama.attention.layer_norm_rms_epsilon", 0, NAN, NULL,
      LM_ECORRUPT, "kv:llama.attention.layer_norm_rms_epsilon",
      "llama.attention.layer_norm_rms_epsilon is nan, must be a finite number >= 0" },
    { "no context length", DROP_KV, "llama.context_length", 0, 0, NULL, LM_ECORRUPT, NULL,
      "missing key llama.context_length" },
    { "unknown architecture", SET_STR, "general.architecture", 0, 0, "gpt-j", LM_EUNSUPPORTED,
      "kv:general.architecture",
      "architecture 'gpt-j' is not supported (llama, qwen2 and qwen3 are)" },
    { "yarn rope scaling", SET_STR, "llama.rope.scaling.type", 0, 0, "yarn", LM_EUNSUPPORTED,
      "kv:llama.rope.scaling.type", "rope scaling 'yarn' is not supported (none and linear are)" },
    { "block count as a string", SET_STR, "llama.block_count", 0, 0, "5", LM_EUNSUPPORTED,
      "kv:llama.block_count", "llama.block_count is STRING, want an unsigned integer" },
    { "BOS past the vocabulary", SET_U32, "tokenizer.ggml.bos_token_id", 512, 0, NULL,
      LM_ECORRUPT, "kv:tokenizer.ggml.bos_token_id",
      "tokenizer.ggml.bos_token_id 512 is past the vocabulary of 512 tokens" },
    { "EOS past the vocabulary", SET_U32, "tokenizer.ggml.eos_token_id", 4000000000u, 0, NULL,
      LM_ECORRUPT, "kv:tokenizer.ggml.eos_token_id",
      "tokenizer.ggml.eos_token_id 4000000000 is past the vocabulary of 512 tokens" },
    { "tokens not strings", TOKENS_U32, "tokenizer.ggml.tokens", 0, 0, NULL, LM_ECORRUPT,
      "kv:tokenizer.ggml.tokens", "tokenizer.ggml.tokens must be 1 to 16777216 strings" },
    { "missing tensor", DROP_TENSOR, "blk.3.ffn_up.weight", 0, 0, NULL, LM_ECORRUPT, NULL,
      "missing tensor 'blk.3.ffn_up.weight' (llama needs it)" },
    { "missing embeddings", DROP_TENSOR, "token_embd.weight", 0, 0, NULL, LM_ECORRUPT, NULL,
      "missing tensor 'token_embd.weight' (llama needs it)" },
    { "transposed tensor", RESHAPE, "blk.2.attn_k.weight", 0, 0, NULL, LM_ECORRUPT,
      "tensor:blk.2.attn_k.weight",
      "tensor 'blk.2.attn_k.weight' has shape [32, 64, 1, 1], llama wants [64, 32]" },
    { "norm not F32", RETYPE, "blk.0.attn_norm.weight", LM_TYPE_F16, 0, NULL, LM_EUNSUPPORTED,
      "tensor:blk.0.attn_norm.weight", "tensor 'blk.0.attn_norm.weight' is F16, must be F32" },
    { "weight type without a kernel", RETYPE, "blk.1.attn_q.weight", LM_TYPE_IQ4_NL, 0, NULL,
      LM_EUNSUPPORTED, "tensor:blk.1.attn_q.weight",
      "tensor 'blk.1.attn_q.weight' is IQ4_NL, which lm run has no kernel for" },
    { "rope factors of the wrong length", ADD_ROPE, "rope_freqs.weight", 3, 1.0f, NULL,
      LM_ECORRUPT, "tensor:rope_freqs.weight",
      "tensor 'rope_freqs.weight' has shape [3, 1, 1, 1], llama wants [4, 1]" },
    { "integer weights", RETYPE, "output_norm.weight", LM_TYPE_I32, 0, NULL, LM_EUNSUPPORTED,
      "tensor:output_norm.weight", "tensor 'output_norm.weight' is I32, must be F32" },
};

static bool key_is(const struct gguf_kv *kv, const char *key)
{
    return kv->key.len == strlen(key) && memcmp(kv->key.p, key, kv->key.len) == 0;
}

static int add_edit(struct gguf_writer *w, const struct load_row *r, struct lm_err *err)
{
    switch (r->edit) {
    case SET_U32: return gguf_writer_add_u32(w, r->name, r->u32, err);
    case SET_F32: return gguf_writer_add_f32(w, r->name, r->f32, err);
    case SET_STR: return gguf_writer_add_str(w, r->name, r->str, strlen(r->str), err);
    case TOKENS_U32: {
        static uint32_t v[512];
        return gguf_writer_add_arr_num(w, r->name, GGUF_U32, v, 512, err);
    }
    default: return 0;
    }
}

/* Rewrite src into dst with the row's one mutation. */
static void rewrite(const char *src, const char *dst, const struct load_row *r)
{
    struct lm_err err;
    struct gguf *g = gguf_open(src, &err);
    assert_non_null(g);
    struct gguf_writer *w = gguf_writer_new();
    bool key_done = false;
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        if (r->edit != NONE && r->edit < DROP_TENSOR && key_is(kv, r->name)) {
            key_done = true;
            assert_int_equal(add_edit(w, r, &err), 0);
            continue;
        }
        assert_int_equal(gguf_writer_add_kv(w, kv, &err), 0);
    }
    if (!key_done)
        assert_int_equal(add_edit(w, r, &err), 0);
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        bool mine = r->edit >= DROP_TENSOR && strcmp(t->name, r->name) == 0;
        if (mine && r->edit == DROP_TENSOR)
            continue;
        uint64_t ne[GGUF_MAX_DIMS];
        memcpy(ne, t->ne, sizeof(ne));
        if (mine && r->edit == RESHAPE) {
            ne[0] = t->ne[1];
            ne[1] = t->ne[0];
        }
        assert_int_equal(gguf_writer_add_tensor(w, t->name, mine && r->edit == RETYPE ? r->u32 : t->type,
                                                t->n_dims, ne, &err), 0);
    }
    if (r->edit == ADD_ROPE) {
        uint64_t ne[1] = { r->u32 };
        assert_int_equal(gguf_writer_add_tensor(w, r->name, LM_TYPE_F32, 1, ne, &err), 0);
    }
    int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(gguf_writer_begin(w, fd, dst, &err), 0);
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        bool mine = r->edit >= DROP_TENSOR && strcmp(t->name, r->name) == 0;
        if (mine && r->edit == DROP_TENSOR)
            continue;
        if (mine && r->edit == RETYPE) {
            uint64_t n;
            assert_int_equal(lm_type_nbytes(r->u32, t->nelem, &n), 0);
            void *zero = calloc(1, n);
            assert_int_equal(gguf_writer_write_data(w, zero, n, &err), 0);
            free(zero);
            continue;
        }
        assert_int_equal(gguf_writer_write_data(w, t->data, t->nbytes, &err), 0);
    }
    if (r->edit == ADD_ROPE) {
        float f[64];
        for (uint32_t i = 0; i < r->u32 && i < 64; i++)
            f[i] = r->f32;
        assert_int_equal(gguf_writer_write_data(w, f, r->u32 * sizeof(float), &err), 0);
    }
    assert_int_equal(gguf_writer_finish(w, &err), 0);
    close(fd);
    gguf_writer_free(w);
    gguf_close(g);
}

/* Where the row's error points in the rewritten file. */
static uint64_t expected_offset(const char *path, const char *at)
{
    if (!at)
        return LM_NO_OFFSET;
    struct lm_err err;
    struct gguf *g = gguf_open(path, &err);
    assert_non_null(g);
    uint64_t off;
    if (strncmp(at, "kv:", 3) == 0) {
        const struct gguf_kv *kv = gguf_kv_find(g, at + 3);
        assert_non_null(kv);
        off = kv->file_off;
    } else {
        const struct gguf_tensor *t = gguf_tensor_find(g, at + 7);
        assert_non_null(t);
        off = gguf_data_offset(g) + t->offset;
    }
    gguf_close(g);
    return off;
}

static char *fixture(void)
{
    static char path[1024];
    const char *models = lm_models();
    if (!models)
        return NULL;
    snprintf(path, sizeof(path), "%s/stories260K/ref/gguf/stories260K-F32.gguf", models);
    return access(path, R_OK) == 0 ? path : NULL;
}

static void test_load(void **state)
{
    const struct load_row *r = *state;
    const char *src = fixture();
    if (!src)
        skip();
    char *dir = make_tmpdir(), dst[1200];
    snprintf(dst, sizeof(dst), "%s/mutated.gguf", dir);
    rewrite(src, dst, r);
    struct lm_err err;
    lm_err_clear(&err);
    struct lm_net *m = lm_net_open(dst, &err);
    if (m)
        fail_msg("%s: loaded, want \"%s\"", r->what, r->msg);
    assert_string_equal(err.msg, r->msg);
    assert_int_equal(err.code, r->code);
    assert_string_equal(err.path, dst);
    assert_int_equal(err.off, expected_offset(dst, r->at));
    rm_rf(dir);
    free(dir);
}

/* A rewrite that changes nothing loads and runs: the harness itself is sound. */
static void test_rewrite_unchanged(void **state)
{
    (void)state;
    const char *src = fixture();
    if (!src)
        skip();
    char *dir = make_tmpdir(), dst[1200];
    snprintf(dst, sizeof(dst), "%s/same.gguf", dir);
    struct load_row same = { "same", NONE, "", 0, 0, NULL, LM_OK, NULL, "" };
    rewrite(src, dst, &same);
    struct lm_err err;
    struct lm_net *m = lm_net_open(dst, &err);
    assert_non_null(m);
    const struct lm_hparams *hp = lm_net_hparams(m);
    assert_int_equal(hp->n_layer, 5);
    assert_int_equal(hp->head_dim, 8);
    assert_true(hp->tied_output);
    struct lm_ctx_params cp = { .n_ctx = 16, .n_threads = 1 };
    struct lm_ctx *c = lm_ctx_new(m, &cp, &err);
    assert_non_null(c);
    int32_t ids[3] = { 1, 403, 407 };
    assert_int_equal(lm_ctx_eval(c, ids, 3, false, &err), 0);
    /* A token past the vocabulary and a context overflow are refused, nothing appended. */
    int32_t bad = 512;
    assert_int_equal(lm_ctx_eval(c, &bad, 1, false, &err), -1);
    assert_string_equal(err.msg, "token id 512 is outside the vocabulary of 512");
    int32_t many[14] = { 0 };
    assert_int_equal(lm_ctx_eval(c, many, 14, false, &err), -1);
    assert_string_equal(err.msg, "14 more tokens do not fit the context: 3 of 16 used");
    assert_int_equal(lm_ctx_n_past(c), 3);
    lm_ctx_free(c);
    lm_net_close(m);
    rm_rf(dir);
    free(dir);
}

/* Every prefix of a valid file is refused with one error (the GGUF reader's), never a crash. */
static void test_truncated(void **state)
{
    (void)state;
    const char *src = fixture();
    if (!src)
        skip();
    FILE *f = fopen(src, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    char *dir = make_tmpdir(), dst[1200];
    snprintf(dst, sizeof(dst), "%s/cut.gguf", dir);
    static const long cuts[] = { 0, 3, 8, 100, 4000, 9000, 20000, 500000, -1 };
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        long n = cuts[i] < 0 ? len - 1 : cuts[i];
        FILE *o = fopen(dst, "wb");
        fwrite(buf, 1, (size_t)n, o);
        fclose(o);
        struct lm_err err;
        lm_err_clear(&err);
        assert_null(lm_net_open(dst, &err));
        assert_int_equal(err.code, LM_ECORRUPT);
        assert_true(err.msg[0] != 0 && strchr(err.msg, '\n') == NULL);
    }
    free(buf);
    rm_rf(dir);
    free(dir);
}

/* qwen3: head dim from key_length (not n_embd / n_head), q/k norm weights of head_dim. */
static void write_qwen3(const char *path, uint32_t q_norm_len, bool drop_k_norm)
{
    struct lm_err err;
    struct gguf_writer *w = gguf_writer_new();
    const uint32_t E = 32, HD = 16, H = 4, KV = 2, FF = 64, V = 8;
    struct gguf_str toks[8];
    char tb[8][16];
    for (int i = 0; i < 8; i++) {
        snprintf(tb[i], sizeof(tb[i]), "t%d", i);
        toks[i].p = tb[i];
        toks[i].len = strlen(tb[i]);
    }
    assert_int_equal(gguf_writer_add_str(w, "general.architecture", "qwen3", 5, &err) |
                     gguf_writer_add_u32(w, "qwen3.context_length", 64, &err) |
                     gguf_writer_add_u32(w, "qwen3.embedding_length", E, &err) |
                     gguf_writer_add_u32(w, "qwen3.block_count", 1, &err) |
                     gguf_writer_add_u32(w, "qwen3.feed_forward_length", FF, &err) |
                     gguf_writer_add_u32(w, "qwen3.attention.head_count", H, &err) |
                     gguf_writer_add_u32(w, "qwen3.attention.head_count_kv", KV, &err) |
                     gguf_writer_add_u32(w, "qwen3.attention.key_length", HD, &err) |
                     gguf_writer_add_u32(w, "qwen3.attention.value_length", HD, &err) |
                     gguf_writer_add_f32(w, "qwen3.attention.layer_norm_rms_epsilon", 1e-6f, &err) |
                     gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4, &err) |
                     gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, V, &err), 0);
    struct { const char *name; uint64_t ne0, ne1; } t[] = {
        { "token_embd.weight", E, V }, { "output_norm.weight", E, 1 },
        { "blk.0.attn_norm.weight", E, 1 }, { "blk.0.attn_q.weight", E, H * HD },
        { "blk.0.attn_k.weight", E, KV * HD }, { "blk.0.attn_v.weight", E, KV * HD },
        { "blk.0.attn_output.weight", H * HD, E }, { "blk.0.attn_q_norm.weight", q_norm_len, 1 },
        { "blk.0.attn_k_norm.weight", HD, 1 }, { "blk.0.ffn_norm.weight", E, 1 },
        { "blk.0.ffn_gate.weight", E, FF }, { "blk.0.ffn_up.weight", E, FF },
        { "blk.0.ffn_down.weight", FF, E },
    };
    size_t n = sizeof(t) / sizeof(t[0]);
    for (size_t i = 0; i < n; i++) {
        if (drop_k_norm && strstr(t[i].name, "k_norm"))
            continue;
        uint64_t ne[2] = { t[i].ne0, t[i].ne1 };
        assert_int_equal(gguf_writer_add_tensor(w, t[i].name, LM_TYPE_F32, t[i].ne1 > 1 ? 2 : 1,
                                                ne, &err), 0);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_int_equal(gguf_writer_begin(w, fd, path, &err), 0);
    for (size_t i = 0; i < n; i++) {
        if (drop_k_norm && strstr(t[i].name, "k_norm"))
            continue;
        size_t cnt = t[i].ne0 * t[i].ne1;
        float *d = malloc(cnt * sizeof(float));
        for (size_t k = 0; k < cnt; k++)   /* small deterministic weights, norms 1 */
            d[k] = t[i].ne1 == 1 ? 1.0f : (float)((k * 7919 + i * 104729) % 201) / 2000.0f - 0.05f;
        assert_int_equal(gguf_writer_write_data(w, d, cnt * sizeof(float), &err), 0);
        free(d);
    }
    assert_int_equal(gguf_writer_finish(w, &err), 0);
    close(fd);
    gguf_writer_free(w);
}

static void test_qwen3_shapes(void **state)
{
    (void)state;
    char *dir = make_tmpdir(), path[1200];
    snprintf(path, sizeof(path), "%s/qwen3.gguf", dir);
    struct lm_err err;

    write_qwen3(path, 16, false);
    struct lm_net *m = lm_net_open(path, &err);
    if (!m)
        fail_msg("qwen3: %s", err.msg);
    const struct lm_hparams *hp = lm_net_hparams(m);
    assert_int_equal(hp->arch, LM_ARCH_QWEN3);
    assert_int_equal(hp->head_dim, 16);     /* 32 / 4 would be 8 */
    assert_int_equal(hp->n_rot, 16);
    assert_true(hp->rope_neox);
    assert_true(hp->tied_output);
    struct lm_ctx_params cp = { .n_ctx = 8, .n_threads = 2 };
    struct lm_ctx *c = lm_ctx_new(m, &cp, &err);
    int32_t ids[4] = { 1, 2, 3, 4 };
    assert_int_equal(lm_ctx_eval(c, ids, 4, true, &err), 0);
    uint32_t n_out;
    const float *l = lm_ctx_logits(c, &n_out);
    assert_int_equal(n_out, 4);
    for (uint32_t i = 0; i < 4 * 8; i++)
        assert_true(isfinite(l[i]));
    lm_ctx_free(c);
    lm_net_close(m);

    write_qwen3(path, 8, false);   /* q norm of n_embd / n_head, not of the head dim */
    assert_null(lm_net_open(path, &err));
    assert_string_equal(err.msg,
                        "tensor 'blk.0.attn_q_norm.weight' has shape [8, 1, 1, 1], qwen3 wants [16, 1]");
    write_qwen3(path, 16, true);
    assert_null(lm_net_open(path, &err));
    assert_string_equal(err.msg, "missing tensor 'blk.0.attn_k_norm.weight' (qwen3 needs it)");
    rm_rf(dir);
    free(dir);
}

/* llama3 rope factors divide each pair's angle: all ones change nothing, all twos do. */
static float *last_logits(const char *path)
{
    struct lm_err err;
    struct lm_net *m = lm_net_open(path, &err);
    if (!m)
        fail_msg("%s: %s", path, err.msg);
    struct lm_ctx_params cp = { .n_ctx = 16, .n_threads = 1 };
    struct lm_ctx *c = lm_ctx_new(m, &cp, &err);
    int32_t ids[6] = { 1, 403, 407, 261, 378, 432 };
    assert_int_equal(lm_ctx_eval(c, ids, 6, false, &err), 0);
    float *l = malloc(512 * sizeof(float));
    memcpy(l, lm_ctx_logits(c, NULL), 512 * sizeof(float));
    lm_ctx_free(c);
    lm_net_close(m);
    return l;
}

static void test_rope_factors(void **state)
{
    (void)state;
    const char *src = fixture();
    if (!src)
        skip();
    char *dir = make_tmpdir(), p1[1200], p2[1200];
    snprintf(p1, sizeof(p1), "%s/ones.gguf", dir);
    snprintf(p2, sizeof(p2), "%s/twos.gguf", dir);
    struct load_row ones = { "ones", ADD_ROPE, "rope_freqs.weight", 4, 1.0f, NULL, LM_OK, NULL, "" };
    struct load_row twos = { "twos", ADD_ROPE, "rope_freqs.weight", 4, 2.0f, NULL, LM_OK, NULL, "" };
    rewrite(src, p1, &ones);
    rewrite(src, p2, &twos);
    float *base = last_logits(src), *l1 = last_logits(p1), *l2 = last_logits(p2);
    assert_memory_equal(base, l1, 512 * sizeof(float));
    assert_memory_not_equal(base, l2, 512 * sizeof(float));
    free(base);
    free(l1);
    free(l2);
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    size_t n_rows = sizeof(load_rows) / sizeof(load_rows[0]), n = 0;
    struct CMUnitTest tests[sizeof(load_rows) / sizeof(load_rows[0]) + 4];
    for (size_t i = 0; i < n_rows; i++, n++)
        tests[n] = (struct CMUnitTest){ load_rows[i].what, test_load, NULL, NULL,
                                        (void *)&load_rows[i] };
    tests[n++] = (struct CMUnitTest){ "unchanged rewrite loads and runs", test_rewrite_unchanged,
                                      NULL, NULL, NULL };
    tests[n++] = (struct CMUnitTest){ "truncated files", test_truncated, NULL, NULL, NULL };
    tests[n++] = (struct CMUnitTest){ "qwen3 shapes", test_qwen3_shapes, NULL, NULL, NULL };
    tests[n++] = (struct CMUnitTest){ "llama3 rope factors", test_rope_factors, NULL, NULL, NULL };
    return _cmocka_run_group_tests("runtime_load", tests, n, NULL, NULL);
}

/* test_quantize_plan.c: llama-quantize's per-tensor type choice on layouts the fixtures do not
 * cover: Qwen2.5-0.5B and Llama-3.2-1B (the examples of shared/specs/quant-formats.md §10.4),
 * every mix lm makes, a 70B and an 8-expert layout, and the options. The models are made here
 * with their real row lengths and two rows per tensor (only ne[0], the names and the metadata
 * reach the rules). Expected types follow llama.cpp's llama_tensor_get_type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../quantize/quantize.h"

struct model {
    const char *arch;
    int n_layer, n_embd, n_ff, n_head, n_head_kv, n_expert;
    bool tied, qkv_bias;
};

static const struct model qwen05 = { "qwen2", 24, 896, 4864, 14, 2, 0, true, true };
static const struct model llama1b = { "llama", 16, 2048, 8192, 32, 8, 0, true, false };
static const struct model llama70b = { "llama", 80, 8192, 28672, 64, 8, 0, false, false };
static const struct model moe8 = { "llama", 4, 512, 256, 8, 8, 8, false, false };

/* ---- building the model ------------------------------------------------------------------ */

struct built {
    char path[64];
    struct gguf *g;
};

struct tlist {
    struct gguf_writer *w;
    uint64_t bytes[4096];
    size_t n;
};

static void add(struct tlist *l, const char *name, uint64_t ne0, uint32_t n_dims)
{
    struct lm_err err;
    uint64_t ne[3] = { ne0, 2, 2 };
    assert_int_equal(gguf_writer_add_tensor(l->w, name, LM_TYPE_F32, n_dims, ne, &err), 0);
    l->bytes[l->n++] = ne0 * 4 * (n_dims == 1 ? 1 : n_dims == 2 ? 2 : 4);
}

static void make(const struct model *m, struct built *b)
{
    struct lm_err err;
    static struct tlist l;
    char key[96], name[96];
    l.w = gguf_writer_new();
    l.n = 0;
    assert_int_equal(gguf_writer_add_str(l.w, "general.architecture", m->arch, strlen(m->arch),
                                         &err), 0);
    const char *keys[] = { "block_count", "attention.head_count", "attention.head_count_kv",
                           "expert_count" };
    const int vals[] = { m->n_layer, m->n_head, m->n_head_kv, m->n_expert };
    for (int k = 0; k < (m->n_expert ? 4 : 3); k++) {
        snprintf(key, sizeof(key), "%s.%s", m->arch, keys[k]);
        assert_int_equal(gguf_writer_add_u32(l.w, key, (uint32_t)vals[k], &err), 0);
    }
    add(&l, "token_embd.weight", (uint64_t)m->n_embd, 2);
    add(&l, "output_norm.weight", (uint64_t)m->n_embd, 1);
    if (!m->tied)
        add(&l, "output.weight", (uint64_t)m->n_embd, 2);
    for (int i = 0; i < m->n_layer; i++) {
        static const char *const attn[] = { "attn_q", "attn_k", "attn_v" };
        for (int k = 0; k < 3; k++) {
            snprintf(name, sizeof(name), "blk.%d.%s.weight", i, attn[k]);
            add(&l, name, (uint64_t)m->n_embd, 2);
            snprintf(name, sizeof(name), "blk.%d.%s.bias", i, attn[k]);
            if (m->qkv_bias)
                add(&l, name, (uint64_t)m->n_embd, 1);
        }
        snprintf(name, sizeof(name), "blk.%d.attn_output.weight", i);
        add(&l, name, (uint64_t)m->n_embd, 2);
        snprintf(name, sizeof(name), "blk.%d.attn_norm.weight", i);
        add(&l, name, (uint64_t)m->n_embd, 1);
        snprintf(name, sizeof(name), "blk.%d.ffn_norm.weight", i);
        add(&l, name, (uint64_t)m->n_embd, 1);
        const char *sfx = m->n_expert ? "_exps" : "";
        const uint32_t nd = m->n_expert ? 3 : 2;
        snprintf(name, sizeof(name), "blk.%d.ffn_gate%s.weight", i, sfx);
        add(&l, name, (uint64_t)m->n_embd, nd);
        snprintf(name, sizeof(name), "blk.%d.ffn_up%s.weight", i, sfx);
        add(&l, name, (uint64_t)m->n_embd, nd);
        snprintf(name, sizeof(name), "blk.%d.ffn_down%s.weight", i, sfx);
        add(&l, name, (uint64_t)m->n_ff, nd);
        snprintf(name, sizeof(name), "blk.%d.ffn_gate_inp.weight", i);
        if (m->n_expert)
            add(&l, name, (uint64_t)m->n_embd, 2);
    }
    snprintf(b->path, sizeof(b->path), "/tmp/lm-qplan.XXXXXX");
    int fd = mkstemp(b->path);
    assert_true(fd >= 0);
    assert_int_equal(gguf_writer_begin(l.w, fd, b->path, &err), 0);
    static const uint8_t zero[1 << 17];
    for (size_t i = 0; i < l.n; i++) {
        for (uint64_t left = l.bytes[i]; left;) {
            size_t k = left < sizeof(zero) ? (size_t)left : sizeof(zero);
            assert_int_equal(gguf_writer_write_data(l.w, zero, k, &err), 0);
            left -= k;
        }
    }
    assert_int_equal(gguf_writer_finish(l.w, &err), 0);
    gguf_writer_free(l.w);
    close(fd);
    b->g = gguf_open(b->path, &err);
    if (!b->g)
        fail_msg("%s", err.msg);
}

static void unmake(struct built *b)
{
    gguf_close(b->g);
    unlink(b->path);
}

/* ---- planning and checking --------------------------------------------------------------- */

static struct lm_quant_opts opts(int ftype)
{
    struct lm_quant_opts o = { .ftype = ftype, .output_type = -1, .token_embd_type = -1 };
    return o;
}

static void plan(const struct built *b, const struct lm_quant_opts *o, struct lm_plan *p)
{
    struct lm_err err;
    if (lm_quant_plan(b->g, b->path, o, p, &err) != 0)
        fail_msg("plan: %s", err.msg);
}

static const char *type_of(const struct lm_plan *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->e[i].t->name, name) == 0)
            return lm_type_get(p->e[i].to)->name;
    fail_msg("no tensor %s", name);
    return NULL;
}

static void want(const struct lm_plan *p, const char *name, const char *type)
{
    const char *got = type_of(p, name);
    if (strcmp(got, type) != 0)
        fail_msg("%s: got %s, want %s", name, got, type);
}

/* Layer tensor `what` (attn_v, ffn_down, ...) of layer i. */
static void want_l(const struct lm_plan *p, int i, const char *what, const char *type)
{
    char name[96];
    snprintf(name, sizeof(name), "blk.%d.%s.weight", i, what);
    want(p, name, type);
}

static bool in(int i, const int *set, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (set[k] == i)
            return true;
    return false;
}

/* ---- the spec's examples ----------------------------------------------------------------- */

static void test_qwen25_05b_q4_k_m(void **state)
{
    (void)state;
    struct built b;
    struct lm_plan p;
    make(&qwen05, &b);
    struct lm_quant_opts o = opts(LM_FTYPE_Q4_K_M);
    plan(&b, &o, &p);
    static const int more[] = { 0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23 };
    want(&p, "token_embd.weight", "Q8_0");      /* tied, 896 is not whole 256-blocks */
    want(&p, "output_norm.weight", "F32");
    for (int i = 0; i < 24; i++) {
        bool mb = in(i, more, 12);
        want_l(&p, i, "attn_q", "Q5_0");
        want_l(&p, i, "attn_k", "Q5_0");
        want_l(&p, i, "attn_output", "Q5_0");
        want_l(&p, i, "ffn_gate", "Q5_0");
        want_l(&p, i, "ffn_up", "Q5_0");
        want_l(&p, i, "attn_v", mb ? "Q8_0" : "Q5_0");
        want_l(&p, i, "ffn_down", mb ? "Q6_K" : "Q4_K");
        char name[64];
        snprintf(name, sizeof(name), "blk.%d.attn_q.bias", i);
        want(&p, name, "F32");
    }
    lm_plan_release(&p);
    unmake(&b);
}

static const int more16[] = { 0, 1, 4, 7, 10, 13, 14, 15 };

static void test_llama32_1b_mixes(void **state)
{
    (void)state;
    struct built b;
    struct lm_plan p;
    make(&llama1b, &b);
    struct {
        int ftype;
        const char *def, *emb, *v_more, *v_rest, *down_more, *down_rest, *out;
        int v_first, v_first_n, down_first_n;   /* the first v_first_n attn_v get v_first... */
    } cases[] = {
        /* ftype          default  embd    attn_v more/rest  ffn_down more/rest attn_output */
        { LM_FTYPE_Q4_K_M, "Q4_K", "Q6_K", "Q6_K", "Q4_K", "Q6_K", "Q4_K", "Q4_K", 0, 0, 0 },
        { LM_FTYPE_Q5_K_M, "Q5_K", "Q6_K", "Q6_K", "Q5_K", "Q6_K", "Q5_K", "Q5_K", 0, 0, 0 },
        { LM_FTYPE_Q5_K_S, "Q5_K", "Q6_K", "Q5_K", "Q5_K", "Q5_K", "Q5_K", "Q5_K", 0, 0, 0 },
        { LM_FTYPE_Q6_K, "Q6_K", "Q6_K", "Q6_K", "Q6_K", "Q6_K", "Q6_K", "Q6_K", 0, 0, 0 },
        { LM_FTYPE_Q8_0, "Q8_0", "Q8_0", "Q8_0", "Q8_0", "Q8_0", "Q8_0", "Q8_0", 0, 0, 0 },
        { LM_FTYPE_Q4_0, "Q4_0", "Q6_K", "Q4_0", "Q4_0", "Q4_0", "Q4_0", "Q4_0", 0, 0, 0 },
        { LM_FTYPE_Q5_1, "Q5_1", "Q6_K", "Q5_1", "Q5_1", "Q5_1", "Q5_1", "Q5_1", 0, 0, 0 },
        /* Q4_K_S: attn_v of the first 4 and ffn_down of the first n/8 = 2 layers get Q5_K. */
        { LM_FTYPE_Q4_K_S, "Q4_K", "Q6_K", "Q4_K", "Q4_K", "Q4_K", "Q4_K", "Q4_K", 4, 4, 2 },
        /* Q3_K_S: no rules; Q3_K_L: attn_v, ffn_down and attn_output Q5_K. */
        { LM_FTYPE_Q3_K_S, "Q3_K", "Q6_K", "Q3_K", "Q3_K", "Q3_K", "Q3_K", "Q3_K", 0, 0, 0 },
        { LM_FTYPE_Q3_K_L, "Q3_K", "Q6_K", "Q5_K", "Q5_K", "Q5_K", "Q5_K", "Q5_K", 0, 0, 0 },
        /* Q2_K (n_gqa 4): attn_v Q4_K, ffn_down and attn_output Q3_K. */
        { LM_FTYPE_Q2_K, "Q2_K", "Q6_K", "Q4_K", "Q4_K", "Q3_K", "Q3_K", "Q3_K", 0, 0, 0 },
        /* IQ4_NL/IQ4_XS (n_gqa 4): attn_v Q5_K; ffn_down of the first n/8 layers Q5_K. */
        { LM_FTYPE_IQ4_NL, "IQ4_NL", "Q6_K", "Q5_K", "Q5_K", "IQ4_NL", "IQ4_NL", "IQ4_NL", 0, 0,
          2 },
        { LM_FTYPE_IQ4_XS, "IQ4_XS", "Q6_K", "Q5_K", "Q5_K", "IQ4_XS", "IQ4_XS", "IQ4_XS", 0, 0,
          2 },
        { LM_FTYPE_F16, "F16", "F16", "F16", "F16", "F16", "F16", "F16", 0, 0, 0 },
        { LM_FTYPE_BF16, "BF16", "BF16", "BF16", "BF16", "BF16", "BF16", "BF16", 0, 0, 0 },
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct lm_quant_opts o = opts(cases[c].ftype);
        plan(&b, &o, &p);
        want(&p, "token_embd.weight", cases[c].emb);
        want(&p, "output_norm.weight", "F32");
        for (int i = 0; i < 16; i++) {
            bool mb = in(i, more16, 8);
            want_l(&p, i, "attn_q", cases[c].def);
            want_l(&p, i, "attn_k", cases[c].def);
            want_l(&p, i, "ffn_gate", cases[c].def);
            want_l(&p, i, "ffn_up", cases[c].def);
            want_l(&p, i, "attn_output", cases[c].out);
            want_l(&p, i, "attn_v", i < cases[c].v_first_n ? "Q5_K"
                                    : mb ? cases[c].v_more : cases[c].v_rest);
            want_l(&p, i, "ffn_down", i < cases[c].down_first_n ? "Q5_K"
                                      : mb ? cases[c].down_more : cases[c].down_rest);
            want_l(&p, i, "attn_norm", "F32");
        }
        lm_plan_release(&p);
    }
    /* Q3_K_M: attn_v Q5_K for the first 2 layers, then Q4_K; ffn_down Q5_K below n/16 = 1,
     * else Q4_K (not falcon); attn_output Q4_K. */
    struct lm_quant_opts o = opts(LM_FTYPE_Q3_K_M);
    plan(&b, &o, &p);
    for (int i = 0; i < 16; i++) {
        want_l(&p, i, "attn_v", i < 2 ? "Q5_K" : "Q4_K");
        want_l(&p, i, "ffn_down", i < 1 ? "Q5_K" : "Q4_K");
        want_l(&p, i, "attn_output", "Q4_K");
        want_l(&p, i, "attn_q", "Q3_K");
    }
    lm_plan_release(&p);
    unmake(&b);
}

/* 70B (llama, 80 layers, GQA): Q3_K/Q4_K attn_v become Q5_K. */
static void test_llama_70b(void **state)
{
    (void)state;
    struct built b;
    struct lm_plan p;
    make(&llama70b, &b);
    struct lm_quant_opts o = opts(LM_FTYPE_Q4_K_M);
    plan(&b, &o, &p);
    want(&p, "output.weight", "Q6_K");
    want(&p, "token_embd.weight", "Q4_K");
    for (int i = 0; i < 80; i++) {
        bool mb = i < 10 || i >= 70 || (i - 10) % 3 == 2;
        want_l(&p, i, "attn_v", mb ? "Q6_K" : "Q5_K");
        want_l(&p, i, "ffn_down", mb ? "Q6_K" : "Q4_K");
    }
    lm_plan_release(&p);
    unmake(&b);
}

/* Eight experts: attn_v and attn_k Q8_0, attn_output Q5_K, the router kept F32, expert ffn_down
 * counted by its blk number. */
static void test_moe_8_experts(void **state)
{
    (void)state;
    struct built b;
    struct lm_plan p;
    make(&moe8, &b);
    struct lm_quant_opts o = opts(LM_FTYPE_Q4_K_M);
    plan(&b, &o, &p);
    for (int i = 0; i < 4; i++) {
        want_l(&p, i, "attn_v", "Q8_0");
        want_l(&p, i, "attn_k", "Q8_0");
        want_l(&p, i, "attn_output", "Q5_K");
        want_l(&p, i, "ffn_gate_inp", "F32");
        want_l(&p, i, "ffn_down_exps", i >= 2 ? "Q6_K" : "Q4_K");   /* more_bits(i, 4) */
        want_l(&p, i, "ffn_up_exps", "Q4_K");
    }
    lm_plan_release(&p);
    unmake(&b);
}

/* ---- options ----------------------------------------------------------------------------- */

static void test_options(void **state)
{
    (void)state;
    struct built b;
    struct lm_plan p;
    struct lm_err err;
    make(&llama1b, &b);

    /* --pure: the default type everywhere; the tied embedding too. */
    struct lm_quant_opts o = opts(LM_FTYPE_Q4_K_M);
    o.pure = true;
    plan(&b, &o, &p);
    want(&p, "token_embd.weight", "Q4_K");
    want_l(&p, 0, "attn_v", "Q4_K");
    want_l(&p, 0, "ffn_down", "Q4_K");
    lm_plan_release(&p);

    /* --output-tensor-type reaches the tied token_embd through the output rule. */
    o = opts(LM_FTYPE_Q4_K_M);
    o.output_type = LM_TYPE_Q8_0;
    plan(&b, &o, &p);
    want(&p, "token_embd.weight", "Q8_0");
    lm_plan_release(&p);

    /* --token-embedding-type wins over everything for token_embd. */
    o.token_embd_type = LM_TYPE_Q5_K;
    plan(&b, &o, &p);
    want(&p, "token_embd.weight", "Q5_K");
    lm_plan_release(&p);

    /* --tensor-type: first match wins, and an overridden attn_v does not advance the attn_v
     * counter (llama.cpp skips the mix rules for it), so the more-bits layers shift by one. */
    struct lm_tensor_override ov[] = { { "blk\\.0\\.attn_v", LM_TYPE_Q8_0 },
                                       { "ATTN_Q", LM_TYPE_Q5_0 },   /* lowercased: attn_q */
                                       { "attn_q", LM_TYPE_Q8_0 } };
    o = opts(LM_FTYPE_Q4_K_M);
    o.overrides = ov;
    o.n_overrides = 3;
    plan(&b, &o, &p);
    want_l(&p, 0, "attn_v", "Q8_0");
    want_l(&p, 3, "attn_q", "Q5_0");
    want_l(&p, 1, "attn_v", "Q6_K");   /* counter 0 */
    want_l(&p, 2, "attn_v", "Q6_K");   /* counter 1 */
    want_l(&p, 3, "attn_v", "Q4_K");   /* counter 2 */
    want_l(&p, 5, "attn_v", "Q6_K");   /* counter 4 */
    want_l(&p, 4, "ffn_down", "Q6_K"); /* ffn_down counts on */
    lm_plan_release(&p);

    /* Overrides do nothing for an unquantized file type (llama.cpp checks the default). */
    o.ftype = LM_FTYPE_F16;
    plan(&b, &o, &p);
    want_l(&p, 0, "attn_v", "F16");
    lm_plan_release(&p);

    /* --leave-output-tensor keeps output.weight; a tied model has none to keep. */
    struct built b70;
    make(&llama70b, &b70);
    o = opts(LM_FTYPE_Q4_K_M);
    o.leave_output = true;
    plan(&b70, &o, &p);
    want(&p, "output.weight", "F32");
    lm_plan_release(&p);
    unmake(&b70);

    /* --strict: a fallback is an error naming the tensor. */
    struct built bq;
    make(&qwen05, &bq);
    o = opts(LM_FTYPE_Q4_K_M);
    o.strict = true;
    assert_int_equal(lm_quant_plan(bq.g, bq.path, &o, &p, &err), -1);
    assert_string_equal(err.msg, "tensor 'token_embd.weight' has rows of 896, not a multiple of "
                                 "256 for Q4_K; llama-quantize falls back to Q8_0 (--strict)");
    o.output_type = LM_TYPE_Q8_0;
    assert_int_equal(lm_quant_plan(bq.g, bq.path, &o, &p, &err), -1);
    assert_string_equal(err.msg, "tensor 'blk.0.attn_k.weight' has rows of 896, not a multiple "
                                 "of 256 for Q4_K; llama-quantize falls back to Q5_0 (--strict)");
    /* A type lm cannot make, asked for by name. */
    o = opts(LM_FTYPE_Q4_K_M);
    o.token_embd_type = LM_TYPE_IQ2_XXS;
    assert_int_equal(lm_quant_plan(bq.g, bq.path, &o, &p, &err), -1);
    assert_string_equal(err.msg, "tensor 'token_embd.weight' has rows of 896, not a multiple of "
                                 "256 for IQ2_XXS (--token-embedding-type)");
    unmake(&bq);
    unmake(&b);
}

static void test_ftype_names(void **state)
{
    (void)state;
    assert_int_equal(lm_ftype_parse("q4_k_m"), LM_FTYPE_Q4_K_M);
    assert_int_equal(lm_ftype_parse("Q4_K"), LM_FTYPE_Q4_K_M);
    assert_int_equal(lm_ftype_parse("Q3_K"), LM_FTYPE_Q3_K_M);
    assert_int_equal(lm_ftype_parse("15"), LM_FTYPE_Q4_K_M);
    assert_int_equal(lm_ftype_parse("32"), LM_FTYPE_BF16);
    assert_int_equal(lm_ftype_parse("Q2_K_S"), -1);   /* needs an importance matrix */
    assert_int_equal(lm_ftype_parse("IQ2_XXS"), -1);
    assert_int_equal(lm_ftype_parse("19"), -1);
    assert_int_equal(lm_ftype_parse(""), -1);
    assert_string_equal(lm_ftype_name(LM_FTYPE_Q4_K_M), "Q4_K_M");
    assert_string_equal(lm_ftype_name(LM_FTYPE_Q3_K_M), "Q3_K_M");
    assert_int_equal(lm_ftype_default_type(LM_FTYPE_Q5_K_S), LM_TYPE_Q5_K);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen25_05b_q4_k_m),
        cmocka_unit_test(test_llama32_1b_mixes),
        cmocka_unit_test(test_llama_70b),
        cmocka_unit_test(test_moe_8_experts),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_ftype_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

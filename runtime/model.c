/* model.c: load a GGUF for the runtime: hyperparameters, tensors by architecture, checks.
 * Everything a forward pass will index is checked here, so the forward pass trusts shapes. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model.h"
#include "../common/banned.h"

#define MAX_FF (1u << 20)
#define MAX_HEADS 4096u
#define MAX_HEAD_DIM 4096u

struct loader {
    struct lm_net *m;
    const char *path;
    struct lm_err *err;
};

static const struct gguf_kv *arch_kv(struct loader *ld, const char *suffix, char *key, size_t n)
{
    snprintf(key, n, "%s.%s", ld->m->arch->name, suffix);
    return gguf_kv_find(ld->m->g, key);
}

/* The kv of an architecture key: 1 found, 0 absent and not required, -1 absent and required. */
static int need_kv(struct loader *ld, const char *suffix, bool required, char *key, size_t n,
                   const struct gguf_kv **kv)
{
    *kv = arch_kv(ld, suffix, key, n);
    if (*kv)
        return 1;
    if (required)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, LM_NO_OFFSET, "missing key %s", key);
    return 0;
}

/* An unsigned key of the architecture in [min, max]; `def` when absent and not required. */
static int get_u32(struct loader *ld, const char *suffix, bool required, uint32_t def,
                   uint32_t min, uint32_t max, uint32_t *out)
{
    char key[128];
    const struct gguf_kv *kv;
    uint64_t v;
    int found = need_kv(ld, suffix, required, key, sizeof(key), &kv);
    if (found <= 0) {
        *out = def;
        return found;
    }
    if (gguf_kv_u64(kv, &v) < 0)
        return lm_err_set(ld->err, LM_EUNSUPPORTED, ld->path, kv->file_off,
                          "%s is %s, want an unsigned integer", key, gguf_vtype_name(kv->type));
    if (v < min || v > max)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, kv->file_off,
                          "%s is %" PRIu64 ", must be %" PRIu32 " to %" PRIu32, key, v, min, max);
    *out = (uint32_t)v;
    return 0;
}

static int get_f32(struct loader *ld, const char *suffix, bool required, float def, float *out)
{
    char key[128];
    const struct gguf_kv *kv;
    double v;
    int found = need_kv(ld, suffix, required, key, sizeof(key), &kv);
    if (found <= 0) {
        *out = def;
        return found;
    }
    if (gguf_kv_f64(kv, &v) < 0)
        return lm_err_set(ld->err, LM_EUNSUPPORTED, ld->path, kv->file_off,
                          "%s is %s, want a float", key, gguf_vtype_name(kv->type));
    if (!isfinite(v) || v < 0 || v > 1e30)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, kv->file_off,
                          "%s is %g, must be a finite number >= 0", key, v);
    *out = (float)v;
    return 0;
}

static bool str_is(struct gguf_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

static int load_rope_scaling(struct loader *ld, struct lm_hparams *hp)
{
    char key[128];
    float factor = 0.0f;
    if (get_f32(ld, "rope.scaling.factor", false, 0.0f, &factor) < 0)
        return -1;
    if (factor == 0.0f && get_f32(ld, "rope.scale_linear", false, 0.0f, &factor) < 0)
        return -1;
    const struct gguf_kv *kv = arch_kv(ld, "rope.scaling.type", key, sizeof(key));
    struct gguf_str type = { "linear", 6 };    /* llama.cpp's default when absent */
    if (kv && gguf_kv_str(kv, &type) < 0)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, kv->file_off,
                          "%s is %s, want a string", key, gguf_vtype_name(kv->type));
    hp->rope_freq_scale = 1.0f;
    if (str_is(type, "none"))
        return 0;
    if (!str_is(type, "linear")) {
        char q[LM_QUOTE_MAX];
        return lm_err_set(ld->err, LM_EUNSUPPORTED, ld->path, kv->file_off,
                          "rope scaling '%s' is not supported (none and linear are)",
                          lm_quote(type.p, type.len, q, sizeof(q)));
    }
    if (factor != 0.0f)
        hp->rope_freq_scale = 1.0f / factor;
    return 0;
}

static int load_hparams(struct loader *ld)
{
    struct lm_net *m = ld->m;
    struct lm_hparams *hp = &m->hp;
    const struct gguf_kv *kv = gguf_kv_find(m->g, "general.architecture");
    struct gguf_str arch;
    if (!kv)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, LM_NO_OFFSET,
                          "missing key general.architecture");
    if (gguf_kv_str(kv, &arch) < 0)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, kv->file_off,
                          "general.architecture is %s, want a string", gguf_vtype_name(kv->type));
    m->arch = rt_arch_find(arch.p, (size_t)arch.len);
    if (!m->arch) {
        char q[LM_QUOTE_MAX];
        return lm_err_set(ld->err, LM_EUNSUPPORTED, ld->path, kv->file_off,
                          "architecture '%s' is not supported (llama, qwen2 and qwen3 are)",
                          lm_quote(arch.p, arch.len, q, sizeof(q)));
    }
    hp->arch = m->arch->arch;
    hp->arch_name = m->arch->name;
    hp->rope_neox = m->arch->rope_neox;

    kv = gguf_kv_find(m->g, "tokenizer.ggml.tokens");
    if (!kv)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, LM_NO_OFFSET,
                          "missing key tokenizer.ggml.tokens");
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING || kv->arr_len == 0 ||
        kv->arr_len > LM_MAX_VOCAB)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, kv->file_off,
                          "tokenizer.ggml.tokens must be 1 to %u strings", LM_MAX_VOCAB);
    hp->n_vocab = (uint32_t)kv->arr_len;

    if (get_u32(ld, "context_length", true, 0, 1, UINT32_MAX, &hp->n_ctx_train) < 0 ||
        get_u32(ld, "embedding_length", true, 0, 1, LM_MAX_EMBD, &hp->n_embd) < 0 ||
        get_u32(ld, "block_count", true, 0, 1, LM_MAX_LAYERS, &hp->n_layer) < 0 ||
        get_u32(ld, "feed_forward_length", true, 0, 1, MAX_FF, &hp->n_ff) < 0 ||
        get_u32(ld, "attention.head_count", true, 0, 1, MAX_HEADS, &hp->n_head) < 0 ||
        get_u32(ld, "attention.head_count_kv", false, hp->n_head, 1, hp->n_head,
                &hp->n_head_kv) < 0 ||
        get_f32(ld, "attention.layer_norm_rms_epsilon", true, 0.0f, &hp->eps) < 0 ||
        get_f32(ld, "rope.freq_base", false, 10000.0f, &hp->rope_base) < 0 ||
        load_rope_scaling(ld, hp) < 0)
        return -1;
    if (hp->n_head % hp->n_head_kv != 0)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, LM_NO_OFFSET,
                          "%s has %u heads, not a multiple of its %u KV heads", hp->arch_name,
                          hp->n_head, hp->n_head_kv);
    if (hp->rope_base <= 0.0f)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, LM_NO_OFFSET,
                          "%s.rope.freq_base must be above 0", hp->arch_name);

    uint32_t def_hd = hp->n_embd % hp->n_head == 0 ? hp->n_embd / hp->n_head : 0;
    uint32_t vlen;
    if (get_u32(ld, "attention.key_length", def_hd == 0, def_hd, 2, MAX_HEAD_DIM,
                &hp->head_dim) < 0 ||
        get_u32(ld, "attention.value_length", false, hp->head_dim, 1, MAX_HEAD_DIM, &vlen) < 0)
        return -1;
    if (vlen != hp->head_dim)
        return lm_err_set(ld->err, LM_EUNSUPPORTED, ld->path, LM_NO_OFFSET,
                          "value length %u differs from key length %u", vlen, hp->head_dim);
    if (hp->head_dim % 2 != 0)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, LM_NO_OFFSET,
                          "head dimension %u is odd", hp->head_dim);
    if (get_u32(ld, "rope.dimension_count", false, hp->head_dim, 2, hp->head_dim,
                &hp->n_rot) < 0)
        return -1;
    if (hp->n_rot % 2 != 0 || (m->arch->rot_is_head_dim && hp->n_rot != hp->head_dim))
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, LM_NO_OFFSET,
                          "%s.rope.dimension_count %u does not fit head dimension %u",
                          hp->arch_name, hp->n_rot, hp->head_dim);
    return 0;
}

static uint64_t dim_value(const struct lm_hparams *hp, uint8_t d)
{
    switch ((enum rt_dim)d) {
    case RT_D1: return 1;
    case RT_DEMBD: return hp->n_embd;
    case RT_DQ: return (uint64_t)hp->n_head * hp->head_dim;
    case RT_DKV: return (uint64_t)hp->n_head_kv * hp->head_dim;
    case RT_DFF: return hp->n_ff;
    case RT_DVOCAB: return hp->n_vocab;
    case RT_DHEAD: return hp->head_dim;
    case RT_DROT2: return hp->n_rot / 2;
    }
    return 0;
}

static int check_tensor(struct loader *ld, const struct rt_tensor_spec *s,
                        const struct gguf_tensor *t)
{
    const struct lm_hparams *hp = &ld->m->hp;
    uint64_t off = gguf_data_offset(ld->m->g) + t->offset;
    uint64_t want[GGUF_MAX_DIMS] = { dim_value(hp, s->ne0), dim_value(hp, s->ne1), 1, 1 };
    if (memcmp(want, t->ne, sizeof(want)) != 0)
        return lm_err_set(ld->err, LM_ECORRUPT, ld->path, off,
                          "tensor '%s' has shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64
                          "], %s wants [%" PRIu64 ", %" PRIu64 "]", t->name, t->ne[0], t->ne[1],
                          t->ne[2], t->ne[3], hp->arch_name, want[0], want[1]);
    const struct lm_type_info *ti = lm_type_get(t->type);
    const char *tname = ti ? ti->name : "?";
    if ((s->flags & RT_T_F32) && t->type != LM_TYPE_F32)
        return lm_err_set(ld->err, LM_EUNSUPPORTED, ld->path, off,
                          "tensor '%s' is %s, must be F32", t->name, tname);
    if (!(s->flags & RT_T_F32)) {
        const struct rt_wtype *wt = rt_wtype_get(t->type);
        if (!wt)
            return lm_err_set(ld->err, LM_EUNSUPPORTED, ld->path, off,
                              "tensor '%s' is %s, which lm run has no kernel for", t->name, tname);
        if (t->ne[0] % wt->block != 0)
            return lm_err_set(ld->err, LM_ECORRUPT, ld->path, off,
                              "tensor '%s' rows of %" PRIu64 " are not whole %s blocks", t->name,
                              t->ne[0], tname);
    }
    if ((uintptr_t)t->data % 4 != 0)
        return lm_err_set(ld->err, LM_EUNSUPPORTED, ld->path, off,
                          "tensor '%s' data is not 4-byte aligned", t->name);
    return 0;
}

static int load_tensors(struct loader *ld)
{
    struct lm_net *m = ld->m;
    m->layers = calloc(m->hp.n_layer, sizeof(*m->layers));
    if (!m->layers)
        return lm_err_set(ld->err, LM_ENOMEM, ld->path, LM_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < m->arch->n_tensors; i++) {
        const struct rt_tensor_spec *s = &m->arch->tensors[i];
        uint32_t n = (s->flags & RT_T_LAYER) ? m->hp.n_layer : 1;
        for (uint32_t il = 0; il < n; il++) {
            char name[GGUF_MAX_NAME + 1];
            snprintf(name, sizeof(name), s->name, il);
            const struct gguf_tensor *t = gguf_tensor_find(m->g, name);
            if (!t) {
                if (s->flags & RT_T_OPTIONAL)
                    continue;
                return lm_err_set(ld->err, LM_ECORRUPT, ld->path, LM_NO_OFFSET,
                                  "missing tensor '%s' (%s needs it)", name, m->hp.arch_name);
            }
            if (check_tensor(ld, s, t) < 0)
                return -1;
            if (s->flags & RT_T_LAYER)
                m->layers[il].t[s->slot] = t;
            else
                m->t[s->slot] = t;
            m->weight_bytes += t->nbytes;
        }
    }
    m->hp.tied_output = m->t[RT_OUTPUT] == NULL;
    m->hp.ftype_weights = m->layers[0].t[RT_WQ]->type;
    return 0;
}

/* llama.cpp ignores special ids past the vocabulary; we refuse them, as a file that names a
 * token it does not have is broken. */
static int check_token_ids(struct loader *ld)
{
    static const char *const keys[] = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id", "tokenizer.ggml.mask_token_id",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const struct gguf_kv *kv = gguf_kv_find(ld->m->g, keys[i]);
        uint64_t v;
        if (!kv)
            continue;
        if (gguf_kv_u64(kv, &v) < 0)
            return lm_err_set(ld->err, LM_ECORRUPT, ld->path, kv->file_off,
                              "%s is %s, want an unsigned integer", keys[i],
                              gguf_vtype_name(kv->type));
        if (v >= ld->m->hp.n_vocab)
            return lm_err_set(ld->err, LM_ECORRUPT, ld->path, kv->file_off,
                              "%s %" PRIu64 " is past the vocabulary of %u tokens", keys[i], v,
                              ld->m->hp.n_vocab);
    }
    return 0;
}

struct lm_net *lm_net_from_gguf(struct gguf *g, const char *path, struct lm_err *err)
{
    struct lm_net *m = calloc(1, sizeof(*m));
    if (!m) {
        gguf_close(g);
        lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    m->g = g;
    struct loader ld = { m, path, err };
    m->path = strdup(path ? path : "");
    if (!m->path) {
        lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
        goto fail;
    }
    if (load_hparams(&ld) < 0 || load_tensors(&ld) < 0 || check_token_ids(&ld) < 0)
        goto fail;
    /* Decoding streams every weight once per token: from 2 MiB pages it runs well faster than
     * from 4 KiB ones (bench model, Q4_K_M: ~44 -> ~50 tokens/s with 2 threads). */
    gguf_advise_huge(g);
    return m;
fail:
    lm_net_close(m);
    return NULL;
}

struct lm_net *lm_net_open(const char *path, struct lm_err *err)
{
    struct gguf *g = gguf_open(path, err);
    return g ? lm_net_from_gguf(g, path, err) : NULL;
}

void lm_net_close(struct lm_net *m)
{
    if (!m)
        return;
    gguf_close(m->g);
    free(m->layers);
    free(m->path);
    free(m);
}

const struct lm_hparams *lm_net_hparams(const struct lm_net *m)
{
    return &m->hp;
}

const struct gguf *lm_net_gguf(const struct lm_net *m)
{
    return m->g;
}

const char *lm_net_path(const struct lm_net *m)
{
    return m->path;
}

uint64_t lm_net_weight_bytes(const struct lm_net *m)
{
    return m->weight_bytes;
}

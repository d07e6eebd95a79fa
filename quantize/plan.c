/* plan.c: which type every tensor gets: llama-quantize's tensor selection, mix rules and shape
 * fallbacks (llama.cpp src/llama-quant.cpp, shared/specs/quant-formats.md §10), in its order. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "quantize.h"
#include "../common/banned.h"

/* ---- file types -------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int ftype;
    uint32_t type;
} ftypes[] = {
    { "Q4_0", LM_FTYPE_Q4_0, LM_TYPE_Q4_0 },       { "Q4_1", LM_FTYPE_Q4_1, LM_TYPE_Q4_1 },
    { "Q5_0", LM_FTYPE_Q5_0, LM_TYPE_Q5_0 },       { "Q5_1", LM_FTYPE_Q5_1, LM_TYPE_Q5_1 },
    { "Q2_K", LM_FTYPE_Q2_K, LM_TYPE_Q2_K },       { "Q3_K", LM_FTYPE_Q3_K_M, LM_TYPE_Q3_K },
    { "Q3_K_S", LM_FTYPE_Q3_K_S, LM_TYPE_Q3_K },   { "Q3_K_M", LM_FTYPE_Q3_K_M, LM_TYPE_Q3_K },
    { "Q3_K_L", LM_FTYPE_Q3_K_L, LM_TYPE_Q3_K },   { "IQ4_NL", LM_FTYPE_IQ4_NL, LM_TYPE_IQ4_NL },
    { "IQ4_XS", LM_FTYPE_IQ4_XS, LM_TYPE_IQ4_XS }, { "Q4_K", LM_FTYPE_Q4_K_M, LM_TYPE_Q4_K },
    { "Q4_K_S", LM_FTYPE_Q4_K_S, LM_TYPE_Q4_K },   { "Q4_K_M", LM_FTYPE_Q4_K_M, LM_TYPE_Q4_K },
    { "Q5_K", LM_FTYPE_Q5_K_M, LM_TYPE_Q5_K },     { "Q5_K_S", LM_FTYPE_Q5_K_S, LM_TYPE_Q5_K },
    { "Q5_K_M", LM_FTYPE_Q5_K_M, LM_TYPE_Q5_K },   { "Q6_K", LM_FTYPE_Q6_K, LM_TYPE_Q6_K },
    { "Q8_0", LM_FTYPE_Q8_0, LM_TYPE_Q8_0 },       { "F16", LM_FTYPE_F16, LM_TYPE_F16 },
    { "BF16", LM_FTYPE_BF16, LM_TYPE_BF16 },       { "F32", LM_FTYPE_F32, LM_TYPE_F32 },
};
#define N_FTYPES (sizeof(ftypes) / sizeof(ftypes[0]))

int lm_ftype_parse(const char *s)
{
    for (size_t i = 0; i < N_FTYPES; i++)
        if (strcasecmp(ftypes[i].name, s) == 0)
            return ftypes[i].ftype;
    uint64_t v;
    if (lm_parse_u64(s, 0, 255, &v) == 0 && lm_ftype_name((int)v))
        return (int)v;
    return -1;
}

/* The first table row for an ftype is an alias only for Q3_K/Q4_K/Q5_K, so names come from
 * the last row. */
const char *lm_ftype_name(int ftype)
{
    const char *name = NULL;
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype)
            name = ftypes[i].name;
    return name;
}

uint32_t lm_ftype_default_type(int ftype)
{
    for (size_t i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype)
            return ftypes[i].type;
    return LM_TYPE_COUNT;
}

const char *lm_ftype_list(void)
{
    return "Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K "
           "IQ4_NL IQ4_XS F16 BF16 F32 (Q3_K, Q4_K, Q5_K: the _M mixes)";
}

/* ---- tensor names ------------------------------------------------------------------------ */

enum cat { C_TOKEN_EMBD, C_Q, C_V, C_K, C_QKV, C_KV_B, C_OUT, C_UP, C_GATE, C_DOWN, C_OUTPUT,
           C_OTHER };

static enum cat category(const char *name)
{
    if (strcmp(name, "output.weight") == 0) return C_OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
        return C_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight")) return C_QKV;
    if (strstr(name, "attn_kv_b.weight")) return C_KV_B;
    if (strstr(name, "attn_v.weight")) return C_V;
    if (strstr(name, "attn_k.weight")) return C_K;
    if (strstr(name, "attn_q.weight")) return C_Q;
    if (strstr(name, "attn_output.weight")) return C_OUT;
    if (strstr(name, "ffn_up")) return C_UP;
    if (strstr(name, "ffn_gate")) return C_GATE;
    if (strstr(name, "ffn_down")) return C_DOWN;
    return C_OTHER;
}

static bool is_attn_v(enum cat c) { return c == C_V || c == C_QKV || c == C_KV_B; }

/* The layer llama.cpp sorts and counts by: sscanf(name, "blk.%d.") or -1. */
static int layer_of(const char *name, bool *found)
{
    *found = false;
    if (strncmp(name, "blk.", 4) != 0)
        return -1;
    const char *p = name + 4;
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || !(isdigit((unsigned char)end[-1])))
        return -1;
    *found = true;
    return (int)(unsigned)v;   /* scanf's %d keeps the low 32 bits */
}

static int tensor_cmp(const void *a, const void *b)
{
    const struct lm_plan_entry *x = a, *y = b;
    bool f;
    int la = layer_of(x->t->name, &f), lb = layer_of(y->t->name, &f);
    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(x->t->name, y->t->name);
}

/* Substrings that keep a tensor out of quantization (tensor_allows_quantization). */
static const char *const never_quantized[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
    "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
    "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
    "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd",
    "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
    "mm.a.code_embd",
};

/* NULL if the tensor may be quantized, else why not. */
static const char *not_quantized(const char *name, uint32_t n_dims, const struct lm_quant_opts *o)
{
    if (n_dims < 2)
        return "1-D, kept";
    size_t len = strlen(name);
    /* llama.cpp tests name.rfind("weight") == size - 6, which a 5-byte name also passes. */
    if (!(len == 5 || (len >= 6 && strcmp(name + len - 6, "weight") == 0)))
        return "not a weight, kept";
    for (size_t i = 0; i < sizeof(never_quantized) / sizeof(never_quantized[0]); i++)
        if (strstr(name, never_quantized[i]))
            return i == 0 ? "norm, kept" : "never quantized (by name), kept";
    if (o->leave_output && strcmp(name, "output.weight") == 0)
        return "--leave-output-tensor, kept";
    if (strcmp(name, "position_embd.weight") == 0 || strcmp(name, "token_types.weight") == 0)
        return "never quantized (by name), kept";
    return NULL;
}

/* ---- model facts the mix rules read ------------------------------------------------------ */

struct model_info {
    char arch[64];
    int n_layer;          /* block_count */
    int n_gqa;            /* head_count / head_count_kv of layer 0, 0 if unknown */
    int n_expert;         /* expert_count, 0 for dense */
    bool falcon, is_70b;
};

static int kv_int(const struct gguf *g, const char *arch, const char *suffix, int dflt)
{
    char key[160];
    snprintf(key, sizeof(key), "%s.%s", arch, suffix);
    const struct gguf_kv *kv = gguf_kv_find(g, key);
    uint64_t v;
    if (!kv)
        return dflt;
    if (kv->type == GGUF_ARRAY) {
        if (kv->arr_len == 0 || gguf_arr_u64(kv, 0, &v) != 0)
            return dflt;
    } else if (gguf_kv_u64(kv, &v) != 0) {
        return dflt;
    }
    return v > 1000000 ? 1000000 : (int)v;
}

static void read_model_info(const struct gguf *g, const struct lm_plan *p, struct model_info *m)
{
    memset(m, 0, sizeof(*m));
    const struct gguf_kv *kv = gguf_kv_find(g, "general.architecture");
    struct gguf_str s;
    if (kv && gguf_kv_str(kv, &s) == 0 && s.len < sizeof(m->arch) && !memchr(s.p, 0, s.len))
        memcpy(m->arch, s.p, s.len);
    /* Without block_count (no architecture llama.cpp would load), count the blocks. */
    int max_layer = -1;
    for (size_t i = 0; i < p->n; i++) {
        bool f;
        int l = layer_of(p->e[i].t->name, &f);
        if (f && l > max_layer && l < 1000000)
            max_layer = l;
    }
    m->n_layer = kv_int(g, m->arch, "block_count", max_layer + 1);
    int n_head = kv_int(g, m->arch, "attention.head_count", 0);
    int n_head_kv = kv_int(g, m->arch, "attention.head_count_kv", n_head);
    m->n_gqa = n_head_kv ? n_head / n_head_kv : 0;
    m->n_expert = kv_int(g, m->arch, "expert_count", 0);
    m->falcon = strcmp(m->arch, "falcon") == 0;
    m->is_70b = strcmp(m->arch, "llama") == 0 && m->n_layer == 80 && n_head != n_head_kv;
}

/* ---- the rules --------------------------------------------------------------------------- */

struct state {
    const struct lm_quant_opts *o;
    const char *path;
    struct model_info m;
    bool tied;                 /* no output.weight: token_embd doubles as the output */
    int n_attn_v, i_attn_v, i_ffn_down, i_ffn_gate, i_ffn_up;
    pcre2_code **re;           /* compiled overrides */
    struct lm_err *err;
};

static bool more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* Layer of a counted tensor: its running index for dense models, its blk number for MoE. */
static int layer_info(struct state *s, int counter, const char *name, int *layer)
{
    *layer = counter;
    if ((s->m.n_expert > 1 ? s->m.n_expert : 1) > 1) {
        bool f;
        int l = layer_of(name, &f);
        if (!f)
            return lm_err_set(s->err, LM_EUNSUPPORTED, s->path, LM_NO_OFFSET,
                              "cannot tell the layer of tensor '%s'", name);
        if (l < 0 || l >= s->m.n_layer)
            return lm_err_set(s->err, LM_ECORRUPT, s->path, LM_NO_OFFSET,
                              "tensor '%s' is in layer %d of %d", name, l, s->m.n_layer);
        *layer = l;
    }
    return 0;
}

#define WHY(...) snprintf(why, 160, __VA_ARGS__)

/* llama_tensor_get_type_impl for the file types lm makes. */
static int mix_type(struct state *s, const struct gguf_tensor *t, uint32_t *type, char *why)
{
    const int ft = s->o->ftype;
    const struct model_info *m = &s->m;
    const enum cat c = category(t->name);
    uint32_t nt = *type;
    int layer;

    if (c == C_OUTPUT || (s->tied && c == C_TOKEN_EMBD)) {
        const char *what = c == C_OUTPUT ? "output" : "tied token_embd takes the output rule";
        if (s->o->output_type >= 0) {
            nt = (uint32_t)s->o->output_type;
            WHY("%s: --output-tensor-type", what);
        } else if (m->falcon || t->ne[0] % lm_type_get(nt)->block != 0) {
            if (!m->falcon && s->o->strict)
                return lm_err_set(s->err, LM_EUNSUPPORTED, s->path, LM_NO_OFFSET,
                                  "tensor '%s' has rows of %llu, not a multiple of %u for %s; "
                                  "llama-quantize falls back to Q8_0 (--strict)",
                                  t->name, (unsigned long long)t->ne[0],
                                  lm_type_get(nt)->block, lm_type_get(nt)->name);
            WHY("%s: %s", what, m->falcon ? "falcon" : "rows not whole blocks, Q8_0");
            nt = LM_TYPE_Q8_0;
        } else if (nt != LM_TYPE_Q8_0) {
            nt = LM_TYPE_Q6_K;
            WHY("%s: Q6_K", what);
        }
    } else if (c == C_TOKEN_EMBD) {
        if (s->o->token_embd_type >= 0)
            nt = (uint32_t)s->o->token_embd_type;
    } else if (is_attn_v(c)) {
        const int i = s->i_attn_v, n = s->n_attn_v;
        if (ft == LM_FTYPE_Q2_K)
            nt = m->n_gqa >= 4 ? LM_TYPE_Q4_K : LM_TYPE_Q3_K;
        else if (ft == LM_FTYPE_Q3_K_M)
            nt = i < 2 ? LM_TYPE_Q5_K : LM_TYPE_Q4_K;
        else if (ft == LM_FTYPE_Q3_K_L)
            nt = LM_TYPE_Q5_K;
        else if ((ft == LM_FTYPE_IQ4_NL || ft == LM_FTYPE_IQ4_XS) && m->n_gqa >= 4)
            nt = LM_TYPE_Q5_K;
        else if ((ft == LM_FTYPE_Q4_K_M || ft == LM_FTYPE_Q5_K_M) && more_bits(i, n))
            nt = LM_TYPE_Q6_K;
        else if (ft == LM_FTYPE_Q4_K_S && i < 4)
            nt = LM_TYPE_Q5_K;
        if (m->is_70b && (nt == LM_TYPE_Q3_K || nt == LM_TYPE_Q4_K))
            nt = LM_TYPE_Q5_K;
        if (m->n_expert == 8)
            nt = LM_TYPE_Q8_0;
        if (nt != *type)
            WHY("attn_v rule (%d of %d): %s", i, n, lm_type_get(nt)->name);
        s->i_attn_v++;
    } else if (c == C_K) {
        if (m->n_expert == 8) {
            nt = LM_TYPE_Q8_0;
            WHY("attn_k of an 8-expert model: Q8_0");
        }
    } else if (c == C_DOWN) {
        if (layer_info(s, s->i_ffn_down, t->name, &layer) != 0)
            return -1;
        const int i = layer, n = m->n_layer;
        if (ft == LM_FTYPE_Q2_K)
            nt = LM_TYPE_Q3_K;
        else if (ft == LM_FTYPE_Q3_K_M)
            nt = i < n / 16 ? LM_TYPE_Q5_K
               : !m->falcon || more_bits(i, n) ? LM_TYPE_Q4_K : LM_TYPE_Q3_K;
        else if (ft == LM_FTYPE_Q3_K_L)
            nt = m->falcon ? LM_TYPE_Q4_K : LM_TYPE_Q5_K;
        else if (ft == LM_FTYPE_Q4_K_M) {
            if (m->falcon)
                nt = i < n / 16 ? LM_TYPE_Q6_K : more_bits(i, n) ? LM_TYPE_Q5_K : LM_TYPE_Q4_K;
            else if (more_bits(i, n))
                nt = LM_TYPE_Q6_K;
        } else if (i < n / 8 && (ft == LM_FTYPE_IQ4_NL || ft == LM_FTYPE_IQ4_XS))
            nt = LM_TYPE_Q5_K;
        else if (ft == LM_FTYPE_Q5_K_M && more_bits(i, n))
            nt = LM_TYPE_Q6_K;
        else if (ft == LM_FTYPE_Q4_K_S && !m->falcon && i < n / 8)
            nt = LM_TYPE_Q5_K;
        if (nt != *type)
            WHY("ffn_down rule (layer %d of %d): %s", i, n, lm_type_get(nt)->name);
        s->i_ffn_down++;
    } else if (c == C_OUT) {
        if (!m->falcon) {
            if (m->n_expert == 8) {
                if (ft == LM_FTYPE_Q2_K || ft == LM_FTYPE_Q3_K_S || ft == LM_FTYPE_Q3_K_M ||
                    ft == LM_FTYPE_IQ4_NL || ft == LM_FTYPE_Q4_K_S || ft == LM_FTYPE_Q4_K_M ||
                    ft == LM_FTYPE_IQ4_XS)
                    nt = LM_TYPE_Q5_K;
            } else if (ft == LM_FTYPE_Q2_K) {
                nt = LM_TYPE_Q3_K;
            } else if (ft == LM_FTYPE_Q3_K_M) {
                nt = LM_TYPE_Q4_K;
            } else if (ft == LM_FTYPE_Q3_K_L) {
                nt = LM_TYPE_Q5_K;
            }
        } else if (ft == LM_FTYPE_Q3_K_L) {
            nt = LM_TYPE_Q4_K;
        }
        if (nt != *type)
            WHY("attn_output rule: %s", lm_type_get(nt)->name);
    } else if (c == C_GATE || c == C_UP) {
        /* Only IQ3_XS changes these; the counters still advance (and check MoE layers). */
        int *ctr = c == C_GATE ? &s->i_ffn_gate : &s->i_ffn_up;
        if (layer_info(s, *ctr, t->name, &layer) != 0)
            return -1;
        (*ctr)++;
    }
    *type = nt;
    return 0;
}

static const char *override_hint(const char *name, char *buf, size_t n)
{
    bool f;
    const char *p = name;
    if (layer_of(name, &f) >= 0 && f) {
        const char *dot = strchr(name + 4, '.');
        p = dot ? dot + 1 : name;
    }
    size_t len = strlen(p);
    if (len > 7 && strcmp(p + len - 7, ".weight") == 0)
        len -= 7;
    snprintf(buf, n, "%.*s", (int)len, p);
    return buf;
}

/* tensor_type_fallback: rows that are not whole blocks of the chosen type. */
static int fallback(struct state *s, const struct gguf_tensor *t, uint32_t *type, char *why,
                    bool *fell)
{
    const struct lm_type_info *ti = lm_type_get(*type);
    if (t->ne[0] % ti->block == 0)
        return 0;
    uint32_t to;
    switch (*type) {
    case LM_TYPE_Q2_K: case LM_TYPE_Q3_K: to = LM_TYPE_Q4_0; break;
    case LM_TYPE_Q4_K: to = LM_TYPE_Q5_0; break;
    case LM_TYPE_Q5_K: to = LM_TYPE_Q5_1; break;
    case LM_TYPE_Q6_K: to = LM_TYPE_Q8_0; break;
    case LM_TYPE_IQ4_XS: to = LM_TYPE_IQ4_NL; break;
    default: {
        char hint[80];
        return lm_err_set(s->err, LM_EUNSUPPORTED, s->path, LM_NO_OFFSET,
                          "tensor '%s' has rows of %llu, not a multiple of %u for %s, which has "
                          "no fallback; --tensor-type %s=f16 keeps it F16",
                          t->name, (unsigned long long)t->ne[0], ti->block, ti->name,
                          override_hint(t->name, hint, sizeof(hint)));
    }
    }
    if (t->ne[0] % lm_type_get(to)->block != 0)
        to = LM_TYPE_F16;
    if (s->o->strict)
        return lm_err_set(s->err, LM_EUNSUPPORTED, s->path, LM_NO_OFFSET,
                          "tensor '%s' has rows of %llu, not a multiple of %u for %s; "
                          "llama-quantize falls back to %s (--strict)",
                          t->name, (unsigned long long)t->ne[0], ti->block, ti->name,
                          lm_type_get(to)->name);
    size_t len = strnlen(why, 160);
    snprintf(why + len, 160 - len, "%sfallback: rows of %llu are not whole %s blocks, %s",
             len ? "; " : "", (unsigned long long)t->ne[0], ti->name, lm_type_get(to)->name);
    *type = to;
    *fell = true;
    return 0;
}

static bool is_quantized(uint32_t type)
{
    const struct lm_type_info *ti = lm_type_get(type);
    return ti && ti->quantized;
}

/* llama_tensor_get_type: the wrapper around the mix rules. */
static int choose(struct state *s, struct lm_plan_entry *e)
{
    const struct gguf_tensor *t = e->t;
    const struct lm_quant_opts *o = s->o;
    char *why = e->why;
    const char *keep = not_quantized(t->name, e->n_dims, o);
    const enum cat c = category(t->name);
    if (keep) {
        e->to = t->type;
        WHY("%s", keep);
        return 0;
    }
    if (o->token_embd_type >= 0 && c == C_TOKEN_EMBD) {
        e->to = (uint32_t)o->token_embd_type;
        WHY("--token-embedding-type");
        return 0;
    }
    if (o->output_type >= 0 && c == C_OUTPUT) {
        e->to = (uint32_t)o->output_type;
        WHY("--output-tensor-type");
        return 0;
    }
    uint32_t nt = lm_ftype_default_type(o->ftype);
    WHY("default");
    if (!is_quantized(nt)) {
        e->to = nt;
        return 0;
    }
    bool manual = false;
    for (size_t i = 0; i < o->n_overrides; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(s->re[i], NULL);
        if (!md)
            return lm_err_set(s->err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        int rc = pcre2_match(s->re[i], (PCRE2_SPTR)t->name, strlen(t->name), 0, 0, md, NULL);
        pcre2_match_data_free(md);
        if (rc >= 0) {
            nt = o->overrides[i].type;
            WHY("--tensor-type %s", o->overrides[i].pattern);
            manual = true;
            break;
        }
    }
    if (!manual && !o->pure) {
        why[0] = 0;
        if (mix_type(s, t, &nt, why) != 0)
            return -1;
        if (!why[0])
            WHY("default");
    }
    if (o->pure && !manual)
        WHY("--pure");
    if (fallback(s, t, &nt, why, &e->fallback) != 0)
        return -1;
    e->to = nt;
    return 0;
}

/* Can the driver produce e->to from the input bytes? */
static int check_entry(struct state *s, struct lm_plan_entry *e)
{
    const struct gguf_tensor *t = e->t;
    const struct lm_type_info *to = lm_type_get(e->to), *from = lm_type_get(t->type);
    e->convert = e->to != t->type;
    if (!e->convert)
        return 0;
    if (t->ne[0] % to->block != 0)   /* only the two type options skip the fallback */
        return lm_err_set(s->err, LM_EUNSUPPORTED, s->path, LM_NO_OFFSET,
                          "tensor '%s' has rows of %llu, not a multiple of %u for %s (%s)",
                          t->name, (unsigned long long)t->ne[0], to->block, to->name, e->why);
    if (!lm_quant_can_quantize(e->to))
        return lm_err_set(s->err, LM_EUNSUPPORTED, s->path, LM_NO_OFFSET,
                          "tensor '%s': lm cannot make %s (it needs an importance matrix)",
                          t->name, to->name);
    if (from->quantized && !s->o->allow_requantize)
        return lm_err_set(s->err, LM_EUNSUPPORTED, s->path, LM_NO_OFFSET,
                          "tensor '%s' is already %s; quantizing it again to %s loses quality "
                          "(--allow-requantize does it anyway)", t->name, from->name, to->name);
    if (!lm_quant_can_dequantize(t->type))
        return lm_err_set(s->err, LM_EUNSUPPORTED, s->path, LM_NO_OFFSET,
                          "tensor '%s': cannot convert from %s", t->name, from->name);
    return 0;
}

static uint32_t written_dims(const struct gguf_tensor *t)
{
    uint32_t n = 1;
    for (uint32_t d = 1; d < GGUF_MAX_DIMS; d++)
        if (t->ne[d] > 1)
            n = d + 1;
    return n;
}

static int compile_overrides(struct state *s)
{
    const struct lm_quant_opts *o = s->o;
    if (!o->n_overrides)
        return 0;
    s->re = calloc(o->n_overrides, sizeof(*s->re));
    if (!s->re)
        return lm_err_set(s->err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < o->n_overrides; i++) {
        char pat[512];
        size_t len = strlen(o->overrides[i].pattern);
        if (len >= sizeof(pat))
            return lm_err_set(s->err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                              "--tensor-type pattern is over %zu bytes", sizeof(pat) - 1);
        for (size_t k = 0; k <= len; k++)
            pat[k] = (char)tolower((unsigned char)o->overrides[i].pattern[k]);
        int ec;
        PCRE2_SIZE eo;
        s->re[i] = pcre2_compile((PCRE2_SPTR)pat, len, 0, &ec, &eo, NULL);
        if (!s->re[i]) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(ec, msg, sizeof(msg));
            return lm_err_set(s->err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                              "--tensor-type pattern '%s': %s at offset %zu", pat, (char *)msg,
                              (size_t)eo);
        }
    }
    return 0;
}

int lm_quant_plan(const struct gguf *g, const char *path, const struct lm_quant_opts *o,
                  struct lm_plan *plan, struct lm_err *err)
{
    struct state s = { .o = o, .path = path, .tied = true, .err = err };
    int ret = -1;
    memset(plan, 0, sizeof(*plan));
    if (lm_ftype_default_type(o->ftype) == LM_TYPE_COUNT) {
        lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "unknown file type %d", o->ftype);
        goto out;
    }
    plan->n = gguf_n_tensors(g);
    plan->e = calloc(plan->n ? plan->n : 1, sizeof(*plan->e));
    if (!plan->e) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < plan->n; i++) {
        plan->e[i].t = gguf_tensor_at(g, i);
        plan->e[i].n_dims = written_dims(plan->e[i].t);
    }
    qsort(plan->e, plan->n, sizeof(*plan->e), tensor_cmp);
    read_model_info(g, plan, &s.m);
    for (size_t i = 0; i < plan->n; i++) {
        enum cat c = category(plan->e[i].t->name);
        if (is_attn_v(c))
            s.n_attn_v++;
        if (c == C_OUTPUT)
            s.tied = false;
    }
    if (compile_overrides(&s) != 0)
        goto out;
    for (size_t i = 0; i < plan->n; i++) {
        struct lm_plan_entry *e = &plan->e[i];
        if (choose(&s, e) != 0 || check_entry(&s, e) != 0)
            goto out;
        if (lm_type_nbytes(e->to, e->t->nelem, &e->out_bytes) != 0) {
            lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET, "tensor '%s' is too large",
                       e->t->name);
            goto out;
        }
        plan->n_fallback += e->fallback;
        plan->in_bytes += e->t->nbytes;
        plan->out_bytes += e->out_bytes;
    }
    ret = 0;
out:
    for (size_t i = 0; s.re && i < o->n_overrides; i++)
        pcre2_code_free(s.re[i]);
    free(s.re);
    if (ret != 0)
        lm_plan_release(plan);
    return ret;
}

void lm_plan_release(struct lm_plan *plan)
{
    free(plan->e);
    memset(plan, 0, sizeof(*plan));
}

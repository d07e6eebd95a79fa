/* cfg.c: config.json as llama.cpp reads it, and the hyperparameter keys every architecture shares. */
#include <jansson.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

static const char *const K_LAYERS[] = { "n_layers", "num_hidden_layers", "n_layer", "num_layers", NULL };
static const char *const K_CTX[] = { "max_position_embeddings", "n_ctx", "n_positions", "max_length",
                                     "max_sequence_length", "model_max_length", NULL };
static const char *const K_EMBD[] = { "hidden_size", "n_embd", "dim", NULL };
static const char *const K_FF[] = { "intermediate_size", "n_inner", "hidden_dim", NULL };
static const char *const K_HEAD[] = { "num_attention_heads", "n_head", "n_heads", NULL };
static const char *const K_HEAD_KV[] = { "num_key_value_heads", "n_kv_heads", NULL };
static const char *const K_THETA[] = { "global_rope_theta", "rope_global_theta", "rope_theta_global",
                                       "rope_theta", "rotary_emb_base", NULL };
static const char *const K_THETA_SWA[] = { "local_rope_theta", "rope_local_theta", "rope_theta_local",
                                           "swa_rope_theta", "rope_local_base_freq", NULL };
static const char *const K_RMS_EPS[] = { "rms_norm_eps", "norm_eps", NULL };
static const char *const K_NORM_EPS[] = { "layer_norm_eps", "layer_norm_epsilon", "norm_epsilon", NULL };
static const char *const K_EXPERTS[] = { "num_local_experts", "num_experts", NULL };
static const char *const K_EXPERTS_USED[] = { "num_experts_per_tok", "num_experts_per_token",
                                              "top_k_experts", NULL };

json_t *convert_cfg_find(const struct convert_cfg *c, const char *const *keys)
{
    for (; *keys; keys++) {
        json_t *v = json_object_get(c->root, *keys);
        if (v)
            return v;
    }
    return NULL;
}

static const char *key_of(const struct convert_cfg *c, const char *const *keys)
{
    json_t *v = convert_cfg_find(c, keys);
    for (; *keys; keys++)
        if (json_object_get(c->root, *keys) == v)
            return *keys;
    return "?";
}

static int bad(const struct convert_cfg *c, const char *what, const char *want, struct lm_err *err)
{
    char q[LM_QUOTE_MAX + 16];
    return lm_err_set(err, LM_ECORRUPT, c->path, LM_NO_OFFSET, "'%s' is not %s",
                      lm_quote(what, strlen(what), q, sizeof(q)), want);
}

/* A size from config.json: absent or null gives 0; otherwise an integer in [1, max]. */
static int size_of(const struct convert_cfg *c, const char *const *keys, uint64_t max,
                   uint64_t *out, struct lm_err *err)
{
    json_t *v = convert_cfg_find(c, keys);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    const char *key = key_of(c, keys);
    if (!json_is_integer(v) || json_integer_value(v) < 1 || (uint64_t)json_integer_value(v) > max) {
        char want[64];
        snprintf(want, sizeof(want), "an integer from 1 to %llu", (unsigned long long)max);
        return bad(c, key, want, err);
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* rope_parameters (or rope_scaling) with rope_theta and rope_type mirrored in, as TextModel does. */
static int init_rope(struct convert_cfg *c, struct lm_err *err)
{
    json_t *rp = json_object_get(c->root, "rope_parameters");
    if (!json_object_get(c->root, "rope_parameters"))
        rp = json_object_get(c->root, "rope_scaling");
    if (rp && !json_is_null(rp) && !json_is_object(rp))
        return bad(c, json_object_get(c->root, "rope_parameters") ? "rope_parameters" : "rope_scaling",
                   "an object", err);
    c->rope = json_is_object(rp) ? json_deep_copy(rp) : json_object();
    if (!c->rope)
        return lm_err_set(err, LM_ENOMEM, c->path, LM_NO_OFFSET, "out of memory");
    json_t *theta = convert_cfg_find(c, K_THETA), *local = convert_cfg_find(c, K_THETA_SWA);
    if (json_object_get(c->rope, "full_attention") || json_object_get(c->rope, "sliding_attention"))
        return 0;
    int rc = 0;
    if (local && !json_is_null(local)) {
        json_t *o = json_pack("{sO}", "rope_theta", local);
        rc |= !o || json_object_set_new(c->rope, "sliding_attention", o);
    }
    if (!json_object_get(c->rope, "rope_theta") && theta && !json_is_null(theta))
        rc |= json_object_set(c->rope, "rope_theta", theta);
    json_t *type = json_object_get(c->rope, "type");
    if (!json_object_get(c->rope, "rope_type") && type && !json_is_null(type))
        rc |= json_object_set(c->rope, "rope_type", type);
    return rc ? lm_err_set(err, LM_ENOMEM, c->path, LM_NO_OFFSET, "out of memory") : 0;
}

int convert_cfg_init(struct convert_cfg *c, const char *dir, const json_t *config,
                     struct lm_err *err)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->path, sizeof(c->path), "%s/config.json", dir);
    if (!config)
        return lm_err_set(err, LM_ENOTFOUND, c->path, LM_NO_OFFSET, "no config.json");
    c->root = json_deep_copy(config);
    c->raw = json_deep_copy(config);
    if (!c->root || !c->raw)
        return lm_err_set(err, LM_ENOMEM, c->path, LM_NO_OFFSET, "out of memory");
    if (!json_is_object(c->root))
        return lm_err_set(err, LM_ECORRUPT, c->path, LM_NO_OFFSET, "not a JSON object");
    /* Multimodal wrappers keep the language model's fields in text_config (or a renamed one),
     * merged over the top level; later names win, as in load_hparams. */
    static const char *const renames[] = { "llm_config", "lm_config", "thinker_config",
                                           "language_config", "lfm", NULL };
    for (const char *const *r = renames; *r; r++) {
        json_t *v = json_object_get(c->root, *r);
        if (v && strcmp(*r, "thinker_config") == 0)
            v = json_object_get(v, "text_config");
        if (v && json_object_set(c->root, "text_config", v))
            return lm_err_set(err, LM_ENOMEM, c->path, LM_NO_OFFSET, "out of memory");
    }
    json_t *tc = json_object_get(c->root, "text_config");
    if (tc && !json_is_object(tc))
        return bad(c, "text_config", "an object", err);
    if (tc) {
        json_incref(tc);   /* it may replace its own key */
        int rc = json_object_update(c->root, tc);
        json_decref(tc);
        if (rc)
            return lm_err_set(err, LM_ENOMEM, c->path, LM_NO_OFFSET, "out of memory");
    }
    if (!convert_cfg_find(c, K_LAYERS))
        return lm_err_set(err, LM_ECORRUPT, c->path, LM_NO_OFFSET,
                          "no layer count (num_hidden_layers, n_layers, n_layer or num_layers)");
    if (size_of(c, K_LAYERS, CONVERT_MAX_LAYERS, &c->n_layer, err) ||
        size_of(c, K_EMBD, CONVERT_MAX_DIM, &c->n_embd, err) ||
        size_of(c, K_FF, CONVERT_MAX_DIM, &c->n_ff, err) ||
        size_of(c, K_HEAD, CONVERT_MAX_DIM, &c->n_head, err) ||
        size_of(c, K_HEAD_KV, CONVERT_MAX_DIM, &c->n_head_kv, err))
        return -1;
    static const char *const k_hd[] = { "head_dim", NULL }, *const k_vocab[] = { "vocab_size", NULL };
    if (size_of(c, k_hd, CONVERT_MAX_DIM, &c->head_dim, err) ||
        size_of(c, k_vocab, CONVERT_MAX_VOCAB, &c->vocab_size, err))
        return -1;
    if (c->n_layer == 0)
        return bad(c, "num_hidden_layers", "a layer count", err);
    if (c->n_head_kv == 0)
        c->n_head_kv = c->n_head;
    if (c->head_dim == 0 && c->n_head)
        c->head_dim = c->n_embd / c->n_head;
    return init_rope(c, err);
}

void convert_cfg_release(struct convert_cfg *c)
{
    json_decref(c->root);
    json_decref(c->raw);
    json_decref(c->rope);
    c->root = c->raw = c->rope = NULL;
}

int convert_cfg_put_u32(const struct convert_cfg *c, struct convert_meta *m, const char *gkey,
                        const json_t *v, const char *what, struct lm_err *err)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX)
        return bad(c, what, "an unsigned 32-bit integer", err);
    return convert_meta_u32(m, gkey, (uint32_t)json_integer_value(v), err);
}

int convert_cfg_put_f32(const struct convert_cfg *c, struct convert_meta *m, const char *gkey,
                        const json_t *v, const char *what, struct lm_err *err)
{
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return bad(c, what, "a number", err);
    return convert_meta_f32(m, gkey, (float)json_number_value(v), err);
}

/* One key from the first present of `keys`, by type. */
static int put_found(const struct convert_cfg *c, struct convert_meta *m, const char *gkey,
                     const char *const *keys, bool is_float, struct lm_err *err)
{
    json_t *v = convert_cfg_find(c, keys);
    return is_float ? convert_cfg_put_f32(c, m, gkey, v, key_of(c, keys), err)
                    : convert_cfg_put_u32(c, m, gkey, v, key_of(c, keys), err);
}

static int rope_scaling(const struct convert_cfg *c, struct convert_meta *m, const char *arch,
                        const json_t *rp, struct lm_err *err)
{
    char k[128];
    json_t *type = json_object_get(rp, "rope_type");
    if (!type || json_is_null(type))
        return 0;
    if (!json_is_string(type))
        return bad(c, "rope_type", "a string", err);
    const char *t = json_string_value(type);
    json_t *factor = json_object_get(rp, "factor");
    bool has_factor = factor && !json_is_null(factor);
    if (strcmp(t, "linear") == 0 && has_factor) {
        snprintf(k, sizeof(k), "%s.rope.scaling.type", arch);
        if (convert_meta_str(m, k, "linear", 6, err))
            return -1;
        snprintf(k, sizeof(k), "%s.rope.scaling.factor", arch);
        return convert_cfg_put_f32(c, m, k, factor, "factor", err);
    }
    if (strcmp(t, "yarn") == 0 && has_factor) {
        static const struct { const char *key, *alt, *gguf; } opt[] = {
            { "extrapolation_factor", NULL, "yarn_ext_factor" },
            { "attention_factor", "attn_factor", "yarn_attn_factor" },
            { "beta_fast", NULL, "yarn_beta_fast" },
            { "beta_slow", NULL, "yarn_beta_slow" },
        };
        json_t *orig = json_object_get(rp, "original_max_position_embeddings");
        if (!orig)
            return bad(c, "rope_scaling", "complete: yarn needs original_max_position_embeddings",
                       err);
        snprintf(k, sizeof(k), "%s.rope.scaling.type", arch);
        if (convert_meta_str(m, k, "yarn", 4, err))
            return -1;
        snprintf(k, sizeof(k), "%s.rope.scaling.factor", arch);
        if (convert_cfg_put_f32(c, m, k, factor, "factor", err))
            return -1;
        snprintf(k, sizeof(k), "%s.rope.scaling.original_context_length", arch);
        if (convert_cfg_put_u32(c, m, k, orig, "original_max_position_embeddings", err))
            return -1;
        for (size_t i = 0; i < sizeof(opt) / sizeof(opt[0]); i++) {
            json_t *v = json_object_get(rp, opt[i].key);
            if (!v && opt[i].alt)
                v = json_object_get(rp, opt[i].alt);
            snprintf(k, sizeof(k), "%s.rope.scaling.%s", arch, opt[i].gguf);
            if (convert_cfg_put_f32(c, m, k, v, opt[i].key, err))
                return -1;
        }
        return 0;
    }
    if (strcmp(t, "su") == 0 || strcmp(t, "longrope") == 0) {
        snprintf(k, sizeof(k), "%s.rope.scaling.type", arch);
        return convert_meta_str(m, k, "longrope", 8, err);
    }
    /* "dynamic" is a model class's business, "llama3" becomes rope_freqs.weight, and llama.cpp
     * only warns about others. */
    return 0;
}

int convert_common_params(const struct convert_cfg *c, struct convert_meta *m, const char *arch,
                          uint32_t file_type, struct lm_err *err)
{
    char k[128];
#define KEY(suffix) (snprintf(k, sizeof(k), "%s." suffix, arch), k)
    if (put_found(c, m, KEY("block_count"), K_LAYERS, false, err) ||
        put_found(c, m, KEY("context_length"), K_CTX, false, err) ||
        put_found(c, m, KEY("embedding_length"), K_EMBD, false, err) ||
        put_found(c, m, KEY("feed_forward_length"), K_FF, false, err) ||
        put_found(c, m, KEY("attention.head_count"), K_HEAD, false, err) ||
        put_found(c, m, KEY("attention.head_count_kv"), K_HEAD_KV, false, err))
        return -1;
    if (json_is_false(json_object_get(c->root, "is_causal")) &&
        convert_meta_bool(m, KEY("attention.causal"), false, err))
        return -1;
    json_t *rp = json_object_get(c->rope, "full_attention");
    if (!rp)
        rp = c->rope;
    if (rope_scaling(c, m, arch, rp, err))
        return -1;
    json_t *mrope = json_object_get(c->rope, "mrope_section");
    if (json_is_array(mrope)) {
        int32_t sec[4] = { 0, 0, 0, 0 };
        for (size_t i = 0; i < json_array_size(mrope) && i < 4; i++) {
            json_t *v = json_array_get(mrope, i);
            if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
                json_integer_value(v) > INT32_MAX)
                return bad(c, "mrope_section", "a list of integers", err);
            sec[i] = (int32_t)json_integer_value(v);
        }
        if (convert_meta_arr_num(m, KEY("rope.dimension_sections"), GGUF_I32, sec, 4, err))
            return -1;
    }
    json_t *swa = json_object_get(json_object_get(c->rope, "sliding_attention"), "rope_theta");
    if (convert_cfg_put_f32(c, m, KEY("rope.freq_base"), json_object_get(rp, "rope_theta"),
                            "rope_theta", err) ||
        convert_cfg_put_f32(c, m, KEY("rope.freq_base_swa"), swa, "rope_theta", err) ||
        put_found(c, m, KEY("attention.layer_norm_rms_epsilon"), K_RMS_EPS, true, err) ||
        put_found(c, m, KEY("attention.layer_norm_epsilon"), K_NORM_EPS, true, err) ||
        put_found(c, m, KEY("expert_count"), K_EXPERTS, false, err) ||
        put_found(c, m, KEY("expert_used_count"), K_EXPERTS_USED, false, err))
        return -1;
    json_t *hd = json_object_get(c->root, "head_dim");
    if (convert_cfg_put_u32(c, m, KEY("attention.key_length"), hd, "head_dim", err) ||
        convert_cfg_put_u32(c, m, KEY("attention.value_length"), hd, "head_dim", err))
        return -1;
#undef KEY
    return convert_meta_u32(m, "general.file_type", file_type, err);
}

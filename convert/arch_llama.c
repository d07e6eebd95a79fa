/* arch_llama.c: LlamaForCausalLM and MistralForCausalLM -> GGUF "llama" (Llama 1/2/3.x, TinyLlama,
 * SmolLM, Mistral): Q/K rows un-permuted for llama.cpp's interleaved RoPE, llama3 rope factors. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

static const char *const hf_names[] = { "LlamaForCausalLM", "MistralForCausalLM", "LLaMAForCausalLM",
                                        NULL };

/* LlamaModel.set_gguf_parameters: vocab size and rotary dimensions after the common keys. */
static int params(const struct convert_cfg *c, struct convert_meta *m, struct lm_err *err)
{
    json_t *vs = json_object_get(c->root, "vocab_size");
    if (!vs)
        return lm_err_set(err, LM_ECORRUPT, c->path, LM_NO_OFFSET, "no vocab_size");
    if (convert_cfg_put_u32(c, m, "llama.vocab_size", vs, "vocab_size", err))
        return -1;
    if (c->n_embd == 0 || c->n_head == 0)
        return lm_err_set(err, LM_ECORRUPT, c->path, LM_NO_OFFSET,
                          "no hidden_size or num_attention_heads");
    return convert_meta_u32(m, "llama.rope.dimension_count", (uint32_t)c->head_dim, err);
}

static double num_or(const json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

/* Llama 3.1+ scale the low rotary frequencies; llama.cpp stores the factors as rope_freqs. */
static int extra(const struct convert_cfg *c, struct convert_gen *out, size_t *n_out,
                 struct lm_err *err)
{
    *n_out = 0;
    json_t *rp = json_object_get(c->rope, "full_attention");
    if (!rp)
        rp = c->rope;
    const char *type = json_string_value(json_object_get(rp, "rope_type"));
    if (!type || strcasecmp(type, "llama3") != 0)
        return 0;
    uint32_t dim = (uint32_t)c->head_dim;
    if (dim < 2 || dim % 2)
        return lm_err_set(err, LM_ECORRUPT, c->path, LM_NO_OFFSET,
                          "llama3 rope needs an even head dimension, not %u", dim);
    double low = num_or(rp, "low_freq_factor", 1.0), high = num_or(rp, "high_freq_factor", 4.0);
    if (!(high > low) || !(low > 0))
        return lm_err_set(err, LM_ECORRUPT, c->path, LM_NO_OFFSET,
                          "llama3 rope needs 0 < low_freq_factor < high_freq_factor");
    out[0].data = malloc(dim / 2 * sizeof(float));
    if (!out[0].data)
        return lm_err_set(err, LM_ENOMEM, c->path, LM_NO_OFFSET, "out of memory");
    snprintf(out[0].name, sizeof(out[0].name), "rope_freqs.weight");
    out[0].n = dim / 2;
    convert_llama3_factors(num_or(rp, "rope_theta", 10000.0), dim, num_or(rp, "factor", 8.0), low,
                           high, num_or(c->root, "original_max_position_embeddings", 8192.0),
                           out[0].data);
    *n_out = 1;
    return 0;
}

/* llama.cpp's LlamaModel.set_vocab: "granite small models" (SmolLM too) add no BOS. */
static int after_vocab(const struct convert_cfg *c, struct convert_meta *m, struct lm_err *err)
{
    if (c->vocab_size == 49152)
        return convert_meta_bool(m, "tokenizer.ggml.add_bos_token", false, err);
    return 0;
}

const struct convert_arch convert_arch_llama = {
    .name = "llama",
    .hf_names = hf_names,
    .tensors = { &convert_tensors_decoder, NULL },
    .permute_qk = true,
    .params = params,
    .extra = extra,
    .add_space_prefix_key = true,
    .after_vocab = after_vocab,
};

/* arch.c: the architecture tables' registry and what they share: name mapping, the llama Q/K row
 * permutation and the llama3 rope factors. */
#include <math.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

static const struct convert_tname decoder[] = {
    { "model.embed_tokens", "token_embd", CD_VOCAB, CD_EMBD, 0 },
    { "model.norm", "output_norm", CD_EMBD, CD_NONE, 0 },
    { "lm_head", "output", CD_VOCAB, CD_EMBD, 0 },
    { "model.layers.#.input_layernorm", "blk.#.attn_norm", CD_EMBD, CD_NONE, 0 },
    { "model.layers.#.self_attn.q_proj", "blk.#.attn_q", CD_Q, CD_EMBD, CT_Q },
    { "model.layers.#.self_attn.k_proj", "blk.#.attn_k", CD_KV, CD_EMBD, CT_K },
    { "model.layers.#.self_attn.v_proj", "blk.#.attn_v", CD_KV, CD_EMBD, 0 },
    { "model.layers.#.self_attn.o_proj", "blk.#.attn_output", CD_EMBD, CD_Q, 0 },
    { "model.layers.#.post_attention_layernorm", "blk.#.ffn_norm", CD_EMBD, CD_NONE, 0 },
    { "model.layers.#.mlp.gate_proj", "blk.#.ffn_gate", CD_FF, CD_EMBD, 0 },
    { "model.layers.#.mlp.up_proj", "blk.#.ffn_up", CD_FF, CD_EMBD, 0 },
    { "model.layers.#.mlp.down_proj", "blk.#.ffn_down", CD_EMBD, CD_FF, 0 },
};
const struct convert_tlist convert_tensors_decoder = { decoder, sizeof(decoder) / sizeof(decoder[0]) };

static const struct convert_arch *const archs[] = {
    &convert_arch_llama, &convert_arch_qwen2, &convert_arch_qwen3,
};

const struct convert_arch *convert_arch_find(const char *hf_arch)
{
    if (!hf_arch)
        return NULL;
    for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]); i++)
        for (const char *const *n = archs[i]->hf_names; *n; n++)
            if (strcmp(*n, hf_arch) == 0)
                return archs[i];
    return NULL;
}

const char *convert_supported_list(void)
{
    static char list[512];
    if (list[0])
        return list;
    size_t off = 0;
    for (size_t i = 0; i < sizeof(archs) / sizeof(archs[0]); i++)
        for (const char *const *n = archs[i]->hf_names; *n; n++) {
            int w = snprintf(list + off, sizeof(list) - off, "%s%s", off ? ", " : "", *n);
            if (w < 0 || (size_t)w >= sizeof(list) - off)
                return list;
            off += (size_t)w;
        }
    return list;
}

/* `s` against `pat` where '#' stands for a layer number written as Python's str(int) does. */
static bool match_layer(const char *pat, const char *s, size_t len, uint64_t *bid)
{
    const char *hash = strchr(pat, '#');
    if (!hash)
        return strlen(pat) == len && memcmp(pat, s, len) == 0;
    size_t pre = (size_t)(hash - pat), post = strlen(hash + 1);
    if (len < pre + 1 + post || memcmp(pat, s, pre) || memcmp(hash + 1, s + len - post, post))
        return false;
    const char *d = s + pre, *end = s + len - post;
    if (end - d > 6 || (*d == '0' && end - d > 1))
        return false;
    uint64_t v = 0;
    for (; d < end; d++) {
        if (*d < '0' || *d > '9')
            return false;
        v = v * 10 + (uint64_t)(*d - '0');
    }
    *bid = v;
    return true;
}

bool convert_map_name(const struct convert_arch *a, const char *hf, uint64_t n_layer, char *out,
                      size_t n, const struct convert_tname **t, bool *is_bias)
{
    size_t len = strlen(hf);
    const char *suffix = "";
    *is_bias = false;
    if (len > 7 && strcmp(hf + len - 7, ".weight") == 0) {
        suffix = ".weight";
        len -= 7;
    } else if (len > 5 && strcmp(hf + len - 5, ".bias") == 0) {
        suffix = ".bias";
        *is_bias = true;
        len -= 5;
    }
    for (const struct convert_tlist *const *l = a->tensors; *l; l++)
        for (size_t i = 0; i < (*l)->n; i++) {
            const struct convert_tname *row = &(*l)->t[i];
            uint64_t bid = UINT64_MAX;
            if (!match_layer(row->hf, hf, len, &bid))
                continue;
            if (bid != UINT64_MAX && bid >= n_layer)
                return false;
            const char *g = row->gguf, *hash = strchr(g, '#');
            int w = hash ? snprintf(out, n, "%.*s%llu%s%s", (int)(hash - g), g,
                                    (unsigned long long)bid, hash + 1, suffix)
                         : snprintf(out, n, "%s%s", g, suffix);
            if (w < 0 || (size_t)w >= n)
                return false;
            *t = row;
            return true;
        }
    return false;
}

/* Rows viewed as [n_head][2][hd/2] are written as [n_head][hd/2][2] (gguf.md §5). */
uint64_t convert_permute_row(uint64_t r, uint64_t rows, uint64_t n_head)
{
    uint64_t hd = rows / n_head, h = r / hd, w = r % hd;
    return h * hd + (w % 2) * (hd / 2) + w / 2;
}

/* torch evaluates `a / t` for a tensor t as t.reciprocal() * a, in float32, with Python scalars
 * rounded to float32 first; the wavelength bounds are Python floats. So do we. */
void convert_llama3_factors(double base, uint32_t dim, double factor, double low, double high,
                            double old_ctx, float *out)
{
    const float two_pi = (float)(2.0 * M_PI), fbase = (float)base, ffactor = (float)factor;
    const float high_wavelen = (float)(old_ctx / high), low_wavelen = (float)(old_ctx / low);
    for (uint32_t i = 0; i < dim / 2; i++) {
        float freq = 1.0f / powf(fbase, (float)(2 * i) / (float)dim);
        float wavelen = (1.0f / freq) * two_pi;
        if (wavelen < high_wavelen) {
            out[i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            out[i] = ffactor;
        } else {
            float smooth = ((1.0f / wavelen) * (float)old_ctx - (float)low) / (float)(high - low);
            out[i] = 1.0f / ((1.0f - smooth) / ffactor + smooth);
        }
    }
}

/* arch_qwen3.c: Qwen3ForCausalLM -> GGUF "qwen3": the shared decoder plus RMS norms of q and k per
 * head; head_dim comes from config.json (key_length), often not hidden_size / heads. */
#include "convert.h"
#include "../common/banned.h"

static const char *const hf_names[] = { "Qwen3ForCausalLM", NULL };

static const struct convert_tname qk_norms[] = {
    { "model.layers.#.self_attn.q_norm", "blk.#.attn_q_norm", CD_HEAD, CD_NONE, 0 },
    { "model.layers.#.self_attn.k_norm", "blk.#.attn_k_norm", CD_HEAD, CD_NONE, 0 },
};
static const struct convert_tlist extra = { qk_norms, sizeof(qk_norms) / sizeof(qk_norms[0]) };

const struct convert_arch convert_arch_qwen3 = {
    .name = "qwen3",
    .hf_names = hf_names,
    .tensors = { &convert_tensors_decoder, &extra, NULL },
};

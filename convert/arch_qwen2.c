/* arch_qwen2.c: Qwen2ForCausalLM -> GGUF "qwen2": the shared decoder with q/k/v biases (which map
 * like the weights); NEOX RoPE, so no row permutation. */
#include "convert.h"
#include "../common/banned.h"

static const char *const hf_names[] = { "Qwen2ForCausalLM", NULL };

const struct convert_arch convert_arch_qwen2 = {
    .name = "qwen2",
    .hf_names = hf_names,
    .tensors = { &convert_tensors_decoder, NULL },
};

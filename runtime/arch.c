/* arch.c: the architectures the runtime runs, as tables of the tensors each one needs.
 * A new architecture (gemma3, phi3) is a new table plus what its forward pass does
 * differently; the loader checks every shape from these rows. */
#include <string.h>

#include "model.h"
#include "../common/banned.h"

#define L(name, slot, a, b, flags) { "blk.%u." name, slot, a, b, (flags) | RT_T_LAYER }
#define W RT_T_MATMUL
#define F RT_T_F32
#define OPT RT_T_OPTIONAL

/* Shared by every llama-like model: embeddings, final norm, untied or tied output. */
#define COMMON_TENSORS \
    { "token_embd.weight", RT_TOK_EMBD, RT_DEMBD, RT_DVOCAB, 0 }, \
    { "output_norm.weight", RT_OUTPUT_NORM, RT_DEMBD, RT_D1, F }, \
    { "output.weight", RT_OUTPUT, RT_DEMBD, RT_DVOCAB, W | OPT }, \
    L("attn_norm.weight", RT_ATTN_NORM, RT_DEMBD, RT_D1, F), \
    L("attn_q.weight", RT_WQ, RT_DEMBD, RT_DQ, W), \
    L("attn_k.weight", RT_WK, RT_DEMBD, RT_DKV, W), \
    L("attn_v.weight", RT_WV, RT_DEMBD, RT_DKV, W), \
    L("attn_output.weight", RT_WO, RT_DQ, RT_DEMBD, W), \
    L("ffn_norm.weight", RT_FFN_NORM, RT_DEMBD, RT_D1, F), \
    L("ffn_gate.weight", RT_GATE, RT_DEMBD, RT_DFF, W), \
    L("ffn_up.weight", RT_UP, RT_DEMBD, RT_DFF, W), \
    L("ffn_down.weight", RT_DOWN, RT_DFF, RT_DEMBD, W)

static const struct rt_tensor_spec llama_tensors[] = {
    COMMON_TENSORS,
    { "rope_freqs.weight", RT_ROPE_FREQS, RT_DROT2, RT_D1, F | OPT },   /* llama3 */
    L("attn_q.bias", RT_BQ, RT_DQ, RT_D1, F | OPT),
    L("attn_k.bias", RT_BK, RT_DKV, RT_D1, F | OPT),
    L("attn_v.bias", RT_BV, RT_DKV, RT_D1, F | OPT),
    L("attn_output.bias", RT_BO, RT_DEMBD, RT_D1, F | OPT),
};

static const struct rt_tensor_spec qwen2_tensors[] = {
    COMMON_TENSORS,
    L("attn_q.bias", RT_BQ, RT_DQ, RT_D1, F),
    L("attn_k.bias", RT_BK, RT_DKV, RT_D1, F),
    L("attn_v.bias", RT_BV, RT_DKV, RT_D1, F),
};

static const struct rt_tensor_spec qwen3_tensors[] = {
    COMMON_TENSORS,
    L("attn_q_norm.weight", RT_Q_NORM, RT_DHEAD, RT_D1, F),
    L("attn_k_norm.weight", RT_K_NORM, RT_DHEAD, RT_D1, F),
};

#undef L
#undef W
#undef F
#undef OPT

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct rt_arch archs[] = {
    { "llama", LM_ARCH_LLAMA, false, true, llama_tensors, N(llama_tensors) },
    { "qwen2", LM_ARCH_QWEN2, true, false, qwen2_tensors, N(qwen2_tensors) },
    { "qwen3", LM_ARCH_QWEN3, true, false, qwen3_tensors, N(qwen3_tensors) },
};

const struct rt_arch *rt_arch_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N(archs); i++)
        if (strlen(archs[i].name) == len && memcmp(archs[i].name, name, len) == 0)
            return &archs[i];
    return NULL;
}

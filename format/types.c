/* types.c: the ggml tensor type table, indexed by the on-disk id. */
#include <strings.h>

#include "format.h"
#include "../common/banned.h"

static const struct lm_type_info types[LM_TYPE_COUNT] = {
    [LM_TYPE_F32]     = { "F32", 1, 4, false },
    [LM_TYPE_F16]     = { "F16", 1, 2, false },
    [LM_TYPE_Q4_0]    = { "Q4_0", 32, 18, true },
    [LM_TYPE_Q4_1]    = { "Q4_1", 32, 20, true },
    [LM_TYPE_Q5_0]    = { "Q5_0", 32, 22, true },
    [LM_TYPE_Q5_1]    = { "Q5_1", 32, 24, true },
    [LM_TYPE_Q8_0]    = { "Q8_0", 32, 34, true },
    [LM_TYPE_Q8_1]    = { "Q8_1", 32, 36, true },
    [LM_TYPE_Q2_K]    = { "Q2_K", 256, 84, true },
    [LM_TYPE_Q3_K]    = { "Q3_K", 256, 110, true },
    [LM_TYPE_Q4_K]    = { "Q4_K", 256, 144, true },
    [LM_TYPE_Q5_K]    = { "Q5_K", 256, 176, true },
    [LM_TYPE_Q6_K]    = { "Q6_K", 256, 210, true },
    [LM_TYPE_Q8_K]    = { "Q8_K", 256, 292, true },
    [LM_TYPE_IQ2_XXS] = { "IQ2_XXS", 256, 66, true },
    [LM_TYPE_IQ2_XS]  = { "IQ2_XS", 256, 74, true },
    [LM_TYPE_IQ3_XXS] = { "IQ3_XXS", 256, 98, true },
    [LM_TYPE_IQ1_S]   = { "IQ1_S", 256, 50, true },
    [LM_TYPE_IQ4_NL]  = { "IQ4_NL", 32, 18, true },
    [LM_TYPE_IQ3_S]   = { "IQ3_S", 256, 110, true },
    [LM_TYPE_IQ2_S]   = { "IQ2_S", 256, 82, true },
    [LM_TYPE_IQ4_XS]  = { "IQ4_XS", 256, 136, true },
    [LM_TYPE_I8]      = { "I8", 1, 1, false },
    [LM_TYPE_I16]     = { "I16", 1, 2, false },
    [LM_TYPE_I32]     = { "I32", 1, 4, false },
    [LM_TYPE_I64]     = { "I64", 1, 8, false },
    [LM_TYPE_F64]     = { "F64", 1, 8, false },
    [LM_TYPE_IQ1_M]   = { "IQ1_M", 256, 56, true },
    [LM_TYPE_BF16]    = { "BF16", 1, 2, false },
    [LM_TYPE_TQ1_0]   = { "TQ1_0", 256, 54, true },
    [LM_TYPE_TQ2_0]   = { "TQ2_0", 256, 66, true },
    [LM_TYPE_MXFP4]   = { "MXFP4", 32, 17, true },
};

const struct lm_type_info *lm_type_get(uint32_t id)
{
    if (id >= LM_TYPE_COUNT || !types[id].name)
        return NULL;
    return &types[id];
}

int lm_type_from_name(const char *name)
{
    for (int i = 0; i < LM_TYPE_COUNT; i++)
        if (types[i].name && strcasecmp(types[i].name, name) == 0)
            return i;
    return -1;
}

int lm_type_nbytes(uint32_t id, uint64_t nelem, uint64_t *out)
{
    const struct lm_type_info *t = lm_type_get(id);
    if (!t || nelem % t->block)
        return -1;
    return ckd_mul(out, nelem / t->block, (uint64_t)t->type_size) ? -1 : 0;
}

/* fuzz_model.c: libFuzzer target for model loading (shapes, types, ids checked against the
 * metadata) and, when a model loads, a two-token forward pass over it: every index the forward
 * pass computes must stay inside what the loader checked. */
#include <stdint.h>
#include <stdlib.h>

#include "../runtime/runtime.h"
#include "../common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lm_err err;
    struct gguf *g = gguf_open_mem(data, size, "fuzz.gguf", &err);
    if (!g)
        return 0;
    struct lm_net *m = lm_net_from_gguf(g, "fuzz.gguf", &err);   /* takes g */
    if (!m)
        return 0;
    const struct lm_hparams *hp = lm_net_hparams(m);
    struct lm_ctx_params cp = { .n_ctx = 4, .n_threads = 1,
                                .kv_type = size & 1 ? LM_KV_F32 : LM_KV_F16 };
    struct lm_ctx *c = lm_ctx_new(m, &cp, &err);
    if (c) {
        int32_t ids[2] = { 0, (int32_t)hp->n_vocab - 1 };
        lm_ctx_eval(c, ids, 2, true, &err);
        lm_ctx_free(c);
    }
    lm_net_close(m);
    return 0;
}

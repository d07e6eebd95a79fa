/* fuzz_convert_spm.c: convert_spm_parse (tokenizer.model) on arbitrary bytes; every piece of an
 * accepted file lies inside the input. */
#include <stdint.h>
#include <stdlib.h>

#include "../convert/convert.h"
#include "../common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct convert_spm_piece *p = NULL;
    uint32_t n = 0;
    struct lm_err err;
    lm_err_clear(&err);
    if (convert_spm_parse(data, size, "fuzz.model", &p, &n, &err)) {
        LM_BUG_ON(err.code == LM_OK || p);
        LM_BUG_ON(err.off != LM_NO_OFFSET && err.off > size);
        return 0;
    }
    LM_BUG_ON(n == 0 || n > CONVERT_MAX_VOCAB);
    volatile uint8_t sink = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *t = (const uint8_t *)p[i].text;
        LM_BUG_ON(t < data || p[i].len == 0 || p[i].len > size - (size_t)(t - data));
        LM_BUG_ON(p[i].type < TOK_NORMAL || p[i].type > TOK_BYTE);
        sink ^= t[0];
        sink ^= t[p[i].len - 1];
    }
    free(p);
    return 0;
}

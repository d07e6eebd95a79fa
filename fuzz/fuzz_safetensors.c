/* fuzz_safetensors.c: st_open_mem on arbitrary bytes; an accepted file is walked end to end. */
#include <stdint.h>
#include <string.h>

#include "../format/format.h"
#include "../common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lm_err err;
    char line[2048];
    lm_err_clear(&err);
    struct safetensors *s = st_open_mem(data, size, "fuzz.safetensors", &err);
    if (!s) {
        LM_BUG_ON(err.code == LM_OK);
        LM_BUG_ON(err.off != LM_NO_OFFSET && err.off > size);   /* offsets point into the input */
        lm_err_str(&err, line, sizeof(line));
        return 0;
    }
    /* Every tensor's bytes lie inside the input, and the tensors tile the data buffer. */
    volatile uint8_t sink = 0;
    uint64_t covered = 0;
    const char *prev = NULL;
    for (size_t i = 0; i < st_n_tensors(s); i++) {
        const struct st_tensor *t = st_tensor_at(s, i);
        uint64_t n = t->end - t->begin;
        LM_BUG_ON(t->data < data || t->file_off > size || n > size - t->file_off);
        LM_BUG_ON(t->data != data + t->file_off);
        LM_BUG_ON(t->n_dims > ST_MAX_DIMS || !st_dtype_name(t->dtype));
        LM_BUG_ON(prev && strcmp(prev, t->name) >= 0);
        LM_BUG_ON(st_tensor_find(s, t->name) != t);
        if (n) {
            sink ^= t->data[0];
            sink ^= t->data[n - 1];
        }
        covered += n;
        prev = t->name;
    }
    LM_BUG_ON(covered != size - 8 - st_header_len(s));
    (void)sink;
    (void)st_metadata(s, "format");
    st_close(s);
    return 0;
}

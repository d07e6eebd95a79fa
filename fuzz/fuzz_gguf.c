/* fuzz_gguf.c: libFuzzer target for the GGUF reader: parse, then touch every value it hands out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../format/format.h"
#include "../common/banned.h"

/* Sum bytes so that reads through returned pointers are real (ASan checks each one). */
static volatile uint64_t sink;

static void walk_kv(const struct gguf_kv *kv)
{
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    struct gguf_str s, *strs = NULL;
    sink += kv->key.p[0] + kv->key.p[kv->key.len - 1];
    if (!gguf_kv_u64(kv, &u))
        sink += u;
    if (!gguf_kv_i64(kv, &i))
        sink += (uint64_t)i;
    if (!gguf_kv_f64(kv, &f))
        sink += f == f;
    if (!gguf_kv_bool(kv, &b))
        sink += b;
    if (!gguf_kv_str(kv, &s) && s.len)
        sink += (uint8_t)s.p[s.len - 1];
    if (kv->type != GGUF_ARRAY)
        return;
    if (kv->arr_type == GGUF_STRING) {
        if (gguf_arr_strs(kv, &strs, NULL) == 0) {
            for (uint64_t k = 0; k < kv->arr_len; k++)
                if (strs[k].len)
                    sink += (uint8_t)strs[k].p[0] + (uint8_t)strs[k].p[strs[k].len - 1];
            free(strs);
        }
        return;
    }
    for (uint64_t k = 0; k < kv->arr_len; k++) {
        if (!gguf_arr_u64(kv, k, &u))
            sink += u;
        if (!gguf_arr_i64(kv, k, &i))
            sink += (uint64_t)i;
        if (!gguf_arr_f64(kv, k, &f))
            sink += f == f;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lm_err err;
    struct gguf *g = gguf_open_mem(data, size, "fuzz.gguf", &err);
    if (!g)
        return 0;
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        walk_kv(kv);
        char key[256];
        if (kv->key.len < sizeof(key)) {
            memcpy(key, kv->key.p, kv->key.len);
            key[kv->key.len] = 0;
            if (gguf_kv_find(g, key) != kv)
                abort();   /* keys are unique, so lookup must find this one */
        }
    }
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        sink += t->data[0] + t->data[t->nbytes - 1];
        if (gguf_tensor_find(g, t->name) != t)
            abort();
        if (t->data + t->nbytes > gguf_bytes(g) + gguf_file_size(g))
            abort();
    }
    gguf_close(g);
    return 0;
}

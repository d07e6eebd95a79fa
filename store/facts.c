/* facts.c: what `lm show` and `lm list` say about a model (format, architecture, parameter
 * count, context length, quantization), read once from its blobs when it is added. */
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "../format/format.h"
#include "../common/banned.h"

/* general.file_type (shared/specs/gguf.md §3.1); ids not listed fall back to the tensor types. */
static const char *const ftype_names[] = {
    [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0",
    [9] = "Q5_1", [10] = "Q2_K", [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L",
    [14] = "Q4_K_S", [15] = "Q4_K_M", [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K",
    [32] = "BF16",
};

/* Copy outside text into a fixed field, keeping printable ASCII only. */
static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++)
        if (src[i] > 0x20 && src[i] < 0x7f)
            dst[o++] = src[i];
    dst[o] = 0;
}

static int blob_of(struct lm_store *s, const struct lm_layer *l, char *buf, size_t n,
                   struct lm_err *err)
{
    if (lm_blob_path(s, l->digest, buf, n))
        return lm_err_set(err, LM_EUSAGE, l->path, LM_NO_OFFSET, "bad digest");
    return 0;
}

static int gguf_facts(const char *path, bool first, struct store_facts *f, struct lm_err *err)
{
    struct gguf *g = gguf_open(path, err);
    if (!g)
        return -1;
    uint64_t bytes[LM_TYPE_COUNT] = { 0 };
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        f->n_params += t->nelem;
        if (t->n_dims >= 2 && t->type < LM_TYPE_COUNT)
            bytes[t->type] += t->nbytes;
    }
    if (first) {
        const struct gguf_kv *kv = gguf_kv_find(g, "general.architecture");
        struct gguf_str a;
        uint64_t v;
        if (kv && gguf_kv_str(kv, &a) == 0)
            copy_text(f->architecture, sizeof(f->architecture), a.p, (size_t)a.len);
        if (f->architecture[0]) {
            char key[96];
            snprintf(key, sizeof(key), "%s.context_length", f->architecture);
            kv = gguf_kv_find(g, key);
            if (kv && gguf_kv_u64(kv, &v) == 0)
                f->context_length = v;
        }
        kv = gguf_kv_find(g, "general.file_type");
        if (kv && gguf_kv_u64(kv, &v) == 0 && v < sizeof(ftype_names) / sizeof(ftype_names[0]) &&
            ftype_names[v])
            snprintf(f->quantization, sizeof(f->quantization), "%s", ftype_names[v]);
        if (!f->quantization[0]) {
            size_t best = 0;
            for (size_t t = 1; t < LM_TYPE_COUNT; t++)
                if (bytes[t] > bytes[best])
                    best = t;
            const struct lm_type_info *ti = lm_type_get((uint32_t)best);
            if (bytes[best] && ti)
                snprintf(f->quantization, sizeof(f->quantization), "%s", ti->name);
        }
    }
    gguf_close(g);
    return 0;
}

static void config_facts(const char *path, struct store_facts *f)
{
    static const char *const ctx_keys[] = {
        "max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "n_ctx",
    };
    json_error_t je;
    json_t *c = json_load_file(path, 0, &je);
    if (!json_is_object(c)) {
        json_decref(c);
        return;   /* admission made sure it parses; a non-object config just says nothing */
    }
    const char *arch = json_string_value(json_object_get(c, "model_type"));
    if (!arch)
        arch = json_string_value(json_array_get(json_object_get(c, "architectures"), 0));
    if (arch)
        copy_text(f->architecture, sizeof(f->architecture), arch, strlen(arch));
    json_t *scopes[] = { c, json_object_get(c, "text_config") };
    for (size_t k = 0; k < 2 && !f->context_length; k++)
        for (size_t i = 0; i < sizeof(ctx_keys) / sizeof(ctx_keys[0]); i++) {
            json_int_t v = json_integer_value(json_object_get(scopes[k], ctx_keys[i]));
            if (v > 0) {
                f->context_length = (uint64_t)v;
                break;
            }
        }
    const char *q = json_string_value(
        json_object_get(json_object_get(c, "quantization_config"), "quant_method"));
    if (q) {
        copy_text(f->quantization, sizeof(f->quantization), q, strlen(q));
        for (char *p = f->quantization; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
    }
    json_decref(c);
}

int store_facts(struct lm_store *s, const struct lm_layer *layers, size_t n,
                struct store_facts *f, struct lm_err *err)
{
    char path[STORE_PATH_MAX];
    uint64_t by_dtype[ST_DTYPE_COUNT] = { 0 };
    bool gguf = false, st = false;
    memset(f, 0, sizeof(*f));
    for (size_t i = 0; i < n; i++) {
        const struct lm_layer *l = &layers[i];
        if (strcmp(l->media_type, LM_MT_GGUF) == 0) {
            if (blob_of(s, l, path, sizeof(path), err) || gguf_facts(path, !gguf, f, err))
                return -1;
            gguf = true;
        }
    }
    if (gguf) {
        f->format = "gguf";
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const struct lm_layer *l = &layers[i];
        if (strcmp(l->media_type, LM_MT_SAFETENSORS) == 0) {
            if (blob_of(s, l, path, sizeof(path), err))
                return -1;
            struct safetensors *t = st_open(path, err);
            if (!t)
                return -1;
            for (size_t k = 0; k < st_n_tensors(t); k++) {
                const struct st_tensor *x = st_tensor_at(t, k);
                f->n_params += x->nelem;
                if (x->dtype < ST_DTYPE_COUNT)
                    by_dtype[x->dtype] += x->nelem;
            }
            st_close(t);
            st = true;
        } else if (strcasecmp(l->path, "config.json") == 0 &&
                   strcmp(l->media_type, LM_MT_JSON) == 0) {
            if (blob_of(s, l, path, sizeof(path), err))
                return -1;
            config_facts(path, f);
        }
    }
    f->format = st ? "safetensors" : "none";
    if (st && !f->quantization[0]) {
        size_t best = 0;
        for (size_t d = 1; d < ST_DTYPE_COUNT; d++)
            if (by_dtype[d] > by_dtype[best])
                best = d;
        snprintf(f->quantization, sizeof(f->quantization), "%s",
                 st_dtype_name((enum st_dtype)best));
    }
    return 0;
}

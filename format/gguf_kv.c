/* gguf_kv.c: GGUF value types and exact conversions of kv values and array items. */
#include <stdlib.h>
#include <string.h>

#include "gguf_int.h"
#include "../common/banned.h"

static const struct {
    const char *name;
    uint8_t size;
} vtypes[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = { "UINT8", 1 },     [GGUF_I8] = { "INT8", 1 },
    [GGUF_U16] = { "UINT16", 2 },   [GGUF_I16] = { "INT16", 2 },
    [GGUF_U32] = { "UINT32", 4 },   [GGUF_I32] = { "INT32", 4 },
    [GGUF_F32] = { "FLOAT32", 4 },  [GGUF_BOOL] = { "BOOL", 1 },
    [GGUF_STRING] = { "STRING", 0 }, [GGUF_ARRAY] = { "ARRAY", 0 },
    [GGUF_U64] = { "UINT64", 8 },   [GGUF_I64] = { "INT64", 8 },
    [GGUF_F64] = { "FLOAT64", 8 },
};

const char *gguf_vtype_name(enum gguf_vtype t)
{
    return (unsigned)t < GGUF_VTYPE_COUNT ? vtypes[t].name : "UNKNOWN";
}

size_t gguf_vtype_size(enum gguf_vtype t)
{
    return (unsigned)t < GGUF_VTYPE_COUNT ? vtypes[t].size : 0;
}

/* One number of type t at p, kept exact: integers as 64-bit, floats as double. */
struct num {
    enum { NUM_UNSIGNED, NUM_SIGNED, NUM_FLOAT, NUM_NONE } kind;
    uint64_t u;
    int64_t i;
    double f;
};

static struct num decode(enum gguf_vtype t, const uint8_t *p)
{
    struct num n = { NUM_NONE, 0, 0, 0 };
    switch (t) {
    case GGUF_U8: n.kind = NUM_UNSIGNED; n.u = p[0]; break;
    case GGUF_U16: n.kind = NUM_UNSIGNED; n.u = (uint64_t)p[0] | (uint64_t)p[1] << 8; break;
    case GGUF_U32: n.kind = NUM_UNSIGNED; n.u = gguf_le32(p); break;
    case GGUF_U64: n.kind = NUM_UNSIGNED; n.u = gguf_le64(p); break;
    case GGUF_I8: n.kind = NUM_SIGNED; n.i = (int8_t)p[0]; break;
    case GGUF_I16: n.kind = NUM_SIGNED; n.i = (int16_t)(uint16_t)(p[0] | p[1] << 8); break;
    case GGUF_I32: n.kind = NUM_SIGNED; n.i = (int32_t)gguf_le32(p); break;
    case GGUF_I64: n.kind = NUM_SIGNED; n.i = (int64_t)gguf_le64(p); break;
    case GGUF_F32: {
        uint32_t b = gguf_le32(p);
        float f;
        memcpy(&f, &b, 4);
        n.kind = NUM_FLOAT;
        n.f = f;
        break;
    }
    case GGUF_F64: {
        uint64_t b = gguf_le64(p);
        memcpy(&n.f, &b, 8);
        n.kind = NUM_FLOAT;
        break;
    }
    case GGUF_BOOL: case GGUF_STRING: case GGUF_ARRAY: case GGUF_VTYPE_COUNT:
        break;
    }
    return n;
}

static int to_u64(struct num n, uint64_t *out)
{
    if (n.kind == NUM_UNSIGNED)
        *out = n.u;
    else if (n.kind == NUM_SIGNED && n.i >= 0)
        *out = (uint64_t)n.i;
    else
        return -1;
    return 0;
}

static int to_i64(struct num n, int64_t *out)
{
    if (n.kind == NUM_SIGNED)
        *out = n.i;
    else if (n.kind == NUM_UNSIGNED && n.u <= INT64_MAX)
        *out = (int64_t)n.u;
    else
        return -1;
    return 0;
}

static int to_f64(struct num n, double *out)
{
    if (n.kind != NUM_FLOAT)
        return -1;
    *out = n.f;
    return 0;
}

/* Item i of a numeric array, or NULL. */
static const uint8_t *item(const struct gguf_kv *kv, uint64_t i)
{
    size_t size = gguf_vtype_size(kv->arr_type);
    if (kv->type != GGUF_ARRAY || !size || i >= kv->arr_len)
        return NULL;
    return kv->raw + i * size;
}

static struct num scalar(const struct gguf_kv *kv)
{
    if (kv->type == GGUF_ARRAY)
        return (struct num){ NUM_NONE, 0, 0, 0 };
    return decode(kv->type, kv->raw);
}

static struct num arr_num(const struct gguf_kv *kv, uint64_t i)
{
    const uint8_t *p = item(kv, i);
    return p ? decode(kv->arr_type, p) : (struct num){ NUM_NONE, 0, 0, 0 };
}

int gguf_kv_u64(const struct gguf_kv *kv, uint64_t *out) { return to_u64(scalar(kv), out); }
int gguf_kv_i64(const struct gguf_kv *kv, int64_t *out) { return to_i64(scalar(kv), out); }
int gguf_kv_f64(const struct gguf_kv *kv, double *out) { return to_f64(scalar(kv), out); }

int gguf_arr_u64(const struct gguf_kv *kv, uint64_t i, uint64_t *out)
{
    /* Arrays have no bool accessor of their own: their items read as 0 or 1 here. */
    if (kv->type == GGUF_ARRAY && kv->arr_type == GGUF_BOOL && i < kv->arr_len) {
        *out = kv->raw[i] != 0;
        return 0;
    }
    return to_u64(arr_num(kv, i), out);
}

int gguf_arr_i64(const struct gguf_kv *kv, uint64_t i, int64_t *out)
{
    return to_i64(arr_num(kv, i), out);
}

int gguf_arr_f64(const struct gguf_kv *kv, uint64_t i, double *out)
{
    return to_f64(arr_num(kv, i), out);
}

int gguf_kv_bool(const struct gguf_kv *kv, bool *out)
{
    if (kv->type != GGUF_BOOL)
        return -1;
    *out = kv->raw[0] != 0;
    return 0;
}

int gguf_kv_str(const struct gguf_kv *kv, struct gguf_str *out)
{
    if (kv->type != GGUF_STRING)
        return -1;
    out->len = gguf_le64(kv->raw);
    out->p = (const char *)kv->raw + 8;
    return 0;
}

int gguf_arr_strs(const struct gguf_kv *kv, struct gguf_str **out, struct lm_err *err)
{
    *out = NULL;
    if (kv->type != GGUF_ARRAY || kv->arr_type != GGUF_STRING) {
        char q[GGUF_QBUF];
        return lm_err_set(err, LM_EUSAGE, NULL, kv->file_off, "key '%s' is not a string array",
                          lm_quote(kv->key.p, (size_t)kv->key.len, q, sizeof(q)));
    }
    /* The reader checked arr_len * 8 <= raw_len, so this allocation is bounded by the file. */
    struct gguf_str *s = calloc(kv->arr_len ? kv->arr_len : 1, sizeof(*s));
    if (!s)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    const uint8_t *p = kv->raw;
    for (uint64_t i = 0; i < kv->arr_len; i++) {
        s[i].len = gguf_le64(p);
        s[i].p = (const char *)p + 8;
        p += 8 + s[i].len;
    }
    *out = s;
    return 0;
}

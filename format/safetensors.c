/* safetensors.c: strict reader of one .safetensors file (shared/specs/gguf.md §7).
 *
 * Layout: u64 LE header length N, N bytes of JSON, then the data buffer. Every rule is checked
 * before anything is handed out, and each failure names one byte offset:
 * - the length field and '{': offsets 0 and 8;
 * - JSON syntax (jansson): 8 + the position jansson stopped at;
 * - one header entry (name, fields, dtype, shape, data_offsets, size): the entry's key;
 * - holes, overlaps and bytes after the last tensor: where they start in the file.
 * Tensor names point into the parsed header, which lives until st_close(). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "../common/banned.h"

struct safetensors {
    char *path;
    struct lm_map map;         /* st_open only */
    const uint8_t *base;
    uint64_t len;
    uint64_t hlen;
    json_t *root;
    json_t *meta;              /* __metadata__, borrowed from root */
    struct st_tensor *t;       /* sorted by name */
    size_t n;
};

static const struct {
    const char *name;
    uint32_t bits;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_F64] = { "F64", 64 },           [ST_F32] = { "F32", 32 },
    [ST_F16] = { "F16", 16 },           [ST_BF16] = { "BF16", 16 },
    [ST_I64] = { "I64", 64 },           [ST_I32] = { "I32", 32 },
    [ST_I16] = { "I16", 16 },           [ST_I8] = { "I8", 8 },
    [ST_U8] = { "U8", 8 },              [ST_U16] = { "U16", 16 },
    [ST_U32] = { "U32", 32 },           [ST_U64] = { "U64", 64 },
    [ST_BOOL] = { "BOOL", 8 },          [ST_F8_E4M3] = { "F8_E4M3", 8 },
    [ST_F8_E5M2] = { "F8_E5M2", 8 },    [ST_F8_E8M0] = { "F8_E8M0", 8 },
    [ST_C64] = { "C64", 64 },           [ST_F4] = { "F4", 4 },
    [ST_F6_E2M3] = { "F6_E2M3", 6 },    [ST_F6_E3M2] = { "F6_E3M2", 6 },
    [ST_F8_E4M3FNUZ] = { "F8_E4M3FNUZ", 8 }, [ST_F8_E5M2FNUZ] = { "F8_E5M2FNUZ", 8 },
};

const char *st_dtype_name(enum st_dtype d)
{
    return (unsigned)d < ST_DTYPE_COUNT ? dtypes[d].name : NULL;
}

uint32_t st_dtype_bits(enum st_dtype d)
{
    return (unsigned)d < ST_DTYPE_COUNT ? dtypes[d].bits : 0;
}

/* Names are case-sensitive, as in the Rust reader. */
static int dtype_from_name(const char *s)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(dtypes[i].name, s) == 0)
            return i;
    return -1;
}

/* ---- where each top-level key starts ------------------------------------------------------
 * jansson keeps no positions, so the header (already accepted by jansson) is walked once more to
 * find the key of each entry; jansson iterates objects in the same (insertion) order. */

static size_t skip_ws(const char *p, size_t i, size_t n)
{
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
        i++;
    return i;
}

static size_t skip_string(const char *p, size_t i, size_t n)
{
    for (i++; i < n && p[i] != '"'; i++)
        if (p[i] == '\\')
            i++;
    return i < n ? i + 1 : n;
}

static size_t skip_value(const char *p, size_t i, size_t n)
{
    if (i < n && p[i] == '"')
        return skip_string(p, i, n);
    if (i < n && (p[i] == '{' || p[i] == '[')) {
        size_t depth = 0;
        while (i < n) {
            if (p[i] == '"') {
                i = skip_string(p, i, n);
                continue;
            }
            if (p[i] == '{' || p[i] == '[')
                depth++;
            else if (p[i] == '}' || p[i] == ']')
                depth--;
            i++;
            if (depth == 0)
                break;
        }
        return i;
    }
    while (i < n && !strchr(",}] \t\n\r", p[i]))
        i++;
    return i;
}

static size_t scan_keys(const char *p, size_t n, uint64_t *offs, size_t max)
{
    size_t count = 0;
    size_t i = skip_ws(p, 0, n);
    if (i >= n || p[i] != '{')
        return 0;
    for (i++;;) {
        i = skip_ws(p, i, n);
        if (i >= n || p[i] != '"')
            break;
        if (count < max)
            offs[count] = i;
        count++;
        i = skip_ws(p, skip_string(p, i, n), n);
        i = skip_ws(p, i + 1, n);               /* past ':' */
        i = skip_ws(p, skip_value(p, i, n), n);
        if (i < n && p[i] == ',')
            i++;
    }
    return count;
}

/* ---- one header entry -------------------------------------------------------------------- */

struct ctx {
    struct safetensors *s;
    struct lm_err *err;
    uint64_t at;               /* file offset of the entry being checked */
    const char *name;
    char q[LM_QUOTE_MAX + 16]; /* the quoted name */
};

static int bad(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(struct ctx *c, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return lm_err_set(c->err, LM_ECORRUPT, c->s->path, c->at, "%s", msg);
}

/* A JSON integer in [0, INT64_MAX]; jansson already refused anything larger. */
static int get_u64(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int check_name(struct ctx *c)
{
    const unsigned char *p = (const unsigned char *)c->name;
    if (!*p)
        return bad(c, "tensor name is empty");
    for (; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return bad(c, "tensor name '%s' has a control byte", c->q);
    return 0;
}

static int check_fields(struct ctx *c, json_t *e)
{
    static const char *const want[] = { "dtype", "shape", "data_offsets" };
    if (!json_is_object(e))
        return bad(c, "tensor '%s' is not an object", c->q);
    const char *k;
    json_t *v;
    json_object_foreach(e, k, v) {
        if (strcmp(k, want[0]) && strcmp(k, want[1]) && strcmp(k, want[2])) {
            char qk[LM_QUOTE_MAX + 16];
            return bad(c, "tensor '%s' has unknown field '%s'", c->q,
                       lm_quote(k, strlen(k), qk, sizeof(qk)));
        }
    }
    for (size_t i = 0; i < 3; i++)
        if (!json_object_get(e, want[i]))
            return bad(c, "tensor '%s' has no %s", c->q, want[i]);
    return 0;
}

static int check_shape(struct ctx *c, json_t *shape, struct st_tensor *t)
{
    if (!json_is_array(shape))
        return bad(c, "tensor '%s' shape is not an array", c->q);
    size_t nd = json_array_size(shape);
    if (nd > ST_MAX_DIMS)
        return bad(c, "tensor '%s' has %zu dims, over %d", c->q, nd, ST_MAX_DIMS);
    t->n_dims = (uint32_t)nd;
    t->nelem = 1;
    for (size_t d = 0; d < nd; d++) {
        if (get_u64(json_array_get(shape, d), &t->shape[d]))
            return bad(c, "tensor '%s' shape[%zu] is not a non-negative integer", c->q, d);
        if (ckd_mul(&t->nelem, t->nelem, t->shape[d]))
            return bad(c, "tensor '%s' has too many elements", c->q);
    }
    for (size_t d = nd; d < ST_MAX_DIMS; d++)
        t->shape[d] = 1;
    return 0;
}

static int check_offsets(struct ctx *c, json_t *offs, struct st_tensor *t)
{
    if (!json_is_array(offs) || json_array_size(offs) != 2)
        return bad(c, "tensor '%s' data_offsets is not a pair", c->q);
    for (size_t i = 0; i < 2; i++) {
        if (get_u64(json_array_get(offs, i), i ? &t->end : &t->begin))
            return bad(c, "tensor '%s' data_offsets[%zu] is not a non-negative integer", c->q, i);
    }
    if (t->begin > t->end)
        return bad(c, "tensor '%s' begins at %llu, after its end %llu", c->q,
                   (unsigned long long)t->begin, (unsigned long long)t->end);
    return 0;
}

static int check_entry(struct ctx *c, json_t *e, struct st_tensor *t)
{
    if (check_name(c) || check_fields(c, e))
        return -1;
    json_t *dt = json_object_get(e, "dtype");
    if (!json_is_string(dt))
        return bad(c, "tensor '%s' dtype is not a string", c->q);
    int d = dtype_from_name(json_string_value(dt));
    if (d < 0) {
        char qd[LM_QUOTE_MAX + 16];
        return bad(c, "tensor '%s' has unknown dtype '%s'", c->q,
                   lm_quote(json_string_value(dt), json_string_length(dt), qd, sizeof(qd)));
    }
    t->dtype = (enum st_dtype)d;
    t->name = c->name;
    if (check_shape(c, json_object_get(e, "shape"), t) ||
        check_offsets(c, json_object_get(e, "data_offsets"), t))
        return -1;

    uint64_t bits, have = t->end - t->begin, buf = c->s->len - 8 - c->s->hlen;
    if (ckd_mul(&bits, t->nelem, (uint64_t)dtypes[d].bits))
        return bad(c, "tensor '%s' is too large", c->q);
    if (bits % 8)
        return bad(c, "tensor '%s' has %llu %s elements, not a whole number of bytes", c->q,
                   (unsigned long long)t->nelem, dtypes[d].name);
    if (have != bits / 8)
        return bad(c, "tensor '%s' has %llu bytes, %llu %s elements need %llu", c->q,
                   (unsigned long long)have, (unsigned long long)t->nelem, dtypes[d].name,
                   (unsigned long long)(bits / 8));
    if (t->end > buf)
        return bad(c, "tensor '%s' ends at %llu, past the %llu-byte data buffer", c->q,
                   (unsigned long long)t->end, (unsigned long long)buf);
    t->file_off = 8 + c->s->hlen + t->begin;
    t->data = c->s->base + t->file_off;
    return 0;
}

static int check_metadata(struct ctx *c, json_t *m)
{
    if (!json_is_object(m))
        return bad(c, "__metadata__ is not an object");
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v)) {
            char qk[LM_QUOTE_MAX + 16];
            return bad(c, "__metadata__ value '%s' is not a string",
                       lm_quote(k, strlen(k), qk, sizeof(qk)));
        }
    }
    c->s->meta = m;
    return 0;
}

/* ---- the whole header -------------------------------------------------------------------- */

static int by_offset(const void *a, const void *b)
{
    const struct st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct st_tensor *)a)->name, ((const struct st_tensor *)b)->name);
}

/* The buffer must be covered exactly: sorted by offset, each tensor starts where the last ended. */
static int check_coverage(struct safetensors *s, struct lm_err *err)
{
    uint64_t data = 8 + s->hlen, buf = s->len - data, cursor = 0;
    const struct st_tensor *prev = NULL;
    char q1[LM_QUOTE_MAX + 16], q2[LM_QUOTE_MAX + 16];
    qsort(s->t, s->n, sizeof(*s->t), by_offset);
    for (size_t i = 0; i < s->n; i++) {
        const struct st_tensor *t = &s->t[i];
        if (t->begin < cursor)
            return lm_err_set(err, LM_ECORRUPT, s->path, data + t->begin,
                              "tensor '%s' at %llu..%llu overlaps tensor '%s' at %llu..%llu",
                              lm_quote(t->name, strlen(t->name), q1, sizeof(q1)),
                              (unsigned long long)t->begin, (unsigned long long)t->end,
                              lm_quote(prev->name, strlen(prev->name), q2, sizeof(q2)),
                              (unsigned long long)prev->begin, (unsigned long long)prev->end);
        if (t->begin > cursor)
            return lm_err_set(err, LM_ECORRUPT, s->path, data + cursor,
                              "data buffer has a hole at %llu..%llu before tensor '%s'",
                              (unsigned long long)cursor, (unsigned long long)t->begin,
                              lm_quote(t->name, strlen(t->name), q1, sizeof(q1)));
        cursor = t->end;
        prev = t;
    }
    if (cursor != buf)
        return lm_err_set(err, LM_ECORRUPT, s->path, data + cursor,
                          "data buffer has %llu bytes after the last tensor",
                          (unsigned long long)(buf - cursor));
    return 0;
}

static int parse_json(struct safetensors *s, struct lm_err *err)
{
    const char *hdr = (const char *)s->base + 8;
    json_error_t je;
    s->root = json_loadb(hdr, (size_t)s->hlen, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK,
                         &je);
    if (!s->root) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return lm_err_set(err, LM_ENOMEM, s->path, LM_NO_OFFSET, "out of memory");
        char *near = strstr(je.text, " near ");   /* drops the quoted input bytes */
        if (near)
            *near = 0;
        return lm_err_set(err, LM_ECORRUPT, s->path, 8 + (uint64_t)je.position,
                          "header is not valid JSON: %s", je.text);
    }
    if (!json_is_object(s->root))
        return lm_err_set(err, LM_ECORRUPT, s->path, 8, "header is not a JSON object");
    for (uint64_t i = (uint64_t)je.position; i < s->hlen; i++)
        if (hdr[i] != ' ')
            return lm_err_set(err, LM_ECORRUPT, s->path, 8 + i,
                              "header has byte 0x%02x after the JSON, not space padding",
                              (unsigned char)hdr[i]);
    return 0;
}

static int parse_entries(struct safetensors *s, struct lm_err *err)
{
    size_t n = json_object_size(s->root);
    uint64_t *offs = calloc(n ? n : 1, sizeof(*offs));
    s->t = calloc(n ? n : 1, sizeof(*s->t));
    if (!offs || !s->t) {
        free(offs);
        return lm_err_set(err, LM_ENOMEM, s->path, LM_NO_OFFSET, "out of memory");
    }
    int ok = scan_keys((const char *)s->base + 8, (size_t)s->hlen, offs, n) == n;
    struct ctx c = { .s = s, .err = err };
    const char *k;
    json_t *v;
    size_t i = 0;
    int ret = 0;
    json_object_foreach(s->root, k, v) {
        c.at = 8 + (ok ? offs[i] : 0);
        c.name = k;
        lm_quote(k, strlen(k), c.q, sizeof(c.q));
        i++;
        ret = strcmp(k, "__metadata__") ? check_entry(&c, v, &s->t[s->n++])
                                        : check_metadata(&c, v);
        if (ret)
            break;
    }
    free(offs);
    return ret;
}

static struct safetensors *parse(struct safetensors *s, struct lm_err *err)
{
    uint64_t left = s->len;
    if (left < 8) {
        lm_err_set(err, LM_ECORRUPT, s->path, 0, "header length needs 8 bytes, %llu left",
                   (unsigned long long)left);
        goto fail;
    }
    for (int i = 7; i >= 0; i--)
        s->hlen = s->hlen << 8 | s->base[i];
    left -= 8;
    if (s->hlen == 0) {
        lm_err_set(err, LM_ECORRUPT, s->path, 0, "header length is 0");
        goto fail;
    }
    if (s->hlen > ST_MAX_HEADER) {
        lm_err_set(err, LM_ECORRUPT, s->path, 0, "header length %llu is over %u",
                   (unsigned long long)s->hlen, ST_MAX_HEADER);
        goto fail;
    }
    if (s->hlen > left) {
        lm_err_set(err, LM_ECORRUPT, s->path, 8, "header needs %llu bytes, %llu left",
                   (unsigned long long)s->hlen, (unsigned long long)left);
        goto fail;
    }
    if (s->base[8] != '{') {
        lm_err_set(err, LM_ECORRUPT, s->path, 8, "header starts with byte 0x%02x, not '{'",
                   s->base[8]);
        goto fail;
    }
    if (parse_json(s, err) || parse_entries(s, err) || check_coverage(s, err))
        goto fail;
    qsort(s->t, s->n, sizeof(*s->t), by_name);
    return s;
fail:
    st_close(s);
    return NULL;
}

static struct safetensors *st_new(const char *name, struct lm_err *err)
{
    struct safetensors *s = calloc(1, sizeof(*s));
    if (s)
        s->path = strdup(name ? name : "<memory>");
    if (!s || !s->path) {
        free(s);
        lm_err_set(err, LM_ENOMEM, name, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    return s;
}

struct safetensors *st_open(const char *path, struct lm_err *err)
{
    struct safetensors *s = st_new(path, err);
    if (!s)
        return NULL;
    if (lm_map_open(&s->map, path, err)) {
        st_close(s);
        return NULL;
    }
    s->base = s->map.data;
    s->len = s->map.len;
    return parse(s, err);
}

struct safetensors *st_open_mem(const void *p, size_t len, const char *name, struct lm_err *err)
{
    struct safetensors *s = st_new(name, err);
    if (!s)
        return NULL;
    s->base = p;
    s->len = p ? len : 0;
    return parse(s, err);
}

void st_close(struct safetensors *s)
{
    if (!s)
        return;
    json_decref(s->root);
    lm_map_close(&s->map);
    free(s->t);
    free(s->path);
    free(s);
}

size_t st_n_tensors(const struct safetensors *s)
{
    return s->n;
}

const struct st_tensor *st_tensor_at(const struct safetensors *s, size_t i)
{
    return i < s->n ? &s->t[i] : NULL;
}

const struct st_tensor *st_tensor_find(const struct safetensors *s, const char *name)
{
    struct st_tensor key = { .name = name };
    return bsearch(&key, s->t, s->n, sizeof(*s->t), by_name);
}

uint64_t st_header_len(const struct safetensors *s)
{
    return s->hlen;
}

const char *st_path(const struct safetensors *s)
{
    return s->path;
}

const char *st_metadata(const struct safetensors *s, const char *key)
{
    return s->meta ? json_string_value(json_object_get(s->meta, key)) : NULL;
}

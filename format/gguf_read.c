/* gguf_read.c: the strict GGUF reader (shared/specs/gguf.md §1): every count, length, type and
 * offset is checked against the bytes that could hold it; tensor data is mapped, never read. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_int.h"
#include "../common/banned.h"

struct gguf {
    struct lm_map map;           /* empty for gguf_open_mem */
    const uint8_t *p;
    uint64_t len;
    uint32_t version, alignment;
    uint64_t data_off;
    uint64_t n_kv, n_tensors;
    struct gguf_kv *kv;
    struct gguf_tensor *t;
    struct gguf_index kv_idx, t_idx;
};

/* ---- cursor -------------------------------------------------------------------------------- */

static uint64_t left(const struct gguf_rd *r)
{
    return r->len - r->off;
}

static int corrupt(struct gguf_rd *r, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int corrupt(struct gguf_rd *r, uint64_t at, const char *fmt, ...)
{
    char msg[sizeof(r->err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return lm_err_set(r->err, LM_ECORRUPT, r->path, at, "%s", msg);
}

/* `what` names the field in "WHAT needs N bytes, M left". */
static int need(struct gguf_rd *r, uint64_t n, const char *what)
{
    if (n > left(r))
        return corrupt(r, r->off, "%s needs %" PRIu64 " bytes, %" PRIu64 " left", what, n, left(r));
    return 0;
}

static int rd_u32(struct gguf_rd *r, uint32_t *v, const char *what)
{
    if (need(r, 4, what))
        return -1;
    *v = gguf_le32(r->p + r->off);
    r->off += 4;
    return 0;
}

static int rd_u64(struct gguf_rd *r, uint64_t *v, const char *what)
{
    if (need(r, 8, what))
        return -1;
    *v = gguf_le64(r->p + r->off);
    r->off += 8;
    return 0;
}

static int rd_str(struct gguf_rd *r, struct gguf_str *s, uint64_t max, const char *what)
{
    uint64_t at = r->off;
    if (rd_u64(r, &s->len, what))
        return -1;
    if (s->len > max)
        return corrupt(r, at, "%s length %" PRIu64 " is over the limit of %" PRIu64, what, s->len,
                       max);
    if (need(r, s->len, what))
        return -1;
    s->p = (const char *)r->p + r->off;
    r->off += s->len;
    return 0;
}

static const char *quote(struct gguf_str s, char *buf)
{
    return lm_quote(s.p, (size_t)s.len, buf, GGUF_QBUF);
}

/* ---- kv ------------------------------------------------------------------------------------ */

bool gguf_is_alignment_key(const struct gguf_str *key)
{
    static const char name[] = "general.alignment";
    return key->len == sizeof(name) - 1 && memcmp(key->p, name, sizeof(name) - 1) == 0;
}

uint32_t gguf_kv_alignment(const struct gguf_kv *kv)
{
    return gguf_le32(kv->raw);
}

static int rd_key(struct gguf_rd *r, uint64_t idx, struct gguf_str *key)
{
    uint64_t at = r->off;
    if (rd_str(r, key, GGUF_MAX_STR, "key"))
        return -1;
    if (key->len == 0)
        return corrupt(r, at, "key %" PRIu64 " is empty", idx);
    for (uint64_t i = 0; i < key->len; i++) {
        uint8_t c = (uint8_t)key->p[i];
        if (c < 0x20 || c > 0x7e) {
            char q[GGUF_QBUF];
            return corrupt(r, at + 8 + i, "key '%s' has byte 0x%02x, not printable ASCII",
                           quote(*key, q), c);
        }
    }
    return 0;
}

static int check_bools(struct gguf_rd *r, uint64_t n, const char *key, bool array)
{
    for (uint64_t i = 0; i < n; i++) {
        uint8_t b = r->p[r->off + i];
        if (b > 1) {
            if (array)
                return corrupt(r, r->off + i, "item %" PRIu64 " of '%s' has bool value %u, "
                               "not 0 or 1", i, key, b);
            return corrupt(r, r->off + i, "key '%s' has bool value %u, not 0 or 1", key, b);
        }
    }
    return 0;
}

static int rd_array(struct gguf_rd *r, struct gguf_kv *kv, const char *key)
{
    char what[GGUF_QBUF + 64];
    uint64_t at = r->off;
    uint32_t it;
    snprintf(what, sizeof(what), "item type of '%s'", key);
    if (rd_u32(r, &it, what))
        return -1;
    if (it >= GGUF_VTYPE_COUNT)
        return corrupt(r, at, "array '%s' has unknown item type %" PRIu32, key, it);
    if (it == GGUF_ARRAY)
        return corrupt(r, at, "array '%s' has ARRAY items; nested arrays are not allowed", key);
    kv->arr_type = (enum gguf_vtype)it;
    at = r->off;
    snprintf(what, sizeof(what), "item count of '%s'", key);
    if (rd_u64(r, &kv->arr_len, what))
        return -1;
    size_t size = gguf_vtype_size(kv->arr_type);
    uint64_t min = size ? size : 8;   /* a string item is at least its length */
    if (kv->arr_len > left(r) / min)
        return corrupt(r, at, "array '%s' count %" PRIu64 " cannot fit in %" PRIu64 " bytes left",
                       key, kv->arr_len, left(r));
    kv->raw = r->p + r->off;
    if (it == GGUF_STRING) {
        for (uint64_t i = 0; i < kv->arr_len; i++) {
            /* Fast path: vocabularies hold 150k strings; name the item only on error. */
            if (left(r) >= 8) {
                uint64_t n = gguf_le64(r->p + r->off);
                if (n <= GGUF_MAX_STR && n <= left(r) - 8) {
                    r->off += 8 + n;
                    continue;
                }
            }
            struct gguf_str s;
            snprintf(what, sizeof(what), "item %" PRIu64 " of '%s'", i, key);
            if (rd_str(r, &s, GGUF_MAX_STR, what))
                return -1;
        }
    } else {
        if (it == GGUF_BOOL && check_bools(r, kv->arr_len, key, true))
            return -1;
        r->off += kv->arr_len * size;
    }
    kv->raw_len = (uint64_t)(r->p + r->off - kv->raw);
    return 0;
}

static int check_alignment(struct gguf_rd *r, const struct gguf_kv *kv, uint64_t type_at)
{
    if (kv->type != GGUF_U32)
        return corrupt(r, type_at, "general.alignment must be UINT32, not %s",
                       gguf_vtype_name(kv->type));
    uint32_t a = gguf_kv_alignment(kv);
    if (a == 0 || (a & (a - 1)))
        return corrupt(r, (uint64_t)(kv->raw - r->p), "general.alignment %" PRIu32
                       " is not a power of two", a);
    return 0;
}

int gguf_rd_kv(struct gguf_rd *r, uint64_t idx, struct gguf_kv *kv)
{
    char q[GGUF_QBUF], what[GGUF_QBUF + 64];
    memset(kv, 0, sizeof(*kv));
    kv->file_off = r->off;
    if (rd_key(r, idx, &kv->key))
        return -1;
    quote(kv->key, q);
    uint64_t type_at = r->off;
    uint32_t type;
    snprintf(what, sizeof(what), "value type of '%s'", q);
    if (rd_u32(r, &type, what))
        return -1;
    if (type >= GGUF_VTYPE_COUNT)
        return corrupt(r, type_at, "key '%s' has unknown value type %" PRIu32, q, type);
    kv->type = (enum gguf_vtype)type;
    snprintf(what, sizeof(what), "value of '%s'", q);
    if (type == GGUF_ARRAY) {
        if (rd_array(r, kv, q))
            return -1;
    } else if (type == GGUF_STRING) {
        struct gguf_str s;
        kv->raw = r->p + r->off;
        if (rd_str(r, &s, GGUF_MAX_STR, what))
            return -1;
        kv->raw_len = 8 + s.len;
    } else {
        size_t size = gguf_vtype_size(kv->type);
        if (need(r, size, what))
            return -1;
        if (type == GGUF_BOOL && check_bools(r, 1, q, false))
            return -1;
        kv->raw = r->p + r->off;
        kv->raw_len = size;
        r->off += size;
    }
    if (gguf_is_alignment_key(&kv->key))
        return check_alignment(r, kv, type_at);
    return 0;
}

/* ---- tensor info --------------------------------------------------------------------------- */

static int rd_name(struct gguf_rd *r, uint64_t idx, struct gguf_tensor *t)
{
    char what[64];
    struct gguf_str s;
    uint64_t at = r->off;
    snprintf(what, sizeof(what), "tensor %" PRIu64 " name", idx);
    if (rd_str(r, &s, GGUF_MAX_NAME, what))
        return -1;
    if (s.len == 0)
        return corrupt(r, at, "tensor %" PRIu64 " name is empty", idx);
    const char *nul = memchr(s.p, 0, (size_t)s.len);
    if (nul) {
        char q[GGUF_QBUF];
        return corrupt(r, at + 8 + (uint64_t)(nul - s.p), "tensor name '%s' contains a NUL byte",
                       quote(s, q));
    }
    memcpy(t->name, s.p, (size_t)s.len);
    t->name[s.len] = 0;
    return 0;
}

/* Shape and type rules; dims_at[d] is where ne[d] starts. */
static int check_shape(struct gguf_rd *r, struct gguf_tensor *t, const char *q,
                       const uint64_t *dims_at, uint64_t type_at)
{
    uint64_t nelem = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (t->ne[d] > INT64_MAX)
            return corrupt(r, dims_at[d], "tensor '%s' dimension %" PRIu32 " is negative (%" PRId64
                           ")", q, d, (int64_t)t->ne[d]);
        if (t->ne[d] == 0)
            return corrupt(r, dims_at[d], "tensor '%s' dimension %" PRIu32 " is 0", q, d);
        if (ckd_mul(&nelem, nelem, t->ne[d]) || nelem > INT64_MAX)
            return corrupt(r, dims_at[d], "tensor '%s' element count overflows int64 at "
                           "dimension %" PRIu32, q, d);
    }
    t->nelem = nelem;
    const struct lm_type_info *ti = lm_type_get(t->type);
    if (!ti)
        return corrupt(r, type_at, "tensor '%s' has %s type %" PRIu32, q,
                       t->type < LM_TYPE_COUNT ? "retired" : "unknown", t->type);
    if (t->ne[0] % ti->block)
        return corrupt(r, dims_at[0], "tensor '%s' of type %s has %" PRIu64 " elements per row, "
                       "not a multiple of the block size %" PRIu32, q, ti->name, t->ne[0],
                       ti->block);
    if (lm_type_nbytes(t->type, nelem, &t->nbytes))
        return corrupt(r, dims_at[0], "tensor '%s' byte size overflows (%" PRIu64
                       " elements of %s)", q, nelem, ti->name);
    return 0;
}

int gguf_rd_ti(struct gguf_rd *r, uint64_t idx, struct gguf_tensor *t, uint64_t *off_at)
{
    char q[GGUF_QBUF], what[GGUF_QBUF + 64];
    uint64_t dims_at[GGUF_MAX_DIMS];
    memset(t, 0, sizeof(*t));
    if (rd_name(r, idx, t))
        return -1;
    lm_quote(t->name, strlen(t->name), q, sizeof(q));
    uint64_t at = r->off;
    snprintf(what, sizeof(what), "n_dims of tensor '%s'", q);
    if (rd_u32(r, &t->n_dims, what))
        return -1;
    if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
        return corrupt(r, at, "tensor '%s' has %" PRIu32 " dimensions, expected 1 to %d", q,
                       t->n_dims, GGUF_MAX_DIMS);
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        dims_at[d] = r->off;
        snprintf(what, sizeof(what), "dimension %" PRIu32 " of tensor '%s'", d, q);
        if (rd_u64(r, &t->ne[d], what))
            return -1;
    }
    uint64_t type_at = r->off;
    snprintf(what, sizeof(what), "type of tensor '%s'", q);
    if (rd_u32(r, &t->type, what))
        return -1;
    if (check_shape(r, t, q, dims_at, type_at))
        return -1;
    *off_at = r->off;
    snprintf(what, sizeof(what), "offset of tensor '%s'", q);
    return rd_u64(r, &t->offset, what);
}

/* ---- file ---------------------------------------------------------------------------------- */

static struct gguf_str kv_key(const void *ctx, uint32_t i)
{
    const struct gguf *g = ctx;
    return g->kv[i].key;
}

static struct gguf_str tensor_key(const void *ctx, uint32_t i)
{
    const struct gguf *g = ctx;
    return (struct gguf_str){ g->t[i].name, strlen(g->t[i].name) };
}

static int rd_header(struct gguf_rd *r, struct gguf *g)
{
    if (need(r, 4, "magic"))
        return -1;
    if (memcmp(r->p, GGUF_MAGIC, 4) != 0) {
        char q[GGUF_QBUF];
        return corrupt(r, 0, "bad magic '%s', not a GGUF file",
                       lm_quote((const char *)r->p, 4, q, sizeof(q)));
    }
    r->off = 4;
    if (rd_u32(r, &g->version, "version"))
        return -1;
    if (g->version && !(g->version & 0xFFFF))   /* 3 written big-endian reads 0x03000000 */
        return corrupt(r, 4, "big-endian GGUF (version word 0x%08" PRIx32 ") is not supported",
                       g->version);
    if (g->version < 2 || g->version > 3)
        return corrupt(r, 4, "GGUF version %" PRIu32 " is not supported (lm reads 2 and 3)",
                       g->version);
    if (rd_u64(r, &g->n_tensors, "tensor count") || rd_u64(r, &g->n_kv, "key count"))
        return -1;
    if (g->n_tensors > GGUF_MAX_TENSORS)
        return corrupt(r, 8, "tensor count %" PRIu64 " is over the limit of %u", g->n_tensors,
                       GGUF_MAX_TENSORS);
    if (g->n_tensors > left(r) / GGUF_MIN_TI_BYTES)
        return corrupt(r, 8, "tensor count %" PRIu64 " cannot fit in %" PRIu64 " bytes left",
                       g->n_tensors, left(r));
    if (g->n_kv > GGUF_MAX_KV)
        return corrupt(r, 16, "key count %" PRIu64 " is over the limit of %u", g->n_kv,
                       GGUF_MAX_KV);
    if (g->n_kv > left(r) / GGUF_MIN_KV_BYTES)
        return corrupt(r, 16, "key count %" PRIu64 " cannot fit in %" PRIu64 " bytes left",
                       g->n_kv, left(r));
    return 0;
}

static int nomem(struct gguf_rd *r)
{
    return lm_err_set(r->err, LM_ENOMEM, r->path, LM_NO_OFFSET, "out of memory");
}

static int rd_kvs(struct gguf_rd *r, struct gguf *g)
{
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof(*g->kv));
    if (!g->kv)
        return nomem(r);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        struct gguf_kv *kv = &g->kv[i];
        uint32_t dup;
        if (gguf_rd_kv(r, i, kv))
            return -1;
        int rc = gguf_index_add(&g->kv_idx, (uint32_t)i, &dup);
        if (rc < 0)
            return nomem(r);
        if (rc > 0) {
            char q[GGUF_QBUF];
            return corrupt(r, kv->file_off, "duplicate key '%s' (first at byte %" PRIu64 ")",
                           quote(kv->key, q), g->kv[dup].file_off);
        }
        if (gguf_is_alignment_key(&kv->key))
            g->alignment = gguf_kv_alignment(kv);
    }
    return 0;
}

/* Offsets must be exactly consecutive (ggml 2025+) and every tensor must lie inside the file. */
static int check_offsets(struct gguf_rd *r, struct gguf *g, const uint64_t *off_at)
{
    uint64_t expect = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        struct gguf_tensor *t = &g->t[i];
        char q[GGUF_QBUF];
        lm_quote(t->name, strlen(t->name), q, sizeof(q));
        if (t->offset != expect)
            return corrupt(r, off_at[i], "tensor '%s' has offset %" PRIu64 ", expected %" PRIu64,
                           q, t->offset, expect);
        uint64_t end;
        if (ckd_add(&end, g->data_off, t->offset) || ckd_add(&end, end, t->nbytes) ||
            end > g->len)
            return corrupt(r, off_at[i], "tensor '%s' data ends past end of file (%" PRIu64
                           " + %" PRIu64 " + %" PRIu64 " > %" PRIu64 " bytes)", q, g->data_off,
                           t->offset, t->nbytes, g->len);
        t->data = g->p + g->data_off + t->offset;
        /* end <= len, so the padded size cannot wrap. */
        expect += lm_pad(t->nbytes, g->alignment);
    }
    return 0;
}

static int rd_tensors(struct gguf_rd *r, struct gguf *g)
{
    uint64_t *off_at = NULL;
    int ret = -1;
    g->t = calloc(g->n_tensors ? g->n_tensors : 1, sizeof(*g->t));
    off_at = calloc(g->n_tensors ? g->n_tensors : 1, sizeof(*off_at));
    if (!g->t || !off_at) {
        nomem(r);
        goto out;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        uint64_t start = r->off;
        uint32_t dup;
        if (gguf_rd_ti(r, i, &g->t[i], &off_at[i]))
            goto out;
        int rc = gguf_index_add(&g->t_idx, (uint32_t)i, &dup);
        if (rc < 0) {
            nomem(r);
            goto out;
        }
        if (rc > 0) {
            char q[GGUF_QBUF];
            corrupt(r, start, "duplicate tensor name '%s' (first is tensor %" PRIu32 ")",
                    lm_quote(g->t[i].name, strlen(g->t[i].name), q, sizeof(q)), dup);
            goto out;
        }
    }
    /* A file without tensors has no data section and no padding (vocab-only GGUFs). */
    g->data_off = g->n_tensors ? lm_pad(r->off, g->alignment) : r->off;
    ret = check_offsets(r, g, off_at);
out:
    free(off_at);
    return ret;
}

struct gguf *gguf_open_mem(const void *p, size_t len, const char *name, struct lm_err *err)
{
    struct gguf *g = calloc(1, sizeof(*g));
    if (!g) {
        lm_err_set(err, LM_ENOMEM, name, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    g->p = p;
    g->len = len;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    gguf_index_init(&g->kv_idx, g, kv_key);
    gguf_index_init(&g->t_idx, g, tensor_key);
    struct gguf_rd r = { p, len, 0, name, err };
    if (rd_header(&r, g) || rd_kvs(&r, g) || rd_tensors(&r, g)) {
        gguf_close(g);
        return NULL;
    }
    return g;
}

struct gguf *gguf_open(const char *path, struct lm_err *err)
{
    struct lm_map m;
    if (lm_map_open(&m, path, err))
        return NULL;
    struct gguf *g = gguf_open_mem(m.data, (size_t)m.len, path, err);
    if (!g) {
        lm_map_close(&m);
        return NULL;
    }
    g->map = m;
    return g;
}

void gguf_advise_huge(const struct gguf *g)
{
    lm_map_advise_huge(&g->map);
}

void gguf_close(struct gguf *g)
{
    if (!g)
        return;
    lm_map_close(&g->map);
    gguf_index_release(&g->kv_idx);
    gguf_index_release(&g->t_idx);
    free(g->kv);
    free(g->t);
    free(g);
}

uint32_t gguf_version(const struct gguf *g) { return g->version; }
uint32_t gguf_alignment(const struct gguf *g) { return g->alignment; }
uint64_t gguf_data_offset(const struct gguf *g) { return g->data_off; }
uint64_t gguf_file_size(const struct gguf *g) { return g->len; }
const uint8_t *gguf_bytes(const struct gguf *g) { return g->p; }
uint64_t gguf_n_kv(const struct gguf *g) { return g->n_kv; }
uint64_t gguf_n_tensors(const struct gguf *g) { return g->n_tensors; }

const struct gguf_kv *gguf_kv_at(const struct gguf *g, uint64_t i)
{
    return i < g->n_kv ? &g->kv[i] : NULL;
}

const struct gguf_tensor *gguf_tensor_at(const struct gguf *g, uint64_t i)
{
    return i < g->n_tensors ? &g->t[i] : NULL;
}

const struct gguf_kv *gguf_kv_find(const struct gguf *g, const char *key)
{
    int64_t i = gguf_index_find(&g->kv_idx, key, strlen(key));
    return i < 0 ? NULL : &g->kv[i];
}

const struct gguf_tensor *gguf_tensor_find(const struct gguf *g, const char *name)
{
    int64_t i = gguf_index_find(&g->t_idx, name, strlen(name));
    return i < 0 ? NULL : &g->t[i];
}

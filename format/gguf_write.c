/* gguf_write.c: the streaming GGUF writer: metadata with exact offsets first, then tensor data
 * in order, each padded with zeros. Memory holds the metadata and one 1 MiB output buffer. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_int.h"
#include "../common/banned.h"

#define OUT_BUF (1u << 20)
#define MAX_KV_BYTES (1ull << 31)   /* one key/value: a 2^30-byte string fits, with room */
#define MAX_TI_BYTES (8 + GGUF_MAX_NAME + 4 + 8 * GGUF_MAX_DIMS + 4 + 8)

struct wkv {
    uint8_t *blob;       /* the kv exactly as it goes into the file */
    size_t len;
    struct gguf_str key; /* into blob */
    const uint8_t *raw;  /* value, into blob */
};

struct wti {
    char name[GGUF_MAX_NAME + 1];
    uint32_t n_dims, type;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
};

struct gguf_writer {
    uint32_t version, alignment;
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wti *t;
    size_t n_t, cap_t;
    struct gguf_index kv_idx, t_idx;
    /* streaming state */
    bool begun, failed;
    int fd;
    char path[512];
    uint8_t *buf;
    size_t buf_len;
    size_t cur;          /* tensor receiving data */
    uint64_t cur_done;   /* its bytes so far */
};

static struct gguf_str wkv_key(const void *ctx, uint32_t i)
{
    const struct gguf_writer *w = ctx;
    return w->kv[i].key;
}

static struct gguf_str wti_key(const void *ctx, uint32_t i)
{
    const struct gguf_writer *w = ctx;
    return (struct gguf_str){ w->t[i].name, strlen(w->t[i].name) };
}

struct gguf_writer *gguf_writer_new(void)
{
    struct gguf_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->version = 3;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    w->fd = -1;
    gguf_index_init(&w->kv_idx, w, wkv_key);
    gguf_index_init(&w->t_idx, w, wti_key);
    return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_kv; i++)
        free(w->kv[i].blob);
    free(w->kv);
    free(w->t);
    free(w->buf);
    gguf_index_release(&w->kv_idx);
    gguf_index_release(&w->t_idx);
    free(w);
}

int gguf_writer_set_version(struct gguf_writer *w, uint32_t version)
{
    if (version != 2 && version != 3)
        return -1;
    w->version = version;
    return 0;
}

static int nomem(struct lm_err *err)
{
    return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
}

static int usage(struct lm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage(struct lm_err *err, const char *fmt, ...)
{
    char msg[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "%s", msg);
}

/* A kv blob that lm_buf refused: past MAX_KV_BYTES or out of memory. */
static int too_big(struct lm_err *err, const char *key)
{
    char q[GGUF_QBUF];
    return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "value of '%s' is over %llu bytes or "
                      "memory ran out", lm_quote(key, strlen(key), q, sizeof(q)), MAX_KV_BYTES);
}

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? *cap * 2 : 16;
    void *q = reallocarray(*p, c, size);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* The reader's parser judged bytes we made ourselves: report it as the caller's mistake. */
static int as_usage(struct lm_err *err)
{
    if (err && err->code == LM_ECORRUPT) {
        err->code = LM_EUSAGE;
        err->off = LM_NO_OFFSET;
    }
    return -1;
}

/* ---- key/value pairs ----------------------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int buf_u32(struct lm_buf *b, uint32_t v)
{
    uint8_t x[4];
    put_u32(x, v);
    return lm_buf_add(b, x, 4);
}

static int buf_u64(struct lm_buf *b, uint64_t v)
{
    uint8_t x[8];
    put_u64(x, v);
    return lm_buf_add(b, x, 8);
}

/* Start a kv blob: key and value type. */
static int kv_begin(struct lm_buf *b, const char *key, size_t key_len, enum gguf_vtype type)
{
    return buf_u64(b, key_len) || lm_buf_add(b, key, key_len) || buf_u32(b, type);
}

/* Validate a finished blob with the reader's rules, then append it; takes the blob. */
static int kv_add(struct gguf_writer *w, struct lm_buf *b, struct lm_err *err)
{
    struct gguf_kv kv;
    struct gguf_rd r = { (const uint8_t *)b->data, b->len, 0, NULL, err };
    uint32_t dup;
    int ret = -1;
    char q[GGUF_QBUF];
    if (gguf_rd_kv(&r, w->n_kv, &kv)) {
        as_usage(err);
        goto out;
    }
    if (r.off != r.len) {
        usage(err, "value of '%s' has %" PRIu64 " bytes past its end", lm_quote(kv.key.p,
              (size_t)kv.key.len, q, sizeof(q)), r.len - r.off);
        goto out;
    }
    if (w->n_kv >= GGUF_MAX_KV) {
        usage(err, "more than %u keys", GGUF_MAX_KV);
        goto out;
    }
    if (grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof(*w->kv))) {
        nomem(err);
        goto out;
    }
    w->kv[w->n_kv] = (struct wkv){ (uint8_t *)b->data, b->len, kv.key, kv.raw };
    int rc = gguf_index_add(&w->kv_idx, (uint32_t)w->n_kv, &dup);
    if (rc < 0) {
        nomem(err);
        goto out;
    }
    if (rc > 0) {
        usage(err, "key '%s' is already set", lm_quote(kv.key.p, (size_t)kv.key.len, q,
              sizeof(q)));
        goto out;
    }
    if (gguf_is_alignment_key(&kv.key))
        w->alignment = gguf_kv_alignment(&kv);
    w->n_kv++;
    b->data = NULL;   /* the writer owns it now */
    ret = 0;
out:
    lm_buf_release(b);
    return ret;
}

static int add_scalar(struct gguf_writer *w, const char *key, enum gguf_vtype type,
                      const void *le, size_t n, struct lm_err *err)
{
    struct lm_buf b = LM_BUF_INIT(MAX_KV_BYTES);
    if (kv_begin(&b, key, strlen(key), type) || lm_buf_add(&b, le, n)) {
        lm_buf_release(&b);
        return too_big(err, key);
    }
    return kv_add(w, &b, err);
}

int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v, struct lm_err *err)
{
    uint8_t x[4];
    put_u32(x, v);
    return add_scalar(w, key, GGUF_U32, x, 4, err);
}

int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v, struct lm_err *err)
{
    uint8_t x[4];
    put_u32(x, (uint32_t)v);
    return add_scalar(w, key, GGUF_I32, x, 4, err);
}

int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v, struct lm_err *err)
{
    uint8_t x[8];
    put_u64(x, v);
    return add_scalar(w, key, GGUF_U64, x, 8, err);
}

int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v, struct lm_err *err)
{
    uint32_t u;
    uint8_t x[4];
    memcpy(&u, &v, 4);
    put_u32(x, u);
    return add_scalar(w, key, GGUF_F32, x, 4, err);
}

int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v, struct lm_err *err)
{
    uint8_t x = v ? 1 : 0;
    return add_scalar(w, key, GGUF_BOOL, &x, 1, err);
}

int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *s, size_t len,
                        struct lm_err *err)
{
    struct lm_buf b = LM_BUF_INIT(MAX_KV_BYTES);
    if (kv_begin(&b, key, strlen(key), GGUF_STRING) || buf_u64(&b, len) ||
        lm_buf_add(&b, s, len)) {
        lm_buf_release(&b);
        return too_big(err, key);
    }
    return kv_add(w, &b, err);
}

int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const struct gguf_str *items,
                            uint64_t n, struct lm_err *err)
{
    struct lm_buf b = LM_BUF_INIT(MAX_KV_BYTES);
    int bad = kv_begin(&b, key, strlen(key), GGUF_ARRAY) || buf_u32(&b, GGUF_STRING) ||
              buf_u64(&b, n);
    for (uint64_t i = 0; i < n && !bad; i++)
        bad = buf_u64(&b, items[i].len) || lm_buf_add(&b, items[i].p, (size_t)items[i].len);
    if (bad) {
        lm_buf_release(&b);
        return too_big(err, key);
    }
    return kv_add(w, &b, err);
}

int gguf_writer_add_arr_num(struct gguf_writer *w, const char *key, enum gguf_vtype item_type,
                            const void *items, uint64_t n, struct lm_err *err)
{
    size_t size = gguf_vtype_size(item_type);
    uint64_t bytes;
    char q[GGUF_QBUF];
    if (!size)
        return usage(err, "array '%s' item type %s is not a number",
                     lm_quote(key, strlen(key), q, sizeof(q)), gguf_vtype_name(item_type));
    if (ckd_mul(&bytes, n, (uint64_t)size) || bytes > MAX_KV_BYTES)
        return too_big(err, key);
    struct lm_buf b = LM_BUF_INIT(MAX_KV_BYTES);
    if (kv_begin(&b, key, strlen(key), GGUF_ARRAY) || buf_u32(&b, item_type) ||
        buf_u64(&b, n) || lm_buf_add(&b, items, (size_t)bytes)) {
        lm_buf_release(&b);
        return too_big(err, key);
    }
    return kv_add(w, &b, err);
}

int gguf_writer_add_kv(struct gguf_writer *w, const struct gguf_kv *kv, struct lm_err *err)
{
    struct lm_buf b = LM_BUF_INIT(MAX_KV_BYTES);
    int bad = kv_begin(&b, kv->key.p, (size_t)kv->key.len, kv->type);
    if (!bad && kv->type == GGUF_ARRAY)
        bad = buf_u32(&b, kv->arr_type) || buf_u64(&b, kv->arr_len);
    if (!bad)
        bad = lm_buf_add(&b, kv->raw, (size_t)kv->raw_len);
    if (bad) {
        lm_buf_release(&b);
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "kv %zu is over %llu bytes or "
                          "memory ran out", w->n_kv, MAX_KV_BYTES);
    }
    return kv_add(w, &b, err);
}

void gguf_writer_remove_kv(struct gguf_writer *w, const char *key)
{
    int64_t i = gguf_index_find(&w->kv_idx, key, strlen(key));
    if (i < 0)
        return;
    free(w->kv[i].blob);
    memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - (size_t)i - 1) * sizeof(*w->kv));
    w->n_kv--;
    gguf_index_rebuild(&w->kv_idx, (uint32_t)w->n_kv);   /* indices moved */
    struct gguf_str a = { key, strlen(key) };
    if (gguf_is_alignment_key(&a))
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
}

int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment, struct lm_err *err)
{
    if (alignment == 0 || (alignment & (alignment - 1)))
        return usage(err, "alignment %" PRIu32 " is not a power of two", alignment);
    w->alignment = alignment;
    return 0;
}

/* ---- tensor infos -------------------------------------------------------------------------- */

/* The tensor info as it goes into the file, with `offset`. Returns its length. */
static size_t ti_bytes(uint8_t *p, const char *name, size_t name_len, uint32_t n_dims,
                       const uint64_t *ne, uint32_t type, uint64_t offset)
{
    size_t o = 0;
    put_u64(p, name_len);
    memcpy(p + 8, name, name_len);
    o = 8 + name_len;
    put_u32(p + o, n_dims);
    o += 4;
    for (uint32_t d = 0; d < n_dims && d < GGUF_MAX_DIMS; d++, o += 8)
        put_u64(p + o, ne[d]);
    put_u32(p + o, type);
    put_u64(p + o + 4, offset);
    return o + 12;
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const uint64_t *ne, struct lm_err *err)
{
    uint8_t blob[MAX_TI_BYTES];
    char q[GGUF_QBUF];
    size_t name_len = strlen(name);
    if (w->n_t >= GGUF_MAX_TENSORS)
        return usage(err, "more than %u tensors", GGUF_MAX_TENSORS);
    if (name_len > GGUF_MAX_NAME)
        return usage(err, "tensor %zu name length %zu is over the limit of %d", w->n_t,
                     name_len, GGUF_MAX_NAME);
    size_t len = ti_bytes(blob, name, name_len, n_dims, ne, type, 0);
    struct gguf_rd r = { blob, len, 0, NULL, err };
    struct gguf_tensor t;
    uint64_t off_at;
    if (gguf_rd_ti(&r, w->n_t, &t, &off_at))
        return as_usage(err);
    if (grow((void **)&w->t, &w->cap_t, w->n_t, sizeof(*w->t)))
        return nomem(err);
    struct wti *x = &w->t[w->n_t];
    memcpy(x->name, t.name, sizeof(x->name));
    x->n_dims = t.n_dims;
    x->type = t.type;
    memcpy(x->ne, t.ne, sizeof(x->ne));
    x->nbytes = t.nbytes;
    uint32_t dup;
    int rc = gguf_index_add(&w->t_idx, (uint32_t)w->n_t, &dup);
    if (rc < 0)
        return nomem(err);
    if (rc > 0)
        return usage(err, "duplicate tensor name '%s'", lm_quote(name, name_len, q, sizeof(q)));
    w->n_t++;
    return 0;
}

/* ---- layout -------------------------------------------------------------------------------- */

static uint64_t ti_len(const struct wti *t)
{
    return 8 + strlen(t->name) + 4 + 8ull * t->n_dims + 4 + 8;
}

/* Metadata size (padding included) and data section size; -1 if they overflow. */
static int layout(const struct gguf_writer *w, uint64_t *data_off, uint64_t *data_size)
{
    uint64_t m = GGUF_HEADER_BYTES, d = 0;
    for (size_t i = 0; i < w->n_kv; i++)
        m += w->kv[i].len;               /* each under 2^31, at most 2^16 of them */
    for (size_t i = 0; i < w->n_t; i++) {
        uint64_t padded;
        m += ti_len(&w->t[i]);
        if (ckd_add(&padded, w->t[i].nbytes, (uint64_t)w->alignment - 1) ||
            ckd_add(&d, d, padded / w->alignment * w->alignment))
            return -1;
    }
    *data_off = w->n_t ? lm_pad(m, w->alignment) : m;
    *data_size = d;
    return ckd_add(&m, *data_off, d) ? -1 : 0;
}

uint64_t gguf_writer_data_offset(const struct gguf_writer *w)
{
    uint64_t off, size;
    return layout(w, &off, &size) ? UINT64_MAX : off;
}

uint64_t gguf_writer_file_size(const struct gguf_writer *w)
{
    uint64_t off, size;
    return layout(w, &off, &size) ? UINT64_MAX : off + size;
}

/* ---- streaming ----------------------------------------------------------------------------- */

static int flush(struct gguf_writer *w, struct lm_err *err)
{
    if (lm_write_all(w->fd, w->buf, w->buf_len, w->path, err)) {
        w->failed = true;
        return -1;
    }
    w->buf_len = 0;
    return 0;
}

static int emit(struct gguf_writer *w, const void *p, size_t n, struct lm_err *err)
{
    if (n > OUT_BUF - w->buf_len) {
        if (flush(w, err))
            return -1;
        if (n >= OUT_BUF) {
            if (lm_write_all(w->fd, p, n, w->path, err)) {
                w->failed = true;
                return -1;
            }
            return 0;
        }
    }
    memcpy(w->buf + w->buf_len, p, n);
    w->buf_len += n;
    return 0;
}

static int emit_zeros(struct gguf_writer *w, uint64_t n, struct lm_err *err)
{
    static const uint8_t zero[4096];
    while (n) {
        size_t k = n < sizeof(zero) ? (size_t)n : sizeof(zero);
        if (emit(w, zero, k, err))
            return -1;
        n -= k;
    }
    return 0;
}

static int emit_u64(struct gguf_writer *w, uint64_t v, struct lm_err *err)
{
    uint8_t x[8];
    put_u64(x, v);
    return emit(w, x, 8, err);
}

static int check_alignment_key(const struct gguf_writer *w, struct lm_err *err)
{
    int64_t i = gguf_index_find(&w->kv_idx, "general.alignment", 17);
    if (i >= 0 && gguf_le32(w->kv[i].raw) != w->alignment)
        return usage(err, "general.alignment is %" PRIu32 " but the writer pads to %" PRIu32,
                     gguf_le32(w->kv[i].raw), w->alignment);
    return 0;
}

int gguf_writer_begin(struct gguf_writer *w, int fd, const char *path, struct lm_err *err)
{
    uint64_t data_off, data_size;
    if (w->begun)
        return usage(err, "gguf writer already started");
    if (check_alignment_key(w, err))
        return -1;
    if (layout(w, &data_off, &data_size))
        return usage(err, "tensor data of %zu tensors overflows 64 bits", w->n_t);
    w->buf = malloc(OUT_BUF);
    if (!w->buf)
        return nomem(err);
    w->begun = true;
    w->fd = fd;
    snprintf(w->path, sizeof(w->path), "%s", path ? path : "");
    uint8_t head[8];
    memcpy(head, GGUF_MAGIC, 4);
    put_u32(head + 4, w->version);
    if (emit(w, head, 8, err) || emit_u64(w, w->n_t, err) || emit_u64(w, w->n_kv, err))
        return -1;
    for (size_t i = 0; i < w->n_kv; i++)
        if (emit(w, w->kv[i].blob, w->kv[i].len, err))
            return -1;
    uint64_t off = 0, meta = GGUF_HEADER_BYTES;
    for (size_t i = 0; i < w->n_kv; i++)
        meta += w->kv[i].len;
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wti *t = &w->t[i];
        uint8_t blob[MAX_TI_BYTES];
        size_t len = ti_bytes(blob, t->name, strlen(t->name), t->n_dims, t->ne, t->type, off);
        if (emit(w, blob, len, err))
            return -1;
        meta += len;
        off += lm_pad(t->nbytes, w->alignment);
    }
    w->cur = 0;
    w->cur_done = 0;
    return emit_zeros(w, data_off - meta, err);
}

int gguf_writer_write_data(struct gguf_writer *w, const void *p, size_t n, struct lm_err *err)
{
    const uint8_t *b = p;
    if (!w->begun || w->failed)
        return usage(err, "gguf writer is not writing");
    while (n) {
        if (w->cur >= w->n_t)
            return usage(err, "%zu bytes of data past the last tensor", n);
        const struct wti *t = &w->t[w->cur];
        uint64_t want = t->nbytes - w->cur_done;
        size_t k = n < want ? n : (size_t)want;
        if (emit(w, b, k, err))
            return -1;
        b += k;
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes) {
            if (emit_zeros(w, lm_pad(t->nbytes, w->alignment) - t->nbytes, err))
                return -1;
            w->cur++;
            w->cur_done = 0;
        }
    }
    return 0;
}

int gguf_writer_finish(struct gguf_writer *w, struct lm_err *err)
{
    if (!w->begun || w->failed)
        return usage(err, "gguf writer is not writing");
    if (w->cur < w->n_t) {
        char q[GGUF_QBUF];
        const struct wti *t = &w->t[w->cur];
        return usage(err, "tensor '%s' got %" PRIu64 " of its %" PRIu64 " bytes",
                     lm_quote(t->name, strlen(t->name), q, sizeof(q)), w->cur_done, t->nbytes);
    }
    return flush(w, err);
}

/* gguf_int.h: what the GGUF reader and writer share inside format/ (not part of the interface).
 *
 * The writer validates what it is given by serializing it and running the reader's own kv and
 * tensor-info parsers over those bytes: both sides enforce the same rules with the same words. */
#ifndef LM_GGUF_INT_H
#define LM_GGUF_INT_H

#include "format.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_MAX_STR (1ull << 30)          /* ggml's cap on one string */
#define GGUF_MAX_KV (1u << 16)             /* real files carry ~50 keys */
#define GGUF_MAX_TENSORS (1u << 20)        /* the largest MoE files carry a few thousand */
#define GGUF_MIN_KV_BYTES 14               /* key length 8 + 1 key byte + type 4 + a u8 value */
#define GGUF_MIN_TI_BYTES 33               /* name len 8 + 1 + n_dims 4 + ne 8 + type 4 + off 8 */
#define GGUF_HEADER_BYTES 24               /* magic, version, tensor count, kv count */
#define GGUF_QBUF (LM_QUOTE_MAX + 16)      /* room for lm_quote() output */

static inline uint32_t gguf_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t gguf_le64(const uint8_t *p)
{
    return (uint64_t)gguf_le32(p) | (uint64_t)gguf_le32(p + 4) << 32;
}

/* A bounded cursor over bytes from outside. Errors name `path` (may be NULL) and the offset. */
struct gguf_rd {
    const uint8_t *p;
    uint64_t len, off;
    const char *path;
    struct lm_err *err;
};

/* Parse the kv at the cursor (kv number `idx`, for messages): key rules, value type, bool bytes,
 * array item types and counts, string lengths, and general.alignment's type and value. */
int gguf_rd_kv(struct gguf_rd *r, uint64_t idx, struct gguf_kv *kv);
/* Parse tensor info number `idx`: name, n_dims, ne, type, row blocks and byte size; `t->offset`
 * is read but not checked. `*off_at` gets where the offset field starts. */
int gguf_rd_ti(struct gguf_rd *r, uint64_t idx, struct gguf_tensor *t, uint64_t *off_at);
/* The value of a valid general.alignment kv. */
uint32_t gguf_kv_alignment(const struct gguf_kv *kv);
bool gguf_is_alignment_key(const struct gguf_str *key);

/* Open-addressing hash index of byte strings held by the caller: slots hold item index + 1. */
typedef struct gguf_str (*gguf_key_fn)(const void *ctx, uint32_t i);
struct gguf_index {
    uint32_t *slot;
    uint32_t cap;   /* power of two, at least twice n */
    uint32_t n;
    const void *ctx;
    gguf_key_fn key;
};
void gguf_index_init(struct gguf_index *x, const void *ctx, gguf_key_fn key);
void gguf_index_release(struct gguf_index *x);
/* Add item i. Returns 0, 1 if an equal key is present (its index in *dup), -1 on ENOMEM. */
int gguf_index_add(struct gguf_index *x, uint32_t i, uint32_t *dup);
/* Re-add items 0..n-1 after they moved (n no more than before: no allocation). */
void gguf_index_rebuild(struct gguf_index *x, uint32_t n);
/* Index of the item with this key, or -1. */
int64_t gguf_index_find(const struct gguf_index *x, const char *p, uint64_t len);

#endif

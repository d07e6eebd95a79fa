/* format: the ggml tensor type table, fp16/bf16, and strict GGUF and safetensors readers/writers.
 *
 * Everything here reads bytes that come from strangers. Readers map the file, check every count,
 * length, offset and size against the bytes that could hold it (shared/specs/gguf.md §1, §7) and
 * fail with one lm_err naming the byte offset; they never read tensor data while opening.
 * Pointers returned by a reader point into its map and live until it is closed. */
#ifndef LM_FORMAT_H
#define LM_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"

/* ---- tensor types (ggml ids, shared/specs/quant-formats.md §1) ---------------------------- */

enum lm_type {
    LM_TYPE_F32 = 0, LM_TYPE_F16 = 1, LM_TYPE_Q4_0 = 2, LM_TYPE_Q4_1 = 3,
    LM_TYPE_Q5_0 = 6, LM_TYPE_Q5_1 = 7, LM_TYPE_Q8_0 = 8, LM_TYPE_Q8_1 = 9,
    LM_TYPE_Q2_K = 10, LM_TYPE_Q3_K = 11, LM_TYPE_Q4_K = 12, LM_TYPE_Q5_K = 13,
    LM_TYPE_Q6_K = 14, LM_TYPE_Q8_K = 15, LM_TYPE_IQ2_XXS = 16, LM_TYPE_IQ2_XS = 17,
    LM_TYPE_IQ3_XXS = 18, LM_TYPE_IQ1_S = 19, LM_TYPE_IQ4_NL = 20, LM_TYPE_IQ3_S = 21,
    LM_TYPE_IQ2_S = 22, LM_TYPE_IQ4_XS = 23, LM_TYPE_I8 = 24, LM_TYPE_I16 = 25,
    LM_TYPE_I32 = 26, LM_TYPE_I64 = 27, LM_TYPE_F64 = 28, LM_TYPE_IQ1_M = 29,
    LM_TYPE_BF16 = 30, LM_TYPE_TQ1_0 = 34, LM_TYPE_TQ2_0 = 35, LM_TYPE_MXFP4 = 39,
    LM_TYPE_COUNT = 40,   /* ids >= this, and retired ids (4, 5, 31-33, 36-38), are refused */
};

struct lm_type_info {
    const char *name;     /* "Q4_K" */
    uint32_t block;       /* elements per block */
    uint32_t type_size;   /* bytes per block */
    bool quantized;
};

/* NULL for retired ids and ids past the table. */
const struct lm_type_info *lm_type_get(uint32_t id);
/* By name, case-insensitive ("q8_0"); -1 if none. */
int lm_type_from_name(const char *name);
/* Bytes of `nelem` elements; -1 if nelem is not a whole number of blocks or it overflows. */
int lm_type_nbytes(uint32_t id, uint64_t nelem, uint64_t *out);

/* ---- fp16 / bf16 (bit-exact to ggml's reference conversions) ----------------------------- */

uint16_t lm_f32_to_f16(float f);
float lm_f16_to_f32(uint16_t h);
uint16_t lm_f32_to_bf16(float f);
float lm_bf16_to_f32(uint16_t h);
void lm_f16_to_f32_row(const uint16_t *in, float *out, size_t n);
void lm_f32_to_f16_row(const float *in, uint16_t *out, size_t n);
void lm_bf16_to_f32_row(const uint16_t *in, float *out, size_t n);
void lm_f32_to_bf16_row(const float *in, uint16_t *out, size_t n);

/* ---- GGUF reader ------------------------------------------------------------------------- */

enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5,
    GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_U64 = 10, GGUF_I64 = 11,
    GGUF_F64 = 12, GGUF_VTYPE_COUNT = 13,
};

#define GGUF_MAX_DIMS 4
#define GGUF_MAX_NAME 63               /* bytes of a tensor name (ggml: 64 with the NUL) */
#define GGUF_DEFAULT_ALIGNMENT 32

/* A string inside the mapped file: not NUL-terminated, may hold any bytes. */
struct gguf_str {
    const char *p;
    uint64_t len;
};

struct gguf_kv {
    struct gguf_str key;
    enum gguf_vtype type;
    enum gguf_vtype arr_type;   /* GGUF_ARRAY only */
    uint64_t arr_len;           /* GGUF_ARRAY only: elements */
    const uint8_t *raw;         /* value bytes as serialized: for arrays, the items after type+count;
                                 * for STRING, the u64 length and the bytes */
    uint64_t raw_len;
    uint64_t file_off;          /* where the key starts */
};

struct gguf_tensor {
    char name[GGUF_MAX_NAME + 1]; /* NUL-terminated; names with NUL bytes are refused */
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];   /* ne[0] = row length; unused dims are 1 */
    uint32_t type;                /* enum lm_type, checked */
    uint64_t offset;              /* relative to the data section */
    uint64_t nbytes;              /* exact, padding excluded */
    uint64_t nelem;
    const uint8_t *data;          /* into the map */
};

struct gguf;
struct gguf *gguf_open(const char *path, struct lm_err *err);        /* NULL on error */
/* Parse a buffer the caller keeps alive (fuzzing, tests); `name` is used in errors. */
struct gguf *gguf_open_mem(const void *p, size_t len, const char *name, struct lm_err *err);
void gguf_close(struct gguf *g);                                     /* NULL is fine */

uint32_t gguf_version(const struct gguf *g);
uint32_t gguf_alignment(const struct gguf *g);
uint64_t gguf_data_offset(const struct gguf *g);   /* absolute start of the data section;
                                                    * no tensors: the end of the metadata */
uint64_t gguf_file_size(const struct gguf *g);
const uint8_t *gguf_bytes(const struct gguf *g);   /* the whole mapped file */
void gguf_advise_huge(const struct gguf *g);       /* lm_map_advise_huge on the file's mapping */

uint64_t gguf_n_kv(const struct gguf *g);
const struct gguf_kv *gguf_kv_at(const struct gguf *g, uint64_t i);
const struct gguf_kv *gguf_kv_find(const struct gguf *g, const char *key);   /* NULL if absent */
uint64_t gguf_n_tensors(const struct gguf *g);
const struct gguf_tensor *gguf_tensor_at(const struct gguf *g, uint64_t i);
const struct gguf_tensor *gguf_tensor_find(const struct gguf *g, const char *name);

const char *gguf_vtype_name(enum gguf_vtype t);   /* "UINT32", "STRING", "ARRAY", ... */
size_t gguf_vtype_size(enum gguf_vtype t);        /* fixed-size types; 0 for STRING and ARRAY */

/* Scalar values. Each returns -1 (with err) if the kv is not of a type that converts exactly. */
int gguf_kv_u64(const struct gguf_kv *kv, uint64_t *out);   /* any unsigned int, or signed >= 0 */
int gguf_kv_i64(const struct gguf_kv *kv, int64_t *out);    /* any int type that fits */
int gguf_kv_f64(const struct gguf_kv *kv, double *out);     /* F32 or F64 */
int gguf_kv_bool(const struct gguf_kv *kv, bool *out);
int gguf_kv_str(const struct gguf_kv *kv, struct gguf_str *out);
/* Array items. Numbers: item i converted as above (gguf_arr_u64 also reads BOOL items as 0 or 1).
 * Strings: all of them at once into a malloc'd array the caller frees (items point into the map). */
int gguf_arr_u64(const struct gguf_kv *kv, uint64_t i, uint64_t *out);
int gguf_arr_i64(const struct gguf_kv *kv, uint64_t i, int64_t *out);
int gguf_arr_f64(const struct gguf_kv *kv, uint64_t i, double *out);
int gguf_arr_strs(const struct gguf_kv *kv, struct gguf_str **out, struct lm_err *err);

/* ---- GGUF writer (streaming: metadata with exact offsets first, then one tensor at a time) -- */

struct gguf_writer;
struct gguf_writer *gguf_writer_new(void);               /* NULL on ENOMEM */
void gguf_writer_free(struct gguf_writer *w);
/* Metadata. Keys must be unique and non-empty; adding a key that exists fails. The order of
 * calls is the order in the file. */
int gguf_writer_set_version(struct gguf_writer *w, uint32_t version);   /* 2 or 3; default 3 */
int gguf_writer_add_u32(struct gguf_writer *w, const char *key, uint32_t v, struct lm_err *err);
int gguf_writer_add_i32(struct gguf_writer *w, const char *key, int32_t v, struct lm_err *err);
int gguf_writer_add_u64(struct gguf_writer *w, const char *key, uint64_t v, struct lm_err *err);
int gguf_writer_add_f32(struct gguf_writer *w, const char *key, float v, struct lm_err *err);
int gguf_writer_add_bool(struct gguf_writer *w, const char *key, bool v, struct lm_err *err);
int gguf_writer_add_str(struct gguf_writer *w, const char *key, const char *s, size_t len,
                        struct lm_err *err);
int gguf_writer_add_arr_str(struct gguf_writer *w, const char *key, const struct gguf_str *items,
                            uint64_t n, struct lm_err *err);
/* Numeric array: `items` are n little-endian values of `item_type`, back to back. */
int gguf_writer_add_arr_num(struct gguf_writer *w, const char *key, enum gguf_vtype item_type,
                            const void *items, uint64_t n, struct lm_err *err);
/* Copy a kv from a reader unchanged (any type). */
int gguf_writer_add_kv(struct gguf_writer *w, const struct gguf_kv *kv, struct lm_err *err);
/* Remove a key if present (llama-quantize re-appends some keys at the end). */
void gguf_writer_remove_kv(struct gguf_writer *w, const char *key);
/* `general.alignment` is written only if added as a key; this sets the padding used. */
int gguf_writer_set_alignment(struct gguf_writer *w, uint32_t alignment, struct lm_err *err);

/* Tensor infos, in file order. n_dims as given (1..4); checks name, type and row blocks. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const uint64_t *ne, struct lm_err *err);
/* Bytes of everything before the data section, padding included (valid after all adds). */
uint64_t gguf_writer_data_offset(const struct gguf_writer *w);
uint64_t gguf_writer_file_size(const struct gguf_writer *w);

/* Write header, metadata and tensor infos to fd (`path` is for errors). Then the data of each
 * tensor in order through write_data, in any number of pieces; padding is added when a tensor's
 * bytes are complete. finish fails if a tensor is short. Nothing is fsynced: the caller owns fd
 * (use lm_afile for an atomic output file). */
int gguf_writer_begin(struct gguf_writer *w, int fd, const char *path, struct lm_err *err);
int gguf_writer_write_data(struct gguf_writer *w, const void *p, size_t n, struct lm_err *err);
int gguf_writer_finish(struct gguf_writer *w, struct lm_err *err);

/* ---- safetensors reader ------------------------------------------------------------------ */

enum st_dtype {
    ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_U16, ST_U32,
    ST_U64, ST_BOOL, ST_F8_E4M3, ST_F8_E5M2, ST_F8_E8M0, ST_C64, ST_F4, ST_F6_E2M3, ST_F6_E3M2,
    ST_F8_E4M3FNUZ, ST_F8_E5M2FNUZ, ST_DTYPE_COUNT,
};
#define ST_MAX_DIMS 8
#define ST_MAX_HEADER 100000000u

const char *st_dtype_name(enum st_dtype d);
uint32_t st_dtype_bits(enum st_dtype d);   /* 4 for F4, 6 for F6_*, else 8 x bytes */

struct st_tensor {
    const char *name;          /* NUL-terminated, owned by the reader */
    enum st_dtype dtype;
    uint32_t n_dims;
    uint64_t shape[ST_MAX_DIMS];   /* PyTorch order: shape[n_dims-1] is the fastest axis */
    uint64_t nelem;
    uint64_t begin, end;       /* relative to the data buffer */
    uint64_t file_off;         /* absolute: 8 + header_len + begin */
    const uint8_t *data;       /* into the map */
};

struct safetensors;
struct safetensors *st_open(const char *path, struct lm_err *err);
struct safetensors *st_open_mem(const void *p, size_t len, const char *name, struct lm_err *err);
void st_close(struct safetensors *s);
size_t st_n_tensors(const struct safetensors *s);
const struct st_tensor *st_tensor_at(const struct safetensors *s, size_t i);  /* sorted by name */
const struct st_tensor *st_tensor_find(const struct safetensors *s, const char *name);
uint64_t st_header_len(const struct safetensors *s);
const char *st_path(const struct safetensors *s);
/* __metadata__ values, or NULL. */
const char *st_metadata(const struct safetensors *s, const char *key);

/* A Hugging Face checkpoint directory: config.json plus model.safetensors, or
 * model.safetensors.index.json and its shards (union of shard names must equal the weight map). */
struct hf_tensor {
    const struct st_tensor *t;
    size_t shard;              /* index into the shards */
};
struct hf_checkpoint;
struct hf_checkpoint *hf_checkpoint_open(const char *dir, struct lm_err *err);
void hf_checkpoint_close(struct hf_checkpoint *c);
const char *hf_checkpoint_architecture(const struct hf_checkpoint *c);  /* architectures[0] or NULL */
const char *hf_checkpoint_dir(const struct hf_checkpoint *c);
size_t hf_checkpoint_n_shards(const struct hf_checkpoint *c);
const struct safetensors *hf_checkpoint_shard(const struct hf_checkpoint *c, size_t i);
const char *hf_checkpoint_shard_name(const struct hf_checkpoint *c, size_t i);  /* file name */
/* All tensors of all shards: shards in sorted file-name order, each shard's tensors by name. */
size_t hf_checkpoint_n_tensors(const struct hf_checkpoint *c);
const struct hf_tensor *hf_checkpoint_tensor_at(const struct hf_checkpoint *c, size_t i);
const struct hf_tensor *hf_checkpoint_tensor_find(const struct hf_checkpoint *c, const char *name);
/* config.json, parsed (a jansson json_t *, borrowed), or NULL if the directory has none. */
struct json_t *hf_checkpoint_config(const struct hf_checkpoint *c);

#endif

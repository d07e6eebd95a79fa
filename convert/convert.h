/* convert: Hugging Face safetensors checkpoints to GGUF, tensor for tensor what llama.cpp's
 * convert_hf_to_gguf.py writes (shared/specs/gguf.md §3-§5, shared/specs/tokenizers.md §1-§2).
 *
 * A conversion has two steps. convert_open() reads everything but the tensor data: config.json
 * (text_config merged over it), the checkpoint's shard headers, the architecture's table (one file
 * per architecture, convert/arch_*.c), the tokenizer files. It plans every output tensor (GGUF
 * name, type, shape; checked against config.json) and stages the metadata in llama.cpp's key
 * order. convert_write() then streams: header and metadata first, then one tensor at a time from
 * the mmapped shards, converted chunk by chunk, into a temporary file that is fsynced and renamed
 * over the output only when complete. Memory: the vocabulary plus one chunk of one tensor.
 *
 * Key order (llama.cpp's): general.architecture, general.type, the general.* naming keys, the
 * hyperparameters, general.quantization_version, then the tokenizer keys. Tensor order: generated
 * tensors (llama3 rope_freqs), then each shard (file names sorted), its tensors sorted by name. */
#ifndef LM_CONVERT_H
#define LM_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../format/format.h"

/* ---- the interface cmd/ uses --------------------------------------------------------------- */

enum convert_outtype { CONVERT_AUTO, CONVERT_F32, CONVERT_F16, CONVERT_BF16, CONVERT_Q8_0 };

/* "f32", "f16", "bf16", "q8_0", "auto" (any case); -1 if none. */
int convert_outtype_parse(const char *s, enum convert_outtype *out);
const char *convert_outtype_name(enum convert_outtype t);      /* "F32", ..., "auto" */

struct convert_opts {
    enum convert_outtype outtype;
    /* The folder name llama.cpp derives general.name, basename, version and size label from;
     * NULL: the last component of the checkpoint directory. */
    const char *model_name_dir;
};

struct convert_info {
    char arch[32];                  /* general.architecture: "llama", "qwen2", "qwen3" */
    char hf_arch[64];               /* config.json architectures[0] */
    enum convert_outtype outtype;   /* resolved: never CONVERT_AUTO */
    uint32_t file_type;             /* general.file_type: 0, 1, 32 or 7 */
    uint64_t n_tensors, n_kv, n_vocab;
    uint64_t n_params;              /* elements of all output tensors */
    uint64_t bytes_in;              /* tensor bytes read from the shards */
    uint64_t file_size;             /* of the GGUF that convert_write produces */
    uint64_t data_size;             /* its tensor data, padding included */
};

struct convert;
struct convert *convert_open(const char *dir, const struct convert_opts *o, struct lm_err *err);
const struct convert_info *convert_get_info(const struct convert *c);
/* Write the GGUF to `out` atomically; on failure no file is left at `out` (nor a temp file).
 * `progress` (may be NULL) is advanced by the bytes of tensor data written. Once per convert. */
int convert_write(struct convert *c, const char *out, struct lm_progress *progress,
                  struct lm_err *err);
/* The same bytes into an open fd (not fsynced, not closed: an lm_afile's or a store blob's);
 * `label` names the output in errors. */
int convert_write_fd(struct convert *c, int fd, const char *label, struct lm_progress *progress,
                     struct lm_err *err);
void convert_close(struct convert *c);                 /* NULL is fine */

/* The folder name llama.cpp names a model after: the last component of `dir` (of its real path
 * for "." and ".."). */
void convert_folder_name(const char *dir, char *out, size_t n);

/* The supported config.json architectures, ", "-separated, for messages and help. */
const char *convert_supported_list(void);

/* ---- limits ---------------------------------------------------------------------------------- */

#define CONVERT_MAX_TOKENIZER_FILE (512u << 20)   /* tokenizer.json, vocab.json, merges.txt */
#define CONVERT_MAX_SPM_FILE (64u << 20)          /* tokenizer.model */
#define CONVERT_MAX_JSON_FILE (16u << 20)         /* tokenizer_config.json, added_tokens.json */
#define CONVERT_MAX_VOCAB (1u << 22)              /* tokens (Gemma 3: 262144) */
#define CONVERT_MAX_MERGES (1u << 23)
#define CONVERT_MAX_LAYERS 512                    /* LLAMA_MAX_LAYERS */
#define CONVERT_MAX_DIM (1u << 20)                /* any one hyperparameter size */

/* ---- below: the pieces the files of convert/ share, exposed for tests ----------------------------- */

/* Staged metadata. Setting a key that exists replaces its value and keeps its position (gguf-py
 * does the same); strings and arrays are copied, except arr_str_ref which borrows the items until
 * the writer has them. */
struct convert_meta;
struct convert_meta *convert_meta_new(void);
void convert_meta_free(struct convert_meta *m);
int convert_meta_u32(struct convert_meta *m, const char *key, uint32_t v, struct lm_err *err);
int convert_meta_f32(struct convert_meta *m, const char *key, float v, struct lm_err *err);
int convert_meta_bool(struct convert_meta *m, const char *key, bool v, struct lm_err *err);
int convert_meta_str(struct convert_meta *m, const char *key, const char *s, size_t len,
                     struct lm_err *err);
int convert_meta_arr_str_ref(struct convert_meta *m, const char *key, const struct gguf_str *items,
                             uint64_t n, struct lm_err *err);
int convert_meta_arr_str(struct convert_meta *m, const char *key, const struct gguf_str *items,
                         uint64_t n, struct lm_err *err);
int convert_meta_arr_num(struct convert_meta *m, const char *key, enum gguf_vtype item_type,
                         const void *items, uint64_t n, struct lm_err *err);
bool convert_meta_has(const struct convert_meta *m, const char *key);
uint64_t convert_meta_count(const struct convert_meta *m);
int convert_meta_flush(const struct convert_meta *m, struct gguf_writer *w, struct lm_err *err);

/* config.json with text_config merged over the top level (llama.cpp's hparams). */
struct convert_cfg {
    struct json_t *root;             /* owned */
    struct json_t *raw;              /* owned: config.json as written (SpecialVocab reads that) */
    char path[1024];                 /* .../config.json, for errors */
    struct json_t *rope;             /* owned: rope_parameters or rope_scaling, rope_theta mirrored */
    /* Sizes every architecture needs, 0 when absent: */
    uint64_t n_layer, n_embd, n_ff, n_head, n_head_kv, head_dim, vocab_size;
};
int convert_cfg_init(struct convert_cfg *c, const char *dir, const struct json_t *config,
                     struct lm_err *err);
void convert_cfg_release(struct convert_cfg *c);
/* The value of the first of `keys` (NULL-terminated) present, even if JSON null; NULL if none. */
struct json_t *convert_cfg_find(const struct convert_cfg *c, const char *const *keys);
/* Key `key` of object `o` as a u32/f32 into meta under `gkey`, if present and not null. */
int convert_cfg_put_u32(const struct convert_cfg *c, struct convert_meta *m, const char *gkey,
                        const struct json_t *v, const char *what, struct lm_err *err);
int convert_cfg_put_f32(const struct convert_cfg *c, struct convert_meta *m, const char *gkey,
                        const struct json_t *v, const char *what, struct lm_err *err);
/* llama.cpp's TextModel.set_gguf_parameters: the keys every architecture shares, in its order,
 * ending with general.file_type. */
int convert_common_params(const struct convert_cfg *c, struct convert_meta *m, const char *arch,
                          uint32_t file_type, struct lm_err *err);

/* A tensor the converter makes itself (llama3 rope factors): F32 values it owns. */
struct convert_gen {
    char name[GGUF_MAX_NAME + 1];
    float *data;
    uint64_t n;
};

/* One architecture. Tensor names use '#' for the layer number. */
enum convert_dim { CD_NONE, CD_EMBD, CD_VOCAB, CD_FF, CD_Q, CD_KV, CD_HEAD };
enum { CT_Q = 1, CT_K = 2 };   /* the rows llama's permutation applies to */
struct convert_tname {
    const char *hf;            /* "model.layers.#.self_attn.q_proj" (".weight"/".bias" follow) */
    const char *gguf;          /* "blk.#.attn_q" */
    uint8_t rows, cols;        /* PyTorch shape of ".weight" (cols CD_NONE: 1-D); ".bias" is [rows] */
    uint8_t flags;
};
struct convert_tlist {
    const struct convert_tname *t;
    size_t n;
};
/* The Llama-style decoder (embeddings, attention, SwiGLU, RMS norms) most architectures share. */
extern const struct convert_tlist convert_tensors_decoder;
struct convert_arch {
    const char *name;                    /* general.architecture */
    const char *const *hf_names;         /* config.json architectures[0] values, NULL-terminated */
    const struct convert_tlist *tensors[3];  /* name tables, NULL-terminated */
    bool permute_qk;                     /* llama: q/k rows to interleaved RoPE order (gguf.md §5) */
    /* Keys after the common ones (llama: vocab_size, rope.dimension_count); NULL for none. */
    int (*params)(const struct convert_cfg *c, struct convert_meta *m, struct lm_err *err);
    /* Generated tensors, written first; NULL for none. Fills *out (at most 4). */
    int (*extra)(const struct convert_cfg *c, struct convert_gen *out, size_t *n_out,
                 struct lm_err *err);
    bool add_space_prefix_key;           /* llama: tokenizer_config add_prefix_space -> key */
    /* Tokenizer keys set after the vocabulary (llama: no BOS for 49152-token vocabularies). */
    int (*after_vocab)(const struct convert_cfg *c, struct convert_meta *m, struct lm_err *err);
};
extern const struct convert_arch convert_arch_llama, convert_arch_qwen2, convert_arch_qwen3;
const struct convert_arch *convert_arch_find(const char *hf_arch);   /* NULL if unsupported */

/* HF tensor name -> GGUF name through the table; false if it does not map (or the layer is not
 * below n_layer). *t gets the table row, *is_bias whether it ends in ".bias". */
bool convert_map_name(const struct convert_arch *a, const char *hf, uint64_t n_layer, char *out,
                      size_t n, const struct convert_tname **t, bool *is_bias);
/* Q/K rows for llama's interleaved RoPE: output row r takes source row convert_permute_row(). */
uint64_t convert_permute_row(uint64_t r, uint64_t rows, uint64_t n_head);
/* llama3 rope factors (gguf.md §4.1), float32 step by step as torch does; dim/2 values. */
void convert_llama3_factors(double base, uint32_t dim, double factor, double low, double high,
                            double old_ctx, float *out);

/* One output tensor, planned: where its bytes come from and what they become. */
struct convert_tensor {
    char name[GGUF_MAX_NAME + 1];   /* GGUF name */
    const struct st_tensor *src;    /* NULL for a generated tensor */
    const char *src_path;           /* the shard, for messages */
    const float *gen;               /* generated F32 data */
    uint32_t type;                  /* output lm_type */
    uint32_t n_dims;
    uint64_t ne[GGUF_MAX_DIMS];     /* GGUF order: ne[0] is the row */
    uint64_t rows, row_len;         /* source rows (PyTorch dim 0) and elements per row */
    uint64_t permute_heads;         /* rows reordered for llama's RoPE over this many heads; 0: no */
};
/* Stream one tensor's data into w, converted a chunk at a time (at most `CONVERT_CHUNK` output
 * bytes buffered); drops the source pages from memory when done. */
#define CONVERT_CHUNK (4u << 20)
int convert_tensor_write(const struct convert_tensor *t, struct gguf_writer *w,
                         struct lm_progress *progress, struct lm_err *err);

/* Row conversions the streaming loop uses most, with the bits of format's scalar ones (gguf-py's
 * for BF16 -> BF16: NaNs made quiet). The _avx2 variants (AVX2 + F16C) are chosen when common's
 * CPU level allows (LM_CPU=scalar pins the scalar ones). */
void convert_bf16_to_f16_scalar(const uint16_t *in, uint16_t *out, size_t n);
void convert_bf16_to_f16_avx2(const uint16_t *in, uint16_t *out, size_t n);
void convert_f32_to_f16_avx2(const float *in, uint16_t *out, size_t n);
void convert_bf16_to_bf16(const uint16_t *in, uint16_t *out, size_t n);

/* ---- tokenizer ------------------------------------------------------------------------------ */

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_UNUSED = 5,
       TOK_BYTE = 6 };

/* SentencePiece ModelProto (tokenizer.model): the pieces, in id order. Texts point into `p`. */
struct convert_spm_piece {
    const char *text;
    uint32_t len;
    float score;
    int32_t type;       /* proto type 1..6, NORMAL when absent */
};
/* Parse `p` (n bytes; `path` for errors). *out is malloc'd; the caller frees it. */
int convert_spm_parse(const uint8_t *p, size_t n, const char *path,
                      struct convert_spm_piece **out, uint32_t *n_out, struct lm_err *err);

/* Strings that must outlive the metadata: a list of blocks that never move. */
struct convert_pool;
struct convert_pool *convert_pool_new(void);
void convert_pool_free(struct convert_pool *p);
/* Copy of s[0..len) plus a NUL; NULL on ENOMEM. */
char *convert_pool_dup(struct convert_pool *p, const char *s, size_t len);

/* The tokenizer part of a GGUF. */
struct convert_vocab {
    const char *model;           /* "llama" (SentencePiece) or "gpt2" (byte-level BPE) */
    char pre[32];                /* tokenizer.ggml.pre */
    uint32_t n;
    struct gguf_str *tokens;     /* n; texts in `pool` or tok_json */
    float *scores;               /* n, or NULL (gpt2) */
    int32_t *types;              /* n */
    struct gguf_str *merges;     /* gpt2 only */
    uint64_t n_merges;
    struct convert_pool *pool;
    struct json_t *tok_json;     /* tokenizer.json, or NULL */
    struct json_t *tok_config;   /* tokenizer_config.json, or NULL */
};
/* Build the vocabulary from the files in `dir`: tokenizer.model (SentencePiece) if present,
 * else tokenizer.json, else vocab.json + merges.txt. */
int convert_vocab_load(struct convert_vocab *v, const char *dir, const struct convert_cfg *cfg,
                       struct lm_err *err);
void convert_vocab_release(struct convert_vocab *v);
/* tokenizer.ggml.* and tokenizer.chat_template* keys, in llama.cpp's order. */
int convert_vocab_put(const struct convert_vocab *v, const char *dir, const struct convert_cfg *cfg,
                      struct convert_meta *m, struct lm_err *err);
/* gguf-py's SpecialVocab after the token list: merges, special token ids (bounded by the token
 * count on the SentencePiece path), add_* flags, chat templates. */
int convert_special_put(const struct convert_vocab *v, const char *dir,
                        const struct convert_cfg *cfg, struct convert_meta *m, struct lm_err *err);
/* A JSON file `name` in `dir` (duplicate keys refused): *out NULL if there is no such file. */
int convert_json_file(const char *dir, const char *name, size_t max, struct json_t **out,
                      struct lm_err *err);
/* Whether `dir`/`name` exists (following symlinks): 1, 0, or -1 with err. */
int convert_file_exists(const char *dir, const char *name, struct lm_err *err);
/* tokenizer.ggml.pre for a tokenizer.json: the pre-tokenizer's Split regexes hashed
 * (tokenizers.md §2.4). 0, or -1 with err if the pre-tokenizer is not one lm knows. */
int convert_bpe_pre(const struct json_t *tok_json, const char *path, char *out, size_t n,
                    struct lm_err *err);
/* llama.cpp's does_token_look_special(). */
bool convert_looks_special(const char *s, size_t len);

/* ---- general.* naming (gguf-py metadata.py heuristics) ----------------------------------------- */

struct convert_naming {
    char name[256], basename[128], finetune[128], version[64], size_label[64], organization[128];
};
/* From config.json's _name_or_path and the folder name, with the parameter count. */
void convert_naming_derive(const char *name_or_path, const char *folder, uint64_t n_params,
                           struct convert_naming *out);
/* gguf-py size_label(): "260K", "1.7M", "1.1B". */
void convert_size_label(uint64_t n_params, char *out, size_t n);

#endif

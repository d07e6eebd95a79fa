/* quantize: ggml block formats, reference quantizers and dequantizers, llama-quantize's mix rules,
 * the per-tensor plan and the threaded streaming driver behind `lm quantize`.
 *
 * Every quantizer here reproduces ggml's bytes exactly (shared/specs/quant-formats.md): the math is
 * binary32, each operation rounded as written, built with -ffp-contract=off. The fast variants
 * (quant_avx2.c, quant_avx512.c) run the same operations on several blocks at once, lane by
 * lane, so they give the same bits; LM_CPU=scalar|avx2|avx512 pins one for tests.
 *
 * All multi-byte fields are little-endian; the block structs below are the on-disk layout. */
#ifndef LM_QUANTIZE_H
#define LM_QUANTIZE_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../format/format.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "block structs are the little-endian layout");

/* ---- block layouts (ggml-common.h) ------------------------------------------------------- */

#define LM_QK 32           /* elements per block of the 32-wide types */
#define LM_QK_K 256        /* elements per K-quant super-block */
#define LM_K_SCALE_SIZE 12

struct block_q4_0 { uint16_t d; uint8_t qs[16]; };
struct block_q4_1 { uint16_t d, m; uint8_t qs[16]; };
struct block_q5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct block_q5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct block_q8_0 { uint16_t d; int8_t qs[32]; };
struct block_q2_K { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; };
struct block_q3_K { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; };
struct block_q4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct block_q5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct block_q6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct block_iq4_nl { uint16_t d; uint8_t qs[16]; };
struct block_iq4_xs { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; };

static_assert(sizeof(struct block_q4_0) == 18, "q4_0 block is 18 bytes on disk");
static_assert(sizeof(struct block_q4_1) == 20, "q4_1 block is 20 bytes on disk");
static_assert(sizeof(struct block_q5_0) == 22, "q5_0 block is 22 bytes on disk");
static_assert(sizeof(struct block_q5_1) == 24, "q5_1 block is 24 bytes on disk");
static_assert(sizeof(struct block_q8_0) == 34, "q8_0 block is 34 bytes on disk");
static_assert(sizeof(struct block_q2_K) == 84, "q2_K block is 84 bytes on disk");
static_assert(sizeof(struct block_q3_K) == 110, "q3_K block is 110 bytes on disk");
static_assert(sizeof(struct block_q4_K) == 144, "q4_K block is 144 bytes on disk");
static_assert(sizeof(struct block_q5_K) == 176, "q5_K block is 176 bytes on disk");
static_assert(sizeof(struct block_q6_K) == 210, "q6_K block is 210 bytes on disk");
static_assert(sizeof(struct block_iq4_nl) == 18, "iq4_nl block is 18 bytes on disk");
static_assert(sizeof(struct block_iq4_xs) == 136, "iq4_xs block is 136 bytes on disk");

/* ---- rows -------------------------------------------------------------------------------- */

/* True if lm can produce `type` from floats (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K,
 * Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS). */
bool lm_quant_can_quantize(uint32_t type);
/* True if lm can turn `type` back into floats (the above). */
bool lm_quant_can_dequantize(uint32_t type);

/* Quantize n floats (a whole number of blocks; the caller checks) into dst, which gets
 * n / block * type_size bytes. The scalar reference, as ggml's quantize_row_*_ref (IQ4_*: the
 * no-imatrix quantize_iq4_* path that llama-quantize runs). Returns -1 for a type it lacks. */
int lm_quantize_row_ref(uint32_t type, const float *src, void *dst, size_t n);
/* Same bytes for finite input, through the fastest variant this CPU runs (the driver refuses
 * Inf and NaN before quantizing, so files never depend on the variant). */
int lm_quantize_row(uint32_t type, const float *src, void *dst, size_t n);
/* n elements of `type` to floats, exactly as ggml's dequantize_row_* / fp16 / bf16 rows. */
int lm_dequantize_row(uint32_t type, const void *src, float *dst, size_t n);
/* Same floats for finite values, through the fastest variant (F16C for F16); Inf and NaN come
 * out as Inf and NaN, payloads aside. */
int lm_to_f32_row(uint32_t type, const void *src, float *dst, size_t n);

/* ggml_validate_row_data: false if a scale (or an F16/BF16/F32 value) is Inf or NaN. */
bool lm_quant_row_valid(uint32_t type, const void *data, size_t nbytes);

/* The CPU variant in use: "scalar", "avx2" or "avx512" (after LM_CPU and CPU detection). */
const char *lm_quant_variant(void);
/* Pin a variant for tests; -1 if the name is unknown or the CPU cannot run it. */
int lm_quant_set_variant(const char *name);

/* ---- file types (llama.cpp's LLAMA_FTYPE_*, written as general.file_type) ----------------- */

enum lm_ftype {
    LM_FTYPE_F32 = 0, LM_FTYPE_F16 = 1, LM_FTYPE_Q4_0 = 2, LM_FTYPE_Q4_1 = 3, LM_FTYPE_Q8_0 = 7,
    LM_FTYPE_Q5_0 = 8, LM_FTYPE_Q5_1 = 9, LM_FTYPE_Q2_K = 10, LM_FTYPE_Q3_K_S = 11,
    LM_FTYPE_Q3_K_M = 12, LM_FTYPE_Q3_K_L = 13, LM_FTYPE_Q4_K_S = 14, LM_FTYPE_Q4_K_M = 15,
    LM_FTYPE_Q5_K_S = 16, LM_FTYPE_Q5_K_M = 17, LM_FTYPE_Q6_K = 18, LM_FTYPE_IQ4_NL = 25,
    LM_FTYPE_IQ4_XS = 30, LM_FTYPE_BF16 = 32,
};

/* "Q4_K_M" (any case), the aliases Q3_K/Q4_K/Q5_K (= _M), or the number; -1 if lm does not make
 * that file type. */
int lm_ftype_parse(const char *s);
const char *lm_ftype_name(int ftype);          /* "Q4_K_M"; NULL if unknown */
uint32_t lm_ftype_default_type(int ftype);     /* Q4_K for Q4_K_M ... */
/* Comma-separated names of every file type lm makes, for usage text. */
const char *lm_ftype_list(void);

/* ---- the per-tensor plan (llama-quantize's llama_tensor_get_type) ------------------------ */

struct lm_tensor_override {
    const char *pattern;   /* regex searched in the tensor name (lowercased, as llama.cpp does) */
    uint32_t type;
};

struct lm_quant_opts {
    int ftype;
    bool pure;                /* no mix rules: every quantized tensor gets the default type */
    bool allow_requantize;    /* quantized inputs may be quantized again */
    bool leave_output;        /* keep output.weight as it is */
    bool strict;              /* a shape fallback is an error instead of a warning */
    int output_type;          /* --output-tensor-type, or -1 */
    int token_embd_type;      /* --token-embedding-type, or -1 */
    const struct lm_tensor_override *overrides;   /* --tensor-type, first match wins */
    size_t n_overrides;
    int threads;              /* 0: every core */
};

struct lm_plan_entry {
    const struct gguf_tensor *t;   /* the input tensor (points into the reader) */
    uint32_t n_dims;               /* as written: trailing dimensions of 1 dropped, like ggml */
    uint32_t to;                   /* output type */
    bool convert;                  /* false: the bytes are copied */
    bool fallback;                 /* a shape fallback picked `to` */
    uint64_t out_bytes;
    char why[160];                 /* how `to` was chosen, for --dry-run */
};

struct lm_plan {
    struct lm_plan_entry *e;       /* in output order (layer, then name) */
    size_t n;
    size_t n_fallback;
    uint64_t in_bytes, out_bytes;  /* tensor data only */
};

/* Decide every tensor's output type. Fails (naming the tensor) where llama-quantize would fail,
 * where it would write garbage, where lm lacks a quantizer, on requantizing without
 * allow_requantize, and on any fallback with strict. `path` is for errors. */
int lm_quant_plan(const struct gguf *g, const char *path, const struct lm_quant_opts *o,
                  struct lm_plan *plan, struct lm_err *err);
void lm_plan_release(struct lm_plan *plan);

/* ---- the driver -------------------------------------------------------------------------- */

/* Called from the writing thread after each tensor with bytes of input done so far. */
typedef void (*lm_quant_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* Quantize `g` (opened from src_path) into the file dst: metadata first, then every tensor in
 * plan order, row chunks spread over o->threads threads, written in order; peak memory is about
 * one output tensor plus a chunk of floats per thread. The output appears atomically or not at
 * all. The bytes do not depend on the thread count or the CPU variant. */
int lm_quantize_gguf(const struct gguf *g, const char *src_path, const struct lm_plan *plan,
                     const struct lm_quant_opts *o, const char *dst,
                     lm_quant_progress_fn progress, void *progress_ctx, struct lm_err *err);
/* Same, writing to fd (already positioned at 0) instead of a new file. */
int lm_quantize_gguf_fd(const struct gguf *g, const char *src_path, const struct lm_plan *plan,
                        const struct lm_quant_opts *o, int fd, const char *dst_name,
                        lm_quant_progress_fn progress, void *progress_ctx, struct lm_err *err);

/* ---- building blocks shared by the quantize module (and the runtime's IQ4 kernels) ----------------- */

#define LM_GROUP_MAX_EPS 1e-15f
extern const int8_t lm_kvalues_iq4nl[16];   /* IQ4_NL / IQ4_XS levels */

/* ggml's nearest_int: round half to even through the float adder (valid for |f| <= 4194303). */
static inline int lm_nearest_int(float f)
{
    float v = f + 12582912.f;
    int32_t i;
    __builtin_memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}
static inline int lm_min_i(int a, int b) { return a < b ? a : b; }
static inline int lm_clamp_i(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline float lm_max_f(float a, float b) { return a > b ? a : b; }   /* ggml's MAX */
/* What x86-64's cvttss2si gives for a float -> int cast, so out-of-range casts (a subnormal
 * scale whose inverse overflows) give ggml's bytes without undefined behaviour. */
static inline int32_t lm_cvtt(float f)
{
    if (!(f >= -2147483648.0f && f < 2147483648.0f))
        return INT32_MIN;
    return (int32_t)f;
}
static inline int lm_f32_to_i8(float f) { return (int8_t)(uint8_t)(uint32_t)lm_cvtt(f); }
static inline uint8_t lm_f32_to_u8(float f) { return (uint8_t)(uint32_t)lm_cvtt(f); }
/* 6-bit scale and min j of a Q4_K/Q5_K block's 12 scale bytes (spec §5.1). */
static inline void lm_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The requantization that ends every K-quant: L[i] = clamp(nearest(v), lo, hi) + off with
 * v = (x[i] + dm) / d if add_dm (Q2/Q4/Q5_K), else x[i] / d (Q3/Q6_K). */
typedef void (*lm_requant_fn)(const float *x, int n, float d, float dm, bool add_dm, int lo,
                              int hi, int off, uint8_t *L);
void lm_requant_ref(const float *x, int n, float d, float dm, bool add_dm, int lo, int hi, int off,
                    uint8_t *L);
float lm_make_qkx2(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                   float *the_min, float rmin, float rdelta, int nstep, bool use_mad);
/* Second half of Q4_K/Q5_K: quantize the 8 (scale, min) pairs to 6 bits, then every code again
 * with the rounded scales. L holds the make_qkx2 codes on entry. */
void lm_q45_K_finish(const float *x, const float *scales, const float *mins, int nmax,
                     uint8_t *L, uint16_t *d, uint16_t *dmin, uint8_t *scales12,
                     lm_requant_fn rq);
void lm_q4_K_pack(const uint8_t *L, uint8_t *qs);
void lm_q5_K_pack(const uint8_t *L, uint8_t *qh, uint8_t *ql);
/* Second halves of Q2_K and Q3_K from the 16 sub-block fits. */
void lm_q2_K_finish(const float *x, const float *scales, const float *mins, uint8_t *L,
                    struct block_q2_K *y, lm_requant_fn rq);
void lm_q3_K_finish(const float *x, const float *scales, int8_t *L, struct block_q3_K *y,
                    lm_requant_fn rq);
/* Second half of Q6_K from the 16 make_qx scales and codes. */
void lm_q6_K_finish(const float *x, const float *scales, int8_t *L, struct block_q6_K *y,
                    lm_requant_fn rq);
/* Reference block loops; -1 for a type without a block quantizer. */
int lm_quantize_row_ref_blocks(uint32_t type, const float *src, void *dst, size_t n);
/* The lane-parallel variants (quant_avx2.c, quant_avx512.c); -1 where they have no fast path,
 * and the caller falls back to the reference. */
int lm_quantize_row_avx2(uint32_t type, const float *src, void *dst, size_t n);
int lm_quantize_row_avx512(uint32_t type, const float *src, void *dst, size_t n);
int lm_to_f32_row_avx2(uint32_t type, const void *src, float *dst, size_t n);
int lm_to_f32_row_avx512(uint32_t type, const void *src, float *dst, size_t n);

#endif

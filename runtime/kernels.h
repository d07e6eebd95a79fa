/* kernels.h: block layouts and the per-instruction-set kernel tables of the runtime.
 * Private to runtime/ (the module's interface is runtime.h). The scalar table is the reference;
 * kernels_avx2.c and kernels_avx512.c fill what they speed up and leave the rest NULL, and
 * rt_kernels() hands out a table where every NULL is the scalar kernel. */
#ifndef LM_RUNTIME_KERNELS_H
#define LM_RUNTIME_KERNELS_H

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "runtime.h"
#include "../quantize/quantize.h"   /* on-disk block layouts */

#define RT_QK LM_QK       /* elements of a Q4_0 ... Q8_1 block */
#define RT_QK_K LM_QK_K   /* elements of a K-quant super-block */

/* Activation blocks (never on disk): what ggml quantizes the input of a quantized matmul to.
 * Q8_1 carries s = d * sum(qs) for the weight's min term; Q8_K carries the sums of each 16. */
struct rt_q8_1 { uint16_t d, s; int8_t qs[32]; };
struct rt_q8_K { float d; int8_t qs[256]; int16_t bsums[16]; };
static_assert(sizeof(struct rt_q8_1) == 36, "q8_1 block is 36 bytes");
static_assert(sizeof(struct rt_q8_K) == 292, "q8_K block is 292 bytes");

/* Dot product of one weight row (n elements) with one activation row in the weight's
 * activation type (rt_act_type). n is a whole number of weight blocks. */
typedef float (*rt_dot_fn)(int n, const void *w, const void *a);
/* The same for nt activation rows a_stride bytes apart: out[t] = w . a_t, each bit-identical
 * to the single dot (one weight row is unpacked once for all of them). */
typedef void (*rt_dotn_fn)(int n, const void *w, const void *a, size_t a_stride, int nt,
                           float *out);
/* Consecutive rows of one weight (row_bytes apart) against one activation row: y[r] = w_r . a,
 * each the single dot's bits (decoding: the row loop inside the kernel, its setup paid once). */
typedef void (*rt_dotr_fn)(int n, const void *w, size_t row_bytes, int rows, const void *a,
                           float *y);
/* A tile of RT_TILE weight rows (w_stride bytes apart) against RT_TILE activation rows
 * (a_stride apart): y[t * y_stride + r] = w_r . a_t, each bit-identical to the single dot
 * (each weight and activation block is loaded once for the whole tile). */
#define RT_TILE 4
typedef void (*rt_gemm_fn)(int n, const void *w, size_t w_stride, const void *a, size_t a_stride,
                           float *y, size_t y_stride);
/* Optional, paired with gemm: rewrite a weight row of n elements once into the form gemm then
 * reads (K-quants: codes as bytes, scales as words), at most RT_UNPACKED_BYTES per 256 weights,
 * so a row's unpacking is paid once per matmul instead of once per tile. */
#define RT_UNPACKED_BYTES 640
typedef void (*rt_unpack_fn)(int n, const void *w, void *out);
/* Quantize n floats (whole blocks) into activation blocks. */
typedef void (*rt_quant_fn)(const float *x, void *y, int n);

struct rt_kernels {
    rt_dot_fn dot[LM_TYPE_COUNT];       /* by weight type */
    rt_dotr_fn dotr[LM_TYPE_COUNT];     /* by weight type, one token; NULL: dot per row */
    rt_dotn_fn dotn[LM_TYPE_COUNT];     /* by weight type, for 2+ tokens; NULL: loop over dot */
    rt_gemm_fn gemm[LM_TYPE_COUNT];     /* by weight type, full tiles; NULL: dotn per row */
    rt_unpack_fn unpack[LM_TYPE_COUNT]; /* NULL: gemm reads the weights as they are */
    rt_quant_fn quant[LM_TYPE_COUNT];   /* by activation type: F32 (copy), F16, BF16, Q8_0, Q8_1, Q8_K */
    /* Attention over an f32 cache: y += x*v. */
    void (*mad_f32)(int n, float *y, const float *x, float v);
    /* One query (q, f16) over n_kv cached f16 K and V rows `stride` elements apart: ggml's
     * flash-attention recurrence (online softmax, V summed into acc in f16, rounded to f16 at
     * every step). Returns the softmax denominator; acc must start at zero. */
    float (*attend_f16)(int hd, const uint16_t *q, const uint16_t *k, const uint16_t *v,
                        size_t stride, uint32_t n_kv, float scale, uint16_t *acc);
    /* One row: out[i] = silu(g[i]) * u[i] (ggml's vector expf restarts at each row). */
    void (*swiglu)(int n, float *out, const float *g, const float *u);
};

/* The attend_f16 of a kernel file, from its own steps (inlined: no calls per position):
 * DOT(n, k, q) the f16 dot, SCALE(n, acc, v) acc *= v and MAD(n, acc, v_row, w) acc += v_row*w,
 * each rounding acc to f16 as ggml_vec_scale_f16 and ggml_vec_mad_f16 do. */
#define RT_ATTEND_F16(NAME, DOT, SCALE, MAD)                                                      \
    static float NAME(int hd, const uint16_t *q, const uint16_t *k, const uint16_t *v,          \
                      size_t stride, uint32_t n_kv, float scale, uint16_t *acc)                 \
    {                                                                                           \
        float m = -INFINITY, s_sum = 0.0f;                                                      \
        for (uint32_t p = 0; p < n_kv; p++) {                                                   \
            float s = DOT(hd, k + p * stride, q) * scale;                                       \
            float ms = 1.0f, vs = 1.0f;                                                         \
            if (s > m) {                                                                        \
                float m_old = m;                                                                \
                m = s;                                                                          \
                ms = expf(m_old - m);                                                           \
                SCALE(hd, acc, ms);                                                             \
            } else {                                                                            \
                vs = expf(s - m);                                                               \
            }                                                                                   \
            MAD(hd, acc, v + p * stride, vs);                                                   \
            s_sum = s_sum * ms + vs;                                                            \
        }                                                                                       \
        return s_sum;                                                                           \
    }

/* Facts about a weight type for matmul: its activation type and block size; NULL if the
 * runtime has no kernel for it. */
struct rt_wtype {
    uint32_t act;        /* LM_TYPE_F32/F16/BF16/Q8_0/Q8_1/Q8_K */
    uint32_t block;      /* weight elements per block (also a multiple of the act block) */
};
const struct rt_wtype *rt_wtype_get(uint32_t type);
/* Bytes of n activations of type act (n a whole number of act blocks). */
size_t rt_act_bytes(uint32_t act, size_t n);

/* The merged table for one level (NULL if the CPU lacks it), and the active one. */
const struct rt_kernels *rt_kernels_for(int level);
const struct rt_kernels *rt_kernels(void);

/* The partial tables of each variant (kernels_avx2.c, kernels_avx512.c). */
extern const struct rt_kernels rt_kernels_scalar;
extern const struct rt_kernels rt_kernels_avx2;
extern const struct rt_kernels rt_kernels_avx512;

/* Shared pieces of the reference kernels: GGML_F32x8_REDUCE of 4 accumulators of 8 lanes, and
 * ggml's vector expf one lane at a time (SiLU). */
float rt_reduce_4x8(float acc[4][8]);
/* sum + the float dot of elements [from, n) in double (the tail of the float dots). */
double rt_dot_tail(uint32_t type, double sum, const void *w, const void *a, int from, int n);
float rt_expf_ggml(float x);

/* f16 -> f32 through a 64 Ki-entry table (the scalar kernels' hot path). */
extern float rt_f16_table[65536];
static inline float rt_f16(uint16_t h) { return rt_f16_table[h]; }

#endif

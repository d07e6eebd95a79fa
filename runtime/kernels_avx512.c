/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) kernels; what is not here runs the AVX2 one.
 *
 * The same bits as the scalar reference: the 32-element blocks keep ggml's 8 lanes per block,
 * VNNI forms each block's lane sums in one instruction. (512-bit K-quant dots measured slower
 * than the AVX2 ones here, so the K-quant dots are the AVX2 ones, with VNNI's dpwssd.) */
#include <immintrin.h>
#include <string.h>

#include "kernels.h"
#include "kernels_x86.h"
#include "../common/banned.h"

/* Lane l: sum of x[4l..4l+3] * y[4l..4l+3], signed bytes (VNNI: one dpbusd). */
static inline __m256i dot_lanes(__m256i ax, __m256i x, __m256i y)
{
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, _mm256_sign_epi8(y, x));
}

/* ---- 32-element blocks: one weight block against up to 4 tokens ------------------------- */

static inline __m256 block_token(__m256i ax, __m256i qx, float d, const uint8_t *a, int b,
                                 __m256 acc)
{
    const struct block_q8_0 *y = (const struct block_q8_0 *)(const void *)a + b;
    __m256 dd = _mm256_set1_ps(d * f16(y->d));
    __m256i q = dot_lanes(ax, qx, _mm256_loadu_si256((const __m256i *)y->qs));
    return _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(q), acc);
}

SMALL_DOTN(q8_0, _mm256_loadu_si256((const __m256i *)x[i].qs))
SMALL_DOTN(q4_0, _mm256_sub_epi8(nibbles_32(x[i].qs), _mm256_set1_epi8(8)))
SMALL_DOTN(q5_0, _mm256_or_si256(nibbles_32(x[i].qs),
                                 _mm256_andnot_si256(bits_32(x[i].qh), _mm256_set1_epi8((char)0xF0))))

/* ---- 32-element blocks: tiles of 4 weight rows x 4 tokens ------------------------------- */

/* The activations as unsigned bytes (y + 128, one xor per block and token) let VNNI multiply
 * them with the signed weight codes directly; starting each product from -128 * (the lane's
 * sum of weight codes) takes the offset back out, so the lanes are the same exact integers as
 * the sign trick's, and each output's float sequence is the single dot's. */
#define SMALL_GEMM(T, CODES)                                                                     \
    static void gemm_##T(int n, const void *w, size_t w_stride, const void *a, size_t a_stride,  \
                         float *y, size_t y_stride)                                              \
    {                                                                                            \
        const uint8_t *w8 = w, *a8 = a;                                                          \
        const __m256i x80 = _mm256_set1_epi8((char)0x80);                                        \
        __m256 acc[RT_TILE][RT_TILE];                                                            \
        _Pragma("GCC unroll 4") for (int r = 0; r < RT_TILE; r++)                                \
            _Pragma("GCC unroll 4") for (int t = 0; t < RT_TILE; t++)                            \
                acc[r][t] = _mm256_setzero_ps();                                                 \
        for (int i = 0; i < n / RT_QK; i++) {                                                    \
            /* the rows' codes, offsets and scales stay in registers; per token, the 4 scale    \
             * products are one multiply, spread to each row's lanes by a shuffle (the FMA      \
             * ports are what this loop waits on) */                                             \
            __m256i wq[RT_TILE], off[RT_TILE];                                                   \
            uint64_t dbits = 0;                                                                  \
            _Pragma("GCC unroll 4") for (int r = 0; r < RT_TILE; r++) {                          \
                const struct block_##T *x = (const void *)(w8 + r * w_stride);                   \
                wq[r] = CODES;                                                                   \
                off[r] = _mm256_sub_epi32(_mm256_setzero_si256(),                                \
                                          _mm256_dpbusd_epi32(_mm256_setzero_si256(), x80, wq[r])); \
                dbits |= (uint64_t)x[i].d << (16 * r);                                           \
            }                                                                                    \
            __m128 dw = _mm_cvtph_ps(_mm_cvtsi64_si128((long long)dbits));                       \
            _Pragma("GCC unroll 4") for (int t = 0; t < RT_TILE; t++) {                          \
                const struct block_q8_0 *b = (const struct block_q8_0 *)(const void *)           \
                                                 (a8 + t * a_stride) + i;                        \
                __m256i au = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->qs), x80);  \
                __m128 p = _mm_mul_ps(dw, _mm_set1_ps(f16(b->d)));                               \
                __m256 dd = _mm256_set_m128(p, p);                                               \
                __m256 ds[RT_TILE] = { _mm256_shuffle_ps(dd, dd, 0x00), _mm256_shuffle_ps(dd, dd, 0x55), \
                                       _mm256_shuffle_ps(dd, dd, 0xAA), _mm256_shuffle_ps(dd, dd, 0xFF) }; \
                _Pragma("GCC unroll 4") for (int r = 0; r < RT_TILE; r++) {                      \
                    __m256i q = _mm256_dpbusd_epi32(off[r], au, wq[r]);                          \
                    acc[r][t] = _mm256_fmadd_ps(ds[r], _mm256_cvtepi32_ps(q), acc[r][t]);        \
                }                                                                                \
            }                                                                                    \
        }                                                                                        \
        _Pragma("GCC unroll 4") for (int r = 0; r < RT_TILE; r++)                                \
            _Pragma("GCC unroll 4") for (int t = 0; t < RT_TILE; t++)                            \
                y[t * y_stride + r] = hsum_float_8(acc[r][t]);                                   \
    }

SMALL_GEMM(q8_0, _mm256_loadu_si256((const __m256i *)x[i].qs))
SMALL_GEMM(q4_0, _mm256_sub_epi8(nibbles_32(x[i].qs), _mm256_set1_epi8(8)))
SMALL_GEMM(q5_0, _mm256_or_si256(nibbles_32(x[i].qs),
                                 _mm256_andnot_si256(bits_32(x[i].qh), _mm256_set1_epi8((char)0xF0))))
#undef SMALL_DOTN
#undef SMALL_GEMM

/* K-quant tiles (gemm_q*_K, unpack_row_q*_K): kernels_x86.h, with dpwssd. */

const struct rt_kernels rt_kernels_avx512 = {
    .dot = {
        [LM_TYPE_Q8_0] = dot_q8_0, [LM_TYPE_Q4_0] = dot_q4_0, [LM_TYPE_Q5_0] = dot_q5_0,
        [LM_TYPE_Q4_K] = dot_q4_K, [LM_TYPE_Q6_K] = dot_q6_K,   /* kernels_x86.h, with dpwssd */
    },
    .dotr = {
        [LM_TYPE_Q8_0] = dotr_q8_0, [LM_TYPE_Q4_0] = dotr_q4_0, [LM_TYPE_Q5_0] = dotr_q5_0,
        [LM_TYPE_Q4_K] = dotr_q4_K, [LM_TYPE_Q6_K] = dotr_q6_K,
    },
    .dotn = {
        [LM_TYPE_Q8_0] = dotn_q8_0, [LM_TYPE_Q4_0] = dotn_q4_0, [LM_TYPE_Q5_0] = dotn_q5_0,
    },
    .gemm = {
        [LM_TYPE_Q8_0] = gemm_q8_0, [LM_TYPE_Q4_0] = gemm_q4_0, [LM_TYPE_Q5_0] = gemm_q5_0,
        [LM_TYPE_Q2_K] = gemm_q2_K, [LM_TYPE_Q3_K] = gemm_q3_K, [LM_TYPE_Q4_K] = gemm_q4_K,
        [LM_TYPE_Q5_K] = gemm_q5_K, [LM_TYPE_Q6_K] = gemm_q6_K,
    },
    .unpack = {
        [LM_TYPE_Q2_K] = unpack_row_q2_K, [LM_TYPE_Q3_K] = unpack_row_q3_K, [LM_TYPE_Q4_K] = unpack_row_q4_K,
        [LM_TYPE_Q5_K] = unpack_row_q5_K, [LM_TYPE_Q6_K] = unpack_row_q6_K,
    },
};

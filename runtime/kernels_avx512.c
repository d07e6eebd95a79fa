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

/* ---- K-quants: tiles of 4 weight rows x 4 tokens ----------------------------------------- */

/* [sum of v[0]'s lanes, ..., sum of v[7]'s lanes]. */
static inline __m256i reduce8(const __m256i v[8])
{
    __m256i q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    __m256i q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20),
                            _mm256_permute2x128_si256(q0, q1, 0x31));
}

/* The rows arrive unpacked (struct ksb per super-block, by unpack_T once per matmul); the
 * integer sums are exact (VNNI adds the scaled pairs in one instruction), and the float
 * epilogue runs on 8 outputs at once with the single dot's operations in its order. Every
 * K-quant has either mins or a code bias (BIAS), never both, so one product of the block sums
 * serves either. */
#define KGEMM(T, UNPACK, BIAS)                                                                   \
    static void unpack_row_##T(int n, const void *w, void *out)                                      \
    {                                                                                            \
        const struct block_##T *xs = w;                                                          \
        struct ksb *bs = out;                                                                    \
        for (int i = 0; i < n / RT_QK_K; i++) {                                                  \
            const struct block_##T *x = &xs[i];                                                  \
            struct ksb *bp = &bs[i];                                                             \
            UNPACK;                                                                              \
        }                                                                                        \
    }                                                                                            \
    static void gemm_##T(int n, const void *w, size_t w_stride, const void *a, size_t a_stride,  \
                         float *y, size_t y_stride)                                              \
    {                                                                                            \
        ktile(n, w, w_stride, a, a_stride, y, y_stride, BIAS);                                   \
    }

static inline __attribute__((always_inline)) void
ktile(int n, const void *w, size_t w_stride, const void *a, size_t a_stride, float *y,
      size_t y_stride, const int bias)
{
    const uint8_t *w8 = w, *a8 = a;
    __m256 out[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() };
    for (int i = 0; i < n / RT_QK_K; i++) {
        const struct ksb *b[RT_TILE];
        const struct rt_q8_K *yq[RT_TILE];
        __m256i acc[RT_TILE][RT_TILE];
        _Pragma("GCC unroll 4") for (int r = 0; r < RT_TILE; r++)
            b[r] = (const struct ksb *)(const void *)(w8 + r * w_stride) + i;
        _Pragma("GCC unroll 4") for (int t = 0; t < RT_TILE; t++) {
            yq[t] = (const struct rt_q8_K *)(const void *)(a8 + t * a_stride) + i;
            _Pragma("GCC unroll 4") for (int r = 0; r < RT_TILE; r++)
                acc[r][t] = _mm256_setzero_si256();
        }
        for (int k = 0; k < 8; k++) {
            _Pragma("GCC unroll 4") for (int t = 0; t < RT_TILE; t++) {
                __m256i yv = _mm256_loadu_si256((const __m256i *)(yq[t]->qs + 32 * k));
                _Pragma("GCC unroll 4") for (int r = 0; r < RT_TILE; r++)
                    acc[r][t] = _mm256_dpwssd_epi32(acc[r][t],
                                    _mm256_maddubs_epi16(b[r]->q[k], yv), b[r]->sc[k]);
            }
        }
        _Pragma("GCC unroll 2") for (int h = 0; h < 2; h++) {
            __m256i v[8], m[8];
            _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
                const struct ksb *bj = b[2 * h + j / 4];
                v[j] = acc[2 * h + j / 4][j % 4];
                m[j] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)yq[j % 4]->bsums),
                                         bias ? bj->sc16 : bj->mn16);
            }
            __m256i is = reduce8(v), ms = reduce8(m);
            if (bias) {
                is = _mm256_sub_epi32(is, _mm256_mullo_epi32(ms, _mm256_set1_epi32(bias)));
                ms = _mm256_setzero_si256();
            }
            const struct ksb *b0 = b[2 * h], *b1 = b[2 * h + 1];
            __m256 d = _mm256_setr_m128(_mm_set1_ps(b0->d), _mm_set1_ps(b1->d));
            __m256 dm = _mm256_setr_m128(_mm_set1_ps(b0->dmin), _mm_set1_ps(b1->dmin));
            __m128 yd4 = _mm_setr_ps(yq[0]->d, yq[1]->d, yq[2]->d, yq[3]->d);
            __m256 yd = _mm256_setr_m128(yd4, yd4);
            __m256 res = _mm256_sub_ps(_mm256_mul_ps(_mm256_mul_ps(d, yd), _mm256_cvtepi32_ps(is)),
                                       _mm256_mul_ps(_mm256_mul_ps(dm, yd), _mm256_cvtepi32_ps(ms)));
            out[h] = _mm256_add_ps(out[h], res);
        }
    }
    float o[16];
    _mm256_storeu_ps(o, out[0]);
    _mm256_storeu_ps(o + 8, out[1]);
    for (int r = 0; r < RT_TILE; r++)
        for (int t = 0; t < RT_TILE; t++)
            y[t * y_stride + r] = o[4 * r + t];
}

KGEMM(q2_K, unpack_q2_K(x, bp), 0)
KGEMM(q3_K, unpack_q3_K(x, bp), 4)
KGEMM(q4_K, unpack_q45_K(x->d, x->dmin, x->scales, x->qs, NULL, bp), 0)
KGEMM(q5_K, unpack_q45_K(x->d, x->dmin, x->scales, x->qs, x->qh, bp), 0)
KGEMM(q6_K, unpack_q6_K(x, bp), 32)
#undef KGEMM

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

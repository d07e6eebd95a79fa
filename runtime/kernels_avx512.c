/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) kernels; what is not here runs the AVX2 one.
 *
 * The same bits as the scalar reference: the 32-element blocks keep ggml's 8 lanes per block,
 * VNNI forms each block's lane sums in one instruction. (512-bit K-quant dots measured slower
 * than the AVX2 ones here, so the K-quants stay on AVX2.) */
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
#undef SMALL_DOTN

const struct rt_kernels rt_kernels_avx512 = {
    .dot = {
        [LM_TYPE_Q8_0] = dot_q8_0, [LM_TYPE_Q4_0] = dot_q4_0, [LM_TYPE_Q5_0] = dot_q5_0,
    },
    .dotn = {
        [LM_TYPE_Q8_0] = dotn_q8_0, [LM_TYPE_Q4_0] = dotn_q4_0, [LM_TYPE_Q5_0] = dotn_q5_0,
    },
};

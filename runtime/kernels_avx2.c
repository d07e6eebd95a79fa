/* kernels_avx2.c: AVX2 + FMA + F16C kernels (this file is built with -mavx2 -mfma -mf16c).
 *
 * Every kernel gives the scalar reference's bits: the 32-element block types and the float dots
 * run ggml's AVX2 order, which the reference copies lane by lane; the K-quants add up exact
 * integer sums here and finish with the reference's scalar float expression. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "kernels_x86.h"
#include "../common/banned.h"

/* ---- activations ------------------------------------------------------------------------- */

/* 32 floats to 32 int8 (x * id, round half to even, saturate), in element order. */
static inline __m256i round_pack_32(const float *x, __m256 mul, __m256i *sum32)
{
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x), mul),
                                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8), mul),
                                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 16), mul),
                                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 24), mul),
                                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    __m256i p01 = _mm256_packs_epi32(i0, i1), p23 = _mm256_packs_epi32(i2, i3);
    __m256i b = _mm256_packs_epi16(p01, p23);
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    if (sum32)   /* sum of the saturated bytes */
        *sum32 = _mm256_madd_epi16(_mm256_set1_epi16(1),
                                   _mm256_maddubs_epi16(_mm256_set1_epi8(1), b));
    return b;
}

static inline float amax_32(const float *x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 16)));
    m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 24)));
    __m128 h = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static void quant_q8_0(const float *x, void *vy, int n)
{
    struct block_q8_0 *y = vy;
    for (int i = 0; i < n / RT_QK; i++, x += RT_QK) {
        float amax = amax_32(x);
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = lm_f32_to_f16(amax / 127.0f);
        _mm256_storeu_si256((__m256i *)y[i].qs, round_pack_32(x, _mm256_set1_ps(id), NULL));
    }
}

static void quant_q8_1(const float *x, void *vy, int n)
{
    struct rt_q8_1 *y = vy;
    for (int i = 0; i < n / RT_QK; i++, x += RT_QK) {
        float amax = amax_32(x);
        float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        __m256i sum;
        _mm256_storeu_si256((__m256i *)y[i].qs, round_pack_32(x, _mm256_set1_ps(id), &sum));
        y[i].d = lm_f32_to_f16(d);
        y[i].s = lm_f32_to_f16(d * (float)hsum_i32_8(sum));
    }
}

static void quant_q8_K(const float *x, void *vy, int n)
{
    struct rt_q8_K *y = vy;
    for (int i = 0; i < n / RT_QK_K; i++, x += RT_QK_K) {
        float max = 0.0f, amax = 0.0f;   /* as the reference: first largest |x|, NaN skipped */
        for (int j = 0; j < RT_QK_K; j++) {
            float ax = fabsf(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        memset(&y[i], 0, sizeof(y[i]));
        if (amax == 0.0f)
            continue;
        float iscale = -127.0f / max;
        for (int j = 0; j < RT_QK_K; j += 32) {
            __m256i sum;
            __m256i b = round_pack_32(x + j, _mm256_set1_ps(iscale), &sum);
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), b);
            int32_t s[8];
            _mm256_storeu_si256((__m256i *)s, sum);   /* lanes of 4 bytes each */
            y[i].bsums[j / 16] = (int16_t)(s[0] + s[1] + s[2] + s[3]);
            y[i].bsums[j / 16 + 1] = (int16_t)(s[4] + s[5] + s[6] + s[7]);
        }
        y[i].d = 1.0f / iscale;
    }
}

static void quant_f16(const float *x, void *vy, int n)
{
    uint16_t *y = vy;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = lm_f32_to_f16(x[i]);
}

/* ---- 32-element blocks ------------------------------------------------------------------- */

static inline __m256 block_token(__m256i ax, __m256i qx, float d, const uint8_t *a, int b,
                                 __m256 acc)
{
    const struct block_q8_0 *y = (const struct block_q8_0 *)(const void *)a + b;
    __m256 dd = _mm256_set1_ps(d * f16(y->d));
    __m256i y8 = _mm256_loadu_si256((const __m256i *)y->qs);
    __m256i q = _mm256_madd_epi16(_mm256_set1_epi16(1),
                                  _mm256_maddubs_epi16(ax, _mm256_sign_epi8(y8, qx)));
    return _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(q), acc);
}

SMALL_DOTN(q8_0, _mm256_loadu_si256((const __m256i *)x[i].qs))
SMALL_DOTN(q4_0, _mm256_sub_epi8(nibbles_32(x[i].qs), _mm256_set1_epi8(8)))
SMALL_DOTN(q5_0, _mm256_or_si256(nibbles_32(x[i].qs),
                                 _mm256_andnot_si256(bits_32(x[i].qh), _mm256_set1_epi8((char)0xF0))))
#undef SMALL_DOTN

/* Q4_1 and Q5_1 (qh NULL for Q4_1): unsigned codes, plus the min term through Q8_1's s. */
static inline float dot_x_1(int n, const void *w, const void *a, bool q5)
{
    const struct block_q4_1 *x4 = w;
    const struct block_q5_1 *x5 = w;
    const struct rt_q8_1 *y = a;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int i = 0; i < n / RT_QK; i++) {
        uint16_t d = q5 ? x5[i].d : x4[i].d, m = q5 ? x5[i].m : x4[i].m;
        summs += f16(m) * f16(y[i].s);
        __m256 dd = _mm256_set1_ps(f16(d) * f16(y[i].d));
        __m256i qx = nibbles_32(q5 ? x5[i].qs : x4[i].qs);
        if (q5)
            qx = _mm256_or_si256(qx, _mm256_and_si256(bits_32(x5[i].qh), _mm256_set1_epi8(0x10)));
        __m256i q = mul_sum_us8_pairs(qx, _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(q), acc);
    }
    return hsum_float_8(acc) + summs;
}

static float dot_q4_1(int n, const void *w, const void *a) { return dot_x_1(n, w, a, false); }
static float dot_q5_1(int n, const void *w, const void *a) { return dot_x_1(n, w, a, true); }

/* ---- K-quants (struct ksb and the unpackers: kernels_x86.h) ------------------------------ */

/* One weight row against 2+ activation rows (a_stride bytes apart): every super-block is
 * unpacked once for all of them. */
#define KDOTN(T, UNPACK)                                                                         \
    static void dotn_##T(int n, const void *w, const void *a, size_t a_stride, int nt,           \
                         float *out)                                                             \
    {                                                                                            \
        const struct block_##T *x = w;                                                           \
        struct ksb b;                                                                            \
        for (int t = 0; t < nt; t++)                                                             \
            out[t] = 0.0f;                                                                       \
        for (int i = 0; i < n / RT_QK_K; i++) {                                                  \
            UNPACK;                                                                              \
            for (int t = 0; t < nt; t++)                                                         \
                out[t] += ksb_dot(&b, (const struct rt_q8_K *)(const void *)                     \
                                          ((const uint8_t *)a + t * a_stride) + i);               \
        }                                                                                        \
    }
/* One token through the same unpack (the types without a fused one-token dot below). */
#define KDOT1(T)                                                                                 \
    static float dot_##T(int n, const void *w, const void *a)                                    \
    {                                                                                            \
        float r;                                                                                 \
        dotn_##T(n, w, a, 0, 1, &r);                                                             \
        return r;                                                                                \
    }

KDOTN(q2_K, unpack_q2_K(&x[i], &b))
KDOTN(q3_K, unpack_q3_K(&x[i], &b))
KDOTN(q4_K, unpack_q45_K(x[i].d, x[i].dmin, x[i].scales, x[i].qs, NULL, &b))
KDOTN(q5_K, unpack_q45_K(x[i].d, x[i].dmin, x[i].scales, x[i].qs, x[i].qh, &b))
KDOTN(q6_K, unpack_q6_K(&x[i], &b))
KDOT1(q2_K)
KDOT1(q3_K)
KDOT1(q5_K)
#undef KDOTN
#undef KDOT1

/* dot_q4_K and dot_q6_K (one token, fused unpack): kernels_x86.h. */

/* ---- float dots (4 accumulators of 8 lanes, GGML_F32x8_REDUCE, double tail) -------------- */

static inline __m256 load8(uint32_t type, const void *p, int i)
{
    if (type == LM_TYPE_F32)
        return _mm256_loadu_ps((const float *)p + i);
    __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
    if (type == LM_TYPE_F16)
        return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

static inline float dot_float(uint32_t type, int n, const void *w, const void *a)
{
    int np = n - n % 32;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (int i = 0; i < np; i += 32) {
        s0 = _mm256_fmadd_ps(load8(type, w, i), load8(type, a, i), s0);
        s1 = _mm256_fmadd_ps(load8(type, w, i + 8), load8(type, a, i + 8), s1);
        s2 = _mm256_fmadd_ps(load8(type, w, i + 16), load8(type, a, i + 16), s2);
        s3 = _mm256_fmadd_ps(load8(type, w, i + 24), load8(type, a, i + 24), s3);
    }
    double sum = 0.0;
    if (np > 0) {
        __m256 t = _mm256_add_ps(_mm256_add_ps(s0, s2), _mm256_add_ps(s1, s3));
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
        h = _mm_hadd_ps(h, h);
        sum = (double)_mm_cvtss_f32(_mm_hadd_ps(h, h));
    }
    return np == n ? (float)sum : (float)rt_dot_tail(type, sum, w, a, np, n);
}

static float dot_f32(int n, const void *w, const void *a) { return dot_float(LM_TYPE_F32, n, w, a); }
static float dot_f16(int n, const void *w, const void *a) { return dot_float(LM_TYPE_F16, n, w, a); }
static float dot_bf16(int n, const void *w, const void *a) { return dot_float(LM_TYPE_BF16, n, w, a); }

static float dot_f16_f16(int n, const uint16_t *x, const uint16_t *y)
{
    return dot_float(LM_TYPE_F16, n, x, y);
}

/* ---- attention and FFN helpers ----------------------------------------------------------- */

static void mad_f32(int n, float *y, const float *x, float v)
{
    __m256 vv = _mm256_set1_ps(v);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i),
                                              _mm256_mul_ps(_mm256_loadu_ps(x + i), vv)));
    for (; i < n; i++)
        y[i] += x[i] * v;
}

static inline __attribute__((always_inline)) void mad_f16(int n, uint16_t *y, const uint16_t *x,
                                                          float v)
{
    __m256 vv = _mm256_set1_ps(v);
    int i = 0;
    for (; i < n - n % 32; i += 8) {
        __m256 r = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))), vv,
                                   _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i))));
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++)
        y[i] = lm_f32_to_f16(f16(y[i]) + f16(x[i]) * v);
}

static inline __attribute__((always_inline)) void scale_f16(int n, uint16_t *y, float v)
{
    __m256 vv = _mm256_set1_ps(v);
    int i = 0;
    for (; i < n - n % 32; i += 8) {
        __m256 r = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i))), vv);
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++)
        y[i] = lm_f32_to_f16(f16(y[i]) * v);
}

RT_ATTEND_F16(attend_f16, dot_f16_f16, scale_f16, mad_f16)

/* ggml_v_expf, AVX2 form (ARM optimized-routines polynomial). */
static inline __m256 v_expf(__m256 x)
{
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
    const __m256 k = _mm256_castsi256_ps(_mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1))));
    const __m256i c = _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n),
                                                        _mm256_set1_ps(126), _CMP_GT_OQ));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)),
                        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
    if (!_mm256_movemask_ps(_mm256_castsi256_ps(c)))
        return _mm256_fmadd_ps(j, k, k);
    const __m256i g = _mm256_and_si256(_mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
                                       _mm256_set1_epi32((int)0x82000000u));
    const __m256 s1 = _mm256_castsi256_ps(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_sub_epi32(e, g));
    const __m256i d = _mm256_castps_si256(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.f), n),
                                                        _mm256_set1_ps(192), _CMP_GT_OQ));
    return _mm256_or_ps(
        _mm256_and_ps(_mm256_castsi256_ps(d), _mm256_mul_ps(s1, s1)),
        _mm256_andnot_ps(_mm256_castsi256_ps(d),
                         _mm256_or_ps(_mm256_and_ps(_mm256_castsi256_ps(c),
                                                    _mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1)),
                                      _mm256_andnot_ps(_mm256_castsi256_ps(c), _mm256_fmadd_ps(k, j, k)))));
}

static void swiglu(int n, float *out, const float *g, const float *u)
{
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 e = v_expf(_mm256_sub_ps(_mm256_setzero_ps(), x));
        __m256 s = _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++)
        out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

const struct rt_kernels rt_kernels_avx2 = {
    .dot = {
        [LM_TYPE_F32] = dot_f32, [LM_TYPE_F16] = dot_f16, [LM_TYPE_BF16] = dot_bf16,
        [LM_TYPE_Q4_0] = dot_q4_0, [LM_TYPE_Q4_1] = dot_q4_1, [LM_TYPE_Q5_0] = dot_q5_0,
        [LM_TYPE_Q5_1] = dot_q5_1, [LM_TYPE_Q8_0] = dot_q8_0, [LM_TYPE_Q2_K] = dot_q2_K,
        [LM_TYPE_Q3_K] = dot_q3_K, [LM_TYPE_Q4_K] = dot_q4_K, [LM_TYPE_Q5_K] = dot_q5_K,
        [LM_TYPE_Q6_K] = dot_q6_K,
    },
    .dotr = {
        [LM_TYPE_Q8_0] = dotr_q8_0, [LM_TYPE_Q4_0] = dotr_q4_0, [LM_TYPE_Q5_0] = dotr_q5_0,
        [LM_TYPE_Q4_K] = dotr_q4_K, [LM_TYPE_Q6_K] = dotr_q6_K,
    },
    .gemm = {   /* kernels_x86.h: K-quant tiles over rows unpacked once per matmul */
        [LM_TYPE_Q2_K] = gemm_q2_K, [LM_TYPE_Q3_K] = gemm_q3_K, [LM_TYPE_Q4_K] = gemm_q4_K,
        [LM_TYPE_Q5_K] = gemm_q5_K, [LM_TYPE_Q6_K] = gemm_q6_K,
    },
    .unpack = {
        [LM_TYPE_Q2_K] = unpack_row_q2_K, [LM_TYPE_Q3_K] = unpack_row_q3_K,
        [LM_TYPE_Q4_K] = unpack_row_q4_K, [LM_TYPE_Q5_K] = unpack_row_q5_K,
        [LM_TYPE_Q6_K] = unpack_row_q6_K,
    },
    .dotn = {
        [LM_TYPE_Q8_0] = dotn_q8_0, [LM_TYPE_Q4_0] = dotn_q4_0, [LM_TYPE_Q5_0] = dotn_q5_0,
        [LM_TYPE_Q2_K] = dotn_q2_K, [LM_TYPE_Q3_K] = dotn_q3_K, [LM_TYPE_Q4_K] = dotn_q4_K,
        [LM_TYPE_Q5_K] = dotn_q5_K, [LM_TYPE_Q6_K] = dotn_q6_K,
    },
    .quant = {
        [LM_TYPE_F16] = quant_f16, [LM_TYPE_Q8_0] = quant_q8_0, [LM_TYPE_Q8_1] = quant_q8_1,
        [LM_TYPE_Q8_K] = quant_q8_K,
    },
    .mad_f32 = mad_f32,
    .attend_f16 = attend_f16,
    .swiglu = swiglu,
};

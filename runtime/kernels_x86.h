/* kernels_x86.h: AVX2 helpers and the K-quant unpackers shared by kernels_avx2.c and
 * kernels_avx512.c (private to runtime/; include only from files built with at least
 * -mavx2 -mfma -mf16c). */
#ifndef LM_RUNTIME_KERNELS_X86_H
#define LM_RUNTIME_KERNELS_X86_H

#include <immintrin.h>
#include <string.h>

#include "kernels.h"

/* ---- helpers (ggml-cpu/arch/x86/quants.c) ------------------------------------------------ */

static inline float hsum_float_8(__m256 x)
{
    __m128 r = _mm256_extractf128_ps(x, 1);
    r = _mm_add_ps(r, _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

static inline int hsum_i32_8(__m256i a)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline float f16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* Low nibbles of 16 bytes, then their high nibbles: elements 0..31 of a Q4/Q5 block. */
static inline __m256i nibbles_32(const uint8_t *p)
{
    __m128i t = _mm_loadu_si128((const __m128i *)p);
    __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}

/* Byte j is 0xFF where bit j of the 32-bit word is set. */
static inline __m256i bits_32(const uint8_t *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

/* Lane l: sum of x[4l..4l+3] * y[4l..4l+3] for signed bytes, as float. */
static inline __m256i mul_sum_i8_pairs(__m256i x, __m256i y)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(_mm256_set1_epi16(1), p);
}

/* The same with x unsigned (0..31). */
static inline __m256i mul_sum_us8_pairs(__m256i x, __m256i y)
{
    return _mm256_madd_epi16(_mm256_set1_epi16(1), _mm256_maddubs_epi16(x, y));
}

/* ---- K-quants: exact integer sums, the reference's float epilogue ------------------------ */

/* A super-block unpacked for the integer dot: 8 chunks of 32 unsigned codes (0..63), the scale
 * of each chunk's two groups of 16 (int16, low and high half of sc[k]), the 16 group scales and
 * mins as int16, and the bias the codes carry (Q3_K 4, Q6_K 32), so that
 *   isum = sum_k (q_k . y_k) * sc_k - bias * sum_g sc_g * bsums_g,   msum = sum_g mn_g * bsums_g
 * equal the reference's integer sums exactly. */
struct ksb {
    __m256i q[8];
    __m256i sc[8];
    __m256i sc16, mn16;
    int bias;
    float d, dmin;
};

static_assert(sizeof(struct ksb) <= RT_UNPACKED_BYTES, "an unpacked super-block fits its room");

static inline float kfinish(float d, float dmin, const struct rt_q8_K *y, int isum, int msum)
{
    return d * y->d * (float)isum - dmin * y->d * (float)msum;
}

static inline float ksb_dot(const struct ksb *b, const struct rt_q8_K *y)
{
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
#define K2(k)                                                                                   \
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(b->q[k],               \
                            _mm256_loadu_si256((const __m256i *)(y->qs + 32 * (k)))), b->sc[k])); \
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(b->q[(k) + 1],         \
                            _mm256_loadu_si256((const __m256i *)(y->qs + 32 * (k) + 32))), b->sc[(k) + 1]))
    K2(0); K2(2); K2(4); K2(6);
#undef K2
    __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
    /* One reduction for all three sums: lanes 0, 1, 2 of the result. */
    __m256i m = _mm256_madd_epi16(bs, b->mn16), s = _mm256_madd_epi16(bs, b->sc16);
    __m256i h = _mm256_hadd_epi32(_mm256_add_epi32(acc0, acc1), m);   /* a01 a23 m01 m23 | ... */
    __m256i h2 = _mm256_hadd_epi32(h, _mm256_hadd_epi32(s, s));          /* a m s s | a m s s */
    __m128i r = _mm_add_epi32(_mm256_castsi256_si128(h2), _mm256_extracti128_si256(h2, 1));
    int isum = _mm_cvtsi128_si32(r), msum = _mm_extract_epi32(r, 1);
    if (b->bias)
        isum -= b->bias * _mm_extract_epi32(r, 2);
    return kfinish(b->d, b->dmin, y, isum, msum);
}

static inline __m256i pair_scale(int lo, int hi)
{
    return _mm256_set_m128i(_mm_set1_epi16((short)hi), _mm_set1_epi16((short)lo));
}

/* Q4_K/Q5_K scales and mins (quant-formats.md §5.1) as bytes sc[0..7], mn[0..7]. */
static inline void scale_min_k4(const uint8_t s[12], uint8_t out[16])
{
    uint32_t u[4];
    memcpy(u, s, 12);
    u[3] = ((u[2] >> 4) & 0x0f0f0f0f) | (((u[1] >> 6) & 0x03030303) << 4);
    uint32_t m = u[1] & 0x3f3f3f3f;
    u[1] = (u[2] & 0x0f0f0f0f) | (((u[0] >> 6) & 0x03030303) << 4);
    u[2] = m;
    u[0] &= 0x3f3f3f3f;
    memcpy(out, u, 16);
}

/* 8 bytes b0..b7 to 16 int16 b0 b0 b1 b1 ... (one value per group of 16). */
static inline __m256i per_group(const uint8_t b[8])
{
    __m128i v = _mm_loadl_epi64((const __m128i *)b);
    return _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(v, v));
}

/* Q4_K and Q5_K (qh NULL for Q4_K). */
static inline void unpack_q45_K(uint16_t d, uint16_t dmin, const uint8_t scales[12],
                                const uint8_t *qs, const uint8_t *qh, struct ksb *b)
{
    uint8_t sm[16];
    scale_min_k4(scales, sm);
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256i h = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        b->q[2 * c] = _mm256_and_si256(bits, m4);
        b->q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        if (qh) {
            __m256i h0 = _mm256_and_si256(_mm256_srli_epi16(h, 2 * c), one);
            __m256i h1 = _mm256_and_si256(_mm256_srli_epi16(h, 2 * c + 1), one);
            b->q[2 * c] = _mm256_or_si256(b->q[2 * c], _mm256_slli_epi16(h0, 4));
            b->q[2 * c + 1] = _mm256_or_si256(b->q[2 * c + 1], _mm256_slli_epi16(h1, 4));
        }
    }
    for (int k = 0; k < 8; k++)
        b->sc[k] = _mm256_set1_epi16(sm[k]);
    b->mn16 = per_group(sm + 8);
    b->sc16 = _mm256_setzero_si256();
    b->bias = 0;
    b->d = f16(d);
    b->dmin = f16(dmin);
}

static inline void unpack_q6_K(const struct block_q6_K *x, struct ksb *b)
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        b->q[4 * h] = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                      _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
        b->q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
        b->q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
        b->q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                          _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
    }
    for (int k = 0; k < 8; k++)
        b->sc[k] = pair_scale(x->scales[2 * k], x->scales[2 * k + 1]);
    b->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    b->mn16 = _mm256_setzero_si256();
    b->bias = 32;
    b->d = f16(x->d);
    b->dmin = 0.0f;
}

static inline void unpack_q3_K(const struct block_q3_K *x, struct ksb *b)
{
    const uint8_t *s = x->scales;
    int16_t sc[16];
    for (int g = 0; g < 16; g++) {
        int low = g < 8 ? s[g] & 0x0F : s[g - 8] >> 4;
        sc[g] = (int16_t)((low | ((s[8 + g % 4] >> (2 * (g / 4))) & 3) << 4) - 32);
    }
    const __m256i m2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256i hm = _mm256_loadu_si256((const __m256i *)x->hmask);
    for (int h = 0; h < 2; h++) {
        __m256i qs = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
        for (int j = 0; j < 4; j++) {
            __m256i low = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), m2);
            __m256i high = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), one);
            b->q[4 * h + j] = _mm256_or_si256(low, _mm256_slli_epi16(high, 2));   /* q + 4 */
        }
    }
    for (int k = 0; k < 8; k++)
        b->sc[k] = pair_scale(sc[2 * k], sc[2 * k + 1]);
    b->sc16 = _mm256_loadu_si256((const __m256i *)sc);
    b->mn16 = _mm256_setzero_si256();
    b->bias = 4;
    b->d = f16(x->d);
    b->dmin = 0.0f;
}

static inline void unpack_q2_K(const struct block_q2_K *x, struct ksb *b)
{
    const __m256i m2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        __m256i qs = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
        for (int j = 0; j < 4; j++)
            b->q[4 * h + j] = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * j), m2);
    }
    for (int k = 0; k < 8; k++)
        b->sc[k] = pair_scale(x->scales[2 * k] & 0x0F, x->scales[2 * k + 1] & 0x0F);
    __m256i s16 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)x->scales));
    b->mn16 = _mm256_srli_epi16(s16, 4);
    b->sc16 = _mm256_setzero_si256();
    b->bias = 0;
    b->d = f16(x->d);
    b->dmin = f16(x->dmin);
}

/* ---- Q4_K and Q6_K, one token ----------------------------------------------------------- */

/* acc + the pairwise products of p and s (int16) summed into int32 lanes: one VNNI
 * instruction where the file is built for it. */
static inline __m256i madd_acc(__m256i acc, __m256i p, __m256i s)
{
#ifdef __AVX512VNNI__
    return _mm256_dpwssd_epi32(acc, p, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
#endif
}

/* Q4_K and Q6_K dominate Q4_K_M models, so their one-token dots (decoding) unpack on the fly
 * instead of through struct ksb; the same integer sums, the same epilogue, with the horizontal
 * integer reductions of two super-blocks done together. */

/* Word k of each 128-bit lane broadcast over that lane (scales from a register, not from memory:
 * one shuffle instead of a scalar load and a broadcast per chunk). */
static inline __m256i word_mask(int lo, int hi)
{
    return _mm256_set_m128i(_mm_set1_epi16((short)(0x0100 + 0x0202 * hi)),
                            _mm_set1_epi16((short)(0x0100 + 0x0202 * lo)));
}

/* One Q4_K super-block: hadd of its code sums and its min sums, lanes
 * [a a m m | a a m m] whose a's add up to isum and m's to msum. */
static inline __m256i q4_K_block(const struct block_q4_K *x, const struct rt_q8_K *y,
                                 const __m256i wm[8])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    /* scale_min_k4 on the four 32-bit lanes at once: [u0 u1 u2 u3], the 8 scales then the 8
     * mins (the 16-byte load ends inside qs, within the block) */
    __m128i raw = _mm_loadu_si128((const __m128i *)x->scales);
    __m128i lo = _mm_and_si128(_mm_srlv_epi32(_mm_shuffle_epi32(raw, _MM_SHUFFLE(2, 1, 2, 0)),
                                              _mm_setr_epi32(0, 0, 0, 4)),
                               _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    __m128i hi = _mm_and_si128(_mm_srli_epi32(_mm_shuffle_epi32(raw, _MM_SHUFFLE(1, 1, 0, 0)), 2),
                               _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    __m128i u = _mm_or_si128(lo, hi);
    __m256i scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(u));
    __m128i mn = _mm_unpackhi_epi64(u, u);
    __m256i mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(mn, mn));
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
    for (int c = 0; c < 4; c++) {
        __m256i bits = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * c));
        __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(bits, m4),
                                          _mm256_loadu_si256((const __m256i *)(y->qs + 64 * c)));
        __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4),
                                          _mm256_loadu_si256((const __m256i *)(y->qs + 64 * c + 32)));
        acc0 = madd_acc(acc0, p0, _mm256_shuffle_epi8(scales, wm[2 * c]));
        acc1 = madd_acc(acc1, p1, _mm256_shuffle_epi8(scales, wm[2 * c + 1]));
    }
    __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
    return _mm256_hadd_epi32(_mm256_add_epi32(acc0, acc1), _mm256_madd_epi16(bs, mins));
}

/* Decoding streams each weight once from memory, and the hardware prefetcher alone leaves the
 * dots waiting on it: ask for the lines PF_AHEAD bytes ahead (past the row's end they are the
 * next row's, which the same thread usually reads next; a prefetch never faults). 4 KiB beat
 * 1 and 2 KiB by 6-10% streaming Q8_0 and Q6_K rows from memory on one core; 8 KiB no more. */
#define PF_AHEAD 4096
static inline void prefetch_ahead(const void *p, size_t ahead, size_t bytes)
{
    uintptr_t a = (uintptr_t)p + ahead;   /* an address, not a pointer past the array */
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch((const char *)(a + o), _MM_HINT_T0);
}

/* Lanes of two blocks' hadd vectors to [a0 m0 a1 m1]: one reduction for both blocks. */
static inline __m128i hsum_pair(__m256i h0, __m256i h1)
{
    __m256i h = _mm256_hadd_epi32(h0, h1);
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* kfinish of two super-blocks from [isum0 msum0 isum1 msum1], added to sum in order: the
 * same products and differences, four lanes at a time (the vector pipes are what the decoding
 * dots wait on; this takes a dozen scalar float steps off them). dm0 and dm1 point at each
 * block's adjacent f16 d and dmin. */
static inline float kfinish_pair(float sum, const uint16_t *dm0, const uint16_t *dm1,
                                 const struct rt_q8_K *y, __m128i r)
{
    uint32_t a, b;
    memcpy(&a, dm0, 4);
    memcpy(&b, dm1, 4);
    __m128 dm = _mm_cvtph_ps(_mm_setr_epi32((int)a, (int)b, 0, 0));    /* d0 dmin0 d1 dmin1 */
    __m128 yd = _mm_setr_ps(y[0].d, y[0].d, y[1].d, y[1].d);
    __m128 t = _mm_mul_ps(_mm_mul_ps(dm, yd), _mm_cvtepi32_ps(r));
    __m128 res = _mm_hsub_ps(t, t);
    sum += _mm_cvtss_f32(res);
    return sum + _mm_cvtss_f32(_mm_movehdup_ps(res));
}

static inline float q4_K_row(int nb, const struct block_q4_K *x, const struct rt_q8_K *y,
                             const __m256i wm[8])
{
    float sum = 0.0f;
    int i = 0;
    for (; i + 1 < nb; i += 2) {
        prefetch_ahead(&x[i], PF_AHEAD, 2 * sizeof(*x));
        __m128i r = hsum_pair(q4_K_block(&x[i], &y[i], wm), q4_K_block(&x[i + 1], &y[i + 1], wm));
        sum = kfinish_pair(sum, &x[i].d, &x[i + 1].d, &y[i], r);
    }
    if (i < nb) {
        __m256i h = q4_K_block(&x[i], &y[i], wm);
        __m128i r = hsum_pair(h, h);
        sum += kfinish(f16(x[i].d), f16(x[i].dmin), &y[i], _mm_cvtsi128_si32(r),
                       _mm_extract_epi32(r, 1));
    }
    return sum;
}

#define Q4_K_MASKS { word_mask(0, 0), word_mask(1, 1), word_mask(2, 2), word_mask(3, 3), \
                     word_mask(4, 4), word_mask(5, 5), word_mask(6, 6), word_mask(7, 7) }

static float dot_q4_K(int n, const void *w, const void *a)
{
    const __m256i wm[8] = Q4_K_MASKS;
    return q4_K_row(n / RT_QK_K, w, a, wm);
}

static void dotr_q4_K(int n, const void *w, size_t row_bytes, int rows, const void *a, float *y)
{
    const __m256i wm[8] = Q4_K_MASKS;
    for (int r = 0; r < rows; r++)
        y[r] = q4_K_row(n / RT_QK_K, (const void *)((const uint8_t *)w + r * row_bytes), a, wm);
}

/* One Q6_K super-block: 8 lanes adding up to isum - 32 * ssum (the codes' bias folded in). */
static inline __m256i q6_K_block(const struct block_q6_K *x, const struct rt_q8_K *y,
                                 const __m256i wm[4])
{
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(3);
    const int8_t *sc = x->scales;
    __m128i sc8 = _mm_loadu_si128((const __m128i *)sc);
    __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0;
    for (int h = 0; h < 2; h++) {
        __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
        __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
        __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                     _mm256_slli_epi16(_mm256_and_si256(qh, m2), 4));
        __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), 4));
        __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m2), 4));
        __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                     _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m2), 4));
        const int8_t *yq = y->qs + 128 * h;
        /* scales 8h..8h+7 as int16 in both lanes; wm[k] picks 2k (low lane), 2k+1 (high) */
        __m256i s16 = _mm256_broadcastsi128_si256(
            _mm_cvtepi8_epi16(h ? _mm_unpackhi_epi64(sc8, sc8) : sc8));
        acc0 = madd_acc(acc0, _mm256_maddubs_epi16(q0,
                   _mm256_loadu_si256((const __m256i *)yq)), _mm256_shuffle_epi8(s16, wm[0]));
        acc1 = madd_acc(acc1, _mm256_maddubs_epi16(q1,
                   _mm256_loadu_si256((const __m256i *)(yq + 32))), _mm256_shuffle_epi8(s16, wm[1]));
        acc0 = madd_acc(acc0, _mm256_maddubs_epi16(q2,
                   _mm256_loadu_si256((const __m256i *)(yq + 64))), _mm256_shuffle_epi8(s16, wm[2]));
        acc1 = madd_acc(acc1, _mm256_maddubs_epi16(q3,
                   _mm256_loadu_si256((const __m256i *)(yq + 96))), _mm256_shuffle_epi8(s16, wm[3]));
    }
    __m256i bs = _mm256_loadu_si256((const __m256i *)y->bsums);
    __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
    return _mm256_sub_epi32(_mm256_add_epi32(acc0, acc1),
                            _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
}

static inline float q6_K_row(int nb, const struct block_q6_K *x, const struct rt_q8_K *y,
                             const __m256i wm[4])
{
    float sum = 0.0f;
    int i = 0;
    for (; i + 1 < nb; i += 2) {
        prefetch_ahead(&x[i], PF_AHEAD, 2 * sizeof(*x));
        __m128i r = hsum_pair(q6_K_block(&x[i], &y[i], wm), q6_K_block(&x[i + 1], &y[i + 1], wm));
        /* kfinish with no mins, both blocks in two lanes (d * yd * isum; subtracting the zero
         * min term changes no bits of what is added to sum) */
        __m128 d = _mm_cvtph_ps(_mm_setr_epi16((short)x[i].d, (short)x[i + 1].d, 0, 0, 0, 0, 0, 0));
        __m128 t = _mm_mul_ps(_mm_mul_ps(d, _mm_setr_ps(y[i].d, y[i + 1].d, 0.0f, 0.0f)),
                              _mm_cvtepi32_ps(_mm_hadd_epi32(r, r)));
        sum += _mm_cvtss_f32(t);
        sum += _mm_cvtss_f32(_mm_movehdup_ps(t));
    }
    if (i < nb) {
        __m256i v = q6_K_block(&x[i], &y[i], wm);
        __m128i r = hsum_pair(v, v);
        r = _mm_hadd_epi32(r, r);
        sum += kfinish(f16(x[i].d), 0.0f, &y[i], _mm_cvtsi128_si32(r), 0);
    }
    return sum;
}

#define Q6_K_MASKS { word_mask(0, 1), word_mask(2, 3), word_mask(4, 5), word_mask(6, 7) }

static float dot_q6_K(int n, const void *w, const void *a)
{
    const __m256i wm[4] = Q6_K_MASKS;
    return q6_K_row(n / RT_QK_K, w, a, wm);
}

static void dotr_q6_K(int n, const void *w, size_t row_bytes, int rows, const void *a, float *y)
{
    const __m256i wm[4] = Q6_K_MASKS;
    for (int r = 0; r < rows; r++)
        y[r] = q6_K_row(n / RT_QK_K, (const void *)((const uint8_t *)w + r * row_bytes), a, wm);
}

/* ---- K-quants: tiles of 4 weight rows x 4 tokens ----------------------------------------- */

/* [sum of v[0]'s lanes, ..., sum of v[7]'s lanes]. */
static inline __m256i reduce8(const __m256i v[8])
{
    __m256i q0 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
    __m256i q1 = _mm256_hadd_epi32(_mm256_hadd_epi32(v[4], v[5]), _mm256_hadd_epi32(v[6], v[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(q0, q1, 0x20),
                            _mm256_permute2x128_si256(q0, q1, 0x31));
}

/* Rows a pass keeps in accumulators: 16 with AVX-512's 32 registers, 8 with AVX2's 16. */
#ifdef __AVX512VL__
#define KT_ROWS 4
#else
#define KT_ROWS 2
#endif

/* The rows arrive unpacked (struct ksb per super-block, by unpack_row_T once per matmul);
 * the integer sums are exact, and the float epilogue runs on 8 outputs (2 rows x 4 tokens) at
 * once with the single dot's operations in its order. Every K-quant has either mins or a code
 * bias, never both, so one product of the block sums serves either. */
static inline __attribute__((always_inline)) void
ktile(int n, const void *w, size_t w_stride, const void *a, size_t a_stride, float *y,
      size_t y_stride, const int bias)
{
    const uint8_t *w8 = w, *a8 = a;
    __m256 out[2] = { _mm256_setzero_ps(), _mm256_setzero_ps() };   /* rows 0-1, rows 2-3 */
    for (int i = 0; i < n / RT_QK_K; i++) {
        const struct rt_q8_K *yq[RT_TILE];
        _Pragma("GCC unroll 4") for (int t = 0; t < RT_TILE; t++)
            yq[t] = (const struct rt_q8_K *)(const void *)(a8 + t * a_stride) + i;
        _Pragma("GCC unroll 2") for (int r0 = 0; r0 < RT_TILE; r0 += KT_ROWS) {
            const struct ksb *b[KT_ROWS];
            __m256i acc[KT_ROWS][RT_TILE];
            _Pragma("GCC unroll 4") for (int r = 0; r < KT_ROWS; r++) {
                b[r] = (const struct ksb *)(const void *)(w8 + (r0 + r) * w_stride) + i;
                _Pragma("GCC unroll 4") for (int t = 0; t < RT_TILE; t++)
                    acc[r][t] = _mm256_setzero_si256();
            }
            for (int k = 0; k < 8; k++) {
                _Pragma("GCC unroll 4") for (int t = 0; t < RT_TILE; t++) {
                    __m256i yv = _mm256_loadu_si256((const __m256i *)(yq[t]->qs + 32 * k));
                    _Pragma("GCC unroll 4") for (int r = 0; r < KT_ROWS; r++)
                        acc[r][t] = madd_acc(acc[r][t], _mm256_maddubs_epi16(b[r]->q[k], yv),
                                             b[r]->sc[k]);
                }
            }
            _Pragma("GCC unroll 2") for (int p = 0; p < KT_ROWS; p += 2) {
                __m256i v[8], m[8];
                _Pragma("GCC unroll 8") for (int j = 0; j < 8; j++) {
                    const struct ksb *bj = b[p + j / 4];
                    v[j] = acc[p + j / 4][j % 4];
                    m[j] = _mm256_madd_epi16(
                        _mm256_loadu_si256((const __m256i *)yq[j % 4]->bsums),
                        bias ? bj->sc16 : bj->mn16);
                }
                __m256i is = reduce8(v), ms = reduce8(m);
                if (bias) {
                    is = _mm256_sub_epi32(is, _mm256_mullo_epi32(ms, _mm256_set1_epi32(bias)));
                    ms = _mm256_setzero_si256();
                }
                const struct ksb *b0 = b[p], *b1 = b[p + 1];
                __m256 d = _mm256_setr_m128(_mm_set1_ps(b0->d), _mm_set1_ps(b1->d));
                __m256 dm = _mm256_setr_m128(_mm_set1_ps(b0->dmin), _mm_set1_ps(b1->dmin));
                __m128 yd4 = _mm_setr_ps(yq[0]->d, yq[1]->d, yq[2]->d, yq[3]->d);
                __m256 yd = _mm256_setr_m128(yd4, yd4);
                __m256 res = _mm256_sub_ps(
                    _mm256_mul_ps(_mm256_mul_ps(d, yd), _mm256_cvtepi32_ps(is)),
                    _mm256_mul_ps(_mm256_mul_ps(dm, yd), _mm256_cvtepi32_ps(ms)));
                out[(r0 + p) / 2] = _mm256_add_ps(out[(r0 + p) / 2], res);
            }
        }
    }
    float o[16];
    _mm256_storeu_ps(o, out[0]);
    _mm256_storeu_ps(o + 8, out[1]);
    for (int r = 0; r < RT_TILE; r++)
        for (int t = 0; t < RT_TILE; t++)
            y[t * y_stride + r] = o[4 * r + t];
}

#define KGEMM(T, UNPACK, BIAS)                                                                   \
    static void unpack_row_##T(int n, const void *w, void *out)                                  \
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
KGEMM(q2_K, unpack_q2_K(x, bp), 0)
KGEMM(q3_K, unpack_q3_K(x, bp), 4)
KGEMM(q4_K, unpack_q45_K(x->d, x->dmin, x->scales, x->qs, NULL, bp), 0)
KGEMM(q5_K, unpack_q45_K(x->d, x->dmin, x->scales, x->qs, x->qh, bp), 0)
KGEMM(q6_K, unpack_q6_K(x, bp), 32)
#undef KGEMM

/* ---- 32-element blocks ------------------------------------------------------------------- */

/* Q8_0, Q4_0, Q5_0 against Q8_0: one token (one row, or a thread's rows for decoding), or exactly
 * 4 (each weight block decoded once for all four), accumulators in registers. The including file defines block_token(ax, qx, d, a, b,
 * acc): acc += d * d_b * the 8 lane sums of block b of activation row a. */
#define SMALL_DOTN(T, CODES)                                                                    \
    static float dot_##T(int n, const void *w, const void *a)                                   \
    {                                                                                           \
        const struct block_##T *x = w;                                                          \
        __m256 acc = _mm256_setzero_ps();                                                       \
        for (int i = 0; i < n / RT_QK; i++) {                                                   \
            __m256i qx = CODES;                                                                 \
            acc = block_token(_mm256_sign_epi8(qx, qx), qx, f16(x[i].d), a, i, acc);            \
        }                                                                                       \
        return hsum_float_8(acc);                                                               \
    }                                                                                           \
    static void dotr_##T(int n, const void *w, size_t row_bytes, int rows, const void *a,       \
                         float *y)                                                              \
    {                                                                                           \
        for (int r = 0; r < rows; r++) {                                                        \
            const struct block_##T *x = (const void *)((const uint8_t *)w + r * row_bytes);     \
            __m256 acc = _mm256_setzero_ps();                                                   \
            for (int i = 0; i < n / RT_QK; i++) {                                               \
                prefetch_ahead(&x[i], PF_AHEAD, 1);   /* a block is under a line */             \
                __m256i qx = CODES;                                                             \
                acc = block_token(_mm256_sign_epi8(qx, qx), qx, f16(x[i].d), a, i, acc);        \
            }                                                                                   \
            y[r] = hsum_float_8(acc);                                                           \
        }                                                                                       \
    }                                                                                           \
    static void dotn_##T(int n, const void *w, const void *a, size_t a_stride, int nt,          \
                         float *out)                                                            \
    {                                                                                           \
        const struct block_##T *x = w;                                                          \
        const uint8_t *a8 = a;                                                                  \
        if (nt != 4) {                                                                          \
            for (int t = 0; t < nt; t++)                                                        \
                out[t] = dot_##T(n, w, a8 + t * a_stride);                                      \
            return;                                                                             \
        }                                                                                       \
        __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;                             \
        for (int i = 0; i < n / RT_QK; i++) {                                                   \
            __m256i qx = CODES, ax = _mm256_sign_epi8(qx, qx);                                  \
            float d = f16(x[i].d);                                                              \
            c0 = block_token(ax, qx, d, a8, i, c0);                                             \
            c1 = block_token(ax, qx, d, a8 + a_stride, i, c1);                                  \
            c2 = block_token(ax, qx, d, a8 + 2 * a_stride, i, c2);                              \
            c3 = block_token(ax, qx, d, a8 + 3 * a_stride, i, c3);                              \
        }                                                                                       \
        out[0] = hsum_float_8(c0);                                                              \
        out[1] = hsum_float_8(c1);                                                              \
        out[2] = hsum_float_8(c2);                                                              \
        out[3] = hsum_float_8(c3);                                                              \
    }

#endif

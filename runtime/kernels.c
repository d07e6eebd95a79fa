/* kernels.c: the scalar reference kernels (activation quantizers, dot products) and the choice
 * of instruction set.
 *
 * Quantized weights are multiplied the way ggml does it: the activations are quantized to the
 * weight type's partner (Q8_0, Q8_1 or Q8_K) and the products are summed in integers per block.
 * Every block is first unpacked to signed codes and integer scales (struct unpacked), so two
 * integer dots (32-element blocks, 256-element super-blocks) serve all ten block types. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "../common/banned.h"

float rt_f16_table[65536];

/* ---- activations ------------------------------------------------------------------------- */

static int8_t sat8(long v)
{
    return (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
}

static void quant_f32(const float *x, void *y, int n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

static void quant_f16(const float *x, void *y, int n)
{
    lm_f32_to_f16_row(x, y, (size_t)n);
}

static void quant_bf16(const float *x, void *y, int n)
{
    lm_f32_to_bf16_row(x, y, (size_t)n);
}

/* As ggml's x86 quantize_row_q8_0: multiply by 127/amax (not divide by d), round half to even. */
static void quant_q8_0(const float *x, void *vy, int n)
{
    struct block_q8_0 *y = vy;
    for (int i = 0; i < n / RT_QK; i++, x += RT_QK) {
        float amax = 0.0f;
        for (int j = 0; j < RT_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = lm_f32_to_f16(amax / 127.0f);
        for (int j = 0; j < RT_QK; j++)
            y[i].qs[j] = sat8(lrintf(x[j] * id));
    }
}

static void quant_q8_1(const float *x, void *vy, int n)
{
    struct rt_q8_1 *y = vy;
    for (int i = 0; i < n / RT_QK; i++, x += RT_QK) {
        float amax = 0.0f;
        for (int j = 0; j < RT_QK; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f;
        float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < RT_QK; j++) {
            y[i].qs[j] = sat8(lrintf(x[j] * id));
            sum += y[i].qs[j];
        }
        y[i].d = lm_f32_to_f16(d);
        y[i].s = lm_f32_to_f16(d * (float)sum);
    }
}

/* As ggml's quantize_row_q8_K_ref: scale by the signed extreme so it maps to -127. */
static void quant_q8_K(const float *x, void *vy, int n)
{
    struct rt_q8_K *y = vy;
    for (int i = 0; i < n / RT_QK_K; i++, x += RT_QK_K) {
        float max = 0.0f, amax = 0.0f;
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
        for (int j = 0; j < RT_QK_K; j++)
            y[i].qs[j] = sat8(lrintf(iscale * x[j]));
        for (int j = 0; j < RT_QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++)
                sum += y[i].qs[j * 16 + k];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ---- unpacking weight blocks (layouts: quantize/quantize.h) ------------------------------------------------------------- */

/* One block as value = d * sc[g] * q[i] - dmin * mn[g] (+ m for Q4_1/Q5_1), g the group of
 * `group` elements holding i. */
struct unpacked {
    int8_t q[RT_QK_K];
    int16_t sc[16];
    int16_t mn[16];
    float d, dmin, m;
    int n, group;
};

static void unpack_q4_0(const void *p, struct unpacked *u)
{
    const struct block_q4_0 *b = p;
    for (int j = 0; j < 16; j++) {
        u->q[j] = (int8_t)((b->qs[j] & 0x0F) - 8);
        u->q[j + 16] = (int8_t)((b->qs[j] >> 4) - 8);
    }
    u->d = rt_f16(b->d);
    u->m = 0.0f;
}

static void unpack_q4_1(const void *p, struct unpacked *u)
{
    const struct block_q4_1 *b = p;
    for (int j = 0; j < 16; j++) {
        u->q[j] = (int8_t)(b->qs[j] & 0x0F);
        u->q[j + 16] = (int8_t)(b->qs[j] >> 4);
    }
    u->d = rt_f16(b->d);
    u->m = rt_f16(b->m);
}

static void unpack_q5(const uint8_t qh4[4], const uint8_t qs[16], int bias, int8_t *q)
{
    uint32_t qh = (uint32_t)qh4[0] | (uint32_t)qh4[1] << 8 | (uint32_t)qh4[2] << 16 |
                  (uint32_t)qh4[3] << 24;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        q[j] = (int8_t)(lo - bias);
        q[j + 16] = (int8_t)(hi - bias);
    }
}

static void unpack_q5_0(const void *p, struct unpacked *u)
{
    const struct block_q5_0 *b = p;
    unpack_q5(b->qh, b->qs, 16, u->q);
    u->d = rt_f16(b->d);
    u->m = 0.0f;
}

static void unpack_q5_1(const void *p, struct unpacked *u)
{
    const struct block_q5_1 *b = p;
    unpack_q5(b->qh, b->qs, 0, u->q);
    u->d = rt_f16(b->d);
    u->m = rt_f16(b->m);
}

static void unpack_q8_0(const void *p, struct unpacked *u)
{
    const struct block_q8_0 *b = p;
    memcpy(u->q, b->qs, 32);
    u->d = rt_f16(b->d);
    u->m = 0.0f;
}

static void unpack_q2_K(const void *p, struct unpacked *u)
{
    const struct block_q2_K *b = p;
    for (int i = 0; i < RT_QK_K; i++) {
        int half = i / 128, r = i % 128;           /* 4 shifts of 32 per half */
        int shift = 2 * (r / 32), l = r % 32;
        u->q[i] = (int8_t)((b->qs[32 * half + l] >> shift) & 3);
    }
    for (int g = 0; g < 16; g++) {
        u->sc[g] = b->scales[g] & 0x0F;
        u->mn[g] = b->scales[g] >> 4;
    }
    u->d = rt_f16(b->d);
    u->dmin = rt_f16(b->dmin);
}

static void unpack_q3_K(const void *p, struct unpacked *u)
{
    const struct block_q3_K *b = p;
    for (int i = 0; i < RT_QK_K; i++) {
        int half = i / 128, r = i % 128;
        int j = r / 32, l = r % 32;
        int low = (b->qs[32 * half + l] >> (2 * j)) & 3;
        int high = (b->hmask[l] >> (4 * half + j)) & 1;
        u->q[i] = (int8_t)(low - (high ? 0 : 4));
    }
    /* 16 six-bit scales: low 4 bits in bytes 0-7 (two per byte), high 2 bits in bytes 8-11. */
    const uint8_t *s = b->scales;
    for (int g = 0; g < 16; g++) {
        int low = g < 8 ? s[g] & 0x0F : s[g - 8] >> 4;
        int high = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
        u->sc[g] = (int16_t)((low | high << 4) - 32);
        u->mn[g] = 0;
    }
    u->d = rt_f16(b->d);
    u->dmin = 0.0f;
}

/* The 12-byte 6-bit scale/min packing of Q4_K and Q5_K (quant-formats.md §5.1). */
static void unpack_scale_min_k4(const uint8_t s[12], struct unpacked *u)
{
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        if (j < 4) {
            sc = s[j] & 63;
            mn = s[j + 4] & 63;
        } else {
            sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
            mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        }
        u->sc[2 * j] = u->sc[2 * j + 1] = (int16_t)sc;
        u->mn[2 * j] = u->mn[2 * j + 1] = (int16_t)mn;
    }
}

static void unpack_q4_K(const void *p, struct unpacked *u)
{
    const struct block_q4_K *b = p;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            u->q[64 * c + l] = (int8_t)(b->qs[32 * c + l] & 0x0F);
            u->q[64 * c + 32 + l] = (int8_t)(b->qs[32 * c + l] >> 4);
        }
    unpack_scale_min_k4(b->scales, u);
    u->d = rt_f16(b->d);
    u->dmin = rt_f16(b->dmin);
}

static void unpack_q5_K(const void *p, struct unpacked *u)
{
    const struct block_q5_K *b = p;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            int h0 = (b->qh[l] >> (2 * c)) & 1, h1 = (b->qh[l] >> (2 * c + 1)) & 1;
            u->q[64 * c + l] = (int8_t)((b->qs[32 * c + l] & 0x0F) | h0 << 4);
            u->q[64 * c + 32 + l] = (int8_t)((b->qs[32 * c + l] >> 4) | h1 << 4);
        }
    unpack_scale_min_k4(b->scales, u);
    u->d = rt_f16(b->d);
    u->dmin = rt_f16(b->dmin);
}

static void unpack_q6_K(const void *p, struct unpacked *u)
{
    const struct block_q6_K *b = p;
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
            int8_t *q = u->q + 128 * h;
            q[l] = (int8_t)(((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32);
            q[l + 32] = (int8_t)(((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32);
            q[l + 64] = (int8_t)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
            q[l + 96] = (int8_t)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
        }
    for (int g = 0; g < 16; g++) {
        u->sc[g] = b->scales[g];
        u->mn[g] = 0;
    }
    u->d = rt_f16(b->d);
    u->dmin = 0.0f;
}

typedef void (*unpack_fn)(const void *p, struct unpacked *u);

struct block_kind {
    unpack_fn unpack;
    int n;            /* elements per block */
    int size;         /* bytes per block */
};

static const struct block_kind block_kinds[LM_TYPE_COUNT] = {
    [LM_TYPE_Q4_0] = { unpack_q4_0, RT_QK, sizeof(struct block_q4_0) },
    [LM_TYPE_Q4_1] = { unpack_q4_1, RT_QK, sizeof(struct block_q4_1) },
    [LM_TYPE_Q5_0] = { unpack_q5_0, RT_QK, sizeof(struct block_q5_0) },
    [LM_TYPE_Q5_1] = { unpack_q5_1, RT_QK, sizeof(struct block_q5_1) },
    [LM_TYPE_Q8_0] = { unpack_q8_0, RT_QK, sizeof(struct block_q8_0) },
    [LM_TYPE_Q2_K] = { unpack_q2_K, RT_QK_K, sizeof(struct block_q2_K) },
    [LM_TYPE_Q3_K] = { unpack_q3_K, RT_QK_K, sizeof(struct block_q3_K) },
    [LM_TYPE_Q4_K] = { unpack_q4_K, RT_QK_K, sizeof(struct block_q4_K) },
    [LM_TYPE_Q5_K] = { unpack_q5_K, RT_QK_K, sizeof(struct block_q5_K) },
    [LM_TYPE_Q6_K] = { unpack_q6_K, RT_QK_K, sizeof(struct block_q6_K) },
};

/* ---- dot products ------------------------------------------------------------------------ */

/* Float dot products in llama.cpp's x86 order (ggml_vec_dot_f32/_f16, AVX2 build): four
 * accumulators of 8 lanes over blocks of 32 with fused multiply-adds, reduced as
 * GGML_F32x8_REDUCE, the tail summed in double. F16 weights (ffn_down rows no quant type fits)
 * and the F16 KV cache go through it, and the SIMD kernels reproduce it bit for bit. */
static inline float load_elt(uint32_t type, const void *p, int i)
{
    if (type == LM_TYPE_F32)
        return ((const float *)p)[i];
    if (type == LM_TYPE_F16)
        return rt_f16(((const uint16_t *)p)[i]);
    return lm_bf16_to_f32(((const uint16_t *)p)[i]);
}

float rt_reduce_4x8(float acc[4][8])
{
    float t[8], h[4];
    for (int l = 0; l < 8; l++)
        t[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
    for (int i = 0; i < 4; i++)
        h[i] = t[i] + t[4 + i];
    return (h[0] + h[1]) + (h[2] + h[3]);
}

static float dot_float(uint32_t type, int n, const void *w, const void *a)
{
    int np = n - n % 32;
    float acc[4][8] = { { 0 } };
    for (int i = 0; i < np; i += 32)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 8; l++) {
                int k = i + 8 * j + l;
                acc[j][l] = fmaf(load_elt(type, w, k), load_elt(type, a, k), acc[j][l]);
            }
    double sum = np > 0 ? (double)rt_reduce_4x8(acc) : 0.0;
    return (float)rt_dot_tail(type, sum, w, a, np, n);
}

double rt_dot_tail(uint32_t type, double sum, const void *w, const void *a, int from, int n)
{
    for (int i = from; i < n; i++)
        sum += (double)(load_elt(type, w, i) * load_elt(type, a, i));
    return sum;
}

static float dot_f32(int n, const void *w, const void *a) { return dot_float(LM_TYPE_F32, n, w, a); }
static float dot_f16(int n, const void *w, const void *a) { return dot_float(LM_TYPE_F16, n, w, a); }
static float dot_bf16(int n, const void *w, const void *a) { return dot_float(LM_TYPE_BF16, n, w, a); }

/* ggml's AVX2 horizontal sum of 8 lanes: (l0+l4 + l2+l6) + (l1+l5 + l3+l7). */
static float hsum8(const float v[8])
{
    float s0 = v[4] + v[0], s1 = v[5] + v[1], s2 = v[6] + v[2], s3 = v[7] + v[3];
    return (s0 + s2) + (s1 + s3);
}

/* 32-element weight blocks against Q8_0 (symmetric types) or Q8_1 (types with a min).
 * The sum runs in ggml's order, 8 lanes of 4 elements each with one fused multiply-add per
 * block and lane, so results are bit-identical to llama.cpp's x86 kernels (its vec_dot and
 * its tinyBLAS gemm agree on this order) and an activation that sits on a rounding boundary
 * in the next layer falls on the same side. */
static float dot_small(uint32_t type, int n, const void *w, const void *a)
{
    const struct block_kind *k = &block_kinds[type];
    const uint8_t *p = w;
    struct unpacked u;
    float lanes[8] = { 0 }, summs = 0.0f;
    bool with_min = type == LM_TYPE_Q4_1 || type == LM_TYPE_Q5_1;
    for (int b = 0; b < n / RT_QK; b++, p += k->size) {
        k->unpack(p, &u);
        const int8_t *aq;
        float ad;
        if (with_min) {
            const struct rt_q8_1 *y = (const struct rt_q8_1 *)a + b;
            aq = y->qs;
            ad = rt_f16(y->d);
            summs += u.m * rt_f16(y->s);
        } else {
            const struct block_q8_0 *y = (const struct block_q8_0 *)a + b;
            aq = y->qs;
            ad = rt_f16(y->d);
        }
        float d = u.d * ad;
        for (int l = 0; l < 8; l++) {
            int s = 0;
            for (int i = 4 * l; i < 4 * l + 4; i++)
                s += u.q[i] * aq[i];
            lanes[l] = fmaf(d, (float)s, lanes[l]);
        }
    }
    return hsum8(lanes) + summs;
}

/* 256-element super-blocks against Q8_K: sum_g d*sc[g]*(q.a)_g - dmin*mn[g]*bsums[g]. */
static float dot_k(uint32_t type, int n, const void *w, const void *a)
{
    const struct block_kind *k = &block_kinds[type];
    const uint8_t *p = w;
    const struct rt_q8_K *y = a;
    struct unpacked u;
    float sum = 0.0f;
    for (int b = 0; b < n / RT_QK_K; b++, p += k->size, y++) {
        k->unpack(p, &u);
        int isum = 0, msum = 0;
        for (int g = 0; g < 16; g++) {
            int gs = 0;
            for (int i = 0; i < 16; i++)
                gs += u.q[16 * g + i] * y->qs[16 * g + i];
            isum += u.sc[g] * gs;
            msum += u.mn[g] * y->bsums[g];
        }
        sum += u.d * y->d * (float)isum - u.dmin * y->d * (float)msum;
    }
    return sum;
}

#define DOT_SMALL(T) static float dot_##T(int n, const void *w, const void *a) { return dot_small(LM_TYPE_##T, n, w, a); }
#define DOT_K(T) static float dot_##T(int n, const void *w, const void *a) { return dot_k(LM_TYPE_##T, n, w, a); }
DOT_SMALL(Q4_0) DOT_SMALL(Q4_1) DOT_SMALL(Q5_0) DOT_SMALL(Q5_1) DOT_SMALL(Q8_0)
DOT_K(Q2_K) DOT_K(Q3_K) DOT_K(Q4_K) DOT_K(Q5_K) DOT_K(Q6_K)
#undef DOT_SMALL
#undef DOT_K

/* ---- attention and FFN helpers ----------------------------------------------------------- */

static void mad_f32(int n, float *y, const float *x, float v)
{
    for (int i = 0; i < n; i++)
        y[i] += x[i] * v;
}

/* As ggml_vec_mad_f16: fused in blocks of 32, y + x*v rounded twice for the tail. */
static void mad_f16(int n, uint16_t *y, const uint16_t *x, float v)
{
    int i = 0;
    for (; i < n - n % 32; i++)
        y[i] = lm_f32_to_f16(fmaf(rt_f16(x[i]), v, rt_f16(y[i])));
    for (; i < n; i++)
        y[i] = lm_f32_to_f16(rt_f16(y[i]) + rt_f16(x[i]) * v);
}

static void scale_f16(int n, uint16_t *y, float v)
{
    for (int i = 0; i < n; i++)
        y[i] = lm_f32_to_f16(rt_f16(y[i]) * v);
}

static float dot_f16_f16(int n, const uint16_t *x, const uint16_t *y)
{
    return dot_f16(n, x, y);
}

RT_ATTEND_F16(attend_f16, dot_f16_f16, scale_f16, mad_f16)

/* Bit casts for the exponent tricks of rt_expf_ggml. */
union f32u {
    float f;
    uint32_t u;
};

/* ggml's vector expf (ARM optimized-routines polynomial, max error 1.45 ulp; the AVX2 form)
 * one lane at a time. llama.cpp's SiLU runs it on all but the last n % 8 elements of a row,
 * and a result an ulp away from libm's can move a quantized activation across a rounding
 * boundary of the next matmul. */
float rt_expf_ggml(float x)
{
    const float r = 0x1.8p23f;
    float z = fmaf(x, 0x1.715476p+0f, r);
    float n = z - r;
    float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    float u = b * b;
    float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
                        fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                   u, 0x1.ffffecp-1f * b);
    union f32u zb = { .f = z }, k = { .u = (zb.u << 23) + 0x3F800000u };   /* 2^n */
    uint32_t e = zb.u << 23;
    if (!(fabsf(n) > 126))
        return fmaf(j, k.f, k.f);
    uint32_t g = n <= 0 ? 0x82000000u : 0;   /* scale in two steps near the float limits */
    union f32u s1 = { .u = g + 0x7F000000u }, s2 = { .u = e - g };
    if (fabsf(n) > 192)
        return s1.f * s1.f;
    return fmaf(s2.f, j, s2.f) * s1.f;
}

/* One row: out = silu(g) * u, as ggml_vec_swiglu_f32 (vector expf, libm for the tail). */
static void swiglu(int n, float *out, const float *g, const float *u)
{
    int i = 0;
    for (; i < n - n % 8; i++)
        out[i] = g[i] / (1.0f + rt_expf_ggml(0.0f - g[i])) * u[i];
    for (; i < n; i++)
        out[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

const struct rt_kernels rt_kernels_scalar = {
    .dot = {
        [LM_TYPE_F32] = dot_f32, [LM_TYPE_F16] = dot_f16, [LM_TYPE_BF16] = dot_bf16,
        [LM_TYPE_Q4_0] = dot_Q4_0, [LM_TYPE_Q4_1] = dot_Q4_1, [LM_TYPE_Q5_0] = dot_Q5_0,
        [LM_TYPE_Q5_1] = dot_Q5_1, [LM_TYPE_Q8_0] = dot_Q8_0, [LM_TYPE_Q2_K] = dot_Q2_K,
        [LM_TYPE_Q3_K] = dot_Q3_K, [LM_TYPE_Q4_K] = dot_Q4_K, [LM_TYPE_Q5_K] = dot_Q5_K,
        [LM_TYPE_Q6_K] = dot_Q6_K,
    },
    .quant = {
        [LM_TYPE_F32] = quant_f32, [LM_TYPE_F16] = quant_f16, [LM_TYPE_BF16] = quant_bf16,
        [LM_TYPE_Q8_0] = quant_q8_0, [LM_TYPE_Q8_1] = quant_q8_1, [LM_TYPE_Q8_K] = quant_q8_K,
    },
    .mad_f32 = mad_f32,
    .attend_f16 = attend_f16,
    .swiglu = swiglu,
};

/* ---- weight types ------------------------------------------------------------------------ */

static const struct rt_wtype wtypes[LM_TYPE_COUNT] = {
    [LM_TYPE_F32] = { LM_TYPE_F32, 1 },    [LM_TYPE_F16] = { LM_TYPE_F16, 1 },
    [LM_TYPE_BF16] = { LM_TYPE_BF16, 1 },  [LM_TYPE_Q4_0] = { LM_TYPE_Q8_0, RT_QK },
    [LM_TYPE_Q4_1] = { LM_TYPE_Q8_1, RT_QK }, [LM_TYPE_Q5_0] = { LM_TYPE_Q8_0, RT_QK },
    [LM_TYPE_Q5_1] = { LM_TYPE_Q8_1, RT_QK }, [LM_TYPE_Q8_0] = { LM_TYPE_Q8_0, RT_QK },
    [LM_TYPE_Q2_K] = { LM_TYPE_Q8_K, RT_QK_K }, [LM_TYPE_Q3_K] = { LM_TYPE_Q8_K, RT_QK_K },
    [LM_TYPE_Q4_K] = { LM_TYPE_Q8_K, RT_QK_K }, [LM_TYPE_Q5_K] = { LM_TYPE_Q8_K, RT_QK_K },
    [LM_TYPE_Q6_K] = { LM_TYPE_Q8_K, RT_QK_K },
};

const struct rt_wtype *rt_wtype_get(uint32_t type)
{
    if (type >= LM_TYPE_COUNT || wtypes[type].block == 0)
        return NULL;
    return &wtypes[type];
}

size_t rt_act_bytes(uint32_t act, size_t n)
{
    switch (act) {
    case LM_TYPE_F32: return n * sizeof(float);
    case LM_TYPE_F16:
    case LM_TYPE_BF16: return n * sizeof(uint16_t);
    case LM_TYPE_Q8_0: return n / RT_QK * sizeof(struct block_q8_0);
    case LM_TYPE_Q8_1: return n / RT_QK * sizeof(struct rt_q8_1);
    case LM_TYPE_Q8_K: return n / RT_QK_K * sizeof(struct rt_q8_K);
    }
    return 0;
}

/* ---- instruction sets -------------------------------------------------------------------- */

#define N_LEVELS 3

static struct rt_kernels merged[N_LEVELS];
static bool have[N_LEVELS];
static int active;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* base, with every kernel `fast` has put in its place. */
static void merge(struct rt_kernels *out, const struct rt_kernels *base,
                  const struct rt_kernels *fast)
{
    *out = *base;
    for (int t = 0; t < LM_TYPE_COUNT; t++) {
        if (fast->dot[t])
            out->dot[t] = fast->dot[t];
        if (fast->dotn[t])
            out->dotn[t] = fast->dotn[t];
        if (fast->dotr[t])
            out->dotr[t] = fast->dotr[t];
        if (fast->gemm[t]) {   /* a gemm and the form it reads come together */
            out->gemm[t] = fast->gemm[t];
            out->unpack[t] = fast->unpack[t];
        }
        if (fast->quant[t])
            out->quant[t] = fast->quant[t];
    }
#define TAKE(f) if (fast->f) out->f = fast->f
    TAKE(mad_f32);
    TAKE(attend_f16);
    TAKE(swiglu);
#undef TAKE
}

static void init(void)
{
    for (uint32_t h = 0; h < 65536; h++)
        rt_f16_table[h] = lm_f16_to_f32((uint16_t)h);
    int best = lm_cpu_best();
    have[LM_CPU_SCALAR] = true;
    have[LM_CPU_AVX2] = best >= LM_CPU_AVX2;
    /* Our AVX-512 file is built with -mavx512vnni, so it needs VNNI too. */
    __builtin_cpu_init();
    have[LM_CPU_AVX512] = best >= LM_CPU_AVX512 && __builtin_cpu_supports("avx512vnni");
    merged[LM_CPU_SCALAR] = rt_kernels_scalar;
    merge(&merged[LM_CPU_AVX2], &rt_kernels_scalar, &rt_kernels_avx2);
    /* AVX-512 builds on AVX2: what it does not speed up runs the AVX2 kernel. */
    merge(&merged[LM_CPU_AVX512], &merged[LM_CPU_AVX2], &rt_kernels_avx512);
    active = lm_cpu_level();
    while (!have[active])
        active--;
}

const char *lm_kernels_name(int level)
{
    switch (level) {
    case LM_CPU_SCALAR: return "scalar";
    case LM_CPU_AVX2: return "avx2";
    case LM_CPU_AVX512: return "avx512";
    }
    return "?";
}

bool lm_kernels_can(int level)
{
    pthread_once(&once, init);
    return level >= 0 && level < N_LEVELS && have[level];
}

int lm_kernels_level(void)
{
    pthread_once(&once, init);
    return active;
}

int lm_kernels_set_level(int level, struct lm_err *err)
{
    if (!lm_kernels_can(level))
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "this CPU cannot run the %s kernels", lm_kernels_name(level));
    active = level;
    return 0;
}

const struct rt_kernels *rt_kernels_for(int level)
{
    if (!lm_kernels_can(level))
        return NULL;
    return &merged[level];
}

const struct rt_kernels *rt_kernels(void)
{
    pthread_once(&once, init);
    return &merged[active];
}

/* dequant.c: block types back to floats, with ggml's dequantize_row_* arithmetic (same products
 * in the same order, so the floats match llama.cpp's bit for bit). */
#include <string.h>

#include "quantize.h"
#include "../common/banned.h"

static void dq_q4_0(const struct block_q4_0 *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = lm_f16_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = ((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

static void dq_q4_1(const struct block_q4_1 *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = lm_f16_to_f32(x[i].d), m = lm_f16_to_f32(x[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (x[i].qs[j] & 0x0F) * d + m;
            y[j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

static void dq_q5_0(const struct block_q5_0 *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = lm_f16_to_f32(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            const int h0 = ((qh >> j) << 4) & 0x10;
            const int h1 = (qh >> (j + 12)) & 0x10;
            y[j] = (((x[i].qs[j] & 0x0F) | h0) - 16) * d;
            y[j + 16] = (((x[i].qs[j] >> 4) | h1) - 16) * d;
        }
    }
}

static void dq_q5_1(const struct block_q5_1 *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = lm_f16_to_f32(x[i].d), m = lm_f16_to_f32(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < 16; j++) {
            const int h0 = ((qh >> j) << 4) & 0x10;
            const int h1 = (qh >> (j + 12)) & 0x10;
            y[j] = ((x[i].qs[j] & 0x0F) | h0) * d + m;
            y[j + 16] = ((x[i].qs[j] >> 4) | h1) * d + m;
        }
    }
}

static void dq_q8_0(const struct block_q8_0 *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = lm_f16_to_f32(x[i].d);
        for (int j = 0; j < 32; j++)
            y[j] = x[i].qs[j] * d;
    }
}

static void dq_q2_K(const struct block_q2_K *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        const float d = lm_f16_to_f32(x[i].d), min = lm_f16_to_f32(x[i].dmin);
        const uint8_t *q = x[i].qs;
        int is = 0;
        for (int n = 0; n < LM_QK_K; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * ((q[l + 16 * half] >> shift) & 3) - ml;
                }
            }
            q += 32;
        }
    }
}

static void dq_q3_K(const struct block_q3_K *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        const float d_all = lm_f16_to_f32(x[i].d);
        const uint8_t *q = x[i].qs, *hm = x[i].hmask, *s = x[i].scales;
        int8_t scales[16];
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
            scales[j] = (int8_t)(lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4));
        }
        uint8_t m = 1;
        int is = 0;
        for (int n = 0; n < LM_QK_K; n += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    const float dl = d_all * (scales[is++] - 32);
                    for (int l = 0; l < 16; l++) {
                        const int k = l + 16 * half;
                        *y++ = dl * (((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
                    }
                }
                m = (uint8_t)(m << 1);
            }
            q += 32;
        }
    }
}

static void dq_q4_K(const struct block_q4_K *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *q = x[i].qs;
        const float d = lm_f16_to_f32(x[i].d), min = lm_f16_to_f32(x[i].dmin);
        for (int j = 0, is = 0; j < LM_QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            lm_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            lm_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

static void dq_q5_K(const struct block_q5_K *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        const float d = lm_f16_to_f32(x[i].d), min = lm_f16_to_f32(x[i].dmin);
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < LM_QK_K; j += 64, is += 2, ql += 32) {
            uint8_t sc, m;
            lm_scale_min_k4(is, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            lm_scale_min_k4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

static void dq_q6_K(const struct block_q6_K *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        const float d = lm_f16_to_f32(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int n = 0; n < LM_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

static void dq_iq4_nl(const struct block_iq4_nl *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++, y += 32) {
        const float d = lm_f16_to_f32(x[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = d * lm_kvalues_iq4nl[x[i].qs[j] & 0xf];
            y[j + 16] = d * lm_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

static void dq_iq4_xs(const struct block_iq4_xs *x, float *y, size_t nb)
{
    for (size_t i = 0; i < nb; i++) {
        const float d = lm_f16_to_f32(x[i].d);
        const uint8_t *qs = x[i].qs;
        for (int ib = 0; ib < 8; ib++, qs += 16, y += 32) {
            const int ls = ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) |
                           (((x[i].scales_h >> 2 * ib) & 3) << 4);
            const float dl = d * (ls - 32);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * lm_kvalues_iq4nl[qs[j] & 0xf];
                y[j + 16] = dl * lm_kvalues_iq4nl[qs[j] >> 4];
            }
        }
    }
}

bool lm_quant_can_dequantize(uint32_t type)
{
    return lm_quant_can_quantize(type);
}

int lm_dequantize_row(uint32_t type, const void *src, float *dst, size_t n)
{
    switch (type) {
    case LM_TYPE_F32: memcpy(dst, src, n * 4); return 0;
    case LM_TYPE_F16: lm_f16_to_f32_row(src, dst, n); return 0;
    case LM_TYPE_BF16: lm_bf16_to_f32_row(src, dst, n); return 0;
    case LM_TYPE_Q4_0: dq_q4_0(src, dst, n / 32); return 0;
    case LM_TYPE_Q4_1: dq_q4_1(src, dst, n / 32); return 0;
    case LM_TYPE_Q5_0: dq_q5_0(src, dst, n / 32); return 0;
    case LM_TYPE_Q5_1: dq_q5_1(src, dst, n / 32); return 0;
    case LM_TYPE_Q8_0: dq_q8_0(src, dst, n / 32); return 0;
    case LM_TYPE_Q2_K: dq_q2_K(src, dst, n / LM_QK_K); return 0;
    case LM_TYPE_Q3_K: dq_q3_K(src, dst, n / LM_QK_K); return 0;
    case LM_TYPE_Q4_K: dq_q4_K(src, dst, n / LM_QK_K); return 0;
    case LM_TYPE_Q5_K: dq_q5_K(src, dst, n / LM_QK_K); return 0;
    case LM_TYPE_Q6_K: dq_q6_K(src, dst, n / LM_QK_K); return 0;
    case LM_TYPE_IQ4_NL: dq_iq4_nl(src, dst, n / 32); return 0;
    case LM_TYPE_IQ4_XS: dq_iq4_xs(src, dst, n / LM_QK_K); return 0;
    default: return -1;
    }
}

/* quant_ref.c: the scalar reference quantizers, operation for operation as ggml's quantize_row_*_ref
 * (shared/specs/quant-formats.md §4-8). Every float step is rounded as written; keep it that way. */
#include <math.h>
#include <string.h>

#include "quantize.h"
#include "../common/banned.h"

/* ---- 32-wide types ----------------------------------------------------------------------- */

/* The signed value of the element with the largest |x| (the first one on ties); *amax gets |x|. */
static float signed_absmax(const float *x, int n, float *amax)
{
    float a = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (a < fabsf(x[j])) {
            a = fabsf(x[j]);
            max = x[j];
        }
    }
    *amax = a;
    return max;
}

static void min_max(const float *x, int n, float *min, float *max)
{
    float lo = 3.402823466e+38f, hi = -3.402823466e+38f;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *min = lo;
    *max = hi;
}

static void q4_0_block(const float *x, struct block_q4_0 *y)
{
    float amax;
    const float max = signed_absmax(x, 32, &amax);
    const float d = max / -8;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = lm_f32_to_f16(d);
    for (int j = 0; j < 16; j++) {
        const float x0 = x[j] * id;
        const float x1 = x[16 + j] * id;
        const uint8_t q0 = (uint8_t)lm_min_i(15, lm_f32_to_i8(x0 + 8.5f));
        const uint8_t q1 = (uint8_t)lm_min_i(15, lm_f32_to_i8(x1 + 8.5f));
        y->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static void q4_1_block(const float *x, struct block_q4_1 *y)
{
    float min, max;
    min_max(x, 32, &min, &max);
    const float d = (max - min) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = lm_f32_to_f16(d);
    y->m = lm_f32_to_f16(min);
    for (int j = 0; j < 16; j++) {
        const float x0 = (x[j] - min) * id;
        const float x1 = (x[16 + j] - min) * id;
        const uint8_t q0 = (uint8_t)lm_min_i(15, lm_f32_to_i8(x0 + 0.5f));
        const uint8_t q1 = (uint8_t)lm_min_i(15, lm_f32_to_i8(x1 + 0.5f));
        y->qs[j] = (uint8_t)(q0 | (q1 << 4));
    }
}

static void q5_0_block(const float *x, struct block_q5_0 *y)
{
    float amax;
    const float max = signed_absmax(x, 32, &amax);
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = lm_f32_to_f16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        const float x0 = x[j] * id;
        const float x1 = x[16 + j] * id;
        const uint8_t q0 = (uint8_t)lm_min_i(31, lm_f32_to_i8(x0 + 16.5f));
        const uint8_t q1 = (uint8_t)lm_min_i(31, lm_f32_to_i8(x1 + 16.5f));
        y->qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        qh |= ((q0 & 0x10u) >> 4) << j;
        qh |= ((q1 & 0x10u) >> 4) << (j + 16);
    }
    memcpy(y->qh, &qh, 4);
}

static void q5_1_block(const float *x, struct block_q5_1 *y)
{
    float min, max;
    min_max(x, 32, &min, &max);
    const float d = (max - min) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = lm_f32_to_f16(d);
    y->m = lm_f32_to_f16(min);
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        const float x0 = (x[j] - min) * id;
        const float x1 = (x[16 + j] - min) * id;
        const uint8_t q0 = lm_f32_to_u8(x0 + 0.5f);
        const uint8_t q1 = lm_f32_to_u8(x1 + 0.5f);
        y->qs[j] = (uint8_t)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
        qh |= ((q0 & 0x10u) >> 4) << j;
        qh |= ((q1 & 0x10u) >> 4) << (j + 16);
    }
    memcpy(y->qh, &qh, 4);
}

static void q8_0_block(const float *x, struct block_q8_0 *y)
{
    float amax = 0.0f;
    for (int j = 0; j < 32; j++)
        amax = lm_max_f(amax, fabsf(x[j]));
    const float d = amax / 127;
    const float id = d ? 1.0f / d : 0.0f;
    y->d = lm_f32_to_f16(d);
    for (int j = 0; j < 32; j++)
        y->qs[j] = lm_f32_to_i8(roundf(x[j] * id));
}

/* ---- K-quant helpers (ggml-quants.c, "Helper functions") --------------------------------- */

void lm_requant_ref(const float *x, int n, float d, float dm, bool add_dm, int lo, int hi, int off,
                    uint8_t *L)
{
    for (int i = 0; i < n; i++) {
        const float v = add_dm ? (x[i] + dm) / d : x[i] / d;
        L[i] = (uint8_t)(lm_clamp_i(lm_nearest_int(v), lo, hi) + off);
    }
}

/* Symmetric fit of n values to codes in [-nmax, nmax-1], weights x^2 (rmse_type 1). */
static float make_qx(int n, int nmax, const float *x, int8_t *L)
{
    float amax;
    const float max = signed_absmax(x, n, &amax);
    if (amax < LM_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = lm_clamp_i(lm_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = lm_clamp_i(lm_nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + lm_clamp_i(lm_nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's symmetric fit with coordinate-descent refinement (make_q3_quants, do_rmse). */
static float make_q3(int n, int nmax, const float *x, int8_t *L)
{
    float amax;
    const float max = signed_absmax(x, n, &amax);
    if (amax < LM_GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = lm_clamp_i(lm_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                const int new_l = lm_clamp_i(lm_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric weighted fit (make_qkx2_quants): codes in [0, nmax], *the_min >= 0 is subtracted. */
float lm_make_qkx2(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                   float *the_min, float rmin, float rdelta, int nstep, bool use_mad)
{
    uint8_t Laux[32];
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)lm_clamp_i(lm_nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = lm_clamp_i(lm_nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ---- Q2_K -------------------------------------------------------------------------------- */

/* Low 2 bits of 256 codes: byte j/4 + l of each 128 holds codes l, l+32, l+64, l+96. */
static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < LM_QK_K; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                      (L[j + l + 96] << 6));
}

void lm_q2_K_finish(const float *x, const float *scales, const float *mins, uint8_t *L,
                    struct block_q2_K *y, lm_requant_fn rq)
{
    const float q4scale = 15.f;
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
        const float iscale = q4scale / max_scale;
        for (int j = 0; j < 16; j++)
            y->scales[j] = (uint8_t)lm_nearest_int(iscale * scales[j]);
        y->d = lm_f32_to_f16(max_scale / q4scale);
    } else {
        memset(y->scales, 0, 16);
        y->d = lm_f32_to_f16(0.f);
    }
    if (max_min > 0) {
        const float iscale = q4scale / max_min;
        for (int j = 0; j < 16; j++)
            y->scales[j] |= (uint8_t)((unsigned)lm_nearest_int(iscale * mins[j]) << 4);
        y->dmin = lm_f32_to_f16(max_min / q4scale);
    } else {
        y->dmin = lm_f32_to_f16(0.f);
    }
    for (int j = 0; j < 16; j++) {
        const float d = lm_f16_to_f32(y->d) * (y->scales[j] & 0xF);
        if (!d)
            continue;
        const float dm = lm_f16_to_f32(y->dmin) * (y->scales[j] >> 4);
        rq(x + 16 * j, 16, d, dm, true, 0, 3, 0, L + 16 * j);
    }
    pack_2bit((const uint8_t *)L, y->qs);
}

static void q2_K_block(const float *x, struct block_q2_K *y)
{
    uint8_t L[LM_QK_K];
    float weights[16], mins[16], scales[16];
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++)
            weights[l] = fabsf(x[16 * j + l]);
        scales[j] = lm_make_qkx2(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15,
                                 true);
    }
    lm_q2_K_finish(x, scales, mins, L, y, lm_requant_ref);
}

/* ---- Q3_K -------------------------------------------------------------------------------- */

void lm_q3_K_finish(const float *x, const float *scales, int8_t *L, struct block_q3_K *y,
                    lm_requant_fn rq)
{
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; j++) {
        const float scale = fabsf(scales[j]);
        if (scale > amax) {
            amax = scale;
            max_scale = scales[j];
        }
    }
    memset(y->scales, 0, 12);
    if (max_scale) {
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < 16; j++) {
            int l = lm_clamp_i((int8_t)lm_nearest_int(iscale * scales[j]), -32, 31) + 32;
            if (j < 8)
                y->scales[j] = (uint8_t)(l & 0xF);
            else
                y->scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
            l >>= 4;
            y->scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
        }
        y->d = lm_f32_to_f16(1 / iscale);
    } else {
        y->d = lm_f32_to_f16(0.f);
    }
    for (int j = 0; j < 16; j++) {
        int sc = j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4;
        sc = (sc | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
        const float d = lm_f16_to_f32(y->d) * sc;
        if (!d)
            continue;
        rq(x + 16 * j, 16, d, 0, false, -4, 3, 4, (uint8_t *)L + 16 * j);
    }
    memset(y->hmask, 0, 32);
    /* The high bit of the first 32 codes goes to bit 0 of hmask[0..31], the next 32 to bit 1... */
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < LM_QK_K; j++) {
        if (L[j] > 3) {
            y->hmask[m] |= hm;
            L[j] = (int8_t)(L[j] - 4);
        }
        if (++m == 32) {
            m = 0;
            hm = (uint8_t)(hm << 1);
        }
    }
    pack_2bit((const uint8_t *)L, y->qs);
}

static void q3_K_block(const float *x, struct block_q3_K *y)
{
    int8_t L[LM_QK_K];
    float scales[16];
    for (int j = 0; j < 16; j++)
        scales[j] = make_q3(16, 4, x + 16 * j, L + 16 * j);
    lm_q3_K_finish(x, scales, L, y, lm_requant_ref);
}

/* ---- Q4_K / Q5_K ------------------------------------------------------------------------- */

/* Per sub-block of 32: weights av + |x| and the make_qkx2 fit. */
static void fit_subblocks_32(const float *x, int nmax, float rmin, int nstep, uint8_t *L,
                             float *scales, float *mins)
{
    float weights[32];
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += xs[l] * xs[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            weights[l] = av_x + fabsf(xs[l]);
        scales[j] = lm_make_qkx2(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, 0.1f, nstep,
                                 false);
    }
}

void lm_q45_K_finish(const float *x, const float *scales, const float *mins, int nmax,
                     uint8_t *L, uint16_t *dp, uint16_t *dminp, uint8_t *sc12, lm_requant_fn rq)
{
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; j++) {
        uint8_t ls = (uint8_t)lm_nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)lm_nearest_int(inv_min * mins[j]);
        ls = ls < 63 ? ls : 63;
        lm = lm < 63 ? lm : 63;
        if (j < 4) {
            sc12[j] = ls;
            sc12[j + 4] = lm;
        } else {
            sc12[j + 4] = (uint8_t)((ls & 0xF) | ((lm & 0xF) << 4));
            sc12[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc12[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *dp = lm_f32_to_f16(max_scale / 63.f);
    *dminp = lm_f32_to_f16(max_min / 63.f);
    const float dall = lm_f16_to_f32(*dp), dmin = lm_f16_to_f32(*dminp);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        lm_scale_min_k4(j, sc12, &sc, &m);
        const float d = dall * sc;
        if (!d)
            continue;
        const float dm = dmin * m;
        rq(x + 32 * j, 32, d, dm, true, 0, nmax, 0, L + 32 * j);
    }
}

void lm_q4_K_pack(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < LM_QK_K; j += 64) {
        for (int l = 0; l < 32; l++)
            qs[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        qs += 32;
    }
}

void lm_q5_K_pack(const uint8_t *L, uint8_t *qh, uint8_t *ql)
{
    memset(qh, 0, 32);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < LM_QK_K; n += 64) {
        for (int j = 0; j < 32; j++) {
            int l1 = L[n + j];
            if (l1 > 15) {
                l1 -= 16;
                qh[j] |= m1;
            }
            int l2 = L[n + j + 32];
            if (l2 > 15) {
                l2 -= 16;
                qh[j] |= m2;
            }
            ql[j] = (uint8_t)(l1 | (l2 << 4));
        }
        m1 = (uint8_t)(m1 << 2);
        m2 = (uint8_t)(m2 << 2);
        ql += 32;
    }
}

static void q4_K_block(const float *x, struct block_q4_K *y)
{
    uint8_t L[LM_QK_K];
    float scales[8], mins[8];
    fit_subblocks_32(x, 15, -1.f, 20, L, scales, mins);
    lm_q45_K_finish(x, scales, mins, 15, L, &y->d, &y->dmin, y->scales, lm_requant_ref);
    lm_q4_K_pack(L, y->qs);
}

static void q5_K_block(const float *x, struct block_q5_K *y)
{
    uint8_t L[LM_QK_K];
    float scales[8], mins[8];
    fit_subblocks_32(x, 31, -0.5f, 15, L, scales, mins);
    lm_q45_K_finish(x, scales, mins, 31, L, &y->d, &y->dmin, y->scales, lm_requant_ref);
    lm_q5_K_pack(L, y->qh, y->qs);
}

/* ---- Q6_K -------------------------------------------------------------------------------- */

void lm_q6_K_finish(const float *x, const float *scales, int8_t *L, struct block_q6_K *y,
                    lm_requant_fn rq)
{
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ib++) {
        const float abs_scale = fabsf(scales[ib]);
        if (abs_scale > max_abs_scale) {
            max_abs_scale = abs_scale;
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < LM_GROUP_MAX_EPS) {
        memset(y, 0, sizeof(*y));
        return;
    }
    const float iscale = -128.f / max_scale;
    y->d = lm_f32_to_f16(1 / iscale);
    for (int ib = 0; ib < 16; ib++)
        y->scales[ib] = (int8_t)lm_min_i(127, lm_nearest_int(iscale * scales[ib]));
    const float dall = lm_f16_to_f32(y->d);
    for (int j = 0; j < 16; j++) {
        const float d = dall * y->scales[j];
        if (!d)
            continue;
        rq(x + 16 * j, 16, d, 0, false, -32, 31, 32, (uint8_t *)L + 16 * j);
    }
    uint8_t *ql = y->ql, *qh = y->qh;
    for (int j = 0; j < LM_QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            const uint8_t q1 = L[j + l] & 0xF;
            const uint8_t q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF;
            const uint8_t q4 = L[j + l + 96] & 0xF;
            ql[l] = (uint8_t)(q1 | (q3 << 4));
            ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                              ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}

static void q6_K_block(const float *x, struct block_q6_K *y)
{
    int8_t L[LM_QK_K];
    float scales[16];
    for (int ib = 0; ib < 16; ib++)
        scales[ib] = make_qx(16, 32, x + 16 * ib, L + 16 * ib);
    lm_q6_K_finish(x, scales, L, y, lm_requant_ref);
}

/* ---- IQ4_NL / IQ4_XS (non-linear 4-bit; quantize_row_iq4_nl_impl without an imatrix) ------- */

const int8_t lm_kvalues_iq4nl[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* Index of the level nearest x; exact midpoints go up (compares 2x with sums of neighbours). */
static inline int best_index_iq4(float x)
{
    const float x2 = x + x;
    int idx = 0;
    for (int step = 8; step > 0; step >>= 1) {
        const int j = idx + step;
        idx = (x2 >= (float)(lm_kvalues_iq4nl[j - 1] + lm_kvalues_iq4nl[j])) ? j : idx;
    }
    return idx;
}

/* One 32-value block: the best scale over 15 trial inverse scales. */
static float iq4_block_scale(const float *xb)
{
    const int8_t *values = lm_kvalues_iq4nl;
    float weight[32];
    for (int j = 0; j < 32; j++)
        weight[j] = xb[j] * xb[j];
    float amax;
    const float max = signed_absmax(xb, 32, &amax);
    if (amax < LM_GROUP_MAX_EPS)
        return 0;
    float d = -max / values[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; j++) {
        const float q = values[best_index_iq4(id * xb[j])];
        const float w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -7; itry <= 7; itry++) {
        id = (itry + values[0]) / max;
        sumqx = sumq2 = 0;
        for (int j = 0; j < 32; j++) {
            const float q = values[best_index_iq4(id * xb[j])];
            const float w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

static void iq4_pack(const uint8_t *L, uint8_t *q4, int n)
{
    for (int i = 0; i < n / 32; i++)
        for (int j = 0; j < 16; j++)
            q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

static void iq4_nl_block(const float *x, struct block_iq4_nl *y)
{
    uint8_t L[32];
    const float d = iq4_block_scale(x);
    y->d = lm_f32_to_f16(d);
    const float id = d ? 1 / d : 0;
    for (int j = 0; j < 32; j++)
        L[j] = (uint8_t)best_index_iq4(id * x[j]);
    iq4_pack(L, y->qs, 32);
}

static void iq4_xs_block(const float *x, struct block_iq4_xs *y)
{
    uint8_t L[LM_QK_K];
    float scales[8];
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < 8; ib++) {
        scales[ib] = iq4_block_scale(x + 32 * ib);
        const float abs_d = fabsf(scales[ib]);
        if (abs_d > amax_scale) {
            amax_scale = abs_d;
            max_scale = scales[ib];
        }
    }
    memset(y->scales_l, 0, 4);
    uint16_t scales_h = 0;
    const float d = -max_scale / 32;
    y->d = lm_f32_to_f16(d);
    const float id = d ? 1 / d : 0.f;
    for (int ib = 0; ib < 8; ib++) {
        int l = lm_clamp_i(lm_nearest_int(id * scales[ib]), -32, 31);
        const float dl = d * l;
        const float idl = dl ? 1 / dl : 0.f;
        for (int j = 0; j < 32; j++)
            L[32 * ib + j] = (uint8_t)best_index_iq4(idl * x[32 * ib + j]);
        l += 32;
        const uint8_t l_l = l & 0xf, l_h = (uint8_t)(l >> 4);
        if (ib % 2 == 0)
            y->scales_l[ib / 2] = l_l;
        else
            y->scales_l[ib / 2] |= (uint8_t)(l_l << 4);
        scales_h |= (uint16_t)(l_h << 2 * (ib % 8));
    }
    y->scales_h = scales_h;
    memset(y->qs, 0, sizeof(y->qs));
    iq4_pack(L, y->qs, LM_QK_K);
}

/* ---- row dispatch ------------------------------------------------------------------------ */

#define BLOCKS(fn, T, qk)                                                                    \
    do {                                                                                     \
        T *y = dst;                                                                          \
        for (size_t b = 0; b < n / (qk); b++)                                                \
            fn(src + b * (qk), y + b);                                                       \
    } while (0)

int lm_quantize_row_ref_blocks(uint32_t type, const float *src, void *dst, size_t n)
{
    switch (type) {
    case LM_TYPE_Q4_0: BLOCKS(q4_0_block, struct block_q4_0, LM_QK); return 0;
    case LM_TYPE_Q4_1: BLOCKS(q4_1_block, struct block_q4_1, LM_QK); return 0;
    case LM_TYPE_Q5_0: BLOCKS(q5_0_block, struct block_q5_0, LM_QK); return 0;
    case LM_TYPE_Q5_1: BLOCKS(q5_1_block, struct block_q5_1, LM_QK); return 0;
    case LM_TYPE_Q8_0: BLOCKS(q8_0_block, struct block_q8_0, LM_QK); return 0;
    case LM_TYPE_Q2_K: BLOCKS(q2_K_block, struct block_q2_K, LM_QK_K); return 0;
    case LM_TYPE_Q3_K: BLOCKS(q3_K_block, struct block_q3_K, LM_QK_K); return 0;
    case LM_TYPE_Q4_K: BLOCKS(q4_K_block, struct block_q4_K, LM_QK_K); return 0;
    case LM_TYPE_Q5_K: BLOCKS(q5_K_block, struct block_q5_K, LM_QK_K); return 0;
    case LM_TYPE_Q6_K: BLOCKS(q6_K_block, struct block_q6_K, LM_QK_K); return 0;
    case LM_TYPE_IQ4_NL: BLOCKS(iq4_nl_block, struct block_iq4_nl, LM_QK); return 0;
    case LM_TYPE_IQ4_XS: BLOCKS(iq4_xs_block, struct block_iq4_xs, LM_QK_K); return 0;
    default: return -1;
    }
}

/* row.c: quantize/dequantize dispatch by type, row validation, and the CPU variant choice. */
#include <stdlib.h>
#include <string.h>

#include "quantize.h"
#include "../common/banned.h"

bool lm_quant_can_quantize(uint32_t type)
{
    switch (type) {
    case LM_TYPE_F32: case LM_TYPE_F16: case LM_TYPE_BF16:
    case LM_TYPE_Q4_0: case LM_TYPE_Q4_1: case LM_TYPE_Q5_0: case LM_TYPE_Q5_1: case LM_TYPE_Q8_0:
    case LM_TYPE_Q2_K: case LM_TYPE_Q3_K: case LM_TYPE_Q4_K: case LM_TYPE_Q5_K: case LM_TYPE_Q6_K:
    case LM_TYPE_IQ4_NL: case LM_TYPE_IQ4_XS:
        return true;
    default:
        return false;
    }
}

static int float_row(uint32_t type, const float *src, void *dst, size_t n)
{
    switch (type) {
    case LM_TYPE_F32: memcpy(dst, src, n * 4); return 0;
    case LM_TYPE_F16: lm_f32_to_f16_row(src, dst, n); return 0;
    case LM_TYPE_BF16: lm_f32_to_bf16_row(src, dst, n); return 0;
    default: return -1;
    }
}

int lm_quantize_row_ref(uint32_t type, const float *src, void *dst, size_t n)
{
    if (float_row(type, src, dst, n) == 0)
        return 0;
    return lm_quantize_row_ref_blocks(type, src, dst, n);
}

/* ---- CPU variants ------------------------------------------------------------------------ */

enum variant { V_UNSET, V_SCALAR, V_AVX2, V_AVX512 };
static enum variant variant = V_UNSET;

static bool cpu_can(enum variant v)
{
    switch (v) {
    case V_AVX2: return lm_cpu_best() >= LM_CPU_AVX2;
    case V_AVX512: return lm_cpu_best() >= LM_CPU_AVX512;
    case V_SCALAR: return true;
    case V_UNSET: break;
    }
    return false;
}

static enum variant variant_by_name(const char *name)
{
    if (strcmp(name, "scalar") == 0) return V_SCALAR;
    if (strcmp(name, "avx2") == 0) return V_AVX2;
    if (strcmp(name, "avx512") == 0) return V_AVX512;
    return V_UNSET;
}

static enum variant pick(void)
{
    if (variant != V_UNSET)
        return variant;
    const char *env = getenv("LM_CPU");
    enum variant v = env ? variant_by_name(env) : V_UNSET;
    if (v == V_UNSET || !cpu_can(v))
        v = cpu_can(V_AVX512) ? V_AVX512 : cpu_can(V_AVX2) ? V_AVX2 : V_SCALAR;
    variant = v;   /* a benign race: every thread computes the same answer */
    return v;
}

const char *lm_quant_variant(void)
{
    switch (pick()) {
    case V_AVX2: return "avx2";
    case V_AVX512: return "avx512";
    case V_SCALAR: case V_UNSET: break;
    }
    return "scalar";
}

int lm_quant_set_variant(const char *name)
{
    enum variant v = variant_by_name(name);
    if (v == V_UNSET || !cpu_can(v))
        return -1;
    variant = v;
    return 0;
}

int lm_quantize_row(uint32_t type, const float *src, void *dst, size_t n)
{
    switch (pick()) {
    case V_AVX512:
        if (lm_quantize_row_avx512(type, src, dst, n) == 0)
            return 0;
        break;
    case V_AVX2:
        if (lm_quantize_row_avx2(type, src, dst, n) == 0)
            return 0;
        break;
    case V_SCALAR: case V_UNSET:
        break;
    }
    return lm_quantize_row_ref(type, src, dst, n);
}

int lm_to_f32_row(uint32_t type, const void *src, float *dst, size_t n)
{
    switch (pick()) {
    case V_AVX512:
        if (lm_to_f32_row_avx512(type, src, dst, n) == 0)
            return 0;
        break;
    case V_AVX2:
        if (lm_to_f32_row_avx2(type, src, dst, n) == 0)
            return 0;
        break;
    case V_SCALAR: case V_UNSET:
        break;
    }
    return lm_dequantize_row(type, src, dst, n);
}

/* ---- validation (ggml_validate_row_data) ------------------------------------------------- */

static bool f16_ok(uint16_t h) { return (h & 0x7c00) != 0x7c00; }

/* Every block of `size` bytes has finite f16 fields at byte offsets a (and b, if >= 0). */
static bool scales_ok(const uint8_t *p, size_t nbytes, size_t size, int a, int b)
{
    for (size_t off = 0; off + size <= nbytes; off += size) {
        uint16_t h;
        memcpy(&h, p + off + a, 2);
        if (!f16_ok(h))
            return false;
        if (b >= 0) {
            memcpy(&h, p + off + b, 2);
            if (!f16_ok(h))
                return false;
        }
    }
    return true;
}

bool lm_quant_row_valid(uint32_t type, const void *data, size_t nbytes)
{
    const uint8_t *p = data;
    switch (type) {
    case LM_TYPE_F32:
        for (size_t i = 0; i + 4 <= nbytes; i += 4) {
            uint32_t u;
            memcpy(&u, p + i, 4);
            if ((u & 0x7f800000) == 0x7f800000)
                return false;
        }
        return true;
    case LM_TYPE_F16:
        for (size_t i = 0; i + 2 <= nbytes; i += 2) {
            uint16_t h;
            memcpy(&h, p + i, 2);
            if (!f16_ok(h))
                return false;
        }
        return true;
    case LM_TYPE_BF16:
        for (size_t i = 0; i + 2 <= nbytes; i += 2) {
            uint16_t h;
            memcpy(&h, p + i, 2);
            if ((h & 0x7f80) == 0x7f80)
                return false;
        }
        return true;
    case LM_TYPE_Q4_0: return scales_ok(p, nbytes, 18, 0, -1);
    case LM_TYPE_Q4_1: return scales_ok(p, nbytes, 20, 0, 2);
    case LM_TYPE_Q5_0: return scales_ok(p, nbytes, 22, 0, -1);
    case LM_TYPE_Q5_1: return scales_ok(p, nbytes, 24, 0, 2);
    case LM_TYPE_Q8_0: return scales_ok(p, nbytes, 34, 0, -1);
    case LM_TYPE_Q2_K: return scales_ok(p, nbytes, 84, 80, 82);
    case LM_TYPE_Q3_K: return scales_ok(p, nbytes, 110, 108, -1);
    case LM_TYPE_Q4_K: return scales_ok(p, nbytes, 144, 0, 2);
    case LM_TYPE_Q5_K: return scales_ok(p, nbytes, 176, 0, 2);
    case LM_TYPE_Q6_K: return scales_ok(p, nbytes, 210, 208, -1);
    case LM_TYPE_IQ4_NL: return scales_ok(p, nbytes, 18, 0, -1);
    case LM_TYPE_IQ4_XS: return scales_ok(p, nbytes, 136, 0, -1);
    default: return true;
    }
}

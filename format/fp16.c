/* fp16.c: binary16 and bfloat16 conversions, bit-exact to ggml's reference paths. */
#include <string.h>

#include "format.h"
#include "../common/banned.h"

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE round-to-nearest-even, done on the bits so it does not depend on the FPU or F16C. */
uint16_t lm_f32_to_f16(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFF;
    if (ax > 0x7F800000)
        return sign | 0x7E00;                     /* NaN: quiet, payload dropped */
    if (ax >= 0x477FF000)
        return sign | 0x7C00;                     /* >= 65520 rounds to Inf; Inf stays Inf */
    if (ax < 0x38800000) {                        /* below 2^-14: subnormal or zero */
        if (ax < 0x33000000)
            return sign;                          /* below 2^-25: rounds to zero */
        uint32_t e = ax >> 23;
        uint32_t m = (ax & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e;                 /* 14 + (127-e) - 1 ... keeps 10 bits */
        uint32_t q = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1)))
            q++;
        return sign | (uint16_t)q;
    }
    uint32_t r = ax + 0x0FFF + ((ax >> 13) & 1);  /* RNE on the 13 dropped bits */
    return sign | (uint16_t)((r - 0x38000000) >> 13);
}

float lm_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1F;
    uint32_t m = h & 0x3FF;
    if (e == 0x1F)
        return bits_f32(sign | 0x7F800000 | (m << 13));
    if (e == 0) {
        if (m == 0)
            return bits_f32(sign);
        e = 113;                                  /* normalise the subnormal */
        while (!(m & 0x400)) {
            m <<= 1;
            e--;
        }
        m &= 0x3FF;
        return bits_f32(sign | (e << 23) | (m << 13));
    }
    return bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

uint16_t lm_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFF) > 0x7F800000)
        return (uint16_t)((u >> 16) | 0x0040);
    return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

float lm_bf16_to_f32(uint16_t h)
{
    return bits_f32((uint32_t)h << 16);
}

void lm_f16_to_f32_row(const uint16_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = lm_f16_to_f32(in[i]);
}

void lm_f32_to_f16_row(const float *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = lm_f32_to_f16(in[i]);
}

void lm_bf16_to_f32_row(const uint16_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = lm_bf16_to_f32(in[i]);
}

void lm_f32_to_bf16_row(const float *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = lm_f32_to_bf16(in[i]);
}

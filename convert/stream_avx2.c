/* stream_avx2.c: AVX2 + F16C row conversions to binary16 (this file is built with -mavx2 -mfma
 * -mf16c). F16C rounds to nearest even like format's scalar lm_f32_to_f16; lanes of a block that
 * hold a NaN go through the scalar conversion, so every output bit matches it. */
#include <immintrin.h>

#include "convert.h"
#include "../common/banned.h"

static inline int has_nan(__m256 f)
{
    return _mm256_movemask_ps(_mm256_cmp_ps(f, f, _CMP_UNORD_Q));
}

void convert_bf16_to_f16_avx2(const uint16_t *in, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(in + i));
        __m256 f = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
        if (has_nan(f))
            convert_bf16_to_f16_scalar(in + i, out + i, 8);
        else
            _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
    }
    convert_bf16_to_f16_scalar(in + i, out + i, n - i);
}

void convert_f32_to_f16_avx2(const float *in, uint16_t *out, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 f = _mm256_loadu_ps(in + i);
        if (has_nan(f))
            lm_f32_to_f16_row(in + i, out + i, 8);
        else
            _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT));
    }
    lm_f32_to_f16_row(in + i, out + i, n - i);
}

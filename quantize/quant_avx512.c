/* quant_avx512.c: the lane-parallel quantizers of lanes.inc on 16 lanes (AVX-512); same bits as
 * quant_ref.c. */
#include <immintrin.h>

#include "quantize.h"

#define LANES 16
#define VSQRT(x) ((vf)_mm512_sqrt_ps((__m512)(x)))
#define VCVTT(x) ((vi)_mm512_cvttps_epi32((__m512)(x)))
#define VMAXI(a, b) ((vi)_mm512_max_epi32((__m512i)(a), (__m512i)(b)))
#define VMINI(a, b) ((vi)_mm512_min_epi32((__m512i)(a), (__m512i)(b)))
#define VCVTPH(h, f) \
    _mm512_storeu_ps((f), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h))))
#define LM_QUANT_ROW_FN lm_quantize_row_avx512
#define LM_TO_F32_FN lm_to_f32_row_avx512
#include "lanes.inc"

#include "../common/banned.h"

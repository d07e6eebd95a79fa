/* quant_avx2.c: the lane-parallel quantizers of lanes.inc on 8 lanes (AVX2); same bits as
 * quant_ref.c. */
#include <immintrin.h>

#include "quantize.h"

#define LANES 8
#define VSQRT(x) ((vf)_mm256_sqrt_ps((__m256)(x)))
#define VCVTT(x) ((vi)_mm256_cvttps_epi32((__m256)(x)))
#define VMAXI(a, b) ((vi)_mm256_max_epi32((__m256i)(a), (__m256i)(b)))
#define VMINI(a, b) ((vi)_mm256_min_epi32((__m256i)(a), (__m256i)(b)))
#define VCVTPH(h, f) _mm256_storeu_ps((f), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h))))
#define LM_QUANT_ROW_FN lm_quantize_row_avx2
#define LM_TO_F32_FN lm_to_f32_row_avx2
#include "lanes.inc"

#include "../common/banned.h"

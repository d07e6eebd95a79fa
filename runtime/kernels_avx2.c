/* kernels_avx2.c: AVX2 + FMA + F16C kernels (compiled with -mavx2 -mfma -mf16c). */
#include <immintrin.h>

#include "kernels.h"
#include "../common/banned.h"

const struct rt_kernels rt_kernels_avx2 = { .dot = { 0 } };

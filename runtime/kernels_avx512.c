/* kernels_avx512.c: AVX-512 (F, BW, VL, DQ, VNNI) kernels (compiled with -mavx512*). */
#include <immintrin.h>

#include "kernels.h"
#include "../common/banned.h"

const struct rt_kernels rt_kernels_avx512 = { .dot = { 0 } };

/* cpu.c: which SIMD level this processor runs, read once; LM_CPU=scalar|avx2|avx512 pins one. */
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "common.h"
#include "banned.h"

static int detect(void)
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return LM_CPU_SCALAR;
    bool fma = c & (1u << 12), f16c = c & (1u << 29), osxsave = c & (1u << 27);
    if (!osxsave)
        return LM_CPU_SCALAR;
    unsigned xlo, xhi;
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    bool ymm = (xlo & 6) == 6, zmm = (xlo & 0xE6) == 0xE6;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return LM_CPU_SCALAR;
    bool avx2 = b & (1u << 5);
    bool avx512 = (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));
    if (avx2 && fma && f16c && ymm) {
        if (avx512 && zmm)
            return LM_CPU_AVX512;
        return LM_CPU_AVX2;
    }
#endif
    return LM_CPU_SCALAR;
}

int lm_cpu_best(void)
{
    static int best = -1;
    if (best < 0)
        best = detect();
    return best;
}

int lm_cpu_level(void)
{
    static int level = -1;
    if (level >= 0)
        return level;
    level = lm_cpu_best();
    const char *want = getenv("LM_CPU");
    int pinned = !want ? -1 : strcmp(want, "scalar") == 0 ? LM_CPU_SCALAR
               : strcmp(want, "avx2") == 0 ? LM_CPU_AVX2 : strcmp(want, "avx512") == 0 ? LM_CPU_AVX512 : -1;
    if (pinned >= 0 && pinned <= level)   /* never pin a level the CPU cannot run */
        level = pinned;
    return level;
}

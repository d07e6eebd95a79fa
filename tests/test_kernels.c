/* test_kernels.c: the runtime's matmul kernels: every SIMD level against the scalar reference
 * (bit for bit: they run the same operations in the same order; prompt tiles, several tokens per
 * row, and one token alone), and the scalar reference
 * against a float64 product of the dequantized weights (catches a block layout read wrong). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../runtime/runtime.h"
#include "../quantize/quantize.h"

struct kernel_row {
    uint32_t type;
    uint32_t cols;      /* whole blocks; float types also get a ragged tail */
    uint32_t act_block; /* the activation quantization block (0: F32/F16/BF16 rounding) */
};

static const struct kernel_row rows[] = {
    { LM_TYPE_F32, 300, 0 },   { LM_TYPE_F16, 300, 0 },   { LM_TYPE_BF16, 300, 0 },
    { LM_TYPE_F32, 8, 0 },     { LM_TYPE_F16, 64, 0 },    /* head dims: tail only, SIMD only */
    { LM_TYPE_Q4_0, 96, 32 },  { LM_TYPE_Q4_1, 96, 32 },  { LM_TYPE_Q5_0, 96, 32 },
    { LM_TYPE_Q5_1, 96, 32 },  { LM_TYPE_Q8_0, 96, 32 },  { LM_TYPE_Q2_K, 512, 256 },
    { LM_TYPE_Q3_K, 512, 256 }, { LM_TYPE_Q4_K, 512, 256 }, { LM_TYPE_Q5_K, 512, 256 },
    { LM_TYPE_Q6_K, 512, 256 },
};

#define N_ROWS 7
#define N_TOK 6     /* not a multiple of the 4 tokens a weight row is unpacked for */

static uint64_t seed = 88172645463325252ull;

static float rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return (float)((seed >> 11) * 0x1.0p-53) * 2.0f - 1.0f;
}

/* Weights with some outliers (so K-quant scales vary), activations with a few exact halves
 * after scaling by 127/amax (rounding ties are where two implementations part first). */
static void fill(float *w, float *x, uint32_t cols)
{
    for (size_t i = 0; i < (size_t)N_ROWS * cols; i++)
        w[i] = rnd() * (i % 37 == 0 ? 4.0f : 1.0f);
    for (size_t i = 0; i < (size_t)N_TOK * cols; i++)
        x[i] = rnd() * (i % 29 == 0 ? 8.0f : 1.0f);
    for (size_t t = 0; t < N_TOK; t++) {
        x[t * cols] = 127.0f;       /* block amax 127: x*id is exact, 2.5f below is a tie */
        if (cols > 3)
            x[t * cols + 3] = 2.5f;
    }
}

/* The activations as the kernels see them: rounded to F16/BF16, or quantized the way ggml does
 * (Q8_0/Q8_1: scale amax/127, round half to even; Q8_K: scale by the signed extreme to -127)
 * and dequantized. With these the float64 product only differs by float summation order. */
static void act_round(const struct kernel_row *r, const float *x, double *out, uint32_t cols)
{
    if (r->act_block == 0) {
        for (uint32_t i = 0; i < cols; i++)
            out[i] = r->type == LM_TYPE_F16 ? lm_f16_to_f32(lm_f32_to_f16(x[i]))
                   : r->type == LM_TYPE_BF16 ? lm_bf16_to_f32(lm_f32_to_bf16(x[i])) : x[i];
        return;
    }
    for (uint32_t b0 = 0; b0 < cols; b0 += r->act_block) {
        float amax = 0, max = 0;
        for (uint32_t j = b0; j < b0 + r->act_block; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        for (uint32_t j = b0; j < b0 + r->act_block; j++) {
            if (r->act_block == 256) {
                float iscale = -127.0f / max;
                out[j] = fmin(127, rintf(iscale * x[j])) * (double)(1.0f / iscale);
            } else {
                float d = lm_f16_to_f32(lm_f32_to_f16(amax / 127.0f));
                out[j] = rintf(x[j] * (127.0f / amax)) * (double)d;
            }
        }
    }
}

static void test_kernel(void **state)
{
    const struct kernel_row *r = *state;
    uint32_t cols = r->cols;
    uint64_t row_bytes;
    assert_int_equal(lm_type_nbytes(r->type, cols, &row_bytes), 0);
    float *w = malloc(sizeof(float) * N_ROWS * cols), *x = malloc(sizeof(float) * N_TOK * cols);
    float *wd = malloc(sizeof(float) * N_ROWS * cols);
    uint8_t *wq = malloc(row_bytes * N_ROWS);
    float *ref = malloc(sizeof(float) * N_ROWS * N_TOK), *got = malloc(sizeof(float) * N_ROWS * N_TOK);
    fill(w, x, cols);
    for (int i = 0; i < N_ROWS; i++) {
        assert_int_equal(lm_quantize_row_ref(r->type, w + (size_t)i * cols, wq + i * row_bytes, cols), 0);
        assert_int_equal(lm_dequantize_row(r->type, wq + i * row_bytes, wd + (size_t)i * cols, cols), 0);
    }
    struct lm_err err;
    assert_int_equal(lm_matmul(LM_CPU_SCALAR, r->type, wq, N_ROWS, cols, x, N_TOK, ref, &err), 0);

    /* The scalar reference is the dequantized product of what it multiplies. */
    double *xr = malloc(sizeof(double) * cols);
    for (int t = 0; t < N_TOK; t++) {
        act_round(r, x + (size_t)t * cols, xr, cols);
        for (int i = 0; i < N_ROWS; i++) {
            double exact = 0, mag = 0;
            for (uint32_t k = 0; k < cols; k++) {
                exact += wd[(size_t)i * cols + k] * xr[k];
                mag += fabs(wd[(size_t)i * cols + k] * xr[k]);
            }
            /* Q4_1/Q5_1: the min term uses Q8_1's s = f16(d * sum q), rounded to f16. */
            bool with_min = r->type == LM_TYPE_Q4_1 || r->type == LM_TYPE_Q5_1;
            uint32_t bsize = lm_type_get(r->type)->type_size;
            for (uint32_t b = 0; with_min && b < cols / 32; b++) {
                uint16_t m;
                double sum = 0;
                memcpy(&m, wq + i * row_bytes + b * bsize + 2, 2);
                for (uint32_t k = 32 * b; k < 32 * b + 32; k++)
                    sum += xr[k];
                mag += fabs(lm_f16_to_f32(m) * sum) * 0x1p-11 / 1e-5;
            }
            if (fabs(ref[t * N_ROWS + i] - exact) > mag * 1e-5)
                fail_msg("%s x %u: row %d token %d: %.9g, float64 says %.9g",
                         lm_type_get(r->type)->name, cols, i, t, ref[t * N_ROWS + i], exact);
        }
    }
    free(xr);

    /* Every SIMD level gives the same bits. */
    for (int level = LM_CPU_AVX2; level <= LM_CPU_AVX512; level++) {
        if (!lm_kernels_can(level)) {
            print_message("# %s kernels: this CPU cannot run them\n", lm_kernels_name(level));
            continue;
        }
        assert_int_equal(lm_matmul(level, r->type, wq, N_ROWS, cols, x, N_TOK, got, &err), 0);
        for (int k = 0; k < N_ROWS * N_TOK; k++)
            if (memcmp(&got[k], &ref[k], sizeof(float)) != 0)
                fail_msg("%s x %u [%s]: output %d is %.9g, scalar %.9g", lm_type_get(r->type)->name,
                         cols, lm_kernels_name(level), k, got[k], ref[k]);
        /* One token at a time: the decoding kernels. */
        for (int t = 0; t < N_TOK; t++) {
            assert_int_equal(lm_matmul(level, r->type, wq, N_ROWS, cols, x + (size_t)t * cols, 1,
                                       got, &err), 0);
            for (int i = 0; i < N_ROWS; i++)
                if (memcmp(&got[i], &ref[t * N_ROWS + i], sizeof(float)) != 0)
                    fail_msg("%s x %u [%s]: token %d alone: row %d is %.9g, scalar %.9g",
                             lm_type_get(r->type)->name, cols, lm_kernels_name(level), t, i,
                             got[i], ref[t * N_ROWS + i]);
        }
    }
    free(w);
    free(x);
    free(wd);
    free(wq);
    free(ref);
    free(got);
}

/* Arguments lm_matmul refuses instead of reading past a row. */
static void test_matmul_refuses(void **state)
{
    (void)state;
    struct lm_err err;
    float x[64] = { 0 }, y[4];
    uint8_t w[256] = { 0 };
    assert_int_equal(lm_matmul(LM_CPU_SCALAR, LM_TYPE_Q8_0, w, 1, 40, x, 1, y, &err), -1);
    assert_string_equal(err.msg, "no kernel for type 8 with rows of 40");
    assert_int_equal(lm_matmul(LM_CPU_SCALAR, LM_TYPE_IQ4_NL, w, 1, 32, x, 1, y, &err), -1);
    assert_int_equal(lm_matmul(LM_CPU_SCALAR, 99, w, 1, 32, x, 1, y, &err), -1);
    assert_int_equal(lm_matmul(7, LM_TYPE_F32, w, 1, 32, x, 1, y, &err), -1);
    assert_string_equal(err.msg, "this CPU cannot run the ? kernels");
}

int main(void)
{
    struct CMUnitTest tests[sizeof(rows) / sizeof(rows[0]) + 1];
    static char names[sizeof(rows) / sizeof(rows[0])][48];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++, n++) {
        snprintf(names[i], sizeof(names[i]), "matmul %s x %u", lm_type_get(rows[i].type)->name,
                 rows[i].cols);
        tests[n] = (struct CMUnitTest){ names[i], test_kernel, NULL, NULL, (void *)&rows[i] };
    }
    tests[n++] = (struct CMUnitTest){ "matmul refuses bad arguments", test_matmul_refuses, NULL,
                                      NULL, NULL };
    return _cmocka_run_group_tests("kernels", tests, n, NULL, NULL);
}

/* test_types.c: the ggml type table (quant-formats.md §1, gguf.md §2) and fp16/bf16 (§3). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "../format/format.h"
#include "../common/banned.h"

static const struct type_row {
    uint32_t id;
    const char *name;   /* NULL: hole or past the table */
    uint32_t block, size;
    bool quantized;
} type_rows[] = {
    { 0, "F32", 1, 4, false },        { 1, "F16", 1, 2, false },
    { 2, "Q4_0", 32, 18, true },      { 3, "Q4_1", 32, 20, true },
    { 4, NULL, 0, 0, false },         { 5, NULL, 0, 0, false },      /* Q4_2, Q4_3: retired */
    { 6, "Q5_0", 32, 22, true },      { 7, "Q5_1", 32, 24, true },
    { 8, "Q8_0", 32, 34, true },      { 9, "Q8_1", 32, 36, true },
    { 10, "Q2_K", 256, 84, true },    { 11, "Q3_K", 256, 110, true },
    { 12, "Q4_K", 256, 144, true },   { 13, "Q5_K", 256, 176, true },
    { 14, "Q6_K", 256, 210, true },   { 15, "Q8_K", 256, 292, true },
    { 16, "IQ2_XXS", 256, 66, true }, { 17, "IQ2_XS", 256, 74, true },
    { 18, "IQ3_XXS", 256, 98, true }, { 19, "IQ1_S", 256, 50, true },
    { 20, "IQ4_NL", 32, 18, true },   { 21, "IQ3_S", 256, 110, true },
    { 22, "IQ2_S", 256, 82, true },   { 23, "IQ4_XS", 256, 136, true },
    { 24, "I8", 1, 1, false },        { 25, "I16", 1, 2, false },
    { 26, "I32", 1, 4, false },       { 27, "I64", 1, 8, false },
    { 28, "F64", 1, 8, false },       { 29, "IQ1_M", 256, 56, true },
    { 30, "BF16", 1, 2, false },      { 31, NULL, 0, 0, false },     /* Q4_0_4_4 ... retired */
    { 32, NULL, 0, 0, false },        { 33, NULL, 0, 0, false },
    { 34, "TQ1_0", 256, 54, true },   { 35, "TQ2_0", 256, 66, true },
    { 36, NULL, 0, 0, false },        { 37, NULL, 0, 0, false },
    { 38, NULL, 0, 0, false },        { 39, "MXFP4", 32, 17, true },
    { 40, NULL, 0, 0, false },        { 41, NULL, 0, 0, false },     /* NVFP4, Q1_0: too new */
    { 1000, NULL, 0, 0, false },      { UINT32_MAX, NULL, 0, 0, false },
};

static void test_type_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(type_rows) / sizeof(type_rows[0]); i++) {
        const struct type_row *r = &type_rows[i];
        const struct lm_type_info *t = lm_type_get(r->id);
        if (!r->name) {
            assert_null(t);
            continue;
        }
        assert_non_null(t);
        assert_string_equal(t->name, r->name);
        assert_int_equal(t->block, r->block);
        assert_int_equal(t->type_size, r->size);
        assert_int_equal(t->quantized, r->quantized);
        assert_int_equal(lm_type_from_name(r->name), r->id);
    }
    /* Every id below LM_TYPE_COUNT is in the rows above. */
    for (uint32_t id = 0; id < LM_TYPE_COUNT; id++)
        assert_int_equal(!!lm_type_get(id), !!type_rows[id].name);
}

static void test_type_names(void **state)
{
    (void)state;
    static const struct { const char *name; int id; } rows[] = {
        { "q8_0", 8 }, { "Q4_k", 12 }, { "bf16", 30 }, { "mxfp4", 39 }, { "f32", 0 },
        { "Q4_2", -1 }, { "", -1 }, { "F3", -1 }, { "Q8_0 ", -1 }, { "Q4_K_M", -1 },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(lm_type_from_name(rows[i].name), rows[i].id);
}

static void test_type_nbytes(void **state)
{
    (void)state;
    static const struct { uint32_t id; uint64_t nelem; int rc; uint64_t bytes; } rows[] = {
        { LM_TYPE_F32, 0, 0, 0 },         { LM_TYPE_F32, 10, 0, 40 },
        { LM_TYPE_Q4_0, 64, 0, 36 },      { LM_TYPE_Q4_0, 33, -1, 0 },
        { LM_TYPE_Q8_0, 32 * 3, 0, 102 }, { LM_TYPE_Q6_K, 768, 0, 630 },
        { LM_TYPE_Q4_K, 255, -1, 0 },     { LM_TYPE_BF16, 7, 0, 14 },
        { LM_TYPE_MXFP4, 64, 0, 34 },     { 4, 32, -1, 0 },
        { 40, 1, -1, 0 },                 { LM_TYPE_F64, UINT64_MAX / 8 + 1, -1, 0 },
        { LM_TYPE_F64, UINT64_MAX / 8, 0, UINT64_MAX / 8 * 8 },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t b = 12345;
        assert_int_equal(lm_type_nbytes(rows[i].id, rows[i].nelem, &b), rows[i].rc);
        if (rows[i].rc == 0)
            assert_int_equal(b, rows[i].bytes);
    }
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* quant-formats.md §3 test values, plus the edges of the f16 range. */
static void test_f16_values(void **state)
{
    (void)state;
    static const struct { uint32_t f32; uint16_t f16; } rows[] = {
        { 0x3F800000, 0x3C00 },   /* 1.0 */
        { 0x3DCCCCCD, 0x2E66 },   /* 0.1f */
        { 0xC0200000, 0xC100 },   /* -2.5 */
        { 0x3EAAAAAB, 0x3555 },   /* 1/3 */
        { 0x477FE000, 0x7BFF },   /* 65504 */
        { 0x477FF000, 0x7C00 },   /* 65520 rounds to Inf */
        { 0x3380D959, 0x0001 },   /* 6e-8 */
        { 0x322BCC77, 0x0000 },   /* 1e-8 */
        { 0x80000000, 0x8000 },   /* -0 */
        { 0x7F800000, 0x7C00 },   /* Inf */
        { 0xFF800000, 0xFC00 },   /* -Inf */
        { 0x7F800001, 0x7E00 },   /* NaN: quiet, payload dropped */
        { 0xFFC12345, 0xFE00 },
        { 0x38800000, 0x0400 },   /* 2^-14, smallest normal */
        { 0x33000000, 0x0000 },   /* 2^-25 is a tie with 0: to even */
        { 0x33000001, 0x0001 },
        { 0x3F801000, 0x3C00 },   /* 1 + 2^-11: tie, to even */
        { 0x3F803000, 0x3C02 },   /* 1 + 3*2^-11: tie, to even (up) */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(lm_f32_to_f16(bits_f32(rows[i].f32)), rows[i].f16);
    assert_true(lm_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(lm_f16_to_f32(0x7BFF) == 65504.0f);
    assert_true(lm_f16_to_f32(0xC100) == -2.5f);
    assert_int_equal(f32_bits(lm_f16_to_f32(0x8000)), 0x80000000);
    assert_true(isinf(lm_f16_to_f32(0xFC00)) && lm_f16_to_f32(0xFC00) < 0);
}

static void test_bf16_values(void **state)
{
    (void)state;
    static const struct { uint32_t f32; uint16_t bf16; } rows[] = {
        { 0x3F800000, 0x3F80 },   /* 1.0 */
        { 0x3DCCCCCD, 0x3DCD },   /* 0.1f */
        { 0xC0200000, 0xC020 },   /* -2.5 */
        { 0x3EAAAAAB, 0x3EAB },   /* 1/3 */
        { 0x7F61B1E6, 0x7F62 },   /* 3e38 */
        { 0x7F800001, 0x7FC0 },   /* NaN: forced quiet */
        { 0xFF800001, 0xFFC0 },
        { 0x7F7FFFFF, 0x7F80 },   /* FLT_MAX rounds to Inf */
        { 0x3F808000, 0x3F80 },   /* tie, to even (down) */
        { 0x3F818000, 0x3F82 },   /* tie, to even (up) */
        { 0x00000001, 0x0000 },   /* subnormals are kept, not flushed: this one rounds to 0 */
        { 0x00008000, 0x0000 },
        { 0x00018000, 0x0002 },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_int_equal(lm_f32_to_bf16(bits_f32(rows[i].f32)), rows[i].bf16);
    assert_int_equal(f32_bits(lm_bf16_to_f32(0x3DCD)), 0x3DCD0000);
}

/* Every half survives f16 -> f32 -> f16 bit for bit; NaNs stay NaN (quieted). */
static void test_f16_round_trip_all(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lm_f16_to_f32((uint16_t)h);
        uint16_t back = lm_f32_to_f16(f);
        bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        if (nan) {
            assert_true(isnan(f));
            assert_int_equal(back, (h & 0x8000) | 0x7E00);
        } else {
            assert_int_equal(back, h);
        }
    }
}

static void test_bf16_round_trip_all(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = lm_bf16_to_f32((uint16_t)h);
        uint16_t back = lm_f32_to_bf16(f);
        bool nan = (h & 0x7F80) == 0x7F80 && (h & 0x7F);
        assert_int_equal(back, nan ? h | 0x40 : h);
    }
}

/* The bit-level rounding equals the compiler's IEEE conversion for every non-NaN float
 * sampled: all exponents, mantissas near the rounding points and pseudo-random ones. */
static void test_f16_matches_hardware(void **state)
{
    (void)state;
#ifdef __FLT16_MAX__
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (uint32_t e = 0; e < 256; e++) {
        for (uint32_t k = 0; k < 4096; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            uint32_t m = k < 64 ? (0x1000u + k - 32) & 0x7FFFFF : (uint32_t)x & 0x7FFFFF;
            for (uint32_t s = 0; s < 2; s++) {
                uint32_t u = s << 31 | e << 23 | m;
                float f = bits_f32(u);
                if (isnan(f))
                    continue;
                _Float16 h = (_Float16)f;
                uint16_t hb;
                memcpy(&hb, &h, 2);
                if (lm_f32_to_f16(f) != hb)
                    fail_msg("f32 0x%08x: lm 0x%04x, compiler 0x%04x", u, lm_f32_to_f16(f), hb);
            }
        }
    }
#else
    skip();
#endif
}

static void test_rows(void **state)
{
    (void)state;
    float in[37], out[37];
    uint16_t h[37], b[37];
    for (int i = 0; i < 37; i++)
        in[i] = (float)(i - 18) * 0.37f;
    lm_f32_to_f16_row(in, h, 37);
    lm_f32_to_bf16_row(in, b, 37);
    for (int i = 0; i < 37; i++) {
        assert_int_equal(h[i], lm_f32_to_f16(in[i]));
        assert_int_equal(b[i], lm_f32_to_bf16(in[i]));
    }
    lm_f16_to_f32_row(h, out, 37);
    for (int i = 0; i < 37; i++)
        assert_int_equal(f32_bits(out[i]), f32_bits(lm_f16_to_f32(h[i])));
    lm_bf16_to_f32_row(b, out, 37);
    for (int i = 0; i < 37; i++)
        assert_int_equal(f32_bits(out[i]), (uint32_t)b[i] << 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_table),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_type_nbytes),
        cmocka_unit_test(test_f16_values),
        cmocka_unit_test(test_bf16_values),
        cmocka_unit_test(test_f16_round_trip_all),
        cmocka_unit_test(test_bf16_round_trip_all),
        cmocka_unit_test(test_f16_matches_hardware),
        cmocka_unit_test(test_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

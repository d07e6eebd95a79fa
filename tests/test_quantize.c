/* test_quantize.c: block quantizers and dequantizers against llama.cpp's bytes: the quant vectors
 * in $LM_MODELS/tiny-llama-256/ref/quant-vectors (every type, every CPU variant), the hand-made
 * vectors of shared/specs/quant-formats.md §9, and the fast variants against the reference on
 * random rows. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../quantize/quantize.h"
#include <unistd.h>

static const char *variants[] = { "scalar", "avx2", "avx512" };

/* $LM_MODELS (default ../shared/models), or NULL if absent. */
static const char *models_dir(void)
{
    const char *m = getenv("LM_MODELS");
    if (!m || !*m)
        m = "../shared/models";
    return access(m, R_OK | X_OK) == 0 ? m : NULL;
}

static void *read_all(const char *path, size_t *len)
{
    struct lm_buf b = LM_BUF_INIT(64u << 20);
    struct lm_err err;
    if (lm_read_file(path, 64u << 20, &b, &err) != 0)
        return NULL;
    *len = b.len;
    return b.data;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Spaces and newlines between byte pairs are ignored. */
static size_t unhex(const char *s, uint8_t *out)
{
    size_t n = 0;
    for (; *s; s++) {
        if (hexval(*s) < 0)
            continue;
        out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
        s++;
    }
    return n;
}

/* ---- quant-vectors ----------------------------------------------------------------------- */

static void test_quant_vectors(void **state)
{
    (void)state;
    const char *models = models_dir();
    if (!models) {
        fprintf(stderr, "# no LM_MODELS: skipping quant-vectors\n");
        skip();
    }
    char dir[1024], path[1200];
    snprintf(dir, sizeof(dir), "%s/tiny-llama-256/ref/quant-vectors", models);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    json_error_t je;
    json_t *man = json_load_file(path, 0, &je);
    if (!man) {
        fprintf(stderr, "# %s missing: skipping quant-vectors\n", path);
        skip();
    }
    size_t in_len = 0;
    snprintf(path, sizeof(path), "%s/input.f32.bin", dir);
    float *input = read_all(path, &in_len);
    assert_non_null(input);

    json_t *rows = json_object_get(man, "rows");
    const char *tname;
    json_t *t;
    int ntypes = 0;
    json_object_foreach(json_object_get(man, "types"), tname, t) {
        int type = lm_type_from_name(tname);
        assert_true(type >= 0);
        assert_true(lm_quant_can_quantize((uint32_t)type));
        size_t qlen = 0, dqlen = 0;
        snprintf(path, sizeof(path), "%s/%s", dir, json_string_value(json_object_get(t, "file")));
        uint8_t *want = read_all(path, &qlen);
        snprintf(path, sizeof(path), "%s/%s", dir,
                 json_string_value(json_object_get(t, "dequant_file")));
        float *want_dq = read_all(path, &dqlen);
        assert_non_null(want);
        assert_non_null(want_dq);
        size_t i;
        json_t *r;
        size_t dq_off = 0;
        json_array_foreach(json_object_get(t, "rows"), i, r) {
            json_t *in = json_array_get(rows, i);
            size_t n = (size_t)json_integer_value(json_object_get(in, "n"));
            size_t in_off = (size_t)json_integer_value(json_object_get(in, "input_offset"));
            size_t off = (size_t)json_integer_value(json_object_get(r, "offset"));
            size_t nb = (size_t)json_integer_value(json_object_get(r, "nbytes"));
            assert_true(in_off + n * 4 <= in_len && off + nb <= qlen);
            uint8_t got[4096];
            assert_true(nb <= sizeof(got));
            for (size_t v = 0; v < 3; v++) {
                if (lm_quant_set_variant(variants[v]) != 0)
                    continue;
                memset(got, 0xAA, sizeof(got));
                assert_int_equal(lm_quantize_row((uint32_t)type, input + in_off / 4, got, n), 0);
                if (memcmp(got, want + off, nb) != 0)
                    fail_msg("%s row %zu (%s), variant %s: bytes differ", tname, i,
                             json_string_value(json_object_get(in, "description")), variants[v]);
            }
            float dq[1024];
            assert_int_equal(lm_dequantize_row((uint32_t)type, want + off, dq, n), 0);
            assert_true(dq_off + n * 4 <= dqlen);
            if (memcmp(dq, (const uint8_t *)want_dq + dq_off, n * 4) != 0)
                fail_msg("%s row %zu: dequantized floats differ", tname, i);
            dq_off += n * 4;
        }
        free(want);
        free(want_dq);
        ntypes++;
    }
    assert_int_equal(ntypes, 14);
    free(input);
    json_decref(man);
}

/* ---- spec §9 ----------------------------------------------------------------------------- */

struct spec_vec {
    const char *type;
    int input;            /* 0: (j-16)*0.25 over 32; 1: the 37/101 pattern over 256 */
    const char *hex;
};

static const struct spec_vec spec_vecs[] = {
    { "Q8_0", 0, "08 28 81 89 91 99 a1 a9 b1 b9 c0 c8 d0 d8 e0 e8 f0 f8 00 08 10 18 20 28 30 38 "
                 "40 47 4f 57 5f 67 6f 77" },
    { "Q4_0", 0, "00 38 80 91 91 a2 a2 b3 b3 c4 c4 d5 d5 e6 e6 f7 f7 f8" },
    { "Q8_0", 1, "71 20 e9 f4 20 b8 f9 5c a1 03 28 e5 1f 96 e5 55 ef 00 32 cf 17 7f ca 09 d8 f7 "
                 "36 b3 08 7e f5 0c 44 e7" },
    { "Q4_0", 1, "68 b0 59 b9 76 0d b8 72 ae 98 56 da 76 0f 9a 73 49 a8" },
    { "Q5_0", 1, "68 ac db da d2 92 a3 61 dc 09 71 f4 5c 10 9b a3 fc 0d 13 f5 72 30" },
    { "Q5_1", 1, "2b 2c 58 bb 24 25 0d 69 5b 8d 12 f4 7d fa 91 df 53 4a f2 f0 da 09 7c be" },
    { "Q4_K", 1,
      "99 19 6d 25 f1 f6 fa ef eb bd f3 f3 bf e4 f7 7f c5 26 89 a2 76 9d d1 67 b9 05 89 a0 65 9c "
      "e6 47 aa a4 88 af 43 87 d4 26 9a b2 77 af f6 68 db 85 27 99 a4 77 ad 23 67 d4 06 89 a2 67 "
      "9d f6 57 ca 75 89 b0 45 88 f5 37 9b b4 78 bf 26 78 f4 76 9b 9a 85 69 9e 25 68 c5 17 7a 94 "
      "58 9e 07 58 c4 66 7a a2 47 88 e6 38 7b 45 6a a0 27 79 e5 67 7c b4 67 6c 92 48 7a c7 39 7d "
      "96 6b 90 29 6a c6 69 7d a4 5a 9a 08 5a 74 58 7d a2 49 8b e7 6a 8f 46 6d" },
    { "Q5_K", 1,
      "00 15 94 25 f5 fc fe f4 e9 bd f0 f2 8f c5 fd 3f 32 6c 9b 72 4c 93 62 48 93 6c 9b 72 4c 9b "
      "62 4c 93 6e db 73 68 9a 72 4c 9b 66 cc 93 66 d8 33 6e 8b 5c 12 44 fd 3a b1 de 73 0a 22 50 "
      "ca 29 cc 9e 65 57 01 5f 97 0f b8 5d 25 64 ef 5f fc df a7 0a 5d 33 47 ef 4b 56 df a9 0c 13 "
      "54 cd 3a fc af 85 ea 02 60 8b 1f fa 6e 26 77 e1 6f 4d f0 e7 fd 26 46 2b d3 3f 5b d1 ac 1f "
      "f7 48 b2 2f 0f a1 99 ce f6 54 80 12 fd 71 09 9b d6 60 4f f3 fb d0 0a 88 cf e8 35 80 f4 bf "
      "63 fb 4c c7 30 42 d5 ac d2 fb 59 a5 35 00 b5 09 b0 eb 65 72 16 fe e5 0f 8d da" },
    { "Q6_K", 1,
      "19 4c 0a da 1e 3c e3 c1 4c 48 89 10 28 4a eb f0 74 7c aa 61 dd 7e 0a 22 c3 a3 0e 21 c3 cd "
      "2f 16 ab 39 5d b3 5a a2 90 06 19 00 8f 65 35 80 31 d0 78 36 4b 57 09 0b b6 f1 30 7a 57 f6 "
      "6f 25 53 fb a4 9a 99 c1 3a ae 18 f1 62 70 1c f1 42 5d ff f5 ad 69 5f b4 6a 93 a3 47 0c 00 "
      "9f 66 55 d1 34 11 6b 26 4c 29 ea 1d 69 e3 31 5b 47 b8 30 27 47 eb 40 84 8e cb 70 d0 7e 0b "
      "23 d3 b5 1f 21 c3 dd 3f 29 91 b6 58 85 3b 5c e6 2a 91 b6 68 85 eb 5d 86 a9 9a 75 e8 92 25 "
      "ee 52 69 9b 45 e8 9e 25 ac 56 99 aa 45 d8 62 15 ee 62 59 ab 45 d8 a2 15 9e 66 4a a4 69 d6 "
      "a1 4e 97 b9 4a a4 6d 16 a1 7a 97 b1 ad 67 88 a6 5c 78 99 50 6e 90 a9 61 80 a4 57 76 a2 8d" },
};

static void test_spec_vectors(void **state)
{
    (void)state;
    float x[2][256];
    for (int j = 0; j < 256; j++) {
        x[0][j] = (float)(j - 16) * 0.25f;
        x[1][j] = (float)(((j * 37) % 101) - 50) * (float)(1 + j % 7) / 256;
    }
    for (size_t i = 0; i < sizeof(spec_vecs) / sizeof(spec_vecs[0]); i++) {
        const struct spec_vec *c = &spec_vecs[i];
        uint8_t want[256], got[256];
        size_t n = unhex(c->hex, want);
        int type = lm_type_from_name(c->type);
        const struct lm_type_info *ti = lm_type_get((uint32_t)type);
        assert_int_equal(n, ti->type_size);
        for (size_t v = 0; v < 3; v++) {
            if (lm_quant_set_variant(variants[v]) != 0)
                continue;
            assert_int_equal(lm_quantize_row((uint32_t)type, x[c->input], got, ti->block), 0);
            if (memcmp(got, want, n) != 0)
                fail_msg("spec vector %zu (%s), variant %s", i, c->type, variants[v]);
        }
    }
    /* C: all-zero super-blocks are all-zero bytes. */
    static const float zeros[256];
    uint8_t got[256];
    const uint32_t kt[] = { LM_TYPE_Q4_K, LM_TYPE_Q5_K, LM_TYPE_Q6_K };
    for (size_t i = 0; i < 3; i++) {
        memset(got, 0xAA, sizeof(got));
        assert_int_equal(lm_quantize_row_ref(kt[i], zeros, got, 256), 0);
        for (size_t k = 0; k < lm_type_get(kt[i])->type_size; k++)
            assert_int_equal(got[k], 0);
    }
}

/* ---- fast variants against the reference on random rows ---------------------------------- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float next_unit(void) { return (float)(next_u32() & 0xFFFFFF) / 16777216.0f; }
static float next_gauss(void)
{
    float u1 = next_unit() + 1e-7f, u2 = next_unit();
    return sqrtf(-2 * logf(u1)) * cosf(6.2831853f * u2);
}

/* Super-blocks with the shapes that take the rare branches: zeros, constants, one spike, tiny
 * and huge values, one-signed data, repeated values (ties) and quarter steps. */
static void fill_block(float *x, int kind)
{
    float scale = kind % 5 == 0 ? 1e-3f : kind % 5 == 1 ? 30.0f : 1.0f;
    for (int i = 0; i < 256; i++) {
        switch (kind % 11) {
        case 0: x[i] = next_gauss() * scale; break;
        case 1: x[i] = 0; break;
        case 2: x[i] = 0.75f; break;
        case 3: x[i] = i == 77 ? 5.0f : next_gauss() * 0.01f; break;
        case 4: x[i] = next_gauss() * 1e-20f; break;
        case 5: x[i] = next_unit() * scale; break;
        case 6: x[i] = -next_unit(); break;
        case 7: x[i] = (float)((int)(next_u32() % 9) - 4) * 0.5f; break;
        case 8: x[i] = i % 32 < 16 ? 0 : next_gauss(); break;
        case 9: x[i] = roundf(next_gauss() * 4) / 4; break;
        default: x[i] = next_gauss() * 1e4f; break;
        }
    }
}

static void test_variants_random(void **state)
{
    (void)state;
    enum { NB = 64 };
    float *x = malloc(sizeof(float) * 256 * NB);
    uint8_t *want = malloc(4 * 256 * NB), *got = malloc(4 * 256 * NB);
    assert_non_null(x);
    const uint32_t types[] = { LM_TYPE_Q4_0, LM_TYPE_Q4_1, LM_TYPE_Q5_0, LM_TYPE_Q5_1,
                               LM_TYPE_Q8_0, LM_TYPE_Q2_K, LM_TYPE_Q3_K, LM_TYPE_Q4_K,
                               LM_TYPE_Q5_K, LM_TYPE_Q6_K, LM_TYPE_IQ4_NL, LM_TYPE_IQ4_XS,
                               LM_TYPE_F16, LM_TYPE_BF16 };
    int compared = 0;
    for (int round = 0; round < 4; round++) {
        for (int b = 0; b < NB; b++)
            fill_block(x + 256 * b, b + round * NB);
        for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
            uint64_t nbytes;
            assert_int_equal(lm_type_nbytes(types[t], 256 * NB, &nbytes), 0);
            assert_int_equal(lm_quantize_row_ref(types[t], x, want, 256 * NB), 0);
            for (size_t v = 1; v < 3; v++) {
                if (lm_quant_set_variant(variants[v]) != 0)
                    continue;
                memset(got, 0x55, nbytes);
                assert_int_equal(lm_quantize_row(types[t], x, got, 256 * NB), 0);
                if (memcmp(got, want, nbytes) != 0)
                    fail_msg("%s: variant %s differs from the reference (round %d)",
                             lm_type_get(types[t])->name, variants[v], round);
                compared++;
            }
        }
    }
    fprintf(stderr, "# %d variant comparisons (cpu runs %s)\n", compared, lm_quant_variant());
    free(x);
    free(want);
    free(got);
}

/* ---- validation -------------------------------------------------------------------------- */

static void test_row_valid(void **state)
{
    (void)state;
    struct block_q4_K k[2];
    memset(k, 0, sizeof(k));
    assert_true(lm_quant_row_valid(LM_TYPE_Q4_K, k, sizeof(k)));
    k[1].dmin = 0x7C00;   /* +Inf */
    assert_false(lm_quant_row_valid(LM_TYPE_Q4_K, k, sizeof(k)));
    uint16_t h[3] = { 0x3C00, 0x7E00, 0 };
    assert_false(lm_quant_row_valid(LM_TYPE_F16, h, sizeof(h)));
    h[1] = 0x7BFF;
    assert_true(lm_quant_row_valid(LM_TYPE_F16, h, sizeof(h)));
    struct block_q6_K q6;
    memset(&q6, 0, sizeof(q6));
    q6.d = 0xFC00;        /* -Inf */
    assert_false(lm_quant_row_valid(LM_TYPE_Q6_K, &q6, sizeof(q6)));
    assert_int_equal(lm_quantize_row_ref(LM_TYPE_IQ2_XXS, NULL, NULL, 0), -1);
    assert_false(lm_quant_can_quantize(LM_TYPE_IQ2_XXS));
    assert_int_equal(lm_quant_set_variant("sse9"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quant_vectors),
        cmocka_unit_test(test_spec_vectors),
        cmocka_unit_test(test_variants_random),
        cmocka_unit_test(test_row_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
